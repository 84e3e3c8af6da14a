//! The stats engine's benchmark: cycle times of the rollup with 100,000 active workers and
//! 1,000,000 shares in the hashrate window, the same after ten windows of share history have
//! gone through the engine and into the LMDB share store, the minute cycle that writes chart
//! chunks, and the LMDB bytes a worker costs once its charts are full.
//!
//! A stats cycle is what the worker role does every `worker.statsInterval`: add the shares
//! written since the last cycle, advance the [`Rollup`], build the [`StatsBatch`] of the
//! entities that changed (worker, miner, identifiers and pool stats as JSON) and commit it
//! through a real [`ShareWriter`] in a temp dir. Shares are generated in memory (reading them
//! from the share log is the store's part); the history scenario also appends every share to
//! the store's `shares` database so the environment holds it. Build with `--release`:
//!
//! `cargo run --release --bin rollup-bench [workers=100000] [window_shares=1000000] [history_windows=10] [cycles=12] [chart_workers=500]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rxpool::domain::{Height, PoolType, UnixMillis};
use rxpool::stats::{EntityStats, HistoryLayout, PoolScope, StatsBatch, StatsKey};
use rxpool::store::lmdb::{
    MinerId, NewShare, ShareStore, ShareWriter, StoreOptions, WorkerId, WriterConfig,
};
use rxpool::worker::history::History;
use rxpool::worker::rollup::{Cycle, Rollup, RollupConfig, Share};

const WINDOW_MS: u64 = 600_000;
const CYCLE_MS: u64 = 10_000;
const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Copy)]
struct Params {
    workers: u32,
    window_shares: u64,
    history_windows: u64,
    cycles: usize,
    chart_workers: u32,
}

fn params() -> Result<Params, String> {
    let mut p = Params {
        workers: 100_000,
        window_shares: 1_000_000,
        history_windows: 10,
        cycles: 12,
        chart_workers: 500,
    };
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').ok_or(format!("bad argument {arg:?}"))?;
        let n: u64 = v.parse().map_err(|_| format!("bad number in {arg:?}"))?;
        match k {
            "workers" => p.workers = u32::try_from(n).map_err(|_| "workers too large")?,
            "window_shares" => p.window_shares = n,
            "history_windows" => p.history_windows = n,
            "cycles" => p.cycles = usize::try_from(n).map_err(|_| "cycles too large")?,
            "chart_workers" => p.chart_workers = u32::try_from(n).map_err(|_| "too large")?,
            _ => return Err(format!("unknown parameter {k}")),
        }
    }
    Ok(p)
}

/// The simulated pool: workers of five per miner, each with its own share difficulty.
#[derive(Debug)]
struct Pool {
    rng: StdRng,
    /// Per worker (index = id − 1): miner, difficulty, mode.
    workers: Vec<(MinerId, u64, PoolType)>,
    names: Vec<String>,
    miner_keys: Vec<String>,
    /// Shares per millisecond × 1e6.
    rate_micro: u64,
    /// Running totals per worker and miner (what the counters would give).
    totals: HashMap<WorkerId, (u64, u64)>,
    miner_totals: HashMap<MinerId, (u64, u64)>,
}

impl Pool {
    fn new(workers: u32, window_shares: u64, seed: u64) -> Pool {
        let mut rng = StdRng::seed_from_u64(seed);
        let miners = workers.div_ceil(5);
        let mut specs = Vec::with_capacity(workers as usize);
        let mut names = Vec::with_capacity(workers as usize);
        for w in 0..workers {
            // 1 to 20 kH/s at one share a minute on average: difficulty = hashrate × 60.
            let hashrate: u64 = rng.gen_range(1_000..20_000);
            let mode = match w % 10 {
                0 => PoolType::Solo,
                1 | 2 => PoolType::Pps,
                _ => PoolType::Pplns,
            };
            specs.push((MinerId(w / 5 + 1), hashrate * 60, mode));
            names.push(format!("rig-{}", w % 5));
        }
        let miner_keys = (1..=miners)
            .map(|m| format!("4{:0>94}", m))
            .collect::<Vec<_>>();
        Pool {
            rng,
            workers: specs,
            names,
            miner_keys,
            rate_micro: window_shares * 1_000_000 / WINDOW_MS,
            totals: HashMap::new(),
            miner_totals: HashMap::new(),
        }
    }

    /// The shares stamped in `(from, to]`, up to five seconds out of order.
    fn shares(&mut self, from: u64, to: u64) -> Vec<Share> {
        let n = (to - from) * self.rate_micro / 1_000_000;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let w = self.rng.gen_range(0..self.workers.len());
            let (miner, difficulty, mode) = self.workers[w];
            let at = self.rng.gen_range(from + 1..=to);
            let worker = WorkerId(w as u32 + 1);
            let t = self.totals.entry(worker).or_default();
            t.0 += difficulty;
            t.1 += 1;
            let t = self.miner_totals.entry(miner).or_default();
            t.0 += difficulty;
            t.1 += 1;
            out.push(Share {
                at: UnixMillis(at),
                miner,
                worker,
                hashes: difficulty,
                mode,
            });
        }
        out
    }

    fn new_share(&self, share: &Share) -> NewShare {
        NewShare {
            height: Height(3_000_000 + share.at.0 / 120_000),
            timestamp: share.at,
            miner: Arc::from(self.miner_keys[share.miner.0 as usize - 1].as_str()),
            worker: Arc::from(self.names[share.worker.0 as usize - 1].as_str()),
            difficulty: share.hashes,
            job_difficulty: share.hashes,
            pool_type: share.mode,
            trusted: false,
            found_block: false,
            host: 1,
        }
    }
}

/// Builds the stats writes of one cycle: what the worker role writes every stats interval.
fn stats_batch(rollup: &Rollup, cycle: &Cycle, pool: &Pool, batch: &mut StatsBatch) {
    for scope in PoolScope::ALL {
        batch.put_pool(scope, &rollup.scope(scope).pool_stats());
    }
    // The counters' totals (here the generator's) completed with the rollup's figures.
    let with_totals = |stats: EntityStats, totals: Option<&(u64, u64)>| {
        let (total_hashes, valid_shares) = totals.copied().unwrap_or_default();
        EntityStats {
            total_hashes,
            valid_shares,
            ..stats
        }
    };
    for &id in &cycle.workers {
        if let Some(rate) = rollup.worker(id) {
            batch.put_worker(id, &with_totals(rate.entity_stats(), pool.totals.get(&id)));
        }
    }
    for &id in &cycle.miners {
        let Some(rate) = rollup.miner(id) else {
            continue;
        };
        batch.put_miner(
            id,
            &with_totals(rate.entity_stats(), pool.miner_totals.get(&id)),
        );
        let names: Vec<&str> = rollup
            .identifiers(id)
            .iter()
            .map(|w| pool.names[w.0 as usize - 1].as_str())
            .collect();
        batch.put_identifiers(id, &names);
    }
}

#[derive(Debug, Default)]
struct Timing {
    engine: Vec<Duration>,
    build: Vec<Duration>,
    commit: Vec<Duration>,
    total: Vec<Duration>,
    cpu: Vec<Duration>,
    changed: Vec<usize>,
    puts: Vec<usize>,
    /// Build, commit, CPU, points, keys.
    minute: Vec<(Duration, Duration, Duration, usize, usize)>,
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn max(v: &[Duration]) -> Duration {
    v.iter().max().copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{} ms", us / 1000, us % 1000 / 100)
}

impl Timing {
    fn print(&self, label: &str) {
        println!(
            "{label}: stats cycle total median {} max {}, CPU median {} max {} (engine add+advance median {} max {}; build batch median {}; commit median {} max {}); changed workers per cycle median {}; keys put median {}",
            ms(median(&self.total)),
            ms(max(&self.total)),
            ms(median(&self.cpu)),
            ms(max(&self.cpu)),
            ms(median(&self.engine)),
            ms(max(&self.engine)),
            ms(median(&self.build)),
            ms(median(&self.commit)),
            ms(max(&self.commit)),
            self.changed
                .get(self.changed.len() / 2)
                .copied()
                .unwrap_or(0),
            self.puts.get(self.puts.len() / 2).copied().unwrap_or(0),
        );
        for (build, commit, cpu, points, keys) in &self.minute {
            println!(
                "{label}: minute cycle (chart chunks): build {} commit {}, CPU {} ({} points, {} keys)",
                ms(*build),
                ms(*commit),
                ms(*cpu),
                points,
                keys
            );
        }
    }
}

/// What the measured cycles run on.
#[derive(Debug)]
struct Bench {
    writer: ShareWriter,
    rollup: Rollup,
    history: History,
    pool: Pool,
}

/// Runs `cycles` measured stats cycles from `now`, with a chart minute whenever a cycle
/// crosses a minute; with `append`, each cycle's shares also go into the share store first
/// (untimed). Returns the new `now`.
async fn measured_cycles(
    bench: &mut Bench,
    mut now: u64,
    cycles: usize,
    timing: &mut Timing,
    append: bool,
) -> Result<u64, Box<dyn std::error::Error>> {
    let Bench {
        writer: rt_writer,
        rollup,
        history,
        pool,
    } = bench;
    for _ in 0..cycles {
        let shares = pool.shares(now, now + CYCLE_MS);
        if append {
            for s in &shares {
                rt_writer.append(pool.new_share(s)).await?;
            }
            rt_writer.flush().await?;
        }
        now += CYCLE_MS;
        let cpu = cpu_time();
        let start = Instant::now();
        for s in shares {
            rollup.add(s);
        }
        let cycle = rollup.advance(UnixMillis(now));
        let engine = start.elapsed();
        let mut batch = StatsBatch::new();
        history.forget(&cycle, &mut batch);
        stats_batch(rollup, &cycle, pool, &mut batch);
        history.flush_pending(&mut batch);
        let build = start.elapsed() - engine;
        let keys = batch.len().0;
        let (puts, _deletes) = batch.into_parts();
        let before_commit = Instant::now();
        rt_writer.put_stats(puts).await?;
        let commit = before_commit.elapsed();
        timing.engine.push(engine);
        timing.build.push(build);
        timing.commit.push(commit);
        timing.total.push(start.elapsed());
        timing.cpu.push(cpu_time().saturating_sub(cpu));
        timing.changed.push(cycle.workers.len());
        timing.puts.push(keys);
        if now % MINUTE_MS < CYCLE_MS {
            let cpu = cpu_time();
            let start = Instant::now();
            let mut batch = StatsBatch::new();
            let recorded = history.record(rollup, &mut batch);
            let build = start.elapsed();
            let keys = batch.len().0;
            let (puts, _) = batch.into_parts();
            let start = Instant::now();
            rt_writer.put_stats(puts).await?;
            timing.minute.push((
                build,
                start.elapsed(),
                cpu_time().saturating_sub(cpu),
                recorded.minute_points + recorded.hour_points,
                keys,
            ));
        }
    }
    Ok(now)
}

/// User + system CPU time of the whole process (every thread, the store's writer included).
/// The machine is shared, so wall times include waiting for a core; this does not.
fn cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF is a constant Linux knows.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn data_file_bytes(store: &ShareStore) -> u64 {
    std::fs::metadata(store.path().join("data.mdb")).map_or(0, |m| m.len())
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map_or(0, |kib| kib / 1024)
}

fn open_store(dir: &std::path::Path) -> Result<Arc<ShareStore>, Box<dyn std::error::Error>> {
    let mut options = StoreOptions::new(dir);
    options.map_size = 8 << 30;
    Ok(ShareStore::open(&options)?)
}

/// Scenarios A and B: the live window, then ten windows of history behind it.
async fn cycle_scenarios(p: Params) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path())?;
    let writer = store.writer(WriterConfig::default())?;
    let mut pool = Pool::new(p.workers, p.window_shares, 7);
    let mut rollup = Rollup::new(RollupConfig::default());
    let mut history = History::new(HistoryLayout {
        minute_points: 1440,
        history_days: 30,
    });
    // As the worker does: an hour's close leaves its hourly chunks to the next cycles.
    history.spread_hourly_writes(rxpool::worker::cycle::HOURLY_CHUNKS_PER_CYCLE);
    // Start so that the measured cycles of B begin a minute before an hour (so they include
    // an hour-closing minute, which also writes the day chunks).
    let history_windows = p.history_windows.max(1);
    let mut now: u64 =
        480_000 * HOUR_MS - 60_000 - (history_windows + 1) * WINDOW_MS - p.cycles as u64 * CYCLE_MS;

    // Fill one window, interning every miner and worker in the store on the way.
    let start = Instant::now();
    let shares = pool.shares(now, now + WINDOW_MS);
    for s in &shares {
        writer.append(pool.new_share(s)).await?;
    }
    writer.flush().await?;
    now += WINDOW_MS;
    let appended = start.elapsed();
    let start = Instant::now();
    let n = shares.len();
    for s in shares {
        rollup.add(s);
    }
    let cycle = rollup.advance(UnixMillis(now));
    let mut batch = StatsBatch::new();
    stats_batch(&rollup, &cycle, &pool, &mut batch);
    let (puts, _) = batch.into_parts();
    writer.put_stats(puts).await?;
    println!(
        "setup: {} workers, {} miners, {} shares in the window (appended to LMDB in {}); first full cycle (all entities) {}",
        p.workers,
        pool.miner_keys.len(),
        n,
        ms(appended),
        ms(start.elapsed())
    );

    let mut bench = Bench {
        writer,
        rollup,
        history,
        pool,
    };
    let mut a = Timing::default();
    now = measured_cycles(&mut bench, now, p.cycles, &mut a, false).await?;
    let (held, waiting) = bench.rollup.held();
    a.print("A (1 window of shares)");
    println!(
        "A: shares held by the engine {held} (+{waiting} not yet due); share store {} shares",
        store.read()?.share_count()?
    );

    // Ten more windows of shares go through the engine (cycle by cycle, without stats
    // writes) and into the share store.
    let start = Instant::now();
    let target = now + history_windows * WINDOW_MS;
    while now < target {
        let step = (target - now).min(60_000);
        let shares = bench.pool.shares(now, now + step);
        for s in &shares {
            bench.writer.append(bench.pool.new_share(s)).await?;
        }
        now += step;
        for s in shares {
            bench.rollup.add(s);
        }
        bench.rollup.advance(UnixMillis(now));
    }
    bench.writer.flush().await?;
    println!(
        "history: {} more windows of shares through the engine and into LMDB in {}",
        history_windows,
        ms(start.elapsed())
    );

    let mut b = Timing::default();
    measured_cycles(&mut bench, now, p.cycles, &mut b, true).await?;
    let (held, waiting) = bench.rollup.held();
    b.print(&format!(
        "B (the window + {history_windows} windows of share history)"
    ));
    println!(
        "B: shares held by the engine {held} (+{waiting} not yet due); share store {} shares; data.mdb {} MiB",
        store.read()?.share_count()?,
        data_file_bytes(&store) >> 20
    );
    println!(
        "memory: peak RSS {} MiB (engine + history for {} workers, share generator, LMDB pages touched)",
        peak_rss_mib(),
        p.workers
    );
    bench.writer.close().await?;
    Ok(())
}

/// LMDB bytes per worker once its charts are full: `chart_workers` workers hash for
/// `history_days` + 1 days, every minute recorded; the final stats database is written to a
/// fresh store and its size measured.
async fn bytes_per_worker(p: Params) -> Result<(), Box<dyn std::error::Error>> {
    let layout = HistoryLayout {
        minute_points: 1440,
        history_days: 30,
    };
    let mut pool = Pool::new(p.chart_workers, u64::from(p.chart_workers) * 10, 11);
    let mut rollup = Rollup::new(RollupConfig::default());
    let mut history = History::new(layout);
    let mut stats: HashMap<String, Vec<u8>> = HashMap::new();
    let days = u64::from(layout.history_days) + 1;
    let mut now: u64 = 480_000 * HOUR_MS;
    let end = now + days * 24 * HOUR_MS;
    let start = Instant::now();
    while now < end {
        let shares = pool.shares(now, now + MINUTE_MS);
        now += MINUTE_MS;
        for s in shares {
            rollup.add(s);
        }
        let cycle = rollup.advance(UnixMillis(now));
        let mut batch = StatsBatch::new();
        history.forget(&cycle, &mut batch);
        stats_batch(&rollup, &cycle, &pool, &mut batch);
        history.record(&rollup, &mut batch);
        let (puts, deletes) = batch.into_parts();
        for k in deletes {
            stats.remove(&k);
        }
        stats.extend(puts);
    }
    let simulated = start.elapsed();

    let mut per_kind: HashMap<&'static str, (usize, usize)> = HashMap::new();
    for (k, v) in &stats {
        let kind = match StatsKey::parse(k) {
            Some(StatsKey::Worker(_)) => "worker stats",
            Some(StatsKey::Miner(_)) => "miner stats",
            Some(StatsKey::Identifiers(_)) => "identifiers",
            Some(StatsKey::Chunk(rxpool::stats::Series::Worker(_), res, _)) => match res {
                rxpool::stats::Resolution::Minute => "worker minute chunks",
                rxpool::stats::Resolution::Hour => "worker hour chunks",
            },
            Some(StatsKey::Chunk(rxpool::stats::Series::Miner(_), ..)) => "miner chunks",
            _ => "pool-wide",
        };
        let e = per_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += k.len() + v.len();
    }
    let workers = p.chart_workers as usize;
    let miners = workers.div_ceil(5);
    let mut kinds: Vec<_> = per_kind.into_iter().collect();
    kinds.sort();
    println!(
        "charts: {workers} workers ({miners} miners) simulated for {days} days of minutes in {}",
        ms(simulated)
    );
    let mut worker_logical = 0;
    for (kind, (keys, bytes)) in &kinds {
        println!("charts: {kind}: {keys} keys, {bytes} bytes of keys+values");
        if kind.starts_with("worker") {
            worker_logical += bytes;
        }
    }

    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path())?;
    let writer = store.writer(WriterConfig::default())?;
    writer.flush().await?;
    let empty = data_file_bytes(&store);
    let all: Vec<(String, Vec<u8>)> = stats.into_iter().collect();
    let total_logical: usize = all.iter().map(|(k, v)| k.len() + v.len()).sum();
    writer.put_stats(all).await?;
    writer.flush().await?;
    let full = data_file_bytes(&store);
    println!(
        "LMDB bytes per worker: {} of keys+values for the worker's own stats and charts; {} of data.mdb per worker for everything (its share of miner and pool entries included, {} keys+values in all, B-tree pages and free space included)",
        worker_logical / workers,
        (full - empty) / workers as u64,
        total_logical
    );
    writer.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = params()?;
    cycle_scenarios(p).await?;
    bytes_per_worker(p).await?;
    Ok(())
}
