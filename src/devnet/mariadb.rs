//! A throwaway MariaDB server: `mariadb-install-db` into a temp datadir, then `mariadbd` on a
//! private socket and a free loopback port.
//!
//! Owns the server process, an admin account (`admin_url`) and handing each test its own fresh
//! database with its own user and password (`create_database`). Starting the server takes
//! seconds, so a test binary normally shares one through [`MariaDb::shared`]. The sandbox
//! starts one in its state dir ([`MariaDb::start_in`]) and keeps one named database there
//! ([`MariaDb::ensure_database`]).
//!
//! It never touches the system MariaDB (no defaults files are read, nothing binds :3306) and
//! never runs migrations: that is `store::mysql`'s job, driven by the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::process::Process;
use super::{DevnetError, Home, free_port, log_tail};
use rand::Rng;
use sqlx::Connection;

const COMPONENT: &str = "MariaDB";
const ADMIN_USER: &str = "rxpool_admin";
const START_TIMEOUT: Duration = Duration::from_secs(60);

static SHARED: tokio::sync::Mutex<Option<Arc<MariaDb>>> = tokio::sync::Mutex::const_new(None);

/// A running throwaway MariaDB server; killed and its datadir deleted on drop.
#[derive(Debug)]
pub struct MariaDb {
    // Declared first so it is dropped (killed) before the directory is removed.
    process: Process,
    port: u16,
    admin_password: String,
    next_database: AtomicU64,
    dir: Home,
}

impl MariaDb {
    /// Starts a new server (a few seconds). Prefer [`MariaDb::shared`] in tests.
    pub async fn start() -> Result<MariaDb, DevnetError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::try_start(Home::temp("mariadb")?).await {
                Err(e) if attempt < 3 && e.is_port_clash() => continue,
                result => return result,
            }
        }
    }

    /// Starts a server whose datadir, socket and logs live in `dir`, which is kept on drop.
    /// A datadir already there (an earlier start in `dir`) is used as it is, databases and
    /// all; the admin account gets a new password each start.
    pub async fn start_in(dir: &Path) -> Result<MariaDb, DevnetError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::try_start(Home::kept(dir)?).await {
                Err(e) if attempt < 3 && e.is_port_clash() => continue,
                result => return result,
            }
        }
    }

    /// The server shared by every test of this test binary, started on first use and stopped
    /// when the binary exits. Give each test its own database with [`MariaDb::create_database`].
    pub async fn shared() -> Result<Arc<MariaDb>, DevnetError> {
        let mut guard = SHARED.lock().await;
        if let Some(db) = guard.as_ref() {
            return Ok(Arc::clone(db));
        }
        let db = Arc::new(MariaDb::start().await?);
        *guard = Some(Arc::clone(&db));
        super::stop_shared_at_exit();
        Ok(db)
    }

    /// Drops the shared instance (called at process exit).
    pub(crate) fn release_shared() {
        if let Ok(mut guard) = SHARED.try_lock() {
            guard.take();
        }
    }

    async fn try_start(dir: Home) -> Result<MariaDb, DevnetError> {
        let datadir = dir.path().join("data");
        if !datadir.join("mysql").is_dir() {
            install_db(dir.path(), &datadir).await?;
        }

        let admin_password = random_secret();
        let init_file = dir.path().join("init.sql");
        // Run at every start: in a reused datadir the account exists with an old password.
        std::fs::write(
            &init_file,
            format!(
                "CREATE USER IF NOT EXISTS '{ADMIN_USER}'@'%' IDENTIFIED BY '{admin_password}';\n\
                 ALTER USER '{ADMIN_USER}'@'%' IDENTIFIED BY '{admin_password}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'%' WITH GRANT OPTION;\n"
            ),
        )
        .map_err(DevnetError::io("write MariaDB init file"))?;

        let port = free_port().map_err(DevnetError::io("pick a free port"))?;
        let error_log = dir.path().join("error.log");
        let mut command = Command::new(find_program("mariadbd"));
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!(
                "--socket={}",
                dir.path().join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mariadbd.pid").display()
            ))
            .arg(format!("--log-error={}", error_log.display()))
            .arg(format!("--init-file={}", init_file.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-name-resolve")
            .arg("--skip-log-bin")
            .arg("--max-connections=1000")
            .arg("--character-set-server=utf8mb4")
            .arg("--collation-server=utf8mb4_general_ci")
            .arg("--innodb-buffer-pool-size=64M")
            .arg("--innodb-log-file-size=32M")
            // Throwaway data: trade durability of the last second for test speed.
            .arg("--innodb-flush-log-at-trx-commit=2")
            .arg("--innodb-doublewrite=0");
        if let Some(user) = root_user_flag() {
            command.arg(user);
        }
        let mut process = Process::spawn(
            COMPONENT,
            command,
            &dir.path().join("mariadbd.stdout.log"),
            &[error_log],
        )?;
        let admin_url = admin_url(port, &admin_password);
        process
            .wait_ready(START_TIMEOUT, || async {
                execute(&admin_url, "SELECT 1").await.is_ok()
            })
            .await?;
        Ok(MariaDb {
            process,
            port,
            admin_password,
            next_database: AtomicU64::new(1),
            dir,
        })
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temp dir (datadir, socket and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// A URL for an account with every privilege (`mysql://rxpool_admin:…@127.0.0.1:PORT`),
    /// without a default database.
    pub fn admin_url(&self) -> String {
        admin_url(self.port, &self.admin_password)
    }

    /// Creates the database `name` (letters, digits, `_`) unless it exists, and returns the
    /// admin account's URL for it (`mysql://rxpool_admin:…@127.0.0.1:PORT/NAME`).
    pub async fn ensure_database(&self, name: &str) -> Result<String, DevnetError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(DevnetError::Setup {
                component: COMPONENT,
                step: "ensure database",
                detail: format!("{name:?} is not a plain database name"),
            });
        }
        let sql = format!(
            "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        );
        execute(&self.admin_url(), &sql)
            .await
            .map_err(|source| DevnetError::Sql {
                context: format!("create database {name}"),
                source,
            })?;
        Ok(format!("{}/{name}", self.admin_url()))
    }

    /// Creates a fresh, empty database and a user that owns it, and returns its URL
    /// (`mysql://USER:PASSWORD@127.0.0.1:PORT/DB`). `name` is a readable prefix (letters,
    /// digits, `_`; anything else becomes `_`); a counter makes the name unique, so two tests
    /// can pass the same prefix.
    pub async fn create_database(&self, name: &str) -> Result<String, DevnetError> {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let prefix: String = name
            .chars()
            .take(40)
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let database = format!("{prefix}_{n}");
        let user = format!("u{n}");
        let password = random_secret();
        let sql = format!(
            "CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;\n\
             CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%';"
        );
        execute(&self.admin_url(), &sql)
            .await
            .map_err(|source| DevnetError::Sql {
                context: format!("create database {database}"),
                source,
            })?;
        Ok(format!(
            "mysql://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        ))
    }

    /// Shuts the server down cleanly (SIGTERM), killing it after 30 s. Only for a kept datadir
    /// does this matter; drop kills at once.
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(30)).await;
    }

    /// The last lines of the server's logs (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

fn admin_url(port: u16, password: &str) -> String {
    format!("mysql://{ADMIN_USER}:{password}@127.0.0.1:{port}")
}

/// 32 hex characters; safe inside SQL string literals and URLs as is.
fn random_secret() -> String {
    hex::encode(rand::thread_rng().r#gen::<[u8; 16]>())
}

/// `name` from `PATH`, else from the sbin directories Debian installs MariaDB's server into
/// (not on a normal user's `PATH`); the bare name if found nowhere, so the spawn error names it.
fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `--user=NAME` when running as root (mariadbd refuses root otherwise).
fn root_user_flag() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    (euid == 0).then(|| "--user=root".to_owned())
}

async fn install_db(dir: &Path, datadir: &Path) -> Result<(), DevnetError> {
    let log = dir.join("install-db.log");
    let mut command = tokio::process::Command::new(find_program("mariadb-install-db"));
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", datadir.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .kill_on_drop(true);
    if let Some(user) = root_user_flag() {
        command.arg(user);
    }
    let output = command
        .output()
        .await
        .map_err(|source| DevnetError::Spawn {
            program: "mariadb-install-db".into(),
            source,
        })?;
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    std::fs::write(&log, &text).map_err(DevnetError::io("write install-db log"))?;
    if !output.status.success() {
        return Err(DevnetError::Setup {
            component: COMPONENT,
            step: "mariadb-install-db",
            detail: format!("{}; log tail:\n{}", output.status, log_tail(&log, 40)),
        });
    }
    Ok(())
}

/// Runs `sql` (one or more statements) on a fresh connection that is closed afterwards.
async fn execute(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let mut connection = sqlx::MySqlConnection::connect(url).await?;
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut connection)
        .await;
    let _ = connection.close().await;
    result.map(|_| ())
}
