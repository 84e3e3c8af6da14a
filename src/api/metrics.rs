//! Prometheus `GET /metrics` for pool-wide figures, computed when scraped (kept
//! [`SCRAPE_TTL`] in the route cache, so several scrapers cost one render):
//!
//! - from the worker's rollups in LMDB (`stats::read_pool`): hashrate, miners and workers per
//!   scope (`global`, `pplns`, `pps`, `solo`), and the network height and difficulty;
//! - from LMDB's found blocks: blocks by status and the age of the newest block;
//! - from MySQL: balances owed per `balance.pool_type` (atomic units), payout batches by
//!   status (count and net atomic units), and the mail outbox (`mail::outbox::health`).
//!
//! Text exposition format 0.0.4, each family with `# HELP` and `# TYPE`; money stays in
//! integer atomic units. A process's own counters (shares, cycle times) are not here: each
//! role serves them on `[metrics] bind` (`crate::telemetry`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::Row;

use super::{ApiError, ApiState};
use crate::domain::BatchStatus;
use crate::stats::{self, PoolScope};
use crate::store::lmdb::BlockStatus;

/// How long a rendered `/metrics` is served again.
pub const SCRAPE_TTL: Duration = Duration::from_secs(5);

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `/metrics` route.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let body = state
        .cache
        .get_or_render("/metrics", SCRAPE_TTL, || render(state.clone()))
        .await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// What LMDB says, read in one snapshot.
#[derive(Debug, Default)]
struct LmdbFigures {
    pools: Vec<(PoolScope, stats::PoolStats)>,
    network: Option<stats::NetworkStats>,
    blocks: BTreeMap<&'static str, u64>,
    newest_block_ms: Option<u64>,
}

fn read_lmdb(state: &ApiState) -> Result<LmdbFigures, ApiError> {
    let snap = state.store.read()?;
    let mut figures = LmdbFigures::default();
    for scope in PoolScope::ALL {
        if let Some(pool) = stats::read_pool(&snap, scope)? {
            figures.pools.push((scope, pool));
        }
    }
    figures.network = stats::read_network(&snap)?;
    figures.blocks = BlockStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for block in snap.recent_blocks(usize::MAX)? {
        *figures
            .blocks
            .entry(block.record.status.as_str())
            .or_default() += 1;
        let at = block.record.timestamp.0;
        figures.newest_block_ms = Some(figures.newest_block_ms.map_or(at, |n| n.max(at)));
    }
    Ok(figures)
}

async fn render(state: ApiState) -> Result<Bytes, ApiError> {
    let lmdb = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || read_lmdb(&state))
            .await
            .map_err(ApiError::internal)??
    };
    let owed: Vec<(String, String)> = sqlx::query(
        "SELECT pool_type, CAST(COALESCE(SUM(amount), 0) AS CHAR) AS owed FROM balance \
         GROUP BY pool_type ORDER BY pool_type",
    )
    .fetch_all(&state.db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("pool_type")?, r.try_get("owed")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let mut batches: BTreeMap<String, (i64, String)> = BatchStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), (0, "0".to_owned())))
        .collect();
    for row in sqlx::query(
        "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(net), 0) AS CHAR) AS net \
         FROM payout_batches GROUP BY status",
    )
    .fetch_all(&state.db)
    .await?
    {
        batches.insert(
            row.try_get("status")?,
            (row.try_get("n")?, row.try_get("net")?),
        );
    }
    let outbox = crate::mail::outbox::health(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let now_ms = state.clock.now().0;

    let mut out = Exposition::default();
    let scoped = |f: fn(&stats::PoolStats) -> u64| -> Vec<(String, String)> {
        lmdb.pools
            .iter()
            .map(|(scope, pool)| (label("mode", scope.as_str()), f(pool).to_string()))
            .collect()
    };
    out.family(
        "rxpool_pool_hashrate",
        "gauge",
        "Hashrate over the worker's hashrate window, H/s, per scope (global or payout mode).",
        scoped(|p| p.hash_rate),
    );
    out.family(
        "rxpool_pool_miners",
        "gauge",
        "Miners with a share in the hashrate window, per scope.",
        scoped(|p| p.miners),
    );
    out.family(
        "rxpool_pool_workers",
        "gauge",
        "Workers with a share in the hashrate window, per scope.",
        scoped(|p| p.workers),
    );
    if let Some(network) = &lmdb.network {
        out.family(
            "rxpool_network_height",
            "gauge",
            "Height of the chain's top block as the worker last saw it.",
            vec![(String::new(), network.height.to_string())],
        );
        out.family(
            "rxpool_network_difficulty",
            "gauge",
            "Network difficulty as the worker last saw it.",
            vec![(String::new(), network.difficulty.to_string())],
        );
    }
    out.family(
        "rxpool_blocks",
        "gauge",
        "Blocks the pool found, by status (candidate, pending, unlocked, orphaned).",
        lmdb.blocks
            .iter()
            .map(|(status, n)| (label("status", status), n.to_string()))
            .collect(),
    );
    if let Some(newest) = lmdb.newest_block_ms {
        out.family(
            "rxpool_last_block_age_seconds",
            "gauge",
            "Seconds since the newest block the pool found.",
            vec![(
                String::new(),
                (now_ms.saturating_sub(newest) / 1000).to_string(),
            )],
        );
    }
    out.family(
        "rxpool_balance_owed_atomic",
        "gauge",
        "Balances owed to miners (and fee income), atomic units, per balance.pool_type.",
        owed.iter()
            .map(|(mode, amount)| (label("mode", mode), amount.clone()))
            .collect(),
    );
    out.family(
        "rxpool_payout_batches",
        "gauge",
        "Payout batches by status.",
        batches
            .iter()
            .map(|(status, (n, _))| (label("status", status), n.to_string()))
            .collect(),
    );
    out.family(
        "rxpool_payout_batches_net_atomic",
        "gauge",
        "Net amount of the payout batches by status, atomic units.",
        batches
            .iter()
            .map(|(status, (_, net))| (label("status", status), net.clone()))
            .collect(),
    );
    out.family(
        "rxpool_mail_outbox",
        "gauge",
        "Mail outbox rows: pending (queued or sending), retrying (pending after a failed \
         attempt), failed.",
        vec![
            (label("state", "pending"), outbox.pending.to_string()),
            (label("state", "retrying"), outbox.retrying.to_string()),
            (label("state", "failed"), outbox.failed.to_string()),
        ],
    );
    Ok(Bytes::from(out.text))
}

/// `{name="value"}` with the value escaped as the format requires.
fn label(name: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    format!("{{{name}=\"{escaped}\"}}")
}

/// The exposition text being written.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// One family: its `# HELP` and `# TYPE` lines, then one sample per `(labels, value)`.
    fn family(&mut self, name: &str, kind: &str, help: &str, samples: Vec<(String, String)>) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.text, "{name}{labels} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("mode", "pplns"), "{mode=\"pplns\"}");
        assert_eq!(label("m", "a\"b\\c\nd"), "{m=\"a\\\"b\\\\c\\nd\"}");
    }

    #[test]
    fn a_family_has_help_type_and_samples() {
        let mut out = Exposition::default();
        out.family("x", "gauge", "An x.", vec![(label("a", "1"), "2".into())]);
        assert_eq!(out.text, "# HELP x An x.\n# TYPE x gauge\nx{a=\"1\"} 2\n");
    }
}
