//! Crash safety: the block-manager runs as a child process and is aborted at every fail point
//! of crediting (before the transaction, inside it, after the commit before the LMDB mark;
//! the same for a PPS height), restarted each time, and in the end every block and PPS
//! height is credited exactly once, to the atomic unit.
//!
//! The child is this test binary re-executed into `child_process_entry` (a no-op in normal
//! runs, where its variable is unset) with `RXPOOL_FAILPOINT` set; it runs `block_manager::run_with`, the role's loop,
//! against the same MariaDB, LMDB directory, monerod and wallet-rpc as the parent.

#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use rxpool::block_manager::{RoleConfig, run_with};
use rxpool::domain::{Atomic, Bps, Height, PoolType};
use rxpool::monero::wallet::Wallet;
use rxpool::store::lmdb::{BlockStatus, StoreOptions};
use rxpool::store::mysql::credits;
use support::{balance, count, found, share};

const CHILD: &str = "BM_CRASH_CHILD";

#[tokio::test]
async fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [mysql_url, lmdb, daemon, wallet] = parts[..] else {
        panic!("bad child spec {spec}");
    };
    let config = RoleConfig {
        mysql_url: mysql_url.to_owned(),
        mysql_max_connections: 4,
        lmdb: StoreOptions::new(lmdb),
        daemon_urls: vec![daemon.to_owned()],
        wallet_url: wallet.to_owned(),
        params: support::params(1_000, 60, 30),
        unlock_interval: Duration::from_millis(100),
        reload_settings: None,
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        stop.cancel();
    });
    run_with(config, shutdown).await.unwrap();
}

/// Runs the role in a child process with `failpoint` armed; returns whether it aborted.
fn run_child(spec: &str, failpoint: Option<&str>) -> bool {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_process_entry", "--exact", "--nocapture"])
        .env(CHILD, spec)
        .env("RUST_LOG", "warn");
    match failpoint {
        Some(name) => cmd.env("RXPOOL_FAILPOINT", name),
        None => cmd.env_remove("RXPOOL_FAILPOINT"),
    };
    let status = cmd.status().unwrap();
    match status.signal() {
        Some(6) => true,
        Some(other) => panic!("child killed by signal {other}"),
        None => {
            assert!(status.success(), "child failed: {status}");
            false
        }
    }
}

#[tokio::test]
async fn a_block_manager_killed_at_every_step_credits_each_block_exactly_once() {
    let support::ChainWithWallet {
        monerod,
        wallet_rpc,
        wallet,
        pool_address,
        daemon,
    } = support::chain_with_wallet().await;
    let (mysql, mysql_url) = support::fresh_db_with_url().await;
    let (dir, store, writer) = support::store();

    daemon.generate_blocks(3, &pool_address).await.unwrap();
    let mut found_blocks = Vec::new();
    for (ty, miner) in [(PoolType::Pplns, "minerA"), (PoolType::Solo, "minerC")] {
        let (height, hash) = support::mine(&daemon, &pool_address).await;
        writer
            .record_block(found(height, hash, ty, miner))
            .await
            .unwrap();
        found_blocks.push((height, hash));
    }
    let (h1, _) = found_blocks[0];
    let pps_height = Height(h1.0 - 1);
    for s in [
        share(h1.0, 30, "minerA", 600, PoolType::Pplns),
        share(h1.0 - 1, 20, "minerB", 400, PoolType::Pplns),
        share(pps_height.0, 10, "minerD", 1, PoolType::Pps),
    ] {
        writer.append(s).await.unwrap();
    }
    writer.flush().await.unwrap();
    daemon.generate_blocks(60, &support::other()).await.unwrap();
    wallet.refresh().await.unwrap();

    let spec = format!(
        "{mysql_url}|{}|{}|{}",
        dir.path().display(),
        monerod.rpc_url(),
        wallet_rpc.rpc_url()
    );
    let status_of = |i: usize| {
        let (h, hash) = found_blocks[i];
        store
            .read()
            .unwrap()
            .block(h, hash)
            .unwrap()
            .unwrap()
            .record
            .status
    };

    assert!(run_child(&spec, Some("credit:before_tx")));
    assert_eq!(count(&mysql, "paid_blocks").await, 0);
    assert!(run_child(&spec, Some("credit:after_paid_row")));
    assert_eq!(count(&mysql, "paid_blocks").await, 0, "rolled back");
    assert!(run_child(&spec, Some("credit:before_commit")));
    assert_eq!(count(&mysql, "paid_blocks").await, 0, "rolled back");
    assert_eq!(count(&mysql, "balance").await, 0, "rolled back");
    assert!(run_child(&spec, Some("credit:after_commit")));
    assert_eq!(count(&mysql, "paid_blocks").await, 1);
    assert_eq!(status_of(0), BlockStatus::Pending, "committed, not marked");
    // Restart: the first block is only marked, the second is credited, then the crash.
    assert!(run_child(&spec, Some("credit:after_commit")));
    assert_eq!(count(&mysql, "paid_blocks").await, 2);
    assert_eq!(status_of(0), BlockStatus::Unlocked);
    assert_eq!(status_of(1), BlockStatus::Pending);
    assert!(run_child(&spec, Some("pps:before_commit")));
    assert_eq!(status_of(1), BlockStatus::Unlocked);
    assert_eq!(count(&mysql, "pps_paid_heights").await, 0, "rolled back");
    assert!(run_child(&spec, Some("pps:after_commit")));
    assert_eq!(count(&mysql, "pps_paid_heights").await, 1);
    // A clean run finishes; a second one finds nothing left to do.
    assert!(!run_child(&spec, None));
    assert!(!run_child(&spec, None));

    let r1 = support::reward_at(&daemon, found_blocks[0].0).await;
    let r2 = support::reward_at(&daemon, found_blocks[1].0).await;
    let rp = support::reward_at(&daemon, pps_height).await;
    let pot = r1 - r1 * 60 / 10_000;
    assert_eq!(
        balance(&mysql, "minerA", "pplns").await,
        (u128::from(pot) * 600 / 1_000) as u64
    );
    assert_eq!(
        balance(&mysql, "minerB", "pplns").await,
        (u128::from(pot) * 400 / 1_000) as u64
    );
    assert_eq!(
        balance(&mysql, "minerC", "solo").await,
        r2 - r2 * 40 / 10_000
    );
    assert_eq!(
        balance(&mysql, "minerD", "pps").await,
        rp - Atomic(rp).fee(Bps(650)).0
    );
    assert_eq!(
        credits::owed_total(&mysql).await.unwrap(),
        Atomic(r1 + r2 + rp),
        "each block and the PPS height credited exactly once"
    );
    assert_eq!(count(&mysql, "paid_blocks").await, 2);
    assert_eq!(count(&mysql, "pps_paid_heights").await, 1);
    assert_eq!(
        credits::cursor(&mysql, "pps")
            .await
            .unwrap()
            .map(|h| h > pps_height),
        Some(true)
    );
}
