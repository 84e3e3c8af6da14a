//! A job is never harder than its block (issue 9, item 11), against the real pool role
//! (`pool::run` on config.toml + devnet MariaDB), a low-difficulty regtest monerod and miners
//! that hash real light-mode RandomX and, as xmrig does, submit only hashes that meet their
//! job target.
//!
//! The port starts miners at 50,000 and one miner asks for `+50000`, far above the chain's
//! difficulty: every job (and a proxy's `target_diff`) must be cut at the template's
//! difficulty, and every block-meeting hash the miners find must reach the chain. Before the
//! cap, the miners never submitted those hashes and the chain stood still.

#[path = "pipeline/miner.rs"]
#[expect(
    dead_code,
    reason = "this binary mines without stopping the pool under load"
)]
mod miner;
#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;

use miner::{MinerReport, MinerSpec};
use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::{Difficulty, Target};
use rxpool::monero::pow::{Verifier, VerifierConfig};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
/// The chain's difficulty: light-mode RandomX meets it every few seconds.
const NETWORK: u64 = 12;
/// The port's starting difficulty and the `+N` one miner asks for.
const HIGH: u64 = 50_000;
/// Blocks the chain must gain before the miners stop (or the deadline passes).
const WANTED_BLOCKS: u64 = 4;

/// Logs in as `agent` and returns the first job.
async fn login_job(port: u16, login: &str, agent: &str) -> Value {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut io = BufReader::new(stream);
    let req = json!({"id": 1, "jsonrpc": "2.0", "method": "login",
                     "params": {"login": login, "pass": "x", "agent": agent}});
    io.get_mut()
        .write_all(format!("{req}\n").as_bytes())
        .await
        .unwrap();
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), io.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert!(reply["error"].is_null(), "{reply}");
    reply["result"]["job"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_above_the_network_difficulty_get_block_targets_and_every_block_they_find_lands() {
    let (url, _db, port) = pool_db::pool_database("job_cap", ADDR, HIGH).await;
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: NETWORK,
    })
    .await
    .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let config = pool_db::pool_config(&url, lmdb.path(), &monerod.rpc_url(), 100, "pool_id = 9");
    let shutdown = CancellationToken::new();
    let role = tokio::spawn(rxpool::pool::run(config, shutdown.clone()));
    if pool_db::connect_when_open(port, || !role.is_finished())
        .await
        .is_none()
    {
        panic!("pool ended: {:?}", role.await);
    }

    let start = monerod.height().await.unwrap().0;
    let network = Difficulty(u128::from(NETWORK));
    let stop = CancellationToken::new();
    let verifier = Verifier::new(VerifierConfig::light(2));
    let miners: Vec<_> = [format!("{ADDR}+{HIGH}"), ADDR.to_owned()]
        .into_iter()
        .map(|login| {
            let spec = MinerSpec {
                login,
                pass: "rig".into(),
                port,
            };
            tokio::spawn(miner::mine(spec, verifier.clone(), network, stop.clone()))
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while monerod.height().await.unwrap().0 < start + WANTED_BLOCKS
        && tokio::time::Instant::now() < deadline
    {
        assert!(
            miners.iter().all(|m| !m.is_finished()),
            "a miner stopped early"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    let mut reports: Vec<MinerReport> = Vec::new();
    for m in miners {
        reports.push(m.await.unwrap());
    }
    let end = monerod.height().await.unwrap().0;
    // xmr-node-proxy: the whole template; its share target is the block's too.
    let proxy = login_job(port, ADDR, "xmr-node-proxy/0.3.2").await;
    pool_db::stop(shutdown, role).await;

    // Every height gained was mined by these miners (the chain is offline); a height at which
    // a miner found a block-meeting hash holds a block: the first such hash there won it,
    // later ones were stale by construction. Before the cap none was submitted.
    let found: BTreeSet<u64> = reports
        .iter()
        .flat_map(|r| r.block_heights.iter().copied())
        .collect();
    let gained: BTreeSet<u64> = (start..end).collect();
    let hashes: u64 = reports.iter().map(|r| r.hashes).sum();
    eprintln!(
        "{hashes} hashes, block-meeting at {} heights, chain gained {} blocks",
        found.len(),
        gained.len()
    );
    assert!(
        !found.is_empty(),
        "no block-meeting hash in 90 s: {reports:?}"
    );
    assert_eq!(
        found, gained,
        "block-meeting hashes vs the chain: {reports:?}"
    );
    let block_target = Target::Four.hex(network);
    for r in &reports {
        assert_eq!(
            r.targets,
            BTreeSet::from([block_target.clone()]),
            "{}: every job is cut at the block's difficulty",
            r.login
        );
    }
    assert_eq!(proxy["difficulty"].as_u64(), Some(NETWORK), "{proxy}");
    assert_eq!(proxy["target_diff"].as_u64(), Some(NETWORK), "{proxy}");
}
