//! The MySQL half of a backup: `mariadb-dump --single-transaction` out, the `mariadb` client
//! in, both run as child processes against the database `[mysql] url` names.
//!
//! The credentials never reach a command line (where `ps` would show them): they go into a
//! defaults-extra-file that only this user can read (created 0600 in a private temp dir,
//! removed when the call ends). The dump holds the tables of that one database (no `CREATE
//! DATABASE`), so it loads into whatever database the restoring host's config names. Owns
//! no policy: [`crate::backup`] decides when to dump and what to do with the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Why dumping or loading failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("mysql.url: {0}")]
    Url(String),
    #[error("neither {0} is installed (Debian: apt-get install mariadb-client)")]
    NoTool(&'static str),
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        tool: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DumpError {
    let context = context.into();
    move |source| DumpError::Io { context, source }
}

/// What the client tools need from `mysql://user:password@host:port/database?socket=PATH`.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    password: String,
    pub host: String,
    pub port: Option<u16>,
    pub socket: Option<String>,
    pub database: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("user", &self.user)
            .field("password", &"***")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("database", &self.database)
            .finish()
    }
}

impl Target {
    /// Parses a `[mysql] url`; user, password and database are percent-decoded.
    pub fn parse(url: &str) -> Result<Target, DumpError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| DumpError::Url(e.to_string()))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(DumpError::Url("must start with mysql://".into()));
        }
        let database = decode(parsed.path().trim_start_matches('/'))?;
        if database.is_empty() || database.contains('/') {
            return Err(DumpError::Url(
                "must name one database (mysql://user:password@host:port/database)".into(),
            ));
        }
        let socket = parsed
            .query_pairs()
            .find(|(k, _)| k == "socket")
            .map(|(_, v)| v.into_owned());
        Ok(Target {
            user: decode(parsed.username())?,
            password: decode(parsed.password().unwrap_or(""))?,
            host: parsed.host_str().unwrap_or("localhost").to_owned(),
            port: parsed.port(),
            socket,
            database,
        })
    }

    /// The `[client]` section of a defaults file for this target.
    fn client_section(&self) -> String {
        let mut text = String::from("[client]\n");
        let mut line = |key: &str, value: &str| {
            // Option files take double-quoted values with backslash escapes.
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            text.push_str(&format!("{key}=\"{escaped}\"\n"));
        };
        line("user", &self.user);
        line("password", &self.password);
        line("host", &self.host);
        if let Some(port) = self.port {
            line("port", &port.to_string());
        }
        if let Some(socket) = &self.socket {
            line("socket", socket);
        }
        text
    }
}

/// `%XX` sequences to bytes, as URLs carry a password with `:` `@` `/` in it.
fn decode(text: &str) -> Result<String, DumpError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| DumpError::Url(format!("bad percent escape in {text:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DumpError::Url("not UTF-8 once decoded".into()))
}

/// A defaults-extra-file holding the credentials, readable by this user only, deleted on
/// drop (with its private directory).
struct Credentials {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Credentials {
    fn write(target: &Target) -> Result<Credentials, DumpError> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::Builder::new()
            .prefix("rxpool-mysql-")
            .tempdir()
            .map_err(io("creating a private temp dir"))?;
        let path = dir.path().join("client.cnf");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("creating the credentials file"))?;
        file.write_all(target.client_section().as_bytes())
            .map_err(io("writing the credentials file"))?;
        Ok(Credentials { _dir: dir, path })
    }

    /// The first argument of every client call (it must come first).
    fn arg(&self) -> String {
        format!("--defaults-extra-file={}", self.path.display())
    }
}

/// The first of `names` found on `PATH`.
fn tool(names: &'static [&'static str], missing: &'static str) -> Result<&'static str, DumpError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        if std::env::split_paths(&path).any(|dir| dir.join(name).is_file()) {
            return Ok(name);
        }
    }
    Err(DumpError::NoTool(missing))
}

/// Runs `tool` (one of `names`) on the database of `url` with the credentials file first,
/// then `args`, wired to `stdin` and `stdout`; its stderr is the error when it fails.
async fn run_client(
    url: &str,
    (names, missing): (&'static [&'static str], &'static str),
    args: &[&str],
    stdin: Stdio,
    stdout: Stdio,
) -> Result<(), DumpError> {
    let target = Target::parse(url)?;
    let credentials = Credentials::write(&target)?;
    let tool = tool(names, missing)?;
    let child = Command::new(tool)
        .arg(credentials.arg())
        .args(args)
        .arg("--default-character-set=utf8mb4")
        .arg(&target.database)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io(format!("starting {tool}")))?;
    let out = child
        .wait_with_output()
        .await
        .map_err(io(format!("waiting for {tool}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(DumpError::Failed {
        tool: tool.to_owned(),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Dumps the database of `url` into `file` in one consistent snapshot (a REPEATABLE READ
/// transaction: every InnoDB table as of one moment, while the roles keep writing).
pub async fn dump(url: &str, file: &Path) -> Result<(), DumpError> {
    let out = std::fs::File::create(file).map_err(io(format!("creating {}", file.display())))?;
    run_client(
        url,
        (&["mariadb-dump", "mysqldump"], "mariadb-dump nor mysqldump"),
        &[
            "--single-transaction",
            "--quick",
            "--triggers",
            "--hex-blob",
            "--no-tablespaces",
        ],
        Stdio::null(),
        out.into(),
    )
    .await?;
    let synced = std::fs::File::open(file).and_then(|f| f.sync_all());
    synced.map_err(io(format!("syncing {}", file.display())))
}

/// Loads a dump made by [`dump`] into the database of `url`.
pub async fn load(url: &str, file: &Path) -> Result<(), DumpError> {
    let input = std::fs::File::open(file).map_err(io(format!("opening {}", file.display())))?;
    run_client(
        url,
        (&["mariadb", "mysql"], "mariadb nor mysql"),
        &[],
        input.into(),
        Stdio::null(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gives_decoded_credentials_that_never_print() {
        let t = Target::parse("mysql://po%40l:s3cr%3At%22x@db.example:3307/pool_1").unwrap();
        assert_eq!(
            (t.user.as_str(), t.password.as_str(), t.host.as_str()),
            ("po@l", "s3cr:t\"x", "db.example")
        );
        assert_eq!((t.port, t.database.as_str()), (Some(3307), "pool_1"));
        assert!(!format!("{t:?}").contains("s3cr"));
        let section = t.client_section();
        assert!(section.contains("password=\"s3cr:t\\\"x\"\n"), "{section}");
        let socket = Target::parse("mysql://u:p@localhost/pool?socket=%2Frun%2Fm.sock").unwrap();
        assert_eq!(socket.socket.as_deref(), Some("/run/m.sock"));
    }

    #[test]
    fn a_url_without_one_database_or_with_a_bad_escape_is_refused() {
        for bad in [
            "mysql://u:p@h:3306",
            "mysql://u:p@h:3306/",
            "mysql://u:p@h/a/b",
            "mysql://u:p%4@h/db",
            "http://u:p@h/db",
            "not a url",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_credentials_file_is_private_and_goes_away() {
        use std::os::unix::fs::PermissionsExt;
        let t = Target::parse("mysql://u:secret@h/db").unwrap();
        let c = Credentials::write(&t).unwrap();
        let mode = std::fs::metadata(&c.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(std::fs::read_to_string(&c.path).unwrap().contains("secret"));
        let path = c.path.clone();
        drop(c);
        assert!(!path.exists());
    }
}
