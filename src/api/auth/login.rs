//! Logging in and out: `POST /admin/login`, `POST /admin/refresh`, `POST /admin/logout`, and
//! nodejs-pool's `POST /authenticate` and `GET /authed/tokenRefresh` (admin accounts only:
//! miners no longer log in with their e-mail as password, reference §12.11).
//!
//! A login opens a session (`admin_sessions`) and answers a 15-minute access token with an
//! opaque refresh token (12 hours); a refresh rotates the refresh token (the old one stops
//! working, and presenting it again revokes the session). Failed logins are limited per client
//! IP ([`IP_LIMIT`]) and per account name ([`ACCOUNT_LIMIT`]) within [`WINDOW`], counted in
//! MySQL so every api host shares the count; while limited even the right password gets a 429
//! with `Retry-After`. Unknown accounts are checked against a dummy hash, so they answer in
//! the time a known one does. Logins are logged (name, IP, session) without the password.

use std::time::Duration;

use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::token::{self, ACCESS_TTL_SECS, Claims};
use super::{AdminIdentity, authenticate_claims, check_password, client_ip};
use crate::api::params::JsonBody;
use crate::api::{ApiError, ApiState};
use crate::domain::UnixMillis;
use crate::store::mysql::admins::sessions::{self, RefreshToken, Rotation};
use crate::store::mysql::admins::{self, AdminAccount, MAX_NAME_LEN, MAX_PASSWORD_BYTES};

/// Failed logins allowed per client IP within [`WINDOW`].
pub const IP_LIMIT: u64 = 10;
/// Failed logins allowed per account name within [`WINDOW`].
pub const ACCOUNT_LIMIT: u64 = 5;
/// The rate limit's window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a session (and so its refresh token) lives after a login or refresh.
pub const REFRESH_TTL_SECS: u64 = 12 * 3600;
/// Longest username looked at.
const MAX_USERNAME_BYTES: usize = 256;
/// Longest refresh token looked at.
const MAX_REFRESH_BYTES: usize = 256;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/login", post(login))
        .route("/admin/refresh", post(refresh))
        .route("/admin/logout", post(logout))
        .route("/authenticate", post(authenticate_compat))
        .route("/authed/tokenRefresh", get(token_refresh_compat))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

/// nodejs-pool's body: extra fields (poolui's) are ignored.
#[derive(Debug, Deserialize)]
struct CompatLoginBody {
    username: String,
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

/// Why a password check was refused.
#[derive(Debug)]
pub enum LoginRefusal {
    /// Wrong password or unknown account (not said which).
    Invalid,
    /// Too many failures from this IP or for this account: try again after this many seconds.
    Limited {
        retry_after: u64,
        per_account: bool,
    },
    Api(ApiError),
}

impl From<ApiError> for LoginRefusal {
    fn from(e: ApiError) -> LoginRefusal {
        LoginRefusal::Api(e)
    }
}

impl From<sqlx::Error> for LoginRefusal {
    fn from(e: sqlx::Error) -> LoginRefusal {
        LoginRefusal::Api(e.into())
    }
}

impl LoginRefusal {
    fn message(&self) -> String {
        match self {
            LoginRefusal::Invalid => "Invalid username/password".to_owned(),
            LoginRefusal::Limited {
                retry_after,
                per_account,
            } => format!(
                "too many failed logins {}; try again in {retry_after} s",
                if *per_account {
                    "for this account"
                } else {
                    "from this address"
                }
            ),
            LoginRefusal::Api(e) => e.to_string(),
        }
    }

    /// The answer in the api's JSON error shape.
    pub(super) fn respond_error(self) -> Response {
        self.respond(|m| serde_json::json!({ "error": m }))
    }

    /// The answer with `body` (the route's JSON shape for the message).
    fn respond(self, body: impl FnOnce(&str) -> serde_json::Value) -> Response {
        let message = self.message();
        match self {
            LoginRefusal::Api(e) => e.into_response(),
            LoginRefusal::Invalid => {
                (StatusCode::UNAUTHORIZED, Json(body(&message))).into_response()
            }
            LoginRefusal::Limited { retry_after, .. } => {
                let mut response =
                    (StatusCode::TOO_MANY_REQUESTS, Json(body(&message))).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
        }
    }
}

/// Checks `password` for account `name` under the failed-login limits: the attempt counts as
/// a failure unless the password is right; while the IP or the account is over its limit
/// the password is not even looked at.
pub(super) async fn limited_check(
    state: &ApiState,
    ip: &str,
    name: &str,
    password: &str,
) -> Result<AdminAccount, LoginRefusal> {
    if name.len() > MAX_USERNAME_BYTES {
        return Err(ApiError::bad_request(format!(
            "username: longer than {MAX_USERNAME_BYTES} bytes"
        ))
        .into());
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "password: longer than {MAX_PASSWORD_BYTES} bytes"
        ))
        .into());
    }
    let account_key: String = name.chars().take(MAX_NAME_LEN).collect();
    let now = state.clock.now();
    let window = WINDOW.as_millis() as u64;
    let since = UnixMillis(now.0.saturating_sub(window));
    let (attempt, counts) =
        sessions::begin_attempt(&state.db, ip, &account_key, now, since).await?;
    let ip_over = counts.ip > IP_LIMIT;
    let account_over = counts.account > ACCOUNT_LIMIT;
    if ip_over || account_over {
        sessions::forget_attempt(&state.db, attempt).await?;
        let until = |oldest: Option<u64>| oldest.map_or(0, |o| o + window);
        let mut lifts = 0;
        if ip_over {
            lifts = lifts.max(until(counts.ip_oldest_ms));
        }
        if account_over {
            lifts = lifts.max(until(counts.account_oldest_ms));
        }
        let retry_after = lifts.saturating_sub(now.0).div_ceil(1000).max(1);
        tracing::warn!(
            %ip,
            per_account = account_over,
            retry_after,
            "admin login refused: too many failed logins"
        );
        return Err(LoginRefusal::Limited {
            retry_after,
            per_account: account_over,
        });
    }
    match check_password(state, name, password).await? {
        Some(account) => {
            sessions::clear_account_failures(&state.db, &account_key).await?;
            Ok(account)
        }
        None => {
            tracing::info!(%ip, "admin login failed: wrong username or password");
            Err(LoginRefusal::Invalid)
        }
    }
}

/// A new access token and refresh token.
struct Issued {
    token: String,
    refresh: RefreshToken,
}

impl Issued {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "token": self.token,
            "expires_in": ACCESS_TTL_SECS,
            "refresh_token": self.refresh.0,
            "refresh_expires_in": REFRESH_TTL_SECS,
        })
    }
}

fn refresh_expiry(now: UnixMillis) -> UnixMillis {
    UnixMillis(now.0 + REFRESH_TTL_SECS * 1000)
}

/// An access token for account `id`/`name` in session `sid`.
async fn access_token(
    state: &ApiState,
    id: u64,
    name: &str,
    role: admins::Role,
    sid: u64,
) -> Result<String, ApiError> {
    let key = sessions::signing_key(&state.db).await?;
    token::sign(&key, &Claims::new(id, name, role, sid, state.clock.now()))
        .map_err(ApiError::internal)
}

/// Checks the credentials and opens a session.
async fn open_session(
    state: &ApiState,
    ip: &str,
    username: &str,
    password: &str,
) -> Result<Issued, LoginRefusal> {
    let account = limited_check(state, ip, username, password).await?;
    let now = state.clock.now();
    let refresh = RefreshToken::generate();
    let sid = sessions::open(&state.db, account.id, &refresh, now, refresh_expiry(now)).await?;
    let token = access_token(state, account.id, &account.name, account.role, sid).await?;
    tracing::info!(admin = %account.name, %ip, session = sid, "admin login");
    Ok(Issued { token, refresh })
}

/// `POST /admin/login {username, password}` → `{token, expires_in, refresh_token,
/// refresh_expires_in}`.
async fn login(State(state): State<ApiState>, request: Request) -> Response {
    let ip = client_ip(request.extensions());
    let body = match JsonBody::<LoginBody>::from_request(request, &state).await {
        Ok(JsonBody(body)) => body,
        Err(e) => return e.into_response(),
    };
    match open_session(&state, &ip, &body.username, &body.password).await {
        Ok(issued) => Json(issued.json()).into_response(),
        Err(refusal) => refusal.respond_error(),
    }
}

/// `POST /authenticate {username, password}` (nodejs-pool, poolui) → `{success: true, msg:
/// <access token>}`, or 401 `{success: false, msg: "Invalid username/password"}`. The
/// session's refresh token is not handed out here; `GET /authed/tokenRefresh` renews the
/// access token while the session lives.
async fn authenticate_compat(State(state): State<ApiState>, request: Request) -> Response {
    let ip = client_ip(request.extensions());
    let body = match JsonBody::<CompatLoginBody>::from_request(request, &state).await {
        Ok(JsonBody(body)) => body,
        Err(e) => return e.into_response(),
    };
    match open_session(&state, &ip, &body.username, &body.password).await {
        Ok(issued) => {
            Json(serde_json::json!({ "success": true, "msg": issued.token })).into_response()
        }
        Err(refusal) => refusal.respond(compat_failure),
    }
}

/// nodejs-pool's failure shape, with the api's `error` beside it.
fn compat_failure(message: &str) -> serde_json::Value {
    serde_json::json!({ "success": false, "msg": message, "error": message })
}

/// `GET /authed/tokenRefresh` (nodejs-pool) → `{msg: <new access token>}` for a valid token
/// whose session is live.
async fn token_refresh_compat(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let renewed = async {
        let (identity, _) = authenticate_claims(&state, &headers).await?;
        access_token(
            &state,
            identity.id,
            &identity.name,
            identity.role,
            identity.session,
        )
        .await
    };
    match renewed.await {
        Ok(token) => Json(serde_json::json!({ "msg": token })).into_response(),
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                return e.into_response();
            }
            (status, Json(compat_failure(&e.to_string()))).into_response()
        }
    }
}

/// `POST /admin/refresh {refresh_token}` → a new pair; the presented refresh token stops
/// working.
async fn refresh(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let presented = body.refresh_token.trim();
    if presented.is_empty() || presented.len() > MAX_REFRESH_BYTES {
        return Err(ApiError::Unauthorized(
            "refresh token unknown, expired or revoked: log in again".into(),
        ));
    }
    let now = state.clock.now();
    let next = RefreshToken::generate();
    match sessions::rotate(&state.db, presented, &next, now, refresh_expiry(now)).await? {
        Rotation::Rotated(session) => {
            let token = access_token(
                &state,
                session.user_id,
                &session.name,
                session.role,
                session.id,
            )
            .await?;
            Ok(Json(
                Issued {
                    token,
                    refresh: next,
                }
                .json(),
            ))
        }
        Rotation::Reused => {
            tracing::warn!("admin refresh token presented after it was replaced; session revoked");
            Err(ApiError::Unauthorized(
                "refresh token already used: the session is revoked, log in again".into(),
            ))
        }
        Rotation::Refused => Err(ApiError::Unauthorized(
            "refresh token unknown, expired or revoked: log in again".into(),
        )),
    }
}

/// `POST /admin/logout` (with the access token) revokes its session: its access and refresh
/// tokens stop working.
async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let AdminIdentity { name, session, .. } = super::authenticate(&state, &headers).await?;
    sessions::revoke(&state.db, session, state.clock.now()).await?;
    tracing::info!(admin = %name, session, "admin logout");
    Ok(Json(serde_json::json!({ "msg": "logged out" })))
}
