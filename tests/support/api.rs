//! The api served on a free loopback port for a test: a minimal `config.toml` naming the
//! test's MySQL, LMDB directory, monerod and wallet-rpc, and the settings the test chose.

use std::path::Path;
use std::sync::Arc;

use rxpool::api::ApiState;
use rxpool::config::{FileConfig, Settings};
use rxpool::domain::{Clock, SystemClock};
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

/// Where the api finds the rest of the pool.
#[derive(Debug, Clone)]
pub struct ApiSetup<'a> {
    pub mysql_url: &'a str,
    pub lmdb: &'a Path,
    pub daemon_url: &'a str,
    pub wallet_url: &'a str,
    pub clock: Arc<dyn Clock>,
    /// More `[api]` lines for `config.toml` (limits, CORS, trusted proxies).
    pub api_lines: &'a str,
}

impl<'a> ApiSetup<'a> {
    /// No monerod or wallet-rpc (routes that need them answer 503), and no per-IP rate limit
    /// (tests send many requests from one address; `tests/api_limits.rs` sets its own).
    pub fn offline(mysql_url: &'a str, lmdb: &'a Path) -> ApiSetup<'a> {
        ApiSetup {
            mysql_url,
            lmdb,
            daemon_url: "http://127.0.0.1:1",
            wallet_url: "http://127.0.0.1:1",
            clock: Arc::new(SystemClock),
            api_lines: "rate_limit_per_sec = 0",
        }
    }
}

/// A free loopback listener for the api and its base URL (`http://127.0.0.1:PORT`), for a
/// test that must put the URL in the settings before the api starts.
pub async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Serves the api until `stop`; returns its base URL and state.
pub async fn serve_api(
    setup: ApiSetup<'_>,
    db: &MySqlPool,
    settings: Settings,
    stop: &CancellationToken,
) -> (String, ApiState) {
    let (listener, url) = listener().await;
    (url, serve_on(listener, setup, db, settings, stop))
}

/// Serves the api on `listener` until `stop`.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    setup: ApiSetup<'_>,
    db: &MySqlPool,
    settings: Settings,
    stop: &CancellationToken,
) -> ApiState {
    let addr = listener.local_addr().unwrap();
    let config = FileConfig::parse(&format!(
        "[mysql]\nurl = \"{}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{}\"]\n\
         [wallet]\nurl = \"{}\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
         hostname = \"test-pool\"\n[api]\nbind = \"{addr}\"\n{}\n",
        setup.mysql_url,
        setup.lmdb.display(),
        setup.daemon_url,
        setup.wallet_url,
        setup.api_lines,
    ))
    .unwrap();
    let store = rxpool::store::lmdb::ShareStore::open(&config.lmdb_options()).unwrap();
    let state = ApiState::new(db.clone(), store, settings, config, setup.clock);
    tokio::spawn(rxpool::api::serve(listener, state.clone(), stop.clone()));
    state
}

/// The api with `[api]` `lines` (e.g. `rate_limit_per_sec = 0`) on a fresh migrated database
/// `name`, its LMDB in a temp dir kept as long as the returned `TempDir`; returns its base URL
/// and state.
pub async fn serve_fresh(
    name: &str,
    lines: &str,
    stop: &CancellationToken,
) -> (String, ApiState, tempfile::TempDir) {
    let url = rxpool::devnet::MariaDb::shared()
        .await
        .unwrap()
        .create_database(name)
        .await
        .unwrap();
    let db = rxpool::store::mysql::connect(&url).await.unwrap();
    rxpool::store::mysql::migrate(&db).await.unwrap();
    let settings = rxpool::store::mysql::load_settings(&db, &Default::default())
        .await
        .unwrap();
    let lmdb = tempfile::tempdir().unwrap();
    let mut setup = ApiSetup::offline(&url, lmdb.path());
    setup.api_lines = lines;
    let (base, state) = serve_api(setup, &db, settings, stop).await;
    (base, state, lmdb)
}
