//! One worker cycle, every `worker.statsInterval`: read the shares the pool committed since the
//! last cycle from the LMDB share log, advance the rollup, write the changed stats and chart
//! chunks to the LMDB `stats` database (the api's only source), collect the network, wallet and
//! MySQL facts, then run the miner and operator alerts.
//!
//! Reads the share store through short snapshots inside `spawn_blocking` (a snapshot never
//! crosses an `.await`); writes through the process's one `ShareWriter`. A failing source
//! (monerod, wallet-rpc, MySQL) skips its part of the cycle with a warning; the rest goes on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::MySqlPool;
use tokio::sync::watch;

use crate::config::Settings;
use crate::domain::{Clock, Height, PoolType, UnixMillis};
use crate::monero::daemon::DaemonClient;
use crate::monero::rpc_types::Balance;
use crate::monero::wallet::WalletClient;
use crate::stats::{
    EntityStats, HistoryLayout, NetworkStats, PoolPort, PoolPorts, PoolScope, PoolServer,
    PoolServers, PoolStats, StatsBatch, WalletStats,
};
use crate::store::lmdb::{
    BlockStatus, CounterKey, Counters, LogSeq, ShareStore, ShareWriter, StoreError,
};
use crate::worker::alerts::{self, Seen, SoloBlock, Timing, Told};
use crate::worker::facts::{self, PaymentTotals};
use crate::worker::history::History;
use crate::worker::operator::{OperatorAlerts, Probes};
use crate::worker::rollup::{Rollup, RollupConfig, Share};

/// How often the wallet's balance is read (nodejs-pool: 60 s).
const WALLET_EVERY_MS: u64 = 60_000;
/// Hourly chart chunks written per cycle after an hour closes (one per live series), so the
/// hour's largest write is spread over the next cycles instead of one.
pub const HOURLY_CHUNKS_PER_CYCLE: usize = 25_000;
/// Pool hosts and ports count as live when seen this recently (nodejs-pool: 10 minutes).
const LIVE_WITHIN_SECS: u64 = 600;

/// The rollup engine, its chart builder and the share-log cursor: moved into blocking tasks
/// behind a lock, never held across an `.await`.
#[derive(Debug)]
struct Engine {
    rollup: Rollup,
    history: History,
    cursor: Option<LogSeq>,
}

/// The worker role's state between cycles.
pub struct Worker {
    db: MySqlPool,
    store: Arc<ShareStore>,
    writer: ShareWriter,
    daemon: DaemonClient,
    wallet: WalletClient,
    clock: Arc<dyn Clock>,
    overrides: BTreeMap<String, String>,
    settings: watch::Sender<Settings>,
    engine: Arc<Mutex<Engine>>,
    told: HashMap<String, HashMap<String, Told>>,
    wallet_read_at: Option<UnixMillis>,
    /// The last wallet balance read (or why not), for the operator's PPS reserve check.
    wallet_probe: Option<Result<Balance, String>>,
    operator: OperatorAlerts,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

/// What one cycle did, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CycleReport {
    pub new_shares: usize,
    pub stats_puts: usize,
    pub stats_deletes: usize,
    pub alert_mails: usize,
    pub payment_mails: usize,
    pub block_mails: usize,
}

pub fn rollup_config(settings: &Settings) -> RollupConfig {
    let w = &settings.worker;
    RollupConfig {
        window: Duration::from_secs(w.hashrate_window_secs),
        identifier_window: Duration::from_secs(w.identifier_window_secs),
        minute_points: usize::try_from(settings.general.stats_buffer_length).unwrap_or(usize::MAX),
        history_days: u32::try_from(w.history_days).unwrap_or(u32::MAX),
        forget_after: Duration::from_secs(w.forget_after_secs),
    }
}

fn history_layout(settings: &Settings) -> HistoryLayout {
    HistoryLayout {
        minute_points: u32::try_from(settings.general.stats_buffer_length).unwrap_or(u32::MAX),
        history_days: u32::try_from(settings.worker.history_days).unwrap_or(u32::MAX),
    }
}

impl Worker {
    /// A worker on open stores. `settings` is the current shared settings (re-read every
    /// cycle); the receiver side of the returned channel follows every change (the mail
    /// sender reads it).
    #[expect(clippy::too_many_arguments, reason = "the role's resources, each once")]
    pub fn new(
        db: MySqlPool,
        store: Arc<ShareStore>,
        writer: ShareWriter,
        daemon: DaemonClient,
        wallet: WalletClient,
        clock: Arc<dyn Clock>,
        settings: Settings,
        overrides: BTreeMap<String, String>,
    ) -> (Worker, watch::Receiver<Settings>) {
        let mut history = History::new(history_layout(&settings));
        history.spread_hourly_writes(HOURLY_CHUNKS_PER_CYCLE);
        let engine = Engine {
            rollup: Rollup::new(rollup_config(&settings)),
            history,
            cursor: None,
        };
        let (tx, rx) = watch::channel(settings);
        (
            Worker {
                db,
                store,
                writer,
                daemon,
                wallet,
                clock,
                overrides,
                settings: tx,
                engine: Arc::new(Mutex::new(engine)),
                told: HashMap::new(),
                wallet_read_at: None,
                wallet_probe: None,
                operator: OperatorAlerts::default(),
            },
            rx,
        )
    }

    /// Loads what the miners were last told and takes the charts up where the last run left
    /// them (once, before the first cycle).
    pub async fn load(&mut self) -> anyhow::Result<()> {
        self.told = alerts::load_told(&self.db).await?;
        let (store, engine, now) = (
            Arc::clone(&self.store),
            Arc::clone(&self.engine),
            self.clock.now(),
        );
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let current = crate::stats::read_current_chunks(&store.read()?, now)?;
            let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            for (series, chunks) in current {
                engine.history.resume(series, &chunks, now);
            }
            Ok(())
        })
        .await??;
        Ok(())
    }

    /// The shared settings of the last cycle.
    pub fn settings(&self) -> Settings {
        self.settings.borrow().clone()
    }

    fn reload_settings(&self, fresh: Settings) {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.rollup.set_config(rollup_config(&fresh));
        engine.history.set_layout(history_layout(&fresh));
        drop(engine);
        self.settings.send_replace(fresh);
    }

    /// One cycle at the clock's now.
    pub async fn cycle(&mut self) -> anyhow::Result<CycleReport> {
        match crate::store::mysql::load_settings(&self.db, &self.overrides).await {
            Ok(mut fresh) => {
                let base = self.settings.borrow().general.public_url.clone();
                if fresh.general.public_url.is_empty() {
                    fresh.general.public_url = base;
                }
                if fresh != *self.settings.borrow() {
                    self.reload_settings(fresh);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the shared settings; keeping the last ones")
            }
        }
        let settings = self.settings.borrow().clone();
        let now = self.clock.now();
        let mut report = CycleReport::default();
        let mut batch = StatsBatch::new();

        // MySQL and chain facts first (async), then one blocking pass over LMDB.
        let payments = match facts::payment_totals(&self.db).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read payment totals");
                BTreeMap::new()
            }
        };
        let daemon_result = facts::network(&self.daemon).await;
        match &daemon_result {
            Ok(n) => batch.put_network(&NetworkStats {
                difficulty: n.difficulty,
                hash: n.hash.clone(),
                height: n.height,
                value: n.reward.0,
                ts: n.timestamp,
            }),
            Err(e) => tracing::warn!(error = %e, "cannot read the chain tip from monerod"),
        }
        if self
            .wallet_read_at
            .is_none_or(|at| now.0.saturating_sub(at.0) >= WALLET_EVERY_MS)
        {
            match facts::wallet(&self.wallet).await {
                Ok(w) => {
                    self.wallet_read_at = Some(now);
                    self.wallet_probe = Some(Ok(Balance {
                        balance: w.balance,
                        unlocked: w.unlocked,
                        blocks_to_unlock: 0,
                    }));
                    batch.put_wallet(&WalletStats {
                        balance: w.balance.0,
                        unlocked: w.unlocked.0,
                        ts: now.0,
                        height: w.height,
                    });
                }
                Err(e) => {
                    // Asked again at the next interval, not every cycle.
                    self.wallet_read_at = Some(now);
                    tracing::warn!(error = %e, "cannot read the pool wallet's balance");
                    self.wallet_probe = Some(Err(e.to_string()));
                }
            }
        }
        match pool_hosts(&self.db).await {
            Ok((servers, ports)) => {
                batch.put_servers(&servers);
                batch.put_ports(&ports);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the live pool hosts"),
        }
        let subscribed = match crate::mail::subscribers::with_worker_alerts(&self.db).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the subscribed miners");
                Vec::new()
            }
        };

        let network_difficulty = daemon_result.as_ref().map_or(0, |n| n.difficulty);
        let store = Arc::clone(&self.store);
        let engine = Arc::clone(&self.engine);
        let read = tokio::task::spawn_blocking(move || {
            let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            roll(
                &store,
                &mut engine,
                now,
                network_difficulty,
                &payments,
                subscribed,
                batch,
            )
        })
        .await??;
        report.new_shares = read.new_shares;
        let (puts, deletes) = read.batch.into_parts();
        report.stats_puts = puts.len();
        report.stats_deletes = deletes.len();
        if !puts.is_empty() {
            self.writer.put_stats(puts).await?;
        }
        if !deletes.is_empty() {
            self.writer.delete_stats(deletes).await?;
        }

        let timing = Timing::from_settings(&settings);
        for (miner, seen) in read.seen {
            let told = self.told.get(&miner).cloned().unwrap_or_default();
            if alerts::changes_of(&seen, &told, now, timing).is_empty() {
                continue;
            }
            match alerts::apply(&self.db, &settings, &miner, &seen, now, timing).await {
                Ok((state, queued)) => {
                    crate::runtime::failpoint::hit("worker:after_alert_commit");
                    report.alert_mails += usize::from(queued);
                    self.told.insert(miner, state);
                }
                Err(e) => tracing::warn!(error = %e, "cannot record a worker alert"),
            }
        }
        match alerts::payments_sent(&self.db, &settings, now).await {
            Ok(n) => report.payment_mails = n,
            Err(e) => tracing::warn!(error = %e, "cannot queue payment mails"),
        }
        match alerts::solo_blocks_found(&self.db, &settings, &read.solo_blocks, now).await {
            Ok(n) => report.block_mails = n,
            Err(e) => tracing::warn!(error = %e, "cannot queue solo block mails"),
        }
        let probes = Probes {
            daemon: daemon_result
                .as_ref()
                .map(|n| Height(n.height))
                .map_err(|e| e.to_string()),
            lmdb: Some(self.store.usage().map_err(|e| e.to_string())),
            wallet: self.wallet_probe.clone(),
        };
        if let Err(e) = self.operator.check(&self.db, &probes, &settings, now).await {
            tracing::warn!(error = %e, "operator alert pass failed");
        }
        Ok(report)
    }
}

/// Live pool hosts and their visible ports, in nodejs-pool's `poolServers` / `poolPorts` shapes.
async fn pool_hosts(db: &MySqlPool) -> Result<(PoolServers, PoolPorts), sqlx::Error> {
    let servers = facts::live_pool_servers(db, LIVE_WITHIN_SECS).await?;
    let ports = facts::live_ports(db, LIVE_WITHIN_SECS).await?;
    let by_id: PoolServers = servers
        .iter()
        .map(|s| {
            (
                s.id,
                PoolServer {
                    ip: s.ip.clone(),
                    block_id: s.block_id.unwrap_or(0),
                    block_id_time: s.block_id_time.unwrap_or(0),
                    hostname: s.hostname.clone(),
                },
            )
        })
        .collect();
    let mut out = PoolPorts::default();
    // A port is `global` when every live host serves it with the same difficulty.
    let mut hosts_of: BTreeMap<(u16, u64, String), Vec<&facts::LivePort>> = BTreeMap::new();
    for p in &ports {
        let Some(host) = by_id.get(&p.pool_id) else {
            continue;
        };
        let Ok(mode) = p.pool_type.parse::<PoolType>() else {
            continue;
        };
        let entry = PoolPort {
            host: host.clone(),
            port: p.port,
            pool_type: mode,
            difficulty: p.difficulty,
            miners: u64::from(p.miners),
            description: p.description.clone(),
            tls: p.tls,
        };
        match mode {
            PoolType::Pplns => out.pplns.push(entry),
            PoolType::Pps => out.pps.push(entry),
            PoolType::Solo => out.solo.push(entry),
        }
        hosts_of
            .entry((p.port, p.difficulty, p.pool_type.clone()))
            .or_default()
            .push(p);
    }
    for ((port, difficulty, mode), list) in hosts_of {
        if list.len() != by_id.len() || by_id.is_empty() {
            continue;
        }
        let Ok(pool_type) = mode.parse::<PoolType>() else {
            continue;
        };
        out.global.push(PoolPort {
            host: PoolServer {
                hostname: servers
                    .first()
                    .map(|s| s.hostname.clone())
                    .unwrap_or_default(),
                ..PoolServer::default()
            },
            port,
            pool_type,
            difficulty,
            miners: list.iter().map(|p| u64::from(p.miners)).sum(),
            description: list[0].description.clone(),
            tls: list.iter().all(|p| p.tls),
        });
    }
    Ok((by_id, out))
}

/// What the blocking pass hands back.
struct Rolled {
    new_shares: usize,
    batch: StatsBatch,
    seen: Vec<(String, Vec<Seen>)>,
    solo_blocks: Vec<SoloBlock>,
}

/// The blocking pass: new shares into the rollup, stats and charts into `batch`, and the
/// workers of subscribed miners and the recent solo blocks for the alerts. One snapshot.
fn roll(
    store: &ShareStore,
    engine: &mut Engine,
    now: UnixMillis,
    network_difficulty: u128,
    payments: &BTreeMap<Option<PoolType>, PaymentTotals>,
    subscribed: Vec<String>,
    mut batch: StatsBatch,
) -> Result<Rolled, StoreError> {
    let snap = store.read()?;
    let mut new_shares = 0;
    let mut cursor = engine.cursor;
    for item in snap.log_since(engine.cursor)? {
        let (seq, logged) = item?;
        cursor = Some(seq);
        let Some(mode) = logged.pool_type else {
            continue;
        };
        engine.rollup.add(Share {
            at: logged.timestamp,
            miner: logged.miner,
            worker: logged.worker,
            hashes: logged.difficulty,
            mode,
        });
        new_shares += 1;
    }
    engine.cursor = cursor;
    let cycle = engine.rollup.advance(now);
    let rollup = &engine.rollup;

    let blocks = snap.blocks_in(crate::domain::Height(0)..=crate::domain::Height(u64::MAX))?;
    let block_totals = facts::block_totals(&blocks);
    for scope in PoolScope::ALL {
        let (mode, counters, round) = match scope {
            PoolScope::Global => {
                let round = PoolType::ALL
                    .iter()
                    .map(|&m| snap.round_hashes(m))
                    .sum::<Result<u64, _>>()?;
                (None, snap.counters(CounterKey::Pool)?, round)
            }
            PoolScope::Mode(m) => (
                Some(m),
                snap.counters(CounterKey::Mode(m))?,
                snap.round_hashes(m)?,
            ),
        };
        let blocks = block_totals.get(&mode).copied().unwrap_or_default();
        let paid = payments.get(&mode).copied().unwrap_or_default();
        batch.put_pool(
            scope,
            &PoolStats {
                total_hashes: counters.map_or(0, |c| c.hashes),
                round_hashes: round,
                effort: effort_bps(round, network_difficulty),
                last_block_found_time: blocks.last_time.as_secs(),
                last_block_found: blocks.last_height,
                total_blocks_found: blocks.found,
                total_miners_paid: paid.miners_paid,
                total_payments: paid.payments,
                ..rollup.scope(scope).pool_stats()
            },
        );
    }
    for &id in &cycle.workers {
        let Some(rate) = rollup.worker(id) else {
            continue;
        };
        let counters = snap.counters(CounterKey::Worker(id))?;
        batch.put_worker(id, &with_counters(rate.entity_stats(), counters));
    }
    for &id in &cycle.miners {
        let Some(rate) = rollup.miner(id) else {
            continue;
        };
        let counters = snap.counters(CounterKey::Miner(id))?;
        batch.put_miner(id, &with_counters(rate.entity_stats(), counters));
        let mut names = Vec::new();
        for worker in rollup.identifiers(id) {
            if let Some((_, name)) = snap.worker(worker)? {
                names.push(name.to_owned());
            }
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        batch.put_identifiers(id, &names);
    }
    engine.history.forget(&cycle, &mut batch);
    engine.history.record(rollup, &mut batch);
    engine.history.flush_pending(&mut batch);

    let mut seen = Vec::with_capacity(subscribed.len());
    for miner in subscribed {
        let Some(id) = snap.miner_id(&miner)? else {
            continue;
        };
        let mut workers = Vec::new();
        for (worker, name) in snap.workers_of(id)? {
            if let Some(last) = snap
                .counters(CounterKey::Worker(worker))?
                .and_then(|c| c.last_share)
            {
                workers.push(Seen {
                    worker: name,
                    last_share: last,
                });
            }
        }
        seen.push((miner, workers));
    }
    let solo_blocks = snap
        .recent_blocks(64)?
        .into_iter()
        .filter(|b| {
            b.record.pool_type == PoolType::Solo
                && matches!(
                    b.record.status,
                    BlockStatus::Pending | BlockStatus::Unlocked
                )
        })
        .map(|b| SoloBlock {
            miner: b.miner,
            worker: b.worker,
            height: b.record.height.0,
            hash: b.record.hash.to_string(),
            found_at: b.record.timestamp,
        })
        .collect();
    Ok(Rolled {
        new_shares,
        batch,
        seen,
        solo_blocks,
    })
}

/// Round hashes as basis points of the network difficulty (10,000 = 100 %, a block's expected
/// work); 0 while the difficulty is unknown.
fn effort_bps(round_hashes: u64, network_difficulty: u128) -> u64 {
    if network_difficulty == 0 {
        return 0;
    }
    u64::try_from(u128::from(round_hashes).saturating_mul(10_000) / network_difficulty)
        .unwrap_or(u64::MAX)
}

/// A miner's or worker's stats: the rollup's hashrate and last share, the counters' totals.
fn with_counters(rollup: EntityStats, counters: Option<Counters>) -> EntityStats {
    let c = counters.unwrap_or_default();
    EntityStats {
        total_hashes: c.hashes,
        valid_shares: c.valid,
        invalid_shares: c.invalid_total(),
        ..rollup
    }
}
