//! What tests that run the pool role (`pool::run`) need: a fresh migrated database on the
//! shared devnet MariaDB with `pool.address` set and `port_config` holding exactly one stratum
//! port on a free loopback port (the seeded 3333/5555/7777 may be taken by other processes on
//! this host), the role's `config.toml`, its port once open, a clean stop of the role, and the
//! chain's blocks the share store has no record of.

use rxpool::devnet::{MariaDb, free_port};
use rxpool::domain::{Hash32, Height, PoolType};
use rxpool::monero::daemon::{Daemon, DaemonClient};
use rxpool::store::lmdb::ShareStore;
use rxpool::store::mysql::{self, PortConfig};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Role logs in the test output (shown for a failing test).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("rxpool=info")
        .try_init();
}

/// A fresh migrated database with `pool.address` set: its URL and a connection pool.
pub async fn database_for(name: &str, pool_address: &str) -> (String, sqlx::MySqlPool) {
    let maria = MariaDb::shared().await.unwrap();
    let url = maria.create_database(name).await.unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    mysql::set_setting(&db, "pool.address", pool_address)
        .await
        .unwrap();
    (url, db)
}

/// Returns the database URL, a connection pool and the stratum port (pplns, `difficulty`).
pub async fn pool_database(
    name: &str,
    pool_address: &str,
    difficulty: u64,
) -> (String, sqlx::MySqlPool, u16) {
    let (url, db) = database_for(name, pool_address).await;
    sqlx::query("DELETE FROM port_config")
        .execute(&db)
        .await
        .unwrap();
    let port = free_port().unwrap();
    mysql::registry::upsert_port(
        &db,
        &PortConfig {
            port,
            difficulty,
            description: "test".into(),
            pool_type: PoolType::Pplns,
            hidden: false,
            tls: false,
        },
    )
    .await
    .unwrap();
    (url, db, port)
}

/// [`pool_database`] with a port of difficulty 1 and `pool.minDifficulty` 1, so that every
/// share of a difficulty-1 job counts (the default minimum would raise the port's difficulty).
pub async fn pool_database_at_difficulty_one(
    name: &str,
    pool_address: &str,
) -> (String, sqlx::MySqlPool, u16) {
    let (url, db, port) = pool_database(name, pool_address, 1).await;
    mysql::set_setting(&db, "pool.minDifficulty", "1")
        .await
        .unwrap();
    (url, db, port)
}

/// The pool role's config: light-mode RandomX on one thread, no wallet, polling `daemon`
/// every `poll_ms`; `pool_lines` adds `[pool]` keys (`pool_id` at least).
pub fn pool_config(
    url: &str,
    lmdb: &Path,
    daemon: &str,
    poll_ms: u64,
    pool_lines: &str,
) -> rxpool::config::FileConfig {
    rxpool::config::FileConfig::parse(&pool_config_toml(url, lmdb, daemon, poll_ms, pool_lines))
        .unwrap()
}

/// [`pool_config`] as config.toml text, for the `rxpool` binary.
pub fn pool_config_toml(
    url: &str,
    lmdb: &Path,
    daemon: &str,
    poll_ms: u64,
    pool_lines: &str,
) -> String {
    format!(
        r#"
[mysql]
url = "{url}"
[lmdb]
path = "{}"
map_size_mb = 64
[daemon]
urls = ["{daemon}"]
template_poll_ms = {poll_ms}
[wallet]
url = "http://127.0.0.1:1"
[pool]
bind = "127.0.0.1"
hostname = "test-pool"
{pool_lines}
[pow]
randomx_mode = "light"
verifier_threads = 1
[api]
bind = "127.0.0.1:{api_port}"
"#,
        lmdb.display(),
        // `rxpool all` runs the api role too: a free port, never the shared default 8001.
        api_port = free_port().unwrap(),
    )
}

/// Connects to the stratum `port` on loopback once the pool opens it, trying every 100 ms for
/// up to 120 s (on a loaded 2-core machine a role's start, with MySQL and the RandomX cache,
/// can take many seconds). `None` as soon as `running` says the pool ended before opening it.
pub async fn connect_when_open(
    port: u16,
    mut running: impl FnMut() -> bool,
) -> Option<tokio::net::TcpStream> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            return Some(s);
        }
        if !running() {
            return None;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pool port never opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Cancels the pool role and waits for it to finish cleanly (30 s at most).
pub async fn stop(shutdown: CancellationToken, role: tokio::task::JoinHandle<anyhow::Result<()>>) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), role)
        .await
        .expect("pool did not stop")
        .unwrap()
        .unwrap();
}

/// The blocks at heights `start..end` of the chain `daemon_url` serves that `store` holds no
/// record of (every one the pool found must be recorded).
pub async fn chain_blocks_not_recorded(
    daemon_url: &str,
    store: &ShareStore,
    start: u64,
    end: u64,
) -> Vec<Hash32> {
    let daemon = DaemonClient::new(&[daemon_url.to_owned()]).unwrap();
    let mut on_chain = BTreeSet::new();
    for h in start..end {
        let header = daemon
            .block_header_by_height(Height(h), false)
            .await
            .unwrap()
            .unwrap();
        on_chain.insert(header.hash);
    }
    let recorded: BTreeSet<Hash32> = store
        .read()
        .unwrap()
        .blocks_in(Height(start)..=Height(u64::MAX >> 1))
        .unwrap()
        .into_iter()
        .map(|b| b.record.hash)
        .collect();
    on_chain.difference(&recorded).copied().collect()
}
