//! One miner's public routes (`/miner/:address/*`) and MoneroOcean's miner settings
//! (`/user/*`), with the JSON shapes of reference §7 (issue 11, in progress).

use axum::Router;

use super::ApiState;

/// The miner and user routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
}
