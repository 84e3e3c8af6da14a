//! The websocket at `/ws`: live push of the public routes. A client subscribes to topics, each
//! the path (and query) of a public GET route (`/pool/stats`, `/miner/<addr>/stats`, ...), and
//! gets the route's JSON at once and again whenever it changes. The protocol, with an example
//! session, is in the README (`## Websocket push`).
//!
//! A topic is rendered by sending a GET for it through the public router
//! ([`tower::ServiceExt::oneshot`]), so the websocket and REST always agree and the route's own
//! validation and short cache apply. The [`Hub`] runs **one producer per topic**, spawned at the
//! first subscription: it renders the topic every [`REFRESH`], publishes the frame into a
//! `watch` channel only when its bytes changed, and stops when the last subscriber leaves. Each
//! subscriber sees the latest frame, never a queue: a slow client skips to the newest state, a
//! client whose socket does not drain for `[api] ws_send_timeout_secs` is dropped, and no client
//! ever delays another (each socket is written by its own task). The frame is serialized once
//! per change and shared by every subscriber.
//!
//! Caps (`[api] ws_*`): sockets in all and per IP (refused with a JSON 429 at the handshake),
//! topics per socket, inbound message size and rate, and a protocol ping with an idle drop.
//! [`PushStats`] counts sockets, topics and drops; the same figures go to the `metrics` crate
//! (`rxpool_api_ws_*`) for `/metrics`. This module reads no store itself.

mod socket;
pub mod topic;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tower::ServiceExt;

use super::{ApiError, ApiState};
use crate::config::ApiConfig;

/// How often a producer renders its topic again (through the route's cache, so a poll of an
/// unchanged topic costs a map lookup and a byte comparison).
pub const REFRESH: Duration = Duration::from_millis(250);

/// The largest route body a topic may carry.
const MAX_TOPIC_BODY: usize = 16 * 1024 * 1024;

/// The `/ws` route; `public` (every public GET route) renders the topics.
pub fn routes(state: ApiState, public: Router) -> Router {
    router(Hub::new(public, PushLimits::from_config(&state.config.api)))
}

/// The `/ws` route over `hub` (tests and the bench build their own hub).
pub fn router(hub: Hub) -> Router {
    Router::new().route("/ws", get(upgrade)).with_state(hub)
}

/// The caps and timings of the push, from `[api] ws_*`.
#[derive(Debug, Clone)]
pub struct PushLimits {
    pub max_sockets: usize,
    pub max_sockets_per_ip: usize,
    pub max_topics_per_socket: usize,
    pub max_message_bytes: usize,
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// The server pings each socket this often ...
    pub ping_every: Duration,
    /// ... and drops one it has heard nothing from for this long.
    pub idle_after: Duration,
    /// A socket whose send does not complete in this time is dropped.
    pub send_timeout: Duration,
    /// How often a producer renders its topic ([`REFRESH`]).
    pub refresh: Duration,
}

impl PushLimits {
    pub fn from_config(api: &ApiConfig) -> PushLimits {
        PushLimits {
            max_sockets: api.ws_max_sockets,
            max_sockets_per_ip: api.ws_max_sockets_per_ip,
            max_topics_per_socket: api.ws_max_topics_per_socket,
            max_message_bytes: api.ws_max_message_bytes,
            messages_per_second: api.ws_messages_per_second,
            message_burst: api.ws_message_burst,
            ping_every: Duration::from_secs(api.ws_ping_secs),
            idle_after: Duration::from_secs(api.ws_idle_secs),
            send_timeout: Duration::from_secs(api.ws_send_timeout_secs),
            refresh: REFRESH,
        }
    }
}

impl Default for PushLimits {
    fn default() -> PushLimits {
        PushLimits::from_config(&ApiConfig::default())
    }
}

/// Counters of the push (read by tests, the bench and, through the `metrics` crate, by
/// `/metrics`).
#[derive(Debug, Default)]
pub struct PushStats {
    /// Open sockets.
    pub sockets: AtomicU64,
    /// Topics with a running producer.
    pub topics: AtomicU64,
    /// Subscriptions over all sockets.
    pub subscriptions: AtomicU64,
    /// Handshakes refused by the socket caps.
    pub refused: AtomicU64,
    /// Sockets dropped because their send buffer stayed full.
    pub dropped_slow: AtomicU64,
    /// Sockets dropped because they went silent (no pong).
    pub dropped_idle: AtomicU64,
    /// Sockets dropped for flooding past the message rate.
    pub dropped_flood: AtomicU64,
    /// Topic frames published by producers (one per change, whatever the subscriber count).
    pub published: AtomicU64,
    /// Text frames written to sockets (data, errors and pongs).
    pub sent: AtomicU64,
}

impl PushStats {
    fn up(counter: &AtomicU64, gauge: &'static str) {
        let now = counter.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!(gauge).set(now as f64);
    }

    fn down(counter: &AtomicU64, gauge: &'static str) {
        let now = counter.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!(gauge).set(now as f64);
    }

    fn dropped(&self, reason: DropReason) {
        let counter = match reason {
            DropReason::Slow => &self.dropped_slow,
            DropReason::Idle => &self.dropped_idle,
            DropReason::Flood => &self.dropped_flood,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("rxpool_api_ws_dropped_total", "reason" => reason.as_str()).increment(1);
    }

    /// The value of `counter` now (a shorthand for tests).
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Why the server dropped a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropReason {
    Slow,
    Idle,
    Flood,
}

impl DropReason {
    fn as_str(self) -> &'static str {
        match self {
            DropReason::Slow => "slow",
            DropReason::Idle => "idle",
            DropReason::Flood => "flood",
        }
    }
}

/// One rendered state of a topic, serialized once and shared by every subscriber:
/// `{"topic":T,"data":<the route's JSON>}` or `{"topic":T,"error":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame(Utf8Bytes);

/// What the public router answered for a topic.
#[derive(Debug)]
enum Rendered {
    /// A 2xx with a JSON body.
    Data(Bytes),
    /// Anything else, with the route's own error message where it gave one.
    Refused(String),
}

impl Rendered {
    fn frame(&self, topic: &str) -> Frame {
        match self {
            Rendered::Data(body) => data_frame(topic, body),
            Rendered::Refused(message) => topic_error(topic, message),
        }
    }
}

fn data_frame(topic: &str, body: &[u8]) -> Frame {
    let topic = serde_json::to_string(topic).unwrap_or_else(|_| "\"\"".to_owned());
    let body = String::from_utf8_lossy(body);
    let mut text = String::with_capacity(topic.len() + body.len() + 20);
    text.push_str("{\"topic\":");
    text.push_str(&topic);
    text.push_str(",\"data\":");
    text.push_str(&body);
    text.push('}');
    Frame(Utf8Bytes::from(text))
}

fn topic_error(topic: &str, message: &str) -> Frame {
    Frame(Utf8Bytes::from(
        serde_json::json!({ "topic": topic, "error": message }).to_string(),
    ))
}

fn error_frame(message: &str) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::json!({ "error": message }).to_string())
}

/// Renders `topic` through `public`, as a REST client's GET would.
async fn render(public: &Router, topic: &str) -> Rendered {
    let request = match Request::get(topic)
        .header(header::ACCEPT, "application/json")
        .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))))
        .body(Body::empty())
    {
        Ok(request) => request,
        Err(_) => return Rendered::Refused("topic is not a valid URL path".to_owned()),
    };
    let response = match public.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = match axum::body::to_bytes(response.into_body(), MAX_TOPIC_BODY).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(topic, error = %e, "push: reading a route's body failed");
            return Rendered::Refused("the route's answer could not be read".to_owned());
        }
    };
    let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
    if status.is_success() {
        if is_json {
            return Rendered::Data(body);
        }
        return Rendered::Refused("the route did not answer JSON".to_owned());
    }
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
    Rendered::Refused(message.unwrap_or_else(|| match status {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => "no such public route".to_owned(),
        other => format!("the route answered {other}"),
    }))
}

type Publisher = Arc<watch::Sender<Option<Frame>>>;

/// The producers of the live topics and the socket counts.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    public: Router,
    limits: PushLimits,
    topics: Mutex<HashMap<Arc<str>, Publisher>>,
    sockets: Mutex<SocketCount>,
    stats: Arc<PushStats>,
}

#[derive(Debug, Default)]
struct SocketCount {
    total: usize,
    per_ip: HashMap<Option<IpAddr>, usize>,
}

impl Hub {
    /// A hub rendering topics through `public`.
    pub fn new(public: Router, limits: PushLimits) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                public,
                limits,
                topics: Mutex::default(),
                sockets: Mutex::default(),
                stats: Arc::default(),
            }),
        }
    }

    /// The hub's counters.
    pub fn stats(&self) -> Arc<PushStats> {
        self.inner.stats.clone()
    }

    /// A socket slot for a client at `ip` (`None`: no connect info, one shared bucket), or
    /// the refusal.
    fn admit(&self, ip: Option<IpAddr>) -> Result<SocketSlot, ApiError> {
        let limits = &self.inner.limits;
        let mut sockets = lock(&self.inner.sockets);
        let from_ip = sockets.per_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if sockets.total >= limits.max_sockets {
            Some("too many websockets open on this server; try again later".to_owned())
        } else if from_ip >= limits.max_sockets_per_ip {
            Some(format!(
                "too many websockets from this address: at most {}",
                limits.max_sockets_per_ip
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            self.inner.stats.refused.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("rxpool_api_ws_refused_total").increment(1);
            return Err(ApiError::TooManyRequests(message));
        }
        sockets.total += 1;
        *sockets.per_ip.entry(ip).or_default() += 1;
        PushStats::up(&self.inner.stats.sockets, "rxpool_api_ws_sockets");
        Ok(SocketSlot {
            hub: self.inner.clone(),
            ip,
        })
    }

    /// The latest frame of `topic`, if a producer runs for it.
    fn current(&self, topic: &str) -> Option<Frame> {
        let topics = lock(&self.inner.topics);
        topics.get(topic).and_then(|tx| tx.borrow().clone())
    }

    /// A receiver of `topic`'s frames, starting its producer if none runs; `seed` (the
    /// subscriber's own first render) becomes the current frame of a new producer.
    fn subscribe(&self, topic: &Arc<str>, seed: Frame) -> watch::Receiver<Option<Frame>> {
        let mut topics = lock(&self.inner.topics);
        if let Some(tx) = topics.get(topic) {
            let rx = tx.subscribe();
            tx.send_if_modified(|current| {
                let empty = current.is_none();
                if empty {
                    *current = Some(seed);
                }
                empty
            });
            return rx;
        }
        let (tx, rx) = watch::channel(Some(seed));
        let tx = Arc::new(tx);
        topics.insert(topic.clone(), tx.clone());
        PushStats::up(&self.inner.stats.topics, "rxpool_api_ws_topics");
        tokio::spawn(produce(self.inner.clone(), topic.clone(), tx));
        rx
    }
}

/// One topic's producer: renders it every `refresh` and publishes changed frames, until no
/// subscriber is left.
async fn produce(hub: Arc<HubInner>, topic: Arc<str>, tx: Publisher) {
    let start = tokio::time::Instant::now() + hub.limits.refresh;
    let mut tick = tokio::time::interval_at(start, hub.limits.refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = tx.closed() => {
                if hub.retire(&topic, &tx) {
                    return;
                }
            }
            _ = tick.tick() => {
                let frame = render(&hub.public, &topic).await.frame(&topic);
                let changed = tx.send_if_modified(|current| {
                    if current.as_ref() == Some(&frame) {
                        return false;
                    }
                    *current = Some(frame);
                    true
                });
                if changed {
                    hub.stats.published.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("rxpool_api_ws_published_total").increment(1);
                }
            }
        }
    }
}

impl HubInner {
    /// Removes `topic`'s producer if it still has no subscriber (checked under the lock that
    /// [`Hub::subscribe`] takes, so a subscriber arriving now is never left without one).
    fn retire(&self, topic: &str, tx: &Publisher) -> bool {
        let mut topics = lock(&self.topics);
        if tx.receiver_count() > 0 {
            return false;
        }
        if topics.get(topic).is_some_and(|t| Arc::ptr_eq(t, tx)) {
            topics.remove(topic);
        }
        PushStats::down(&self.stats.topics, "rxpool_api_ws_topics");
        true
    }
}

/// A counted socket; dropping it frees the slot.
#[derive(Debug)]
struct SocketSlot {
    hub: Arc<HubInner>,
    ip: Option<IpAddr>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = lock(&self.hub.sockets);
        sockets.total = sockets.total.saturating_sub(1);
        if let Some(n) = sockets.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sockets.per_ip.remove(&self.ip);
            }
        }
        PushStats::down(&self.hub.stats.sockets, "rxpool_api_ws_sockets");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The client's address for the per-IP cap, as the hardening layer judged it (a trusted
/// proxy's `X-Forwarded-For` believed), else the connection's; `None` without connect info,
/// as when a test serves the router bare (those sockets share one bucket).
fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    super::limits::ClientIp::of(extensions)
}

/// `GET /ws`: checks the socket caps, then upgrades.
async fn upgrade(
    State(hub): State<Hub>,
    extensions: Extensions,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let status = rejection.status();
            let message = format!(
                "this is a websocket endpoint; connect with a websocket client ({})",
                rejection.body_text()
            );
            return (status, Json(serde_json::json!({ "error": message }))).into_response();
        }
    };
    let slot = match hub.admit(client_ip(&extensions)) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let limits = &hub.inner.limits;
    // Messages over the cap are answered with an error; far larger ones end the socket in
    // tungstenite before they are buffered whole.
    let hard = limits.max_message_bytes.saturating_mul(16).max(64 * 1024);
    upgrade
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(hard)
        .max_frame_size(hard)
        .on_upgrade(move |ws| socket::serve(hub, ws, slot))
}
