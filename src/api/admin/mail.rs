//! `/admin/mail`: the e-mail outbox through `admin::mail` (the code `rxpool admin mail`
//! runs). Recipients are always masked here and bodies (which hold unsubscribe links) never
//! leave the database.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{ApiError, ApiState, OptionalJson, Segment, audit, json, path_param};
use crate::admin::mail::{self, MailView};
use crate::api::auth::AdminIdentity;
use crate::api::params::Query;
use crate::mail::outbox::OutboxState;

/// Most rows one list returns.
const MAX_LIST: u32 = 1000;

/// `GET /admin/mail?state&limit`: rows newest first.
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Query,
) -> Result<Json<Vec<MailView>>, ApiError> {
    let which = match query.get("state") {
        None => None,
        Some(s) => Some(s.parse::<OutboxState>().map_err(|_| {
            ApiError::bad_request("state: must be queued, sending, sent or failed")
        })?),
    };
    let limit = crate::api::params::Paging::from_query(&query, 50, MAX_LIST)?.limit;
    Ok(Json(mail::list(&state.db, which, limit, false).await?))
}

async fn existing(state: &ApiState, id: u64) -> Result<MailView, ApiError> {
    mail::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no mail {id}")))
}

/// `POST /admin/mail/:id/retry`: a failed row is queued again, due now (409 for a row sent
/// or being sent).
pub(super) async fn retry(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(id): Segment,
) -> Result<Json<MailView>, ApiError> {
    let id: u64 = path_param("id", &id)?;
    let before = existing(&state, id).await?;
    mail::retry(&state.db, id, state.clock.now())
        .await
        .map_err(|e| match e {
            mail::AdminMailError::NotRetryable(_) => ApiError::Conflict(format!(
                "mail {id} is {}; only a failed or queued mail is retried",
                before.state
            )),
            e => e.into(),
        })?;
    let after = existing(&state, id).await?;
    audit(
        &state,
        &who,
        "mail.retry",
        &id.to_string(),
        Some(serde_json::json!({ "state": before.state })),
        Some(serde_json::json!({ "state": after.state })),
    )
    .await?;
    Ok(Json(after))
}

/// `POST /admin/mail/retry-failed`: every failed row is queued again.
pub(super) async fn retry_failed(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = mail::retry_failed(&state.db, state.clock.now()).await?;
    audit(
        &state,
        &who,
        "mail.retry_failed",
        "",
        Some(serde_json::json!({ "failed": n })),
        Some(serde_json::json!({ "queued": n })),
    )
    .await?;
    Ok(Json(serde_json::json!({ "queued": n })))
}

/// `DELETE /admin/mail/:id`: deletes a row unless it is being sent (409 then).
pub(super) async fn delete(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    Segment(id): Segment,
) -> Result<Json<MailView>, ApiError> {
    let id: u64 = path_param("id", &id)?;
    let before = existing(&state, id).await?;
    mail::delete(&state.db, id).await.map_err(|e| match e {
        mail::AdminMailError::NotDeletable(_) => {
            ApiError::Conflict(format!("mail {id} is being sent"))
        }
        e => e.into(),
    })?;
    audit(
        &state,
        &who,
        "mail.delete",
        &id.to_string(),
        json(&before),
        None,
    )
    .await?;
    Ok(Json(before))
}

/// `POST /admin/mail/purge` body: sent rows older than this many days go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurgeBody {
    sent_before_days: Option<u64>,
}

/// `POST /admin/mail/purge {sent_before_days}`.
pub(super) async fn purge(
    State(state): State<ApiState>,
    Extension(who): Extension<AdminIdentity>,
    OptionalJson(body): OptionalJson<PurgeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let days = body
        .sent_before_days
        .ok_or_else(|| ApiError::bad_request("sent_before_days: required"))?;
    if days > 36_500 {
        return Err(ApiError::bad_request(
            "sent_before_days: must be 0 to 36500",
        ));
    }
    let n = mail::purge_sent_before(&state.db, days, state.clock.now()).await?;
    audit(
        &state,
        &who,
        "mail.purge",
        "",
        Some(serde_json::json!({ "sent_before_days": days })),
        Some(serde_json::json!({ "deleted": n })),
    )
    .await?;
    Ok(Json(serde_json::json!({ "deleted": n })))
}
