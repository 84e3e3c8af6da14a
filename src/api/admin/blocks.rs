//! `/admin/blocks` and `/admin/pps/:height/retry`: found blocks and the repairs the
//! block-manager allows, through `admin::blocks` (the code `rxpool admin block` runs). None
//! of them credits anything: crediting stays with the block-manager.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{ApiError, ApiState, Segment, audit, json, path_param};
use crate::admin::blocks::{self, Added, BlockDetail, BlockList, Recheck, RetryTarget};
use crate::api::auth::AdminIdentity;
use crate::api::params::{JsonBody, Paging, Query};
use crate::domain::{Hash32, Height};
use crate::monero::daemon::DaemonClient;
use crate::monero::wallet::WalletClient;
use crate::store::lmdb::BlockStatus;

/// `GET /admin/blocks?limit&page&status`: found blocks newest first, and what is set aside.
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Query,
) -> Result<Json<BlockList>, ApiError> {
    let paging = Paging::from_query(&query, 50, 1000)?;
    let status = match query.get("status") {
        None => None,
        Some("candidate") => Some(BlockStatus::Candidate),
        Some("pending") => Some(BlockStatus::Pending),
        Some("unlocked") => Some(BlockStatus::Unlocked),
        Some("orphaned") => Some(BlockStatus::Orphaned),
        Some(_) => {
            return Err(ApiError::bad_request(
                "status: must be candidate, pending, unlocked or orphaned",
            ));
        }
    };
    let offset = usize::try_from(paging.offset()).unwrap_or(usize::MAX);
    let limit = usize::try_from(paging.limit).unwrap_or(usize::MAX);
    Ok(Json(
        blocks::list(&state.db, &state.store, status, limit, offset).await?,
    ))
}

/// `GET /admin/blocks/:hash`: one block, its paid-block row and credit lines.
pub(super) async fn show(
    State(state): State<ApiState>,
    Segment(hash): Segment,
) -> Result<Json<BlockDetail>, ApiError> {
    let hash: Hash32 = path_param("hash", &hash)?;
    Ok(Json(blocks::show(&state.db, &state.store, hash).await?))
}

/// `POST /admin/blocks/:hash/recheck`: back to pending (409 for a credited block).
pub(super) async fn recheck(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(hash): Segment,
) -> Result<Json<Recheck>, ApiError> {
    let hash: Hash32 = path_param("hash", &hash)?;
    let done = blocks::recheck(&state.db, &state.store, hash, state.clock.now()).await?;
    audit(
        &state,
        &who,
        "block.recheck",
        &hash.to_string(),
        Some(serde_json::json!({ "status": done.before })),
        Some(serde_json::json!({ "status": done.after })),
    )
    .await?;
    state.cache.invalidate("/pool/blocks");
    Ok(Json(done))
}

async fn retry(
    state: ApiState,
    who: AdminIdentity,
    target: RetryTarget,
) -> Result<Json<serde_json::Value>, ApiError> {
    blocks::retry(&state.db, target).await?;
    let (action, key) = match target {
        RetryTarget::Block(hash) => ("block.retry", hash.to_string()),
        RetryTarget::Pps(height) => ("pps.retry", height.0.to_string()),
    };
    audit(
        &state,
        &who,
        action,
        &key,
        Some(serde_json::json!({ "set_aside": true })),
        Some(serde_json::json!({ "set_aside": true, "due": "now" })),
    )
    .await?;
    Ok(Json(serde_json::json!({ "retry": target.to_string() })))
}

/// `POST /admin/blocks/:hash/retry`: a block set aside is due at the next pass.
pub(super) async fn retry_block(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(hash): Segment,
) -> Result<Json<serde_json::Value>, ApiError> {
    let hash: Hash32 = path_param("hash", &hash)?;
    retry(state, who, RetryTarget::Block(hash)).await
}

/// `POST /admin/pps/:height/retry`: a PPS height set aside is due at the next pass.
pub(super) async fn retry_pps(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(height): Segment,
) -> Result<Json<serde_json::Value>, ApiError> {
    let height: u64 = path_param("height", &height)?;
    retry(state, who, RetryTarget::Pps(Height(height))).await
}

/// `POST /admin/blocks` body.
#[derive(Debug, Deserialize)]
pub(super) struct AddBody {
    height: u64,
}

/// `POST /admin/blocks {height}`: records the chain block at `height` when its coinbase pays
/// the pool wallet and nothing recorded it (the daemon and wallet of `config.toml`).
pub(super) async fn add(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Json<Added>, ApiError> {
    let daemon = DaemonClient::new(&state.config.daemon.urls)
        .map_err(|e| super::unreachable_service("monerod", &e))?;
    let wallet = WalletClient::with_timeout(
        &state.config.wallet.url,
        Duration::from_secs(state.config.wallet.timeout_secs),
    )
    .map_err(|e| super::unreachable_service("wallet-rpc", &e))?;
    let added = blocks::add_block(
        Height(body.height),
        &state.db,
        &state.store,
        &daemon,
        &wallet,
        state.clock.now(),
    )
    .await?;
    audit(
        &state,
        &who,
        "block.add",
        &added.hash.to_string(),
        None,
        json(&added),
    )
    .await?;
    state.cache.invalidate("/pool/blocks");
    Ok(Json(added))
}
