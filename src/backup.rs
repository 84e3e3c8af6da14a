//! Backups of both stores, taken online, and restore.
//!
//! One backup is a directory under `[backup] dir` named by its UTC start time
//! (`20261202T083000Z`), holding `lmdb/data.mdb` (a compacting LMDB environment copy, made in
//! one read transaction while the writers go on), `mysql.sql` (`mariadb-dump
//! --single-transaction`, [`dump`]) and `manifest.json` ([`Manifest`]: times, rxpool version,
//! chain height, share-store facts, size and sha256 of each file). It is built under
//! `.partial-ID` and renamed when complete, so a directory with an id-shaped name and a
//! manifest is whole; anything else is never listed as good.
//!
//! The LMDB copy is taken before the MySQL dump, never after: block statuses in LMDB are
//! written only after their credit commits in MySQL, so the copy never says "unlocked" for a
//! block whose credit the dump lacks; a block credited between the two is pending in the copy
//! and credited in the dump, and the block-manager's paid-block row makes it "already
//! credited" there (nothing credited twice). Money that left the wallet after the dump is
//! the payments role's business after a restore: [`restore`] marks the restored database
//! (`store::mysql::restores`) and payments signs nothing until the wallet's outgoing
//! transfers since the backup are all accounted for.
//!
//! Long steps (the copies, the dump, the sha256 checks) show their progress
//! ([`crate::progress`]): a bar on a terminal, log lines under systemd.
//!
//! Used by `rxpool admin backup` ([`crate::admin::backup`]) and by the cleaner role's
//! schedule ([`run_schedule`]). Reads LMDB, MySQL and monerod (for the height); writes only
//! the backup directory, and on restore the configured database and LMDB directory.

pub mod dump;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{MySqlPool, Row};
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::domain::{Clock, UnixMillis};
use crate::monero::daemon::Daemon;
use crate::progress::{Progress, Unit};
use crate::store::lmdb::{ShareStore, StoreError, StoreOptions};
use crate::store::mysql::{self, restores};

pub use dump::DumpError;

/// The manifest's file name inside a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// The LMDB copy, relative to a backup directory.
pub const LMDB_FILE: &str = "lmdb/data.mdb";
/// The MySQL dump, relative to a backup directory.
pub const MYSQL_FILE: &str = "mysql.sql";
/// The prefix of a backup being written.
const PARTIAL: &str = ".partial-";
/// A heartbeat younger than this means the role is running.
const RUNNING_WITHIN: Duration = Duration::from_secs(180);

/// Why a backup, a listing or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("share store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error("mysql: {0}")]
    Mysql(#[from] mysql::MysqlError),
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("restore mark: {0}")]
    Restore(#[from] restores::RestoreError),
    #[error("no backup {id} in {dir} (see `rxpool admin backup list`)")]
    NoSuchBackup { id: String, dir: PathBuf },
    #[error("backup {id} is damaged: {why}; it cannot be restored")]
    Damaged { id: String, why: String },
    #[error(
        "roles are running against {database}: {roles}; stop them first (or --force if they are gone)"
    )]
    RolesRunning { database: String, roles: String },
    #[error(
        "database {database} is not empty ({tables} tables); --yes drops them and restores the backup in their place"
    )]
    DatabaseNotEmpty { database: String, tables: usize },
    #[error(
        "{path} holds a share store; --yes moves it aside to {aside} and restores the backup in its place"
    )]
    LmdbNotEmpty { path: PathBuf, aside: PathBuf },
    #[error("{0:?} is not a backup id (like 20261202T083000Z)")]
    BadId(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

/// What `manifest.json` says about one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format (1).
    pub format: u32,
    pub id: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    pub rxpool_version: String,
    /// monerod's height when the backup began; `None` when it did not answer.
    pub chain_height: Option<u64>,
    pub lmdb: LmdbFacts,
    /// The database the dump came from.
    pub mysql_database: String,
    /// Every file of the backup but the manifest, by path relative to the backup directory.
    pub files: BTreeMap<String, FileFacts>,
}

/// The share store as copied (read just before the copy, from the same store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmdbFacts {
    pub shares: u64,
    /// Lowest and highest template heights holding shares.
    pub share_heights: Option<(u64, u64)>,
    /// The newest share-log batch.
    pub last_share_batch: Option<u64>,
    /// The newest found block's height.
    pub newest_block_height: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    /// The total size of the backup's files.
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.bytes).sum()
    }
}

/// The id of a backup started at `at`: its UTC time, `YYYYMMDDTHHMMSSZ`.
pub fn backup_id(at: UnixMillis) -> String {
    let text = at.utc_text();
    // "2026-12-02 08:30:00" -> "20261202T083000Z"
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    format!("{}T{}Z", &digits[..8], &digits[8..14])
}

/// Whether `name` is shaped like a backup id (an optional `-N` suffix for two in one second).
pub fn is_backup_id(name: &str) -> bool {
    let (base, suffix) = match name.split_once('-') {
        Some((b, s)) => (b, Some(s)),
        None => (name, None),
    };
    let b = base.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && suffix.is_none_or(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
}

/// A backup directory's state as [`list`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every file is there with its size and sha256.
    Good,
    /// The manifest is missing or unreadable (an interrupted copy, a hand-made directory).
    Incomplete(String),
    /// A file is missing or differs from the manifest.
    Damaged(String),
}

/// One backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub path: PathBuf,
    pub manifest: Option<Manifest>,
    pub health: Health,
}

/// What a backup took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub elapsed: Duration,
}

fn sha256_file(path: &Path, progress: Option<&Progress>) -> Result<FileFacts, BackupError> {
    let mut file = std::fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
        if let Some(p) = progress {
            p.inc(n as u64);
        }
    }
    Ok(FileFacts {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", path.display())))
}

/// Shows the growing size of `file` on `progress` until the returned guard is dropped: for
/// copies whose writer reports nothing (LMDB's environment copy, the dump tool).
fn watch_file(progress: &Progress, file: PathBuf) -> tokio_util::sync::DropGuard {
    let stop = CancellationToken::new();
    let (p, done) = (progress.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            if let Ok(meta) = std::fs::metadata(&file) {
                p.set(meta.len());
            }
            tokio::select! {
                () = done.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    stop.drop_guard()
}

/// The sizes and sha256 of `rels` under `dir`, off the reactor, shown on one progress.
async fn hash_files(
    dir: &Path,
    rels: &[&str],
    label: &str,
) -> Result<BTreeMap<String, FileFacts>, BackupError> {
    let paths: Vec<(String, PathBuf)> = rels.iter().map(|r| (r.to_string(), dir.join(r))).collect();
    let total = paths
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = Progress::new(label, Some(total), Unit::Bytes);
    let shown = progress.clone();
    let files = tokio::task::spawn_blocking(move || {
        let mut files = BTreeMap::new();
        for (rel, path) in paths {
            files.insert(rel, sha256_file(&path, Some(&shown))?);
        }
        Ok::<_, BackupError>(files)
    })
    .await
    .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
    progress.finish();
    Ok(files)
}

fn lmdb_facts(store: &ShareStore) -> Result<LmdbFacts, StoreError> {
    let snap = store.read()?;
    Ok(LmdbFacts {
        shares: snap.share_count()?,
        share_heights: snap.share_heights()?.map(|(lo, hi)| (lo.0, hi.0)),
        last_share_batch: snap.log_last()?.map(|seq| seq.0),
        newest_block_height: snap.recent_blocks(1)?.first().map(|b| b.record.height.0),
    })
}

/// Takes one backup of `store` and the database of `mysql_url` into `dir` (see the module
/// documentation) while every role keeps running. `daemon` gives the chain height (a
/// backup is still taken when it does not answer).
pub async fn take<D: Daemon>(
    dir: &Path,
    store: &Arc<ShareStore>,
    mysql_url: &str,
    daemon: Option<&D>,
    clock: &dyn Clock,
) -> Result<Taken, BackupError> {
    let started = std::time::Instant::now();
    let started_at = clock.now();
    create_private_dir(dir)?;
    let mut id = backup_id(started_at);
    let mut n = 1;
    while dir.join(&id).exists() || dir.join(format!("{PARTIAL}{id}")).exists() {
        n += 1;
        id = format!("{}-{n}", backup_id(started_at));
    }
    let partial = dir.join(format!("{PARTIAL}{id}"));
    std::fs::create_dir(&partial).map_err(io(format!("creating {}", partial.display())))?;
    let result = fill(&partial, &id, store, mysql_url, daemon, started_at, clock).await;
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(err);
        }
    };
    let path = dir.join(&id);
    std::fs::rename(&partial, &path).map_err(io(format!("renaming to {}", path.display())))?;
    sync_dir(dir)?;
    Ok(Taken {
        path,
        manifest,
        elapsed: started.elapsed(),
    })
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

async fn fill<D: Daemon>(
    partial: &Path,
    id: &str,
    store: &Arc<ShareStore>,
    mysql_url: &str,
    daemon: Option<&D>,
    started_at: UnixMillis,
    clock: &dyn Clock,
) -> Result<Manifest, BackupError> {
    let chain_height = match daemon {
        Some(d) => match d.last_block_header(false).await {
            Ok(header) => Some(header.height.0),
            Err(err) => {
                tracing::warn!(%err, "monerod did not answer: the backup records no chain height");
                None
            }
        },
        None => None,
    };
    // LMDB first, then MySQL (the module documentation says why).
    let copy = Arc::clone(store);
    let lmdb_dir = partial.join("lmdb");
    // The copy holds at most the pages in use.
    let used = store.usage().map(|u| u.used_bytes).ok();
    let progress = Progress::new("backup: share store copy", used, Unit::Bytes);
    let watch = watch_file(&progress, partial.join(LMDB_FILE));
    let lmdb = tokio::task::spawn_blocking(move || {
        let facts = lmdb_facts(&copy)?;
        copy.copy_compacted(&lmdb_dir)?;
        Ok::<_, StoreError>(facts)
    })
    .await
    .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
    drop(watch);
    progress.finish();
    let dump_file = partial.join(MYSQL_FILE);
    let progress = Progress::new("backup: MySQL dump", None, Unit::Bytes);
    let watch = watch_file(&progress, dump_file.clone());
    dump::dump(mysql_url, &dump_file).await?;
    drop(watch);
    progress.finish();
    let files = hash_files(partial, &[LMDB_FILE, MYSQL_FILE], "backup: sha256").await?;
    let manifest = Manifest {
        format: 1,
        id: id.to_owned(),
        started_at_ms: started_at.0,
        finished_at_ms: clock.now().0,
        rxpool_version: env!("CARGO_PKG_VERSION").to_owned(),
        chain_height,
        lmdb,
        mysql_database: dump::Target::parse(mysql_url)?.database,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
    let path = partial.join(MANIFEST);
    std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
    for file in [path, partial.join(LMDB_FILE)] {
        std::fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .map_err(io(format!("syncing {}", file.display())))?;
    }
    sync_dir(&partial.join("lmdb"))?;
    sync_dir(partial)?;
    Ok(manifest)
}

/// Reads a backup's manifest and checks every file's size and sha256 against it, counting
/// the bytes hashed on `progress` when given.
pub fn verify(path: &Path, progress: Option<&Progress>) -> Result<Manifest, Health> {
    let text = std::fs::read_to_string(path.join(MANIFEST))
        .map_err(|e| Health::Incomplete(format!("{MANIFEST}: {e}")))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Health::Incomplete(format!("{MANIFEST} does not parse: {e}")))?;
    for required in [LMDB_FILE, MYSQL_FILE] {
        if !manifest.files.contains_key(required) {
            return Err(Health::Damaged(format!("the manifest lists no {required}")));
        }
    }
    for (rel, want) in &manifest.files {
        if rel.contains("..") || rel.starts_with('/') {
            return Err(Health::Damaged(format!("the manifest names {rel:?}")));
        }
        let got =
            sha256_file(&path.join(rel), progress).map_err(|e| Health::Damaged(e.to_string()))?;
        if got.bytes != want.bytes {
            return Err(Health::Damaged(format!(
                "{rel} has {} bytes, the manifest says {}",
                got.bytes, want.bytes
            )));
        }
        if got.sha256 != want.sha256 {
            return Err(Health::Damaged(format!(
                "{rel} does not match its sha256 in the manifest"
            )));
        }
    }
    Ok(manifest)
}

/// Every backup directory in `dir`, oldest first, each verified. Backups still being written
/// (and anything else whose name is not a backup id) are left out.
pub fn list(dir: &Path) -> Result<Vec<Listed>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("reading {}", dir.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_backup_id(&name) || !entry.path().is_dir() {
            continue;
        }
        let path = entry.path();
        let (manifest, health) = match verify(&path, None) {
            Ok(m) => (Some(m), Health::Good),
            Err(health) => {
                let manifest = std::fs::read_to_string(path.join(MANIFEST))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                (manifest, health)
            }
        };
        out.push(Listed {
            id: name,
            path,
            manifest,
            health,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Keeps the `keep` newest good backups and deletes every backup directory older than the
/// oldest of them (good, damaged or incomplete), and leftovers of interrupted backups as old.
/// Returns the ids deleted. Deletes nothing while fewer than `keep` good backups exist.
pub fn prune(dir: &Path, keep: u32) -> Result<Vec<String>, BackupError> {
    let listed = list(dir)?;
    let good: Vec<&Listed> = listed.iter().filter(|l| l.health == Health::Good).collect();
    let keep = usize::try_from(keep.max(1)).unwrap_or(usize::MAX);
    if good.len() <= keep {
        return Ok(Vec::new());
    }
    let oldest_kept = good[good.len() - keep].id.clone();
    let mut deleted = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name.strip_prefix(PARTIAL).unwrap_or(&name);
        if is_backup_id(id) && id < oldest_kept.as_str() {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(io(format!("deleting {}", path.display())))?;
            deleted.push(name);
        }
    }
    deleted.sort();
    Ok(deleted)
}

/// How far a restore may go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Replace a non-empty database and move a share store aside.
    pub yes: bool,
    /// Restore even when role heartbeats say roles are running.
    pub force: bool,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub manifest: Manifest,
    /// Tables dropped from the database before loading.
    pub dropped_tables: usize,
    /// Where the replaced share store went.
    pub lmdb_moved_to: Option<PathBuf>,
    /// The `store_restores` row written.
    pub restore_id: u64,
}

/// The roles whose heartbeat (pool check-in, runner lease) in `db` is younger than
/// [`RUNNING_WITHIN`].
async fn running_roles(db: &MySqlPool, now: UnixMillis) -> Result<Vec<String>, BackupError> {
    let since = now.0.saturating_sub(RUNNING_WITHIN.as_millis() as u64);
    let mut roles = Vec::new();
    let has = |table: &str| {
        sqlx::query("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?")
            .bind(table.to_owned())
            .fetch_optional(db)
    };
    if has("role_heartbeats").await?.is_some() {
        let rows = sqlx::query(
            "SELECT role, host FROM role_heartbeats WHERE beat_at_ms >= ? ORDER BY role, host",
        )
        .bind(since)
        .fetch_all(db)
        .await?;
        for r in rows {
            let role: String = r.try_get("role")?;
            let host: String = r.try_get("host")?;
            roles.push(format!("{role} on {host}"));
        }
    }
    if has("pools").await?.is_some() {
        let hosts = sqlx::query(
            "SELECT id, hostname FROM pools WHERE active = 1 \
             AND last_checkin >= NOW() - INTERVAL ? SECOND ORDER BY id",
        )
        .bind(RUNNING_WITHIN.as_secs())
        .fetch_all(db)
        .await?;
        for r in hosts {
            let id: u32 = r.try_get("id")?;
            let host: String = r.try_get("hostname")?;
            roles.push(format!("pool {id} on {host}"));
        }
    }
    if has("payout_runner_lease").await?.is_some() {
        let held = sqlx::query(
            "SELECT holder FROM payout_runner_lease WHERE holder <> '' AND expires_at > UTC_TIMESTAMP(3)",
        )
        .fetch_all(db)
        .await?;
        for r in held {
            let holder: String = r.try_get("holder")?;
            roles.push(format!("the payments runner lease ({holder})"));
        }
    }
    roles.dedup();
    Ok(roles)
}

async fn tables(db: &MySqlPool) -> Result<Vec<String>, BackupError> {
    let rows = sqlx::query(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("name")?))
        .collect()
}

/// The bytes of the files directly in `dir` and one level down (a backup's layout).
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            total += dir_bytes(&path);
        } else if let Ok(meta) = entry.metadata() {
            total += meta.len();
        }
    }
    total
}

/// Where a replaced share store is moved: beside it, named after the restore.
pub fn lmdb_aside(lmdb: &Path, id: &str) -> PathBuf {
    let name = lmdb
        .file_name()
        .map_or_else(|| "lmdb".into(), |n| n.to_string_lossy().into_owned());
    lmdb.with_file_name(format!("{name}.before-restore-{id}"))
}

/// Restores backup `id` from `dir` into the database of `mysql_url` and the share store
/// directory `lmdb` (see [`RestoreOptions`]), then marks the database restored so that the
/// payments role reconciles the wallet before paying anything. Checks every file's sha256
/// first and refuses a damaged backup.
pub async fn restore(
    dir: &Path,
    id: &str,
    mysql_url: &str,
    lmdb: &Path,
    options: RestoreOptions,
    clock: &dyn Clock,
) -> Result<Restored, BackupError> {
    if !is_backup_id(id) {
        return Err(BackupError::BadId(id.to_owned()));
    }
    let path = dir.join(id);
    if !path.is_dir() {
        return Err(BackupError::NoSuchBackup {
            id: id.to_owned(),
            dir: dir.to_owned(),
        });
    }
    let check = path.clone();
    let size = dir_bytes(&path);
    let progress = Progress::new("restore: checking sha256", Some(size), Unit::Bytes);
    let shown = progress.clone();
    let verified = tokio::task::spawn_blocking(move || verify(&check, Some(&shown)))
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
    if verified.is_ok() {
        progress.finish();
    }
    let manifest = verified.map_err(|health| BackupError::Damaged {
        id: id.to_owned(),
        why: match health {
            Health::Incomplete(why) | Health::Damaged(why) => why,
            Health::Good => String::new(),
        },
    })?;
    let database = dump::Target::parse(mysql_url)?.database;
    let db = mysql::connect_with(mysql_url, 2).await?;
    let running = running_roles(&db, clock.now()).await?;
    if !running.is_empty() && !options.force {
        return Err(BackupError::RolesRunning {
            database,
            roles: running.join(", "),
        });
    }
    let existing = tables(&db).await?;
    if !existing.is_empty() && !options.yes {
        return Err(BackupError::DatabaseNotEmpty {
            database,
            tables: existing.len(),
        });
    }
    let aside = lmdb_aside(lmdb, id);
    let lmdb_file = lmdb.join("data.mdb");
    if lmdb_file.exists() && !options.yes {
        return Err(BackupError::LmdbNotEmpty {
            path: lmdb.to_owned(),
            aside,
        });
    }
    // Everything checked: replace.
    if !existing.is_empty() {
        let mut conn = db.acquire().await?;
        sqlx::query("SET FOREIGN_KEY_CHECKS = 0")
            .execute(&mut *conn)
            .await?;
        for table in &existing {
            let name = table.replace('`', "``");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE `{name}`")))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("SET FOREIGN_KEY_CHECKS = 1")
            .execute(&mut *conn)
            .await?;
    }
    let progress = Progress::new("restore: loading the MySQL dump", None, Unit::Items);
    dump::load(mysql_url, &path.join(MYSQL_FILE)).await?;
    progress.finish();
    // A backup of an older rxpool gets this one's migrations.
    mysql::migrate(&db).await?;
    let lmdb_moved_to = if lmdb_file.exists() {
        std::fs::rename(lmdb, &aside).map_err(io(format!("moving {} aside", lmdb.display())))?;
        Some(aside)
    } else {
        None
    };
    create_private_dir(lmdb)?;
    let partial = lmdb.join("data.mdb.partial");
    let source = path.join(LMDB_FILE);
    let size = std::fs::metadata(&source).map(|m| m.len()).ok();
    let progress = Progress::new("restore: share store copy", size, Unit::Bytes);
    let watch = watch_file(&progress, partial.clone());
    let to = partial.clone();
    let copied = tokio::task::spawn_blocking(move || {
        std::fs::copy(&source, &to).and_then(|_| std::fs::File::open(&to)?.sync_all())
    })
    .await
    .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
    drop(watch);
    copied.map_err(io(format!("copying the share store to {}", lmdb.display())))?;
    progress.set(size.unwrap_or(0));
    progress.finish();
    std::fs::rename(&partial, &lmdb_file).map_err(io(format!("renaming {}", partial.display())))?;
    sync_dir(lmdb)?;
    // Open it once: the schema check, and a store that does not open fails here, not in a role.
    let options = StoreOptions::new(lmdb);
    let opened = tokio::task::spawn_blocking(move || ShareStore::open(&options).map(drop))
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
    opened?;
    let restore_id = restores::record(
        &db,
        id,
        UnixMillis(manifest.started_at_ms),
        manifest.chain_height.unwrap_or(0),
        clock.now(),
    )
    .await?;
    db.close().await;
    Ok(Restored {
        manifest,
        dropped_tables: existing.len(),
        lmdb_moved_to,
        restore_id,
    })
}

/// The cleaner role's schedule: a backup every `[backup] interval` (counted from the newest
/// good backup, so a restart does not take one at once), then [`prune`] to `keep`. A failure
/// is logged at error with `alert = true` and tried again at the next interval.
pub async fn run_schedule<D: Daemon>(
    config: FileConfig,
    store: Arc<ShareStore>,
    daemon: D,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let Some(period) = config.backup.period() else {
        return;
    };
    let dir = config.backup.dir.clone();
    tracing::info!(dir = %dir.display(), every_secs = period.as_secs(), keep = config.backup.keep,
        "scheduled backups on");
    loop {
        let newest = list(&dir).ok().and_then(|l| {
            l.into_iter()
                .rev()
                .find(|b| b.health == Health::Good)
                .and_then(|b| b.manifest)
        });
        let wait = newest.map_or(Duration::ZERO, |m| {
            let due = m.started_at_ms.saturating_add(period.as_millis() as u64);
            Duration::from_millis(due.saturating_sub(clock.now().0))
        });
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let taking = take(
            &dir,
            &store,
            config.mysql.url.expose(),
            Some(&daemon),
            clock.as_ref(),
        );
        let taken = tokio::select! {
            () = shutdown.cancelled() => return,
            taken = taking => taken,
        };
        match taken {
            Ok(t) => {
                tracing::info!(backup = %t.manifest.id, bytes = t.manifest.bytes(),
                    ms = t.elapsed.as_millis() as u64, "backup taken");
                match prune(&dir, config.backup.keep) {
                    Ok(gone) if !gone.is_empty() => {
                        tracing::info!(deleted = ?gone, keep = config.backup.keep, "old backups deleted")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!(%err, alert = true, "deleting old backups failed"),
                }
            }
            Err(err) => {
                tracing::error!(%err, alert = true, dir = %dir.display(),
                    "scheduled backup failed; trying again next interval");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(period) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_id_is_the_utc_start_time_and_only_that_shape_is_one() {
        // 2026-12-02 08:30:05 UTC
        let id = backup_id(UnixMillis(1_796_200_205_123));
        assert_eq!(id, "20261202T083005Z");
        assert!(is_backup_id(&id) && is_backup_id(&format!("{id}-2")));
        for not in [
            "",
            ".partial-20261202T083005Z",
            "20261202T083005",
            "20261202X083005Z",
            "2026120aT083005Z",
            "20261202T083005Z-",
            "20261202T083005Z-x",
            "../20261202T083005Z",
        ] {
            assert!(!is_backup_id(not), "{not}");
        }
    }
}
