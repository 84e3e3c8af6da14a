//! The template feed: polls monerod (`get_block_template` for the pool address with our
//! reserved space) and publishes a template when the chain moved or the template grew. It polls
//! at once when `Shared::refresh` is notified: after a block submission, and when monerod's
//! block notification arrives (`notify`); many notifications during one poll cause one more.
//!
//! Failover is the `DaemonClient`'s (the next configured daemon answers when one fails);
//! [`watch_lag`] also moves it off a daemon that answers but has fallen behind. When
//! every daemon fails, the last good template keeps being served (nodejs-pool crashed,
//! reference §11 #10); miners that log in before any template exists get "No active block
//! template". It owns no session state.

use super::jobs::RESERVE_SIZE;
use super::state::Shared;
use crate::monero::daemon::{Daemon, DaemonClient};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A template with the same parent is republished when it is at least this old and monerod
/// offers a bigger one (more transactions, more fees).
pub const REFRESH_SAME_HEIGHT: Duration = Duration::from_secs(10);

/// Polls until `shutdown`. Generic over the daemon so tests can use `DaemonClient` directly.
pub async fn run<D: Daemon>(shared: Arc<Shared>, daemon: Arc<D>, shutdown: CancellationToken) {
    let mut last_publish = Instant::now();
    let mut failing_since: Option<Instant> = None;
    loop {
        let settings = shared.settings();
        match daemon
            .get_block_template(&settings.pool_address, RESERVE_SIZE)
            .await
        {
            Ok(template) => {
                if failing_since.take().is_some() {
                    tracing::info!("daemon answers again");
                }
                let publish = match shared.current_template() {
                    None => true,
                    Some(current) => {
                        let c = &current.template;
                        c.prev_hash() != template.prev_hash()
                            || c.height() != template.height()
                            || (template.template_blob().len() > c.template_blob().len()
                                && last_publish.elapsed() >= REFRESH_SAME_HEIGHT)
                    }
                };
                if publish {
                    let height = template.height();
                    shared.publish_template(template);
                    last_publish = Instant::now();
                    tracing::debug!(%height, "new template");
                }
            }
            Err(error) => {
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    tracing::warn!(%error, "no template from any daemon; serving the last good one");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.refresh.notified() => {}
            _ = tokio::time::sleep(settings.template_poll) => {}
        }
    }
}

/// With several daemons: every `every`, compares their tips and stops using one that is
/// `tolerance` blocks or more behind the best; polls at once when that changes the daemon used.
pub async fn watch_lag(
    shared: Arc<Shared>,
    daemon: Arc<DaemonClient>,
    every: Duration,
    tolerance: u64,
    shutdown: CancellationToken,
) {
    if daemon.urls().len() < 2 {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let (switched, _) = daemon.check_lag(tolerance).await;
        if switched {
            shared.refresh.notify_one();
        }
    }
}
