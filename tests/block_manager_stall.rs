//! One bad block does not stall the rest: a found block and a PPS height whose crediting
//! fails (a MariaDB trigger refuses exactly their paid rows, as a constraint error would)
//! sit between good ones. The good ones are credited; the poisoned ones are set aside with
//! their reason (in `block_issues`, beside the block in LMDB, in `rxpool admin block list`),
//! skipped until due, and once the cause is gone (after the block's backoff, and at once for
//! the PPS height an operator retries) credited exactly once.
//!
//! Real components: MariaDB (a fresh database), monerod regtest, wallet-rpc (the PPS reserve
//! check), LMDB in a temp dir.

#[path = "block_manager/support.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rxpool::admin::blocks::{self, AdminBlockError, BlockCommand};
use rxpool::block_manager::pps_runner::PpsRunner;
use rxpool::domain::{Atomic, Clock, Hash32, Height, PoolType, SystemClock, UnixMillis};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::wallet::Wallet;
use rxpool::store::lmdb::BlockStatus;
use rxpool::store::mysql::block_issues::{self, IssueKind};
use rxpool::store::mysql::credits;
use support::{count, found, share};

/// The real clock, moved forward by the milliseconds held.
#[derive(Debug, Default)]
struct Ahead(AtomicU64);

impl Clock for Ahead {
    fn now(&self) -> UnixMillis {
        UnixMillis(SystemClock.now().0 + self.0.load(Ordering::SeqCst))
    }
}

async fn poison(mysql: &sqlx::MySqlPool, name: &str, table: &str, condition: &str) {
    let sql = format!(
        "CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW \
         IF {condition} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned by the test'; \
         END IF"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(mysql)
        .await
        .unwrap();
}

async fn cure(mysql: &sqlx::MySqlPool, name: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER {name}")))
        .execute(mysql)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_poisoned_block_between_two_good_ones_is_set_aside_and_credited_once_when_cured() {
    let support::ChainWithWallet {
        monerod,
        wallet_rpc: _wallet_rpc,
        wallet,
        pool_address,
        daemon,
    } = support::chain_with_wallet().await;
    let mysql = support::fresh_db().await;
    let (_dir, store, writer) = support::store();

    // Enough coinbase in the pool wallet for the PPS reserve check.
    daemon.generate_blocks(12, &pool_address).await.unwrap();
    let mut found_blocks = Vec::new();
    for miner in ["minerA", "minerB", "minerC"] {
        let (height, hash) = support::mine(&daemon, &pool_address).await;
        writer
            .record_block(found(height, hash, PoolType::Pplns, miner))
            .await
            .unwrap();
        writer
            .append(share(height.0, 10, miner, 1_000, PoolType::Pplns))
            .await
            .unwrap();
        found_blocks.push((height, hash));
    }
    // PPS shares at three chain heights below the blocks.
    let pps_heights = [Height(2), Height(3), Height(4)];
    for h in pps_heights {
        writer
            .append(share(h.0, 5, "minerD", 1, PoolType::Pps))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    daemon.generate_blocks(60, &support::other()).await.unwrap();
    wallet.refresh().await.unwrap();

    let (_, poisoned) = found_blocks[1];
    poison(
        &mysql,
        "poison_block",
        "paid_blocks",
        &format!("NEW.hash = '{poisoned}'"),
    )
    .await;
    poison(
        &mysql,
        "poison_pps",
        "pps_paid_heights",
        &format!("NEW.height = {}", pps_heights[1].0),
    )
    .await;

    let params = Arc::new(support::params(1_000, 60, 30));
    let ahead = Arc::new(Ahead::default());
    let mut unlocker = support::unlocker(monerod.rpc_url(), &store, &writer, &mysql, &params);
    unlocker.clock = ahead.clone();
    let pps = PpsRunner {
        daemon: DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
        wallet,
        store: Arc::clone(&store),
        mysql: mysql.clone(),
        params: Arc::clone(&params),
        clock: Arc::new(SystemClock),
    };
    let status_of = |i: usize| {
        let (h, hash) = found_blocks[i];
        support::record_of(&store, h, hash)
    };
    let retry = |hash: Option<Hash32>, pps: Option<Height>| {
        let cmd = BlockCommand::Retry {
            hash,
            pps: pps.map(|h| h.0),
        };
        blocks::run_on(cmd, &mysql, &store)
    };

    // The two good blocks are credited; the poisoned one is set aside with its reason.
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.credited, report.set_aside), (2, 1), "{report:?}");
    assert_eq!(status_of(0).status, BlockStatus::Unlocked);
    assert_eq!(status_of(2).status, BlockStatus::Unlocked);
    let aside = status_of(1);
    assert_eq!(aside.status, BlockStatus::Pending);
    assert!(aside.reason.starts_with("set aside:"), "{}", aside.reason);
    assert!(
        aside.reason.contains("poisoned by the test"),
        "{}",
        aside.reason
    );
    let issue = block_issues::get(&mysql, IssueKind::Block, found_blocks[1].0, &poisoned)
        .await
        .unwrap()
        .expect("the poisoned block is recorded as set aside");
    assert_eq!(issue.attempts, 1);
    assert!(issue.reason.contains("poisoned by the test"));
    assert!(issue.retry_at_ms > issue.last_seen_ms, "a backoff is set");
    let listed = support::admin_list(&mysql, &store).await;
    assert!(listed.contains("set aside or unrecorded (1)"), "{listed}");
    assert!(
        listed.lines().any(|l| l.contains(&poisoned.to_string())
            && l.contains("block")
            && l.contains("poisoned")),
        "{listed}"
    );

    // Not due yet: the next pass skips it (no new attempt).
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.credited, report.set_aside), (0, 1), "{report:?}");
    let issue = block_issues::get(&mysql, IssueKind::Block, found_blocks[1].0, &poisoned)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(issue.attempts, 1, "skipped during its backoff");

    // PPS: the poisoned height is set aside, the cursor goes past it, the others are paid.
    let report = pps.pass().await.unwrap();
    assert_eq!(report.paused, None, "{report:?}");
    assert_eq!(report.credited, 2, "{report:?}");
    assert!(report.next.unwrap() > pps_heights[2]);
    assert_eq!(count(&mysql, "pps_paid_heights").await, 2);
    let open = block_issues::open(&mysql, Some(IssueKind::Pps))
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].height, pps_heights[1]);
    assert!(open[0].reason.contains("poisoned by the test"));

    // An operator retry of something that is not set aside is refused.
    let err = retry(Some(found_blocks[0].1), None).await.unwrap_err();
    assert!(matches!(err, AdminBlockError::NotSetAside(_)), "{err}");

    // Retried while still poisoned: set aside again, attempts counted, backoff doubled.
    retry(Some(poisoned), None).await.unwrap();
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.credited, report.set_aside), (0, 1), "{report:?}");
    let again = block_issues::get(&mysql, IssueKind::Block, found_blocks[1].0, &poisoned)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempts, 2);
    assert!(
        again.retry_at_ms - again.last_seen_ms > issue.retry_at_ms - issue.last_seen_ms,
        "the backoff grows"
    );

    // The cause is fixed. The block is tried again once its backoff (2 minutes after the
    // second failure) has passed; the PPS height at once, as the operator asks. Each is
    // credited exactly once.
    cure(&mysql, "poison_block").await;
    cure(&mysql, "poison_pps").await;
    ahead.0.store(90_000, Ordering::SeqCst);
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.credited, report.set_aside), (0, 1), "still waiting");
    ahead.0.store(125_000, Ordering::SeqCst);
    retry(None, Some(pps_heights[1])).await.unwrap();
    let report = unlocker.pass().await.unwrap();
    assert_eq!((report.credited, report.set_aside), (1, 0), "{report:?}");
    assert_eq!(status_of(1).status, BlockStatus::Unlocked);
    let report = pps.pass().await.unwrap();
    assert_eq!(report.credited, 1, "{report:?}");
    assert!(block_issues::open(&mysql, None).await.unwrap().is_empty());
    let settled = block_issues::get(&mysql, IssueKind::Block, found_blocks[1].0, &poisoned)
        .await
        .unwrap()
        .unwrap();
    assert!(settled.resolved_at_ms.is_some());

    // Nothing more to do, and nothing twice.
    let report = unlocker.pass().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
    let report = pps.pass().await.unwrap();
    assert_eq!(report.credited, 0, "{report:?}");
    assert_eq!(count(&mysql, "paid_blocks").await, 3);
    assert_eq!(count(&mysql, "pps_paid_heights").await, 3);
    let mut expected = 0;
    for (h, _) in &found_blocks {
        expected += support::reward_at(&daemon, *h).await;
    }
    for h in pps_heights {
        expected += support::reward_at(&daemon, h).await;
    }
    assert_eq!(
        credits::owed_total(&mysql).await.unwrap(),
        Atomic(expected),
        "every block and PPS height credited exactly once"
    );
}
