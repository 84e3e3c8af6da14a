//! The operator routes under `/admin` (issue 11, in progress): each does what the matching
//! `rxpool admin` command does, through the same code below the roles, and audits every write.

use axum::routing::get;
use axum::{Extension, Json, Router};

use super::auth::AdminIdentity;
use super::{ApiState, auth};

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
    Router::new().route("/admin/whoami", get(whoami))
}

/// `GET /admin/whoami`: the account the token belongs to.
async fn whoami(Extension(admin): Extension<AdminIdentity>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": admin.id, "name": admin.name }))
}
