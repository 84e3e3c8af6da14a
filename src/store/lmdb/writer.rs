//! The one writer of a process: a dedicated OS thread that owns every LMDB write transaction.
//!
//! Fed by a bounded channel ([`ShareWriter`] handles, cheap to clone). It group-commits:
//! it waits for a first command, then gathers more until `max_batch` shares, `max_delay`, or
//! a command someone is waiting on (a found block, a flush, a status change, a prune, a block
//! deletion, a close), and applies them all in ONE write transaction. Interning of payout keys
//! and worker names happens inside that transaction. On `MDB_MAP_FULL` the store grows the map
//! and the whole batch is applied again. A transaction never crosses an `.await`: async callers only
//! send commands and await replies.
//!
//! Lifecycle: the roles of one process (`rxpool all`) share the thread, so a role's
//! [`ShareWriter::close`] only lets go of its own handle (after committing what it queued);
//! the thread stops at the close of the last handle, or when every handle is gone, and
//! commits everything queued first. A role stopping early can therefore never cut off
//! another role that is still draining (the pool's last shares and blocks at SIGTERM).
//! Does not validate shares (the pool does) and never reads for anyone but itself.
//!
//! Besides the shares themselves, every batch updates, in the same transaction: the lifetime
//! [`Counters`] (aggregated in memory, one read-modify-write per distinct key per batch), the
//! round start of a mode when a new block of that mode is inserted, and the `share_log` (one
//! value per batch that had shares, the front pruned past `log_retention`). Refused shares
//! ([`ShareWriter::record_invalid`]) only move counters, and only those of miners and workers
//! that are already interned: garbage from fresh addresses never grows the id tables.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use heed::{MdbError, PutFlags, RwTxn};
use tokio::sync::{mpsc, oneshot};
use zerocopy::IntoBytes;

use super::codec::{
    self, BlockKey, BlockRecord, BlockStatus, CounterKey, CounterRecord, Counters, InvalidReason,
    LoggedShare, MinerId, ShareRecord, WorkerId,
};
use super::{Dbs, MAX_MINER_BYTES, MAX_WORKER_BYTES, ShareStore, StoreError};
use crate::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};

/// Tuning of the writer thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most shares applied in one transaction.
    pub max_batch: usize,
    /// Longest a queued share waits for its batch to fill before it is committed.
    pub max_delay: Duration,
    /// Commands the channel holds before `append` waits (back-pressure).
    pub queue: usize,
    /// How often the writer frees reader slots of crashed processes.
    pub stale_reader_interval: Duration,
    /// How long a `share_log` batch is kept after its commit; older batches are deleted
    /// from the front, at most [`LOG_PRUNE_PER_BATCH`] per committed batch.
    pub log_retention: Duration,
}

/// Most old `share_log` batches one write transaction deletes.
pub const LOG_PRUNE_PER_BATCH: usize = 64;

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            max_batch: 16_384,
            max_delay: Duration::from_millis(50),
            queue: 65_536,
            stale_reader_interval: Duration::from_secs(60),
            log_retention: Duration::from_secs(2 * 3600),
        }
    }
}

/// An accepted share, as the pool hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    /// The template height the job was built on (the PPLNS window key).
    pub height: Height,
    pub timestamp: UnixMillis,
    /// The payout key: `address` or `address.paymentid`.
    pub miner: Arc<str>,
    /// The worker name (rig id or password field); cut to `MAX_WORKER_BYTES`.
    pub worker: Arc<str>,
    /// Credited difficulty (the PPLNS weight).
    pub difficulty: u64,
    /// The job difficulty the miner worked at.
    pub job_difficulty: u64,
    pub pool_type: PoolType,
    /// Accepted from a trusted miner without PoW verification.
    pub trusted: bool,
    /// This share was also a block.
    pub found_block: bool,
    /// The pool host that accepted it (its `pool_id`), for the per-host counters.
    pub host: u32,
}

/// A refused share of a logged-in miner, for the counters only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidShare {
    /// The payout key the miner logged in with.
    pub miner: Arc<str>,
    pub worker: Arc<str>,
    /// The pool host that refused it (its `pool_id`).
    pub host: u32,
    pub reason: InvalidReason,
    pub timestamp: UnixMillis,
}

/// A block the pool found and submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBlock {
    pub height: Height,
    pub hash: Hash32,
    pub network_difficulty: Difficulty,
    /// The reward if known at find time (from the template), else zero.
    pub reward: Atomic,
    pub pool_type: PoolType,
    pub miner: Arc<str>,
    pub worker: Arc<str>,
    pub timestamp: UnixMillis,
    /// The pool's cumulative round difficulty when the block was found, if tracked.
    pub shares_at_find: Option<Difficulty>,
    /// `Candidate` when recorded before submission, else `Pending`.
    pub status: BlockStatus,
    /// The complete block blob (empty when unknown).
    pub blob: Vec<u8>,
}

/// One item of a message from a pool host (`crate::feed` publishes them, `crate::ingest`
/// hands them here): what the pool would have written itself on a single host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    Share(NewShare),
    Invalid(InvalidShare),
    Block(FoundBlock),
    Update(BlockKey, BlockUpdate),
}

/// A message from a pool host: its unique id (`Nats-Msg-Id`) and its items, applied in one
/// transaction together with the id, so a redelivered message is recognised and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMessage {
    pub id: String,
    pub items: Vec<FeedItem>,
}

/// Longest feed message id kept, in bytes.
pub const MAX_FEED_ID_BYTES: usize = 128;

/// What `feed` did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedInsert {
    /// Its items are now stored.
    Stored,
    /// Its id was stored before: nothing was written.
    Duplicate,
}

/// What `record_block` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockInsert {
    /// The block is now stored, with the status it was given.
    Inserted,
    /// A block with this (height, hash) was already stored; it was left as it was.
    AlreadyKnown,
}

/// A status change of a stored block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockUpdate {
    pub status: BlockStatus,
    /// Why (kept up to 1 KiB), e.g. "orphaned: chain has <hash> at this height".
    pub reason: String,
    /// The reward learnt from the chain, if it should be set now.
    pub reward: Option<Atomic>,
    pub at: UnixMillis,
}

/// What one `prune_below` call deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    /// Share keys (template heights) deleted.
    pub heights: u64,
    /// Shares deleted.
    pub shares: u64,
    /// Whether heights below the limit remain (call again).
    pub more: bool,
}

/// Counters of one writer (since it started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Shares committed.
    pub committed: u64,
    /// Write transactions committed.
    pub batches: u64,
    /// Shares dropped because their batch could not be committed after retries.
    pub lost: u64,
}

#[derive(Debug, Default)]
struct WriterCounters {
    committed: AtomicU64,
    batches: AtomicU64,
    lost: AtomicU64,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

#[derive(Debug)]
enum Command {
    Share(NewShare),
    Invalid(InvalidShare),
    Block(FoundBlock, Reply<BlockInsert>),
    UpdateBlock(BlockKey, BlockUpdate, Reply<bool>),
    Stats(Vec<(String, Vec<u8>)>, Reply<()>),
    DeleteStats(Vec<String>, Reply<()>),
    Prune(Height, usize, Reply<PruneReport>),
    DeleteSettledBlocks(Vec<BlockKey>, Reply<u64>),
    Feed(FeedMessage, Reply<FeedInsert>),
    PruneFeedIds(UnixMillis, usize, Reply<u64>),
    Flush(Reply<()>),
    Close(Reply<()>),
}

impl Command {
    /// Someone awaits this command: commit without waiting for the batch to fill.
    fn is_urgent(&self) -> bool {
        !matches!(self, Command::Share(_) | Command::Invalid(_))
    }
}

/// A handle to the process's writer thread. Clone it freely; every clone feeds the same
/// thread. All methods only enqueue and await; none blocks the reactor.
#[derive(Debug, Clone)]
pub struct ShareWriter {
    tx: mpsc::Sender<Command>,
    counters: Arc<WriterCounters>,
}

impl ShareWriter {
    /// Queues an accepted share; waits only when the queue is full (back-pressure).
    pub async fn append(&self, share: NewShare) -> Result<(), StoreError> {
        validate(&share.height, &share.miner)?;
        self.send(Command::Share(share)).await
    }

    /// Queues an accepted share without waiting; `Ok(false)` when the queue is full.
    pub fn try_append(&self, share: NewShare) -> Result<bool, StoreError> {
        validate(&share.height, &share.miner)?;
        self.try_send(Command::Share(share))
    }

    /// Counts a refused share without waiting; `Ok(false)` when the queue is half full or
    /// more (the share is then not counted: refused shares never hold the pool back, and a
    /// flood of them leaves half the queue to accepted shares). It counts for the pool and
    /// the host always, and for the miner and worker only if they are already interned.
    pub fn record_invalid(&self, share: InvalidShare) -> Result<bool, StoreError> {
        if self.tx.capacity() < self.tx.max_capacity().div_ceil(2) {
            return Ok(false);
        }
        self.try_send(Command::Invalid(share))
    }

    /// Stores a found block (with `block.status`) and returns once it is durably committed,
    /// together with every share queued before it.
    pub async fn record_block(&self, block: FoundBlock) -> Result<BlockInsert, StoreError> {
        if block.miner.is_empty() || block.miner.len() > MAX_MINER_BYTES {
            return Err(StoreError::BadMinerKey);
        }
        self.request(|reply| Command::Block(block, reply)).await
    }

    /// Sets the status (and optionally the reward) of a stored block; `Ok(false)` when no
    /// block has that (height, hash).
    pub async fn update_block(
        &self,
        height: Height,
        hash: Hash32,
        update: BlockUpdate,
    ) -> Result<bool, StoreError> {
        let key = BlockKey { height, hash };
        self.request(|reply| Command::UpdateBlock(key, update, reply))
            .await
    }

    /// Writes values of the stats cache, committed before this returns.
    pub async fn put_stats(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.request(|reply| Command::Stats(entries, reply)).await
    }

    /// Deletes keys of the stats cache (absent keys are fine), committed before this returns.
    pub async fn delete_stats(&self, keys: Vec<String>) -> Result<(), StoreError> {
        self.request(|reply| Command::DeleteStats(keys, reply))
            .await
    }

    /// Deletes the shares of every template height below `below`, at most `max_heights`
    /// heights in this transaction. Call again while `more` is true.
    pub async fn prune_below(
        &self,
        below: Height,
        max_heights: usize,
    ) -> Result<PruneReport, StoreError> {
        self.request(|reply| Command::Prune(below, max_heights.max(1), reply))
            .await
    }

    /// Deletes the found blocks of `keys` that are settled (unlocked or orphaned) when the
    /// transaction runs; a block whose status is anything else, or that is gone, is kept and
    /// not counted. Returns how many were deleted.
    pub async fn delete_settled_blocks(&self, keys: Vec<BlockKey>) -> Result<u64, StoreError> {
        self.request(|reply| Command::DeleteSettledBlocks(keys, reply))
            .await
    }

    /// Queues a feed message (checked first: every share's height and every payout key must
    /// fit the store, the id must be 1 to [`MAX_FEED_ID_BYTES`] bytes); the receipt resolves
    /// once it is committed, with its id, or found to be a duplicate. Many messages queued
    /// before their receipts are awaited share one transaction.
    pub async fn queue_feed(&self, message: FeedMessage) -> Result<FeedReceipt, StoreError> {
        check_feed(&message)?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Feed(message, reply)).await?;
        Ok(FeedReceipt(answer))
    }

    /// Forgets feed message ids stored before `before`, at most `max` of them in this
    /// transaction; returns how many. Call again while it returns `max`.
    pub async fn prune_feed_ids(&self, before: UnixMillis, max: usize) -> Result<u64, StoreError> {
        self.request(|reply| Command::PruneFeedIds(before, max.max(1), reply))
            .await
    }

    /// Returns once everything queued before this call is durably committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.request(Command::Flush).await
    }

    /// Lets go of this handle once everything queued before the call is committed. The last
    /// handle's close also stops the writer thread and returns once the thread has let go of
    /// the store; while other handles live (another role of the process), the thread keeps
    /// serving them and stops when the last of them closes or is dropped.
    pub async fn close(self) -> Result<(), StoreError> {
        if self.tx.strong_count() > 1 {
            return self.flush().await;
        }
        self.request(Command::Close).await
    }

    /// Counters since the writer started.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            committed: self.counters.committed.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            lost: self.counters.lost.load(Ordering::Relaxed),
        }
    }

    /// Queues without waiting; `Ok(false)` when the queue is full.
    fn try_send(&self, command: Command) -> Result<bool, StoreError> {
        match self.tx.try_send(command) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StoreError::WriterClosed),
        }
    }

    async fn send(&self, command: Command) -> Result<(), StoreError> {
        self.tx
            .send(command)
            .await
            .map_err(|_| StoreError::WriterClosed)
    }

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply)).await?;
        answer.await.map_err(|_| StoreError::WriterClosed)?
    }
}

/// A handle that does not keep the writer alive (kept by [`ShareStore`]).
#[derive(Debug)]
pub(super) struct WeakHandle {
    tx: mpsc::WeakSender<Command>,
    counters: Arc<WriterCounters>,
}

impl WeakHandle {
    /// A live handle, unless the writer stopped or is stopping.
    pub(super) fn upgrade(&self) -> Option<ShareWriter> {
        let tx = self.tx.upgrade().filter(|tx| !tx.is_closed())?;
        Some(ShareWriter {
            tx,
            counters: Arc::clone(&self.counters),
        })
    }
}

impl ShareWriter {
    pub(super) fn downgrade(&self) -> WeakHandle {
        WeakHandle {
            tx: self.tx.downgrade(),
            counters: Arc::clone(&self.counters),
        }
    }
}

/// The answer to a queued feed message.
#[derive(Debug)]
pub struct FeedReceipt(oneshot::Receiver<Result<FeedInsert, StoreError>>);

impl FeedReceipt {
    /// Waits until the message's transaction committed (or failed).
    pub async fn committed(self) -> Result<FeedInsert, StoreError> {
        self.0.await.map_err(|_| StoreError::WriterClosed)?
    }
}

/// What `apply` would otherwise fail the whole batch on.
fn check_feed(message: &FeedMessage) -> Result<(), StoreError> {
    if message.id.is_empty() || message.id.len() > MAX_FEED_ID_BYTES {
        return Err(StoreError::BadFeedId);
    }
    for item in &message.items {
        match item {
            FeedItem::Share(share) => validate(&share.height, &share.miner)?,
            FeedItem::Block(block) => validate(&Height(0), &block.miner)?,
            FeedItem::Invalid(_) | FeedItem::Update(..) => {}
        }
    }
    Ok(())
}

fn validate(height: &Height, miner: &str) -> Result<(), StoreError> {
    if codec::height_key(*height).is_none() {
        return Err(StoreError::HeightOutOfRange(*height));
    }
    if miner.is_empty() || miner.len() > MAX_MINER_BYTES {
        return Err(StoreError::BadMinerKey);
    }
    Ok(())
}

pub(super) fn spawn(
    store: Arc<ShareStore>,
    config: WriterConfig,
) -> Result<ShareWriter, StoreError> {
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let counters = Arc::new(WriterCounters::default());
    let thread_counters = Arc::clone(&counters);
    std::thread::Builder::new()
        .name("lmdb-writer".into())
        .spawn(move || {
            let mut writer = Writer {
                store,
                config,
                rx,
                counters: thread_counters,
                cache: Interned::default(),
                seq: rand::random(),
                close_replies: Vec::new(),
            };
            writer.run();
            // Answer `close` only once this thread no longer holds the store, so a caller
            // that drops its own handle next really closes the environment.
            let replies = std::mem::take(&mut writer.close_replies);
            drop(writer);
            for (reply, result) in replies {
                drop(reply.send(result));
            }
        })?;
    Ok(ShareWriter { tx, counters })
}

/// Committed interned ids (ids are never reused or deleted, so they stay valid).
#[derive(Debug, Default)]
struct Interned {
    miners: HashMap<Arc<str>, MinerId>,
    workers: HashMap<MinerId, HashMap<Arc<str>, WorkerId>>,
}

/// Ids assigned or looked up by one batch attempt; merged into the cache after commit.
#[derive(Debug, Default)]
struct BatchInterned {
    miners: Vec<(Arc<str>, MinerId)>,
    workers: Vec<(MinerId, Arc<str>, WorkerId)>,
    miners_local: HashMap<Arc<str>, MinerId>,
    workers_local: HashMap<(MinerId, Arc<str>), WorkerId>,
}

/// What an applied command answers once the batch commits.
#[derive(Debug)]
enum Outcome {
    None,
    Block(BlockInsert),
    Updated(bool),
    Pruned(PruneReport),
    Deleted(u64),
    Feed(FeedInsert),
}

struct Writer {
    store: Arc<ShareStore>,
    config: WriterConfig,
    rx: mpsc::Receiver<Command>,
    counters: Arc<WriterCounters>,
    cache: Interned,
    seq: u32,
    /// `close` callers, answered after the thread has let go of the store.
    close_replies: Vec<(Reply<()>, Result<(), StoreError>)>,
}

impl Writer {
    fn run(&mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "LMDB writer could not start its timer runtime");
                return;
            }
        };
        let mut last_reader_check = Instant::now();
        loop {
            let first = runtime.block_on(async {
                tokio::time::timeout(self.config.stale_reader_interval, self.rx.recv()).await
            });
            if last_reader_check.elapsed() >= self.config.stale_reader_interval {
                last_reader_check = Instant::now();
                match self.store.clear_stale_readers() {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(lmdb.stale_readers = n, "cleared stale LMDB readers"),
                    Err(e) => tracing::warn!(error = %e, "could not check LMDB readers"),
                }
            }
            let first = match first {
                Err(_elapsed) => continue,
                Ok(None) => break,
                Ok(Some(command)) => command,
            };
            let (batch, closed) = self.gather(&runtime, first);
            let closing = closed || batch.iter().any(|c| matches!(c, Command::Close(_)));
            self.commit(batch);
            if closing {
                break;
            }
        }
        // Whatever other handles queued after a close or before the channel closed.
        self.rx.close();
        let mut rest = Vec::new();
        while let Ok(command) = self.rx.try_recv() {
            rest.push(command);
        }
        if !rest.is_empty() {
            self.commit(rest);
        }
    }

    /// Collects one batch starting with `first`. Returns the batch and whether the channel
    /// closed while gathering.
    fn gather(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        first: Command,
    ) -> (Vec<Command>, bool) {
        let deadline = Instant::now() + self.config.max_delay;
        let mut urgent = first.is_urgent();
        let mut shares = usize::from(matches!(first, Command::Share(_)));
        let mut batch = vec![first];
        while shares < self.config.max_batch {
            let next = match self.rx.try_recv() {
                Ok(command) => Some(command),
                Err(mpsc::error::TryRecvError::Disconnected) => return (batch, true),
                Err(mpsc::error::TryRecvError::Empty) if urgent => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let rx = &mut self.rx;
                    let waited = runtime.block_on(async {
                        tokio::time::timeout_at(deadline.into(), rx.recv()).await
                    });
                    match waited {
                        Ok(Some(command)) => Some(command),
                        Ok(None) => return (batch, true),
                        Err(_elapsed) => None,
                    }
                }
            };
            let Some(command) = next else { break };
            urgent |= command.is_urgent();
            if matches!(command, Command::Share(_)) {
                shares += 1;
            }
            let close = matches!(command, Command::Close(_));
            batch.push(command);
            if close {
                break;
            }
        }
        (batch, false)
    }

    /// Applies and commits one batch (retrying transient failures), then answers everyone
    /// waiting on it.
    fn commit(&mut self, batch: Vec<Command>) {
        let shares = batch
            .iter()
            .filter(|c| matches!(c, Command::Share(_)))
            .count() as u64;
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let cache = &self.cache;
            let seq = &mut self.seq;
            let retention = self.config.log_retention;
            let result = self
                .store
                .write(|txn, dbs| apply(txn, dbs, cache, seq, retention, &batch));
            match result {
                Ok(done) => break Ok(done),
                Err(e) if attempt < 3 && !matches!(e, StoreError::MapLimit(_)) => {
                    tracing::warn!(error = %e, attempt, "LMDB batch failed, retrying");
                    std::thread::sleep(Duration::from_millis(100 * attempt));
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok((outcomes, interned)) => {
                self.counters.committed.fetch_add(shares, Ordering::Relaxed);
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                for (key, id) in interned.miners {
                    self.cache.miners.insert(key, id);
                }
                for (miner, name, id) in interned.workers {
                    self.cache
                        .workers
                        .entry(miner)
                        .or_default()
                        .insert(name, id);
                }
                for (command, outcome) in batch.into_iter().zip(outcomes) {
                    match command {
                        Command::Close(reply) => self.close_replies.push((reply, Ok(()))),
                        command => answer(command, Ok(outcome)),
                    }
                }
            }
            Err(e) => {
                self.counters.lost.fetch_add(shares, Ordering::Relaxed);
                tracing::error!(error = %e, lost_shares = shares, "LMDB batch could not be committed");
                let message = e.to_string();
                for command in batch {
                    let error = StoreError::CommitFailed(message.clone());
                    match command {
                        Command::Close(reply) => self.close_replies.push((reply, Err(error))),
                        command => answer(command, Err(error)),
                    }
                }
            }
        }
    }
}

fn answer(command: Command, outcome: Result<Outcome, StoreError>) {
    // A waiter that went away is fine to ignore: its command was still applied.
    match (command, outcome) {
        (Command::Share(_) | Command::Invalid(_), _) => {}
        (Command::Block(_, reply), Ok(Outcome::Block(r))) => drop(reply.send(Ok(r))),
        (Command::UpdateBlock(_, _, reply), Ok(Outcome::Updated(r))) => drop(reply.send(Ok(r))),
        (Command::Prune(_, _, reply), Ok(Outcome::Pruned(r))) => drop(reply.send(Ok(r))),
        (
            Command::DeleteSettledBlocks(_, reply) | Command::PruneFeedIds(_, _, reply),
            Ok(Outcome::Deleted(n)),
        ) => drop(reply.send(Ok(n))),
        (Command::Feed(_, reply), Ok(Outcome::Feed(r))) => drop(reply.send(Ok(r))),
        (
            Command::Stats(_, reply)
            | Command::DeleteStats(_, reply)
            | Command::Flush(reply)
            | Command::Close(reply),
            Ok(_),
        ) => drop(reply.send(Ok(()))),
        (Command::Block(_, reply), Err(e)) => drop(reply.send(Err(e))),
        (Command::UpdateBlock(_, _, reply), Err(e)) => drop(reply.send(Err(e))),
        (Command::Prune(_, _, reply), Err(e)) => drop(reply.send(Err(e))),
        (Command::DeleteSettledBlocks(_, reply) | Command::PruneFeedIds(_, _, reply), Err(e)) => {
            drop(reply.send(Err(e)))
        }
        (Command::Feed(_, reply), Err(e)) => drop(reply.send(Err(e))),
        (
            Command::Stats(_, reply)
            | Command::DeleteStats(_, reply)
            | Command::Flush(reply)
            | Command::Close(reply),
            Err(e),
        ) => drop(reply.send(Err(e))),
        (command, Ok(outcome)) => {
            tracing::error!(
                ?command,
                ?outcome,
                "LMDB writer outcome does not match its command"
            );
        }
    }
}

/// What one batch adds to the counters and the share log, applied at its end.
#[derive(Debug, Default)]
struct Tally {
    /// Deltas of the few wide keys, kept apart from the per-id maps so that a share costs
    /// two hash lookups (miner and worker ids), not five.
    pool: Counters,
    modes: [Counters; PoolType::ALL.len()],
    hosts: Vec<(u32, Counters)>,
    /// Miner and worker deltas live in `ids`; the maps hold their index there (small
    /// entries, hashed without SipHash: ids are the writer's own, not attacker-chosen).
    miners: HashMap<MinerId, usize, IdHash>,
    workers: HashMap<WorkerId, usize, IdHash>,
    ids: Vec<Counters>,
    /// The batch's share-log value: room for the head (the commit time, set at write), then
    /// the packed entries.
    log: Vec<u8>,
    logged: usize,
    /// Modes whose round restarted in this batch, with the mode's hash total at that moment.
    round_starts: Vec<(PoolType, u64)>,
}

/// A hasher for the writer's own interned ids (dense integers): a multiply, no SipHash.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdHash = std::hash::BuildHasherDefault<IdHasher>;

impl Tally {
    /// A tally for a batch of `commands` commands.
    fn with_capacity(commands: usize) -> Tally {
        let mut log = Vec::with_capacity(codec::LOG_HEAD_SIZE + commands * codec::LOG_ENTRY_SIZE);
        log.resize(codec::LOG_HEAD_SIZE, 0);
        Tally {
            log,
            ..Tally::default()
        }
    }

    fn slot<K: std::hash::Hash + Eq>(
        map: &mut HashMap<K, usize, IdHash>,
        ids: &mut Vec<Counters>,
        key: K,
    ) -> usize {
        *map.entry(key).or_insert_with(|| {
            ids.push(Counters::default());
            ids.len() - 1
        })
    }

    fn miner(&mut self, miner: MinerId) -> &mut Counters {
        let at = Self::slot(&mut self.miners, &mut self.ids, miner);
        &mut self.ids[at]
    }

    fn worker(&mut self, worker: WorkerId) -> &mut Counters {
        let at = Self::slot(&mut self.workers, &mut self.ids, worker);
        &mut self.ids[at]
    }

    fn host(&mut self, host: u32) -> &mut Counters {
        // One or a few hosts write to a store: a linear search beats hashing.
        let at = match self.hosts.iter().position(|(h, _)| *h == host) {
            Some(at) => at,
            None => {
                self.hosts.push((host, Counters::default()));
                self.hosts.len() - 1
            }
        };
        &mut self.hosts[at].1
    }

    fn valid(&mut self, share: &LoggedShare, pool_type: PoolType) {
        let (difficulty, at) = (share.difficulty, share.timestamp);
        self.pool.count_valid(difficulty, at);
        self.modes[pool_type as usize].count_valid(difficulty, at);
        self.host(share.host).count_valid(difficulty, at);
        self.miner(share.miner).count_valid(difficulty, at);
        self.worker(share.worker).count_valid(difficulty, at);
        codec::push_log_entry(&mut self.log, share);
        self.logged += 1;
    }

    fn invalid(
        &mut self,
        host: u32,
        miner: Option<MinerId>,
        worker: Option<WorkerId>,
        reason: InvalidReason,
        at: UnixMillis,
    ) {
        self.pool.count_invalid(reason, at);
        self.host(host).count_invalid(reason, at);
        if let Some(miner) = miner {
            self.miner(miner).count_invalid(reason, at);
        }
        if let Some(worker) = worker {
            self.worker(worker).count_invalid(reason, at);
        }
    }

    /// The hashes of `mode` counted so far in this batch.
    fn pending_hashes(&self, mode: PoolType) -> u64 {
        self.modes[mode as usize].hashes
    }

    /// Every key with a delta, in key order (so puts walk the tree forward).
    fn take_deltas(&mut self) -> Vec<(CounterKey, Counters)> {
        let mut out = Vec::with_capacity(4 + self.hosts.len() + self.ids.len());
        out.push((CounterKey::Pool, self.pool));
        for mode in PoolType::ALL {
            out.push((CounterKey::Mode(mode), self.modes[mode as usize]));
        }
        let mut hosts = std::mem::take(&mut self.hosts);
        hosts.sort_unstable_by_key(|(h, _)| *h);
        out.extend(hosts.into_iter().map(|(h, c)| (CounterKey::Host(h), c)));
        let mut miners: Vec<_> = std::mem::take(&mut self.miners).into_iter().collect();
        miners.sort_unstable_by_key(|(m, _)| *m);
        out.extend(
            miners
                .into_iter()
                .map(|(m, at)| (CounterKey::Miner(m), self.ids[at])),
        );
        let mut workers: Vec<_> = std::mem::take(&mut self.workers).into_iter().collect();
        workers.sort_unstable_by_key(|(w, _)| *w);
        out.extend(
            workers
                .into_iter()
                .map(|(w, at)| (CounterKey::Worker(w), self.ids[at])),
        );
        out.retain(|(_, delta)| *delta != Counters::default());
        out
    }

    /// Writes the counters, round starts and the log batch, and prunes the log's front.
    fn write(
        mut self,
        txn: &mut RwTxn<'_>,
        dbs: &Dbs,
        retention: Duration,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        for (key, delta) in self.take_deltas() {
            add_counters(txn, dbs, &key.to_bytes(), &delta)?;
        }
        for (mode, hashes) in self.round_starts {
            super::write_round_start(txn, dbs, mode, hashes)?;
        }
        if self.logged > 0 {
            let next = match dbs.share_log.last(txn)? {
                None => 1,
                Some((last, _)) => last.saturating_add(1),
            };
            let mut value = self.log;
            codec::set_log_value_time(&mut value, now);
            dbs.share_log.put(txn, &next, &value)?;
        }
        prune_log(txn, dbs, retention, now)
    }
}

/// Adds `delta` to the stored counters of `key` with one tree descent: the cursor that
/// finds the record also overwrites it.
fn add_counters(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    key: &[u8],
    delta: &Counters,
) -> Result<(), StoreError> {
    let bounds = (Bound::Included(key), Bound::Included(key));
    let mut cursor = dbs.counters.range_mut(txn, &bounds)?;
    let stored = match cursor.next().transpose()? {
        None => None,
        Some((_, bytes)) => Some(
            CounterRecord::decode(bytes)
                .ok_or_else(|| super::corrupt("counters", "counter record too short"))?,
        ),
    };
    match stored {
        Some(mut total) => {
            total.add(delta);
            let record = CounterRecord::encode(&total);
            // SAFETY: nothing borrowed from the database is alive (`total` is an owned copy of
            // the record), and `key` is the key the cursor points at (the range holds only it).
            unsafe { cursor.put_current(key, record.as_bytes())? };
        }
        None => {
            drop(cursor);
            dbs.counters
                .put(txn, key, CounterRecord::encode(delta).as_bytes())?;
        }
    }
    Ok(())
}

fn read_counters(txn: &RwTxn<'_>, dbs: &Dbs, key: &[u8]) -> Result<Option<Counters>, StoreError> {
    match dbs.counters.get(txn, key)? {
        None => Ok(None),
        Some(bytes) => CounterRecord::decode(bytes)
            .map(Some)
            .ok_or_else(|| super::corrupt("counters", "counter record too short")),
    }
}

/// Deletes `share_log` batches committed more than `retention` before `now`, oldest first,
/// at most [`LOG_PRUNE_PER_BATCH`]. A value without a readable time is deleted too (the log
/// is a cache; a bad value must not stop the writer).
fn prune_log(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    retention: Duration,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let retention = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
    let limit = now.0.saturating_sub(retention);
    let mut old = Vec::new();
    for item in dbs.share_log.iter(txn)? {
        let (seq, value) = item?;
        match codec::log_value_time(value) {
            Some(at) if at.0 >= limit => break,
            _ => old.push(seq),
        }
        if old.len() == LOG_PRUNE_PER_BATCH {
            break;
        }
    }
    for seq in old {
        dbs.share_log.delete(txn, &seq)?;
    }
    Ok(())
}

fn wall_clock() -> UnixMillis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UnixMillis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Applies a batch inside `txn`. Runs again from scratch after a map growth, so it keeps no
/// state across attempts except the tie-breaker sequence (any value is fine).
fn apply(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    cache: &Interned,
    seq: &mut u32,
    retention: Duration,
    batch: &[Command],
) -> Result<(Vec<Outcome>, BatchInterned), StoreError> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut removed: u64 = 0;
    let mut step = Step {
        cache,
        interned: BatchInterned::default(),
        seq,
        tally: Tally::with_capacity(batch.len()),
        added: 0,
    };
    let now = wall_clock();
    for command in batch {
        let outcome = match command {
            Command::Share(share) => {
                step.share(txn, dbs, share)?;
                Outcome::None
            }
            Command::Invalid(share) => {
                step.invalid(txn, dbs, share)?;
                Outcome::None
            }
            Command::Block(block, _) => Outcome::Block(step.block(txn, dbs, block)?),
            Command::UpdateBlock(key, update, _) => {
                Outcome::Updated(update_block(txn, dbs, key, update)?)
            }
            Command::Feed(message, _) => Outcome::Feed(step.feed(txn, dbs, message, now)?),
            Command::PruneFeedIds(before, max, _) => {
                Outcome::Deleted(prune_feed_ids(txn, dbs, *before, *max)?)
            }
            Command::Stats(entries, _) => {
                for (key, value) in entries {
                    dbs.stats.put(txn, key, value)?;
                }
                Outcome::None
            }
            Command::DeleteStats(keys, _) => {
                for key in keys {
                    dbs.stats.delete(txn, key)?;
                }
                Outcome::None
            }
            Command::Prune(below, max_heights, _) => {
                let report = prune(txn, dbs, *below, *max_heights)?;
                removed += report.shares;
                Outcome::Pruned(report)
            }
            Command::DeleteSettledBlocks(keys, _) => {
                let mut deleted = 0;
                for key in keys {
                    let key = key.to_bytes();
                    let settled = match dbs.blocks.get(txn, &key)? {
                        None => false,
                        Some(bytes) => matches!(
                            BlockRecord::decode(bytes)
                                .map_err(|e| super::corrupt("blocks", e))?
                                .status,
                            BlockStatus::Unlocked | BlockStatus::Orphaned
                        ),
                    };
                    if settled && dbs.blocks.delete(txn, &key)? {
                        deleted += 1;
                    }
                }
                Outcome::Deleted(deleted)
            }
            Command::Flush(_) | Command::Close(_) => Outcome::None,
        };
        outcomes.push(outcome);
    }
    let Step {
        interned,
        tally,
        added,
        ..
    } = step;
    if added > 0 || removed > 0 {
        let count = super::read_share_count(txn, dbs)?;
        let count = count.saturating_add(added).saturating_sub(removed);
        super::write_share_count(txn, dbs, count)?;
    }
    tally.write(txn, dbs, retention, now)?;
    Ok((outcomes, interned))
}

/// The state one batch attempt builds up while its commands are applied.
struct Step<'c> {
    cache: &'c Interned,
    interned: BatchInterned,
    seq: &'c mut u32,
    tally: Tally,
    /// Shares put.
    added: u64,
}

impl Step<'_> {
    /// The ids of a payout key and one of its workers, assigned when new.
    fn intern(
        &mut self,
        txn: &mut RwTxn<'_>,
        dbs: &Dbs,
        miner: &Arc<str>,
        worker: &Arc<str>,
    ) -> Result<(MinerId, WorkerId), StoreError> {
        let miner = intern_miner(txn, dbs, self.cache, &mut self.interned, miner)?;
        let worker = intern_worker(txn, dbs, self.cache, &mut self.interned, miner, worker)?;
        Ok((miner, worker))
    }

    fn share(
        &mut self,
        txn: &mut RwTxn<'_>,
        dbs: &Dbs,
        share: &NewShare,
    ) -> Result<(), StoreError> {
        let (miner, worker) = self.intern(txn, dbs, &share.miner, &share.worker)?;
        let height =
            codec::height_key(share.height).ok_or(StoreError::HeightOutOfRange(share.height))?;
        let flags = if share.trusted {
            codec::FLAG_TRUSTED
        } else {
            0
        } | if share.found_block {
            codec::FLAG_FOUND_BLOCK
        } else {
            0
        };
        *self.seq = self.seq.wrapping_add(1);
        let mut record = ShareRecord::new(
            share.timestamp,
            *self.seq,
            miner,
            worker,
            share.difficulty,
            share.job_difficulty,
            share.pool_type,
            flags,
        );
        put_share(txn, dbs, height, &mut record, self.seq)?;
        self.added += 1;
        let logged = LoggedShare {
            timestamp: share.timestamp,
            miner,
            worker,
            difficulty: share.difficulty,
            pool_type: Some(share.pool_type),
            host: share.host,
        };
        self.tally.valid(&logged, share.pool_type);
        Ok(())
    }

    fn invalid(
        &mut self,
        txn: &mut RwTxn<'_>,
        dbs: &Dbs,
        share: &InvalidShare,
    ) -> Result<(), StoreError> {
        let miner = lookup_miner(txn, dbs, self.cache, &self.interned, &share.miner)?;
        let worker = match miner {
            Some(miner) => {
                lookup_worker(txn, dbs, self.cache, &self.interned, miner, &share.worker)?
            }
            None => None,
        };
        self.tally
            .invalid(share.host, miner, worker, share.reason, share.timestamp);
        Ok(())
    }

    fn block(
        &mut self,
        txn: &mut RwTxn<'_>,
        dbs: &Dbs,
        block: &FoundBlock,
    ) -> Result<BlockInsert, StoreError> {
        let (miner, worker) = self.intern(txn, dbs, &block.miner, &block.worker)?;
        let key = BlockKey {
            height: block.height,
            hash: block.hash,
        }
        .to_bytes();
        if dbs.blocks.get(txn, &key)?.is_some() {
            return Ok(BlockInsert::AlreadyKnown);
        }
        let record = BlockRecord {
            hash: block.hash,
            height: block.height,
            network_difficulty: block.network_difficulty,
            reward: block.reward,
            pool_type: block.pool_type,
            miner,
            worker,
            timestamp: block.timestamp,
            status: block.status,
            status_changed: block.timestamp,
            reason: String::new(),
            shares_at_find: block.shares_at_find,
            blob: block.blob.clone(),
        };
        dbs.blocks.put(txn, &key, &record.encode())?;
        // The round of this mode ends here: its hash total now, counting the shares of this
        // batch applied so far (the finder's share included).
        let mode = CounterKey::Mode(block.pool_type);
        let stored = read_counters(txn, dbs, &mode.to_bytes())?.unwrap_or_default();
        let pending = self.tally.pending_hashes(block.pool_type);
        self.tally
            .round_starts
            .push((block.pool_type, stored.hashes.saturating_add(pending)));
        Ok(BlockInsert::Inserted)
    }

    /// Applies a feed message's items, unless its id was stored before (then nothing).
    fn feed(
        &mut self,
        txn: &mut RwTxn<'_>,
        dbs: &Dbs,
        message: &FeedMessage,
        now: UnixMillis,
    ) -> Result<FeedInsert, StoreError> {
        if dbs.feed_ids.get(txn, &message.id)?.is_some() {
            return Ok(FeedInsert::Duplicate);
        }
        dbs.feed_ids.put(txn, &message.id, &now.0)?;
        dbs.feed_ids_by_time
            .put(txn, &codec::feed_time_key(now, &message.id), &[])?;
        for item in &message.items {
            match item {
                FeedItem::Share(share) => self.share(txn, dbs, share)?,
                FeedItem::Invalid(share) => self.invalid(txn, dbs, share)?,
                FeedItem::Block(block) => {
                    self.block(txn, dbs, block)?;
                }
                FeedItem::Update(key, update) => {
                    update_block(txn, dbs, key, update)?;
                }
            }
        }
        Ok(FeedInsert::Stored)
    }
}

/// Sets a stored block's status; `false` when no block has that key.
fn update_block(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    key: &BlockKey,
    update: &BlockUpdate,
) -> Result<bool, StoreError> {
    let key = key.to_bytes();
    let Some(bytes) = dbs.blocks.get(txn, &key)? else {
        return Ok(false);
    };
    let mut record = BlockRecord::decode(bytes).map_err(|e| super::corrupt("blocks", e))?;
    record.status = update.status;
    record.reason = update.reason.clone();
    record.status_changed = update.at;
    if let Some(reward) = update.reward {
        record.reward = reward;
    }
    dbs.blocks.put(txn, &key, &record.encode())?;
    Ok(true)
}

/// Forgets feed message ids stored before `before`, oldest first, at most `max`.
fn prune_feed_ids(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    before: UnixMillis,
    max: usize,
) -> Result<u64, StoreError> {
    let mut old = Vec::new();
    for item in dbs.feed_ids_by_time.iter(txn)? {
        let (key, _) = item?;
        match codec::split_feed_time_key(key) {
            Some((at, _)) if at >= before => break,
            _ => old.push(key.to_vec()),
        }
        if old.len() >= max {
            break;
        }
    }
    for key in &old {
        if let Some((_, id)) = codec::split_feed_time_key(key) {
            dbs.feed_ids.delete(txn, id)?;
        }
        dbs.feed_ids_by_time.delete(txn, key)?;
    }
    Ok(old.len() as u64)
}

/// Puts a share, bumping its tie-breaker while an identical record exists (DUPSORT would
/// otherwise keep one copy of two equal values).
fn put_share(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    height: u32,
    record: &mut ShareRecord,
    seq: &mut u32,
) -> Result<(), StoreError> {
    loop {
        match dbs
            .shares
            .put_with_flags(txn, PutFlags::NO_DUP_DATA, &height, record)
        {
            Ok(()) => return Ok(()),
            Err(heed::Error::Mdb(MdbError::KeyExist)) => {
                *seq = seq.wrapping_add(1);
                *record = record.with_seq(*seq);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn intern_miner(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    cache: &Interned,
    interned: &mut BatchInterned,
    key: &Arc<str>,
) -> Result<MinerId, StoreError> {
    if let Some(id) = cache.miners.get(&**key) {
        return Ok(*id);
    }
    if let Some(id) = interned.miners_local.get(&**key) {
        return Ok(*id);
    }
    let id = match dbs.miners_by_key.get(txn, key)? {
        Some(id) => MinerId(id),
        None => {
            let next = match dbs.miners_by_id.last(txn)? {
                None => 1,
                Some((last, _)) => last.checked_add(1).ok_or(StoreError::IdsExhausted)?,
            };
            dbs.miners_by_key.put(txn, key, &next)?;
            dbs.miners_by_id.put(txn, &next, key)?;
            MinerId(next)
        }
    };
    interned.miners_local.insert(Arc::clone(key), id);
    interned.miners.push((Arc::clone(key), id));
    Ok(id)
}

fn intern_worker(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    cache: &Interned,
    interned: &mut BatchInterned,
    miner: MinerId,
    name: &Arc<str>,
) -> Result<WorkerId, StoreError> {
    if let Some(id) = cache.workers.get(&miner).and_then(|w| w.get(&**name)) {
        return Ok(*id);
    }
    let local_key = (miner, Arc::clone(name));
    if let Some(id) = interned.workers_local.get(&local_key) {
        return Ok(*id);
    }
    let stored = codec::truncate_at_char_boundary(name, MAX_WORKER_BYTES);
    let key = codec::worker_key(miner, stored);
    let id = match dbs.workers_by_key.get(txn, &key)? {
        Some(id) => WorkerId(id),
        None => {
            let next = match dbs.workers_by_id.last(txn)? {
                None => 1,
                Some((last, _)) => last.checked_add(1).ok_or(StoreError::IdsExhausted)?,
            };
            dbs.workers_by_key.put(txn, &key, &next)?;
            dbs.workers_by_id.put(txn, &next, &key)?;
            WorkerId(next)
        }
    };
    interned.workers_local.insert(local_key, id);
    interned.workers.push((miner, Arc::clone(name), id));
    Ok(id)
}

/// The id of a payout key if it is interned; never interns.
fn lookup_miner(
    txn: &RwTxn<'_>,
    dbs: &Dbs,
    cache: &Interned,
    interned: &BatchInterned,
    key: &Arc<str>,
) -> Result<Option<MinerId>, StoreError> {
    if let Some(id) = cache.miners.get(&**key) {
        return Ok(Some(*id));
    }
    if let Some(id) = interned.miners_local.get(&**key) {
        return Ok(Some(*id));
    }
    if key.is_empty() || key.len() > MAX_MINER_BYTES {
        return Ok(None);
    }
    Ok(dbs.miners_by_key.get(txn, key)?.map(MinerId))
}

/// The id of a miner's worker name if it is interned; never interns.
fn lookup_worker(
    txn: &RwTxn<'_>,
    dbs: &Dbs,
    cache: &Interned,
    interned: &BatchInterned,
    miner: MinerId,
    name: &Arc<str>,
) -> Result<Option<WorkerId>, StoreError> {
    if let Some(id) = cache.workers.get(&miner).and_then(|w| w.get(&**name)) {
        return Ok(Some(*id));
    }
    if let Some(id) = interned.workers_local.get(&(miner, Arc::clone(name))) {
        return Ok(Some(*id));
    }
    let stored = codec::truncate_at_char_boundary(name, MAX_WORKER_BYTES);
    let key = codec::worker_key(miner, stored);
    Ok(dbs.workers_by_key.get(txn, &key)?.map(WorkerId))
}

fn prune(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    below: Height,
    max_heights: usize,
) -> Result<PruneReport, StoreError> {
    let limit = codec::height_key(below).unwrap_or(u32::MAX);
    let mut report = PruneReport::default();
    let mut heights = Vec::new();
    for item in dbs.shares.range(txn, &(..limit))?.move_between_keys() {
        let (height, _) = item?;
        if heights.len() == max_heights {
            report.more = true;
            break;
        }
        heights.push(height);
    }
    for height in heights {
        let count = match dbs.shares.get_duplicates(txn, &height)? {
            Some(iter) => iter.count() as u64,
            None => 0,
        };
        dbs.shares.delete(txn, &height)?;
        report.heights += 1;
        report.shares += count;
    }
    Ok(report)
}
