//! The real services behind the share path's seams: RandomX through
//! `monero::pow::Verifier`, shares and found blocks through the process's one
//! `store::lmdb::ShareWriter`, block submission to every daemon through
//! `monero::daemon::DaemonClient`; and the mapping of the shared MySQL settings onto
//! [`PoolSettings`]. Adapters only: no decisions are made here.

use super::bans::BanConfig;
use super::settings::PoolSettings;
use super::state::{
    BlockSubmitResult, BlockSubmitter, BoxFuture, HashFailure, ShareHasher, ShareSink, SinkError,
};
use super::trust::TrustConfig;
use super::vardiff::VardiffConfig;
use crate::config::Settings;
use crate::domain::Hash32;
use crate::monero::daemon::{Daemon, DaemonClient, SubmitStatus};
use crate::monero::pow::{PowAlgo, PowError, Verifier};
use crate::store::lmdb::{FoundBlock, NewShare, ShareWriter};
use std::sync::Arc;
use std::time::Duration;

/// RandomX on the verifier threads.
#[derive(Debug, Clone)]
pub struct VerifierHasher(pub Verifier);

impl ShareHasher for VerifierHasher {
    fn hash(&self, seed: Hash32, blob: Vec<u8>) -> BoxFuture<'_, Result<Hash32, HashFailure>> {
        Box::pin(async move {
            self.0
                .hash(PowAlgo::RandomX, seed, blob)
                .await
                .map_err(|e| match e {
                    PowError::Overloaded { .. } => HashFailure::Overloaded,
                    other => HashFailure::Failed(other.to_string()),
                })
        })
    }

    fn set_seeds(&self, current: Hash32, next: Option<Hash32>) {
        self.0.set_seeds(current, next);
    }
}

/// Shares and blocks into LMDB through the group-committing writer.
#[derive(Debug, Clone)]
pub struct LmdbSink(pub ShareWriter);

impl ShareSink for LmdbSink {
    fn append(&self, share: NewShare) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.0
                .append(share)
                .await
                .map_err(|e| SinkError(e.to_string()))
        })
    }

    fn record_block(&self, block: FoundBlock) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.0
                .record_block(block)
                .await
                .map(|_| ())
                .map_err(|e| SinkError(e.to_string()))
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move { self.0.flush().await.map_err(|e| SinkError(e.to_string())) })
    }
}

/// `submit_block` to every configured daemon.
#[derive(Debug, Clone)]
pub struct DaemonSubmitter(pub Arc<DaemonClient>);

impl BlockSubmitter for DaemonSubmitter {
    fn submit_block(&self, blob: Vec<u8>) -> BoxFuture<'_, BlockSubmitResult> {
        Box::pin(async move {
            let outcomes = self.0.submit_block(&blob).await;
            let accepted = outcomes
                .iter()
                .any(|o| matches!(o.status, SubmitStatus::Accepted { .. }));
            let uncertain = !accepted
                && outcomes
                    .iter()
                    .any(|o| matches!(o.status, SubmitStatus::Unreachable { .. }));
            let details = outcomes
                .iter()
                .map(|o| format!("{}: {:?}", o.url, o.status))
                .collect();
            BlockSubmitResult {
                accepted,
                uncertain,
                details,
            }
        })
    }
}

/// The pool's settings from the shared MySQL settings (`pool.*`, `general.network`).
pub fn pool_settings(settings: &Settings, template_poll: Duration) -> PoolSettings {
    let p = &settings.pool;
    let defaults = PoolSettings::default();
    let u32_of = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let u16_of = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
    PoolSettings {
        network: settings.general.network,
        pool_address: p.address.clone(),
        vardiff: VardiffConfig {
            target_time_secs: p.target_time_secs,
            min: p.min_difficulty,
            max: p.max_difficulty,
            variance_pct: p.var_diff_variance_pct,
            max_change_pct: p.var_diff_max_change_pct,
            nicehash_min: p.nicehash_difficulty,
            ..VardiffConfig::default()
        },
        trust: TrustConfig {
            enabled: p.trusted_miners,
            threshold: u32_of(p.trust_threshold),
            min: u16_of(p.trust_min).min(256),
            change: u16_of(p.trust_change),
            penalty: u32_of(p.trust_penalty),
            max_difficulty: p.trust_max_difficulty,
        },
        bans: BanConfig {
            enabled: p.ban_enabled,
            threshold: u32_of(p.ban_threshold),
            percent: u32_of(p.ban_percent),
            length_secs: p.ban_length_secs,
        },
        login_timeout: Duration::from_secs(p.login_timeout_secs),
        first_share_timeout: Duration::from_secs(p.first_share_timeout_secs),
        miner_timeout: Duration::from_secs(p.miner_timeout_secs),
        max_connections_per_ip: u32_of(p.max_connections_per_ip),
        exchange_addresses: p.exchange_addresses.iter().cloned().collect(),
        banned_addresses: p.banned_addresses.iter().cloned().collect(),
        previous_templates: usize::try_from(p.previous_templates).unwrap_or(4),
        template_poll,
        ..defaults
    }
}
