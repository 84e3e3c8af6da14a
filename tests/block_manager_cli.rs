//! The shipped binary: `rxpool --config config.toml block-manager` reads its settings from
//! MySQL, aborts at an armed fail point with nothing committed, then on restart picks up a
//! settings change while running, credits a buried block, records the chain in `block_log`,
//! marks the block unlocked in LMDB and stops cleanly on SIGTERM.

#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::PoolType;
use rxpool::monero::daemon::DaemonClient;
use rxpool::store::lmdb::BlockStatus;
use rxpool::store::mysql::{self, credits};
use support::{POOL, balance, count, found, share};

fn block_manager(config: &std::path::Path, failpoint: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rxpool"));
    cmd.arg("--config")
        .arg(config)
        .arg("block-manager")
        .env("RUST_LOG", "info");
    match failpoint {
        Some(name) => cmd.env("RXPOOL_FAILPOINT", name),
        None => cmd.env_remove("RXPOOL_FAILPOINT"),
    };
    cmd.spawn().unwrap()
}

#[tokio::test]
async fn the_binary_aborts_at_a_fail_point_then_credits_once_after_a_settings_change_and_stops_on_sigterm()
 {
    let monerod = Monerod::start(MonerodOptions::default()).await.unwrap();
    let daemon = DaemonClient::new(&[monerod.rpc_url()]).unwrap();
    let (db, url) = support::fresh_db_with_url().await;
    let fee_address = support::other();
    mysql::set_setting(&db, "payout.feeAddress", &fee_address)
        .await
        .unwrap();
    mysql::set_setting(&db, "payout.blocksRequired", "10")
        .await
        .unwrap();
    let (dir, store, writer) = support::store();

    daemon.generate_blocks(2, POOL).await.unwrap();
    let (h, hash) = support::mine(&daemon, POOL).await;
    writer
        .append(share(h.0, 5, "minerA", 10, PoolType::Pplns))
        .await
        .unwrap();
    writer
        .record_block(found(h, hash, PoolType::Pplns, "minerA"))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    daemon.generate_blocks(10, &fee_address).await.unwrap();

    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{}\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
             hostname = \"test\"\n",
            dir.path().display(),
            monerod.rpc_url()
        ),
    )
    .unwrap();

    let status = block_manager(&config, Some("credit:before_commit"))
        .wait()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(6),
        "aborted at the fail point: {status}"
    );
    assert_eq!(count(&db, "paid_blocks").await, 0);
    assert_eq!(count(&db, "balance").await, 0);

    // Restarted with a deeper requirement: the block waits, until the operator lowers it
    // while the role runs (settings are re-read before every pass).
    mysql::set_setting(&db, "payout.blocksRequired", "50")
        .await
        .unwrap();
    let mut child = block_manager(&config, None);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(&db, "paid_blocks").await, 0, "not deep enough yet");
    mysql::set_setting(&db, "payout.blocksRequired", "10")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while count(&db, "paid_blocks").await == 0 || count(&db, "block_log").await == 0 {
        assert!(Instant::now() < deadline, "no credit within 90 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "block-manager exited early"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "clean stop on SIGTERM: {status}");

    let reward = support::reward_at(&daemon, h).await;
    // Defaults: pplns fee 0.6 %, no donations; one miner takes the whole window.
    let miner = reward - reward * 60 / 10_000;
    assert_eq!(balance(&db, "minerA", "pplns").await, miner);
    assert_eq!(balance(&db, &fee_address, "fees").await, reward - miner);
    let rec = store
        .read()
        .unwrap()
        .block(h, hash)
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(rec.status, BlockStatus::Unlocked, "{}", rec.reason);
    assert_eq!(rec.reward.0, reward);
    // The chain scan started below the tip (not at genesis) and logged our block's height.
    let logged = credits::chain_block(&db, &hash).await.unwrap();
    assert_eq!(logged, Some((h, false)));
    let first: u64 = sqlx::query_scalar("SELECT MIN(id) FROM block_log")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(first > 0, "no scan from genesis");
}
