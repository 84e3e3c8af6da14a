//! The `api` role: serves HTTP on `[api] bind` until shutdown. Today it answers the e-mail
//! links ([`mail_links`]: confirm, approve a change, unsubscribe including RFC 8058 one-click);
//! the REST, websocket and dashboard routes of a later issue join this router.
//!
//! It reads and writes MySQL only through `mail::subscriptions`; it never sends mail itself
//! (the worker's sender does, from the outbox).

pub mod mail_links;

use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::store::mysql;

pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let mut settings = mysql::load_settings(&db, &config.overrides)
        .await
        .context("loading settings")?;
    crate::mail::resolve_public_url(&mut settings, &config.api.bind);
    let listener = tokio::net::TcpListener::bind(&config.api.bind)
        .await
        .with_context(|| format!("binding [api] bind {}", config.api.bind))?;
    serve(listener, db, Arc::new(settings), shutdown).await
}

/// Serves the api's routes on `listener` until `shutdown` (tests call this directly).
pub async fn serve(
    listener: tokio::net::TcpListener,
    db: sqlx::MySqlPool,
    settings: Arc<crate::config::Settings>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("api listener address")?;
    let app = mail_links::router(mail_links::LinkState { db, settings });
    tracing::info!(%addr, "api listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serving the api")?;
    Ok(())
}
