//! The LMDB share store: accepted shares, interned miners and workers, found blocks with
//! their status, and the stats cache that the API reads.
//!
//! Owns the heed `Env` and every `Database` of it in one [`ShareStore`], the schema version
//! check, map growth and stale-reader clearing. Many processes open the same environment
//! (the pool writes shares and blocks; block-manager, worker, api and cleaner read and write
//! their parts); inside one process a store is opened once and shared as `Arc<ShareStore>`
//! ([`ShareStore::open`] hands back the already open store for the same path, so the `all`
//! role works). All writes of a process go through its one [`ShareWriter`] thread
//! ([`ShareStore::writer`] starts it or hands out the running one), which group-commits;
//! reads go through short-lived [`Snapshot`]s. Nothing here holds a transaction across
//! `.await`: a `Snapshot` is `!Send`, and write transactions live only on the writer thread.
//! Never wait on the writer (flush, record_block) while holding a `Snapshot`: a map growth
//! waits for this process's snapshots to end. Nothing here knows about stratum, PPLNS or
//! MySQL.
//!
//! Databases (all in one environment):
//! - `meta`: `schema_version` (u32 BE), `share_count` (u64 BE, live shares) and, per mode,
//!   `round_start.<mode>` (u64 BE): the mode's `hashes` counter when its last block was
//!   recorded.
//! - `shares`: template height (u32 BE) → DUPSORT|DUPFIXED [`ShareRecord`] (38 bytes), dups in
//!   time order.
//! - `miners_by_key` / `miners_by_id`: payout key ↔ [`MinerId`].
//! - `workers_by_key` / `workers_by_id`: (miner id BE ++ worker name) ↔ [`WorkerId`].
//! - `blocks`: (height u64 BE ++ hash) → [`BlockRecord`].
//! - `stats`: string key → bytes (JSON rollups written by the worker role).
//! - `counters`: [`CounterKey`] bytes → [`codec::CounterRecord`] (80 bytes): lifetime valid
//!   and invalid shares, hashes and last share times per pool, mode, host, miner and worker.
//! - `share_log`: [`LogSeq`] (u64 BE, +1 per batch) → the batch's commit time (u64 ms BE)
//!   then one 29-byte entry per accepted share of the batch, in order. Kept for
//!   `WriterConfig::log_retention` (2 h by default), so the worker role can read only what
//!   was committed since its last cycle ([`Snapshot::log_since`]); a reader that falls further
//!   behind than the retention simply finds fewer old batches.
//! - `feed_ids` / `feed_ids_by_time`: the ids of the pool hosts' messages the `ingest` role
//!   stored (id → commit time u64 ms BE; commit time BE ++ id → empty), written in the
//!   transaction of the message's shares, so a redelivery is skipped; pruned by age.

pub mod codec;
pub mod writer;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

use heed::byteorder::BigEndian;
use heed::types::{Bytes, Str, U32, U64};
use heed::{
    CommitOrAbort, Database, DatabaseFlags, Env, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls,
};

use crate::domain::pplns::ShareView;
use crate::domain::{Hash32, Height, PoolType, UnixMillis};

pub use codec::{
    BlockKey, BlockRecord, BlockStatus, CounterKey, Counters, FLAG_FOUND_BLOCK, FLAG_TRUSTED,
    InvalidReason, LogSeq, LoggedShare, MinerId, SHARE_RECORD_SIZE, ShareRecord, WorkerId,
};
pub use writer::{
    BlockInsert, BlockUpdate, FeedInsert, FeedItem, FeedMessage, FeedReceipt, FoundBlock,
    InvalidShare, MAX_FEED_ID_BYTES, NewShare, PruneReport, ShareWriter, WriterConfig, WriterStats,
};

/// The on-disk layout version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
/// Longest payout key (`address` or `address.paymentid`) accepted, in bytes.
pub const MAX_MINER_BYTES: usize = 256;
/// Longest worker name kept, in bytes; longer names are cut at a character boundary.
pub const MAX_WORKER_BYTES: usize = 64;

const META_SCHEMA_VERSION: &str = "schema_version";
const META_SHARE_COUNT: &str = "share_count";
const META_ROUND_START: &str = "round_start.";
const MAX_DBS: u32 = 16;

/// How to open a [`ShareStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Directory of the environment (created if missing).
    pub path: PathBuf,
    /// Initial map size in bytes (rounded up to the page size). The map doubles on
    /// `MDB_MAP_FULL`, so this can start small.
    pub map_size: usize,
    /// The map never grows past this many bytes; writes fail with [`StoreError::MapLimit`].
    pub max_map_size: usize,
    /// Reader slots shared by every process using the environment.
    pub max_readers: u32,
}

impl StoreOptions {
    /// Defaults: 1 GiB initial map, 1 TiB ceiling, 512 readers.
    pub fn new(path: impl Into<PathBuf>) -> StoreOptions {
        StoreOptions {
            path: path.into(),
            map_size: 1 << 30,
            max_map_size: 1 << 40,
            max_readers: 512,
        }
    }
}

/// Everything that can go wrong in the share store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("lmdb: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("lmdb directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("share store schema version {found} is newer than this rxpool supports ({supported})")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("share store schema version {0} is not one this rxpool can migrate")]
    SchemaUnknown(u32),
    #[error("corrupt record in `{db}`: {detail}")]
    Corrupt { db: &'static str, detail: String },
    #[error("height {0} does not fit a 32-bit share key")]
    HeightOutOfRange(Height),
    #[error("miner key is empty or longer than {MAX_MINER_BYTES} bytes")]
    BadMinerKey,
    #[error("the map reached its size limit of {0} bytes")]
    MapLimit(usize),
    #[error("the interned id space is exhausted")]
    IdsExhausted,
    #[error("the share writer has stopped")]
    WriterClosed,
    #[error("a feed message id must be 1 to {} bytes", writer::MAX_FEED_ID_BYTES)]
    BadFeedId,
    #[error("the share writer could not commit: {0}")]
    CommitFailed(String),
}

impl StoreError {
    fn is_map_full(&self) -> bool {
        matches!(self, StoreError::Lmdb(heed::Error::Mdb(MdbError::MapFull)))
    }
    fn is_map_resized(&self) -> bool {
        matches!(
            self,
            StoreError::Lmdb(heed::Error::Mdb(MdbError::MapResized))
        )
    }
}

fn corrupt(db: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        db,
        detail: detail.to_string(),
    }
}

type BeU32 = U32<BigEndian>;
type BeU64 = U64<BigEndian>;

/// The databases of the environment. heed ties a `Database` to the `Env` it came from; these
/// are the `'static` handles heed gives after the opening transaction commits, and they are
/// only ever used with transactions of the `Env` they sit next to in [`ShareStore`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dbs {
    pub(crate) meta: Database<'static, Str, Bytes>,
    pub(crate) shares: Database<'static, codec::HeightKey, codec::ShareCodec>,
    pub(crate) miners_by_key: Database<'static, Str, BeU32>,
    pub(crate) miners_by_id: Database<'static, BeU32, Str>,
    pub(crate) workers_by_key: Database<'static, Bytes, BeU32>,
    pub(crate) workers_by_id: Database<'static, BeU32, Bytes>,
    pub(crate) blocks: Database<'static, Bytes, Bytes>,
    pub(crate) stats: Database<'static, Str, Bytes>,
    pub(crate) counters: Database<'static, Bytes, Bytes>,
    pub(crate) share_log: Database<'static, BeU64, Bytes>,
    pub(crate) feed_ids: Database<'static, Str, BeU64>,
    pub(crate) feed_ids_by_time: Database<'static, Bytes, Bytes>,
}

/// An open LMDB environment with all of rxpool's databases.
///
/// Share it as `Arc<ShareStore>`; open it once per process (a second [`ShareStore::open`] of
/// the same path returns the same `Arc`). Every transaction this process opens holds a shared
/// `gate`; resizing the map takes it exclusively, because LMDB requires that no transaction
/// of the resizing process be open.
#[derive(Debug)]
pub struct ShareStore {
    env: Env<WithoutTls>,
    dbs: Dbs,
    gate: RwLock<()>,
    max_map_size: usize,
    /// The process's writer, if one runs: a weak sender, so the writer thread still stops
    /// when every `ShareWriter` handle is gone.
    writer: Mutex<Option<writer::WeakHandle>>,
    map_growths: AtomicU64,
}

fn open_stores() -> &'static Mutex<HashMap<PathBuf, Weak<ShareStore>>> {
    static OPEN: std::sync::OnceLock<Mutex<HashMap<PathBuf, Weak<ShareStore>>>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashMap::new()))
}

fn round_to_page(size: usize) -> usize {
    let page = page_size();
    size.div_ceil(page).saturating_mul(page)
}

/// Map sizes are kept at multiples of 64 KiB: LMDB needs a multiple of the OS page size,
/// and 64 KiB is a multiple of every page size Linux uses (4, 16 and 64 KiB).
fn page_size() -> usize {
    65_536
}

impl ShareStore {
    /// Opens (creating if needed) the environment at `options.path`, checks the schema
    /// version and clears stale reader slots. Returns the already open store when this
    /// process has the same path open.
    pub fn open(options: &StoreOptions) -> Result<Arc<ShareStore>, StoreError> {
        std::fs::create_dir_all(&options.path)?;
        let canonical = options.path.canonicalize()?;
        let mut open = open_stores().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = open.get(&canonical).and_then(Weak::upgrade) {
            return Ok(store);
        }
        let store = Arc::new(Self::open_new(&canonical, options)?);
        open.insert(canonical, Arc::downgrade(&store));
        Ok(store)
    }

    fn open_new(path: &Path, options: &StoreOptions) -> Result<ShareStore, StoreError> {
        let mut env_options = EnvOpenOptions::new().read_txn_without_tls();
        env_options
            .map_size(round_to_page(options.map_size.max(1 << 20)))
            .max_readers(options.max_readers)
            .max_dbs(MAX_DBS);
        // SAFETY: the environment's files are only ever modified through LMDB (by rxpool
        // processes on this host), with LMDB's own locking on (no NO_LOCK, no NO_SYNC).
        let env = unsafe { env_options.open(path)? };
        let cleared = env.clear_stale_readers()?;
        if cleared > 0 {
            tracing::warn!(lmdb.stale_readers = cleared, "cleared stale LMDB readers");
        }
        let wtxn = env.write_txn()?;
        let dbs = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, StoreError> {
                let meta = opener.create_database::<Str, Bytes>(wtxn, Some("meta"))?;
                let shares = opener
                    .database_options()
                    .types::<codec::HeightKey, codec::ShareCodec>()
                    .name("shares")
                    .flags(DatabaseFlags::DUP_SORT | DatabaseFlags::DUP_FIXED)
                    .create(wtxn)?;
                let miners_by_key = opener.create_database(wtxn, Some("miners_by_key"))?;
                let miners_by_id = opener.create_database(wtxn, Some("miners_by_id"))?;
                let workers_by_key = opener.create_database(wtxn, Some("workers_by_key"))?;
                let workers_by_id = opener.create_database(wtxn, Some("workers_by_id"))?;
                let blocks = opener.create_database(wtxn, Some("blocks"))?;
                let stats = opener.create_database(wtxn, Some("stats"))?;
                let counters = opener.create_database(wtxn, Some("counters"))?;
                let share_log = opener.create_database(wtxn, Some("share_log"))?;
                let feed_ids = opener.create_database(wtxn, Some("feed_ids"))?;
                let feed_ids_by_time = opener.create_database(wtxn, Some("feed_ids_by_time"))?;
                check_schema(wtxn, meta)?;
                Ok(CommitOrAbort::<_, ()>::Commit((
                    meta,
                    shares,
                    miners_by_key,
                    miners_by_id,
                    workers_by_key,
                    workers_by_id,
                    blocks,
                    stats,
                    counters,
                    share_log,
                    feed_ids,
                    feed_ids_by_time,
                )))
            })?
            .commit()
            .ok_or_else(|| corrupt("meta", "opening transaction aborted"))?;
        let (
            meta,
            shares,
            miners_by_key,
            miners_by_id,
            workers_by_key,
            workers_by_id,
            blocks,
            stats,
            counters,
            share_log,
            feed_ids,
            feed_ids_by_time,
        ) = dbs;
        Ok(ShareStore {
            env,
            dbs: Dbs {
                meta,
                shares,
                miners_by_key,
                miners_by_id,
                workers_by_key,
                workers_by_id,
                blocks,
                stats,
                counters,
                share_log,
                feed_ids,
                feed_ids_by_time,
            },
            gate: RwLock::new(()),
            max_map_size: round_to_page(options.max_map_size.max(options.map_size)),
            writer: Mutex::new(None),
            map_growths: AtomicU64::new(0),
        })
    }

    /// A consistent read-only view of the whole store. Keep it short-lived (it pins old pages
    /// and blocks map growth in this process); it cannot cross an `.await`.
    pub fn read(&self) -> Result<Snapshot<'_>, StoreError> {
        loop {
            let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            match self.env.read_txn() {
                Ok(txn) => {
                    return Ok(Snapshot {
                        store: self,
                        txn,
                        _gate: gate,
                    });
                }
                Err(e) => {
                    let e = StoreError::from(e);
                    if !e.is_map_resized() {
                        return Err(e);
                    }
                    drop(gate);
                    self.adopt_map_size()?;
                }
            }
        }
    }

    /// The process's writer: a handle to the running writer thread, or a new thread started
    /// with `config` when none runs (the config of a running writer is kept). Every role of
    /// the process shares it, so there is one writer per process.
    pub fn writer(self: &Arc<Self>, config: WriterConfig) -> Result<ShareWriter, StoreError> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = slot.as_ref().and_then(writer::WeakHandle::upgrade) {
            return Ok(handle);
        }
        let handle = writer::spawn(Arc::clone(self), config)?;
        *slot = Some(handle.downgrade());
        Ok(handle)
    }

    /// The current map size of this process's view of the environment, in bytes.
    pub fn map_size(&self) -> usize {
        self.env.info().map_size
    }

    /// How full the map is: the bytes up to the last used page against the current map
    /// size and the ceiling it may grow to (for the "LMDB over 80 % of its map" alert).
    pub fn usage(&self) -> Result<MapUsage, StoreError> {
        let info = self.env.info();
        let page = u64::from(self.env.unnamed_database_stat().page_size);
        let pages = u64::try_from(info.last_page_number)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        Ok(MapUsage {
            used_bytes: pages.saturating_mul(page),
            map_size: u64::try_from(info.map_size).unwrap_or(u64::MAX),
            max_map_size: u64::try_from(self.max_map_size).unwrap_or(u64::MAX),
        })
    }

    /// Grows the map (doubling, up to the ceiling) while more than `percent` % of it is in use,
    /// so that writers never meet `MDB_MAP_FULL` in the middle of a batch. Returns the new map
    /// size when it grew. Waits, like any growth, for this process's snapshots to end: call it
    /// with none open.
    pub fn grow_ahead(&self, percent: u64) -> Result<Option<usize>, StoreError> {
        let mut grown = None;
        loop {
            let usage = self.usage()?;
            let over = u128::from(usage.used_bytes) * 100
                > u128::from(usage.map_size) * u128::from(percent.min(100));
            if !over || usage.map_size >= usage.max_map_size {
                return Ok(grown);
            }
            self.grow()?;
            grown = Some(self.map_size());
        }
    }

    /// Writes a compacted copy of the environment (only the pages in use, as `mdb_copy -c`)
    /// to `dir/data.mdb` and returns its size in bytes: what the store really holds, where
    /// [`ShareStore::usage`] is the file's high-water mark, which never shrinks (LMDB reuses
    /// freed pages instead). Holds a read transaction for the whole copy.
    pub fn copy_compacted(&self, dir: &Path) -> Result<u64, StoreError> {
        std::fs::create_dir_all(dir)?;
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let file = self
            .env
            .copy_to_path(dir.join("data.mdb"), heed::CompactionOption::Enabled)?;
        Ok(file.metadata()?.len())
    }

    /// How many times this process grew the map.
    pub fn map_growths(&self) -> u64 {
        self.map_growths.load(Ordering::Relaxed)
    }

    /// Frees reader slots left by crashed processes; returns how many.
    pub fn clear_stale_readers(&self) -> Result<usize, StoreError> {
        Ok(self.env.clear_stale_readers()?)
    }

    /// The environment directory.
    pub fn path(&self) -> &Path {
        self.env.path()
    }

    /// Runs `f` in one write transaction and commits it. On `MDB_MAP_FULL` the transaction is
    /// aborted, the map doubled, and `f` run again from scratch, so `f` must not keep state
    /// from a failed attempt. Only the writer thread calls this.
    pub(crate) fn write<R>(
        &self,
        mut f: impl FnMut(&mut RwTxn<'_>, &Dbs) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        loop {
            let attempt = {
                let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
                match self.env.write_txn() {
                    Ok(mut txn) => match f(&mut txn, &self.dbs) {
                        Ok(r) => txn.commit().map(|()| r).map_err(StoreError::from),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(StoreError::from(e)),
                }
            };
            match attempt {
                Err(e) if e.is_map_full() => self.grow()?,
                Err(e) if e.is_map_resized() => self.adopt_map_size()?,
                other => return other,
            }
        }
    }

    /// Waits until no transaction of this process is open and returns the exclusive gate.
    /// It polls instead of blocking so that threads opening new snapshots are never queued
    /// behind it (std's RwLock would make a thread that already holds a snapshot and asks for
    /// a second one wait on us, and us on it).
    fn exclusive_gate(&self) -> RwLockWriteGuard<'_, ()> {
        let started = Instant::now();
        let mut warned = false;
        loop {
            match self.gate.try_write() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    if !warned && started.elapsed() > Duration::from_secs(1) {
                        tracing::warn!("LMDB map resize waiting for open snapshots to end");
                        warned = true;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    fn grow(&self) -> Result<(), StoreError> {
        let _gate = self.exclusive_gate();
        let current = self.env.info().map_size;
        if current >= self.max_map_size {
            return Err(StoreError::MapLimit(self.max_map_size));
        }
        let new_size = round_to_page(current.saturating_mul(2)).min(self.max_map_size);
        // SAFETY: we hold the gate exclusively and every transaction of this process holds it
        // shared for its whole life, so no transaction of this process is open.
        unsafe { self.env.resize(new_size)? };
        self.map_growths.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            lmdb.map_size = new_size,
            lmdb.previous = current,
            "grew the LMDB map"
        );
        Ok(())
    }

    /// Another process grew the map past ours: adopt its size.
    fn adopt_map_size(&self) -> Result<(), StoreError> {
        let _gate = self.exclusive_gate();
        // SAFETY: as in `grow`, no transaction of this process is open. Size 0 makes LMDB adopt
        // the size recorded in the environment.
        unsafe { self.env.resize(0)? };
        Ok(())
    }
}

/// Checks (and on a fresh environment writes) the schema version; migrates older layouts.
fn check_schema(wtxn: &mut RwTxn<'_>, meta: Database<'_, Str, Bytes>) -> Result<(), StoreError> {
    let found = match meta.get(wtxn, META_SCHEMA_VERSION)? {
        None => None,
        Some(bytes) => {
            Some(u32::from_be_bytes(bytes.try_into().map_err(|_| {
                corrupt("meta", "schema_version is not 4 bytes")
            })?))
        }
    };
    match found {
        None => {
            meta.put(wtxn, META_SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(v) if v == SCHEMA_VERSION => Ok(()),
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            found: v,
            supported: SCHEMA_VERSION,
        }),
        Some(v) => {
            migrate(wtxn, v)?;
            meta.put(wtxn, META_SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
    }
}

/// Upgrades the layout from version `from` to [`SCHEMA_VERSION`] inside the opening write
/// transaction. Version 1 is the first layout, so nothing older can be migrated yet; each
/// future version adds one step here (`from == N` rewrites N's records into N+1's).
fn migrate(_wtxn: &mut RwTxn<'_>, from: u32) -> Result<(), StoreError> {
    Err(StoreError::SchemaUnknown(from))
}

pub(crate) fn read_share_count(txn: &RoTxn<'_>, dbs: &Dbs) -> Result<u64, StoreError> {
    match dbs.meta.get(txn, META_SHARE_COUNT)? {
        None => Ok(0),
        Some(bytes) => {
            Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| {
                corrupt("meta", "share_count is not 8 bytes")
            })?))
        }
    }
}

pub(crate) fn write_share_count(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    count: u64,
) -> Result<(), StoreError> {
    dbs.meta.put(txn, META_SHARE_COUNT, &count.to_be_bytes())?;
    Ok(())
}

fn round_start_key(mode: PoolType) -> String {
    format!("{META_ROUND_START}{}", mode.as_str())
}

pub(crate) fn write_round_start(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    mode: PoolType,
    hashes: u64,
) -> Result<(), StoreError> {
    dbs.meta
        .put(txn, &round_start_key(mode), &hashes.to_be_bytes())?;
    Ok(())
}

/// The shares of one `share_log` batch, each with its batch; one error for a bad batch.
fn batch_entries<'t>(
    item: heed::Result<(u64, &'t [u8])>,
) -> Box<dyn Iterator<Item = Result<(LogSeq, LoggedShare), StoreError>> + 't> {
    let (seq, value) = match item {
        Ok(kv) => kv,
        Err(e) => return Box::new(std::iter::once(Err(StoreError::from(e)))),
    };
    match codec::log_value_entries(value) {
        Some(entries) => Box::new(entries.map(move |share| Ok((LogSeq(seq), share)))),
        None => Box::new(std::iter::once(Err(corrupt(
            "share_log",
            format!("batch {seq} has a bad length"),
        )))),
    }
}

/// How full the environment's map is ([`ShareStore::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapUsage {
    /// Bytes up to and including the last used page.
    pub used_bytes: u64,
    /// The current map size.
    pub map_size: u64,
    /// The size the map may grow to.
    pub max_map_size: u64,
}

/// A found block with its finder's payout key and worker name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub record: BlockRecord,
    /// The finder's payout key (`address` or `address.paymentid`).
    pub miner: String,
    /// The finder's worker name.
    pub worker: String,
}

/// A consistent read-only view of the store (one LMDB read transaction).
///
/// `!Send` on purpose: it cannot be held across an `.await` in a spawned task. Open it inside
/// `spawn_blocking` (or on a thread) and drop it before waiting on anything.
pub struct Snapshot<'s> {
    store: &'s ShareStore,
    // Field order matters: the transaction ends before the gate is released.
    txn: RoTxn<'s, WithoutTls>,
    _gate: RwLockReadGuard<'s, ()>,
}

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("path", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl<'s> Snapshot<'s> {
    fn dbs(&self) -> &Dbs {
        &self.store.dbs
    }

    /// The shares of one template height in time order (oldest first).
    pub fn shares_at(
        &self,
        height: Height,
    ) -> Result<impl Iterator<Item = Result<&ShareRecord, StoreError>> + '_, StoreError> {
        let key = codec::height_key(height).ok_or(StoreError::HeightOutOfRange(height))?;
        let iter = self.dbs().shares.get_duplicates(&self.txn, &key)?;
        Ok(iter
            .into_iter()
            .flatten()
            .map(|item| item.map(|(_, rec)| rec).map_err(StoreError::from)))
    }

    /// The shares of every height in `heights`, newest first: heights descending and, within
    /// a height, time descending. This is the PPLNS walk.
    pub fn shares_in(
        &self,
        heights: RangeInclusive<Height>,
    ) -> Result<impl Iterator<Item = Result<(Height, &ShareRecord), StoreError>> + '_, StoreError>
    {
        use std::ops::Bound;
        let start = match codec::height_key(*heights.start()) {
            Some(lo) => Bound::Included(lo),
            None => Bound::Excluded(u32::MAX),
        };
        // heed's reverse range with an *included* end starts at the FIRST duplicate of the end
        // key (it skips the rest of that height); an excluded end, or none, starts at the last
        // duplicate. So the end is always given as excluded or unbounded.
        let end = match codec::height_key(*heights.end()).and_then(|h| h.checked_add(1)) {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let iter = self.dbs().shares.rev_range(&self.txn, &(start, end))?;
        Ok(iter.map(|item| {
            item.map(|(h, rec)| (Height(u64::from(h)), rec))
                .map_err(StoreError::from)
        }))
    }

    /// The shares from `top` down to the oldest, newest first, as the payout maths sees them
    /// ([`ShareView`]: height, interned miner, mode, credited difficulty). This is the one
    /// walk both the block-manager's crediting and the cleaner's floor read, so they cannot
    /// disagree about which shares a window holds. A share with an unknown mode is an error.
    pub fn share_views_down_from(
        &self,
        top: Height,
    ) -> Result<impl Iterator<Item = Result<ShareView<MinerId>, StoreError>> + '_, StoreError> {
        Ok(self.shares_in(Height(0)..=top)?.map(|item| {
            let (height, rec) = item?;
            Ok(ShareView {
                height,
                payee: rec.miner(),
                pool_type: rec
                    .pool_type()
                    .ok_or_else(|| corrupt("shares", format!("unknown pool type at {height}")))?,
                difficulty: rec.difficulty(),
            })
        }))
    }

    /// How many shares the store holds (kept by the writers; equals a full walk).
    pub fn share_count(&self) -> Result<u64, StoreError> {
        read_share_count(&self.txn, self.dbs())
    }

    /// The lowest and highest template heights holding shares.
    pub fn share_heights(&self) -> Result<Option<(Height, Height)>, StoreError> {
        let first = self.dbs().shares.first(&self.txn)?.map(|(h, _)| h);
        let last = self.dbs().shares.last(&self.txn)?.map(|(h, _)| h);
        Ok(first
            .zip(last)
            .map(|(a, b)| (Height(u64::from(a)), Height(u64::from(b)))))
    }

    /// The payout key of an interned miner.
    pub fn miner(&self, id: MinerId) -> Result<Option<&str>, StoreError> {
        Ok(self.dbs().miners_by_id.get(&self.txn, &id.0)?)
    }

    /// The id of a payout key, if it was ever seen.
    pub fn miner_id(&self, key: &str) -> Result<Option<MinerId>, StoreError> {
        if key.len() > MAX_MINER_BYTES {
            return Ok(None);
        }
        Ok(self.dbs().miners_by_key.get(&self.txn, key)?.map(MinerId))
    }

    /// The miner and name of an interned worker.
    pub fn worker(&self, id: WorkerId) -> Result<Option<(MinerId, &str)>, StoreError> {
        match self.dbs().workers_by_id.get(&self.txn, &id.0)? {
            None => Ok(None),
            Some(bytes) => codec::split_worker_value(bytes)
                .map(Some)
                .ok_or_else(|| corrupt("workers_by_id", "bad worker value")),
        }
    }

    /// The id of a miner's worker name, if it was ever seen.
    pub fn worker_id(&self, miner: MinerId, name: &str) -> Result<Option<WorkerId>, StoreError> {
        let name = codec::truncate_at_char_boundary(name, MAX_WORKER_BYTES);
        Ok(self
            .dbs()
            .workers_by_key
            .get(&self.txn, &codec::worker_key(miner, name))?
            .map(WorkerId))
    }

    /// Every interned worker of one miner.
    pub fn workers_of(&self, miner: MinerId) -> Result<Vec<(WorkerId, String)>, StoreError> {
        let prefix = miner.0.to_be_bytes();
        let mut out = Vec::new();
        for item in self.dbs().workers_by_key.prefix_iter(&self.txn, &prefix)? {
            let (key, id) = item?;
            let name = std::str::from_utf8(&key[4..])
                .map_err(|_| corrupt("workers_by_key", "worker name is not UTF-8"))?;
            out.push((WorkerId(id), name.to_owned()));
        }
        Ok(out)
    }

    fn resolve(&self, record: BlockRecord) -> Result<Block, StoreError> {
        let miner = self.miner(record.miner)?.unwrap_or_default().to_owned();
        let worker = self
            .worker(record.worker)?
            .map(|(_, name)| name.to_owned())
            .unwrap_or_default();
        Ok(Block {
            record,
            miner,
            worker,
        })
    }

    /// One found block.
    pub fn block(&self, height: Height, hash: Hash32) -> Result<Option<Block>, StoreError> {
        let key = BlockKey { height, hash }.to_bytes();
        match self.dbs().blocks.get(&self.txn, &key)? {
            None => Ok(None),
            Some(bytes) => {
                let record = BlockRecord::decode(bytes).map_err(|e| corrupt("blocks", e))?;
                self.resolve(record).map(Some)
            }
        }
    }

    /// Every found block at one height (usually one; two when the pool found competing ones).
    pub fn blocks_at(&self, height: Height) -> Result<Vec<Block>, StoreError> {
        self.blocks_in(height..=height)
    }

    /// Found blocks whose height is in `heights`, ascending by (height, hash).
    pub fn blocks_in(&self, heights: RangeInclusive<Height>) -> Result<Vec<Block>, StoreError> {
        let lo = BlockKey {
            height: *heights.start(),
            hash: Hash32([0; 32]),
        }
        .to_bytes();
        let hi = BlockKey {
            height: *heights.end(),
            hash: Hash32([0xff; 32]),
        }
        .to_bytes();
        let range = (
            std::ops::Bound::Included(&lo[..]),
            std::ops::Bound::Included(&hi[..]),
        );
        let mut out = Vec::new();
        for item in self.dbs().blocks.range(&self.txn, &range)? {
            let (_, bytes) = item?;
            let record = BlockRecord::decode(bytes).map_err(|e| corrupt("blocks", e))?;
            out.push(self.resolve(record)?);
        }
        Ok(out)
    }

    /// The most recent found blocks, newest first, at most `limit`.
    pub fn recent_blocks(&self, limit: usize) -> Result<Vec<Block>, StoreError> {
        let mut out = Vec::new();
        for item in self.dbs().blocks.rev_iter(&self.txn)?.take(limit) {
            let (_, bytes) = item?;
            let record = BlockRecord::decode(bytes).map_err(|e| corrupt("blocks", e))?;
            out.push(self.resolve(record)?);
        }
        Ok(out)
    }

    /// Every found block with `status`, ascending by (height, hash).
    pub fn blocks_with_status(&self, status: BlockStatus) -> Result<Vec<Block>, StoreError> {
        let mut out = Vec::new();
        for item in self.dbs().blocks.iter(&self.txn)? {
            let (_, bytes) = item?;
            let record = BlockRecord::decode(bytes).map_err(|e| corrupt("blocks", e))?;
            if record.status == status {
                out.push(self.resolve(record)?);
            }
        }
        Ok(out)
    }

    /// A value of the stats cache.
    pub fn stats_get(&self, key: &str) -> Result<Option<&[u8]>, StoreError> {
        Ok(self.dbs().stats.get(&self.txn, key)?)
    }

    /// Every key and value of the stats cache whose key starts with `prefix`, in key order.
    pub fn stats_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.dbs().stats.prefix_iter(&self.txn, prefix)? {
            let (key, value) = item?;
            out.push((key.to_owned(), value.to_vec()));
        }
        Ok(out)
    }

    /// The lifetime counters of `key`; `None` when nothing was ever counted for it.
    pub fn counters(&self, key: CounterKey) -> Result<Option<Counters>, StoreError> {
        match self.dbs().counters.get(&self.txn, &key.to_bytes())? {
            None => Ok(None),
            Some(bytes) => codec::CounterRecord::decode(bytes)
                .map(Some)
                .ok_or_else(|| corrupt("counters", "counter record too short")),
        }
    }

    /// The counters of every pool host that ever counted a share, by `pool_id`.
    pub fn host_counters(&self) -> Result<Vec<(u32, Counters)>, StoreError> {
        let mut out = Vec::new();
        let prefix = [codec::COUNTER_TAG_HOST];
        for item in self.dbs().counters.prefix_iter(&self.txn, &prefix[..])? {
            let (key, value) = item?;
            let Some(CounterKey::Host(id)) = CounterKey::from_bytes(key) else {
                return Err(corrupt("counters", "bad host counter key"));
            };
            let counters = codec::CounterRecord::decode(value)
                .ok_or_else(|| corrupt("counters", "counter record too short"))?;
            out.push((id, counters));
        }
        Ok(out)
    }

    /// The hashes (credited difficulty) of `mode` since its last block was recorded; every
    /// hash counted for the mode when no block of it was recorded since the counters began.
    pub fn round_hashes(&self, mode: PoolType) -> Result<u64, StoreError> {
        let total = self
            .counters(CounterKey::Mode(mode))?
            .map_or(0, |c| c.hashes);
        let start = match self.dbs().meta.get(&self.txn, &round_start_key(mode))? {
            None => 0,
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .try_into()
                    .map_err(|_| corrupt("meta", "round_start is not 8 bytes"))?,
            ),
        };
        Ok(total.saturating_sub(start))
    }

    /// Whether the ingest stored the feed message `id` (and has not pruned it yet).
    pub fn feed_id_seen(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.dbs().feed_ids.get(&self.txn, id)?.is_some())
    }

    /// How many feed message ids are remembered.
    pub fn feed_ids(&self) -> Result<u64, StoreError> {
        Ok(self.dbs().feed_ids.len(&self.txn)?)
    }

    /// The newest batch of the share log, if any.
    pub fn log_last(&self) -> Result<Option<LogSeq>, StoreError> {
        Ok(self
            .dbs()
            .share_log
            .last(&self.txn)?
            .map(|(k, _)| LogSeq(k)))
    }

    /// Every share of every share-log batch after `after` (`None`: from the oldest kept),
    /// oldest batch first and in commit order within a batch, each with its batch. Batches
    /// older than the writer's `log_retention` are gone: a reader that fell that far behind
    /// sees only the batches still kept.
    pub fn log_since(
        &self,
        after: Option<LogSeq>,
    ) -> Result<impl Iterator<Item = Result<(LogSeq, LoggedShare), StoreError>> + '_, StoreError>
    {
        use std::ops::Bound;
        let start = match after {
            None => Bound::Unbounded,
            Some(LogSeq(seq)) => Bound::Excluded(seq),
        };
        let range = self
            .dbs()
            .share_log
            .range(&self.txn, &(start, Bound::Unbounded))?;
        Ok(range.flat_map(batch_entries))
    }

    /// The commit time of one share-log batch, if it is still kept.
    pub fn log_time(&self, seq: LogSeq) -> Result<Option<UnixMillis>, StoreError> {
        match self.dbs().share_log.get(&self.txn, &seq.0)? {
            None => Ok(None),
            Some(value) => codec::log_value_time(value)
                .map(Some)
                .ok_or_else(|| corrupt("share_log", "batch without a commit time")),
        }
    }
}
