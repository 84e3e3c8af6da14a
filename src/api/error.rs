//! The api's errors as values: every refusal is an [`ApiError`] that answers with the right
//! status and a JSON body `{"error": "<what was wrong, in words>"}`. A server-side failure is
//! logged with its cause and answered with a `500` that says nothing of the inside; input
//! problems are always `4xx` and name the parameter.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: a bad address, limit, body, ... (400).
    #[error("{0}")]
    BadRequest(String),
    /// Credentials missing, wrong or expired (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing at this path or with this id (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (409), e.g. a batch in the wrong status.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the route accepts (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Well-formed but refused by a rule (422), e.g. a threshold under the pool minimum.
    #[error("{0}")]
    Unprocessable(String),
    /// Too many requests from this IP or for this account (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// A store or upstream failed (500); the cause is logged, not shown.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
    /// monerod or wallet-rpc could not answer (503).
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::NotFound(message.into())
    }

    /// Wraps a server-side failure (logged when answered).
    pub fn internal(error: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(error.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<crate::store::lmdb::StoreError> for ApiError {
    fn from(e: crate::store::lmdb::StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<crate::stats::StatsError> for ApiError {
    fn from(e: crate::stats::StatsError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<crate::store::mysql::MysqlError> for ApiError {
    fn from(e: crate::store::mysql::MysqlError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "api request failed");
                "internal error; the operator has the details in the api's log".to_owned()
            }
            other => other.to_string(),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
