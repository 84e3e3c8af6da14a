//! The real services behind the share path's seams: RandomX through
//! `monero::pow::Verifier`, shares and found blocks through the process's one
//! `store::lmdb::ShareWriter`, block submission to every daemon through
//! `monero::daemon::DaemonClient`; and the mapping of the shared MySQL settings onto
//! [`PoolSettings`]. [`share_sink`] picks where shares go: LMDB on this host (the default),
//! or with `[feed]` the NATS JetStream feed (`crate::feed::FeedSink`) that the central host's
//! `ingest` writes to LMDB. Adapters only: no decisions are made here.

use super::bans::{BanConfig, RateLimit};
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
use crate::store::lmdb::{
    BlockKey, BlockUpdate, FoundBlock, InvalidShare, NewShare, ShareStore, ShareWriter,
    WriterConfig,
};
use std::sync::Arc;
use std::time::Duration;

/// The process's share sink: the LMDB writer, or with `[feed]` the JetStream feed (LMDB is
/// then not opened: it lives on the central host).
pub async fn share_sink(
    config: &crate::config::FileConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Arc<dyn ShareSink>> {
    use anyhow::Context;
    if let Some(feed) = &config.feed {
        let sink =
            crate::feed::FeedSink::start(feed, config.instance_id(), config.pool.pool_id, shutdown)
                .await
                .context("starting the share feed")?;
        tracing::info!(nats = %feed.nats_url, stream = %feed.stream, "shares go to the NATS feed");
        return Ok(Arc::new(sink));
    }
    let store = ShareStore::open(&config.lmdb_options()).context("opening LMDB")?;
    let writer = store.writer(WriterConfig::default())?;
    Ok(Arc::new(LmdbSink(writer)))
}

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

    fn update_block(
        &self,
        key: BlockKey,
        update: BlockUpdate,
    ) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            self.0
                .update_block(key.height, key.hash, update)
                .await
                .map(|_| ())
                .map_err(|e| SinkError(e.to_string()))
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move { self.0.flush().await.map_err(|e| SinkError(e.to_string())) })
    }

    fn record_invalid(&self, share: InvalidShare) -> bool {
        match self.0.record_invalid(share) {
            Ok(queued) => queued,
            Err(e) => {
                tracing::debug!(error = %e, "could not count a refused share");
                false
            }
        }
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
    let u32_of = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let u16_of = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
    let rate = |(rate_per_sec, burst): (u64, u64)| RateLimit {
        rate_per_sec: u32_of(rate_per_sec),
        burst: u32_of(burst),
    };
    PoolSettings {
        network: settings.general.network,
        pool_address: p.address.clone(),
        vardiff: VardiffConfig {
            target_time_secs: p.target_time_secs,
            min: p.min_difficulty,
            max: p.max_difficulty,
            variance_pct: p.var_diff_variance_pct,
            max_change_pct: p.var_diff_max_change_pct,
            retarget_secs: p.retarget_time_secs,
            window_secs: p.var_diff_window_secs,
            nicehash_min: p.nicehash_difficulty,
            proxy_multiplier: p.proxy_diff_multiplier,
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
            ipv6_prefix: u8::try_from(p.ipv6_ban_prefix.clamp(1, 128)).unwrap_or(64),
        },
        login_timeout: Duration::from_secs(p.login_timeout_secs),
        first_share_timeout: Duration::from_secs(p.first_share_timeout_secs),
        miner_timeout: Duration::from_secs(p.miner_timeout_secs),
        max_connections_per_ip: u32_of(p.max_connections_per_ip),
        protocol_error_limit: u32_of(p.protocol_error_limit),
        login_rate: rate(p.login_rate),
        getjob_rate: rate(p.getjob_rate),
        submit_rate: rate(p.submit_rate),
        keepalive_rate: rate(p.keepalive_rate),
        exchange_addresses: p.exchange_addresses.iter().cloned().collect(),
        banned_addresses: p.banned_addresses.iter().cloned().collect(),
        previous_templates: usize::try_from(p.previous_templates).unwrap_or(4),
        template_poll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_stratum_knob_comes_from_the_shared_settings() {
        let rows = [
            ("pool.submitRate", "7"),
            ("pool.submitBurst", "9"),
            ("pool.loginRate", "2"),
            ("pool.protocolErrorLimit", "3"),
            ("pool.retargetTime", "45"),
            ("pool.varDiffWindow", "900"),
            ("pool.proxyDiffMultiplier", "8"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let settings = Settings::from_rows(rows, &BTreeMap::new()).unwrap();
        let pool = pool_settings(&settings, Duration::from_millis(250));
        assert_eq!(
            (pool.submit_rate.rate_per_sec, pool.submit_rate.burst),
            (7, 9)
        );
        assert_eq!(
            (pool.login_rate.rate_per_sec, pool.login_rate.burst),
            (2, 5)
        );
        assert_eq!(pool.protocol_error_limit, 3);
        assert_eq!(pool.vardiff.retarget_secs, 45);
        assert_eq!(pool.vardiff.window_secs, 900);
        assert_eq!(pool.vardiff.proxy_multiplier, 8);
        assert_eq!(pool.template_poll, Duration::from_millis(250));
    }
}
