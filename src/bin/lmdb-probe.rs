//! A helper process for the multi-process LMDB tests (`tests/lmdb.rs`) and for operators who
//! want to watch a share store from outside the pool.
//!
//! `lmdb-probe write DIR ROUNDS PER_ROUND` appends ROUNDS × PER_ROUND shares through a
//! `ShareWriter`, flushing after each round. `lmdb-probe read DIR MILLIS` opens snapshots in
//! a loop for MILLIS milliseconds and checks that each one is consistent: the share count
//! kept by the writers equals the number of shares a full walk finds, and neither ever goes
//! backwards. It prints `checks=N last=M` and exits 1 on the first inconsistency.
//! `lmdb-probe stat DIR` prints the share count, heights, map usage, the pool's lifetime
//! counters and the last share-log batch. Never writes in `read` or `stat` mode.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rxpool::domain::{Height, PoolType, UnixMillis};
use rxpool::store::lmdb::{
    CounterKey, NewShare, ShareStore, StoreError, StoreOptions, WriterConfig,
};

const USAGE: &str = "usage: lmdb-probe write DIR ROUNDS PER_ROUND | read DIR MILLIS | stat DIR";

fn options(dir: &str) -> StoreOptions {
    let mut options = StoreOptions::new(dir);
    // Small on purpose: the tests want the writer to grow the map under the readers.
    options.map_size = 1 << 20;
    options
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", dir, rounds, per_round] => match (rounds.parse(), per_round.parse()) {
            (Ok(rounds), Ok(per_round)) => write(dir, rounds, per_round),
            _ => return usage(),
        },
        ["read", dir, millis] => match millis.parse() {
            Ok(millis) => read(dir, Duration::from_millis(millis)),
            Err(_) => return usage(),
        },
        ["stat", dir] => stat(dir),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lmdb-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn write(dir: &str, rounds: u64, per_round: u64) -> Result<(), String> {
    let store = ShareStore::open(&options(dir)).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let writer = store
            .writer(WriterConfig {
                max_batch: 512,
                ..WriterConfig::default()
            })
            .map_err(|e| e.to_string())?;
        let miner: Arc<str> = Arc::from("probe-miner");
        let worker: Arc<str> = Arc::from("probe-rig");
        for round in 0..rounds {
            for i in 0..per_round {
                let share = NewShare {
                    height: Height(1000 + round % 50),
                    timestamp: UnixMillis(1_700_000_000_000 + round * 1000 + i),
                    miner: Arc::clone(&miner),
                    worker: Arc::clone(&worker),
                    difficulty: 1,
                    job_difficulty: 1,
                    pool_type: PoolType::Pplns,
                    trusted: false,
                    found_block: false,
                    host: 1,
                };
                writer.append(share).await.map_err(|e| e.to_string())?;
            }
            writer.flush().await.map_err(|e| e.to_string())?;
        }
        writer.close().await.map_err(|e| e.to_string())
    })?;
    println!(
        "wrote={} growths={}",
        rounds * per_round,
        store.map_growths()
    );
    Ok(())
}

fn read(dir: &str, duration: Duration) -> Result<(), String> {
    let store = ShareStore::open(&options(dir)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut checks = 0u64;
    let mut last = 0u64;
    while started.elapsed() < duration {
        let (count, walked) = consistent_view(&store).map_err(|e| e.to_string())?;
        if count != walked {
            return Err(format!("snapshot count {count} but walk found {walked}"));
        }
        if count < last {
            return Err(format!("share count went back from {last} to {count}"));
        }
        last = count;
        checks += 1;
    }
    println!("checks={checks} last={last}");
    Ok(())
}

fn consistent_view(store: &ShareStore) -> Result<(u64, u64), StoreError> {
    let snapshot = store.read()?;
    let count = snapshot.share_count()?;
    let mut walked = 0u64;
    for item in snapshot.shares_in(Height(0)..=Height(u64::from(u32::MAX)))? {
        item?;
        walked += 1;
    }
    Ok((count, walked))
}

fn stat(dir: &str) -> Result<(), String> {
    let store = ShareStore::open(&options(dir)).map_err(|e| e.to_string())?;
    let snapshot = store.read().map_err(|e| e.to_string())?;
    let count = snapshot.share_count().map_err(|e| e.to_string())?;
    let heights = snapshot.share_heights().map_err(|e| e.to_string())?;
    match heights {
        Some((lo, hi)) => println!(
            "shares={count} heights={lo}..={hi} map={}",
            store.map_size()
        ),
        None => println!("shares={count} heights=none map={}", store.map_size()),
    }
    let usage = store.usage().map_err(|e| e.to_string())?;
    println!(
        "used={} map={} max_map={}",
        usage.used_bytes, usage.map_size, usage.max_map_size
    );
    let pool = snapshot
        .counters(CounterKey::Pool)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    println!(
        "valid={} hashes={} invalid={}",
        pool.valid,
        pool.hashes,
        pool.invalid_total()
    );
    let last = snapshot.log_last().map_err(|e| e.to_string())?;
    println!("log_last={}", last.map_or(0, |seq| seq.0));
    Ok(())
}
