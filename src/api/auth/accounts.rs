//! The account routes: `GET /admin/users`, `POST /admin/users {name, password, role}`,
//! `DELETE /admin/users/{name}`, `GET /admin/audit?limit&page` (behind
//! [`super::require_admin`]: viewers read, admins write), and `POST /admin/password {current,
//! new}`, which any account may use for its own password (viewers included: it changes only
//! their own credential), with the current password checked under the failed-login limits.
//!
//! Every change goes through `store::mysql::admins` (the code `rxpool admin user` uses too)
//! and leaves one audit row naming the account that made it; no answer, log line or audit
//! row holds a password or hash.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::login::{LoginRefusal, limited_check};
use super::{AdminIdentity, blocking, client_ip};
use crate::api::params::{JsonBody, Paging, Query};
use crate::api::{ApiError, ApiState};
use crate::store::mysql::admins::{self, AdminAccount, AdminName, Role};
use crate::store::mysql::audit;

/// Default and largest page of `/admin/audit`.
const AUDIT_PAGE: u32 = 50;
const AUDIT_PAGE_MAX: u32 = 500;

/// The routes that need [`super::require_admin`] in front.
pub(super) fn guarded_routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/users", get(list_users).post(add_user))
        .route("/admin/users/{name}", delete(remove_user))
        .route("/admin/audit", get(audit_log))
}

/// The routes that authenticate themselves (any role).
pub(super) fn self_routes() -> Router<ApiState> {
    Router::new().route("/admin/password", post(change_own_password))
}

/// `GET /admin/users` → `[{id, name, role, created_ms, password_changed_ms}]` by name.
async fn list_users(State(state): State<ApiState>) -> Result<Json<Vec<AdminAccount>>, ApiError> {
    Ok(Json(admins::list(&state.db).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    role: String,
}

/// `POST /admin/users {name, password, role}` → 201 with the account.
async fn add_user(
    State(state): State<ApiState>,
    Extension(admin): Extension<AdminIdentity>,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<AdminAccount>), ApiError> {
    let name = AdminName::parse(&body.name)?;
    let role = Role::parse(&body.role)?;
    let password = body.password;
    let hash = blocking(move || admins::hash_new_password(&password)).await??;
    let account = admins::create(
        &state.db,
        state.clock.now(),
        &admin.name,
        &name,
        role,
        &hash,
    )
    .await?;
    tracing::info!(admin = %admin.name, account = %account.name, role = %role, "admin account added");
    Ok((StatusCode::CREATED, Json(account)))
}

/// `DELETE /admin/users/{name}` → the removed account; its sessions end at once. The last
/// account with the `admin` role cannot be removed here (the command line can).
async fn remove_user(
    State(state): State<ApiState>,
    Extension(admin): Extension<AdminIdentity>,
    Path(name): Path<String>,
) -> Result<Json<AdminAccount>, ApiError> {
    let name = AdminName::parse(&name)?;
    let removed = admins::remove(
        &state.db,
        state.clock.now(),
        &admin.name,
        name.as_str(),
        true,
    )
    .await?;
    tracing::info!(admin = %admin.name, account = %removed.name, "admin account removed");
    Ok(Json(removed))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /admin/password {current, new}`: the token's own account. Every session of the
/// account ends (this one too): log in again with the new password.
async fn change_own_password(State(state): State<ApiState>, request: Request) -> Response {
    match change_password(state, request).await {
        Ok(json) => json.into_response(),
        Err(refusal) => refusal.respond_error(),
    }
}

async fn change_password(
    state: ApiState,
    request: Request,
) -> Result<Json<serde_json::Value>, LoginRefusal> {
    use axum::extract::FromRequest as _;
    let ip = client_ip(request.extensions());
    let (parts, body) = request.into_parts();
    let identity = super::authenticate(&state, &parts.headers).await?;
    let request = Request::from_parts(parts, body);
    let JsonBody(body) = JsonBody::<PasswordChange>::from_request(request, &state).await?;
    let new = body.new;
    let hash = blocking(move || admins::hash_new_password(&new))
        .await?
        .map_err(ApiError::from)?;
    limited_check(&state, &ip, &identity.name, &body.current)
        .await
        .map_err(|refusal| match refusal {
            LoginRefusal::Invalid => {
                LoginRefusal::Api(ApiError::Forbidden("current: wrong password".into()))
            }
            other => other,
        })?;
    admins::set_password(
        &state.db,
        state.clock.now(),
        &identity.name,
        "admin.password",
        &identity.name,
        &hash,
    )
    .await
    .map_err(ApiError::from)?;
    tracing::info!(admin = %identity.name, "admin password changed; sessions revoked");
    Ok(Json(serde_json::json!({
        "msg": "password changed; every session of this account has ended: log in again"
    })))
}

/// `GET /admin/audit?limit&page` → the newest audit rows first (`limit` 1..=500, default 50).
async fn audit_log(
    State(state): State<ApiState>,
    query: Query,
) -> Result<Json<Vec<audit::AuditRow>>, ApiError> {
    let paging = Paging::from_query(&query, AUDIT_PAGE, AUDIT_PAGE_MAX)?;
    Ok(Json(
        audit::recent(&state.db, paging.limit, paging.offset()).await?,
    ))
}
