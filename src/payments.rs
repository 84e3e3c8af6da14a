//! The `payments` role: plans payouts from MySQL balances and executes them through
//! monero-wallet-rpc as durable two-phase batches, so that nothing is paid twice or lost.
//!
//! - [`planner`]: pure rules (minimums, thresholds, denomination, fee policy, batching).
//! - [`batch`]: the batch state machine (re-exported from `domain::payout`, where it lives).
//! - [`processor`]: one cycle against the wallet and MySQL (two-phase, recovery).
//! - [`run_loop`]: the fixed schedule, operator run requests, backoff and alerts.
//!
//! It reads balances and users from MySQL and writes payout batches, debits and the
//! `transactions`/`payments` records there (through `store::mysql::payouts`); it never
//! credits a balance (the block manager does) and never touches LMDB.

pub mod batch;
pub mod planner;
pub mod processor;

use std::time::Duration;

use sqlx::MySqlPool;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use anyhow::Context;

use crate::config::{FileConfig, Settings};
use crate::domain::Atomic;
use crate::monero::wallet::{Wallet, WalletClient};
use crate::store::mysql::{self, payouts};
use planner::{FeePolicy, PayoutPolicy};
use processor::{Processor, ProcessorConfig};

/// The role entry: connect, take the runner lock (one payments process per pool), then run
/// cycles on the configured schedule until `shutdown`.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let settings = mysql::load_settings(&db, &config.overrides)
        .await
        .context("loading shared settings")?;
    let wallet = wallet_client(&config)?;
    let _lock = loop {
        match payouts::try_lock_runner(&db).await {
            Ok(Some(lock)) => break lock,
            Ok(None) => tracing::warn!("another payments process is running; waiting for it"),
            Err(err) => tracing::warn!(%err, "cannot take the payments runner lock"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(15)) => {}
        }
    };
    tracing::info!("payments role started");
    let processor = Processor::new(db.clone(), wallet, processor_config(&settings));
    run_loop(
        &processor,
        &db,
        schedule(&settings),
        Some(&config.overrides),
        shutdown,
    )
    .await;
    tracing::info!("payments role stopped");
    Ok(())
}

/// The wallet client `config.toml` describes.
pub fn wallet_client(config: &FileConfig) -> anyhow::Result<WalletClient> {
    WalletClient::with_timeout(
        &config.wallet.url,
        Duration::from_secs(config.wallet.timeout_secs),
    )
    .context("wallet-rpc URL")
}

/// The processor's rules from the shared settings (`payout.*`, `pool.exchangeAddresses`,
/// `general.network`).
pub fn processor_config(settings: &Settings) -> ProcessorConfig {
    let p = &settings.payout;
    ProcessorConfig {
        policy: PayoutPolicy {
            wallet_min: p.wallet_min,
            exchange_min: p.exchange_min,
            denomination: p.denom,
            fee_policy: match p.fee_policy {
                crate::config::FeePolicy::PoolPays => FeePolicy::PoolPaysNetworkFee,
                crate::config::FeePolicy::Slew => FeePolicy::FeeSlew {
                    amount: p.fee_slew_amount,
                    end: p.fee_slew_end,
                },
            },
            fee_address: (!p.fee_address.is_empty()).then(|| p.fee_address.clone()),
            fee_reserve: p.fees_for_txn,
            exchange_addresses: settings.pool.exchange_addresses.iter().cloned().collect(),
            max_destinations: u8::try_from(p.max_payment_txns).unwrap_or(planner::MAX_DESTINATIONS),
        },
        network: settings.general.network,
        confirmations: p.confirmations,
        priority: u32::try_from(p.priority).unwrap_or(0),
    }
}

/// The schedule from `payout.timer`, `payout.timerRetry` and `payout.walletAlertMinutes`.
pub fn schedule(settings: &Settings) -> Schedule {
    let minutes = |m: u64| Duration::from_secs(m.saturating_mul(60));
    Schedule {
        interval: minutes(settings.payout.timer_minutes),
        retry: Duration::from_secs(30),
        shortfall_retry: minutes(settings.payout.timer_retry_minutes),
        alert_after: minutes(settings.payout.wallet_alert_minutes),
        poll: Duration::from_secs(5),
    }
}

/// When cycles run. The schedule is fixed: a cycle starts every `interval` whatever the last
/// one did (nodejs-pool stalled when a cycle paid nothing, its bug #310); a failed cycle is
/// retried sooner, with backoff.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// `payout.timer`: time between cycle starts.
    pub interval: Duration,
    /// First retry after a failed cycle; doubles up to `interval`.
    pub retry: Duration,
    /// `payout.timerRetry`: the next cycle comes this soon when the wallet lacked unlocked
    /// money for some payouts.
    pub shortfall_retry: Duration,
    /// `payout.walletAlertAfter`: raise an alert when the wallet has been unusable this long.
    pub alert_after: Duration,
    /// How often `rxpool admin payments run-now` requests are looked for.
    pub poll: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: Duration::from_secs(120 * 60),
            retry: Duration::from_secs(30),
            shortfall_retry: Duration::from_secs(25 * 60),
            alert_after: Duration::from_secs(30 * 60),
            poll: Duration::from_secs(5),
        }
    }
}

/// Runs cycles on `schedule` until `shutdown`. A cycle in progress is finished before
/// returning (payments never stops between signing and recording). The first cycle runs at
/// once: it is the recovery at start. With `reload` (config.toml overrides), the payout rules
/// are re-read from MySQL before each cycle; the schedule itself is read at start.
pub async fn run_loop<W: Wallet>(
    processor: &Processor<W>,
    db: &MySqlPool,
    schedule: Schedule,
    reload: Option<&std::collections::BTreeMap<String, String>>,
    shutdown: CancellationToken,
) {
    let mut next = Instant::now();
    let mut backoff = schedule.retry;
    let mut failing_since: Option<Instant> = None;
    let mut alerted = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
            () = tokio::time::sleep(schedule.poll) => {
                match payouts::take_run_requests(db).await {
                    Ok(true) => tracing::info!("payout cycle requested by an operator"),
                    Ok(false) => continue,
                    Err(err) => {
                        tracing::warn!(%err, "cannot read payout run requests");
                        continue;
                    }
                }
            }
        }
        let started = Instant::now();
        if let Some(overrides) = reload {
            // Operators change payout.* with `rxpool admin config set`; pick it up.
            match mysql::load_settings(db, overrides).await {
                Ok(settings) => processor.set_config(processor_config(&settings)),
                Err(err) => {
                    tracing::warn!(%err, "cannot reload shared settings; keeping the last ones")
                }
            }
        }
        match processor.run_cycle().await {
            Ok(report) => {
                tracing::info!(
                    sent = report.batches_sent,
                    payees = report.payees_paid,
                    paid = %report.paid_net,
                    shortfall = %report.shortfall,
                    set_aside = report.set_aside,
                    confirmed = report.confirmed,
                    manual_review = report.manual_review,
                    wallet_calls = report.wallet_calls,
                    "payout cycle done"
                );
                if report.shortfall > Atomic::ZERO {
                    tracing::warn!(shortfall = %report.shortfall, alert = true,
                        "the pool wallet has too little unlocked money for every payout");
                }
                failing_since = None;
                alerted = false;
                backoff = schedule.retry;
                next = (started + schedule.interval).max(Instant::now());
                if report.shortfall > Atomic::ZERO || report.signing_paused {
                    next = next.min(Instant::now() + schedule.shortfall_retry);
                }
            }
            Err(err) => {
                let since = *failing_since.get_or_insert(started);
                if !alerted && since.elapsed() >= schedule.alert_after {
                    alerted = true;
                    tracing::error!(%err, minutes = since.elapsed().as_secs() / 60, alert = true,
                        "payouts have failed for too long");
                } else {
                    tracing::warn!(%err, retry_in = ?backoff, "payout cycle failed; nothing new was debited");
                }
                next = Instant::now() + backoff;
                backoff = (backoff * 2).min(schedule.interval);
            }
        }
    }
}
