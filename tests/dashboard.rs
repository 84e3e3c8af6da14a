//! The dashboard as the api serves it: the page and its files come from the binary with a
//! self-only Content-Security-Policy and revalidation by ETag; `[api] dashboard = false` turns
//! it off; and in headless Chromium the page works unchanged behind a reverse proxy under a
//! path prefix (its REST calls and its websocket go through the prefix, and it asks no other
//! origin for anything), with the keyboard alone, and in the dark theme.

#[path = "support/api.rs"]
mod api_support;
#[path = "support/browser.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod browser;

use browser::Browser;
use reqwest::StatusCode;
use reqwest::header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// WebDriver's codes for the Tab and Enter keys.
const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";

#[tokio::test]
async fn the_page_and_its_files_are_served_from_the_binary_with_a_self_only_policy() {
    let stop = CancellationToken::new();
    let (api, _state, _lmdb) =
        api_support::serve_fresh("dashboard_files", "rate_limit_per_sec = 0", &stop).await;
    let http = reqwest::Client::new();

    let page = http.get(format!("{api}/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let html = page.text().await.unwrap();

    // Every file the page names is served, with its type; a second request with the ETag is a
    // 304 without a body.
    let names: Vec<&str> = html
        .match_indices("\"assets/")
        .map(|(i, _)| {
            let rest = &html[i + 1..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let file = http.get(format!("{api}/{name}")).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK, "{name}");
        let kind = file.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let expected = if name.ends_with(".js") {
            "text/javascript"
        } else if name.ends_with(".css") {
            "text/css"
        } else if name.ends_with(".svg") {
            "image/svg+xml"
        } else {
            "text/plain"
        };
        assert!(kind.starts_with(expected), "{name}: {kind}");
        let tag = file.headers()[header::ETAG].clone();
        assert!(!file.bytes().await.unwrap().is_empty(), "{name} is empty");
        let again = http
            .get(format!("{api}/{name}"))
            .header(header::IF_NONE_MATCH, tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name}");
        assert!(again.bytes().await.unwrap().is_empty());
    }

    // Unknown or hostile file names are a JSON 404, never a file from the disk.
    for path in [
        "assets/nope.js",
        "assets/../Cargo.toml",
        "assets/%2e%2e/%2e%2e/Cargo.toml",
        "assets/vendor/../../../../etc/passwd",
        "assets/core.js%00.png",
    ] {
        let response = http.get(format!("{api}/{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // The REST routes beside it are unchanged.
    let stats = http.get(format!("{api}/pool/stats")).send().await.unwrap();
    assert_eq!(stats.status(), StatusCode::OK);
    stop.cancel();
}

#[tokio::test]
async fn an_operator_can_turn_the_dashboard_off() {
    let stop = CancellationToken::new();
    let (api, _state, _lmdb) = api_support::serve_fresh(
        "dashboard_off",
        "rate_limit_per_sec = 0\ndashboard = false",
        &stop,
    )
    .await;
    for path in ["/", "/assets/core.js"] {
        let response = reqwest::get(format!("{api}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        reqwest::get(format!("{api}/pool/stats"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    stop.cancel();
}

/// A reverse proxy as nginx's `location /pool-ui/ { proxy_pass http://api/; }` (with the
/// websocket upgrade headers passed): it strips the prefix from each request's path and
/// forwards the bytes both ways, and redirects the bare prefix to `prefix/`. Each connection carries one request (it asks for
/// `Connection: close`), except a websocket, which keeps its connection after the upgrade.
async fn prefix_proxy(api: &str, prefix: &'static str, stop: CancellationToken) -> String {
    let upstream = api.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{prefix}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut client, _) = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted.unwrap(),
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 || head.len() > 65_536 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let mut lines = text.split("\r\n");
                let request_line = lines.next().unwrap_or_default();
                let mut parts = request_line.splitn(3, ' ');
                let (method, target, version) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                // nginx answers the prefix without its slash with a redirect to it (the
                // page's relative URLs need the slash).
                if target == prefix {
                    let redirect = format!(
                        "HTTP/1.1 301 Moved Permanently\r\nlocation: {prefix}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = client.write_all(redirect.as_bytes()).await;
                    return;
                }
                let Some(path) = target.strip_prefix(prefix) else {
                    let _ = client
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                };
                let path = if path.is_empty() { "/" } else { path };
                let upgrade = text.to_ascii_lowercase().contains("upgrade: websocket");
                let mut forwarded = format!("{method} {path} {version}\r\n");
                for line in lines.filter(|l| !l.is_empty()) {
                    if !upgrade && line.to_ascii_lowercase().starts_with("connection:") {
                        continue;
                    }
                    forwarded.push_str(line);
                    forwarded.push_str("\r\n");
                }
                if !upgrade {
                    forwarded.push_str("Connection: close\r\n");
                }
                forwarded.push_str("\r\n");
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                if server.write_all(forwarded.as_bytes()).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_reverse_proxy_under_a_prefix_the_page_loads_and_goes_live_in_chromium() {
    let stop = CancellationToken::new();
    let (api, _state, _lmdb) =
        api_support::serve_fresh("dashboard_prefix", "rate_limit_per_sec = 0", &stop).await;
    let url = prefix_proxy(&api, "/pool-ui", stop.clone()).await;

    let browser = Browser::start(1280, 900).await;
    browser.open(&url).await;
    let location = browser.script("return location.href;").await;
    assert!(
        location.as_str().unwrap().starts_with(&url),
        "{location} is not under {url}"
    );
    // The page's websocket connects through the prefix and brings a topic's JSON.
    browser
        .script("RX.live('/pool/stats', d => { window.pushed = d; }); return true;")
        .await;
    browser.wait_css("html[data-live=\"open\"]").await;
    let mut pushed = serde_json::Value::Null;
    for _ in 0..100 {
        pushed = browser.script("return window.pushed || null;").await;
        if !pushed.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(pushed["pool_statistics"].is_object(), "{pushed}");
    // Everything the page loaded came from the proxy's origin, under the prefix.
    let loaded = browser
        .script("return performance.getEntriesByType('resource').map(e => e.name);")
        .await;
    let loaded: Vec<String> = serde_json::from_value(loaded).unwrap();
    assert!(loaded.len() >= 8, "{loaded:?}");
    for resource in &loaded {
        assert!(resource.starts_with(&url), "{resource} is outside {url}");
    }
    browser.close().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_reaches_every_section_and_the_theme_switch() {
    let stop = CancellationToken::new();
    let (api, _state, _lmdb) =
        api_support::serve_fresh("dashboard_keyboard", "rate_limit_per_sec = 0", &stop).await;
    let browser = Browser::start(390, 844).await;
    browser.open(&format!("{api}/")).await;

    // Tab through the page (its content, the footer, then round to the skip link, the brand
    // and each section of the header).
    let wanted = ["#view", "#/start", "#/miner", "#/admin", "theme"];
    let mut reached = Vec::new();
    for _ in 0..80 {
        if wanted.iter().all(|w| reached.iter().any(|r| r == w)) {
            break;
        }
        browser
            .client
            .active_element()
            .await
            .unwrap()
            .send_keys(TAB)
            .await
            .unwrap();
        let label = browser
            .script("const e = document.activeElement; return e.getAttribute('href') || e.id;")
            .await;
        reached.push(label.as_str().unwrap_or_default().to_owned());
    }
    for wanted in wanted {
        assert!(
            reached.iter().any(|r| r == wanted),
            "Tab never reached {wanted}: {reached:?}"
        );
    }

    // Enter on the focused "Start mining" link opens that view.
    let start = browser.wait_css("nav a[href=\"#/start\"]").await;
    start.send_keys(ENTER).await.unwrap();
    browser.ready().await;
    assert_eq!(browser.script("return location.hash;").await, "#/start");

    // The theme switch flips light and dark and remembers the choice across a reload.
    let before = browser
        .script("return getComputedStyle(document.documentElement).backgroundColor;")
        .await;
    browser.click("#theme").await;
    let after = browser
        .script("return getComputedStyle(document.documentElement).backgroundColor;")
        .await;
    assert_ne!(before, after, "the theme switch changed nothing");
    browser.client.refresh().await.unwrap();
    browser.ready().await;
    assert_eq!(
        browser
            .script("return getComputedStyle(document.documentElement).backgroundColor;")
            .await,
        after
    );
    // Nothing is wider than a phone's screen.
    let overflow = browser
        .script("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is {overflow} px too wide"
    );
    browser.screenshot("phone-start-dark.png").await;
    browser.close().await;
    stop.cancel();
}
