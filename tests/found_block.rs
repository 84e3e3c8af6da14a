//! A found block is never lost.
//!
//! 1. The pool records a found block in LMDB (a `candidate`, with its blob) before it submits
//!    it. The pool role runs as a child process (this test binary re-executed into
//!    `child_process_entry`) and is aborted at `pool:block_before_submit` and, restarted, at
//!    `pool:block_after_submit`; a miner finds a real RandomX block each time (difficulty-1
//!    regtest chain). The block-manager then finds both candidates, submits the one the
//!    daemon never got, confirms both against the chain and credits each exactly once.
//! 2. The chain-side safety net: a block mined to the pool wallet with no record is reported
//!    by the wallet scan (and listed by `rxpool admin block list`); `rxpool admin block add`
//!    records it once (a second `add` is refused) and the unlocker credits it once from the
//!    shares of its PPLNS window.
//!
//! Real components: MariaDB, monerod regtest, wallet-rpc, light-mode RandomX, LMDB.

#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;
#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rxpool::admin::blocks::{self, AdminBlockError};
use rxpool::block_manager::wallet_scan;
use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::{Atomic, Height, PoolType, SystemClock};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::monero::wallet::Wallet;
use rxpool::store::lmdb::BlockStatus;
use rxpool::store::mysql::block_issues::{self, IssueKind};
use rxpool::store::mysql::credits;
use serde_json::json;
use stratum::Client;
use tokio_util::sync::CancellationToken;

const CHILD: &str = "FOUND_BLOCK_CHILD";
const ADDR: &str = support::POOL;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, lmdb, daemon] = parts[..] else {
        panic!("bad child spec {spec}");
    };
    let config = pool_db::pool_config(url, std::path::Path::new(lmdb), daemon, 100, "pool_id = 3");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(180)).await;
        stop.cancel();
    });
    rxpool::pool::run(config, shutdown).await.unwrap();
}

/// Starts the pool role in a child process with `failpoint` armed, mines one block through
/// it and waits for the child to abort at the fail point. Returns the template height mined.
async fn find_block_in_a_pool_killed_at(
    spec: &str,
    port: u16,
    failpoint: &str,
    verifier: &Verifier,
) -> Height {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_process_entry", "--exact", "--nocapture"])
        .env(CHILD, spec)
        .env("RXPOOL_FAILPOINT", failpoint)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stream = pool_db::connect_when_open(port, || child.try_wait().unwrap().is_none())
        .await
        .expect("pool child ended before opening its port");
    let mut client = Client::new(stream).waiting(Duration::from_secs(60));
    // Until its first template, the pool refuses logins.
    let login = client
        .login_when_ready(json!({"login": ADDR, "pass": "x", "rigid": "rig1"}))
        .await;
    let job = login["result"]["job"].clone();
    assert!(job["blob"].is_string(), "{login}");
    let (nonce, result) = stratum::mine_share(verifier, &job).await;
    // Difficulty 1: the share is a block. The pool dies before it answers.
    let reply = client
        .try_call(
            "submit",
            json!({"id": login["result"]["id"], "job_id": job["job_id"], "nonce": nonce, "result": result}),
        )
        .await;
    assert!(
        reply.is_none(),
        "the pool answered instead of dying: {reply:?}"
    );
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(6), "{stderr}");
    assert!(
        stderr.contains(&format!("fail point {failpoint}: aborting")),
        "{stderr}"
    );
    Height(job["height"].as_u64().unwrap())
}

/// Shares at `height` that carry the found-block flag.
fn finder_shares(store: &rxpool::store::lmdb::ShareStore, height: Height) -> usize {
    let snap = store.read().unwrap();
    snap.shares_at(height)
        .unwrap()
        .filter(|s| s.as_ref().is_ok_and(|s| s.found_block()))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_found_by_a_pool_killed_before_or_after_submitting_it_is_credited_once() {
    let (url, db, port) = pool_db::pool_database_at_difficulty_one("found_block", ADDR).await;
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1,
    })
    .await
    .unwrap();
    let daemon = DaemonClient::new(&[monerod.rpc_url()]).unwrap();
    let (dir, store, writer) = support::store();
    let spec = format!("{url}|{}|{}", dir.path().display(), monerod.rpc_url());
    // A miner's earlier share: the PPLNS window of both blocks.
    writer
        .append(support::share(1, 1, "minerX", 500, PoolType::Pplns))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let verifier = Verifier::new(VerifierConfig::light(1));

    // Killed after recording, before submitting: the daemon never saw the block.
    let tip = monerod.height().await.unwrap();
    let h1 =
        find_block_in_a_pool_killed_at(&spec, port, "pool:block_before_submit", &verifier).await;
    assert_eq!(monerod.height().await.unwrap(), tip, "never submitted");
    let candidates = store.read().unwrap().blocks_at(h1).unwrap();
    assert_eq!(candidates.len(), 1, "recorded before the submission");
    let first = candidates[0].clone();
    assert_eq!(first.record.status, BlockStatus::Candidate);
    assert!(!first.record.blob.is_empty(), "its blob is kept");
    assert_eq!(first.miner, ADDR);
    assert_eq!(
        finder_shares(&store, h1),
        1,
        "the finder's share came first"
    );

    // The block-manager submits it again: the chain is not at its height yet.
    let params = Arc::new(support::params(1_000, 60, 30));
    let unlocker = support::unlocker(monerod.rpc_url(), &store, &writer, &db, &params);
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.waiting, 1, "{report:?}");
    assert_eq!(
        support::chain_hash(&daemon, h1).await,
        first.record.hash,
        "the lost block reached the chain"
    );
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.waiting, 1, "{report:?}");
    let rec = support::record_of(&store, h1, first.record.hash);
    assert_eq!(
        rec.status,
        BlockStatus::Pending,
        "a candidate on the chain is found"
    );

    // Restarted and killed after submitting, before anything else was written.
    let h2 =
        find_block_in_a_pool_killed_at(&spec, port, "pool:block_after_submit", &verifier).await;
    assert_eq!(h2, Height(h1.0 + 1));
    let second = store.read().unwrap().blocks_at(h2).unwrap();
    assert_eq!(second.len(), 1);
    let second = second[0].clone();
    assert_eq!(
        second.record.status,
        BlockStatus::Candidate,
        "its status was never updated"
    );
    assert_eq!(
        support::chain_hash(&daemon, h2).await,
        second.record.hash,
        "submitted before the crash"
    );
    assert_eq!(finder_shares(&store, h2), 1, "the finder's share is kept");

    // Buried: each is confirmed and credited exactly once.
    daemon.generate_blocks(61, &support::other()).await.unwrap();
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.credited, 2, "{report:?}");
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    let mysql = db;
    assert_eq!(support::count(&mysql, "paid_blocks").await, 2);
    let expected = support::reward_at(&daemon, h1).await + support::reward_at(&daemon, h2).await;
    assert_eq!(credits::owed_total(&mysql).await.unwrap(), Atomic(expected));
    for (h, b) in [(h1, &first), (h2, &second)] {
        let rec = support::record_of(&store, h, b.record.hash);
        assert_eq!(rec.status, BlockStatus::Unlocked);
    }
}

#[tokio::test]
async fn a_block_paying_the_pool_wallet_with_no_record_is_reported_and_added_once() {
    let support::ChainWithWallet {
        monerod,
        wallet_rpc: _wallet_rpc,
        wallet,
        pool_address,
        daemon,
    } = support::chain_with_wallet().await;
    let mysql = support::fresh_db().await;
    let (_dir, store, writer) = support::store();

    daemon.generate_blocks(3, &support::other()).await.unwrap();
    let (foreign, _) = support::mine(&daemon, &support::other()).await;
    let (height, hash) = support::mine(&daemon, &pool_address).await;
    for s in [
        support::share(height.0, 10, "minerA", 400, PoolType::Pplns),
        support::share(height.0 - 1, 5, "minerB", 600, PoolType::Pplns),
    ] {
        writer.append(s).await.unwrap();
    }
    writer.flush().await.unwrap();
    daemon.generate_blocks(60, &support::other()).await.unwrap();
    wallet.refresh().await.unwrap();

    // Reported: once as new, and listed for the operator; a second pass does not duplicate it.
    for _ in 0..2 {
        let report = wallet_scan::pass(&daemon, &wallet, &store, &mysql, &SystemClock)
            .await
            .unwrap();
        assert_eq!(report.coinbases, 1, "{report:?}");
        assert_eq!(
            report.unrecorded,
            [wallet_scan::Unrecorded {
                height,
                hash,
                orphaned: false
            }]
        );
    }
    let open = block_issues::open(&mysql, Some(IssueKind::Unrecorded))
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert!(
        open[0]
            .reason
            .contains(&format!("rxpool admin block add {height}")),
        "{}",
        open[0].reason
    );
    let listed = support::admin_list(&mysql, &store).await;
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&hash.to_string()) && l.contains("unrecorded")),
        "{listed}"
    );

    // `add` refuses what is not the pool's, or not there yet.
    let add = |h: Height| blocks::add(h, &mysql, &store, &daemon, &wallet);
    let err = add(foreign).await.unwrap_err();
    assert!(
        matches!(err, AdminBlockError::NotPoolWallet { .. }),
        "{err}"
    );
    let err = add(Height(1_000_000)).await.unwrap_err();
    assert!(matches!(err, AdminBlockError::NoSuchHeight(_)), "{err}");

    // Added once; a second `add` is refused.
    add(height).await.unwrap();
    let err = add(height).await.unwrap_err();
    assert!(
        matches!(err, AdminBlockError::AlreadyRecorded { .. }),
        "{err}"
    );
    let report = wallet_scan::pass(&daemon, &wallet, &store, &mysql, &SystemClock)
        .await
        .unwrap();
    assert!(report.unrecorded.is_empty(), "{report:?}");
    assert!(block_issues::open(&mysql, None).await.unwrap().is_empty());

    // Credited once, from the shares of the window ending at it.
    let params = Arc::new(support::params(1_000, 60, 30));
    let unlocker = support::unlocker(monerod.rpc_url(), &store, &writer, &mysql, &params);
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.credited, 1, "{report:?}");
    let err = add(height).await.unwrap_err();
    assert!(
        matches!(err, AdminBlockError::AlreadyRecorded { .. }),
        "{err}"
    );
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    let reward = support::reward_at(&daemon, height).await;
    let pot = reward - reward * 60 / 10_000;
    assert_eq!(
        support::balance(&mysql, "minerA", "pplns").await,
        pot * 400 / 1_000
    );
    assert_eq!(
        support::balance(&mysql, "minerB", "pplns").await,
        pot * 600 / 1_000
    );
    assert_eq!(support::count(&mysql, "paid_blocks").await, 1);
    assert_eq!(credits::owed_total(&mysql).await.unwrap(), Atomic(reward));
}
