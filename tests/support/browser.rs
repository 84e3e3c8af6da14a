//! A real browser for the dashboard tests: Debian's headless Chromium driven over WebDriver by
//! its `chromedriver` (`./install.sh test` installs both), through the fantoccini client. Each
//! [`Browser`] starts its own chromedriver on a free loopback port with a fresh profile, and
//! kills it when dropped.
//!
//! The dashboard marks every number it shows with `data-field` (its name) and `data-value` (the
//! api's raw value), so a test reads what a person sees ([`Browser::text`]) and the exact value
//! behind it ([`Browser::value`]). Screenshots go to `target/test-artifacts/dashboard/`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a wait for the page gives up after.
pub const WAIT: Duration = Duration::from_secs(30);

/// Chromium under chromedriver, one window.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

fn executable(candidates: &[&str], what: &str) -> String {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| (*p).to_owned())
        .unwrap_or_else(|| {
            panic!("{what} is needed for the dashboard tests: `./install.sh test` installs it (apt-get install chromium chromium-driver)")
        })
}

impl Browser {
    /// A headless Chromium `width`×`height` pixels (a desktop is 1280×900, a phone 390×844).
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromium = executable(
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
            "Chromium",
        );
        let chromedriver = executable(
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
            "chromedriver",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, so that the Chromium it starts dies with it (see Drop).
        let driver = std::process::Command::new(chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        // Headless Chromium keeps a window at least 500 px wide: a phone's width is emulated.
        if width < 500 {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 },
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.as_object().unwrap().clone());
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver at {url}: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits until the dashboard has rendered its view (`main[data-ready]`).
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.ready().await;
    }

    /// Waits until the view is rendered (after `open`, or after a click that changes view).
    pub async fn ready(&self) {
        self.wait_css("main#view[data-ready]").await;
    }

    /// Moves to the view `hash` (`#/miner/ADDR`) without reloading, and waits for it.
    pub async fn go(&self, hash: &str) {
        self.script(&format!("location.hash = {}; return true;", json!(hash)))
            .await;
        // The old view is torn down at once; wait for the new one.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.ready().await;
    }

    /// The first element matching `css`, waiting up to [`WAIT`] for it.
    pub async fn wait_css(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page within {WAIT:?}: {e}"))
    }

    /// Every element matching `css` now.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// The visible text of the element `[data-field=field]`.
    pub async fn text(&self, field: &str) -> String {
        let css = field_css(field);
        let deadline = Instant::now() + WAIT;
        loop {
            // A live update may replace the element between the find and the read (a stale
            // reference): look it up again.
            if let Ok(el) = self.client.find(Locator::Css(&css)).await
                && let Ok(text) = el.text().await
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on the page within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The exact value behind the element `[data-field=field]` (its `data-value`).
    pub async fn value(&self, field: &str) -> String {
        self.attr_until(&field_css(field), "data-value", |_| true)
            .await
    }

    /// Waits until `[data-field=field]` has a `data-value` for which `accept` holds; returns it.
    pub async fn value_until(&self, field: &str, accept: impl Fn(&str) -> bool) -> String {
        self.attr_until(&field_css(field), "data-value", accept)
            .await
    }

    /// Waits until the first element matching `css` has an attribute `name` for which
    /// `accept` holds; returns it. An element replaced by a live update while it is read is
    /// looked up again.
    pub async fn attr_until(&self, css: &str, name: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.attr(name).await.ok().flatten(),
                Err(_) => None,
            };
            if let Some(v) = &found
                && accept(v)
            {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{css} never had the expected {name} (last: {found:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self.body_text().await;
            if body.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {needle:?}; it shows:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the page shows as text.
    pub async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Runs `script` (a function body; `return` its result) in the page.
    pub async fn script(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_css(css).await.click().await.unwrap();
    }

    /// Types `text` into the (cleared) input matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let input = self.wait_css(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Saves a screenshot of the window as `name` among the test artifacts; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.len() > 1000, "an empty screenshot for {name}");
        let path = artifacts().join(name);
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// Saves a screenshot of the whole page (not only the window) as `name`.
    pub async fn screenshot_full(&self, name: &str) -> PathBuf {
        let height = self
            .script("return Math.ceil(document.documentElement.scrollHeight);")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(300, 6000);
        let (width, old_height) = self.client.get_window_size().await.unwrap();
        self.client
            .set_window_size(width as u32, height as u32)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let path = self.screenshot(name).await;
        self.client
            .set_window_size(width as u32, old_height as u32)
            .await
            .unwrap();
        path
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group (Chromium and its helpers with it), also when
    /// a test fails half-way.
    fn drop(&mut self) {
        let group = i32::try_from(self.driver.id()).expect("a pid fits i32");
        // SAFETY: kill(2) on a process group this test started; no memory is involved.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

/// The CSS selector of the element showing the figure `field`.
pub fn field_css(field: &str) -> String {
    format!("[data-field=\"{field}\"]")
}

/// Where screenshots are saved.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
