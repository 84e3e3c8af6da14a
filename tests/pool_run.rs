//! `pool::run` as operators start it: config.toml + MySQL (devnet MariaDB, migrated) + regtest
//! monerod + LMDB. Proves the port comes from `port_config`, the `pools`/`ports` heartbeat is
//! written, a real RandomX share is accepted, and SIGTERM-style shutdown flushes it to LMDB.

#[path = "support/pool_db.rs"]
mod pool_db;

use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::store::lmdb::{ShareStore, StoreOptions};
use rxpool::store::mysql;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

async fn call(
    io: &mut BufReader<tokio::net::TcpStream>,
    id: u64,
    method: &str,
    params: Value,
) -> Value {
    let req = json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params});
    io.get_mut()
        .write_all(format!("{req}\n").as_bytes())
        .await
        .unwrap();
    loop {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), io.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == json!(id) {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_mysql_ports_heartbeats_and_flushes_shares_on_shutdown() {
    let (url, db, port) = pool_db::pool_database("pool_run", ADDR, 1).await;
    mysql::set_setting(&db, "pool.minDifficulty", "1")
        .await
        .unwrap();
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let config = pool_db::pool_config(&url, lmdb.path(), &monerod.rpc_url(), 200, "pool_id = 7");
    let shutdown = CancellationToken::new();
    let role = tokio::spawn(rxpool::pool::run(config, shutdown.clone()));

    // Generous deadlines: on a loaded 2-core CI machine the role's start (MySQL, RandomX
    // cache, first template) can take many seconds; a role that fails is reported at once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let stream = loop {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            break s;
        }
        if role.is_finished() {
            panic!("pool role ended before opening its port: {:?}", role.await);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pool port never opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut io = BufReader::new(stream);
    let mut login = json!(null);
    for _ in 0..600 {
        login = call(
            &mut io,
            1,
            "login",
            json!({"login": ADDR, "pass": "rig:me@example.com"}),
        )
        .await;
        if login["error"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = login["result"]["job"].clone();
    assert!(job["blob"].is_string(), "{login}");

    let verifier = Verifier::new(VerifierConfig::light(1));
    let (nonce, result) = pool_db::mine_share(&verifier, &job).await;
    let r = call(
        &mut io,
        2,
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
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE username = ?")
        .bind(ADDR)
        .fetch_optional(&db)
        .await
        .unwrap();
    assert_eq!(email.as_deref(), Some("me@example.com"));

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
