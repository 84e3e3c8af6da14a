//! nodejs-pool's public pool routes: `/config`, `/pool/*` and `/network/stats`, with the
//! paths, parameters and JSON shapes of reference §7 (field names verbatim) so poolui and its
//! forks work unchanged, plus MoneroOcean's `/pool/motd`.
//!
//! Answers come from the worker's rollups in LMDB (`crate::stats::read_*`), the found-block
//! records in LMDB and the payout records in MySQL ([`payments`]); never from a scan of the
//! share store. Every answer is rendered at most once per time to live through the per-route
//! [`Cache`](super::Cache), keyed by the route and its *parsed* parameters (so junk query
//! strings neither render nor fill the cache). LMDB is read on the blocking pool, one
//! snapshot per render, never across an `.await`.
//!
//! Promptness: the worker rolls up every ~10 s, but `/pool/stats` must show a block within
//! 2 s of the pool finding it. So `/pool/stats` and `/pool/stats/:pool_type` overlay the
//! newest found blocks read at request time ([`overlay_new_blocks`]) on the rollup, under
//! the 1 s cache.
//!
//! Where nodejs-pool had bugs (reference §12.9) this module does not copy them: the
//! `address_type` route checks the address it is given, an unknown pool type is a 400 naming
//! the valid ones, and `/pool/chart/miners/:pool_type` serves its chart.

pub mod payments;

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::cache::{self, json_response};
use super::params::{MAX_ADDRESS_TEXT, MinerKey, Paging, Query};
use super::{ApiError, ApiState};
use crate::domain::{Bps, PoolType};
use crate::stats::{self, PoolScope, PoolStats, Resolution};
use crate::store::lmdb::{Block, BlockStatus, Snapshot};

/// `/pool/blocks` rows by default and at most.
pub const BLOCKS_DEFAULT: u32 = 25;
pub const BLOCKS_MAX: u32 = 100;
/// How deep `/pool/blocks` pages reach (`(page + 1) × limit`): the store lists blocks
/// newest first with their blobs, so a deeper page would copy every block above it.
pub const BLOCKS_DEPTH: u64 = 10_000;
/// `/pool/payments` rows by default and at most.
pub const PAYMENTS_DEFAULT: u32 = 10;
pub const PAYMENTS_MAX: u32 = 100;
/// Newest found blocks looked at by the `/pool/stats` overlay (more than a pool finds
/// between two rollups).
const OVERLAY_BLOCKS: usize = 16;
/// The coin every address is of.
const COIN_CODE: &str = "XMR";

/// The pool, network and config routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/config", get(config))
        .route("/pool/motd", get(motd))
        .route("/pool/address_type/{address}", get(address_type))
        .route("/pool/stats", get(pool_stats))
        .route("/pool/stats/{pool_type}", get(mode_stats))
        .route("/pool/chart/hashrate", get(hashrate_chart))
        .route("/pool/chart/hashrate/{pool_type}", get(mode_hashrate_chart))
        .route("/pool/chart/miners", get(miners_chart))
        .route("/pool/chart/miners/{pool_type}", get(mode_miners_chart))
        .route("/pool/ports", get(ports))
        .route("/pool/blocks", get(blocks))
        .route("/pool/blocks/{pool_type}", get(mode_blocks))
        .route("/pool/payments", get(pool_payments))
        .route("/pool/payments/{pool_type}", get(mode_payments))
        .route("/network/stats", get(network_stats))
}

/// The one path parameter of a route, with a JSON 400 for what axum cannot decode (bad
/// percent-encoding, invalid UTF-8).
#[derive(Debug)]
struct PathText(String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathText, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(text)| PathText(text))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

/// At most 32 characters of hostile text, for an error message.
fn shown(text: &str) -> String {
    text.chars().take(32).collect()
}

/// A `:pool_type` path segment: exactly `pplns`, `pps` or `solo`.
pub fn parse_pool_type(text: &str) -> Result<PoolType, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "pool_type: {:?} is not one of pplns, pps, solo",
            shown(text)
        ))
    })
}

/// A fee or donation as nodejs-pool shows it: a JSON number of percent (`0.6` for 60 basis
/// points, `1` for 100), written from the integer basis points without float arithmetic.
pub fn percent(rate: Bps) -> serde_json::Number {
    let (whole, frac) = (rate.0 / 100, rate.0 % 100);
    if frac == 0 {
        return serde_json::Number::from(whole);
    }
    format!("{whole}.{frac:02}")
        .parse()
        .unwrap_or_else(|_| serde_json::Number::from(whole))
}

/// Reads LMDB on the blocking pool: one snapshot, dropped before the task ends.
async fn read_store<T, F>(state: &ApiState, read: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Snapshot<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let snap = store.read()?;
        read(&snap)
    })
    .await
    .map_err(ApiError::internal)?
}

/// `GET /config`.
#[derive(Debug, Serialize)]
struct ConfigBody {
    pplns_fee: serde_json::Number,
    pps_fee: serde_json::Number,
    solo_fee: serde_json::Number,
    /// No BTC payouts (reference §12.10): always 0.
    btc_fee: u64,
    min_wallet_payout: u64,
    min_btc_payout: u64,
    min_exchange_payout: u64,
    dev_donation: serde_json::Number,
    pool_dev_donation: serde_json::Number,
    maturity_depth: u64,
    min_denom: u64,
    coin_code: &'static str,
}

async fn config(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let body = state
        .cache
        .get_or_render("/config", cache::SLOW, || async {
            let s = state.settings();
            let p = &s.payout;
            cache::to_body(&ConfigBody {
                pplns_fee: percent(p.pplns_fee),
                pps_fee: percent(p.pps_fee),
                solo_fee: percent(p.solo_fee),
                btc_fee: 0,
                min_wallet_payout: p.wallet_min.0,
                min_btc_payout: 0,
                min_exchange_payout: p.exchange_min.0,
                dev_donation: percent(p.dev_donation),
                pool_dev_donation: percent(p.pool_dev_donation),
                maturity_depth: p.blocks_required,
                min_denom: p.denom.0,
                coin_code: COIN_CODE,
            })
        })
        .await?;
    Ok(json_response(body))
}

/// `GET /pool/motd` (MoneroOcean): `{created, subject, body}` of the operator's message, or
/// `{}` when there is none (MoneroOcean's answer without news).
#[derive(Debug, Serialize)]
struct MotdBody {
    /// Unix seconds.
    created: u64,
    subject: String,
    body: String,
}

async fn motd(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let body = state
        .cache
        .get_or_render("/pool/motd", cache::SLOW, || async {
            let s = state.settings();
            let g = &s.general;
            if g.motd_subject.is_empty() && g.motd_body.is_empty() {
                return cache::to_body(&serde_json::json!({}));
            }
            cache::to_body(&MotdBody {
                created: g.motd_created,
                subject: g.motd_subject.clone(),
                body: g.motd_body.clone(),
            })
        })
        .await?;
    Ok(json_response(body))
}

/// `GET /pool/address_type/:address`: `{valid: true, address_type: "XMR"}` for any address
/// the pool accepts as a login on its network (standard, subaddress, integrated, or
/// `address.<payment id>`), else `{valid: false}`. Text longer than any address is a 400.
/// Not cached: parsing is cheaper than a cache entry per address a client makes up.
async fn address_type(
    State(state): State<ApiState>,
    PathText(address): PathText,
) -> Result<Response, ApiError> {
    if address.len() > MAX_ADDRESS_TEXT {
        return Err(ApiError::bad_request(format!(
            "address: longer than {MAX_ADDRESS_TEXT} characters"
        )));
    }
    let network = state.settings().general.network;
    let value = match MinerKey::parse(&address, network) {
        Ok(_) => serde_json::json!({"valid": true, "address_type": COIN_CODE}),
        Err(_) => serde_json::json!({"valid": false}),
    };
    Ok(json_response(cache::to_body(&value)?))
}

/// The modes whose ports are open, as nodejs-pool's `pool_list`.
fn pool_list(state: &ApiState) -> Vec<&'static str> {
    let s = state.settings();
    [
        (s.modes.pplns_enable, PoolType::Pplns),
        (s.modes.pps_enable, PoolType::Pps),
        (s.modes.solo_enable, PoolType::Solo),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, mode)| mode.as_str())
    .collect()
}

/// The rollup of `scope` (zeros before the worker's first), with blocks found since.
fn live_pool_stats(snap: &Snapshot<'_>, scope: PoolScope) -> Result<PoolStats, ApiError> {
    let mut stats = stats::read_pool(snap, scope)?.unwrap_or_default();
    let newest = snap.recent_blocks(OVERLAY_BLOCKS)?;
    if overlay_new_blocks(&mut stats, scope, &newest) {
        // The round restarted with the new block: its live count, not the rollup's.
        let round = match scope {
            PoolScope::Global => PoolType::ALL
                .iter()
                .map(|&m| snap.round_hashes(m))
                .sum::<Result<u64, _>>()?,
            PoolScope::Mode(m) => snap.round_hashes(m)?,
        };
        let difficulty = stats::read_network(snap)?.map_or(0, |n| n.difficulty);
        stats.round_hashes = round;
        stats.effort = effort_bps(round, difficulty);
    }
    Ok(stats)
}

/// Adds to `stats` the blocks of `scope` in `newest` (newest first) that the rollup has not
/// counted yet: accepted (`pending` or `unlocked`, as the worker counts them) and above its
/// `lastBlockFound`. Returns whether there was one.
pub fn overlay_new_blocks(stats: &mut PoolStats, scope: PoolScope, newest: &[Block]) -> bool {
    let fresh: Vec<&Block> = newest
        .iter()
        .filter(|b| {
            let r = &b.record;
            matches!(r.status, BlockStatus::Pending | BlockStatus::Unlocked)
                && r.height.0 > stats.last_block_found
                && match scope {
                    PoolScope::Global => true,
                    PoolScope::Mode(m) => r.pool_type == m,
                }
        })
        .collect();
    let Some(last) = fresh.iter().max_by_key(|b| b.record.timestamp) else {
        return false;
    };
    stats.last_block_found = last.record.height.0;
    stats.last_block_found_time = last.record.timestamp.as_secs();
    stats.total_blocks_found += fresh.len() as u64;
    true
}

/// Round hashes in basis points of the network difficulty, as the worker computes them.
fn effort_bps(round_hashes: u64, network_difficulty: u128) -> u64 {
    u128::from(round_hashes)
        .saturating_mul(10_000)
        .checked_div(network_difficulty)
        .map_or(0, |e| u64::try_from(e).unwrap_or(u64::MAX))
}

/// `GET /pool/stats`.
#[derive(Debug, Serialize)]
struct PoolStatsBody {
    pool_list: Vec<&'static str>,
    pool_statistics: PoolStats,
    /// Unix seconds of the newest payout transaction (0 before the first).
    last_payment: u64,
}

async fn pool_stats(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let body = state
        .cache
        .get_or_render("/pool/stats", cache::PROMPT, || async {
            let last_payment = payments::last_payment_secs(&state.db).await?;
            let stats = read_store(&state, |snap| live_pool_stats(snap, PoolScope::Global)).await?;
            cache::to_body(&PoolStatsBody {
                pool_list: pool_list(&state),
                pool_statistics: stats,
                last_payment,
            })
        })
        .await?;
    Ok(json_response(body))
}

/// `GET /pool/stats/:pool_type`: the mode's statistics with its fee (percent).
#[derive(Debug, Serialize)]
struct ModeStats {
    #[serde(flatten)]
    stats: PoolStats,
    fee: serde_json::Number,
}

async fn mode_stats(
    State(state): State<ApiState>,
    PathText(pool_type): PathText,
) -> Result<Response, ApiError> {
    let mode = parse_pool_type(&pool_type)?;
    let key = format!("/pool/stats/{}", mode.as_str());
    let body = state
        .cache
        .get_or_render(&key, cache::PROMPT, || async {
            let stats = read_store(&state, move |snap| {
                live_pool_stats(snap, PoolScope::Mode(mode))
            })
            .await?;
            let s = state.settings();
            let fee = match mode {
                PoolType::Pplns => s.payout.pplns_fee,
                PoolType::Pps => s.payout.pps_fee,
                PoolType::Solo => s.payout.solo_fee,
            };
            cache::to_body(&serde_json::json!({
                "pool_statistics": ModeStats { stats, fee: percent(fee) },
            }))
        })
        .await?;
    Ok(json_response(body))
}

/// Which pool chart.
#[derive(Debug, Clone, Copy)]
enum Chart {
    /// `[{ts, hs}]`.
    Hashrate,
    /// `[{ts, cn}]`.
    Miners,
}

/// A pool chart, newest first (nodejs-pool's `hashHistory` and `minerHistory`), `ts` in
/// Unix milliseconds: one-minute points over `general.statsBufferLength` (nodejs-pool's
/// only chart), or with `?resolution=hour` the hourly points kept for `worker.historyDays`
/// (for a month's view).
async fn chart(
    state: ApiState,
    scope: PoolScope,
    chart: Chart,
    query: Query,
) -> Result<Response, ApiError> {
    let resolution = chart_resolution(&query)?;
    let tag = match resolution {
        Resolution::Minute => "",
        Resolution::Hour => "?resolution=hour",
    };
    let key = match chart {
        Chart::Hashrate => format!("/pool/chart/hashrate/{}{tag}", scope.as_str()),
        Chart::Miners => format!("/pool/chart/miners/{}{tag}", scope.as_str()),
    };
    let now = state.clock.now();
    let body = state
        .cache
        .get_or_render(&key, cache::SLOW, || async {
            read_store(&state, move |snap| match chart {
                Chart::Hashrate => cache::to_body(&stats::read_pool_hashrate_history(
                    snap, scope, resolution, now,
                )?),
                Chart::Miners => cache::to_body(&stats::read_pool_miners_history(
                    snap, scope, resolution, now,
                )?),
            })
            .await
        })
        .await?;
    Ok(json_response(body))
}

/// A chart's `resolution`: `minute` (the default) or `hour`.
fn chart_resolution(query: &Query) -> Result<Resolution, ApiError> {
    match query.get("resolution") {
        None | Some("minute") => Ok(Resolution::Minute),
        Some("hour") => Ok(Resolution::Hour),
        Some(other) => Err(ApiError::bad_request(format!(
            "resolution: {:?} is not one of minute, hour",
            shown(other)
        ))),
    }
}

async fn hashrate_chart(State(state): State<ApiState>, query: Query) -> Result<Response, ApiError> {
    chart(state, PoolScope::Global, Chart::Hashrate, query).await
}

async fn mode_hashrate_chart(
    State(state): State<ApiState>,
    PathText(pool_type): PathText,
    query: Query,
) -> Result<Response, ApiError> {
    let mode = parse_pool_type(&pool_type)?;
    chart(state, PoolScope::Mode(mode), Chart::Hashrate, query).await
}

async fn miners_chart(State(state): State<ApiState>, query: Query) -> Result<Response, ApiError> {
    chart(state, PoolScope::Global, Chart::Miners, query).await
}

async fn mode_miners_chart(
    State(state): State<ApiState>,
    PathText(pool_type): PathText,
    query: Query,
) -> Result<Response, ApiError> {
    let mode = parse_pool_type(&pool_type)?;
    chart(state, PoolScope::Mode(mode), Chart::Miners, query).await
}

/// `GET /pool/ports`: the worker's `ports` (nodejs-pool's `poolPorts`).
async fn ports(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let body = state
        .cache
        .get_or_render("/pool/ports", cache::SLOW, || async {
            read_store(&state, |snap| cache::to_body(&stats::read_ports(snap)?)).await
        })
        .await?;
    Ok(json_response(body))
}

/// `GET /network/stats`: the worker's `network` (nodejs-pool's `networkBlockInfo`), `{}`
/// before the worker's first.
async fn network_stats(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let body = state
        .cache
        .get_or_render("/network/stats", cache::LIVE, || async {
            read_store(&state, |snap| match stats::read_network(snap)? {
                Some(network) => cache::to_body(&network),
                None => cache::to_body(&serde_json::json!({})),
            })
            .await
        })
        .await?;
    Ok(json_response(body))
}

/// One row of `/pool/blocks`: nodejs-pool's fields, then `status` and `effort`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockRow {
    /// Found, Unix milliseconds.
    pub ts: u64,
    pub hash: String,
    /// The network difficulty of the block.
    pub diff: u128,
    /// The pool's round work when it was found (0 when unknown).
    pub shares: u128,
    pub height: u64,
    /// Not orphaned.
    pub valid: bool,
    /// Credited to the miners.
    pub unlocked: bool,
    pub pool_type: PoolType,
    /// The reward, atomic units (0 until known).
    pub value: u64,
    /// `pending` (not yet buried deep enough, or not yet seen on the chain), `confirmed`
    /// (unlocked and credited) or `orphaned`.
    pub status: &'static str,
    /// `shares` in basis points of `diff` (10,000 = 100 %, a block's expected work), as the
    /// pool statistics' `effort`.
    pub effort: u64,
}

impl BlockRow {
    pub fn of(block: &Block) -> BlockRow {
        let r = &block.record;
        let shares = r.shares_at_find.map_or(0, |d| d.0);
        let diff = r.network_difficulty.0;
        BlockRow {
            ts: r.timestamp.0,
            hash: r.hash.to_string(),
            diff,
            shares,
            height: r.height.0,
            valid: r.status != BlockStatus::Orphaned,
            unlocked: r.status == BlockStatus::Unlocked,
            pool_type: r.pool_type,
            value: r.reward.0,
            status: match r.status {
                BlockStatus::Pending | BlockStatus::Candidate => "pending",
                BlockStatus::Unlocked => "confirmed",
                BlockStatus::Orphaned => "orphaned",
            },
            effort: shares
                .saturating_mul(10_000)
                .checked_div(diff)
                .map_or(0, |e| u64::try_from(e).unwrap_or(u64::MAX)),
        }
    }
}

/// One page of found blocks, newest first, of one mode or all. The store lists blocks
/// newest first; a mode's page is found by reading twice as many each time until the page
/// is full or the store has no more.
fn blocks_page(
    snap: &Snapshot<'_>,
    mode: Option<PoolType>,
    paging: Paging,
) -> Result<Vec<BlockRow>, ApiError> {
    let offset = usize::try_from(paging.offset()).unwrap_or(usize::MAX);
    let limit = paging.limit as usize;
    let want = offset.saturating_add(limit);
    let mut read = want;
    loop {
        let newest = snap.recent_blocks(read)?;
        let exhausted = newest.len() < read;
        let matching: Vec<&Block> = newest
            .iter()
            .filter(|b| mode.is_none_or(|m| b.record.pool_type == m))
            .collect();
        if matching.len() >= want || exhausted {
            return Ok(matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(BlockRow::of)
                .collect());
        }
        read = read.saturating_mul(2);
    }
}

/// Which paged list.
#[derive(Debug, Clone, Copy)]
enum List {
    /// Found blocks, from LMDB.
    Blocks,
    /// Payout transactions, from MySQL.
    Payments,
}

/// `/pool/blocks[/:pool_type]` and `/pool/payments[/:pool_type]`: one page, cached under
/// the route and its parsed paging.
async fn list_route(
    state: ApiState,
    list: List,
    mode: Option<PoolType>,
    query: Query,
) -> Result<Response, ApiError> {
    let (route, paging) = match list {
        List::Blocks => (
            "blocks",
            Paging::from_query(&query, BLOCKS_DEFAULT, BLOCKS_MAX)?,
        ),
        List::Payments => (
            "payments",
            Paging::from_query(&query, PAYMENTS_DEFAULT, PAYMENTS_MAX)?,
        ),
    };
    if matches!(list, List::Blocks) && paging.offset() + u64::from(paging.limit) > BLOCKS_DEPTH {
        return Err(ApiError::bad_request(format!(
            "page: the block list reaches {BLOCKS_DEPTH} blocks deep (page x limit)"
        )));
    }
    let key = format!(
        "/pool/{route}/{}?limit={}&page={}",
        mode.map_or("all", PoolType::as_str),
        paging.limit,
        paging.page
    );
    let body = state
        .cache
        .get_or_render(&key, cache::PROMPT, || async {
            match list {
                List::Blocks => {
                    read_store(&state, move |snap| {
                        cache::to_body(&blocks_page(snap, mode, paging)?)
                    })
                    .await
                }
                List::Payments => cache::to_body(&payments::page(&state.db, mode, paging).await?),
            }
        })
        .await?;
    Ok(json_response(body))
}

async fn blocks(State(state): State<ApiState>, query: Query) -> Result<Response, ApiError> {
    list_route(state, List::Blocks, None, query).await
}

async fn mode_blocks(
    State(state): State<ApiState>,
    PathText(pool_type): PathText,
    query: Query,
) -> Result<Response, ApiError> {
    let mode = parse_pool_type(&pool_type)?;
    list_route(state, List::Blocks, Some(mode), query).await
}

async fn pool_payments(State(state): State<ApiState>, query: Query) -> Result<Response, ApiError> {
    list_route(state, List::Payments, None, query).await
}

async fn mode_payments(
    State(state): State<ApiState>,
    PathText(pool_type): PathText,
    query: Query,
) -> Result<Response, ApiError> {
    let mode = parse_pool_type(&pool_type)?;
    list_route(state, List::Payments, Some(mode), query).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Atomic, Difficulty, Hash32, Height, UnixMillis};
    use crate::store::lmdb::{BlockRecord, MinerId, WorkerId};

    fn block(height: u64, mode: PoolType, status: BlockStatus, at_ms: u64) -> Block {
        Block {
            record: BlockRecord {
                hash: Hash32([height as u8; 32]),
                height: Height(height),
                network_difficulty: Difficulty(1000),
                reward: Atomic(600),
                pool_type: mode,
                miner: MinerId(1),
                worker: WorkerId(1),
                timestamp: UnixMillis(at_ms),
                status,
                status_changed: UnixMillis(at_ms),
                reason: String::new(),
                shares_at_find: Some(Difficulty(1500)),
                blob: Vec::new(),
            },
            miner: "m".into(),
            worker: "w".into(),
        }
    }

    #[test]
    fn the_overlay_counts_accepted_blocks_above_the_rollups_last_one_in_scope() {
        let newest = [
            block(12, PoolType::Solo, BlockStatus::Pending, 12_000),
            block(11, PoolType::Pplns, BlockStatus::Candidate, 11_000),
            block(10, PoolType::Pplns, BlockStatus::Pending, 10_500),
            block(9, PoolType::Pplns, BlockStatus::Unlocked, 9_000),
        ];
        let rollup = PoolStats {
            last_block_found: 9,
            last_block_found_time: 9,
            total_blocks_found: 1,
            ..PoolStats::default()
        };
        let mut global = rollup.clone();
        assert!(overlay_new_blocks(&mut global, PoolScope::Global, &newest));
        assert_eq!(
            (
                global.last_block_found,
                global.last_block_found_time,
                global.total_blocks_found
            ),
            (12, 12, 3)
        );
        let mut pplns = rollup.clone();
        assert!(overlay_new_blocks(
            &mut pplns,
            PoolScope::Mode(PoolType::Pplns),
            &newest
        ));
        assert_eq!((pplns.last_block_found, pplns.total_blocks_found), (10, 2));
        let mut pps = rollup.clone();
        assert!(!overlay_new_blocks(
            &mut pps,
            PoolScope::Mode(PoolType::Pps),
            &newest
        ));
        assert_eq!(pps, rollup);
    }

    #[test]
    fn a_block_row_has_nodejs_pools_fields_and_its_status_and_effort() {
        let row = BlockRow::of(&block(7, PoolType::Pplns, BlockStatus::Unlocked, 7_000));
        let v = serde_json::to_value(&row).unwrap_or_default();
        for field in [
            "ts",
            "hash",
            "diff",
            "shares",
            "height",
            "valid",
            "unlocked",
            "pool_type",
            "value",
            "status",
            "effort",
        ] {
            assert!(v.get(field).is_some(), "{field}");
        }
        assert_eq!(
            (row.status, row.effort, row.valid, row.unlocked),
            ("confirmed", 15_000, true, true)
        );
        let orphan = BlockRow::of(&block(7, PoolType::Solo, BlockStatus::Orphaned, 7_000));
        assert_eq!((orphan.status, orphan.valid), ("orphaned", false));
        let candidate = BlockRow::of(&block(7, PoolType::Solo, BlockStatus::Candidate, 7_000));
        assert_eq!((candidate.status, candidate.valid), ("pending", true));
    }

    #[test]
    fn fees_are_percent_numbers_as_nodejs_pool_shows_them() {
        let shown = |bps| serde_json::to_string(&percent(Bps(bps))).unwrap_or_default();
        assert_eq!(
            [shown(60), shown(650), shown(100), shown(0), shown(5)],
            ["0.6", "6.5", "1", "0", "0.05"]
        );
    }

    #[test]
    fn charts_are_by_the_minute_unless_hourly_points_are_asked_for() {
        let query = |pairs: &[(&str, &str)]| {
            Query(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        assert_eq!(chart_resolution(&query(&[])).ok(), Some(Resolution::Minute));
        assert_eq!(
            chart_resolution(&query(&[("resolution", "minute")])).ok(),
            Some(Resolution::Minute)
        );
        assert_eq!(
            chart_resolution(&query(&[("resolution", "hour")])).ok(),
            Some(Resolution::Hour)
        );
        for bad in ["day", "HOUR", ""] {
            let err = chart_resolution(&query(&[("resolution", bad)])).unwrap_err();
            assert!(
                matches!(&err, ApiError::BadRequest(m) if m.contains("minute, hour")),
                "{bad}"
            );
        }
    }

    #[test]
    fn pool_types_are_exact_and_refusals_name_the_valid_ones() {
        assert_eq!(parse_pool_type("pps").ok(), Some(PoolType::Pps));
        for bad in [
            "PPLNS",
            "global",
            "",
            "pplns ",
            "ṗplns",
            "'; DROP TABLE x; --",
        ] {
            let err = parse_pool_type(bad).unwrap_err();
            assert!(
                matches!(&err, ApiError::BadRequest(m) if m.contains("pplns, pps, solo")),
                "{bad}"
            );
        }
    }
}
