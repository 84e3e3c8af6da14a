//! Several pool hosts feeding one share store through NATS JetStream (issue 14), with a real
//! `nats-server -js` (devnet), the `rxpool ingest` binary as a child process writing LMDB in a
//! temp dir, and the pool's `FeedSink` in this process (one per pool host, each with its own
//! instance id and spool).
//!
//! Every share carries a unique credited difficulty, so the test can check that LMDB holds
//! each accepted share exactly once (not merely the right count) after: the ingest killed with
//! SIGKILL mid-stream, nats-server restarted mid-stream, nats-server frozen (SIGSTOP) and
//! resumed, a pool host restarted with a non-empty spool, and malformed or foreign messages on
//! the subject (dead-lettered, nothing written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rxpool::config::feed::FeedConfig;
use rxpool::devnet::{Nats, free_port};
use rxpool::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};
use rxpool::feed::FeedSink;
use rxpool::store::lmdb::{BlockStatus, FoundBlock, NewShare, ShareStore, StoreOptions};
use rxpool::store::sink::ShareSink;
use tokio_util::sync::CancellationToken;

const MAP_SIZE_MB: usize = 64;

fn feed_config(nats_url: &str, spool: &Path, extra: &str) -> FeedConfig {
    let config: FeedConfig = toml::from_str(&format!(
        "nats_url = \"{nats_url}\"\nspool_dir = \"{}\"\nbatch_ms = 20\nbatch_shares = 200\nack_timeout_ms = 500\n{extra}",
        spool.display()
    ))
    .unwrap();
    config.check().unwrap();
    config
}

/// `rxpool ingest` as a child process; killed if the test ends first.
struct Ingest {
    child: Child,
    config: PathBuf,
    log: PathBuf,
}

impl Ingest {
    fn spawn(dir: &Path, nats_url: &str) -> Ingest {
        let config = dir.join("ingest.toml");
        std::fs::write(
            &config,
            rxpool::devnet::nats::ingest_config_toml(dir, nats_url, MAP_SIZE_MB, "").unwrap(),
        )
        .unwrap();
        let log = dir.join("ingest.log");
        Self::start(config, log)
    }

    fn start(config: PathBuf, log: PathBuf) -> Ingest {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rxpool"))
            .arg("--config")
            .arg(&config)
            .arg("ingest")
            .env("RUST_LOG", "rxpool=debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("spawn rxpool ingest");
        Ingest { child, config, log }
    }

    /// SIGKILL, then a new process on the same config.
    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let restarted = Self::start(self.config.clone(), self.log.clone());
        *self = restarted;
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn share(host: u32, n: u64) -> NewShare {
    NewShare {
        height: Height(1000 + u64::from(host)),
        timestamp: UnixMillis(1_700_000_000_000 + n),
        miner: Arc::from(format!("4host{host}miner{}", n % 7).as_str()),
        worker: Arc::from("rig"),
        // Unique per share: the exactly-once check counts these.
        difficulty: u64::from(host) * 1_000_000 + n,
        job_difficulty: 1000,
        pool_type: PoolType::Pplns,
        trusted: false,
        found_block: false,
        host,
    }
}

fn block(host: u32, n: u8) -> FoundBlock {
    FoundBlock {
        height: Height(2000 + u64::from(host)),
        hash: Hash32([n; 32]),
        network_difficulty: Difficulty(5),
        reward: Atomic(600_000_000_000),
        pool_type: PoolType::Pplns,
        miner: Arc::from(format!("4host{host}finder").as_str()),
        worker: Arc::from("rig"),
        timestamp: UnixMillis(1_700_000_000_000),
        shares_at_find: None,
        status: BlockStatus::Candidate,
        blob: vec![n; 80],
    }
}

fn store(dir: &Path) -> Arc<ShareStore> {
    ShareStore::open(&StoreOptions {
        map_size: MAP_SIZE_MB << 20,
        ..StoreOptions::new(dir.join("lmdb"))
    })
    .unwrap()
}

/// Every share's credited difficulty in LMDB, with how often it is there.
fn stored_shares(dir: &Path) -> BTreeMap<u64, u32> {
    let store = store(dir);
    let snapshot = store.read().unwrap();
    let mut seen = BTreeMap::new();
    for item in snapshot.shares_in(Height(0)..=Height(10_000)).unwrap() {
        let (_, record) = item.unwrap();
        *seen.entry(record.difficulty()).or_insert(0) += 1;
    }
    seen
}

/// Waits until LMDB holds `expected` shares (or `limit` passes), then checks each is there
/// exactly once and stays so.
async fn assert_exactly_once(dir: &Path, expected: &[u64], limit: Duration, ingest: &Ingest) {
    let deadline = Instant::now() + limit;
    let mut seen = stored_shares(dir);
    while seen.values().map(|n| u64::from(*n)).sum::<u64>() < expected.len() as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = stored_shares(dir);
    }
    // Late redeliveries would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    seen = stored_shares(dir);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<_> = expected.iter().filter(|d| !seen.contains_key(d)).collect();
    let total: u64 = seen.values().map(|n| u64::from(*n)).sum();
    assert!(
        twice.is_empty() && missing.is_empty() && total == expected.len() as u64,
        "stored {total} of {} shares; {} twice (first {:?}), {} missing (first {:?}); ingest log tail:\n{}",
        expected.len(),
        twice.len(),
        twice.first(),
        missing.len(),
        missing.first(),
        tail(&ingest.log_text())
    );
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn has_block(dir: &Path, host: u32, n: u8) -> bool {
    let store = store(dir);
    let snapshot = store.read().unwrap();
    snapshot
        .block(Height(2000 + u64::from(host)), Hash32([n; 32]))
        .unwrap()
        .is_some()
}

/// Appends shares `range` of `host` at about `per_sec`, as a pool answering miners would.
async fn feed_shares(sink: &FeedSink, host: u32, range: std::ops::Range<u64>, per_sec: u64) {
    let started = Instant::now();
    for (i, n) in range.enumerate() {
        sink.append(share(host, n)).await.unwrap();
        let due = Duration::from_micros(i as u64 * 1_000_000 / per_sec);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_feed_one_ingest_exactly_once_through_a_killed_ingest_a_restarted_and_a_frozen_server()
 {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start().await.unwrap();
    let mut ingest = Ingest::spawn(dir.path(), &nats.url());
    let stop = CancellationToken::new();
    let sinks: Vec<FeedSink> = {
        let mut sinks = Vec::new();
        for host in [1u32, 2] {
            let config = feed_config(&nats.url(), &dir.path().join(format!("spool{host}")), "");
            sinks.push(
                FeedSink::start(&config, host, host, stop.clone())
                    .await
                    .unwrap(),
            );
        }
        sinks
    };
    let per_phase = 1500;
    let rate = 3000;
    let mut next = 0u64;
    let mut phase = |sinks: &[FeedSink]| {
        let range = next..next + per_phase;
        next += per_phase;
        let jobs: Vec<_> = sinks
            .iter()
            .enumerate()
            .map(|(i, sink)| {
                let sink = sink.clone();
                let range = range.clone();
                tokio::spawn(async move {
                    feed_shares(&sink, u32::try_from(i + 1).unwrap(), range, rate).await
                })
            })
            .collect();
        jobs
    };

    // Both hosts publish; a block from each goes out at once.
    let jobs = phase(&sinks);
    sinks[0].record_block(block(1, 1)).await.unwrap();
    sinks[1].record_block(block(2, 1)).await.unwrap();
    for job in jobs {
        job.await.unwrap();
    }
    // The ingest dies mid-stream (SIGKILL) and comes back.
    let jobs = phase(&sinks);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ingest.kill_and_restart();
    for job in jobs {
        job.await.unwrap();
    }
    // nats-server restarts mid-stream.
    let jobs = phase(&sinks);
    tokio::time::sleep(Duration::from_millis(200)).await;
    nats.restart().await.unwrap();
    for job in jobs {
        job.await.unwrap();
    }
    // nats-server is frozen for a while: the hosts keep accepting and spool; a block found
    // meanwhile is durable (spooled) within the acknowledgement timeout.
    let jobs = phase(&sinks);
    tokio::time::sleep(Duration::from_millis(200)).await;
    nats.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    sinks[0].record_block(block(1, 2)).await.unwrap();
    let waited = asked.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spooled = sinks[1]
        .stats()
        .spool_messages
        .load(std::sync::atomic::Ordering::Relaxed);
    nats.resume();
    for job in jobs {
        job.await.unwrap();
    }
    for sink in &sinks {
        sink.flush().await.unwrap();
    }
    assert!(
        waited < Duration::from_secs(3),
        "a block waited {waited:?} while NATS was frozen"
    );
    assert!(spooled > 0, "host 2 spooled nothing while NATS was frozen");

    let expected: Vec<u64> = (1..=2u64)
        .flat_map(|host| (0..next).map(move |n| host * 1_000_000 + n))
        .collect();
    assert_exactly_once(dir.path(), &expected, Duration::from_secs(60), &ingest).await;
    for (host, n) in [(1, 1), (2, 1), (1, 2)] {
        assert!(
            has_block(dir.path(), host, n),
            "block {n} of host {host} missing"
        );
    }
    for sink in &sinks {
        let stats = sink.stats();
        assert_eq!(
            stats
                .spool_messages
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        assert_eq!(
            stats
                .dropped_shares
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_host_restarted_with_a_non_empty_spool_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    // No server answers yet: everything goes to the spool, blocks included.
    let nowhere = format!("nats://127.0.0.1:{}", free_port().unwrap());
    let stop = CancellationToken::new();
    let sink = FeedSink::start(&feed_config(&nowhere, &spool, ""), 5, 5, stop.clone())
        .await
        .unwrap();
    feed_shares(&sink, 5, 0..1000, 20_000).await;
    sink.record_block(block(5, 9)).await.unwrap();
    sink.flush().await.unwrap();
    let stats = sink.stats();
    assert!(
        stats
            .spool_messages
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    // The host stops (its process ends) with the spool full of messages.
    stop.cancel();
    drop(sink);
    assert!(std::fs::metadata(spool.join("spool.log")).unwrap().len() > 0);

    let nats = Nats::start().await.unwrap();
    let ingest = Ingest::spawn(dir.path(), &nats.url());
    let stop = CancellationToken::new();
    let sink = FeedSink::start(&feed_config(&nats.url(), &spool, ""), 5, 5, stop.clone())
        .await
        .unwrap();
    let expected: Vec<u64> = (0..1000).map(|n| 5_000_000 + n).collect();
    assert_exactly_once(dir.path(), &expected, Duration::from_secs(30), &ingest).await;
    assert!(has_block(dir.path(), 5, 9));
    assert_eq!(
        std::fs::metadata(spool.join("spool.log")).unwrap().len(),
        0,
        "the drained spool is emptied"
    );
    drop(sink);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_new_shares_but_still_takes_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("nats://127.0.0.1:{}", free_port().unwrap());
    let stop = CancellationToken::new();
    let config = feed_config(&nowhere, &dir.path().join("spool"), "spool_max_mb = 1");
    let sink = FeedSink::start(&config, 6, 6, stop.clone()).await.unwrap();
    let mut refused = None;
    for n in 0..100_000 {
        if let Err(e) = sink.append(share(6, n)).await {
            refused = Some((n, e));
            break;
        }
        if n % 1000 == 999 {
            // Let the publisher spool what is queued.
            sink.flush().await.unwrap();
        }
    }
    let (n, error) = refused.expect("a 1 MiB spool never refused a share");
    assert!(n > 1000, "refused too early, at share {n}");
    assert!(error.to_string().contains("spool is full"), "{error}");
    sink.record_block(block(6, 1)).await.unwrap();
    let log = std::fs::metadata(dir.path().join("spool").join("spool.log"))
        .unwrap()
        .len();
    assert!(log >= 1 << 20, "the spool holds {log} bytes");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_foreign_messages_are_dead_lettered_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start().await.unwrap();
    let config = feed_config(&nats.url(), &dir.path().join("spool"), "");
    let context = rxpool::feed::link::connect(&config, "test").await.unwrap();
    let stream = rxpool::feed::link::ensure_stream(&context, &config)
        .await
        .unwrap();
    let ingest = Ingest::spawn(dir.path(), &nats.url());
    let good =
        rxpool::feed::wire::encode(3, 3, &[rxpool::store::lmdb::FeedItem::Share(share(3, 1))]);
    let publish = |subject: &str, id: Option<&str>, body: Vec<u8>| {
        let mut message =
            async_nats::jetstream::message::PublishMessage::build().payload(body.into());
        if let Some(id) = id {
            message = message.message_id(id);
        }
        let context = context.clone();
        let subject = subject.to_owned();
        async move {
            context
                .send_publish(subject, message)
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    publish("rxpool.shares.3", Some("junk-1"), b"hello".to_vec()).await;
    publish("rxpool.shares.3", None, good.clone()).await;
    publish("rxpool.shares.4", Some("foreign-1"), good.clone()).await;
    let wrong_version = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"v\":1", "\"v\":9");
    publish("rxpool.shares.3", Some("v9-1"), wrong_version.into_bytes()).await;
    // The same good message twice under one id: stored once.
    publish("rxpool.shares.3", Some("good-1"), good.clone()).await;
    publish("rxpool.shares.3", Some("good-1"), good.clone()).await;

    assert_exactly_once(dir.path(), &[3_000_001], Duration::from_secs(20), &ingest).await;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: "rxpool.dead.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut dead = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        let reason = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Rxpool-Reason"))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        dead.push((message.subject.to_string(), reason));
    }
    dead.sort();
    let reasons: Vec<&str> = dead.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert!(
        reasons.iter().any(|r| r.contains("not a feed message")),
        "{dead:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("no Nats-Msg-Id")),
        "{dead:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("instance 3")), "{dead:?}");
    assert!(reasons.iter().any(|r| r.contains("version 9")), "{dead:?}");
    assert!(dead.iter().any(|(s, _)| s == "rxpool.dead.4"), "{dead:?}");
    assert!(
        ingest.log_text().contains("dead-letter"),
        "{}",
        tail(&ingest.log_text())
    );
    // Nothing but the one good share reached the store.
    let store = store(dir.path());
    let snapshot = store.read().unwrap();
    assert_eq!(snapshot.share_count().unwrap(), 1);
    assert_eq!(snapshot.feed_ids().unwrap(), 1);
    assert!(snapshot.feed_id_seen("good-1").unwrap());
}
