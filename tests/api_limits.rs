//! The api's hardening end to end (the real api on a free port, its own MariaDB database,
//! LMDB in a temp dir): body limit, request timeout (a websocket outlives it), the per-IP rate
//! limit and whom it believes about the client's address, the CORS preflight poolui triggers,
//! and JSON for every refusal: unknown paths, wrong methods, malformed content types, garbage
//! and unicode paths (the e-mail links' pages for people excepted).
//!
//! The timeout, the chunked body and axum's own `Json` extractor are proven on test routes
//! wrapped in the real `limits::harden` with the real api's configuration: no real route is
//! slow on purpose or takes axum's `Json` (its routes use `JsonBody`), and the guarantee is
//! about what any route gets, present or future.

#[path = "support/api.rs"]
mod api_support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::{get, post};
use reqwest::{Method, StatusCode};
use rxpool::api::ApiState;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The api with `[api]` `lines`, on a fresh database; stops with `stop`.
async fn api(
    name: &str,
    lines: &str,
    stop: &CancellationToken,
) -> (String, ApiState, tempfile::TempDir) {
    api_support::serve_fresh(name, lines, stop).await
}

/// Test routes inside the real `limits::harden` of `state`'s configuration.
async fn hardened_test_routes(state: &ApiState, stop: &CancellationToken) -> String {
    let routes = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "too late"
            }),
        )
        .route("/echo", post(|body: axum::body::Bytes| async move { body }))
        .route(
            "/json",
            post(|axum::Json(v): axum::Json<Value>| async move { axum::Json(v) }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    // Speaks only after the request timeout has long passed.
                    tokio::time::sleep(Duration::from_millis(900)).await;
                    let _ = socket.send(Message::Text("late".into())).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                })
            }),
        );
    let app = rxpool::api::limits::harden(routes, state);
    let (listener, base) = api_support::listener().await;
    let stop = stop.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    });
    base
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Status and JSON body; panics when the body is not JSON with a non-empty `error`.
async fn json_error(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "{status}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let message = body["error"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "{status}: {text}");
    (status, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_a_json_413_and_a_small_one_passes() {
    let stop = CancellationToken::new();
    let (base, state, _lmdb) = api("limits_body", "max_body_bytes = 1024", &stop).await;
    let http = client();
    // Declared length over the limit: refused before any route, wherever it is sent.
    for path in ["/metrics", "/user/updateThreshold", "/no/such/route"] {
        let r = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(vec![b'a'; 4096])
            .send()
            .await
            .unwrap();
        let (status, message) = json_error(r).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {message}");
    }
    // A chunked body (no length given) is cut when read.
    let test = hardened_test_routes(&state, &stop).await;
    let mut request = b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
        Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..8 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'x'; 0x200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&test, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("application/json") && answer.contains("\"error\""),
        "{answer}"
    );
    let r = http
        .post(format!("{test}/echo"))
        .body(vec![b'y'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    stop.cancel();
}

/// Sends `request` as is to `base` (`http://host:port`) and reads the answer until the server
/// closes (send `Connection: close`).
async fn raw(base: &str, request: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_is_cut_with_a_json_503_but_a_websocket_outlives_the_timeout() {
    let stop = CancellationToken::new();
    let (_base, state, _lmdb) = api("limits_timeout", "request_timeout_ms = 300", &stop).await;
    let test = hardened_test_routes(&state, &stop).await;
    let started = std::time::Instant::now();
    let r = client().get(format!("{test}/slow")).send().await.unwrap();
    let (status, message) = json_error(r).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The upgrade is answered at once; the socket then lives three times the timeout.
    let addr = test.trim_start_matches("http://");
    let mut ws = tokio::net::TcpStream::connect(addr).await.unwrap();
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // An unmasked text frame from the server: FIN|text, length 4, "late".
    let mut frame = [0u8; 6];
    tokio::time::timeout(Duration::from_secs(5), ws.read_exact(&mut frame))
        .await
        .expect("the websocket spoke after the request timeout")
        .unwrap();
    assert_eq!(&frame, b"\x81\x04late");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_bites_per_ip_with_retry_after_and_forwarded_headers_do_not_dodge_it() {
    let stop = CancellationToken::new();
    let (base, _state, _lmdb) = api(
        "limits_rate",
        "rate_limit_per_sec = 1\nrate_limit_burst = 3",
        &stop,
    )
    .await;
    let http = client();
    for i in 0..3 {
        let r = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "request {i}");
    }
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (status, message) = json_error(r).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{message}");
    // Unknown paths and preflights count too, and so the limit holds for them.
    let r = http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // 127.0.0.1 is no trusted proxy here: a forged X-Forwarded-For or X-Real-IP is ignored.
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-real-ip", "203.0.113.8"),
    ] {
        let r = http
            .get(format!("{base}/metrics"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
    }
    // A token is back after a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let stop = CancellationToken::new();
    let (base, _state, _lmdb) = api(
        "limits_proxy",
        "rate_limit_per_sec = 1\nrate_limit_burst = 2\ntrusted_proxies = [\"127.0.0.0/8\"]",
        &stop,
    )
    .await;
    let http = client();
    let get = |forwarded: &'static str| {
        http.get(format!("{base}/metrics"))
            .header("x-forwarded-for", forwarded)
            .send()
    };
    for _ in 0..2 {
        assert_ne!(
            get("203.0.113.1").await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(
        get("203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy is not held back.
    assert_ne!(
        get("203.0.113.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The client cannot escape by prepending an address: the proxy appended the real one.
    assert_eq!(
        get("198.51.100.9, 203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // X-Real-IP (nginx's) is believed from the proxy too.
    let r = http
        .get(format!("{base}/metrics"))
        .header("x-real-ip", "203.0.113.3")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    stop.cancel();
}

/// A CORS preflight as a browser sends it before poolui's GET with `x-access-token`.
async fn preflight(base: &str, path: &str, origin: &str) -> reqwest::Response {
    client()
        .request(Method::OPTIONS, format!("{base}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-access-token")
        .send()
        .await
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_lowercase())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cors_preflight_with_x_access_token_succeeds_and_names_the_headers() {
    let stop = CancellationToken::new();
    let (base, _state, _lmdb) = api("limits_cors", "", &stop).await;
    for path in ["/pool/stats", "/miner/44abc/stats", "/metrics"] {
        let r = preflight(&base, path, "https://poolui.example.org").await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(header(&r, "access-control-allow-origin"), "*");
        let allowed = header(&r, "access-control-allow-headers");
        for h in ["x-access-token", "authorization", "content-type"] {
            assert!(allowed.contains(h), "{path}: {allowed}");
        }
        let methods = header(&r, "access-control-allow-methods");
        for m in ["get", "post", "put", "delete", "options"] {
            assert!(methods.contains(m), "{path}: {methods}");
        }
    }
    // The GET itself carries the header too, so the browser hands the answer over.
    let r = client()
        .get(format!("{base}/metrics"))
        .header("origin", "https://poolui.example.org")
        .header("x-access-token", "whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    stop.cancel();

    // With a list of origins, only those are allowed.
    let stop = CancellationToken::new();
    let (base, _state, _lmdb) = api(
        "limits_cors_list",
        "cors_origins = [\"https://pool.example.org\"]",
        &stop,
    )
    .await;
    let r = preflight(&base, "/metrics", "https://pool.example.org").await;
    assert!(r.status().is_success());
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        "https://pool.example.org"
    );
    let r = preflight(&base, "/metrics", "https://evil.example.com").await;
    assert_eq!(header(&r, "access-control-allow-origin"), "");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_wrong_methods_bad_content_types_and_garbage_answer_json_4xx() {
    let stop = CancellationToken::new();
    let (base, state, _lmdb) = api("limits_json", "", &stop).await;
    let http = client();

    let r = http
        .get(format!("{base}/no/such/route"))
        .send()
        .await
        .unwrap();
    let (status, _) = json_error(r).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The e-mail links are pages for a person in a browser: their refusal stays a page.
    let r = http
        .get(format!("{base}/user/confirmEmail/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(header(&r, "content-type").starts_with("text/plain"));
    assert!(r.text().await.unwrap().contains("cannot be used"));

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = http
            .request(method.clone(), format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        assert!(r.headers().contains_key("allow"), "{method}");
        let (status, _) = json_error(r).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }

    let long = "a".repeat(8000);
    let hostile = [
        "/%ff%fe%fd",
        "/%00",
        "/ünïcödé/统计",
        "/miner/'%20OR%201=1--/stats",
        "/pool/stats/../../etc/passwd",
        "/METRICS",
        "/metrics/",
        "//metrics",
        "/user/confirmEmail/",
        &format!("/{long}"),
        "/metrics?limit=-1&page=99999999999999999999",
    ];
    for path in hostile {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        let status = r.status();
        if status.is_success() {
            // Only the real /metrics with an ignored query may answer.
            assert!(path.starts_with("/metrics?"), "{path}: {status}");
            continue;
        }
        let (status, message) = json_error(r).await;
        assert!(status.is_client_error(), "{path}: {status} {message}");
    }

    // Malformed content types: axum's own `Json` extractor answers plain text; the api
    // answers JSON whatever the route uses.
    let test = hardened_test_routes(&state, &stop).await;
    for content_type in [
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/x-www-form-urlencoded",
        ";;;",
        "application/jsonp",
        "ápplication/json",
    ] {
        let r = http
            .post(format!("{test}/json"))
            .header(
                "content-type",
                reqwest::header::HeaderValue::from_bytes(content_type.as_bytes()).unwrap(),
            )
            .body("{\"a\":1}")
            .send()
            .await
            .unwrap();
        let (status, message) = json_error(r).await;
        assert!(
            status.is_client_error(),
            "{content_type:?}: {status} {message}"
        );
    }
    for body in ["{", "[1,2", "\u{feff}{}", "null garbage", ""] {
        let r = http
            .post(format!("{test}/json"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, message) = json_error(r).await;
        assert!(status.is_client_error(), "{body:?}: {status} {message}");
    }
    // A route's own success is untouched.
    let r = http
        .post(format!("{test}/json"))
        .header("content-type", "application/json")
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A request line axum never sees is hyper's; one it does see gets JSON.
    let answer = raw(
        &base,
        b"GET /%E2%82 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    stop.cancel();
}

/// Everything the process logs, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_logged_without_tokens_credentials_or_e_mail_addresses() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    let stop = CancellationToken::new();
    let (base, _state, _lmdb) = api("limits_logs", "", &stop).await;
    let http = client();
    for path in [
        "/user/unsubscribeEmail/SECRET-TOKEN-1?token=SECRET-TOKEN-2",
        "/user/confirmEmail/SECRET-TOKEN-3",
        "/user/approveEmail/SECRET-TOKEN-4.x.y",
        "/authed/?token=SECRET-TOKEN-5",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let r = http
        .post(format!("{base}/user/subscribeEmail"))
        .header("x-access-token", "SECRET-TOKEN-6")
        .header("authorization", "Bearer SECRET-TOKEN-7")
        .header("content-type", "application/json")
        .body(r#"{"username":"4abc","email":"someone@secret.example","password":"SECRET-TOKEN-8"}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("/user/unsubscribeEmail/***") && logs.contains("api request"),
        "{logs}"
    );
    for secret in ["SECRET-TOKEN", "secret.example", "someone@"] {
        assert!(!logs.contains(secret), "{secret} logged:\n{logs}");
    }
    stop.cancel();
}
