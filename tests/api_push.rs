//! The websocket push (`/ws`) against real sockets: a test `public` router whose content the
//! test changes stands in for the public GET routes (other helpers write those), served by
//! axum with connect info like the api; clients are tokio-tungstenite. The end-to-end case
//! runs the real `api::router` over a real LMDB and MariaDB and records a found block through
//! the store's writer, as the pool does.

#[path = "support/api.rs"]
mod api_support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use rxpool::api::push::{self, Hub, PushLimits, PushStats};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the test routes answer; the test changes it.
#[derive(Debug, Default)]
struct Content {
    stats: Mutex<Value>,
    /// Renders of each path (to see producers start and stop, and what was never rendered).
    renders: Mutex<HashMap<String, u64>>,
    big: AtomicU64,
}

impl Content {
    fn rendered(&self, path: &str) {
        *self
            .renders
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default() += 1;
    }

    fn renders(&self, path: &str) -> u64 {
        self.renders.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn set_stats(&self, value: Value) {
        *self.stats.lock().unwrap() = value;
    }
}

/// A stand-in for the public routes: one whose JSON the test sets, one that changes on every
/// render with a large body, one that validates its path, one that is not JSON, one that
/// fails, and an `/admin` route that a topic must never reach.
fn public(content: Arc<Content>) -> Router {
    Router::new()
        .route(
            "/pool/stats",
            get(|State(c): State<Arc<Content>>| async move {
                c.rendered("/pool/stats");
                axum::Json(c.stats.lock().unwrap().clone())
            }),
        )
        .route(
            "/pool/big",
            get(|State(c): State<Arc<Content>>| async move {
                c.rendered("/pool/big");
                let n = c.big.fetch_add(1, Ordering::Relaxed);
                axum::Json(json!({ "n": n, "pad": "x".repeat(256 * 1024) }))
            }),
        )
        .route(
            "/miner/{address}/stats",
            get(
                |State(c): State<Arc<Content>>, Path(address): Path<String>| async move {
                    c.rendered("/miner");
                    if address.starts_with('4') {
                        (StatusCode::OK, axum::Json(json!({ "address": address })))
                    } else {
                        (
                            StatusCode::BAD_REQUEST,
                            axum::Json(json!({ "error": "invalid address" })),
                        )
                    }
                },
            ),
        )
        .route("/pool/text", get(|| async { "not json" }))
        .route(
            "/pool/fail",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }),
        )
        .route(
            "/admin/stats",
            get(|State(c): State<Arc<Content>>| async move {
                c.rendered("/admin/stats");
                axum::Json(json!({ "secret": true }))
            }),
        )
        .with_state(content)
}

struct Server {
    url: String,
    hub: Hub,
    content: Arc<Content>,
    _stop: tokio_util::sync::DropGuard,
}

impl Server {
    fn stats(&self) -> Arc<PushStats> {
        self.hub.stats()
    }
}

fn limits() -> PushLimits {
    PushLimits {
        ping_every: Duration::from_secs(30),
        idle_after: Duration::from_secs(90),
        send_timeout: Duration::from_secs(5),
        ..PushLimits::default()
    }
}

async fn serve(limits: PushLimits) -> Server {
    serve_with(limits, true).await
}

async fn serve_with(limits: PushLimits, connect_info: bool) -> Server {
    let content = Arc::new(Content::default());
    content.set_stats(json!({ "hashRate": 1, "miners": 1 }));
    let hub = Hub::new(public(content.clone()), limits);
    let app = push::router(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let shutdown = stop.clone().cancelled_owned();
    if connect_info {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        });
    } else {
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        });
    }
    Server {
        url,
        hub,
        content,
        _stop: stop.drop_guard(),
    }
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

async fn subscribe(ws: &mut Ws, topic: &str) {
    send(ws, json!({ "op": "subscribe", "topic": topic })).await;
}

/// The next text frame as JSON (pings are answered by tungstenite while reading).
async fn recv(ws: &mut Ws) -> Value {
    let deadline = Duration::from_secs(5);
    loop {
        let message = tokio::time::timeout(deadline, ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("socket open")
            .expect("a frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads frames until one for `topic` whose data satisfies `wanted`; returns how long it took.
async fn recv_until(ws: &mut Ws, topic: &str, wanted: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let frame = recv(ws).await;
        if frame["topic"] == topic && wanted(&frame["data"]) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no such frame");
    }
}

/// No text frame for `how_long`.
async fn silent(ws: &mut Ws, how_long: Duration) {
    let until = tokio::time::Instant::now() + how_long;
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }
}

/// A `{"op":"ping"}` answered: every frame sent before it has been read.
async fn barrier(ws: &mut Ws) {
    send(ws, json!({ "op": "ping" })).await;
    loop {
        if recv(ws).await == json!({ "op": "pong" }) {
            return;
        }
    }
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(counter: &AtomicU64) -> u64 {
    PushStats::get(counter)
}

#[tokio::test]
async fn subscribe_answers_with_the_route_json_at_once_and_pushes_each_change() {
    let server = serve(limits()).await;
    let mut ws = connect(&server.url).await;
    subscribe(&mut ws, "/pool/stats").await;
    let first = recv(&mut ws).await;
    assert_eq!(
        first,
        json!({ "topic": "/pool/stats", "data": { "hashRate": 1, "miners": 1 } })
    );
    for rate in 2..5 {
        server
            .content
            .set_stats(json!({ "hashRate": rate, "miners": 1 }));
        let took = recv_until(&mut ws, "/pool/stats", |d| d["hashRate"] == rate).await;
        assert!(took < Duration::from_secs(2), "pushed after {took:?}");
    }
    // Nothing changed: nothing is pushed.
    silent(&mut ws, Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn one_producer_serves_all_subscribers_and_stops_when_the_last_leaves() {
    let server = serve(limits()).await;
    let stats = server.stats();
    let mut a = connect(&server.url).await;
    let mut b = connect(&server.url).await;
    subscribe(&mut a, "/pool/stats").await;
    subscribe(&mut b, "/pool/stats").await;
    recv(&mut a).await;
    recv(&mut b).await;
    assert_eq!(count(&stats.topics), 1);
    assert_eq!(count(&stats.subscriptions), 2);
    // One render per producer refresh for the topic (this test route has no cache), whatever
    // the subscriber count.
    let before = server.content.renders("/pool/stats");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let renders = server.content.renders("/pool/stats") - before;
    let expected = (2000 / rxpool::api::push::REFRESH.as_millis()) as u64;
    assert!(
        (expected / 2..=expected + 3).contains(&renders),
        "{renders} renders in 2 s, expected about {expected}"
    );

    server.content.set_stats(json!({ "hashRate": 9 }));
    recv_until(&mut a, "/pool/stats", |d| d["hashRate"] == 9).await;
    recv_until(&mut b, "/pool/stats", |d| d["hashRate"] == 9).await;
    assert_eq!(count(&stats.published), 1, "one frame per change");

    send(
        &mut a,
        json!({ "op": "unsubscribe", "topic": "/pool/stats" }),
    )
    .await;
    barrier(&mut a).await;
    assert_eq!(count(&stats.topics), 1, "b still listens");
    b.close(None).await.unwrap();
    wait_for("the producer to stop", || count(&stats.topics) == 0).await;
    wait_for("the socket to go", || count(&stats.sockets) == 1).await;
    let stopped = server.content.renders("/pool/stats");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        server.content.renders("/pool/stats"),
        stopped,
        "no render after the stop"
    );

    // A new subscriber starts it again.
    subscribe(&mut a, "/pool/stats").await;
    assert_eq!(recv(&mut a).await["data"]["hashRate"], 9);
    assert_eq!(count(&stats.topics), 1);
}

#[tokio::test]
async fn unsubscribe_stops_the_pushes_of_that_topic_only() {
    let server = serve(limits()).await;
    let mut ws = connect(&server.url).await;
    subscribe(&mut ws, "/pool/stats").await;
    subscribe(&mut ws, "/miner/4Abc/stats").await;
    recv(&mut ws).await;
    recv(&mut ws).await;
    send(
        &mut ws,
        json!({ "op": "unsubscribe", "topic": "/pool/stats" }),
    )
    .await;
    barrier(&mut ws).await;
    server.content.set_stats(json!({ "hashRate": 77 }));
    silent(&mut ws, Duration::from_millis(1500)).await;

    send(
        &mut ws,
        json!({ "op": "unsubscribe", "topic": "/pool/stats" }),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "topic": "/pool/stats", "error": "not subscribed" })
    );
    // Subscribing twice is harmless: the current state again.
    subscribe(&mut ws, "/miner/4Abc/stats").await;
    assert_eq!(recv(&mut ws).await["data"], json!({ "address": "4Abc" }));
    assert_eq!(count(&server.stats().subscriptions), 1);
}

#[tokio::test]
async fn a_client_that_never_reads_neither_delays_another_nor_stays() {
    let server = serve(PushLimits {
        send_timeout: Duration::from_secs(2),
        refresh: Duration::from_millis(50),
        ..limits()
    })
    .await;
    // The stuck client: a tiny receive buffer, never read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(server.url[5..].split('/').next().unwrap().parse().unwrap())
        .await
        .unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(server.url.as_str(), stream)
        .await
        .unwrap();
    stuck
        .send(Message::text(
            json!({ "op": "subscribe", "topic": "/pool/big" }).to_string(),
        ))
        .await
        .unwrap();
    stuck
        .send(Message::text(
            json!({ "op": "subscribe", "topic": "/pool/stats" }).to_string(),
        ))
        .await
        .unwrap();

    let mut reader = connect(&server.url).await;
    subscribe(&mut reader, "/pool/big").await;
    subscribe(&mut reader, "/pool/stats").await;
    for rate in 10..16 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.content.set_stats(json!({ "hashRate": rate }));
        let took = recv_until(&mut reader, "/pool/stats", |d| d["hashRate"] == rate).await;
        assert!(
            took < Duration::from_secs(1),
            "delayed by the stuck client: {took:?}"
        );
    }
    let stats = server.stats();
    wait_for("the stuck client to be dropped", || {
        count(&stats.dropped_slow) == 1
    })
    .await;
    // The reader still gets its pushes.
    server.content.set_stats(json!({ "hashRate": 99 }));
    recv_until(&mut reader, "/pool/stats", |d| d["hashRate"] == 99).await;
    assert_eq!(count(&stats.sockets), 1);
    drop(stuck);
}

#[tokio::test]
async fn sockets_per_ip_are_capped_with_a_json_429() {
    let server = serve(PushLimits {
        max_sockets_per_ip: 3,
        ..limits()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect(&server.url).await);
    }
    match tokio_tungstenite::connect_async(&server.url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert!(body["error"].as_str().unwrap().contains("at most 3"));
        }
        other => panic!("a 4th socket from one IP: {:?}", other.map(|_| ())),
    }
    assert_eq!(count(&server.stats().refused), 1);
    // A closed socket frees its place.
    open.pop().unwrap().close(None).await.unwrap();
    let stats = server.stats();
    wait_for("the slot to free", || count(&stats.sockets) == 2).await;
    open.push(connect(&server.url).await);
}

#[tokio::test]
async fn topics_per_socket_are_capped() {
    let server = serve(PushLimits {
        max_topics_per_socket: 2,
        ..limits()
    })
    .await;
    let mut ws = connect(&server.url).await;
    subscribe(&mut ws, "/pool/stats").await;
    subscribe(&mut ws, "/miner/4A/stats").await;
    subscribe(&mut ws, "/miner/4B/stats").await;
    recv(&mut ws).await;
    recv(&mut ws).await;
    let refused = recv(&mut ws).await;
    assert_eq!(refused["topic"], "/miner/4B/stats");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("too many topics on this socket: at most 2")
    );
    // Unsubscribing makes room.
    send(
        &mut ws,
        json!({ "op": "unsubscribe", "topic": "/pool/stats" }),
    )
    .await;
    subscribe(&mut ws, "/miner/4B/stats").await;
    assert_eq!(recv(&mut ws).await["data"]["address"], "4B");
}

#[tokio::test]
async fn hostile_topics_are_refused_and_never_rendered() {
    let server = serve(limits()).await;
    let mut ws = connect(&server.url).await;
    let long = format!("/pool/{}", "a".repeat(300));
    let cases: [(&str, &str); 13] = [
        ("/admin/stats", "not a public route"),
        ("/pool/../admin/stats", "'..'"),
        ("/pool/%2e%2E/admin/stats", "'..'"),
        ("/miner/x%2f..%2fadmin/stats", "encoded slashes"),
        ("/ws", "not a public route"),
        ("/user/4Abc", "not a public route"),
        ("/POOL/STATS", "not a public route"),
        ("/pool/stätš", "printable ASCII"),
        ("/pool/stats\u{0}", "printable ASCII"),
        (long.as_str(), "too long"),
        ("/miner/'; DROP TABLE users; --/stats", "printable ASCII"),
        ("/miner/1%27OR%271%27=%271/stats", "invalid address"),
        ("/pool/nothing", "no such public route"),
    ];
    for (topic, why) in cases {
        subscribe(&mut ws, topic).await;
        let answer = recv(&mut ws).await;
        assert_eq!(answer["topic"], topic, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{topic:?}: {error:?}");
    }
    for (topic, why) in [("/pool/text", "did not answer JSON"), ("/pool/fail", "500")] {
        subscribe(&mut ws, topic).await;
        let error = recv(&mut ws).await["error"].as_str().unwrap().to_owned();
        assert!(error.contains(why), "{topic}: {error}");
    }
    assert_eq!(server.content.renders("/admin/stats"), 0);
    let stats = server.stats();
    assert_eq!((count(&stats.topics), count(&stats.subscriptions)), (0, 0));
    // The socket is still fine.
    subscribe(&mut ws, "/pool/stats").await;
    assert_eq!(recv(&mut ws).await["topic"], "/pool/stats");
}

#[tokio::test]
async fn malformed_unknown_and_oversized_messages_get_an_error_and_the_socket_stays() {
    let server = serve(limits()).await;
    let mut ws = connect(&server.url).await;
    let bad = [
        "not json".to_owned(),
        "{}".to_owned(),
        "[1,2]".to_owned(),
        json!({ "op": "SUBSCRIBE", "topic": "/pool/stats" }).to_string(),
        json!({ "op": "subscribe'; DROP TABLE users; --" }).to_string(),
        json!({ "op": "subscribe" }).to_string(),
        json!({ "op": "subscribe", "topic": ["/pool/stats"] }).to_string(),
        json!({ "op": "ping", "extra": "x" }).to_string(),
        json!({ "op": "💥" }).to_string(),
    ];
    for message in bad {
        ws.send(Message::text(message.clone())).await.unwrap();
        let answer = recv(&mut ws).await;
        assert!(
            answer["error"].is_string() && answer.get("topic").is_none(),
            "{message}: {answer}"
        );
    }
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut ws).await, json!({ "error": "text frames only" }));
    let oversized = json!({ "op": "subscribe", "topic": "x".repeat(5000) }).to_string();
    ws.send(Message::text(oversized)).await.unwrap();
    assert_eq!(
        recv(&mut ws).await,
        json!({ "error": "message too large: at most 4096 bytes" })
    );
    barrier(&mut ws).await;
    assert_eq!(count(&server.stats().subscriptions), 0);

    // Far over the cap, the socket ends before the message is buffered.
    ws.send(Message::text("x".repeat(1 << 20))).await.ok();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "a 1 MiB message did not end the socket");
}

#[tokio::test]
async fn a_flooding_client_is_refused_then_dropped() {
    let server = serve(PushLimits {
        messages_per_second: 1,
        message_burst: 3,
        ..limits()
    })
    .await;
    let mut ws = connect(&server.url).await;
    for _ in 0..4 {
        send(&mut ws, json!({ "op": "ping" })).await;
    }
    for _ in 0..3 {
        assert_eq!(recv(&mut ws).await, json!({ "op": "pong" }));
    }
    let refused = recv(&mut ws).await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("too many messages")
    );
    // Binary frames count against the rate too.
    for _ in 0..10 {
        if ws.send(Message::binary(vec![0u8; 16])).await.is_err() {
            break;
        }
    }
    let stats = server.stats();
    wait_for("the flood drop", || count(&stats.dropped_flood) == 1).await;
    wait_for("the socket to go", || count(&stats.sockets) == 0).await;
}

#[tokio::test]
async fn the_server_pings_and_drops_a_silent_client() {
    let server = serve(PushLimits {
        ping_every: Duration::from_millis(200),
        idle_after: Duration::from_millis(700),
        ..limits()
    })
    .await;
    let mut alive = connect(&server.url).await;
    let mut silent_client = connect(&server.url).await;
    // The live client reads (so tungstenite answers each ping) for longer than the idle time.
    let alive = tokio::spawn(async move {
        let mut pings = 0;
        let until = tokio::time::Instant::now() + Duration::from_millis(2000);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, alive.next()).await {
            if matches!(message, Message::Ping(_)) {
                pings += 1;
            }
        }
        (alive, pings)
    });
    let stats = server.stats();
    wait_for("the idle drop", || count(&stats.dropped_idle) == 1).await;
    // The silent one, reading at last, finds its pings and then a policy close.
    let mut close = None;
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(2), silent_client.next()).await
    {
        if let Message::Close(frame) = message {
            close = frame;
            break;
        }
    }
    assert_eq!(u16::from(close.expect("a close frame").code), 1008);

    let (mut alive, pings) = alive.await.unwrap();
    assert!(pings >= 5, "{pings} pings in 2 s");
    barrier(&mut alive).await;
    assert_eq!(count(&stats.dropped_idle), 1);
    assert_eq!(count(&stats.sockets), 1);
}

#[tokio::test]
async fn without_connect_info_sockets_share_one_bucket() {
    let server = serve_with(
        PushLimits {
            max_sockets_per_ip: 2,
            ..limits()
        },
        false,
    )
    .await;
    let mut a = connect(&server.url).await;
    let _b = connect(&server.url).await;
    assert!(tokio_tungstenite::connect_async(&server.url).await.is_err());
    subscribe(&mut a, "/pool/stats").await;
    assert_eq!(recv(&mut a).await["topic"], "/pool/stats");
}

#[tokio::test]
async fn a_plain_get_on_ws_is_a_json_4xx() {
    let server = serve(limits()).await;
    let http = server.url.replace("ws://", "http://");
    let response = reqwest::get(&http).await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("websocket"));
}

/// End to end: the real api over a real LMDB and MariaDB; the test records a found block
/// through the store's writer as the pool does, and `/pool/blocks` shows it within 2 s.
#[tokio::test]
async fn a_found_block_reaches_a_pool_blocks_subscriber_within_two_seconds() {
    use rxpool::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};
    use rxpool::store::lmdb::{BlockStatus, FoundBlock, WriterConfig};

    let stop = CancellationToken::new();
    let (api, state, _lmdb) =
        api_support::serve_fresh("api_push_e2e", "rate_limit_per_sec = 0", &stop).await;
    let mut ws = connect(&format!("{}/ws", api.replace("http://", "ws://"))).await;
    subscribe(&mut ws, "/pool/blocks").await;
    let first = recv(&mut ws).await;
    assert!(first["data"].is_array(), "{first}");

    let writer = state.store.writer(WriterConfig::default()).unwrap();
    let height = 4242;
    writer
        .record_block(FoundBlock {
            height: Height(height),
            hash: Hash32([0xab; 32]),
            network_difficulty: Difficulty(300_000),
            reward: Atomic(600_000_000_000),
            pool_type: PoolType::Pplns,
            miner: Arc::from("4Miner"),
            worker: Arc::from("rig1"),
            timestamp: UnixMillis(1_700_000_000_000),
            shares_at_find: Some(Difficulty(310_000)),
            status: BlockStatus::Pending,
            blob: Vec::new(),
        })
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let written = Instant::now();
    recv_until(&mut ws, "/pool/blocks", |data| {
        data.as_array()
            .is_some_and(|blocks| blocks.iter().any(|b| b["height"] == height))
    })
    .await;
    let took = written.elapsed();
    eprintln!("the found block was pushed {took:?} after it was written");
    assert!(
        took < Duration::from_secs(2),
        "the block was pushed after {took:?}"
    );
    writer.close().await.unwrap();
    stop.cancel();
}
