//! The e-mail links: `GET /user/confirmEmail/{token}`, `GET /user/approveEmail/{token}`,
//! `GET` and `POST /user/unsubscribeEmail/{token}` (the POST is RFC 8058 one-click, what mail
//! clients send for `List-Unsubscribe-Post`). Each answers a short plain-text page; a damaged,
//! expired or misused token is a `400` saying so. Tokens are checked by `mail::token` through
//! `mail::subscriptions`, the same code that signed them; they are never logged. The handlers
//! read the api's settings as last reloaded and its clock.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiState;
use crate::config::Settings;
use crate::mail::MailError;
use crate::mail::subscriptions::{self, LinkOutcome};

/// The link routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/user/confirmEmail/{token}", get(confirm))
        .route("/user/approveEmail/{token}", get(approve))
        .route(
            "/user/unsubscribeEmail/{token}",
            get(unsubscribe).post(unsubscribe),
        )
        .with_state(state)
}

fn page(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        // A page for the person who clicked: `limits` leaves its refusals as they are.
        axum::Extension(super::limits::HumanPage),
        format!("{text}\n"),
    )
        .into_response()
}

fn answer(settings: &Settings, result: Result<LinkOutcome, MailError>) -> Response {
    let name = &settings.general.pool_name;
    match result {
        Ok(outcome) => page(StatusCode::OK, format!("{name}: {}", outcome.message())),
        Err(MailError::Token(e)) => page(
            StatusCode::BAD_REQUEST,
            format!("{name}: this link cannot be used: {e}."),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "e-mail link failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "{name}: something went wrong on our side; please try the link again later."
                ),
            )
        }
    }
}

async fn confirm(State(s): State<ApiState>, Path(token): Path<String>) -> Response {
    let r = subscriptions::confirm(&s.db, &token, s.clock.now()).await;
    forget_user_answers(&s, &r);
    answer(&s.settings(), r)
}

/// A link that changed a subscription drops the cached `/user/<miner>` answers (whose
/// `email_enabled` it may change; the token's miner is not shown here, so all of them).
fn forget_user_answers(s: &ApiState, result: &Result<LinkOutcome, MailError>) {
    if result.is_ok() {
        s.cache.invalidate("/user/");
    }
}

async fn approve(State(s): State<ApiState>, Path(token): Path<String>) -> Response {
    let settings = s.settings();
    let r = subscriptions::approve_change(&s.db, &settings, &token, s.clock.now()).await;
    answer(&settings, r)
}

async fn unsubscribe(State(s): State<ApiState>, Path(token): Path<String>) -> Response {
    let r = subscriptions::unsubscribe(&s.db, &token, s.clock.now()).await;
    forget_user_answers(&s, &r);
    answer(&s.settings(), r)
}
