//! The `block-manager` role: confirms or orphans the blocks the pool found and credits PPLNS,
//! PPS and solo balances in MySQL, each block (and each PPS height) exactly once.
//!
//! Reads found blocks and shares from LMDB (one snapshot per window) and the chain from
//! monerod; writes balances and the credit ledger to MySQL (one transaction per block, with
//! a unique paid-block row) and, only after that commit, the block's status back to LMDB.
//! Never talks to miners or the wallet's transfer methods; never imports another role.
//!
//! - [`split`]: payees, fee policies and settlements that sum to the reward exactly.
//! - [`pplns`], [`pps`], [`solo`]: the three payout modes, pure arithmetic.
//! - [`lifecycle`]: Pending → Unlocked / Orphaned, decided against the chain.
//! - [`plan`]: a found block's facts and window → the paid-block record and its settlement.
//! - [`source`]: LMDB reads (one snapshot per window); [`unlocker`], [`pps_runner`],
//!   [`chain_scan`], [`wallet_scan`]: the role's passes; [`run`] / [`run_with`]: the loop.
//! - [`set_aside`]: a block or PPS height that cannot be credited waits aside (reason,
//!   alert, backoff) while every other one goes on.

#![deny(
    clippy::float_arithmetic,
    clippy::float_cmp,
    clippy::cast_precision_loss
)]

pub mod chain_scan;
pub mod lifecycle;
pub mod plan;
pub mod pplns;
pub mod pps;
pub mod pps_runner;
pub mod set_aside;
pub mod solo;
pub mod source;
pub mod split;
pub mod unlocker;
pub mod wallet_scan;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::domain::SystemClock;
use crate::monero::daemon::DaemonClient;
use crate::monero::wallet::WalletClient;
use crate::store::lmdb::{ShareStore, StoreOptions, WriterConfig};
use crate::store::mysql::heartbeats::{self, BeatingRole};

/// Everything the role needs to start, resolved from `config.toml` and the shared settings.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    pub mysql_url: String,
    /// `[mysql] max_connections`: the size of the role's MySQL pool.
    pub mysql_max_connections: u32,
    pub lmdb: StoreOptions,
    pub daemon_urls: Vec<String>,
    pub wallet_url: String,
    pub params: plan::Params,
    /// Time between unlocker passes (nodejs-pool: 120 s).
    pub unlock_interval: Duration,
    /// When set, the shared settings are re-read from MySQL before every pass (with these
    /// `config.toml` overrides), so `rxpool admin config set` takes effect without a restart;
    /// a bad stored value keeps the previous parameters and is logged.
    pub reload_settings: Option<std::collections::BTreeMap<String, String>>,
}

/// Time between passes of the role started from `config.toml`.
pub const UNLOCK_INTERVAL: Duration = Duration::from_secs(30);

/// The role entry: resolves `config.toml` and the shared settings, then [`run_with`].
pub async fn run(config: FileConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mysql = crate::store::mysql::connect_config(&config.mysql)
        .await
        .context("connecting to MySQL")?;
    let settings = crate::store::mysql::load_settings(&mysql, &config.overrides)
        .await
        .context("loading the shared settings")?;
    mysql.close().await;
    let params = params_from_settings(&settings).context("fee settings")?;
    let lmdb = config.lmdb_options();
    let role = RoleConfig {
        mysql_url: config.mysql.url.expose().to_owned(),
        mysql_max_connections: config.mysql.max_connections,
        lmdb,
        daemon_urls: config.daemon.urls.clone(),
        wallet_url: config.wallet.url.clone(),
        params,
        unlock_interval: UNLOCK_INTERVAL,
        reload_settings: Some(config.overrides.clone()),
    };
    run_with(role, shutdown).await
}

/// The block-manager's parameters from the shared settings: `payout.blocksRequired`,
/// `pplns.shareMulti`, `pps.enable` (PPS heights credited at half the unlock depth, as
/// nodejs-pool), each mode's fee, and the donations (`payout.devDonation` to
/// `payout.devAddress`, `payout.poolDevDonation` to `payout.poolDevAddress`, as shares of the
/// fee; a donation without an address is skipped) with the rest to `payout.feeAddress`.
pub fn params_from_settings(
    settings: &crate::config::Settings,
) -> Result<plan::Params, split::PolicyError> {
    let payout = &settings.payout;
    let mut donations = Vec::new();
    for (address, share) in [
        (&payout.dev_address, payout.dev_donation),
        (&payout.pool_dev_address, payout.pool_dev_donation),
    ] {
        if !address.is_empty() && share.0 > 0 {
            donations.push((split::Payee::from_miner_key(address), share));
        }
    }
    let fee_address = split::Payee::from_miner_key(&payout.fee_address);
    let policy = |rate| split::FeePolicy::new(rate, fee_address.clone(), donations.clone());
    Ok(plan::Params {
        blocks_required: payout.blocks_required,
        share_multi: settings.modes.pplns_share_multi,
        pps_enabled: settings.modes.pps_enable,
        pps_depth: (payout.blocks_required / 2).max(1),
        pool_pays_network_fee: matches!(payout.fee_policy, crate::config::FeePolicy::PoolPays),
        policies: plan::Policies {
            pplns: policy(payout.pplns_fee)?,
            pps: policy(payout.pps_fee)?,
            solo: policy(payout.solo_fee)?,
        },
    })
}

/// Counts what an unlocker pass settled (`rxpool_block_manager_blocks_total`).
fn count_blocks(report: &unlocker::PassReport) {
    use crate::telemetry::names::BLOCK_MANAGER_BLOCKS as NAME;
    let unlocked = report.credited + report.marked + report.pps_unlocked;
    metrics::counter!(NAME, "outcome" => "confirmed").increment(unlocked as u64);
    metrics::counter!(NAME, "outcome" => "credited").increment(report.credited as u64);
    metrics::counter!(NAME, "outcome" => "orphaned").increment(report.orphaned as u64);
}

/// Runs the role until `shutdown`: an unlocker pass, a chain scan, a wallet scan and a PPS
/// pass every `unlock_interval`. A failed pass is logged and retried at the next tick (every step is
/// idempotent); the current pass always finishes before the role returns.
pub async fn run_with(config: RoleConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mysql = crate::store::mysql::connect_with(&config.mysql_url, config.mysql_max_connections)
        .await
        .context("connecting to MySQL")?;
    let store = ShareStore::open(&config.lmdb).context("opening the share store")?;
    let writer = store
        .writer(WriterConfig::default())
        .context("starting the share writer")?;
    let mut params = Arc::new(config.params);
    let mut unlocker = unlocker::Unlocker {
        daemon: DaemonClient::new(&config.daemon_urls).context("daemon urls")?,
        store: Arc::clone(&store),
        writer: writer.clone(),
        mysql: mysql.clone(),
        params: Arc::clone(&params),
        clock: Arc::new(SystemClock),
    };
    let mut pps = pps_runner::PpsRunner {
        daemon: DaemonClient::new(&config.daemon_urls).context("daemon urls")?,
        wallet: WalletClient::new(&config.wallet_url).context("wallet url")?,
        store,
        mysql,
        params: Arc::clone(&params),
        clock: Arc::new(SystemClock),
    };
    tracing::info!(
        blocks_required = params.blocks_required,
        share_multi = params.share_multi,
        pps = params.pps_enabled,
        "block-manager running"
    );
    let mut tick = tokio::time::interval(config.unlock_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let host = heartbeats::host_name();
    let mut catch_up = chain_scan::CatchUp::default();
    loop {
        // The passes that failed this iteration, for the heartbeat (operator alerts).
        let mut failed: Vec<&str> = Vec::new();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let started = std::time::Instant::now();
        if let Some(overrides) = &config.reload_settings {
            match reload(&unlocker.mysql, overrides).await {
                Ok(fresh) if fresh != *params => {
                    tracing::info!(
                        blocks_required = fresh.blocks_required,
                        share_multi = fresh.share_multi,
                        pps = fresh.pps_enabled,
                        "shared settings changed"
                    );
                    params = Arc::new(fresh);
                    unlocker.params = Arc::clone(&params);
                    pps.params = Arc::clone(&params);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(%err, "settings reload failed; keeping the previous ones")
                }
            }
        }
        let unlocked = unlocker.pass().await;
        if let Ok(report) = &unlocked {
            count_blocks(report);
        }
        match unlocked {
            Ok(report) if report.pending > 0 => tracing::info!(?report, "unlocker pass"),
            Ok(_) => {}
            Err(err) => {
                failed.push("unlocker");
                tracing::error!(%err, "unlocker pass failed; retrying next tick")
            }
        }
        match chain_scan::pass(
            &unlocker.daemon,
            &unlocker.mysql,
            params.blocks_required,
            params.pps_depth,
        )
        .await
        {
            Ok(scan) => {
                if scan.recorded > 0 {
                    tracing::debug!(heights = scan.recorded, behind = scan.behind, "chain scan");
                }
                catch_up.observe(scan);
            }
            Err(err) => {
                failed.push("chain scan");
                tracing::warn!(%err, "chain scan failed; retrying next tick")
            }
        }
        match wallet_scan::pass(
            &unlocker.daemon,
            &pps.wallet,
            &unlocker.store,
            &unlocker.mysql,
            unlocker.clock.as_ref(),
        )
        .await
        {
            Ok(report) if !report.unrecorded.is_empty() => {
                tracing::debug!(
                    unrecorded = report.unrecorded.len(),
                    "blocks paying the pool wallet without a record: see `rxpool admin block list`"
                )
            }
            Ok(_) => {}
            Err(err) => {
                failed.push("wallet scan");
                tracing::debug!(%err, "wallet scan skipped; retrying next tick")
            }
        }
        match pps.pass().await {
            Ok(report) if report.heights > 0 || report.paused.is_some() => {
                tracing::info!(?report, "pps pass")
            }
            Ok(_) => {}
            Err(err) => {
                failed.push("pps");
                tracing::error!(%err, "pps pass failed; retrying next tick")
            }
        }
        metrics::histogram!(crate::telemetry::names::BLOCK_MANAGER_PASS).record(started.elapsed());
        let detail = if failed.is_empty() {
            "passes done".to_owned()
        } else {
            format!("failed: {}", failed.join(", "))
        };
        let now = unlocker.clock.now();
        if let Err(err) = heartbeats::beat(
            &unlocker.mysql,
            BeatingRole::BlockManager,
            &host,
            now,
            &detail,
        )
        .await
        {
            tracing::warn!(%err, "cannot write the block-manager heartbeat");
        }
    }
    // Our handles go first, so that in a process of its own this close is the last one and
    // stops the writer; under `all` it only lets go of ours.
    drop(unlocker);
    writer.close().await.context("closing the share writer")?;
    tracing::info!("block-manager stopped");
    Ok(())
}

async fn reload(
    mysql: &sqlx::MySqlPool,
    overrides: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<plan::Params> {
    let settings = crate::store::mysql::load_settings(mysql, overrides).await?;
    Ok(params_from_settings(&settings)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::domain::{Atomic, Bps};

    #[test]
    fn settings_map_to_fees_donations_and_depths() {
        let mut s = Settings::defaults();
        s.payout.fee_address = "fee".to_owned();
        s.payout.dev_address = "dev".to_owned();
        s.payout.dev_donation = Bps(500);
        s.payout.pool_dev_donation = Bps(300); // no address: skipped
        s.payout.blocks_required = 60;
        let p = params_from_settings(&s).unwrap();
        assert_eq!(p.pps_depth, 30);
        assert_eq!(p.share_multi, s.modes.pplns_share_multi);
        assert_eq!(p.policies.pplns.rate(), s.payout.pplns_fee);
        let settled = split::Settlement::new(Atomic(10_000), [], &p.policies.solo).unwrap();
        let dev = settled
            .credits()
            .iter()
            .find(|c| c.payee.address == "dev")
            .unwrap();
        assert_eq!(dev.amount, Atomic(500));
        assert_eq!(settled.credits().len(), 2);
    }

    #[test]
    fn an_empty_fee_address_is_refused() {
        let s = Settings::defaults();
        assert!(s.payout.fee_address.is_empty());
        assert_eq!(
            params_from_settings(&s).unwrap_err(),
            split::PolicyError::NoFeeAddress
        );
    }
}
