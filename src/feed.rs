//! The publishing side of the share feed: a pool host that is one of several sends its accepted
//! shares, refused-share counts and found blocks to a NATS JetStream stream instead of writing
//! LMDB; the `ingest` role on the LMDB host writes them (`crate::ingest`).
//!
//! [`FeedSink`] is the pool's `ShareSink` when `[feed]` is set. Shares are gathered into
//! messages of up to `batch_shares` items or `batch_ms` old; each message gets a unique
//! `Nats-Msg-Id` (`INSTANCE-BOOT-SEQ`: the extra-nonce instance id, a random number per start,
//! a counter), so a retried publish is never stored twice. A found block (and a block's status
//! change) closes the message being gathered (it holds the finder's share) and goes out at once
//! as its own message, ahead of anything spooled; `record_block` returns only once the block is
//! durable, in the stream (its acknowledgement) or in the local spool (fsynced), so the pool
//! never tells monerod about a block that could still be lost.
//!
//! One publisher task per sink owns the link and the [`spool::Spool`]: while NATS answers it
//! publishes with many acknowledgements in flight; a publish that is not acknowledged within
//! `ack_timeout_ms` sends that message and everything after it to the spool, and the task then
//! drains the spool in order, once a second, as soon as the stream acknowledges again. When
//! the spool reaches `spool_max_mb`, `spool_full` decides: `refuse` (the pool answers new
//! shares with a busy error) or `drop` (accepted and dropped, counted). Both are logged with
//! `alert = true`. Found blocks and status changes are spooled whatever the size.
//!
//! Layout: `wire` (the message body), `spool` (the local file), `link` (connecting, the
//! stream). Nothing here reads LMDB or MySQL.

pub mod link;
pub mod spool;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::feed::{FeedConfig, SpoolFull};
use crate::store::lmdb::{BlockKey, BlockUpdate, FeedItem, FoundBlock, InvalidShare, NewShare};
use crate::store::sink::{BoxFuture, ShareSink, SinkError};
use spool::{Spool, Spooled};

/// Messages the sink may queue for the publisher before `append` waits.
const QUEUE: usize = 1024;
/// Most messages published (or spooled) per round, and drained from the spool per round.
const ROUND: usize = 256;
/// Pause between attempts to drain the spool while NATS does not answer.
const RETRY: Duration = Duration::from_secs(1);

/// Counters of one sink, for logs, metrics and tests.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Messages acknowledged by the stream (directly or from the spool).
    pub published: AtomicU64,
    /// Messages written to the spool.
    pub spooled: AtomicU64,
    /// Shares accepted and dropped because the spool was full (`spool_full = "drop"`).
    pub dropped_shares: AtomicU64,
    /// Bytes waiting in the spool.
    pub spool_bytes: AtomicU64,
    /// Messages waiting in the spool.
    pub spool_messages: AtomicU64,
}

/// A message ready to go: its id, body, and whether someone waits for it (blocks).
#[derive(Debug)]
struct Sealed {
    id: String,
    body: Vec<u8>,
    shares: u64,
    urgent: bool,
}

type Done = oneshot::Sender<Result<(), SinkError>>;

#[derive(Debug)]
enum Job {
    Publish(Sealed, Option<Done>),
    /// Answered once everything queued before is durable.
    Barrier(Done),
}

#[derive(Debug, Default)]
struct Pending {
    items: Vec<FeedItem>,
    since: Option<Instant>,
}

#[derive(Debug)]
struct Inner {
    pending: tokio::sync::Mutex<Pending>,
    jobs: mpsc::Sender<Job>,
    instance: u32,
    pool_id: u32,
    boot: u64,
    seq: AtomicU64,
    batch_shares: usize,
    batch_delay: Duration,
    /// Set by the publisher while the spool is full and the policy is `refuse`.
    refusing: Arc<AtomicBool>,
    stats: Arc<FeedStats>,
}

/// The pool's share sink on a host that feeds a central share store through JetStream.
#[derive(Debug, Clone)]
pub struct FeedSink {
    inner: Arc<Inner>,
}

impl FeedSink {
    /// Connects (in the background when NATS is down), opens the spool and starts the
    /// publisher and the batch timer. They stop once `shutdown` fires and the last handle
    /// has flushed. `instance` names this host in message ids and subjects; `pool_id` goes
    /// into the per-host counters.
    pub async fn start(
        feed: &FeedConfig,
        instance: u32,
        pool_id: u32,
        shutdown: CancellationToken,
    ) -> anyhow::Result<FeedSink> {
        use anyhow::Context;
        let spool_dir = feed.spool_dir.clone();
        let spool = tokio::task::spawn_blocking(move || Spool::open(&spool_dir))
            .await?
            .with_context(|| format!("opening the spool in {}", feed.spool_dir.display()))?;
        if !spool.is_empty() {
            tracing::info!(
                spool.messages = spool.records(),
                spool.bytes = spool.bytes(),
                "messages spooled before this start will be sent first"
            );
        }
        let context = link::connect(feed, &format!("rxpool pool {instance}")).await?;
        let stats = Arc::new(FeedStats::default());
        stats.spool_bytes.store(spool.bytes(), Ordering::Relaxed);
        stats
            .spool_messages
            .store(spool.records(), Ordering::Relaxed);
        let refusing = Arc::new(AtomicBool::new(false));
        let (jobs, rx) = mpsc::channel(QUEUE);
        let publisher = Publisher {
            context,
            feed: feed.clone(),
            subject: feed.subject(instance),
            spool: Some(spool),
            online: false,
            stream_ready: false,
            refusing: Arc::clone(&refusing),
            stats: Arc::clone(&stats),
            last_alert: None,
            last_probe: None,
        };
        tokio::spawn(publisher.run(rx));
        let sink = FeedSink {
            inner: Arc::new(Inner {
                pending: tokio::sync::Mutex::new(Pending::default()),
                jobs,
                instance,
                pool_id,
                boot: rand::random(),
                seq: AtomicU64::new(0),
                batch_shares: feed.batch_shares,
                batch_delay: feed.batch_delay(),
                refusing,
                stats,
            }),
        };
        tokio::spawn(sink.clone().tick(shutdown));
        Ok(sink)
    }

    /// The sink's counters.
    pub fn stats(&self) -> Arc<FeedStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Seals the gathered items into a message when they are `batch_ms` old; stops at
    /// shutdown (the pool flushes what is left).
    async fn tick(self, shutdown: CancellationToken) {
        let every = (self.inner.batch_delay / 2).max(Duration::from_millis(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let mut pending = self.inner.pending.lock().await;
            if pending
                .since
                .is_some_and(|t| t.elapsed() >= self.inner.batch_delay)
                && let Some(sealed) = self.seal(&mut pending)
                && self.send(Job::Publish(sealed, None)).await.is_err()
            {
                return;
            }
        }
    }

    fn next_id(&self) -> String {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        format!("{}-{:016x}-{seq}", self.inner.instance, self.inner.boot)
    }

    fn seal_items(&self, items: &[FeedItem], urgent: bool) -> Sealed {
        let shares = items
            .iter()
            .filter(|i| matches!(i, FeedItem::Share(_)))
            .count() as u64;
        Sealed {
            id: self.next_id(),
            body: wire::encode(self.inner.instance, self.inner.pool_id, items),
            shares,
            urgent,
        }
    }

    fn seal(&self, pending: &mut Pending) -> Option<Sealed> {
        if pending.items.is_empty() {
            return None;
        }
        let items = std::mem::take(&mut pending.items);
        pending.since = None;
        Some(self.seal_items(&items, false))
    }

    async fn send(&self, job: Job) -> Result<(), SinkError> {
        self.inner
            .jobs
            .send(job)
            .await
            .map_err(|_| SinkError("the share feed has stopped".into()))
    }

    /// Sends the gathered items, then `item` alone as an urgent message, and waits until that
    /// message is durable.
    async fn send_now(&self, item: FeedItem) -> Result<(), SinkError> {
        let (done, durable) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().await;
            if let Some(sealed) = self.seal(&mut pending) {
                self.send(Job::Publish(sealed, None)).await?;
            }
            let sealed = self.seal_items(std::slice::from_ref(&item), true);
            self.send(Job::Publish(sealed, Some(done))).await?;
        }
        durable.await.map_err(|_| {
            SinkError("the share feed stopped before the message was durable".into())
        })?
    }
}

impl ShareSink for FeedSink {
    fn append(&self, share: NewShare) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            if self.inner.refusing.load(Ordering::Relaxed) {
                return Err(SinkError(
                    "NATS is unreachable and the spool is full; refusing shares".into(),
                ));
            }
            let mut pending = self.inner.pending.lock().await;
            pending.items.push(FeedItem::Share(share));
            pending.since.get_or_insert_with(Instant::now);
            if pending.items.len() >= self.inner.batch_shares
                && let Some(sealed) = self.seal(&mut pending)
            {
                self.send(Job::Publish(sealed, None)).await?;
            }
            Ok(())
        })
    }

    fn record_block(&self, block: FoundBlock) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(self.send_now(FeedItem::Block(block)))
    }

    fn update_block(
        &self,
        key: BlockKey,
        update: BlockUpdate,
    ) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(self.send_now(FeedItem::Update(key, update)))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let (done, durable) = oneshot::channel();
            {
                let mut pending = self.inner.pending.lock().await;
                if let Some(sealed) = self.seal(&mut pending) {
                    self.send(Job::Publish(sealed, None)).await?;
                }
                self.send(Job::Barrier(done)).await?;
            }
            durable
                .await
                .map_err(|_| SinkError("the share feed stopped during a flush".into()))?
        })
    }

    fn record_invalid(&self, share: InvalidShare) -> bool {
        // Never waits: a refused share only moves counters.
        let Ok(mut pending) = self.inner.pending.try_lock() else {
            return false;
        };
        if pending.items.len() >= self.inner.batch_shares {
            return false;
        }
        pending.items.push(FeedItem::Invalid(share));
        pending.since.get_or_insert_with(Instant::now);
        true
    }
}

/// The task that owns the link and the spool.
struct Publisher {
    context: jetstream::Context,
    feed: FeedConfig,
    subject: String,
    /// `None` only while a blocking spool operation runs.
    spool: Option<Spool>,
    /// The last publish was acknowledged.
    online: bool,
    stream_ready: bool,
    refusing: Arc<AtomicBool>,
    stats: Arc<FeedStats>,
    last_alert: Option<Instant>,
    /// When a drain last failed (the next waits [`RETRY`]).
    last_probe: Option<Instant>,
}

impl Publisher {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut closed = false;
        loop {
            let mut round = Vec::new();
            if !closed {
                let spooling = self.spool_len() > 0;
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => round.push(job),
                        None => closed = true,
                    },
                    () = tokio::time::sleep(RETRY), if spooling => {}
                }
                while round.len() < ROUND {
                    match rx.try_recv() {
                        Ok(job) => round.push(job),
                        Err(_) => break,
                    }
                }
            }
            let probe_due = self.last_probe.is_none_or(|t| t.elapsed() >= RETRY);
            if self.spool_len() > 0 && (self.online || probe_due) {
                self.drain().await;
                if !self.online {
                    self.last_probe = Some(Instant::now());
                }
            }
            if !round.is_empty() {
                self.handle(round).await;
            }
            if closed && (self.spool_len() == 0 || !self.online) {
                // Everything is durable: acknowledged, or in the spool for the next start.
                return;
            }
        }
    }

    fn spool_len(&self) -> u64 {
        self.stats.spool_messages.load(Ordering::Relaxed)
    }

    /// Publishes or spools one round, then answers its waiters.
    async fn handle(&mut self, round: Vec<Job>) {
        let mut messages = Vec::new();
        let mut waiters: Vec<(usize, Done)> = Vec::new();
        let mut barriers = Vec::new();
        for job in round {
            match job {
                Job::Publish(sealed, done) => {
                    if let Some(done) = done {
                        waiters.push((messages.len(), done));
                    }
                    messages.push(sealed);
                }
                Job::Barrier(done) => barriers.push((messages.len(), done)),
            }
        }
        // While the spool holds messages, only blocks try the link directly (they go ahead
        // of the spooled shares); everything else keeps its place behind the spool.
        let backlog = self.spool_len() > 0;
        let direct: Vec<bool> = messages
            .iter()
            .map(|m| self.online && (!backlog || m.urgent))
            .collect();
        let to_publish: Vec<&Sealed> = messages
            .iter()
            .zip(&direct)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m)
            .collect();
        let mut acked = self.publish_all(&to_publish).await.into_iter();
        let mut outcome: Vec<Result<(), SinkError>> = vec![Ok(()); messages.len()];
        let mut to_spool = Vec::new();
        for (index, direct) in direct.iter().enumerate() {
            // `acked` holds one answer per direct message, in order.
            if !(*direct && acked.next() == Some(true)) {
                to_spool.push(index);
            }
        }
        if !to_spool.is_empty() {
            let chosen: Vec<&Sealed> = to_spool.iter().map(|i| &messages[*i]).collect();
            let results = self.spool_append(&chosen).await;
            for (index, result) in to_spool.iter().zip(results) {
                outcome[*index] = result;
            }
        }
        for (index, done) in waiters {
            let result = outcome
                .get(index)
                .cloned()
                .unwrap_or_else(|| Err(SinkError("message lost in the feed".into())));
            drop(done.send(result));
        }
        for (upto, done) in barriers {
            let failed = outcome[..upto].iter().find_map(|r| r.clone().err());
            drop(done.send(failed.map_or(Ok(()), Err)));
        }
    }

    /// Ensures the stream once per connection life, then publishes every message with its
    /// acknowledgement awaited; `true` per acknowledged message. The first failure marks the
    /// link offline.
    async fn publish_all(&mut self, messages: &[&Sealed]) -> Vec<bool> {
        if messages.is_empty() {
            return Vec::new();
        }
        if !self.stream_ready {
            match tokio::time::timeout(
                self.feed.ack_timeout(),
                link::ensure_stream(&self.context, &self.feed),
            )
            .await
            {
                Ok(Ok(_)) => self.stream_ready = true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the feed's stream is not ready");
                    self.online = false;
                    return vec![false; messages.len()];
                }
                Err(_) => {
                    self.online = false;
                    return vec![false; messages.len()];
                }
            }
        }
        // Every publish is sent before the first acknowledgement is awaited. A client whose
        // buffer is full while disconnected could hold a send for ever: the whole round is
        // bounded by twice the acknowledgement timeout.
        let round = async {
            let mut acks = Vec::with_capacity(messages.len());
            for m in messages {
                let publish = jetstream::message::PublishMessage::build()
                    .message_id(&m.id)
                    .payload(m.body.clone().into());
                match self
                    .context
                    .send_publish(self.subject.clone(), publish)
                    .await
                {
                    Ok(ack) => acks.push(Some(ack)),
                    Err(e) => {
                        tracing::debug!(error = %e, "publish not sent");
                        acks.push(None);
                    }
                }
            }
            let mut out = Vec::with_capacity(messages.len());
            for (ack, m) in acks.into_iter().zip(messages) {
                let ok = match ack {
                    Some(ack) => match ack.await {
                        Ok(_) => true,
                        Err(e) => {
                            tracing::debug!(error = %e, msg.id = %m.id, "publish not acknowledged");
                            false
                        }
                    },
                    None => false,
                };
                out.push(ok);
            }
            out
        };
        let out = tokio::time::timeout(self.feed.ack_timeout() * 2, round)
            .await
            .unwrap_or_else(|_| vec![false; messages.len()]);
        let published = out.iter().filter(|ok| **ok).count() as u64;
        self.stats.published.fetch_add(published, Ordering::Relaxed);
        let all = published == out.len() as u64;
        if all && !self.online {
            tracing::info!("NATS acknowledges again");
        } else if !all && self.online {
            tracing::warn!(alert = true, "NATS does not acknowledge; spooling");
            self.stream_ready = false;
        }
        self.online = all;
        out
    }

    /// Appends to the spool (fsynced), applying the full-spool policy to share messages.
    async fn spool_append(&mut self, messages: &[&Sealed]) -> Vec<Result<(), SinkError>> {
        let limit = self.feed.spool_max_bytes();
        let mut used = self.stats.spool_bytes.load(Ordering::Relaxed);
        let mut keep = Vec::new();
        let mut results = Vec::with_capacity(messages.len());
        let mut full = false;
        for m in messages {
            let size = (m.body.len() + m.id.len() + 6) as u64;
            if !m.urgent && used + size > limit {
                full = true;
                if self.feed.spool_full == SpoolFull::Drop {
                    self.stats
                        .dropped_shares
                        .fetch_add(m.shares, Ordering::Relaxed);
                }
                // Under `refuse` the few messages already accepted still go in (nothing
                // accepted is lost); new shares are refused from now on.
                if self.feed.spool_full == SpoolFull::Drop {
                    results.push(Ok(()));
                    continue;
                }
            }
            used += size;
            keep.push(Spooled {
                id: m.id.clone(),
                body: m.body.clone(),
            });
            results.push(Ok(()));
        }
        self.set_full(full);
        let count = keep.len() as u64;
        let written = self.with_spool(move |spool| spool.append(&keep)).await;
        if let Err(e) = written {
            tracing::error!(alert = true, error = %e, "could not write the spool");
            let error = SinkError(format!("spool: {e}"));
            return messages.iter().map(|_| Err(error.clone())).collect();
        }
        self.stats.spooled.fetch_add(count, Ordering::Relaxed);
        results
    }

    fn set_full(&mut self, full: bool) {
        let refuse = full && self.feed.spool_full == SpoolFull::Refuse;
        let was = self.refusing.swap(refuse, Ordering::Relaxed);
        if full
            && self
                .last_alert
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_alert = Some(Instant::now());
            tracing::error!(
                alert = true,
                spool.bytes = self.stats.spool_bytes.load(Ordering::Relaxed),
                policy = ?self.feed.spool_full,
                dropped_shares = self.stats.dropped_shares.load(Ordering::Relaxed),
                "the feed spool is full"
            );
        }
        if was && !refuse {
            tracing::info!("the feed spool has room again; accepting shares");
        }
    }

    /// Sends spooled messages in order while the stream acknowledges them.
    async fn drain(&mut self) {
        loop {
            let front = match self.with_spool(|spool| spool.peek(ROUND)).await {
                Ok(front) => front,
                Err(e) => {
                    tracing::error!(alert = true, error = %e, "could not read the spool");
                    return;
                }
            };
            if front.is_empty() {
                return;
            }
            // Probe with one message while offline, so a dead link costs one timeout.
            let batch: Vec<Spooled> = if self.online {
                front
            } else {
                front.into_iter().take(1).collect()
            };
            let sealed: Vec<Sealed> = batch
                .iter()
                .map(|s| Sealed {
                    id: s.id.clone(),
                    body: s.body.clone(),
                    shares: 0,
                    urgent: false,
                })
                .collect();
            let refs: Vec<&Sealed> = sealed.iter().collect();
            let acked = self.publish_all(&refs).await;
            let sent = acked.iter().take_while(|ok| **ok).count();
            if sent > 0 {
                let done: Vec<Spooled> = batch.into_iter().take(sent).collect();
                if let Err(e) = self.with_spool(move |spool| spool.advance(&done)).await {
                    tracing::error!(alert = true, error = %e, "could not update the spool");
                    return;
                }
                if self.spool_len() == 0 {
                    tracing::info!("the feed spool is drained");
                    self.set_full(false);
                }
            }
            if sent < acked.len() {
                return;
            }
        }
    }

    /// Runs `op` on the spool on a blocking thread, then refreshes the spool gauges.
    async fn with_spool<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Spool) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let Some(mut spool) = self.spool.take() else {
            return Err(std::io::Error::other("the spool is busy"));
        };
        let (spool, result) = tokio::task::spawn_blocking(move || {
            let result = op(&mut spool);
            (spool, result)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.stats
            .spool_bytes
            .store(spool.bytes(), Ordering::Relaxed);
        self.stats
            .spool_messages
            .store(spool.records(), Ordering::Relaxed);
        self.spool = Some(spool);
        result
    }
}
