//! Two pool hosts, one share store (issue 14) end to end: two `pool` roles in this process, each
//! with its own pool id (so its own extra-nonce instance), stratum port and `[feed]` spool,
//! publish to a real `nats-server -js`; the `ingest` role writes LMDB. Miners mine real
//! light-mode RandomX on a difficulty-1 regtest monerod (every share is a block).
//!
//! The two hosts use two databases on the devnet MariaDB: in production they share one, but
//! on one test machine they would then both bind the one port of `port_config` on 127.0.0.1
//! (the test miner connects to 127.0.0.1 only). Nothing of the feed depends on MySQL.

#[path = "pipeline/miner.rs"]
#[expect(dead_code, reason = "these miners only mine until the pool closes")]
mod miner;
#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "only the database and config helpers are used")]
mod pool_db;

use std::time::{Duration, Instant};

use miner::MinerSpec;
use rxpool::config::FileConfig;
use rxpool::devnet::{Monerod, MonerodOptions, Nats};
use rxpool::domain::Difficulty;
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::store::lmdb::{ShareStore, StoreOptions};
use tokio_util::sync::CancellationToken;

const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

fn with_feed(toml: String, nats: &str, spool: &std::path::Path) -> FileConfig {
    FileConfig::parse(&format!(
        "{toml}\n[feed]\nnats_url = \"{nats}\"\nspool_dir = \"{}\"\nbatch_ms = 20\n",
        spool.display()
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pool_hosts_feed_one_ingest_every_accepted_share_once_and_every_block() {
    pool_db::logs();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1,
    })
    .await
    .unwrap();
    let nats = Nats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lmdb = dir.path().join("lmdb");

    let mut pools = Vec::new();
    let mut ports = Vec::new();
    for pool_id in [1u32, 2] {
        let (url, _db, port) =
            pool_db::pool_database(&format!("feed_host_{pool_id}"), ADDR, 1).await;
        let toml = pool_db::pool_config_toml(
            &url,
            &dir.path().join(format!("unused-lmdb-{pool_id}")),
            &monerod.rpc_url(),
            100,
            &format!("pool_id = {pool_id}"),
        );
        let config = with_feed(
            toml,
            &nats.url(),
            &dir.path().join(format!("spool{pool_id}")),
        );
        let stop = CancellationToken::new();
        pools.push((stop.clone(), tokio::spawn(rxpool::pool::run(config, stop))));
        ports.push(port);
    }
    // The central host: the ingest, on the real LMDB.
    let (url, _db) = pool_db::database_for("feed_central", ADDR).await;
    let central = with_feed(
        pool_db::pool_config_toml(&url, &lmdb, &monerod.rpc_url(), 100, "pool_id = 9"),
        &nats.url(),
        &dir.path().join("spool-central"),
    );
    let ingest_stop = CancellationToken::new();
    let ingest = tokio::spawn(rxpool::ingest::run(central, ingest_stop.clone()));

    for (port, (_, pool)) in ports.iter().zip(&pools) {
        pool_db::connect_when_open(*port, || !pool.is_finished())
            .await
            .expect("a pool ended before opening its port");
    }
    let start = monerod.height().await.unwrap().0;
    let verifier = Verifier::new(VerifierConfig::light(2));
    let miners: Vec<_> = ports
        .iter()
        .map(|port| {
            let spec = MinerSpec {
                login: ADDR.to_owned(),
                pass: format!("rig{port}"),
                port: *port,
            };
            tokio::spawn(miner::mine_until_closed(
                spec,
                verifier.clone(),
                Difficulty(1),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    while monerod.height().await.unwrap().0 < start + 6 {
        assert!(Instant::now() < deadline, "no blocks");
        assert!(miners.iter().all(|m| !m.is_finished()), "a miner stopped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The pools stop (closing their miners) and flush their feeds.
    for (stop, _) in &pools {
        stop.cancel();
    }
    let mut accepted = 0;
    let mut per_host = Vec::new();
    for m in miners {
        let report = m.await.unwrap();
        per_host.push(report.accepted);
        accepted += report.accepted;
    }
    for (_, pool) in pools {
        tokio::time::timeout(Duration::from_secs(60), pool)
            .await
            .expect("a pool did not stop")
            .unwrap()
            .unwrap();
    }
    assert!(
        per_host.iter().all(|n| *n > 0),
        "a host accepted nothing: {per_host:?}"
    );

    let store = ShareStore::open(&StoreOptions {
        map_size: 64 << 20,
        ..StoreOptions::new(&lmdb)
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = store.read().unwrap().share_count().unwrap();
        if stored >= accepted || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let end = monerod.height().await.unwrap().0;
    let missing = pool_db::chain_blocks_not_recorded(&monerod.rpc_url(), &store, start, end).await;
    let snap = store.read().unwrap();
    assert!(
        missing.is_empty(),
        "blocks on chain never recorded: {missing:?}"
    );
    assert_eq!(
        snap.share_count().unwrap(),
        accepted,
        "every share answered OK by either host is in LMDB once ({per_host:?})"
    );
    let hosts = snap.host_counters().unwrap();
    for (pool_id, n) in [1u32, 2].iter().zip(&per_host) {
        let valid = hosts
            .iter()
            .find(|(h, _)| h == pool_id)
            .map(|(_, c)| c.valid);
        assert_eq!(valid, Some(*n), "host {pool_id}'s counters: {hosts:?}");
    }
    eprintln!(
        "{accepted} shares ({per_host:?}) and {} blocks from two hosts through NATS",
        end - start
    );
    drop(snap);
    ingest_stop.cancel();
    ingest.await.unwrap().unwrap();
}
