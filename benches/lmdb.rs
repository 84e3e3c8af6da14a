//! Share store figures: appends per second through the group-committing writer, the share
//! record size, and the PPLNS walk over 1,000,000 shares in 100 heights.
//!
//! Run: `cargo bench --locked --bench lmdb` (prints figures; no harness). Uses a temp dir on
//! the same disk as the system temp directory, with LMDB's normal durable commits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rxpool::domain::{Height, PoolType, UnixMillis};
use rxpool::store::lmdb::{
    MinerId, NewShare, SHARE_RECORD_SIZE, ShareStore, StoreOptions, WriterConfig,
};

const SHARES: u64 = 1_000_000;
const HEIGHTS: u64 = 100;
const MINERS: u64 = 10_000;
const PRODUCERS: u64 = 4;

fn window() -> std::ops::RangeInclusive<Height> {
    Height(3_000_000)..=Height(3_000_000 + HEIGHTS)
}

/// Runs `f` `n` times; returns its last result and the fastest run.
fn best_of(n: usize, mut f: impl FnMut() -> u64) -> (u64, Duration) {
    let mut best = Duration::MAX;
    let mut result = 0;
    for _ in 0..n {
        let started = Instant::now();
        result = f();
        best = best.min(started.elapsed());
    }
    (result, best)
}

/// A duration as milliseconds with one decimal.
fn ms(d: Duration) -> String {
    format!("{}.{}", d.as_micros() / 1000, d.as_micros() % 1000 / 100)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = StoreOptions::new(dir.path());
    options.map_size = 64 << 20;
    let store = ShareStore::open(&options).expect("open store");

    println!("share record size: {SHARE_RECORD_SIZE} bytes");

    // Interned keys are built once, as the pool does per session.
    let miners: Arc<Vec<Arc<str>>> = Arc::new(
        (0..MINERS)
            .map(|i| Arc::from(format!("4{i:0>94}")))
            .collect(),
    );
    let worker: Arc<str> = Arc::from("rig1");

    let writer = store.writer(WriterConfig::default()).expect("writer");
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for p in 0..PRODUCERS {
            let writer = writer.clone();
            let miners = Arc::clone(&miners);
            let worker = Arc::clone(&worker);
            tasks.push(tokio::spawn(async move {
                let per = SHARES / PRODUCERS;
                for i in 0..per {
                    let n = p * per + i;
                    let share = NewShare {
                        height: Height(3_000_000 + n * HEIGHTS / SHARES),
                        timestamp: UnixMillis(1_700_000_000_000 + n / 10),
                        miner: Arc::clone(&miners[(n % MINERS) as usize]),
                        worker: Arc::clone(&worker),
                        difficulty: 100_000 + n % 1000,
                        job_difficulty: 100_000,
                        pool_type: PoolType::Pplns,
                        trusted: n.is_multiple_of(3),
                        found_block: false,
                        host: 1,
                    };
                    writer.append(share).await.expect("append");
                }
            }));
        }
        for task in tasks {
            task.await.expect("producer");
        }
        writer.flush().await.expect("flush");
    });
    let elapsed = started.elapsed();
    let stats = writer.stats();
    println!(
        "append: {SHARES} shares via {PRODUCERS} producers in {} ms = {} shares/s \
         ({} commits, {} shares/commit, map grew {} times to {} MiB)",
        elapsed.as_millis(),
        u128::from(SHARES) * 1_000_000 / elapsed.as_micros().max(1),
        stats.batches,
        stats.committed / stats.batches.max(1),
        store.map_growths(),
        store.map_size() >> 20,
    );
    runtime.block_on(writer.close()).expect("close");

    // The walk alone: every share, newest first, decoded.
    let raw = best_of(5, || {
        let snapshot = store.read().expect("snapshot");
        let mut count = 0u64;
        let mut total = 0u128;
        for item in snapshot.shares_in(window()).expect("walk") {
            let (_, share) = item.expect("share");
            total += u128::from(share.difficulty());
            count += 1;
        }
        assert!(total > 0);
        count
    });
    // The PPLNS walk: newest first over every height, weight per miner, ids resolved.
    let pplns = best_of(5, || {
        let snapshot = store.read().expect("snapshot");
        let mut weights: HashMap<MinerId, u128> = HashMap::new();
        let mut count = 0u64;
        for item in snapshot.shares_in(window()).expect("walk") {
            let (_, share) = item.expect("share");
            *weights.entry(share.miner()).or_default() += u128::from(share.difficulty());
            count += 1;
        }
        let resolved = weights
            .keys()
            .filter(|id| snapshot.miner(**id).ok().flatten().is_some())
            .count();
        assert_eq!(resolved as u64, MINERS);
        count
    });
    println!(
        "walk: {} shares over {HEIGHTS} heights, best of 5 = {} ms",
        raw.0,
        ms(raw.1)
    );
    println!(
        "pplns walk (+ per-miner weights in a HashMap, {MINERS} ids resolved): best of 5 = {} ms",
        ms(pplns.1)
    );
    let seen = pplns.0;
    assert_eq!(seen, SHARES);
    println!(
        "disk: {} MiB for {SHARES} shares",
        std::fs::metadata(dir.path().join("data.mdb"))
            .map(|m| m.len() >> 20)
            .unwrap_or(0)
    );
}
