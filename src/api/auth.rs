//! Admin authentication: accounts, login, signed short-lived tokens with refresh and
//! revocation, failed-login rate limits (issue 11, in progress).

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, ApiState};

/// The admin account a request was authenticated as; the admin routes read it from the
/// request's extensions (put there by [`require_admin`]) and name it in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    pub id: u64,
    pub name: String,
}

/// Login, refresh, logout and the account routes.
pub fn routes(_state: ApiState) -> Router {
    Router::new()
}

/// Lets a request through only with a valid admin token, with its [`AdminIdentity`] in the
/// request's extensions.
pub async fn require_admin(
    State(_state): State<ApiState>,
    _request: Request,
    _next: Next,
) -> Result<Response, ApiError> {
    Err(ApiError::Unauthorized(
        "admin login is not available yet".into(),
    ))
}
