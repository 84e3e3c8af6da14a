//! The `api` role: the one HTTP door for front-ends, miners' scripts, monitoring and the
//! operator, on `[api] bind` (axum).
//!
//! - [`pool`]: nodejs-pool's public pool, network and config routes (`/pool/*`,
//!   `/network/stats`, `/config`), with their JSON shapes.
//! - [`miner`]: one miner's routes (`/miner/:address/*`) and MoneroOcean's miner settings
//!   (`/user/*`: payout threshold and e-mail subscription).
//! - [`mail_links`]: the e-mail confirmation, approval and unsubscribe links.
//! - [`push`]: the websocket at `/ws`; a topic is a public GET route, pushed again whenever
//!   its JSON changes.
//! - [`auth`] and [`admin`]: admin accounts, signed tokens, and the operator routes under
//!   `/admin`, every write audited.
//! - [`dashboard`]: the web dashboard for miners and operators at `/`, built on the routes
//!   above and nothing else.
//! - [`metrics`]: Prometheus `/metrics`; [`limits`]: body limits, timeouts, per-IP rate
//!   limits and CORS around everything.
//!
//! Answers come from the worker's rollups in LMDB (`stats`) and from MySQL, never from a scan
//! of the share store, through a short per-route [`cache`]. Errors are JSON values with the
//! right status ([`error`]); path and query input is parsed by [`params`].

pub mod admin;
pub mod auth;
pub mod cache;
pub mod dashboard;
pub mod error;
pub mod limits;
pub mod mail_links;
pub mod metrics;
pub mod miner;
pub mod params;
pub mod pool;
pub mod push;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use sqlx::MySqlPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{FileConfig, Settings};
use crate::domain::{Clock, SystemClock};
use crate::store::lmdb::ShareStore;
use crate::store::mysql;

pub use cache::Cache;
pub use error::ApiError;

/// How often the api reloads the shared settings from MySQL.
const SETTINGS_REFRESH: Duration = Duration::from_secs(30);

/// Everything a handler may use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub db: MySqlPool,
    pub store: Arc<ShareStore>,
    settings: watch::Receiver<Arc<Settings>>,
    settings_tx: Arc<watch::Sender<Arc<Settings>>>,
    pub cache: Cache,
    pub clock: Arc<dyn Clock>,
    /// This host's `config.toml` (daemon and wallet URLs, `[api]` limits).
    pub config: Arc<FileConfig>,
}

impl ApiState {
    pub fn new(
        db: MySqlPool,
        store: Arc<ShareStore>,
        settings: Settings,
        config: FileConfig,
        clock: Arc<dyn Clock>,
    ) -> ApiState {
        let (tx, rx) = watch::channel(Arc::new(settings));
        ApiState {
            db,
            store,
            settings: rx,
            settings_tx: Arc::new(tx),
            cache: Cache::default(),
            clock,
            config: Arc::new(config),
        }
    }

    /// The shared settings as last loaded.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.borrow().clone()
    }

    /// Reloads the shared settings from MySQL now (after an admin write, and every
    /// [`SETTINGS_REFRESH`]). A failed load keeps the settings in use and says why.
    pub async fn reload_settings(&self) -> Result<(), mysql::MysqlError> {
        let mut fresh = mysql::load_settings(&self.db, &self.config.overrides).await?;
        crate::mail::resolve_public_url(&mut fresh, &self.config.api.bind);
        self.settings_tx.send_replace(Arc::new(fresh));
        Ok(())
    }
}

pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let mut settings = mysql::load_settings(&db, &config.overrides)
        .await
        .context("loading settings")?;
    crate::mail::resolve_public_url(&mut settings, &config.api.bind);
    let store = ShareStore::open(&config.lmdb_options()).context("opening LMDB")?;
    let listener = tokio::net::TcpListener::bind(&config.api.bind)
        .await
        .with_context(|| format!("binding [api] bind {}", config.api.bind))?;
    let state = ApiState::new(db, store, settings, config, Arc::new(SystemClock));
    serve(listener, state, shutdown).await
}

/// Every route of the api, with the hardening layers around them.
pub fn router(state: ApiState) -> Router {
    // The public GET routes on their own: the websocket renders its topics through them.
    let public: Router = Router::new()
        .merge(pool::routes())
        .merge(miner::routes())
        .with_state(state.clone());
    let app = Router::new()
        .merge(public.clone())
        .merge(mail_links::router(state.clone()))
        .merge(push::routes(state.clone(), public))
        .merge(auth::routes(state.clone()))
        .merge(admin::routes(state.clone()))
        .merge(metrics::routes(state.clone()))
        .merge(dashboard::routes(state.config.api.dashboard));
    limits::harden(app, &state)
}

/// Serves the api on `listener` until `shutdown` (tests call this directly).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("api listener address")?;
    let refresh = {
        let state = state.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(SETTINGS_REFRESH) => {}
                }
                if let Err(e) = state.reload_settings().await {
                    tracing::warn!(error = %e, "api: reloading the shared settings failed; keeping the last ones");
                }
            }
        })
    };
    let app = router(state);
    tracing::info!(%addr, "api listening");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
    .context("serving the api");
    refresh.abort();
    served
}
