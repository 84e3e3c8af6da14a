//! The `api` role: REST, websocket push, admin API and dashboard (a later issue). For now it
//! starts, logs and shuts down cleanly.

use crate::config::FileConfig;
use tokio_util::sync::CancellationToken;

pub async fn run(_config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!("api role started (no routes yet)");
    shutdown.cancelled().await;
    Ok(())
}
