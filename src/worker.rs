//! The `worker` role: statistics rollups, chart histories and e-mail alerts (a later issue). For now it
//! starts, logs and shuts down cleanly.

pub mod history;
pub mod operator;
pub mod rollup;

use crate::config::FileConfig;
use tokio_util::sync::CancellationToken;

pub async fn run(_config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!("worker role started (no jobs yet)");
    shutdown.cancelled().await;
    Ok(())
}
