//! One miner's public routes (`/miner/:address/*`) with the paths, parameters and JSON shapes
//! of nodejs-pool (reference §7, `identifer` typo included) and MoneroOcean's
//! `/miner/:address/block_payments`; the miner settings routes (`/user/*`) are in
//! [`settings`].
//!
//! `:address` is parsed by [`MinerKey::parse`] for the pool's network: an address, a
//! subaddress, an integrated address or `address.<16-hex payment id>` (the integrated address
//! the pool keys that miner by), so every spelling of one miner reads the same rows; anything
//! else is a 400 naming the problem. Hashrates, shares and charts come from the worker's LMDB
//! rollups (`stats::read_*`); money from MySQL (`store::mysql::miner_settings`). A miner the
//! pool has no data for answers zeros and empty lists, as nodejs-pool does, never a 404.
//! Every answer is rendered once per [`cache::LIVE`] or [`cache::SLOW`] under a key built
//! from the parsed miner key (not the raw path), so all spellings share one cache entry.
//! Nothing here writes.

pub mod settings;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use super::cache::{self, to_body};
use super::params::{MinerKey, Paging, Query};
use super::{ApiError, ApiState};
use crate::stats::{self, EntityStats, Resolution, StatsError};
use crate::store::lmdb::Snapshot;
use crate::store::mysql::{miner_settings, payouts};

/// `limit` of `/miner/:address/payments` when absent, and its cap.
pub const PAYMENTS_DEFAULT: u32 = 25;
/// `limit` of `/miner/:address/block_payments` when absent (MoneroOcean's), and its cap.
pub const BLOCK_PAYMENTS_DEFAULT: u32 = 15;
/// The largest `limit` of both lists.
pub const LIMIT_MAX: u32 = 100;
/// Longest worker name accepted in a path (the pool keeps at most 64 characters).
pub const MAX_IDENTIFIER_CHARS: usize = 64;
/// MoneroOcean numbers the coin a block was found on by its daemon port; rxpool mines Monero
/// only, whose mainnet daemon port this is.
const MONERO_PORT: u16 = 18081;

/// The miner and user routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/miner/{address}/identifiers", get(identifiers))
        .route("/miner/{address}/payments", get(payments))
        .route("/miner/{address}/block_payments", get(block_payments))
        .route("/miner/{address}/stats", get(miner_stats))
        .route("/miner/{address}/stats/allWorkers", get(all_worker_stats))
        .route("/miner/{address}/stats/{identifier}", get(worker_stats))
        .route("/miner/{address}/chart/hashrate", get(miner_chart))
        .route(
            "/miner/{address}/chart/hashrate/allWorkers",
            get(all_worker_charts),
        )
        .route(
            "/miner/{address}/chart/hashrate/{identifier}",
            get(worker_chart),
        )
        .merge(settings::routes())
}

type Answer = Result<Response, ApiError>;

/// The `{address}` (and `{identifier}`, if the route has one) of a miner route, parsed: the
/// miner key for the pool's network, and the worker name bounded to what the pool keeps.
/// Every refusal (bad percent-encoding, invalid UTF-8, a bad address or worker name) is a
/// JSON 400.
#[derive(Debug, Clone)]
pub(crate) struct MinerPath {
    pub key: MinerKey,
    identifier: Option<String>,
}

impl MinerPath {
    /// The worker name of a route with `{identifier}`.
    fn identifier(&self) -> Result<String, ApiError> {
        let text = self.identifier.clone().unwrap_or_default();
        if text.is_empty() {
            return Err(ApiError::bad_request("identifier: empty"));
        }
        if text.chars().count() > MAX_IDENTIFIER_CHARS {
            return Err(ApiError::bad_request(format!(
                "identifier: longer than {MAX_IDENTIFIER_CHARS} characters"
            )));
        }
        Ok(text)
    }

    /// The cache key of this miner's `suffix` (`/miner/<key>/<suffix>`): one entry for every
    /// spelling of the address.
    fn cache_key(&self, suffix: &str) -> String {
        format!("/miner/{}/{suffix}", self.key.as_str())
    }
}

impl FromRequestParts<ApiState> for MinerPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))?;
        let (mut address, mut identifier) = (None, None);
        for (name, value) in &params {
            match name {
                "address" => address = Some(value),
                "identifier" => identifier = Some(value.to_owned()),
                _ => {}
            }
        }
        let key = miner_key(state, address.unwrap_or_default())?;
        Ok(MinerPath { key, identifier })
    }
}

/// The miner named by `text`, for the pool's network.
pub(crate) fn miner_key(state: &ApiState, text: &str) -> Result<MinerKey, ApiError> {
    MinerKey::parse(text, state.settings().general.network)
}

/// Runs `f` on one short LMDB snapshot for the miner `key`, on a blocking thread (a snapshot
/// is `!Send`, and a read may have to page the map in from disk).
pub(crate) async fn read<T: Send + 'static>(
    state: &ApiState,
    key: &MinerKey,
    f: impl FnOnce(&Snapshot<'_>, &MinerKey) -> Result<T, StatsError> + Send + 'static,
) -> Result<T, ApiError> {
    let (store, key) = (state.store.clone(), key.clone());
    tokio::task::spawn_blocking(move || {
        let snap = store.read()?;
        Ok(f(&snap, &key)?)
    })
    .await
    .map_err(ApiError::internal)?
}

/// The body cached under `key`, or `render`'s, as a JSON response.
async fn cached<F, Fut>(state: &ApiState, key: &str, ttl: Duration, render: F) -> Answer
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Bytes, ApiError>>,
{
    state
        .cache
        .get_or_render(key, ttl, render)
        .await
        .map(cache::json_response)
}

/// Unix milliseconds to whole seconds, as nodejs-pool's `lts` and `lastHash`.
fn seconds(ms: u64) -> u64 {
    ms / 1000
}

async fn identifiers(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let key = &path.key;
    let cache_key = path.cache_key("identifiers");
    cached(&state, &cache_key, cache::LIVE, || async {
        let mut names = read(&state, key, |s, k| stats::read_identifiers(s, k.as_str())).await?;
        names.sort();
        names.dedup();
        to_body(&names)
    })
    .await
}

/// One row of `/miner/:address/payments`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentJson {
    pt: String,
    /// Unix seconds.
    ts: u64,
    /// Atomic units, net of the withdrawal fee.
    amount: u64,
    txn_hash: String,
    mixin: u32,
}

async fn payments(State(state): State<ApiState>, path: MinerPath, query: Query) -> Answer {
    let key = &path.key;
    let paging = Paging::from_query(&query, PAYMENTS_DEFAULT, LIMIT_MAX)?;
    let cache_key = path.cache_key(&format!(
        "payments?limit={}&page={}",
        paging.limit, paging.page
    ));
    cached(&state, &cache_key, cache::LIVE, || async {
        let rows = payouts::miner_payments(&state.db, key.as_str(), paging.limit, paging.offset())
            .await
            .map_err(ApiError::internal)?;
        let out: Vec<PaymentJson> = rows
            .into_iter()
            .map(|r| PaymentJson {
                pt: r.pool_type,
                ts: r.paid_at / 1000,
                amount: r.amount.0,
                txn_hash: r.tx_hash,
                mixin: r.mixin,
            })
            .collect();
        to_body(&out)
    })
    .await
}

/// One row of MoneroOcean's `/miner/:address/block_payments`, in atomic units.
#[derive(Debug, Serialize)]
struct BlockPaymentJson {
    id: u64,
    /// When the block was credited, Unix seconds.
    ts: u64,
    /// When the pool found it, Unix seconds (the credit time if the share store no longer has
    /// the block).
    ts_found: u64,
    port: u16,
    hash: String,
    height: u64,
    pool_type: String,
    /// The miner's part of the block reward, percent (display only; `value` is exact).
    value_percent: serde_json::Number,
    /// The miner's credit from this block, atomic units.
    value: u64,
}

/// `part / whole` in percent with six decimals, computed in integers.
fn percent(part: u64, whole: u64) -> serde_json::Number {
    if whole == 0 {
        return serde_json::Number::from(0u64);
    }
    let micro = u128::from(part) * 100_000_000 / u128::from(whole);
    let text = format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000);
    text.parse::<serde_json::Number>()
        .unwrap_or_else(|_| serde_json::Number::from(0u64))
}

async fn block_payments(State(state): State<ApiState>, path: MinerPath, query: Query) -> Answer {
    let key = &path.key;
    let paging = Paging::from_query(&query, BLOCK_PAYMENTS_DEFAULT, LIMIT_MAX)?;
    let cache_key = path.cache_key(&format!(
        "block_payments?limit={}&page={}",
        paging.limit, paging.page
    ));
    cached(&state, &cache_key, cache::SLOW, || async {
        let rows = miner_settings::block_credits_page(
            &state.db,
            key.as_str(),
            paging.limit,
            paging.offset(),
        )
        .await?;
        let blocks: Vec<(u64, String)> = rows.iter().map(|r| (r.height, r.hash.clone())).collect();
        let found: Vec<Option<u64>> = read(&state, key, move |snap, _| {
            Ok(blocks
                .iter()
                .map(|(height, hash)| {
                    let block = snap
                        .block(crate::domain::Height(*height), hash.parse().ok()?)
                        .ok()
                        .flatten()?;
                    Some(seconds(block.record.timestamp.0))
                })
                .collect())
        })
        .await?;
        let out: Vec<BlockPaymentJson> = rows
            .into_iter()
            .zip(found)
            .map(|(r, found)| BlockPaymentJson {
                id: r.id,
                ts: r.credited_at,
                ts_found: found.unwrap_or(r.credited_at),
                port: MONERO_PORT,
                value_percent: percent(r.amount.0, r.reward.0),
                value: r.amount.0,
                hash: r.hash,
                height: r.height,
                pool_type: r.pool_type,
            })
            .collect();
        to_body(&out)
    })
    .await
}

/// `/miner/:address/stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MinerStatsJson {
    hash: u64,
    identifier: &'static str,
    /// Unix seconds of the last share.
    last_hash: u64,
    total_hashes: u64,
    valid_shares: u64,
    invalid_shares: u64,
    amt_paid: u64,
    amt_due: u64,
    txn_count: u64,
}

async fn miner_stats(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let key = &path.key;
    let cache_key = path.cache_key("stats");
    cached(&state, &cache_key, cache::LIVE, || async {
        let rollup = read(&state, key, |s, k| stats::read_miner(s, k.as_str()))
            .await?
            .unwrap_or_default();
        let totals = miner_settings::totals(&state.db, key.as_str()).await?;
        to_body(&MinerStatsJson {
            hash: rollup.hash,
            identifier: "global",
            last_hash: seconds(rollup.last_hash),
            total_hashes: rollup.total_hashes,
            valid_shares: rollup.valid_shares,
            invalid_shares: rollup.invalid_shares,
            amt_paid: totals.paid.0,
            amt_due: totals.due.0,
            txn_count: totals.payments,
        })
    })
    .await
}

/// One worker's (or the miner's, as `global`) figures; `identifer` is nodejs-pool's spelling,
/// which poolui reads.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkerJson {
    /// Unix seconds of the last share.
    lts: u64,
    identifer: String,
    hash: u64,
    total_hash: u64,
    valid_shares: u64,
    invalid_shares: u64,
}

impl WorkerJson {
    fn new(name: String, stats: EntityStats) -> WorkerJson {
        WorkerJson {
            lts: seconds(stats.last_hash),
            identifer: name,
            hash: stats.hash,
            total_hash: stats.total_hashes,
            valid_shares: stats.valid_shares,
            invalid_shares: stats.invalid_shares,
        }
    }
}

/// `{global: <global>, <worker>: each(worker), ...}` over the miner's active workers (the
/// identifier window), as nodejs-pool's `allWorkers` routes build it.
fn per_worker<T>(
    snap: &Snapshot<'_>,
    key: &MinerKey,
    global: T,
    mut each: impl FnMut(&str) -> Result<T, StatsError>,
) -> Result<BTreeMap<String, T>, StatsError> {
    let mut out = BTreeMap::new();
    for name in stats::read_identifiers(snap, key.as_str())? {
        let value = each(&name)?;
        out.insert(name, value);
    }
    out.insert("global".to_owned(), global);
    Ok(out)
}

async fn all_worker_stats(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let key = &path.key;
    let cache_key = path.cache_key("stats/allWorkers");
    cached(&state, &cache_key, cache::LIVE, || async {
        let out = read(&state, key, |s, k| {
            let global = stats::read_miner(s, k.as_str())?.unwrap_or_default();
            per_worker(s, k, WorkerJson::new("global".into(), global), |name| {
                let w = stats::read_worker(s, k.as_str(), name)?.unwrap_or_default();
                Ok(WorkerJson::new(name.to_owned(), w))
            })
        })
        .await?;
        to_body(&out)
    })
    .await
}

async fn worker_stats(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let (key, name) = (&path.key, path.identifier()?);
    let cache_key = path.cache_key(&format!("stats/{name}"));
    cached(&state, &cache_key, cache::LIVE, || async {
        let n = name.clone();
        let w = read(&state, key, move |s, k| {
            stats::read_worker(s, k.as_str(), &n)
        })
        .await?
        .unwrap_or_default();
        to_body(&WorkerJson::new(name.clone(), w))
    })
    .await
}

async fn miner_chart(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let key = &path.key;
    let cache_key = path.cache_key("chart/hashrate");
    cached(&state, &cache_key, cache::SLOW, || async {
        let now = state.clock.now();
        let points = read(&state, key, move |s, k| {
            stats::read_miner_history(s, k.as_str(), Resolution::Minute, now)
        })
        .await?;
        to_body(&points)
    })
    .await
}

async fn all_worker_charts(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let key = &path.key;
    let cache_key = path.cache_key("chart/hashrate/allWorkers");
    cached(&state, &cache_key, cache::SLOW, || async {
        let now = state.clock.now();
        let out = read(&state, key, move |s, k| {
            let global = stats::read_miner_history(s, k.as_str(), Resolution::Minute, now)?;
            per_worker(s, k, global, |name| {
                stats::read_worker_history(s, k.as_str(), name, Resolution::Minute, now)
            })
        })
        .await?;
        to_body(&out)
    })
    .await
}

async fn worker_chart(State(state): State<ApiState>, path: MinerPath) -> Answer {
    let (key, name) = (&path.key, path.identifier()?);
    let cache_key = path.cache_key(&format!("chart/hashrate/{name}"));
    cached(&state, &cache_key, cache::SLOW, || async {
        let now = state.clock.now();
        let n = name.clone();
        let points = read(&state, key, move |s, k| {
            stats::read_worker_history(s, k.as_str(), &n, Resolution::Minute, now)
        })
        .await?;
        to_body(&points)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_exact_to_six_decimals_without_floats() {
        assert_eq!(percent(1, 3).to_string(), "33.333333");
        assert_eq!(percent(5, 5).to_string(), "100.0");
        assert_eq!(percent(0, 0).to_string(), "0");
        assert_eq!(percent(u64::MAX, u64::MAX).to_string(), "100.0");
    }

    #[test]
    fn identifiers_are_bounded() {
        let path = |name: &str| {
            MinerPath {
            key: MinerKey::parse(
                "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
                crate::domain::Network::Mainnet,
            )
            .unwrap(),
            identifier: Some(name.to_owned()),
        }
        };
        assert!(path("").identifier().is_err());
        assert!(path(&"é".repeat(64)).identifier().is_ok());
        assert!(path(&"x".repeat(65)).identifier().is_err());
        assert_eq!(path("rig/1 ü").identifier().unwrap(), "rig/1 ü");
    }
}
