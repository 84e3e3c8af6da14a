//! Prometheus `/metrics` for pool-wide figures (issue 11, in progress).

use axum::Router;

use super::ApiState;

/// The `/metrics` route.
pub fn routes(_state: ApiState) -> Router {
    Router::new()
}
