//! The api's benchmark: requests per second and p50/p99 latency per path, with the api
//! served in this process on a free loopback port against a throwaway MariaDB
//! ([`MariaDb::start`], migrated) and a temp LMDB filled as the worker fills it: 1,000 miners
//! of five workers each, interned through shares the store's writer appends, their stats,
//! identifiers and chart chunks (a day of minute points for the pool series, the current hour
//! and day for each miner and worker) written as one [`StatsBatch`] through the writer, and
//! 200 found blocks.
//!
//! The load generator is in process too: one keep-alive HTTP/1.1 client, `connections`
//! tasks each sending its next request as soon as the previous answer is read, for
//! `seconds` per path after a half-second warm-up. Non-2xx answers are counted and printed
//! apart (the miner route belongs to another module and may not exist yet).
//!
//! `cargo run --release --locked --bin api-bench [connections=64] [seconds=5] [PATH ...]`
//! (default paths: `/pool/stats` and `/miner/<a seeded address>/stats`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rxpool::api::ApiState;
use rxpool::config::{FileConfig, Settings};
use rxpool::devnet::MariaDb;
use rxpool::domain::address::{PaymentId, WalletAddress};
use rxpool::domain::{
    Atomic, Clock, Difficulty, Hash32, Height, Network, PoolType, SystemClock, UnixMillis,
};
use rxpool::stats::{
    self, ChunkBuilder, EntityStats, HistoryLayout, Metric, NetworkStats, PoolPort, PoolPorts,
    PoolScope, PoolServer, PoolStats, Resolution, Series, StatsBatch,
};
use rxpool::store::lmdb::{
    BlockStatus, FoundBlock, NewShare, ShareStore, ShareWriter, StoreOptions, WriterConfig,
};
use rxpool::store::mysql;
use tokio_util::sync::CancellationToken;

/// The seeded miners' base address (mainnet prefix); miner `i > 0` is its integrated
/// address with payment id `i`, as the pool keys `address.<payment id>` logins.
const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
const MINERS: u64 = 1_000;
const WORKERS_PER_MINER: u64 = 5;
const BLOCKS: u64 = 200;
const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

#[derive(Debug)]
struct Params {
    connections: usize,
    seconds: u64,
    paths: Vec<String>,
}

fn params() -> anyhow::Result<Params> {
    let mut p = Params {
        connections: 64,
        seconds: 5,
        paths: Vec::new(),
    };
    for arg in std::env::args().skip(1) {
        if arg.starts_with('/') {
            p.paths.push(arg);
            continue;
        }
        let (k, v) = arg
            .split_once('=')
            .with_context(|| format!("bad argument {arg:?}: give key=value or a /path"))?;
        let n: u64 = v
            .parse()
            .with_context(|| format!("bad number in {arg:?}"))?;
        match k {
            "connections" => p.connections = usize::try_from(n.max(1))?,
            "seconds" => p.seconds = n.max(1),
            _ => anyhow::bail!("unknown parameter {k} (connections, seconds)"),
        }
    }
    if p.paths.is_empty() {
        p.paths = vec!["/pool/stats".into(), format!("/miner/{ADDR}/stats")];
    }
    Ok(p)
}

/// The payout keys of the seeded miners.
fn miner_keys() -> anyhow::Result<Vec<String>> {
    let base = WalletAddress::parse(ADDR, Network::Mainnet)?;
    let mut keys = vec![ADDR.to_owned()];
    for i in 1..MINERS {
        let id = PaymentId::parse(&format!("{i:016x}"))?;
        keys.push(base.integrated_with(id)?.text);
    }
    Ok(keys)
}

/// A chart chunk of `resolution` for the period holding `now`, a point at every step up to
/// `now`, values around `base`.
fn chunk(resolution: Resolution, now: UnixMillis, base: u64) -> ChunkBuilder {
    let period = stats::Chunk::period_of(resolution, now);
    let mut b = ChunkBuilder::new(resolution, period);
    let start = period * resolution.chunk_ms();
    let points = (now.0 - start) / resolution.step_ms();
    for offset in 0..=points {
        // Below 60 (minutes in an hour) or 24 (hours in a day).
        b.push(offset as u8, base + (offset * 7919) % (base / 10 + 1));
    }
    b
}

/// Fills the store as a worker with 1,000 miners would have.
async fn seed(
    store: &Arc<ShareStore>,
    writer: &ShareWriter,
    now: UnixMillis,
) -> anyhow::Result<()> {
    let keys = miner_keys()?;
    for (m, key) in keys.iter().enumerate() {
        for w in 0..WORKERS_PER_MINER {
            writer
                .append(NewShare {
                    height: Height(3_000_000),
                    timestamp: UnixMillis(now.0 - 1_000),
                    miner: key.as_str().into(),
                    worker: format!("rig{w}").into(),
                    difficulty: 100_000,
                    job_difficulty: 100_000,
                    pool_type: if m % 10 == 0 {
                        PoolType::Solo
                    } else {
                        PoolType::Pplns
                    },
                    trusted: false,
                    found_block: false,
                    host: 1,
                })
                .await?;
        }
    }
    for h in 0..BLOCKS {
        writer
            .record_block(FoundBlock {
                height: Height(2_999_000 + h * 5),
                hash: Hash32(spread(h)),
                network_difficulty: Difficulty(400_000_000_000),
                reward: Atomic(600_000_000_000),
                pool_type: if h % 10 == 0 {
                    PoolType::Solo
                } else {
                    PoolType::Pplns
                },
                miner: keys[(h % MINERS) as usize].as_str().into(),
                worker: "rig0".into(),
                timestamp: UnixMillis(now.0 - (BLOCKS - h) * 600_000),
                shares_at_find: Some(Difficulty(380_000_000_000)),
                status: if h < BLOCKS - 60 {
                    BlockStatus::Unlocked
                } else {
                    BlockStatus::Pending
                },
                blob: Vec::new(),
            })
            .await?;
    }
    writer.flush().await?;

    let layout = HistoryLayout {
        minute_points: 1440,
        history_days: 30,
    };
    let mut batch = StatsBatch::new();
    batch.put_layout(layout);
    for scope in PoolScope::ALL {
        batch.put_pool(
            scope,
            &PoolStats {
                hash_rate: 250_000_000,
                miners: MINERS,
                workers: MINERS * WORKERS_PER_MINER,
                total_hashes: 9_000_000_000_000_000,
                round_hashes: 120_000_000_000,
                effort: 3_000,
                last_block_found_time: now.as_secs() - 600,
                last_block_found: 2_999_000 + (BLOCKS - 1) * 5,
                total_blocks_found: BLOCKS,
                total_miners_paid: 800,
                total_payments: 300,
            },
        );
        for metric in [Metric::Hashrate, Metric::Miners] {
            let series = Series::Pool(scope, metric);
            let base = match metric {
                Metric::Hashrate => 250_000_000,
                Metric::Miners => MINERS,
            };
            // The hour being filled, and the 23 full hours before it.
            for hours_ago in 0..24 {
                let at = match hours_ago {
                    0 => now,
                    n => {
                        let then = now.0 - n * HOUR_MS;
                        UnixMillis(then - then % HOUR_MS + HOUR_MS - MINUTE_MS)
                    }
                };
                batch.put_chunk(series, layout, &chunk(Resolution::Minute, at, base));
            }
            batch.put_chunk(series, layout, &chunk(Resolution::Hour, now, base));
        }
    }
    batch.put_network(&NetworkStats {
        difficulty: 400_000_000_000,
        hash: Hash32([7; 32]).to_string(),
        height: 3_000_000,
        value: 600_000_000_000,
        ts: now.as_secs(),
    });
    let host = PoolServer {
        ip: "203.0.113.7".into(),
        block_id: 3_000_000,
        block_id_time: now.as_secs(),
        hostname: "pool.example.org".into(),
    };
    let port = |port, pool_type, difficulty| PoolPort {
        host: host.clone(),
        port,
        pool_type,
        difficulty,
        miners: MINERS / 3,
        description: "CPU".into(),
        tls: false,
    };
    batch.put_ports(&PoolPorts {
        global: vec![port(3333, PoolType::Pplns, 10_000)],
        pplns: vec![
            port(3333, PoolType::Pplns, 10_000),
            port(5555, PoolType::Pplns, 100_000),
        ],
        pps: Vec::new(),
        solo: vec![port(7777, PoolType::Solo, 1_000_000)],
    });
    let snap = store.read()?;
    for key in &keys {
        let miner = snap.miner_id(key)?.context("seeded miner not interned")?;
        let hash = 250_000 + u64::from(miner.0) % 1_000;
        batch.put_miner(
            miner,
            &EntityStats {
                hash,
                last_hash: now.0 - 1_000,
                total_hashes: 1_000_000_000,
                valid_shares: 10_000,
                invalid_shares: 3,
            },
        );
        batch.put_chunk(
            Series::Miner(miner),
            layout,
            &chunk(Resolution::Minute, now, hash),
        );
        batch.put_chunk(
            Series::Miner(miner),
            layout,
            &chunk(Resolution::Hour, now, hash),
        );
        let workers = snap.workers_of(miner)?;
        let names: Vec<&str> = workers.iter().map(|(_, n)| n.as_str()).collect();
        batch.put_identifiers(miner, &names);
        for (worker, _) in &workers {
            let stats = EntityStats {
                hash: hash / WORKERS_PER_MINER,
                last_hash: now.0 - 1_000,
                total_hashes: 200_000_000,
                valid_shares: 2_000,
                invalid_shares: 0,
            };
            batch.put_worker(*worker, &stats);
            batch.put_chunk(
                Series::Worker(*worker),
                layout,
                &chunk(Resolution::Minute, now, stats.hash),
            );
            batch.put_chunk(
                Series::Worker(*worker),
                layout,
                &chunk(Resolution::Hour, now, stats.hash),
            );
        }
    }
    drop(snap);
    let (puts, _) = batch.into_parts();
    writer.put_stats(puts).await?;
    Ok(())
}

/// 32 bytes that differ per `n` (the hashes of the seeded blocks).
fn spread(n: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        // The low byte of a mix of `n` and the position.
        *b = (n.wrapping_mul(2_654_435_761).wrapping_add(i as u64 * 97) >> (i % 8)) as u8;
    }
    out
}

/// What one path measured.
#[derive(Debug, Default)]
struct Measured {
    ok: u64,
    non_2xx: u64,
    errors: u64,
    /// Microseconds per answered request.
    latencies: Vec<u32>,
}

async fn drive(client: &reqwest::Client, url: &str, connections: usize, run: Duration) -> Measured {
    let deadline = Instant::now() + run;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut m = Measured::default();
            while Instant::now() < deadline {
                let started = Instant::now();
                match client.get(&url).send().await {
                    Ok(response) => {
                        let success = response.status().is_success();
                        let read = response.bytes().await.is_ok();
                        let micros =
                            u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                        if !read {
                            m.errors += 1;
                            continue;
                        }
                        m.latencies.push(micros);
                        if success {
                            m.ok += 1;
                        } else {
                            m.non_2xx += 1;
                        }
                    }
                    Err(_) => m.errors += 1,
                }
            }
            m
        }));
    }
    let mut all = Measured::default();
    for task in tasks {
        if let Ok(m) = task.await {
            all.ok += m.ok;
            all.non_2xx += m.non_2xx;
            all.errors += m.errors;
            all.latencies.extend(m.latencies);
        }
    }
    all
}

/// `n` microseconds as milliseconds with three decimals.
fn ms(micros: u32) -> String {
    format!("{}.{:03}", micros / 1000, micros % 1000)
}

fn percentile(sorted: &[u32], pct: usize) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let p = params()?;
    let maria = MariaDb::start().await.context("starting MariaDB")?;
    let url = maria.create_database("api_bench").await?;
    let db = mysql::connect(&url).await?;
    mysql::migrate(&db).await?;
    mysql::set_setting(&db, "pool.address", ADDR).await?;
    let settings: Settings = mysql::load_settings(&db, &Default::default()).await?;

    let dir = tempfile::tempdir()?;
    let store = ShareStore::open(&StoreOptions::new(dir.path()))?;
    let writer = store.writer(WriterConfig::default())?;
    let clock = SystemClock;
    let seeding = Instant::now();
    seed(&store, &writer, clock.now()).await?;
    writer.close().await?;
    println!(
        "seeded {MINERS} miners, {} workers, {BLOCKS} blocks in {} ms",
        MINERS * WORKERS_PER_MINER,
        seeding.elapsed().as_millis()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // One IP sends every request: the per-IP rate limit (`[api] rate_limit_per_sec`) is
    // turned off.
    let config = FileConfig::parse(&format!(
        "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"http://127.0.0.1:1\"]\n\
         [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
         hostname = \"bench\"\n[api]\nbind = \"{addr}\"\nrate_limit_per_sec = 0\n",
        dir.path().display(),
    ))?;
    let state = ApiState::new(db, store, settings, config, Arc::new(SystemClock));
    let stop = CancellationToken::new();
    let server = tokio::spawn(rxpool::api::serve(listener, state, stop.clone()));

    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(p.connections)
        .timeout(Duration::from_secs(10))
        .build()?;
    println!(
        "{} connections, {} s per path, keep-alive HTTP/1.1, load generator in this process",
        p.connections, p.seconds
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "path", "req/s", "p50 ms", "p99 ms", "2xx", "non-2xx", "errors"
    );
    for path in &p.paths {
        let url = format!("http://{addr}{path}");
        drive(&client, &url, p.connections, Duration::from_millis(500)).await;
        let started = Instant::now();
        let mut m = drive(&client, &url, p.connections, Duration::from_secs(p.seconds)).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        m.latencies.sort_unstable();
        let answered = m.ok + m.non_2xx;
        let shown: String = path.chars().take(40).collect();
        println!(
            "{:<40} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
            shown,
            answered * 1000 / elapsed_ms,
            ms(percentile(&m.latencies, 50)),
            ms(percentile(&m.latencies, 99)),
            m.ok,
            m.non_2xx,
            m.errors
        );
    }
    stop.cancel();
    let _ = server.await;
    drop(maria);
    Ok(())
}
