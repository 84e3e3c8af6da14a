//! The `worker` role: turns the share store into the numbers miners and operators watch, and
//! tells miners and the operator by e-mail when something changes.
//!
//! Every `worker.statsInterval` (10 s) a [`cycle`] reads the shares the pool committed since the
//! previous one (the LMDB share log), advances the sliding-window [`rollup`], writes changed
//! stats and [`history`] chart chunks to the LMDB `stats` database (the api's only source),
//! collects the network, wallet and MySQL [`facts`], and runs the miner [`alerts`] (workers
//! stopped or resumed, payments sent, solo blocks) and the [`operator`] alerts. Mail goes through
//! the durable outbox (`crate::mail`); the role also runs the outbox's SMTP sender when
//! `[smtp]` is configured. Reads LMDB and MySQL, monerod and wallet-rpc; writes LMDB `stats`
//! and MySQL alert state and outbox rows; never imports another role.

pub mod alerts;
pub mod cycle;
pub mod facts;
pub mod history;
pub mod operator;
pub mod rollup;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::domain::{Clock, SystemClock};
use crate::monero::daemon::DaemonClient;
use crate::monero::wallet::WalletClient;
use crate::store::lmdb::{ShareStore, WriterConfig};
use crate::store::mysql;

/// The role entry: [`run_with`] on the real clock.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(config, Arc::new(SystemClock), shutdown).await
}

/// Connects to MySQL, LMDB, monerod and wallet-rpc, starts the mail sender when `[smtp]` is
/// set, and runs a cycle every `worker.statsInterval` until `shutdown`.
pub async fn run_with(
    config: FileConfig,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let mut settings = mysql::load_settings(&db, &config.overrides)
        .await
        .context("loading the shared settings")?;
    crate::mail::resolve_public_url(&mut settings, &config.api.bind);
    let store = ShareStore::open(&config.lmdb_options()).context("opening LMDB")?;
    let writer = store
        .writer(WriterConfig::default())
        .context("starting the LMDB writer")?;
    let daemon = DaemonClient::with_timeout(&config.daemon.urls, Duration::from_secs(10))
        .context("monerod URLs")?;
    let wallet = WalletClient::with_timeout(&config.wallet.url, Duration::from_secs(10))
        .context("wallet-rpc URL")?;
    let (mut worker, settings_rx) = cycle::Worker::new(
        db.clone(),
        store,
        writer.clone(),
        daemon,
        wallet,
        clock,
        settings,
        config.overrides.clone(),
    );
    worker.load().await.context("loading the alert state")?;
    let sender = match config.smtp.clone() {
        Some(smtp) => {
            let (db, stop) = (db.clone(), shutdown.child_token());
            Some(tokio::spawn(async move {
                if let Err(e) = crate::mail::sender::run(db, smtp, settings_rx, stop).await {
                    tracing::error!(error = %e, "the mail sender stopped");
                }
            }))
        }
        None => {
            tracing::warn!("no [smtp] in config.toml: mails stay queued in the outbox");
            None
        }
    };
    tracing::info!("worker role started");
    loop {
        let started = tokio::time::Instant::now();
        match worker.cycle().await {
            Ok(report) => {
                metrics::counter!(crate::telemetry::names::WORKER_SHARES)
                    .increment(report.new_shares as u64);
                tracing::debug!(?report, "worker cycle")
            }
            Err(e) => tracing::warn!(error = %e, "worker cycle failed"),
        }
        metrics::histogram!(crate::telemetry::names::WORKER_CYCLE).record(started.elapsed());
        let interval = Duration::from_secs(worker.settings().worker.stats_interval_secs.max(1));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(started + interval) => {}
        }
    }
    if let Some(sender) = sender {
        let _ = sender.await;
    }
    writer.close().await.context("closing the LMDB writer")?;
    tracing::info!("worker role stopped");
    Ok(())
}
