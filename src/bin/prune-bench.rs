//! The cleaner's benchmark: a month of simulated shares in a fresh LMDB share store, then the
//! cleaner's floor and pruning, with the pruning rate and the store's size before and after.
//!
//! Shares arrive at `shares_per_sec` (10 by default: about 300 miners at the default 30 s
//! vardiff target), one template height every 120 s, one share in 30 on the previous template,
//! from 300 miners, all PPLNS, through the real [`ShareWriter`] (group commits, as the pool
//! writes them). The network difficulty is set so that the PPLNS window (2 × difficulty)
//! spans `window_hours` of the pool's shares (7 h: a pool with about 1 % of the network,
//! two expected blocks). The floor is the cleaner's own ([`floor::compute`], the default
//! `cleaner.margin` and `cleaner.minRetention`), pruned with `ShareWriter::prune_below` in
//! transactions of `batch` heights (the default `cleaner.pruneBatch`), as `Cleaner::cycle`
//! does (the cycle adds only its MySQL reads). A second month follows, to show that its shares
//! reuse the pages the first pruning freed. Sizes: `data.mdb` (the file), the map's high-water
//! mark, and a compacted copy (`mdb_copy -c`: what the store really holds). Build with
//! `--release`:
//!
//! `cargo run --release --bin prune-bench [shares_per_sec=10] [days=30] [window_hours=7] [batch=8]`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use rxpool::cleaner::floor::{self, FloorInputs, PpsNeed};
use rxpool::config::Settings;
use rxpool::domain::{Difficulty, Height, PoolType, UnixMillis};
use rxpool::store::lmdb::{NewShare, ShareStore, StoreOptions, WriterConfig};

const HEIGHT_SECS: u64 = 120;
const SHARE_DIFFICULTY: u64 = 100_000;
const MINERS: u64 = 300;

#[derive(Debug, Clone, Copy)]
struct Params {
    shares_per_sec: u64,
    days: u64,
    window_hours: u64,
    batch: usize,
}

fn params() -> Result<Params, String> {
    let mut p = Params {
        shares_per_sec: 10,
        days: 30,
        window_hours: 7,
        batch: 8,
    };
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').ok_or(format!("bad argument {arg:?}"))?;
        let n: u64 = v.parse().map_err(|_| format!("bad number in {arg:?}"))?;
        match k {
            "shares_per_sec" => p.shares_per_sec = n.max(1),
            "days" => p.days = n.max(1),
            "window_hours" => p.window_hours = n.max(1),
            "batch" => p.batch = usize::try_from(n.max(1)).map_err(|_| "batch too large")?,
            _ => return Err(format!("unknown parameter {k}")),
        }
    }
    Ok(p)
}

fn mib(bytes: u64) -> String {
    format!(
        "{}.{:01} MiB",
        bytes >> 20,
        ((bytes & ((1 << 20) - 1)) * 10) >> 20
    )
}

fn file_size(store: &ShareStore) -> u64 {
    std::fs::metadata(store.path().join("data.mdb")).map_or(0, |m| m.len())
}

/// Per second, from a count and elapsed microseconds.
fn rate(count: u64, micros: u128) -> u128 {
    u128::from(count) * 1_000_000 / micros.max(1)
}

fn main() -> anyhow::Result<()> {
    let p = params().map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let copies = tempfile::tempdir()?;
    let store = ShareStore::open(&StoreOptions::new(dir.path()))?;
    // The share log (the worker's feed) keeps 2 h of *commit* time; the bench writes a month in
    // a minute, so with the default it would hold every share. One second keeps it at the
    // size it has in production relative to the month (2 h of 10 shares/s: about 2 MB).
    let writer = store.writer(WriterConfig {
        log_retention: std::time::Duration::from_secs(1),
        ..WriterConfig::default()
    })?;
    let seconds = p.days * 86_400;
    let total = seconds * p.shares_per_sec;
    let heights = seconds / HEIGHT_SECS;
    let miners: Vec<Arc<str>> = (0..MINERS)
        .map(|i| Arc::from(format!("4bench{i:04}")))
        .collect();
    let worker: Arc<str> = Arc::from("rig");
    let t0 = 1_700_000_000_000u64;
    let settings = Settings::defaults();
    let window_difficulty = u128::from(p.window_hours * 3600 * p.shares_per_sec)
        * u128::from(SHARE_DIFFICULTY)
        / u128::from(settings.modes.pplns_share_multi);
    // A second period shows the steady state: the shares of the next month reuse the pages
    // the first pruning freed.
    for period in 0..2u64 {
        println!(
            "period {}: writing {total} shares: {} shares/s for {} days, {heights} template heights, {MINERS} miners",
            period + 1,
            p.shares_per_sec,
            p.days
        );
        let started = Instant::now();
        runtime.block_on(async {
            for i in period * total..(period + 1) * total {
                let ms = i * 1000 / p.shares_per_sec;
                let mut height = ms / 1000 / HEIGHT_SECS;
                if i % 30 == 29 && height > 0 {
                    height -= 1;
                }
                writer
                    .append(NewShare {
                        height: Height(height + 1),
                        timestamp: UnixMillis(t0 + ms),
                        miner: Arc::clone(&miners[(i % MINERS) as usize]),
                        worker: Arc::clone(&worker),
                        difficulty: SHARE_DIFFICULTY,
                        job_difficulty: SHARE_DIFFICULTY,
                        pool_type: PoolType::Pplns,
                        trusted: true,
                        found_block: false,
                        host: 1,
                    })
                    .await?;
            }
            writer.flush().await
        })?;
        let write_time = started.elapsed();
        let count = store.read()?.share_count()?;
        let usage = store.usage()?;
        let copy = store.copy_compacted(&copies.path().join(format!("before-{period}")))?;
        println!(
            "  written in {:.1?} ({} shares/s); the store holds {count} shares",
            write_time,
            rate(total, write_time.as_micros())
        );
        println!(
            "  before pruning: data.mdb {}, used (high-water) {}, compacted copy {}",
            mib(file_size(&store)),
            mib(usage.used_bytes),
            mib(copy)
        );
        let inputs = FloorInputs {
            tip: Some(Height(heights * (period + 1))),
            difficulty: Some(Difficulty(window_difficulty)),
            share_multi: settings.modes.pplns_share_multi,
            margin: settings.cleaner.margin_heights,
            min_retention: settings.cleaner.min_retention_heights,
            pps: PpsNeed::Nothing,
            uncredited_unlocked: HashSet::new(),
        };
        let floor_started = Instant::now();
        let floor = floor::compute(&store.read()?, &inputs)?;
        println!(
            "  floor: prune below {} ({}), computed in {:.1?}",
            floor.below,
            floor.bound,
            floor_started.elapsed()
        );
        let prune_started = Instant::now();
        let (mut shares, mut txns, mut slowest) = (0u64, 0u64, std::time::Duration::ZERO);
        runtime.block_on(async {
            loop {
                let one = Instant::now();
                let step = writer.prune_below(floor.below, p.batch).await?;
                slowest = slowest.max(one.elapsed());
                shares += step.shares;
                txns += 1;
                if !step.more {
                    return Ok::<_, rxpool::store::lmdb::StoreError>(());
                }
            }
        })?;
        let prune_time = prune_started.elapsed();
        let left = store.read()?.share_count()?;
        let copy = store.copy_compacted(&copies.path().join(format!("after-{period}")))?;
        println!(
            "  pruned {shares} shares in {txns} transactions of {} heights in {:.1?}: {} shares/s (slowest transaction {:.1?})",
            p.batch,
            prune_time,
            rate(shares, prune_time.as_micros()),
            slowest
        );
        println!(
            "  after pruning: {left} shares; data.mdb {} (never shrinks: freed pages are reused), compacted copy {}",
            mib(file_size(&store)),
            mib(copy)
        );
    }
    runtime.block_on(writer.close())?;
    Ok(())
}
