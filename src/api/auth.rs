//! Admin authentication: accounts, login, signed short-lived tokens with refresh and
//! revocation, failed-login rate limits, and [`require_admin`], the layer in front of every
//! `/admin` route.
//!
//! - [`login`]: `POST /admin/login`, `/admin/refresh`, `/admin/logout`, and nodejs-pool's
//!   `POST /authenticate` and `GET /authed/tokenRefresh` for poolui, with the per-IP and
//!   per-account limits on failed logins.
//! - [`accounts`]: the account routes (`/admin/users`, `/admin/password`, `/admin/audit`).
//! - [`token`]: the access token (a 15-minute HS256 JWT naming its session).
//!
//! A request is an admin's when its token (`Authorization: Bearer ...` or `x-access-token`)
//! verifies under the pool's key, is unexpired by the api's clock, and its session is live in
//! MySQL (so logout, a password change or removing the account stop it at once; every check
//! reads MySQL, so all api hosts agree). Accounts, sessions and the key are kept by
//! `store::mysql::admins`. Nothing here logs a token, password or hash.

pub mod accounts;
pub mod login;
pub mod token;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, ApiState};
use crate::store::mysql::admins::{self, AccountError, Role, sessions};
use token::TokenRefusal;

/// The admin account a request was authenticated as; the admin routes read it from the
/// request's extensions (put there by [`require_admin`]) and name it in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    pub id: u64,
    pub name: String,
    /// The account's role now (a demotion takes effect on the next request).
    pub role: Role,
    /// The session the token belongs to.
    pub session: u64,
}

/// Login, refresh, logout, the nodejs-pool compatible routes and the account routes.
pub fn routes(state: ApiState) -> Router {
    let guarded = accounts::guarded_routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        require_admin,
    ));
    Router::new()
        .merge(login::routes())
        .merge(accounts::self_routes())
        .merge(guarded)
        .with_state(state)
}

/// Lets a request through only with a valid admin token, with its [`AdminIdentity`] in the
/// request's extensions: no token, or a malformed, tampered, expired or revoked one → 401; a
/// viewer's token on anything but GET/HEAD → 403.
pub async fn require_admin(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let identity = authenticate(&state, request.headers()).await?;
    if identity.role == Role::Viewer && !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Err(ApiError::Forbidden(
            "read-only (viewer) account: this route changes the pool and needs an admin account"
                .into(),
        ));
    }
    request.extensions_mut().insert(identity);
    Ok(next.run(request).await)
}

/// The identity behind the request's token, whatever its role.
pub async fn authenticate(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<AdminIdentity, ApiError> {
    let (identity, _) = authenticate_claims(state, headers).await?;
    Ok(identity)
}

/// [`authenticate`] with the token's claims.
async fn authenticate_claims(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<(AdminIdentity, token::Claims), ApiError> {
    let refuse = |r: TokenRefusal| ApiError::Unauthorized(r.to_string());
    let text = bearer(headers).ok_or(refuse(TokenRefusal::Missing))?;
    let key = sessions::signing_key(&state.db).await?;
    let now = state.clock.now();
    let claims = token::verify(&key, text, now).map_err(refuse)?;
    let session = sessions::live(&state.db, claims.sid, now)
        .await?
        .filter(|s| s.user_id.to_string() == claims.sub)
        .ok_or(refuse(TokenRefusal::Revoked))?;
    let identity = AdminIdentity {
        id: session.user_id,
        name: session.name,
        role: session.role,
        session: session.id,
    };
    Ok((identity, claims))
}

/// The token of `Authorization: Bearer ...` (the scheme in any case), else of
/// `x-access-token` (poolui's header).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?.trim();
        let (scheme, token) = text.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    let value = headers.get("x-access-token")?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// The client's IP as the listener saw it (`"unknown"` when served without connect info,
/// e.g. through `tower::ServiceExt::oneshot`).
/// The client's address for login limits and logs: as the hardening layer judged it (a
/// trusted reverse proxy's `X-Forwarded-For` believed), else the connection's.
fn client_ip(request_extensions: &axum::http::Extensions) -> String {
    super::limits::ClientIp::of(request_extensions)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::Invalid(m) => ApiError::BadRequest(m),
            e @ AccountError::NotFound(_) => ApiError::NotFound(e.to_string()),
            e @ (AccountError::Exists(_) | AccountError::LastAdmin(_)) => {
                ApiError::Conflict(e.to_string())
            }
            e @ (AccountError::Hash(_) | AccountError::Sql(_) | AccountError::Mysql(_)) => {
                ApiError::internal(e)
            }
        }
    }
}

/// Runs a password check or hash (argon2, tens of milliseconds) off the reactor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// Checks `password` against account `name` (a dummy hash when there is none, in the same
/// time); the account when it matches.
async fn check_password(
    state: &ApiState,
    name: &str,
    password: &str,
) -> Result<Option<admins::AdminAccount>, ApiError> {
    let found = match admins::AdminName::parse(name) {
        Ok(valid) => admins::credentials(&state.db, valid.as_str()).await?,
        Err(_) => None,
    };
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), Some(hash)),
        None => (None, None),
    };
    let candidate = password.to_owned();
    let ok = blocking(move || admins::verify_password(hash.as_ref(), &candidate)).await?;
    Ok(account.filter(|_| ok))
}
