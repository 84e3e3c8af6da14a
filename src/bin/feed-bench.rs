//! The share feed's benchmark (issue 14): shares per second through pool host → JetStream →
//! `ingest` → LMDB, and the latency from a share's accept to its LMDB commit; or, with
//! `outage`, what a NATS outage costs: the spool's size at the end of it and the time from
//! NATS's return until LMDB holds every share.
//!
//! Everything is real and local: a throwaway `nats-server -js` (devnet), the `ingest` role on
//! a temp LMDB, one `FeedSink` per simulated pool host (its own instance id and spool), fed by
//! a task per host appending shares as fast as it can (`throughput`) or at a fixed rate
//! (`outage`, the server frozen with SIGSTOP meanwhile). The latency is read back from LMDB's
//! `share_log`: each share's accept time (its timestamp) against its batch's commit time, so
//! it is whole milliseconds.
//!
//! `cargo run --release --bin feed-bench [throughput [SHARES=400000] [HOSTS=2]]`
//! `cargo run --release --bin feed-bench steady [SECS=20] [RATE=10000]` (latency at a rate)
//! `cargo run --release --bin feed-bench outage [SECS=60] [RATE=1000]`

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use rxpool::config::FileConfig;
use rxpool::devnet::Nats;
use rxpool::domain::{Clock, Height, PoolType, SystemClock};
use rxpool::feed::FeedSink;
use rxpool::store::lmdb::{NewShare, ShareStore};
use rxpool::store::sink::ShareSink;
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| -> anyhow::Result<u64> {
        args.get(i)
            .map(|a| {
                a.parse()
                    .with_context(|| format!("argument {a:?} is not a number"))
            })
            .unwrap_or(Ok(default))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        None | Some("throughput") => {
            runtime.block_on(throughput(number(1, 400_000)?, number(2, 2)?.max(1)))
        }
        Some("outage") => runtime.block_on(paced(number(1, 60)?, number(2, 1000)?.max(1), true)),
        Some("steady") => runtime.block_on(paced(number(1, 20)?, number(2, 10_000)?.max(1), false)),
        Some(other) => anyhow::bail!("unknown mode {other:?} (throughput, steady or outage)"),
    }
}

/// The LMDB host and the pool hosts of one run.
struct Bench {
    nats: Nats,
    dir: tempfile::TempDir,
    store: Arc<ShareStore>,
    stop: CancellationToken,
    ingest: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Bench {
    async fn start() -> anyhow::Result<Bench> {
        let nats = Nats::start().await?;
        let dir = tempfile::tempdir()?;
        let config = config(dir.path(), &nats.url())?;
        let store = ShareStore::open(&config.lmdb_options())?;
        let stop = CancellationToken::new();
        let ingest = tokio::spawn(rxpool::ingest::run(config, stop.clone()));
        Ok(Bench {
            nats,
            dir,
            store,
            stop,
            ingest,
        })
    }

    async fn sink(&self, host: u32) -> anyhow::Result<FeedSink> {
        let config = config(self.dir.path(), &self.nats.url())?;
        let mut feed = config.feed.context("[feed]")?;
        feed.spool_dir = self.dir.path().join(format!("spool{host}"));
        FeedSink::start(&feed, host, host, self.stop.clone()).await
    }

    fn stored(&self) -> anyhow::Result<u64> {
        Ok(self.store.read()?.share_count()?)
    }

    async fn wait_for(&self, total: u64) -> anyhow::Result<()> {
        while self.stored()? < total {
            anyhow::ensure!(!self.ingest.is_finished(), "the ingest stopped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Accept→commit latencies in ms, from the share log.
    fn latencies(&self) -> anyhow::Result<Vec<u64>> {
        let snapshot = self.store.read()?;
        let mut commits = HashMap::new();
        let mut out = Vec::new();
        for item in snapshot.log_since(None)? {
            let (seq, share) = item?;
            let committed = match commits.get(&seq) {
                Some(at) => *at,
                None => {
                    let at = snapshot
                        .log_time(seq)?
                        .context("a log batch without time")?;
                    commits.insert(seq, at);
                    at
                }
            };
            out.push(committed.0.saturating_sub(share.timestamp.0));
        }
        out.sort_unstable();
        Ok(out)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.ingest.await?
    }
}

fn config(dir: &Path, nats_url: &str) -> anyhow::Result<FileConfig> {
    Ok(FileConfig::parse(
        &rxpool::devnet::nats::ingest_config_toml(dir, nats_url, 1024, "")?,
    )?)
}

fn share(host: u32, n: u64) -> NewShare {
    NewShare {
        height: Height(3_000_000),
        timestamp: SystemClock.now(),
        miner: Arc::from(format!("4bench{host}x{}", n % 500).as_str()),
        worker: Arc::from("rig"),
        difficulty: 100_000,
        job_difficulty: 100_000,
        pool_type: PoolType::Pplns,
        trusted: false,
        found_block: false,
        host,
    }
}

fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * per_mille / 1000).min(sorted.len() - 1)]
}

async fn throughput(shares: u64, hosts: u64) -> anyhow::Result<()> {
    let bench = Bench::start().await?;
    let per_host = shares / hosts;
    let total = per_host * hosts;
    let mut sinks = Vec::new();
    for host in 1..=u32::try_from(hosts)? {
        sinks.push(bench.sink(host).await?);
    }
    let started = Instant::now();
    let producers: Vec<_> = sinks
        .iter()
        .enumerate()
        .map(|(i, sink)| {
            let sink = sink.clone();
            let host = u32::try_from(i + 1).unwrap_or(1);
            tokio::spawn(async move {
                for n in 0..per_host {
                    sink.append(share(host, n)).await?;
                }
                sink.flush().await
            })
        })
        .collect();
    for producer in producers {
        producer.await??;
    }
    let published = started.elapsed();
    bench.wait_for(total).await?;
    let committed = started.elapsed();
    let latencies = bench.latencies()?;
    let committed_ms = u64::try_from(committed.as_millis())?.max(1);
    println!(
        "{total} shares from {hosts} hosts: published in {} ms, all in LMDB after {committed_ms} ms: {} shares/s",
        published.as_millis(),
        total * 1000 / committed_ms
    );
    println!(
        "accept→commit latency: p50 {} ms, p99 {} ms, max {} ms ({} shares in the share log)",
        percentile(&latencies, 500),
        percentile(&latencies, 990),
        latencies.last().copied().unwrap_or(0),
        latencies.len()
    );
    bench.stop().await
}

/// Shares at `rate` for `secs`; with `freeze`, NATS is frozen after the first second.
async fn paced(secs: u64, rate: u64, freeze: bool) -> anyhow::Result<()> {
    let bench = Bench::start().await?;
    let sink = bench.sink(1).await?;
    let total = secs * rate;
    let started = Instant::now();
    let mut paused_at = None;
    let mut spool_at_end = (0, 0);
    for n in 0..total {
        if freeze && n == rate && paused_at.is_none() {
            // One second of normal traffic, then the outage.
            bench.nats.pause();
            paused_at = Some(Instant::now());
        }
        sink.append(share(1, n)).await?;
        let due = Duration::from_micros(n * 1_000_000 / rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    sink.flush().await?;
    let stats = sink.stats();
    spool_at_end.0 = stats.spool_bytes.load(Ordering::Relaxed);
    spool_at_end.1 = stats.spool_messages.load(Ordering::Relaxed);
    let outage = paused_at.map(|t| t.elapsed()).unwrap_or_default();
    if !freeze {
        bench.wait_for(total).await?;
        let latencies = bench.latencies()?;
        println!(
            "{total} shares at {rate}/s: accept→commit latency p50 {} ms, p99 {} ms, max {} ms",
            percentile(&latencies, 500),
            percentile(&latencies, 990),
            latencies.last().copied().unwrap_or(0),
        );
        return bench.stop().await;
    }
    bench.nats.resume();
    let resumed = Instant::now();
    // The ingest was cut off from the same server; it goes on by itself.
    bench.wait_for(total).await?;
    let outage_ms = u64::try_from(outage.as_millis())?.max(1);
    println!(
        "{total} shares at {rate}/s; NATS frozen for {outage_ms} ms: spool {} bytes in {} messages ({} bytes per share); every share in LMDB {} ms after NATS returned",
        spool_at_end.0,
        spool_at_end.1,
        spool_at_end.0 * 1000 / (rate * outage_ms).max(1),
        resumed.elapsed().as_millis()
    );
    bench.stop().await
}
