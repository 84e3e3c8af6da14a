//! MoneroOcean's miner settings routes: `GET /user/:address`, `POST /user/updateThreshold`
//! and `POST /user/subscribeEmail` (the link routes, `/user/unsubscribeEmail/:token` and the
//! confirmation and approval links, are `api::mail_links`).
//!
//! No login protects these (as MoneroOcean): knowing a miner's address is enough to choose its
//! payout threshold within the pool's bounds or to switch its alerts. What could harm the
//! miner is guarded: the threshold is parsed exactly from decimal text (no floats) and must lie
//! between `payout.walletMin` and `payout.maxThreshold`, and the operator's lock
//! (`users.payout_threshold_lock`) refuses any change; an e-mail address only ever receives a
//! confirmation link (the double opt-in of `mail::subscriptions`, throttled there), and a
//! confirmed address changes only when `from` names it (compared in constant time, with
//! repeated wrong guesses refused for an hour) and its owner approves. Only miners the pool
//! knows (shares in LMDB or rows in MySQL) can be written for. No e-mail address is shown or
//! logged. A write drops the miner's cached `/user/<key>` answer.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Answer, MinerPath, cached, miner_key};
use crate::api::cache::{self, to_body};
use crate::api::params::{JsonBody, MinerKey};
use crate::api::{ApiError, ApiState};
use crate::config::Settings;
use crate::domain::amount::ATOMIC_PER_XMR;
use crate::domain::{AddressKind, Atomic};
use crate::mail::subscriptions::{self, RequestOutcome};
use crate::mail::{EmailAddress, MailError};
use crate::store::mysql::miner_settings::{self, ThresholdChange};

/// Wrong `from` guesses for one miner before its e-mail changes are refused.
const FROM_GUESSES: u32 = 5;
/// How long wrong guesses are remembered (and the refusal lasts).
const FROM_GUESS_WINDOW: Duration = Duration::from_secs(3600);
/// Miners whose guesses are remembered at once (the oldest are forgotten beyond it).
const FROM_GUESS_MINERS: usize = 10_000;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/user/{address}", get(user))
        .route("/user/updateThreshold", post(update_threshold))
        .route("/user/subscribeEmail", post(subscribe_email))
}

fn user_cache_key(key: &MinerKey) -> String {
    format!("/user/{}", key.as_str())
}

/// `GET /user/:address`.
#[derive(Debug, Serialize)]
struct UserJson {
    /// The threshold that applies, atomic units (see [`applicable_threshold`]).
    payout_threshold: u64,
    payout_threshold_lock: u8,
    /// 1 when a confirmed, subscribed address receives this miner's alerts.
    email_enabled: u8,
}

async fn user(State(state): State<ApiState>, MinerPath { key, .. }: MinerPath) -> Answer {
    cached(&state, &user_cache_key(&key), cache::LIVE, || async {
        let row = miner_settings::user_settings(&state.db, key.as_str())
            .await?
            .unwrap_or_default();
        let subscribed = subscriptions::confirmed(&state.db, key.as_str())
            .await
            .map_err(ApiError::internal)?
            .is_some();
        to_body(&UserJson {
            payout_threshold: applicable_threshold(&state.settings(), &key, row.payout_threshold).0,
            payout_threshold_lock: u8::from(row.threshold_locked),
            email_enabled: u8::from(subscribed),
        })
    })
    .await
}

/// The threshold the payments role applies to this miner: its own, never below
/// `payout.walletMin`; without one, `payout.exchangeMin` for an integrated or exchange address
/// (they are paid in a transaction of their own) and `payout.walletMin` for the others. The
/// same rule as the payout planner's (`payments::planner`), which the api may not import.
fn applicable_threshold(settings: &Settings, key: &MinerKey, chosen: Atomic) -> Atomic {
    let payout = &settings.payout;
    if chosen > Atomic::ZERO {
        return chosen.max(payout.wallet_min);
    }
    let single = key.address.kind == AddressKind::Integrated
        || settings
            .pool
            .exchange_addresses
            .iter()
            .any(|a| a == key.as_str());
    if single {
        payout.exchange_min.max(payout.wallet_min)
    } else {
        payout.wallet_min
    }
}

/// `{msg}`, MoneroOcean's success answer.
fn ok(msg: impl Into<String>) -> Response {
    axum::Json(serde_json::json!({ "msg": msg.into() })).into_response()
}

/// A write is only taken for a miner the pool knows: one with shares, a balance or settings.
async fn require_known(state: &ApiState, key: &MinerKey) -> Result<(), ApiError> {
    let in_lmdb = super::read(state, key, |s, k| Ok(s.miner_id(k.as_str())?.is_some())).await?;
    if in_lmdb || miner_settings::is_known(&state.db, key.as_str()).await? {
        return Ok(());
    }
    Err(ApiError::not_found(
        "username: this pool has no shares, balance or settings for that miner",
    ))
}

/// An XMR amount sent as a JSON string (`"0.5"`) or number (`0.5`), parsed exactly: plain
/// decimal digits with at most 12 decimals. A number is read as the shortest decimal text of
/// its value, so `1e3` written as a number is 1000 (the same JSON value), but `"1e3"`,
/// negative, sub-atomic and non-ASCII amounts are refused.
fn parse_xmr(name: &str, value: &Value) -> Result<Atomic, ApiError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "{name}: send an XMR amount as a decimal string or number"
            )));
        }
    };
    let text = text.strip_suffix(".0").unwrap_or(&text);
    if text.len() > 40 {
        return Err(ApiError::bad_request(format!("{name}: too long")));
    }
    Atomic::from_xmr_str(text)
        .filter(|_| !text.trim().is_empty() && text.trim() == text)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name}: {text:.40?} is not a plain decimal XMR amount with at most 12 decimals"
            ))
        })
}

/// An amount as an operator writes it (`0.3`, `1000`).
fn xmr_text(amount: Atomic) -> String {
    let (whole, frac) = (amount.0 / ATOMIC_PER_XMR, amount.0 % ATOMIC_PER_XMR);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:012}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[derive(Debug, Deserialize)]
struct UpdateThreshold {
    username: String,
    threshold: Value,
}

async fn update_threshold(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<UpdateThreshold>,
) -> Answer {
    let key = miner_key(&state, &body.username).map_err(rename_to_username)?;
    let threshold = parse_xmr("threshold", &body.threshold)?;
    let payout = state.settings().payout.clone();
    if threshold < payout.wallet_min {
        return Err(ApiError::Unprocessable(format!(
            "threshold: below the pool minimum of {} XMR",
            xmr_text(payout.wallet_min)
        )));
    }
    if threshold > payout.max_threshold {
        return Err(ApiError::Unprocessable(format!(
            "threshold: above the pool maximum of {} XMR",
            xmr_text(payout.max_threshold)
        )));
    }
    require_known(&state, &key).await?;
    match miner_settings::set_threshold(&state.db, key.as_str(), threshold).await? {
        ThresholdChange::Locked => Err(ApiError::Forbidden(
            "threshold: the pool operator has locked this miner's payout threshold".into(),
        )),
        ThresholdChange::Set => {
            state.cache.invalidate(&user_cache_key(&key));
            Ok(ok(format!(
                "Threshold updated, set to: {}",
                xmr_text(threshold)
            )))
        }
    }
}

/// The `username` field's address errors name the field, not `address`.
fn rename_to_username(e: ApiError) -> ApiError {
    match e {
        ApiError::BadRequest(m) => ApiError::BadRequest(match m.strip_prefix("address") {
            Some(rest) => format!("username{rest}"),
            None => m,
        }),
        other => other,
    }
}

#[derive(Debug, Deserialize)]
struct SubscribeEmail {
    username: String,
    #[serde(default)]
    enabled: Option<Value>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `enabled` as MoneroOcean's front-ends send it: a boolean, 0/1, or "0"/"1"/"true"/"false".
fn parse_enabled(value: Option<&Value>) -> Result<bool, ApiError> {
    match value {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        Some(Value::String(s)) if s == "0" || s == "false" => Ok(false),
        Some(Value::String(s)) if s == "1" || s == "true" => Ok(true),
        None => Err(ApiError::bad_request(
            "enabled: missing (true or false switches the alerts)",
        )),
        Some(_) => Err(ApiError::bad_request("enabled: must be true or false")),
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether `given` names `current`, in time independent of where they differ (and of their
/// lengths: digests are compared).
fn same_address(given: &str, current: &str) -> bool {
    digest(given)
        .iter()
        .zip(digest(current).iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Wrong `from` guesses per miner: (first guess in the window, count).
static FROM_GUESSES_SEEN: LazyLock<Mutex<HashMap<String, (Instant, u32)>>> =
    LazyLock::new(Default::default);

fn guesses() -> std::sync::MutexGuard<'static, HashMap<String, (Instant, u32)>> {
    FROM_GUESSES_SEEN.lock().unwrap_or_else(|p| p.into_inner())
}

fn guessing_refused(miner: &str) -> bool {
    let now = Instant::now();
    let mut seen = guesses();
    match seen.get(miner) {
        Some((first, _)) if now.duration_since(*first) >= FROM_GUESS_WINDOW => {
            seen.remove(miner);
            false
        }
        Some((_, n)) => *n >= FROM_GUESSES,
        None => false,
    }
}

fn note_wrong_guess(miner: &str) {
    let now = Instant::now();
    let mut seen = guesses();
    if seen.len() >= FROM_GUESS_MINERS {
        seen.retain(|_, (first, _)| now.duration_since(*first) < FROM_GUESS_WINDOW);
        if seen.len() >= FROM_GUESS_MINERS {
            let oldest = seen
                .iter()
                .min_by_key(|(_, (first, _))| *first)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                seen.remove(&k);
            }
        }
    }
    seen.entry(miner.to_owned()).or_insert((now, 0)).1 += 1;
}

fn mail_error(field: &str, e: MailError) -> ApiError {
    match e {
        MailError::InvalidAddress(why) => ApiError::bad_request(format!("{field}: {why}")),
        MailError::InvalidMiner(why) => ApiError::bad_request(format!("username: {why}")),
        other => ApiError::internal(other),
    }
}

async fn subscribe_email(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<SubscribeEmail>,
) -> Answer {
    let key = miner_key(&state, &body.username).map_err(rename_to_username)?;
    if body.to.is_empty() && !body.from.is_empty() {
        return Err(ApiError::bad_request(
            "to: give the new address (or leave from and to empty to switch the alerts)",
        ));
    }
    if !body.to.is_empty() {
        EmailAddress::parse(&body.to).map_err(|e| mail_error("to", e))?;
    }
    let switch = if body.to.is_empty() {
        Some(parse_enabled(body.enabled.as_ref())?)
    } else {
        None
    };
    if guessing_refused(key.as_str()) {
        return Err(ApiError::TooManyRequests(
            "from: too many wrong addresses for this miner; try again in an hour".into(),
        ));
    }
    require_known(&state, &key).await?;
    let current = subscriptions::confirmed(&state.db, key.as_str())
        .await
        .map_err(ApiError::internal)?;
    let answer = match switch {
        Some(on) => {
            let Some(sub) = current else {
                return Err(ApiError::Conflict(
                    "this miner has no confirmed e-mail address; send one in `to` first".into(),
                ));
            };
            subscriptions::set_switches(&state.db, key.as_str(), on, on, on && sub.solo_blocks)
                .await
                .map_err(ApiError::internal)?;
            ok("Email preferences were updated")
        }
        None => {
            if let Some(sub) = &current {
                if body.from.is_empty() {
                    return Err(ApiError::Forbidden(
                        "from: this miner has a confirmed address; give it in `from` to change it"
                            .into(),
                    ));
                }
                if !same_address(&body.from, &sub.email) {
                    note_wrong_guess(key.as_str());
                    return Err(ApiError::Forbidden(
                        "from: does not match this miner's current address".into(),
                    ));
                }
            }
            let now = state.clock.now();
            let settings = state.settings();
            let outcome = subscriptions::request(&state.db, &settings, key.as_str(), &body.to, now)
                .await
                .map_err(|e| mail_error("to", e))?;
            match outcome {
                RequestOutcome::ConfirmationQueued => ok(
                    "A confirmation link was sent to the new address; alerts go there once it is opened",
                ),
                RequestOutcome::ApprovalQueued => ok(
                    "The current address was sent a link to approve the change; the new address then gets its own confirmation link",
                ),
                RequestOutcome::AlreadyConfirmed => {
                    ok("This address is already the confirmed one; nothing changed")
                }
                RequestOutcome::Throttled => {
                    return Err(ApiError::TooManyRequests(
                        "to: a link for this miner or this address was sent recently; try again later"
                            .into(),
                    ));
                }
            }
        }
    };
    state.cache.invalidate(&user_cache_key(&key));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_are_parsed_exactly_or_refused() {
        let ok = |v: Value| parse_xmr("threshold", &v).unwrap().0;
        assert_eq!(ok(json!("0.5")), 500_000_000_000);
        assert_eq!(ok(json!(0.5)), 500_000_000_000);
        assert_eq!(ok(json!("0.000000000001")), 1);
        assert_eq!(ok(json!(1000)), 1000 * ATOMIC_PER_XMR);
        assert_eq!(ok(json!(1.1)), 1_100_000_000_000);
        for bad in [
            json!("1e3"),
            json!("-1"),
            json!(-1),
            json!("0.0000000000001"),
            json!(1e-13),
            json!("１"),
            json!(" 1"),
            json!(""),
            json!("."),
            json!("1; DROP TABLE users"),
            json!(null),
            json!([1]),
            json!(1e300),
            json!("9".repeat(100)),
        ] {
            assert!(parse_xmr("threshold", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_print_as_operators_write_them() {
        assert_eq!(xmr_text(Atomic(300_000_000_000)), "0.3");
        assert_eq!(xmr_text(Atomic(1000 * ATOMIC_PER_XMR)), "1000");
        assert_eq!(xmr_text(Atomic(1)), "0.000000000001");
    }

    #[test]
    fn enabled_takes_what_front_ends_send() {
        assert!(parse_enabled(Some(&json!(true))).unwrap());
        assert!(!parse_enabled(Some(&json!(0))).unwrap());
        assert!(parse_enabled(Some(&json!("1"))).unwrap());
        assert!(parse_enabled(Some(&json!("yes"))).is_err());
        assert!(parse_enabled(None).is_err());
    }

    #[test]
    fn the_from_address_compares_whole() {
        assert!(same_address("a@b.org", "a@b.org"));
        assert!(!same_address("a@b.org", "a@b.or"));
        assert!(!same_address("", "a@b.org"));
    }

    #[test]
    fn wrong_guesses_lock_a_miner_out_and_only_that_miner() {
        let miner = "guess-test-miner";
        for _ in 0..FROM_GUESSES {
            assert!(!guessing_refused(miner));
            note_wrong_guess(miner);
        }
        assert!(guessing_refused(miner));
        assert!(!guessing_refused("another-guess-test-miner"));
    }
}
