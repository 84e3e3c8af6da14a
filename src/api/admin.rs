//! The operator routes under `/admin`: each does what the matching `rxpool admin` command
//! does by calling the same typed operation below the roles (`admin::ops`, `admin::blocks`,
//! `admin::payments`, `admin::mail`) and returns its result as JSON; neither front
//! re-implements the other. Every write leaves exactly one `admin_audit` row (actor, action,
//! target, state before and after) once it has succeeded; a refused write changes nothing and
//! leaves none.
//!
//! Input is parsed here into the operations' types with a JSON 400 for anything malformed;
//! the operations' refusals map to 404 (unknown id), 409 (a transition the state refuses) or
//! 400/422 (a rule broken), and an unreachable daemon or wallet to 503. Roles (viewer or
//! admin) are [`auth::require_admin`]'s business, not this module's.
//!
//! - [`settings`]: config items, ports and bans.
//! - [`blocks`]: found blocks and the block-manager's repairs.
//! - [`payouts`]: payout batches, set-aside balances, run-now.
//! - [`mail`]: the e-mail outbox.
//! - [`overview`]: stats, the wallet and the user list.

mod blocks;
mod mail;
mod overview;
mod payouts;
mod settings;

use std::str::FromStr;

use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;

use super::auth::AdminIdentity;
use super::{ApiError, ApiState, auth};
use crate::admin::blocks::AdminBlockError;
use crate::admin::mail::AdminMailError;
use crate::admin::ops::OpsError;
use crate::admin::payments::AdminPaymentsError;
use crate::store::mysql::audit::{self, AuditEntry};
use crate::store::mysql::payouts::PayoutError;

/// Longest free-text reason accepted (bans, holds), in characters.
pub const MAX_REASON: usize = 256;

/// The admin routes, behind [`auth::require_admin`].
pub fn routes(state: ApiState) -> Router {
    operator_routes()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ))
        .with_state(state)
}

/// The admin routes without the authentication layer (tests put an identity in themselves).
pub fn operator_routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/whoami", get(whoami))
        .route("/admin/stats", get(overview::stats))
        .route("/admin/wallet", get(overview::wallet))
        .route("/admin/wallet/history", get(overview::wallet_history))
        .route("/admin/userList", get(overview::user_list))
        .route(
            "/admin/ports",
            get(settings::ports)
                .post(settings::add_port)
                .put(settings::update_port)
                .delete(settings::remove_port),
        )
        .route(
            "/admin/config",
            get(settings::config).put(settings::set_config),
        )
        .route("/admin/bans", get(settings::bans).post(settings::add_ban))
        .route("/admin/bans/{id}", delete(settings::remove_ban))
        .route(
            "/admin/miners/{address}/threshold-lock",
            post(settings::threshold_lock),
        )
        .route("/admin/blocks", get(blocks::list).post(blocks::add))
        .route("/admin/blocks/{hash}", get(blocks::show))
        .route("/admin/blocks/{hash}/recheck", post(blocks::recheck))
        .route("/admin/blocks/{hash}/retry", post(blocks::retry_block))
        .route("/admin/pps/{height}/retry", post(blocks::retry_pps))
        .route("/admin/payouts", get(payouts::list))
        .route("/admin/payouts/totals", get(payouts::totals))
        .route("/admin/payouts/set-aside", get(payouts::set_aside))
        .route("/admin/payouts/run-now", post(payouts::run_now))
        .route("/admin/payouts/{batch}", get(payouts::show))
        .route("/admin/payouts/{batch}/hold", post(payouts::hold))
        .route("/admin/payouts/{batch}/release", post(payouts::release))
        .route("/admin/payouts/{batch}/retry", post(payouts::retry))
        .route(
            "/admin/balances/{id}/release",
            post(payouts::release_balance),
        )
        .route("/admin/mail", get(mail::list))
        .route("/admin/mail/retry-failed", post(mail::retry_failed))
        .route("/admin/mail/purge", post(mail::purge))
        .route("/admin/mail/{id}", delete(mail::delete))
        .route("/admin/mail/{id}/retry", post(mail::retry))
}

/// `GET /admin/whoami`: the account the token belongs to and its role (`admin` or `viewer`).
async fn whoami(Extension(admin): Extension<AdminIdentity>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": admin.id, "name": admin.name, "role": admin.role }))
}

/// Records one admin write in `admin_audit`, in the request that made it.
async fn audit(
    state: &ApiState,
    who: &AdminIdentity,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        actor: &who.name,
        action,
        target,
        before,
        after,
    };
    audit::record(&state.db, state.clock.now(), &entry).await?;
    Ok(())
}

/// `value` as a JSON value for the audit log.
fn json<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// A path segment parsed as `T` (ids, hashes, heights), or a JSON 400 naming it.
fn path_param<T: FromStr>(name: &str, text: &str) -> Result<T, ApiError> {
    if text.len() > 128 {
        return Err(ApiError::bad_request(format!("{name}: too long")));
    }
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{name}: {text:.70?} is not valid")))
}

/// Largest body an [`OptionalJson`] route reads.
pub const MAX_OPTIONAL_BODY: usize = 64 * 1024;

/// One path segment as text; a segment that is not UTF-8 is a JSON 400 (axum's `Path`
/// answers in plain text).
#[derive(Debug, Clone)]
struct Segment(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Segment, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(text)) => Ok(Segment(text)),
            Err(e) => Err(ApiError::bad_request(format!("path: {}", e.body_text()))),
        }
    }
}

/// A JSON body of `T` that may be left out (empty: `T::default()`), for the writes whose
/// fields are all optional (hold, release, purge). At most [`MAX_OPTIONAL_BODY`] bytes.
#[derive(Debug, Clone)]
struct OptionalJson<T>(T);

impl<T, S> axum::extract::FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_OPTIONAL_BODY)
            .await
            .map_err(|_| {
                ApiError::PayloadTooLarge(format!("body: larger than {MAX_OPTIONAL_BODY} bytes"))
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))
    }
}

/// A free-text reason: at most [`MAX_REASON`] characters, no control characters.
fn reason(text: Option<String>, default: &str) -> Result<String, ApiError> {
    let text = text.unwrap_or_else(|| default.to_owned());
    if text.chars().count() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason: longer than {MAX_REASON} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::bad_request("reason: control characters"));
    }
    Ok(text)
}

/// A 503 naming `service`; its error (which may hold its URL) goes to the log only.
pub(crate) fn unreachable_service(service: &str, error: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "api: {service} did not answer");
    ApiError::Unavailable(format!(
        "{service} did not answer; the api's log has the details"
    ))
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        match e {
            OpsError::Invalid(why) => ApiError::BadRequest(why),
            OpsError::NotFound(why) => ApiError::NotFound(why),
            OpsError::Conflict(why) => ApiError::Conflict(why),
            OpsError::Store(e) => ApiError::internal(e),
        }
    }
}

impl From<PayoutError> for ApiError {
    fn from(e: PayoutError) -> ApiError {
        match e {
            PayoutError::NoSuchBatch(_) => ApiError::NotFound(e.to_string()),
            PayoutError::StatusChanged { .. } | PayoutError::NotPermitted { .. } => {
                ApiError::Conflict(e.to_string())
            }
            e => ApiError::internal(e),
        }
    }
}

impl From<AdminPaymentsError> for ApiError {
    fn from(e: AdminPaymentsError) -> ApiError {
        use AdminPaymentsError as E;
        match e {
            E::Store(e) => e.into(),
            E::UnknownStatus(_) | E::NothingToRelease | E::BadTarget { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            E::NoTx(_) | E::TxNotFailed { .. } | E::TxKnownToDaemon { .. } => {
                ApiError::Conflict(e.to_string())
            }
            E::Wallet(e) => unreachable_service("wallet-rpc", &e),
            E::Daemon(e) => unreachable_service("monerod", &e),
            E::NoWallet | E::NoDaemon | E::NoNetwork => ApiError::Unavailable(e.to_string()),
            e @ (E::Cycle(_) | E::Move(_)) => ApiError::internal(e),
        }
    }
}

impl From<AdminBlockError> for ApiError {
    fn from(e: AdminBlockError) -> ApiError {
        use AdminBlockError as E;
        match e {
            E::UnknownBlock(_) | E::NotSetAside(_) | E::NoSuchHeight(_) => {
                ApiError::NotFound(e.to_string())
            }
            E::AlreadyCredited(_) | E::AlreadyRecorded { .. } => ApiError::Conflict(e.to_string()),
            E::NotPoolWallet { .. } => ApiError::Unprocessable(e.to_string()),
            E::ChainNeeded => ApiError::Unavailable(e.to_string()),
            E::Daemon(e) => unreachable_service("monerod", &e),
            E::Wallet(e) => unreachable_service("wallet-rpc", &e),
            e @ (E::Store(_) | E::Credit(_) | E::Issues(_)) => ApiError::internal(e),
        }
    }
}

impl From<AdminMailError> for ApiError {
    fn from(e: AdminMailError) -> ApiError {
        match e {
            AdminMailError::NotRetryable(_) | AdminMailError::NotDeletable(_) => {
                ApiError::NotFound(e.to_string())
            }
            AdminMailError::Mail(e) => ApiError::internal(e),
        }
    }
}
