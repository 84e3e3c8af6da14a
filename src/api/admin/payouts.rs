//! `/admin/payouts` and `/admin/balances/:id/release`: the payout review queue through
//! `admin::payments` (the code `rxpool admin payments` runs), so a hold, release or retry here
//! moves a batch exactly as the CLI does, by the store's compare-and-swap transitions (a
//! refused transition is a 409 with the store's reason). `run-now` only asks the running
//! payments role (`payouts::request_run`); a cycle never runs inside the api.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{ApiError, ApiState, OptionalJson, Segment, audit, path_param, reason};
use crate::admin::payments::{
    self, BatchDetail, BatchView, SetAsideView, Totals, Transition, parse_statuses,
};
use crate::api::auth::AdminIdentity;
use crate::api::params::{Paging, Query};
use crate::monero::daemon::DaemonClient;
use crate::monero::wallet::WalletClient;
use crate::store::mysql::payouts;

/// `GET /admin/payouts?status&limit&page`: batches newest first; `status` is one name or
/// several separated by commas.
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Query,
) -> Result<Json<Vec<BatchView>>, ApiError> {
    let paging = Paging::from_query(&query, 50, 500)?;
    let names: Vec<String> = query
        .get("status")
        .map(|s| s.split(',').map(|n| n.trim().to_owned()).collect())
        .unwrap_or_default();
    let statuses =
        parse_statuses(&names).map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
    Ok(Json(
        payments::list(&state.db, &statuses, paging.limit, paging.offset()).await?,
    ))
}

fn batch_id(text: &str) -> Result<u64, ApiError> {
    path_param("batch", text)
}

/// `GET /admin/payouts/:batch`: the batch and its items; its tx key only with `?tx_key=1`.
pub(super) async fn show(
    State(state): State<ApiState>,
    Segment(batch): Segment,
    query: Query,
) -> Result<Json<BatchDetail>, ApiError> {
    let batch = batch_id(&batch)?;
    let tx_key = match query.get("tx_key") {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return Err(ApiError::bad_request("tx_key: must be 1 or 0")),
    };
    Ok(Json(payments::show(&state.db, batch, tx_key).await?))
}

/// `POST /admin/payouts/:batch/hold` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldBody {
    reason: Option<String>,
}

/// `POST /admin/payouts/:batch/release` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseBody {
    #[serde(default)]
    revert: bool,
}

async fn audited(
    state: &ApiState,
    who: &AdminIdentity,
    action: &str,
    done: &Transition,
) -> Result<(), ApiError> {
    audit(
        state,
        who,
        action,
        &done.batch.to_string(),
        Some(serde_json::json!({ "status": done.before })),
        Some(serde_json::json!({ "status": done.after })),
    )
    .await?;
    state.cache.invalidate("/pool/payments");
    Ok(())
}

/// `POST /admin/payouts/:batch/hold {reason}`.
pub(super) async fn hold(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(batch): Segment,
    OptionalJson(body): OptionalJson<HoldBody>,
) -> Result<Json<Transition>, ApiError> {
    let batch = batch_id(&batch)?;
    let why = reason(body.reason, "held by operator")?;
    let done = payments::hold(&state.db, batch, &why).await?;
    audited(&state, &who, "payout.hold", &done).await?;
    Ok(Json(done))
}

/// `POST /admin/payouts/:batch/release {revert}`: releases a batch never signed; with
/// `revert`, credits back a manual-review batch whose tx the wallet and daemon do not know.
pub(super) async fn release(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(batch): Segment,
    OptionalJson(body): OptionalJson<ReleaseBody>,
) -> Result<Json<Transition>, ApiError> {
    let batch = batch_id(&batch)?;
    let (wallet, daemon) = if body.revert {
        let wallet = WalletClient::with_timeout(
            &state.config.wallet.url,
            Duration::from_secs(state.config.wallet.timeout_secs),
        )
        .map_err(|e| super::unreachable_service("wallet-rpc", &e))?;
        let daemon = DaemonClient::new(&state.config.daemon.urls)
            .map_err(|e| super::unreachable_service("monerod", &e))?;
        (Some(wallet), Some(daemon))
    } else {
        (None, None)
    };
    let done = payments::release(
        &state.db,
        wallet.as_ref(),
        daemon.as_ref(),
        batch,
        body.revert,
    )
    .await?;
    let action = if done.after == "reverted" {
        "payout.revert"
    } else {
        "payout.release"
    };
    audited(&state, &who, action, &done).await?;
    Ok(Json(done))
}

/// `POST /admin/payouts/:batch/retry`: resumes a held batch or relays a manual-review one.
pub(super) async fn retry(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(batch): Segment,
) -> Result<Json<Transition>, ApiError> {
    let batch = batch_id(&batch)?;
    let done = payments::retry(&state.db, batch).await?;
    audited(&state, &who, "payout.retry", &done).await?;
    Ok(Json(done))
}

/// `GET /admin/payouts/totals`: pool-wide totals and the books.
pub(super) async fn totals(State(state): State<ApiState>) -> Result<Json<Totals>, ApiError> {
    Ok(Json(payments::totals(&state.db).await?))
}

/// `GET /admin/payouts/set-aside`: balances the wallet refused, with the reasons.
pub(super) async fn set_aside(
    State(state): State<ApiState>,
) -> Result<Json<Vec<SetAsideView>>, ApiError> {
    Ok(Json(payments::set_aside(&state.db).await?))
}

/// `POST /admin/balances/:id/release`: a set-aside balance may be paid again (404 when it
/// was not set aside).
pub(super) async fn release_balance(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(id): Segment,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: u64 = path_param("id", &id)?;
    let before = payments::set_aside(&state.db)
        .await?
        .into_iter()
        .find(|s| s.balance_id == id)
        .ok_or_else(|| ApiError::not_found(format!("balance {id} is not set aside")))?;
    if !payments::release_balance(&state.db, id).await? {
        return Err(ApiError::not_found(format!(
            "balance {id} is not set aside"
        )));
    }
    audit(
        &state,
        &who,
        "balance.release",
        &id.to_string(),
        Some(serde_json::json!({ "set_aside": true, "reason": before.reason })),
        Some(serde_json::json!({ "set_aside": false })),
    )
    .await?;
    Ok(Json(
        serde_json::json!({ "balance": id, "set_aside": false }),
    ))
}

/// `POST /admin/payouts/run-now`: asks the running payments role for a cycle.
pub(super) async fn run_now(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = payouts::request_run(&state.db).await?;
    audit(
        &state,
        &who,
        "payout.run_now",
        &id.to_string(),
        None,
        Some(serde_json::json!({ "requested": id })),
    )
    .await?;
    Ok(Json(serde_json::json!({ "requested": id })))
}
