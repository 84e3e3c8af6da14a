//! Process plumbing shared by every role: tracing, the tokio runtime and the one shutdown
//! token that SIGINT/SIGTERM cancel. A role watches the token and finishes its current state
//! transition before returning. [`Stage`] runs roles of one process (`rxpool all`) as a group
//! that is stopped, and waited for, as one. [`failpoint`] holds the crash points the crash
//! tests arm.

pub mod failpoint;

use std::future::Future;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Starts the tracing subscriber; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .try_init();
}

/// A shutdown token cancelled by the first SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(err) => {
                    tracing::error!(%err, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}

/// Builds the multi-threaded runtime every subcommand runs on.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Roles that stop together: each runs as its own task on the stage's shutdown token.
#[derive(Debug, Default)]
pub struct Stage {
    stop: CancellationToken,
    roles: JoinSet<anyhow::Result<()>>,
}

impl Stage {
    /// Starts the role `name`: `run` gets the stage's token. Its error is reported in `name`'s
    /// context.
    pub fn spawn<F>(&mut self, name: &'static str, run: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let role = run(self.stop.clone());
        self.roles
            .spawn(async move { role.await.with_context(|| format!("{name} role")) });
    }

    /// The outcome of the next role to end, or `None` at once when none runs (a `select!`
    /// branch on `Some(..)` is then disabled). Cancel safe.
    pub async fn next_ended(&mut self) -> Option<anyhow::Result<()>> {
        let joined = self.roles.join_next().await?;
        Some(joined.unwrap_or_else(|e| Err(anyhow::anyhow!("a role task failed: {e}"))))
    }

    /// Cancels the stage's token and waits for every role; the first error, if any.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        let mut first = Ok(());
        while let Some(ended) = self.next_ended().await {
            if let (Ok(()), Err(e)) = (&first, ended) {
                first = Err(e);
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn a_failed_role_is_reported_at_once_and_stop_waits_for_the_others() {
        let mut stage = Stage::default();
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        stage.spawn("waiter", |stop| async move {
            stop.cancelled().await;
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        stage.spawn("broken", |_| async { anyhow::bail!("port taken") });
        let ended = stage.next_ended().await.expect("a role ended");
        let err = ended.expect_err("the broken role");
        assert_eq!(format!("{err:#}"), "broken role: port taken");
        assert!(!stopped.load(Ordering::SeqCst));
        stage.stop().await.expect("the waiter stops cleanly");
        assert!(stopped.load(Ordering::SeqCst), "stop waited for the waiter");
        assert!(stage.next_ended().await.is_none());
    }

    #[tokio::test]
    async fn stop_reports_the_first_error_of_a_role_failing_on_its_way_out() {
        let mut stage = Stage::default();
        stage.spawn("flusher", |stop| async move {
            stop.cancelled().await;
            anyhow::bail!("flush failed")
        });
        let err = stage.stop().await.expect_err("the flush error");
        assert_eq!(format!("{err:#}"), "flusher role: flush failed");
    }
}
