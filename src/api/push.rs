//! The websocket at `/ws`: a client subscribes to topics, each a public GET route, and gets the
//! route's JSON at once and again whenever it changes (issue 11, in progress).

use axum::Router;

use super::ApiState;

/// The `/ws` route; `public` renders topics.
pub fn routes(_state: ApiState, _public: Router) -> Router {
    Router::new()
}
