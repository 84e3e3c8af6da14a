//! The `cleaner` role: prunes shares that no payout window needs any more (a later issue). For now it starts, logs and shuts down cleanly.

use crate::config::FileConfig;
use tokio_util::sync::CancellationToken;

pub async fn run(_config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!("cleaner role started");
    shutdown.cancelled().await;
    Ok(())
}
