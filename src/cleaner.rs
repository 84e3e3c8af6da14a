//! The `cleaner` role: keeps the share store bounded and healthy.
//!
//! Every `cleaner.interval` a [`Cleaner::cycle`]:
//! 1. computes the safe [`floor`]: the lowest template height any payout may still need (the
//!    PPLNS window of every block not yet credited and of the next block, PPS heights not yet
//!    credited, uncredited solo blocks, all minus `cleaner.margin`, never above the chain tip
//!    minus `cleaner.minRetention`);
//! 2. deletes the shares below it through the process's `ShareWriter::prune_below`, in
//!    transactions of at most `cleaner.pruneBatch` heights, logging what went at info;
//! 3. deletes the stats keys the worker no longer deletes itself ([`stale_stats`]) and, when
//!    `cleaner.blockRetention` is set, settled block records older than it;
//! 4. clears stale LMDB readers, grows the map ahead of need (above `cleaner.growPercent`)
//!    and reports LMDB use as metrics (`rxpool_lmdb_*`), logging at warn with `alert = true`
//!    above `cleaner.alertPercent`; the operator alert mail for the same threshold is the
//!    worker's `lmdb_map` alert, raised from the same store (one raiser per alert).
//!
//! With `[backup] interval` set in `config.toml`, the role also takes a backup of both stores
//! on that schedule and keeps `[backup] keep` of them ([`crate::backup::run_schedule`]), in
//! its own task beside the cycles: the cleaner is the role that looks after the LMDB files.
//!
//! With `general.blockCleaner = false` it computes and logs everything but deletes nothing.
//! After every cycle it writes its heartbeat (`role_heartbeats`, with the cycle's summary), so
//! the worker alerts the operator when the cleaner stops.
//! Reads LMDB, MySQL (the PPS cursor and set-aside heights, paid-block rows, the shared
//! settings) and monerod (the tip and difficulty); writes LMDB, through its writer, and its
//! heartbeat row. Never
//! imports another role: the window walk it shares with crediting is
//! [`crate::domain::pplns`], over [`crate::store::lmdb::Snapshot::share_views_down_from`].

pub mod floor;
pub mod stale_stats;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

use crate::config::{FileConfig, Settings};
use crate::domain::{Clock, Difficulty, Height, PoolType, SystemClock};
use crate::monero::daemon::{Daemon, DaemonClient};
use crate::store::lmdb::{BlockStatus, ShareStore, ShareWriter, StoreError, WriterConfig};
use crate::store::mysql::block_issues::{self, IssueError, IssueKind};
use crate::store::mysql::credits::{self, CreditError};
use crate::store::mysql::heartbeats::{self, BeatingRole};
use floor::{Floor, FloorInputs, PpsNeed};

const DAY_MS: u64 = 86_400_000;
/// Stats keys deleted per write transaction.
const STATS_DELETE_BATCH: usize = 10_000;
/// Block records deleted per write transaction.
const BLOCK_DELETE_BATCH: usize = 1_000;

/// A cycle stopped early; what it did before is committed.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("share store: {0}")]
    Store(#[from] StoreError),
    #[error("stats cache: {0}")]
    Stats(#[from] crate::stats::StatsError),
    #[error("credits: {0}")]
    Credit(#[from] CreditError),
    #[error("set-aside heights: {0}")]
    Issues(#[from] IssueError),
}

/// What the chain says, for the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    pub tip: Height,
    pub difficulty: Difficulty,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleReport {
    pub floor: Floor,
    /// Shares and template heights deleted.
    pub pruned_shares: u64,
    pub pruned_heights: u64,
    /// Prune transactions.
    pub prune_batches: u64,
    pub prune_time: Duration,
    pub stats_deleted: u64,
    pub blocks_deleted: u64,
    pub stale_readers: usize,
    /// The new map size when the map grew this cycle.
    pub grew_to: Option<usize>,
    /// Nothing was deleted because `general.blockCleaner` is false.
    pub dry_run: bool,
}

impl CycleReport {
    /// One line for the heartbeat, e.g. `pruned 1200 shares (40 heights), 3 stats keys, 0
    /// blocks`.
    pub fn summary(&self) -> String {
        if self.dry_run {
            return "dry run (general.blockCleaner is off): nothing deleted".to_owned();
        }
        format!(
            "pruned {} shares ({} heights), {} stats keys, {} blocks",
            self.pruned_shares, self.pruned_heights, self.stats_deleted, self.blocks_deleted
        )
    }
}

/// The role's handles, shared by its cycles.
#[derive(Debug, Clone)]
pub struct Cleaner {
    pub store: Arc<ShareStore>,
    pub writer: ShareWriter,
    pub mysql: MySqlPool,
    pub clock: Arc<dyn Clock>,
}

impl Cleaner {
    /// One cycle (see the module documentation). `chain` is `None` when monerod did not
    /// answer: the newest share height stands for the tip, the newest found block's
    /// difficulty for the network's. Stops pruning early, between two transactions, on
    /// `shutdown`.
    pub async fn cycle(
        &self,
        settings: &Settings,
        chain: Option<Chain>,
        shutdown: &CancellationToken,
    ) -> Result<CycleReport, CleanError> {
        let inputs = self.floor_inputs(settings, chain).await?;
        let floor = self
            .blocking(move |store| Ok(floor::compute(&store.read()?, &inputs)?))
            .await?;
        let dry_run = !settings.general.block_cleaner;
        let mut report = CycleReport {
            floor,
            pruned_shares: 0,
            pruned_heights: 0,
            prune_batches: 0,
            prune_time: Duration::ZERO,
            stats_deleted: 0,
            blocks_deleted: 0,
            stale_readers: 0,
            grew_to: None,
            dry_run,
        };
        let prunable = floor.stored.is_some_and(|(oldest, _)| oldest < floor.below);
        if prunable && dry_run {
            tracing::info!(floor.below = %floor.below, floor.bound = %floor.bound,
                "general.blockCleaner is false: would prune the shares below this height");
        } else if prunable {
            let started = Instant::now();
            let batch = usize::try_from(settings.cleaner.prune_batch.max(1)).unwrap_or(usize::MAX);
            loop {
                let step = self.writer.prune_below(floor.below, batch).await?;
                report.prune_batches += 1;
                report.pruned_shares += step.shares;
                report.pruned_heights += step.heights;
                if !step.more || shutdown.is_cancelled() {
                    break;
                }
                // Let the pool's share batches through between two deletions.
                tokio::task::yield_now().await;
            }
            report.prune_time = started.elapsed();
            tracing::info!(
                floor.below = %floor.below,
                floor.bound = %floor.bound,
                shares = report.pruned_shares,
                heights = report.pruned_heights,
                transactions = report.prune_batches,
                ms = report.prune_time.as_millis() as u64,
                "pruned shares no payout needs"
            );
            metrics::counter!(crate::telemetry::names::CLEANER_PRUNED_SHARES)
                .increment(report.pruned_shares);
        }
        metrics::gauge!(crate::telemetry::names::CLEANER_FLOOR).set(floor.below.0 as f64);
        report.stats_deleted = self.clean_stats(settings, dry_run).await?;
        report.blocks_deleted = self.clean_blocks(settings, dry_run).await?;
        let store = Arc::clone(&self.store);
        let grow_percent = settings.cleaner.grow_percent;
        let (readers, grew) = tokio::task::spawn_blocking(move || {
            let readers = store.clear_stale_readers()?;
            let grew = store.grow_ahead(grow_percent)?;
            Ok::<_, StoreError>((readers, grew))
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
        report.stale_readers = readers;
        report.grew_to = grew;
        if readers > 0 {
            tracing::warn!(lmdb.stale_readers = readers, "cleared stale LMDB readers");
        }
        self.report_usage(settings)?;
        Ok(report)
    }

    /// The MySQL half of the floor's inputs.
    async fn floor_inputs(
        &self,
        settings: &Settings,
        chain: Option<Chain>,
    ) -> Result<FloorInputs, CleanError> {
        let pps = {
            let cursor = credits::cursor(&self.mysql, credits::PPS_CURSOR).await?;
            let aside = block_issues::open(&self.mysql, Some(IssueKind::Pps))
                .await?
                .into_iter()
                .map(|issue| issue.height)
                .min();
            match (cursor, aside) {
                (Some(c), Some(a)) => PpsNeed::From(c.min(a)),
                (Some(c), None) => PpsNeed::From(c),
                (None, Some(a)) => PpsNeed::From(a),
                (None, None) if settings.modes.pps_enable => PpsNeed::Everything,
                (None, None) => PpsNeed::Nothing,
            }
        };
        // Unlocked blocks are credited (the status is written after the credit commits), but a
        // block unlocked without its paid-block row (a PPLNS or solo block) is treated as not
        // yet credited; only blocks whose shares may still be stored are asked about.
        let unlocked = self
            .blocking(|store| {
                let snap = store.read()?;
                let oldest = snap.share_heights()?.map(|(lo, _)| lo);
                let Some(oldest) = oldest else {
                    return Ok(Vec::new());
                };
                Ok(snap
                    .blocks_with_status(BlockStatus::Unlocked)?
                    .into_iter()
                    .filter(|b| b.record.pool_type != PoolType::Pps && b.record.height >= oldest)
                    .map(|b| b.record.hash)
                    .collect::<Vec<_>>())
            })
            .await?;
        let mut uncredited_unlocked = HashSet::new();
        for hash in unlocked {
            if !credits::is_credited(&self.mysql, &hash).await? {
                tracing::warn!(block.hash = %hash, "an unlocked block has no paid-block row: keeping its window");
                uncredited_unlocked.insert(hash);
            }
        }
        Ok(FloorInputs {
            tip: chain.map(|c| c.tip),
            difficulty: chain.map(|c| c.difficulty),
            share_multi: settings.modes.pplns_share_multi,
            margin: settings.cleaner.margin_heights,
            min_retention: settings.cleaner.min_retention_heights,
            pps,
            uncredited_unlocked,
        })
    }

    async fn clean_stats(&self, settings: &Settings, dry_run: bool) -> Result<u64, CleanError> {
        let now = self.clock.now();
        let forget_after_ms = settings.worker.forget_after_secs.saturating_mul(1000);
        let keys = self
            .blocking(move |store| {
                Ok(stale_stats::stale_keys(
                    &store.read()?,
                    now,
                    forget_after_ms,
                )?)
            })
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        if dry_run {
            tracing::info!(
                keys = keys.len(),
                "general.blockCleaner is false: would delete stale stats keys"
            );
            return Ok(0);
        }
        let count = keys.len() as u64;
        for chunk in keys.chunks(STATS_DELETE_BATCH) {
            self.writer.delete_stats(chunk.to_vec()).await?;
        }
        tracing::info!(
            keys = count,
            "deleted stats of miners and workers gone past worker.forgetAfter, and dead chart chunks"
        );
        Ok(count)
    }

    async fn clean_blocks(&self, settings: &Settings, dry_run: bool) -> Result<u64, CleanError> {
        let days = settings.cleaner.block_retention_days;
        if days == 0 {
            return Ok(0);
        }
        let cutoff = self
            .clock
            .now()
            .0
            .saturating_sub(days.saturating_mul(DAY_MS));
        let old = self
            .blocking(move |store| {
                let snap = store.read()?;
                let mut keys = Vec::new();
                for status in [BlockStatus::Unlocked, BlockStatus::Orphaned] {
                    for b in snap.blocks_with_status(status)? {
                        if b.record.status_changed.0 < cutoff {
                            keys.push(b.record.key());
                        }
                    }
                }
                Ok(keys)
            })
            .await?;
        // An unlocked block without its paid-block row stays (see `floor_inputs`).
        let mut keys = Vec::with_capacity(old.len());
        for key in old {
            let settled = match self
                .blocking(move |s| Ok(s.read()?.block(key.height, key.hash)?))
                .await?
            {
                Some(b)
                    if b.record.status == BlockStatus::Unlocked
                        && b.record.pool_type != PoolType::Pps =>
                {
                    credits::is_credited(&self.mysql, &key.hash).await?
                }
                Some(_) => true,
                None => false,
            };
            if settled {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Ok(0);
        }
        if dry_run {
            tracing::info!(
                blocks = keys.len(),
                "general.blockCleaner is false: would delete settled block records"
            );
            return Ok(0);
        }
        let mut deleted = 0;
        for chunk in keys.chunks(BLOCK_DELETE_BATCH) {
            deleted += self.writer.delete_settled_blocks(chunk.to_vec()).await?;
        }
        tracing::info!(
            blocks = deleted,
            days,
            "deleted settled block records past cleaner.blockRetention"
        );
        Ok(deleted)
    }

    /// LMDB use to the metrics, and a warning above `cleaner.alertPercent`.
    fn report_usage(&self, settings: &Settings) -> Result<(), CleanError> {
        use crate::telemetry::names;
        let usage = self.store.usage()?;
        metrics::gauge!(names::LMDB_USED_BYTES).set(usage.used_bytes as f64);
        metrics::gauge!(names::LMDB_MAP_BYTES).set(usage.map_size as f64);
        metrics::gauge!(names::LMDB_MAX_MAP_BYTES).set(usage.max_map_size as f64);
        metrics::gauge!(names::LMDB_MAP_GROWTHS).set(self.store.map_growths() as f64);
        let percent = u128::from(usage.used_bytes) * 100 / u128::from(usage.max_map_size.max(1));
        if percent > u128::from(settings.cleaner.alert_percent) {
            tracing::warn!(
                alert = true,
                lmdb.used_mib = usage.used_bytes >> 20,
                lmdb.max_map_mib = usage.max_map_size >> 20,
                percent = percent as u64,
                "LMDB is above cleaner.alertPercent of its maximum map size"
            );
        }
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ShareStore) -> Result<T, CleanError> + Send + 'static,
    ) -> Result<T, CleanError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || read(&store))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
    }
}

/// The chain tip and its difficulty, or `None` (logged) when monerod does not answer.
pub async fn chain<D: Daemon>(daemon: &D) -> Option<Chain> {
    match daemon.last_block_header(false).await {
        Ok(header) => Some(Chain {
            tip: header.height,
            difficulty: header.difficulty,
        }),
        Err(err) => {
            tracing::warn!(%err, "monerod unavailable: the floor uses the newest share height as the tip");
            None
        }
    }
}

/// The role entry: [`run_with`] on the real clock.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(config, Arc::new(SystemClock), shutdown).await
}

/// Connects to MySQL, LMDB and monerod and runs a cycle every `cleaner.interval` (the shared
/// settings re-read before each, so `rxpool admin config set` takes effect) until `shutdown`.
/// A failed cycle is logged and retried at the next tick.
pub async fn run_with(
    config: FileConfig,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mysql = crate::store::mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let mut settings = crate::store::mysql::load_settings(&mysql, &config.overrides)
        .await
        .context("loading the shared settings")?;
    let store = ShareStore::open(&config.lmdb_options()).context("opening the share store")?;
    let writer = store
        .writer(WriterConfig::default())
        .context("starting the share writer")?;
    let daemon = DaemonClient::with_timeout(&config.daemon.urls, Duration::from_secs(10))
        .context("monerod URLs")?;
    let backups = tokio::spawn(crate::backup::run_schedule(
        config.clone(),
        Arc::clone(&store),
        DaemonClient::with_timeout(&config.daemon.urls, Duration::from_secs(10))
            .context("monerod URLs")?,
        Arc::clone(&clock),
        shutdown.child_token(),
    ));
    let cleaner = Cleaner {
        store,
        writer: writer.clone(),
        mysql,
        clock,
    };
    tracing::info!(
        interval_secs = settings.cleaner.interval_secs,
        margin = settings.cleaner.margin_heights,
        min_retention = settings.cleaner.min_retention_heights,
        enabled = settings.general.block_cleaner,
        "cleaner role started"
    );
    let host = heartbeats::host_name();
    loop {
        let started = tokio::time::Instant::now();
        match crate::store::mysql::load_settings(&cleaner.mysql, &config.overrides).await {
            Ok(fresh) => settings = fresh,
            Err(err) => tracing::warn!(%err, "settings reload failed; keeping the previous ones"),
        }
        // Stopping mid-cycle is safe: every deletion is a whole writer transaction, and the
        // next cycle computes the floor afresh.
        let cycle = async {
            let chain = chain(&daemon).await;
            cleaner.cycle(&settings, chain, &shutdown).await
        };
        let detail = tokio::select! {
            () = shutdown.cancelled() => break,
            done = cycle => match done {
                Ok(report) => {
                    tracing::debug!(?report, "cleaner cycle");
                    report.summary()
                }
                Err(err) => {
                    tracing::error!(%err, "cleaner cycle failed; retrying next interval");
                    format!("failed: {err}")
                }
            },
        };
        metrics::histogram!(crate::telemetry::names::CLEANER_CYCLE).record(started.elapsed());
        // The worker's operator alerts call the cleaner stalled when these stop.
        let now = cleaner.clock.now();
        if let Err(err) =
            heartbeats::beat(&cleaner.mysql, BeatingRole::Cleaner, &host, now, &detail).await
        {
            tracing::warn!(%err, "cannot write the cleaner heartbeat");
        }
        let interval = Duration::from_secs(settings.cleaner.interval_secs.max(1));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(started + interval) => {}
        }
    }
    drop(cleaner);
    if let Err(join) = backups.await
        && join.is_panic()
    {
        std::panic::resume_unwind(join.into_panic());
    }
    writer.close().await.context("closing the share writer")?;
    tracing::info!("cleaner role stopped");
    Ok(())
}
