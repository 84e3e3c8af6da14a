//! nodejs-pool's public pool routes: `/config`, `/pool/*` and `/network/stats`, with the
//! JSON shapes of reference §7 (issue 11, in progress).

use axum::Router;

use super::ApiState;

/// The pool, network and config routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
}
