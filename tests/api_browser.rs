//! The api as a browser meets it, in Debian's headless Chromium (`./install.sh test` installs
//! it): a page served from another origin, as poolui and its forks are, calls the REST routes
//! with poolui's `x-access-token` header (so the browser sends a CORS preflight first), posts a
//! miner setting, and follows `/pool/stats` over the websocket. What the page shows must equal
//! what the api answers. A screenshot of the page and of an e-mail link page is saved under
//! `target/test-artifacts/api/` for a person to look at.

#[path = "support/api.rs"]
mod api_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The front-end page: three requests a poolui-like front-end makes, each writing what it got
/// into the page, and `COMPLETE` once all three are in (then it reports them to its origin).
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>A front-end on another origin</title>
<style>body{font:14px sans-serif;margin:20px;max-width:860px}
pre{background:#eee;padding:8px;white-space:pre-wrap;word-break:break-all}</style></head>
<body><h1>A front-end on another origin</h1>
<h2>GET /pool/stats with x-access-token</h2><pre id="rest">waiting</pre>
<h2>POST /user/updateThreshold for an unknown address</h2><pre id="post">waiting</pre>
<h2>/ws, subscribed to /pool/stats</h2><pre id="ws">waiting</pre>
<p id="done"></p>
<script>
const api = "API_BASE";
let left = 3;
function finish() {
  if (--left !== 0) return;
  document.getElementById("done").textContent = "COMPLETE";
  const report = {};
  for (const id of ["rest", "post", "ws"]) report[id] = document.getElementById(id).textContent;
  fetch("/report", { method: "POST", body: JSON.stringify(report) });
}
function show(id, text) { document.getElementById(id).textContent = text; }
fetch(api + "/pool/stats", { headers: { "x-access-token": "poolui-sends-this" } })
  .then(r => r.text().then(t => show("rest", "HTTP " + r.status + " " + t)))
  .catch(e => show("rest", "FAILED " + e)).finally(finish);
fetch(api + "/user/updateThreshold", {
  method: "POST",
  headers: { "content-type": "application/json", "x-access-token": "poolui-sends-this" },
  body: JSON.stringify({ username: "4nope", threshold: "0.5" }),
}).then(r => r.text().then(t => show("post", "HTTP " + r.status + " " + t)))
  .catch(e => show("post", "FAILED " + e)).finally(finish);
const ws = new WebSocket(api.replace("http", "ws") + "/ws");
ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", topic: "/pool/stats" }));
ws.onmessage = m => { show("ws", "FRAME " + m.data); ws.close(); finish(); };
ws.onerror = () => { show("ws", "FAILED websocket"); finish(); };
</script></body></html>"#;

fn chromium() -> &'static str {
    for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(path).exists() {
            return path;
        }
    }
    panic!(
        "Chromium is needed for the browser tests: `./install.sh test` installs it (apt-get install chromium)"
    );
}

/// Runs headless Chromium on `url` with `args` (a fresh profile each time; virtual time, for
/// screenshots) and returns stdout.
fn run_chromium(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/api");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot of `url`, saved as `name` among the test artifacts; returns its path.
fn screenshot(url: &str, name: &str) -> PathBuf {
    let path = artifacts().join(name);
    let _ = std::fs::remove_file(&path);
    run_chromium(
        url,
        &[
            "--window-size=900,700",
            &format!("--screenshot={}", path.display()),
        ],
    );
    assert!(
        std::fs::metadata(&path).is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        path.display()
    );
    path
}

/// What the page showed in its element `id`.
fn element_text(report: &Value, id: &str) -> String {
    report[id]
        .as_str()
        .unwrap_or_else(|| panic!("no {id} in {report}"))
        .to_owned()
}

/// The api (with `[api]` `lines`) on a fresh database, the front-end page on its own origin,
/// and what the page showed once Chromium ran it (`{rest, post, ws}`): `(api, page URL,
/// report)`.
async fn load_page(
    name: &str,
    lines: &str,
    stop: &CancellationToken,
) -> (String, String, Value, tempfile::TempDir) {
    let (api, _state, lmdb) = api_support::serve_fresh(name, lines, stop).await;

    // The front-end's own origin: another port, so every call is cross-origin. The page posts
    // what it saw to its own origin's `/report` when all three calls are in (real time: a
    // websocket does not hold Chromium's virtual time, so --dump-dom could run before it).
    let page = PAGE.replace("API_BASE", &api);
    let site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_url = format!("http://{}/", site.local_addr().unwrap());
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel::<String>(1);
    let app = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/report",
            axum::routing::post(move |body: String| async move {
                let _ = report_tx.send(body).await;
            }),
        );
    let serving = stop.clone();
    tokio::spawn(async move {
        axum::serve(site, app)
            .with_graceful_shutdown(serving.cancelled_owned())
            .await
    });
    let profile = tempfile::tempdir().unwrap();
    let mut browser = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&site_url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let report = tokio::time::timeout(std::time::Duration::from_secs(30), report_rx.recv())
        .await
        .expect("the page reports within 30 s")
        .expect("a report");
    let _ = browser.kill().await;
    let dom: Value = serde_json::from_str(&report).unwrap();
    (api, site_url, dom, lmdb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_end_on_another_origin_reads_posts_and_follows_the_api_in_chromium() {
    let stop = CancellationToken::new();
    let (api, site_url, dom, _lmdb) =
        load_page("api_browser", "rate_limit_per_sec = 0", &stop).await;

    // The REST call passed its preflight and shows exactly what the api answers.
    let rest = element_text(&dom, "rest");
    let direct: Value = reqwest::get(format!("{api}/pool/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown: Value = serde_json::from_str(
        rest.strip_prefix("HTTP 200 ")
            .unwrap_or_else(|| panic!("the browser's GET failed: {rest}")),
    )
    .unwrap();
    assert_eq!(
        shown["pool_list"], direct["pool_list"],
        "{shown} vs {direct}"
    );
    assert_eq!(
        shown["pool_statistics"]["totalBlocksFound"],
        direct["pool_statistics"]["totalBlocksFound"]
    );

    // The POST went through CORS too, and its refusal is JSON the page can read.
    let post = element_text(&dom, "post");
    let refused: Value = serde_json::from_str(
        post.strip_prefix("HTTP 400 ")
            .unwrap_or_else(|| panic!("the browser's POST was not a readable 400: {post}")),
    )
    .unwrap();
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("address")),
        "{refused}"
    );

    // The websocket handshake and subscription work from the page.
    let ws = element_text(&dom, "ws");
    let frame: Value = serde_json::from_str(
        ws.strip_prefix("FRAME ")
            .unwrap_or_else(|| panic!("no websocket frame: {ws}")),
    )
    .unwrap();
    assert_eq!(frame["topic"], "/pool/stats");
    assert_eq!(frame["data"]["pool_list"], direct["pool_list"]);

    // Screenshots for a person: the front-end page, and an e-mail link refused in words.
    let shots = tokio::task::spawn_blocking({
        let api = api.clone();
        move || {
            (
                screenshot(&site_url, "front-end-on-another-origin.png"),
                screenshot(
                    &format!("{api}/user/confirmEmail/not-a-token"),
                    "email-link-refused.png",
                ),
            )
        }
    })
    .await
    .unwrap();
    println!("screenshots: {} {}", shots.0.display(), shots.1.display());
    stop.cancel();
}

/// The same page when the operator allows only another origin: the browser itself refuses to
/// hand the page the answers (the REST call and the POST fail in the page), which shows the
/// test above passes because of the api's CORS headers, not in spite of them. The websocket is
/// not subject to CORS, as in every browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_end_on_an_origin_the_operator_did_not_allow_gets_nothing_in_chromium() {
    let stop = CancellationToken::new();
    let (_api, _site, dom, _lmdb) = load_page(
        "api_browser_foreign_origin",
        "rate_limit_per_sec = 0\ncors_origins = [\"https://pool.example.org\"]",
        &stop,
    )
    .await;
    for id in ["rest", "post"] {
        let text = element_text(&dom, id);
        assert!(
            text.starts_with("FAILED"),
            "#{id} should be refused by the browser: {text}"
        );
    }
    stop.cancel();
}
