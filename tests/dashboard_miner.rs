//! The miner-facing dashboard (`pool.js`: `#/`, `#/start`; `miner.js`: `#/miner/...`) in
//! headless Chromium, against a real pool: the stratum listener with light-mode RandomX on a
//! regtest monerod (fixed difficulty, so a test miner finds blocks in seconds), the worker's
//! rollups in the pool's own LMDB, the api on that LMDB and a fresh MariaDB database.
//!
//! Proven: the overview shows what the api answers (pool, network and config figures), a block
//! the test miner finds appears in the open overview without a reload, the xmrig command line
//! shown on `#/start` logs in to the pool as it is, the miner page then shows that worker with
//! its shares, the threshold form changes the threshold, and an address the api refuses is
//! said in words. Screenshots (desktop, phone width, dark) go to
//! `target/test-artifacts/dashboard/` for a person to look at.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "support/browser.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the browser helpers")]
mod browser;
#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::Browser;
use rxpool::api::ApiState;
use rxpool::config::FileConfig;
use rxpool::devnet::{MariaDb, Monerod, MonerodOptions};
use rxpool::domain::{Difficulty, Hash32, PoolType, SystemClock, Target};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::pow::{PowAlgo, Verifier};
use rxpool::monero::wallet::WalletClient;
use rxpool::store::lmdb::WriterConfig;
use rxpool::store::mysql::{self, PortConfig, PortHeartbeat, registry};
use rxpool::worker::cycle::Worker;
use serde_json::{Value, json};
use stratum::{ADDR, Client, TestPool, error_of, start_pool, test_settings};
use tokio_util::sync::CancellationToken;

/// Low enough that light-mode RandomX finds a block in a few seconds, high enough that the
/// first shares are mostly not blocks.
const NETWORK_DIFFICULTY: u64 = 25;
/// A TLS port the pool host advertises (nothing listens there; the start page only lists it).
const TLS_PORT: u16 = 443;

/// A pool, its worker and the api, all on one LMDB and one database, until dropped.
struct Rig {
    pool: TestPool,
    api: String,
    stop: CancellationToken,
    _monerod: Monerod,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("rxpool=warn")
        .try_init();
}

impl Rig {
    async fn start(name: &str) -> Rig {
        logs();
        let monerod = Monerod::start(MonerodOptions {
            fixed_difficulty: NETWORK_DIFFICULTY,
        })
        .await
        .unwrap();
        let url = MariaDb::shared()
            .await
            .unwrap()
            .create_database(name)
            .await
            .unwrap();
        let db = mysql::connect(&url).await.unwrap();
        mysql::migrate(&db).await.unwrap();
        for (item, value) in [
            ("pool.address", ADDR),
            ("general.motdSubject", "Welcome to the test pool"),
            ("general.motdBody", "Maintenance <b>tonight</b> at 22:00."),
            ("general.motdCreated", "1700000000"),
        ] {
            mysql::set_setting(&db, item, value).await.unwrap();
        }
        let settings = mysql::load_settings(&db, &Default::default())
            .await
            .unwrap();
        let pool = start_pool(&[monerod.rpc_url()], test_settings(), 1, None).await;

        // The pool host and its ports, as `pool::run` registers them, for /pool/ports.
        registry::register_pool(&db, 1, "127.0.0.1", "test-pool")
            .await
            .unwrap();
        let port = |port, tls, description: &str| PortHeartbeat {
            port: PortConfig {
                port,
                difficulty: 1,
                description: description.into(),
                pool_type: PoolType::Pplns,
                hidden: false,
                tls,
            },
            miners: 0,
        };
        registry::heartbeat(
            &db,
            1,
            "127.0.0.1",
            None,
            &[
                port(pool.addr.port(), false, "CPU miners, vardiff"),
                port(TLS_PORT, true, "TLS, for networks that block plain stratum"),
            ],
        )
        .await
        .unwrap();

        // The api on the pool's own LMDB.
        let stop = CancellationToken::new();
        let (listener, api) = api_support::listener().await;
        let config = FileConfig::parse(&format!(
            "[mysql]\nurl = \"{url}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"{}\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:1\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\n\
             hostname = \"test-pool\"\n[api]\nbind = \"{}\"\nrate_limit_per_sec = 0\n",
            pool.store.path().display(),
            monerod.rpc_url(),
            listener.local_addr().unwrap(),
        ))
        .unwrap();
        let state = ApiState::new(
            db.clone(),
            pool.store.clone(),
            settings.clone(),
            config,
            Arc::new(SystemClock),
        );
        tokio::spawn(rxpool::api::serve(listener, state, stop.clone()));

        // The worker, rolling up every 500 ms.
        let writer = pool.store.writer(WriterConfig::default()).unwrap();
        let (mut worker, _settings_rx) = Worker::new(
            db.clone(),
            pool.store.clone(),
            writer,
            DaemonClient::new(&[monerod.rpc_url()]).unwrap(),
            WalletClient::new("http://127.0.0.1:1").unwrap(),
            Arc::new(SystemClock),
            settings,
            Default::default(),
        );
        worker.load().await.unwrap();
        let cycling = stop.clone();
        tokio::spawn(async move {
            let _keep = _settings_rx;
            while !cycling.is_cancelled() {
                if let Err(e) = worker.cycle().await {
                    tracing::warn!(error = %e, "worker cycle failed");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let rig = Rig {
            pool,
            api,
            stop,
            _monerod: monerod,
        };
        // The first rollup is in (network tip, ports).
        let r = &rig;
        rig.until("the worker's first rollup", || async move {
            let n = r.get("network/stats").await;
            let p = r.get("pool/ports").await;
            n["height"].as_u64().is_some() && p["pplns"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
        rig
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}/{path}", self.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits up to 60 s for `check` to hold.
    async fn until<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check().await {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The dashboard's URL at `hash`.
    fn page(&self, hash: &str) -> String {
        format!("{}/{hash}", self.api)
    }
}

/// A stratum connection logged in with `login` and `pass`, and its current job.
struct TestMiner {
    client: Client<tokio::net::TcpStream>,
    job: Value,
    nonce: u32,
}

impl TestMiner {
    async fn login(addr: &str, login: &str, pass: &str) -> TestMiner {
        let mut client = Client::connect(addr.parse().unwrap()).await;
        let reply = client
            .login_when_ready(
                json!({"login": login, "pass": pass, "agent": "XMRig/6.26.0", "algo": ["rx/0"]}),
            )
            .await;
        assert_eq!(
            error_of(&reply),
            None,
            "the pool refused {login} / {pass}: {reply}"
        );
        TestMiner {
            job: reply["result"]["job"].clone(),
            client,
            nonce: 0,
        }
    }

    /// Hashes from the next nonce until one meets `difficulty` and submits it; with `None`, a
    /// share of the job's target that is not a block (so the job stays current). Returns the
    /// job's height. A refused share fails the test.
    async fn submit(&mut self, verifier: &Verifier, difficulty: Option<u64>) -> u64 {
        let blob = hex::decode(self.job["blob"].as_str().unwrap()).unwrap();
        let seed: Hash32 = self.job["seed_hash"].as_str().unwrap().parse().unwrap();
        verifier.set_seeds(seed, None);
        let want = match difficulty {
            Some(d) => Difficulty(u128::from(d)),
            None => Target::difficulty_of_hex(self.job["target"].as_str().unwrap()).unwrap(),
        };
        loop {
            let nonce = self.nonce;
            self.nonce += 1;
            let mut b = blob.clone();
            b[39..43].copy_from_slice(&nonce.to_le_bytes());
            let hash = verifier.hash(PowAlgo::RandomX, seed, b).await.unwrap();
            let block = Difficulty(u128::from(NETWORK_DIFFICULTY)).is_met_by(&hash);
            if !want.is_met_by(&hash) || (difficulty.is_none() && block) {
                continue;
            }
            let reply = self
                .client
                .call(
                    "submit",
                    json!({"id": self.job["id"], "job_id": self.job["job_id"],
                           "nonce": hex::encode(nonce.to_le_bytes()), "result": hash.to_string(),
                           "algo": "rx/0"}),
                )
                .await;
            assert_eq!(error_of(&reply), None, "share refused: {reply}");
            return self.job["height"].as_u64().unwrap();
        }
    }

    /// Takes the newest job (after a block, the old one is stale).
    async fn refresh(&mut self) {
        let reply = self
            .client
            .call("getjob", json!({"id": self.job["id"]}))
            .await;
        if reply["result"]["blob"].is_string() {
            self.job = reply["result"].clone();
            self.nonce = 0;
        }
    }
}

/// Waits until every `(field, expected)` shown on the page holds the api's value, re-reading
/// both (the numbers are live); fails with the last difference.
async fn page_matches_api(
    b: &Browser,
    rig: &Rig,
    expected: impl Fn(&Value, &Value, &Value) -> Vec<(&'static str, String)>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (stats, network, config) = (
            rig.get("pool/stats").await,
            rig.get("network/stats").await,
            rig.get("config").await,
        );
        let mut differ = Vec::new();
        for (field, want) in expected(&stats, &network, &config) {
            let shown = b.value(field).await;
            if shown != want {
                differ.push(format!("{field}: page {shown:?}, api {want:?}"));
            }
        }
        if differ.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the overview differs from the api: {differ:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A JSON value as the page keeps it in data-value.
fn raw(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `-o`, `-u` and `-p` of an xmrig command line (single-quoted words unquoted).
fn xmrig_args(command: &str) -> (String, String, String) {
    let words: Vec<String> = command
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .collect();
    assert_eq!(
        words.first().map(String::as_str),
        Some("xmrig"),
        "{command}"
    );
    let arg = |flag: &str| {
        let at = words
            .iter()
            .position(|w| w == flag)
            .unwrap_or_else(|| panic!("no {flag} in {command}"));
        words[at + 1].clone()
    };
    (arg("-o"), arg("-u"), arg("-p"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_the_apis_figures_and_a_found_block_appears_without_a_reload() {
    let rig = Rig::start("dashboard_overview").await;
    let mut miner = TestMiner::login(&rig.pool.addr.to_string(), ADDR, "rig1").await;
    for _ in 0..3 {
        miner.submit(&rig.pool.verifier, None).await;
    }
    rig.pool.shared.sink.flush().await.unwrap();
    let r = &rig;
    rig.until("the rollup counts the miner", || async move {
        r.get("pool/stats").await["pool_statistics"]["miners"] == json!(1)
    })
    .await;

    let b = Browser::start(1280, 900).await;
    b.open(&rig.page("#/")).await;
    page_matches_api(&b, &rig, |s, n, c| {
        let p = &s["pool_statistics"];
        let effort = p["effort"].as_u64().unwrap() as f64 / 10_000.0;
        vec![
            ("pool-hashrate", raw(&p["hashRate"])),
            ("pool-miners", raw(&p["miners"])),
            ("pool-workers", raw(&p["workers"])),
            ("pool-blocks-found", raw(&p["totalBlocksFound"])),
            (
                "pool-last-block-time",
                if p["lastBlockFoundTime"] == json!(0) {
                    String::new()
                } else {
                    raw(&p["lastBlockFoundTime"])
                },
            ),
            ("pool-effort", format!("{effort}")),
            ("network-height", raw(&n["height"])),
            ("network-difficulty", raw(&n["difficulty"])),
            ("network-reward", raw(&n["value"])),
            ("fee-pplns", raw(&c["pplns_fee"])),
            ("fee-solo", raw(&c["solo_fee"])),
            ("payout-min", raw(&c["min_wallet_payout"])),
            ("maturity-depth", raw(&c["maturity_depth"])),
        ]
    })
    .await;
    // The modes the pool runs are explained (pool_list: pplns and solo by default), the
    // operator's message is shown as text, and the charts have their three ranges.
    let stats = rig.get("pool/stats").await;
    for mode in stats["pool_list"].as_array().unwrap() {
        b.wait_css(&format!(".mode[data-mode={mode}]")).await;
    }
    assert!(b.all(".mode[data-mode=\"pps\"]").await.is_empty());
    b.wait_text("Maintenance <b>tonight</b> at 22:00.").await;
    assert_eq!(b.all(".tabs button[data-range]").await.len(), 3);
    b.click(".tabs button[data-range=month]").await;
    b.wait_css(".tabs button[data-range=month][aria-pressed=true]")
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        b.all(".chart-note .error").await.is_empty(),
        "the month chart was refused"
    );
    b.click(".tabs button[data-range=hour]").await;

    // A block, found while the page is open, appears in its recent blocks, and the page was
    // not loaded again (a marker set in it stays).
    b.script("window.__stillThisPage = 'yes'; return true;")
        .await;
    let blocks_before = b.value("pool-blocks-found").await;
    miner.refresh().await;
    let height = miner
        .submit(&rig.pool.verifier, Some(NETWORK_DIFFICULTY))
        .await;
    let row = format!("#recent-blocks tr[data-height=\"{height}\"]");
    b.wait_css(&row).await;
    let status = b
        .attr_until(
            &format!("{row} [data-field=block-status]"),
            "data-value",
            |_| true,
        )
        .await;
    assert_eq!(status, "pending");
    let found = b
        .value_until("pool-blocks-found", |v| v != blocks_before)
        .await;
    assert_eq!(
        found,
        raw(&rig.get("pool/stats").await["pool_statistics"]["totalBlocksFound"])
    );
    assert_eq!(
        b.script("return window.__stillThisPage || 'reloaded';")
            .await,
        json!("yes")
    );
    let blocks = rig.get("pool/blocks?limit=10").await;
    let newest = blocks
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["height"] == json!(height))
        .expect("the api lists the block");
    let hash = b
        .attr_until(
            &format!("{row} [data-field=block-hash]"),
            "data-value",
            |_| true,
        )
        .await;
    assert_eq!(Some(hash.as_str()), newest["hash"].as_str());
    b.script("window.scrollTo(0, 0); return true;").await;
    b.screenshot_full("overview.png").await;
    b.close().await;

    // On a phone's width, nothing runs off the side of the page.
    let phone = Browser::start(390, 844).await;
    phone.open(&rig.page("#/")).await;
    phone.wait_css(&row).await;
    let overflow = phone
        .script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        )
        .await;
    assert_eq!(overflow, json!(0), "the overview is wider than a phone");
    phone.screenshot_full("overview-phone.png").await;
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_pages_command_line_logs_in_and_the_miner_page_shows_that_worker() {
    let rig = Rig::start("dashboard_miner").await;
    let b = Browser::start(1280, 900).await;
    b.open(&rig.page("#/start")).await;

    // The ports as the api lists them.
    let port = rig.pool.addr.port();
    b.wait_css(&format!("#ports tr[data-port=\"{port}\"]"))
        .await;
    let tls = b
        .attr_until(
            &format!("#ports tr[data-port=\"{TLS_PORT}\"] [data-field=port-tls]"),
            "data-value",
            |_| true,
        )
        .await;
    assert_eq!(tls, "true");

    // An address the pool does not take is said so; then the visitor fills the form.
    b.type_into("#start-address", "4notanaddress").await;
    b.wait_text("Not an address this pool accepts").await;
    b.type_into("#start-address", ADDR).await;
    b.wait_text("A valid XMR address").await;
    b.type_into("#start-worker", "dash-rig").await;
    b.type_into("#start-email", "me@example.org").await;
    b.type_into("#start-difficulty", "2").await;
    let choose = |wanted: u16| {
        format!(
            "const s = document.getElementById('start-port');\
             const i = Array.from(s.options).findIndex(o => o.textContent.includes(':{wanted} '));\
             s.value = String(i); s.dispatchEvent(new Event('change')); return i;"
        )
    };
    b.script(&choose(TLS_PORT)).await;
    let with_tls = b
        .value_until("xmrig-command", |c| c.contains(&format!(":{TLS_PORT} ")))
        .await;
    assert!(with_tls.contains(" --tls"), "{with_tls}");
    b.script(&choose(port)).await;
    let command = b
        .value_until("xmrig-command", |c| c.contains(&format!(":{port} ")))
        .await;
    assert!(!command.contains("--tls"), "{command}");
    assert!(command.contains("-a rx/0"), "{command}");
    let fragment = b.value("xmrig-config").await;
    let config: Value = serde_json::from_str(&format!("{{{fragment}}}")).unwrap();
    b.script("window.scrollTo(0, 0); return true;").await;
    b.screenshot_full("start.png").await;

    // Exactly what the page says, given to the pool: it logs in and its shares count.
    let (url, login, pass) = xmrig_args(&command);
    assert_eq!(url, format!("127.0.0.1:{port}"));
    assert_eq!(login, format!("{ADDR}+2"));
    assert_eq!(pass, "dash-rig:me@example.org");
    assert_eq!(config["pools"][0]["url"], json!(url));
    assert_eq!(config["pools"][0]["user"], json!(login));
    assert_eq!(config["pools"][0]["pass"], json!(pass));
    let mut miner = TestMiner::login(&url, &login, &pass).await;
    for _ in 0..3 {
        miner.submit(&rig.pool.verifier, None).await;
    }
    rig.pool.shared.sink.flush().await.unwrap();

    // The miner page (reached from the nav and the remembered address) shows that worker.
    b.go("#/miner").await;
    b.click("#miner-last a").await;
    b.ready().await;
    let worker_row = "#miner-workers tr[data-worker=\"dash-rig\"]";
    b.wait_css(worker_row).await;
    let valid = b
        .attr_until(
            &format!("{worker_row} [data-field=worker-valid]"),
            "data-value",
            |v| v.parse::<u64>().unwrap_or(0) >= 3,
        )
        .await;
    let api = rig.get(&format!("miner/{ADDR}/stats/allWorkers")).await;
    assert_eq!(valid, raw(&api["dash-rig"]["validShares"]));
    assert_eq!(
        b.value("miner-total-hashes").await,
        raw(&rig.get(&format!("miner/{ADDR}/stats")).await["totalHashes"])
    );

    // The threshold form sets the threshold (the api's answer shown, the figure live).
    b.type_into("#threshold", "0.5").await;
    b.click("#threshold-form button[type=submit]").await;
    b.wait_text("Threshold updated, set to: 0.5").await;
    let user = rig.get(&format!("user/{ADDR}")).await;
    assert_eq!(user["payout_threshold"], json!(500_000_000_000u64));
    b.value_until("miner-threshold", |v| v == "500000000000")
        .await;
    // A threshold below the pool's minimum is refused in the api's words.
    b.type_into("#threshold", "0.000001").await;
    b.click("#threshold-form button[type=submit]").await;
    b.wait_text("below the pool minimum").await;
    // E-mail: the double opt-in's answer (the login's e-mail already asked for a link, or
    // this asks now; either way the page says what the api said).
    b.type_into("#email-to", "me@example.org").await;
    b.click("#email-form button[type=submit]").await;
    b.wait_css("#email-answer.ok, #email-answer.error").await;
    let said = b.wait_css("#email-answer").await.text().await.unwrap();
    assert!(!said.is_empty());
    b.script("window.scrollTo(0, 0); return true;").await;
    b.screenshot_full("miner.png").await;
    b.click("#theme").await;
    b.ready().await;
    b.wait_css(worker_row).await;
    b.script("window.scrollTo(0, 0); return true;").await;
    b.screenshot_full("miner-dark.png").await;

    // An address the api refuses: its message, and the form to try another.
    b.go("#/miner/4nope").await;
    let refused = b
        .wait_css("#miner-refused .error")
        .await
        .text()
        .await
        .unwrap();
    assert!(refused.contains("address"), "{refused}");
    b.wait_css("#miner-address").await;
    b.close().await;
}
