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

use std::sync::Arc;
use std::time::Duration;

use sqlx::MySqlPool;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use anyhow::Context;

use crate::config::{FileConfig, Settings};
use crate::domain::{Atomic, Clock, SystemClock};
use crate::monero::wallet::{Wallet, WalletClient};
use crate::store::mysql::heartbeats::{self, BeatingRole};
use crate::store::mysql::{self, payouts};
use planner::{FeePolicy, PayoutPolicy};
use processor::{Processor, ProcessorConfig};

/// The role entry: connect, take the runner lease (one payments process per pool) and keep
/// it renewed, then run cycles on the configured schedule until `shutdown`.
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let settings = mysql::load_settings(&db, &config.overrides)
        .await
        .context("loading shared settings")?;
    let wallet = wallet_client(&config)?;
    let holder = lease_holder_name("payments");
    let lease = loop {
        match payouts::RunnerLease::acquire(&db, &holder, payouts::LEASE_TTL).await {
            Ok(Some(lease)) => break Arc::new(lease),
            Ok(None) => {
                tracing::warn!("another payments process holds the runner lease; waiting for it")
            }
            Err(err) => tracing::warn!(%err, "cannot take the payments runner lease"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(payouts::LEASE_TTL / 2) => {}
        }
    };
    let keepalive = keep_lease(Arc::clone(&lease), shutdown.child_token());
    tracing::info!(holder = %lease.holder(), "payments role started");
    let processor = Processor::new(db.clone(), wallet, processor_config(&settings));
    processor.set_guard(Some(lease.clone()));
    run_loop(
        &processor,
        &db,
        schedule(&settings),
        Some(&config.overrides),
        shutdown,
    )
    .await;
    let _ = keepalive.await;
    if let Err(err) = lease.release().await {
        tracing::warn!(%err, "cannot give the payments runner lease up; it expires by itself");
    }
    tracing::info!("payments role stopped");
    Ok(())
}

/// A runner-lease holder name unique to this process: `what`, the host and the pid.
pub fn lease_holder_name(what: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!(
        "{what} {}:{} #{:08x}",
        host.trim(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Renews `lease` every quarter of its lifetime until `stop`. A lost lease (expired while
/// MySQL was out of reach, or taken over) is alerted and taken back as soon as it is free;
/// meanwhile the processor's own check before signing stops any cycle.
pub fn keep_lease(lease: Arc<payouts::RunnerLease>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lost = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(lease.ttl() / 4) => {}
            }
            let held = if lost {
                lease.reacquire().await
            } else {
                lease.renew().await
            };
            match held {
                Ok(true) if lost => {
                    lost = false;
                    tracing::info!(holder = %lease.holder(), "payments runner lease taken back");
                }
                Ok(true) => {}
                Ok(false) if !lost => {
                    lost = true;
                    tracing::error!(holder = %lease.holder(), alert = true,
                        "the payments runner lease was lost; no payout is signed until it is back");
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(%err, "cannot renew the payments runner lease"),
            }
        }
    })
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

/// Counts what a cycle did to batches (`rxpool_payments_batches_total`); `None`: it failed.
fn count_batches(report: Option<&processor::CycleReport>) {
    use crate::telemetry::names::PAYMENTS_BATCHES as NAME;
    let Some(r) = report else {
        metrics::counter!(NAME, "outcome" => "cycle_failed").increment(1);
        return;
    };
    metrics::counter!(NAME, "outcome" => "sent").increment(r.batches_sent);
    metrics::counter!(NAME, "outcome" => "confirmed").increment(r.confirmed);
    metrics::counter!(NAME, "outcome" => "released").increment(r.released);
    metrics::counter!(NAME, "outcome" => "manual_review").increment(r.manual_review);
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
    let host = heartbeats::host_name();
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
        let outcome = processor.run_cycle().await;
        metrics::histogram!(crate::telemetry::names::PAYMENTS_CYCLE).record(started.elapsed());
        count_batches(outcome.as_ref().ok());
        // The heartbeat operator alerts watch (a stalled payments role), cycle by cycle.
        let detail = match &outcome {
            Ok(report) => format!("cycle done: {} batches sent", report.batches_sent),
            Err(_) => "cycle failed".to_owned(),
        };
        let now = SystemClock.now();
        if let Err(err) = heartbeats::beat(db, BeatingRole::Payments, &host, now, &detail).await {
            tracing::warn!(%err, "cannot write the payments heartbeat");
        }
        match outcome {
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
