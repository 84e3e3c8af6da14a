//! `pool::run` as operators start it: config.toml + MySQL (devnet MariaDB, migrated) + regtest
//! monerod + LMDB. Proves the port comes from `port_config`, the `pools`/`ports` heartbeat is
//! written, a real RandomX share is accepted, a `worker:email` password queues one
//! confirmation mail (double opt-in), and SIGTERM-style shutdown flushes the share to LMDB.

#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod pool_db;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::store::lmdb::{ShareStore, StoreOptions};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use stratum::{ADDR, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_mysql_ports_heartbeats_and_flushes_shares_on_shutdown() {
    let (url, db, port) = pool_db::pool_database_at_difficulty_one("pool_run", ADDR).await;
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let config = pool_db::pool_config(&url, lmdb.path(), &monerod.rpc_url(), 200, "pool_id = 7");
    let shutdown = CancellationToken::new();
    let role = tokio::spawn(rxpool::pool::run(config, shutdown.clone()));

    let Some(stream) = pool_db::connect_when_open(port, || !role.is_finished()).await else {
        panic!("pool role ended before opening its port: {:?}", role.await);
    };
    let mut client = Client::new(stream);
    let login = client
        .login_when_ready(json!({"login": ADDR, "pass": "rig:me@example.com"}))
        .await;
    let job = login["result"]["job"].clone();
    assert!(job["blob"].is_string(), "{login}");

    let verifier = Verifier::new(VerifierConfig::light(1));
    let (nonce, result) = stratum::mine_share(&verifier, &job).await;
    let r = client
        .call(
            "submit",
            json!({"id": job["id"], "job_id": job["job_id"], "nonce": nonce, "result": result}),
        )
        .await;
    assert!(r["error"].is_null(), "{r}");

    // Heartbeat rows (first tick is immediate) and the e-mail registration.
    let mut miners = 0i64;
    for _ in 0..200 {
        miners = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(miners), 0) AS SIGNED) FROM ports WHERE pool_id = 7",
        )
        .fetch_one(&db)
        .await
        .unwrap_or(0);
        if miners == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(miners, 1, "ports.miners counts the logged-in miner");
    let host: String = sqlx::query_scalar("SELECT hostname FROM pools WHERE id = 7")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(host, "test-pool");
    // Double opt-in: the login's address gets one confirmation mail in the outbox and is only
    // pending; nothing is confirmed (nor in `users.email`) before the link is opened.
    let mut queued: Vec<(String, String)> = Vec::new();
    for _ in 0..100 {
        queued = sqlx::query_as("SELECT recipient, kind FROM mail_outbox WHERE miner = ?")
            .bind(ADDR)
            .fetch_all(&db)
            .await
            .unwrap();
        if !queued.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        queued,
        [("me@example.com".to_owned(), "confirm".to_owned())]
    );
    let pending: Option<String> =
        sqlx::query_scalar("SELECT pending_email FROM mail_subscriptions WHERE miner = ?")
            .bind(ADDR)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(pending.as_deref(), Some("me@example.com"));
    assert!(
        rxpool::mail::confirmed(&db, ADDR).await.unwrap().is_none(),
        "nothing confirmed by a login"
    );
    let email: Option<Option<String>> =
        sqlx::query_scalar("SELECT email FROM users WHERE username = ?")
            .bind(ADDR)
            .fetch_optional(&db)
            .await
            .unwrap();
    assert_eq!(email.flatten(), None);

    pool_db::stop(shutdown, role).await;
    let store = ShareStore::open(&StoreOptions {
        map_size: 64 << 20,
        ..StoreOptions::new(lmdb.path())
    })
    .unwrap();
    assert_eq!(
        store.read().unwrap().share_count().unwrap(),
        1,
        "the accepted share survived shutdown"
    );
}
