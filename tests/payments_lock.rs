//! One payments process, provably: the runner lease against a real MariaDB (and a regtest
//! chain with a real wallet-rpc where a cycle signs). MariaDB kills the holder's connections
//! mid-cycle (`KILL`, as `wait_timeout` or an operator would); no second cycle runs beside
//! it, and nothing is signed twice. A holder whose lease lapsed stops before signing.

#[path = "payments/common.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{Chain, xmr};
use rxpool::admin::payments::{PaymentsCommand, execute};
use rxpool::domain::{Atomic, BalanceType};
use rxpool::monero::wallet::WalletClient;
use rxpool::payments::batch::BatchStatus;
use rxpool::payments::planner::FeePolicy;
use rxpool::payments::processor::{CycleError, RunnerGuard};
use rxpool::store::mysql::{self, payouts};
use sqlx::MySqlPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Kills every connection to this test's database except the caller's own, as MariaDB
/// does when `wait_timeout` passes. Returns how many it killed.
async fn kill_connections(db: &MySqlPool) -> usize {
    let mut own = db.acquire().await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT ID FROM information_schema.PROCESSLIST \
         WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
    )
    .fetch_all(&mut *own)
    .await
    .unwrap();
    for id in &ids {
        // A connection may end by itself meanwhile.
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("KILL CONNECTION {id}")))
            .execute(&mut *own)
            .await;
    }
    ids.len()
}

/// The runner lease with a pause at each cycle's signing step (its second confirmation: the
/// first is at the start of the cycle): the test seam that stops a cycle in its middle.
#[derive(Debug)]
struct Gate {
    lease: Arc<payouts::RunnerLease>,
    confirms: AtomicU32,
    paused: Notify,
    resume: Notify,
}

impl RunnerGuard for Gate {
    fn confirm(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<bool, payouts::PayoutError>> + Send + '_>> {
        Box::pin(async move {
            if self.confirms.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
                self.paused.notify_one();
                self.resume.notified().await;
            }
            self.lease.renew().await
        })
    }
}

/// `rxpool admin payments run-now` with its own processor, as an operator would run it.
async fn run_now(chain: &Chain, db: &MySqlPool) -> String {
    let processor = chain.processor(db, FeePolicy::PoolPaysNetworkFee);
    execute(
        db,
        Some(&chain.pool_wallet),
        None,
        Some(&processor),
        PaymentsCommand::RunNow,
    )
    .await
    .expect("run-now")
}

#[tokio::test]
async fn killing_the_runners_connections_mid_cycle_lets_no_second_cycle_run_and_signs_nothing_twice()
 {
    let chain = Chain::start().await;
    let (db, url) = common::database_with_url("payouts_lease").await;
    let payees = chain.receivers(&["uma", "vic"]).await;
    let mut owed = [xmr("1.25"), xmr("0.75")];
    let mut ids = Vec::new();
    for (p, amount) in payees.iter().zip(owed) {
        ids.push(common::seed_balance(&db, &p.standard, "", BalanceType::Pplns, amount).await);
    }

    // The running role: its own connections, its lease kept alive, its cycle paused at the
    // signing step.
    let role_db = mysql::connect(&url).await.unwrap();
    let lease = payouts::RunnerLease::acquire(&role_db, "role under test", payouts::LEASE_TTL)
        .await
        .unwrap()
        .expect("a free lease");
    let lease = Arc::new(lease);
    let stop = CancellationToken::new();
    let keepalive = rxpool::payments::keep_lease(Arc::clone(&lease), stop.clone());
    let gate = Arc::new(Gate {
        lease: Arc::clone(&lease),
        confirms: AtomicU32::new(0),
        paused: Notify::new(),
        resume: Notify::new(),
    });
    let role = Arc::new(chain.processor(&role_db, FeePolicy::PoolPaysNetworkFee));
    role.set_guard(Some(gate.clone()));
    let cycle = tokio::spawn({
        let role = Arc::clone(&role);
        async move { role.run_cycle().await }
    });
    gate.paused.notified().await;
    assert_eq!(
        payouts::list(&db, &[BatchStatus::Reserved], 10)
            .await
            .unwrap()
            .len(),
        1,
        "paused with its batch reserved"
    );

    // MariaDB drops every connection of the role (a GET_LOCK would go with them).
    assert!(kill_connections(&db).await > 0);
    // The operator asks for a cycle: it is only requested, never run beside the role.
    let out = run_now(&chain, &db).await;
    assert!(out.contains("requested payout cycle"), "{out}");
    assert_eq!(
        payouts::list(&db, &[], 10).await.unwrap().len(),
        1,
        "a second cycle reserved or signed something"
    );
    let (holder, left_ms) = payouts::lease_holder(&db).await.unwrap().expect("held");
    assert_eq!(holder, "role under test");
    assert!(left_ms > 0, "{left_ms}");

    // The role resumes on fresh connections, confirms its lease and pays, once.
    gate.resume.notify_one();
    let report = cycle.await.unwrap().expect("the role's cycle");
    assert_eq!(
        (report.batches_sent, report.payees_paid),
        (1, 2),
        "{report:?}"
    );

    // Its lease lapses while a second cycle of the role is paused before signing (a frozen
    // process, MySQL out of reach): the operator's cycle takes over, releases the role's
    // reservation and pays; the role, resumed, stops before signing anything.
    for (k, id) in ids.iter().enumerate() {
        let more = xmr(["0.5", "0.625"][k]);
        common::credit(&db, *id, more).await;
        owed[k] = owed[k].checked_add(more).unwrap();
    }
    stop.cancel();
    keepalive.await.unwrap();
    let cycle = tokio::spawn({
        let role = Arc::clone(&role);
        async move { role.run_cycle().await }
    });
    gate.paused.notified().await;
    sqlx::query("UPDATE payout_runner_lease SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND")
        .execute(&db)
        .await
        .unwrap();
    let out = run_now(&chain, &db).await;
    assert!(out.contains("ran one payout cycle here"), "{out}");
    assert!(
        payouts::lease_holder(&db).await.unwrap().is_none(),
        "run-now gave the lease back"
    );
    gate.resume.notify_one();
    let stopped = cycle.await.unwrap();
    assert!(matches!(stopped, Err(CycleError::LeaseLost)), "{stopped:?}");

    // Nothing signed twice, nothing lost.
    let signed: Vec<_> = payouts::list(&db, &[], 20)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.tx_hash.is_some())
        .collect();
    assert_eq!(signed.len(), 2, "{signed:?}");
    for id in &ids {
        assert_eq!(common::balance(&db, *id).await, Atomic::ZERO);
    }
    chain.mine(1).await;
    for (k, payee) in payees.iter().enumerate() {
        let received = chain.received(payee).await;
        let total: u64 = received.iter().map(|r| r.amount).sum();
        assert_eq!(Atomic(total), owed[k], "payee {k} received {received:?}");
        assert_eq!(received.len(), 2, "{received:?}");
    }
}

#[tokio::test]
async fn a_running_payments_role_keeps_its_lease_when_mariadb_kills_its_connections() {
    let (db, url) = common::database_with_url("payouts_lease_role").await;
    let dir = tempfile::tempdir().unwrap();
    // No wallet answers: the role's cycles fail and retry, it holds the lease all along.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{lmdb}\"\n[daemon]\nurls = [\"http://127.0.0.1:9\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:9\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n",
            lmdb = dir.path().join("lmdb").display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("role.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"))
        .arg("--config")
        .arg(&config)
        .arg("payments")
        .env("RUST_LOG", "info")
        .env_remove("RXPOOL_FAILPOINT")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("role.err")).unwrap())
        .spawn()
        .expect("spawn rxpool payments");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while payouts::lease_holder(&db).await.unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the role never took the lease: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (holder, _) = payouts::lease_holder(&db).await.unwrap().unwrap();

    for _ in 0..3 {
        assert!(kill_connections(&db).await > 0);
        // run-now right after the kill only asks the role: no wallet is needed, none is used.
        let out = execute::<WalletClient>(&db, None, None, None, PaymentsCommand::RunNow)
            .await
            .expect("run-now");
        assert!(out.contains("requested payout cycle"), "{out}");
        tokio::time::sleep(payouts::LEASE_TTL / 2).await;
        let (now, left_ms) = payouts::lease_holder(&db).await.unwrap().expect("held");
        assert_eq!(now, holder, "the lease changed hands");
        assert!(left_ms > 0, "the role stopped renewing: {left_ms} ms");
        assert!(child.try_wait().unwrap().is_none(), "the role died");
    }

    // A clean stop gives the lease up at once.
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success());
    assert!(payouts::lease_holder(&db).await.unwrap().is_none());
}
