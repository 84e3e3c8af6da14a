//! `rxpool sandbox` as a newcomer runs it: the real binary as a child process, with its own
//! MariaDB, regtest monerod, wallets, every role and the demo miner. Its printed summary is
//! all the test knows, as it is all a newcomer knows: the stratum port and xmrig line, the
//! dashboard URL, the miner's wallet-rpc, the state dir and the pids it started.
//!
//! Each test gives the child a TMPDIR of its own, so "nothing left behind" can be checked as
//! "that directory is empty". The tests run one at a time (they would share two cores).

#[path = "support/stratum.rs"]
#[expect(
    dead_code,
    reason = "only the line client is used; the sandbox runs its own pool"
)]
mod stratum;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One test at a time: each runs a whole pool with a miner.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A small chain difficulty: the light-mode demo miner finds a block every few seconds.
const DIFFICULTY: &str = "100";

/// `rxpool sandbox` as a child; killed if the test fails before it exits.
struct Sandbox {
    child: Child,
    log: PathBuf,
}

impl Sandbox {
    fn spawn(tmp: &Path, log: PathBuf, extra: &[&str]) -> Sandbox {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rxpool"))
            .arg("sandbox")
            .args(["--difficulty", DIFFICULTY])
            .args(extra)
            .env("TMPDIR", tmp)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            // `--config` must not matter: point it at nothing.
            .env("RXPOOL_CONFIG", "/nonexistent/config.toml")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("spawn rxpool sandbox");
        Sandbox { child, log }
    }

    fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits for a log line containing `needle`, failing if the sandbox exits first.
    async fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log_text();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the sandbox exited ({status}) before {needle:?}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {limit:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits up to a minute for the exit.
    async fn interrupt(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success(), "kill -INT {pid}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running a minute after SIGINT:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What the ready summary says.
#[derive(Debug)]
struct Summary {
    dashboard: String,
    /// xmrig's `-o`, `-u`, `-p`.
    host_port: String,
    user: String,
    pass: String,
    miner_wallet_rpc: String,
    state_dir: PathBuf,
    pids: Vec<u32>,
    /// Every `127.0.0.1:PORT` it printed.
    ports: Vec<u16>,
}

fn field<'a>(log: &'a str, label: &str) -> &'a str {
    log.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line:\n{log}"))
        .trim()
}

fn after<'a>(words: &[&'a str], flag: &str) -> &'a str {
    let at = words.iter().position(|w| *w == flag).expect(flag);
    words[at + 1]
}

fn summary(log: &str) -> Summary {
    let xmrig: Vec<&str> = field(log, "join with:").split_whitespace().collect();
    assert_eq!(xmrig[0], "xmrig", "{xmrig:?}");
    assert_eq!(after(&xmrig, "-a"), "rx/0");
    let miner = field(log, "miner wallet:");
    let miner_wallet_rpc = miner
        .split("wallet-rpc ")
        .nth(1)
        .expect("miner wallet-rpc")
        .trim_end_matches(')')
        .to_owned();
    let state = field(log, "state dir:");
    let state_dir = PathBuf::from(state.split(" (").next().unwrap());
    let pids = field(log, "pids:")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let ports = log
        .lines()
        .skip_while(|l| !l.contains("rxpool sandbox is ready"))
        .take(13)
        .flat_map(|l| {
            l.match_indices("127.0.0.1:")
                .map(|(i, _)| &l[i + 10..])
                .collect::<Vec<_>>()
        })
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse().ok())
        })
        .collect();
    Summary {
        dashboard: field(log, "dashboard:").to_owned(),
        host_port: after(&xmrig, "-o").to_owned(),
        user: after(&xmrig, "-u").to_owned(),
        pass: after(&xmrig, "-p").to_owned(),
        miner_wallet_rpc,
        state_dir,
        pids,
        ports,
    }
}

/// The sandbox's one line per start-up step (`[  12.3s] ...`).
fn start_up_lines(log: &str) -> String {
    log.lines()
        .filter(|l| l.starts_with('['))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The chain height monerod reports (`get_info`), from the summary's monerod URL.
async fn chain_height(log: &str) -> u64 {
    let daemon = field(log, "monerod:").split_whitespace().next().unwrap();
    get_json(&format!("{daemon}/get_info")).await["height"]
        .as_u64()
        .expect("height")
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

async fn wallet_rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params});
    let reply: Value = reqwest::Client::new()
        .post(format!("{url}/json_rpc"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["result"].clone()
}

/// Every pid is gone (or a zombie nobody reaps yet) and no port accepts a connection.
async fn nothing_left(summary: &Summary) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in &summary.pids {
        let stat = format!("/proc/{pid}/stat");
        while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z")) {
            assert!(
                Instant::now() < deadline,
                "process {pid} survived: {summary:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for port in &summary.ports {
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", *port))
                .await
                .is_err(),
            "port {port} still listens: {summary:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_finds_credits_and_pays_a_block_takes_a_stratum_login_and_leaves_nothing_on_ctrl_c()
{
    let _serial = SERIAL.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut sandbox = Sandbox::spawn(tmp.path(), work.path().join("sandbox.log"), &[]);

    sandbox
        .wait_for("rxpool sandbox is ready", Duration::from_secs(300))
        .await;
    // The summary's last line comes a moment after its first.
    sandbox.wait_for("pids:", Duration::from_secs(5)).await;
    let ready = started.elapsed();
    let summary = summary(&sandbox.log_text());
    eprintln!("{}", start_up_lines(&sandbox.log_text()));
    eprintln!("ready after {ready:?}: {summary:?}");
    assert!(summary.state_dir.starts_with(tmp.path()), "{summary:?}");
    assert!(summary.state_dir.join("config.toml").is_file());
    assert_eq!(summary.pids.len(), 4, "mariadbd, monerod, two wallet-rpc");
    assert!(summary.ports.len() >= 5, "{summary:?}");

    // A real stratum client logs in exactly as the printed xmrig line says and gets a job.
    let mut client = stratum::Client::connect(summary.host_port.parse().unwrap()).await;
    let login = client
        .call(
            "login",
            json!({"login": summary.user, "pass": summary.pass,
                   "agent": "XMRig/6.26.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
                   "algo": ["rx/0"]}),
        )
        .await;
    assert!(login["error"].is_null(), "{login}");
    let job = &login["result"]["job"];
    assert!(
        job["blob"].as_str().is_some_and(|b| b.len() > 80) && job["seed_hash"].is_string(),
        "{login}"
    );
    assert!(login["result"]["id"].is_string(), "{login}");

    // A block is found, credited and paid to the demo miner's wallet.
    let block = sandbox
        .wait_for("first block found after", Duration::from_secs(240))
        .await;
    let credit = sandbox
        .wait_for(
            "first credit to the demo miner after",
            Duration::from_secs(240),
        )
        .await;
    let payout = sandbox
        .wait_for(
            "first payout to the demo miner after",
            Duration::from_secs(240),
        )
        .await;
    let received = sandbox
        .wait_for(
            "wallet received its first payout after",
            Duration::from_secs(240),
        )
        .await;
    eprintln!("{block}\n{credit}\n{payout}\n{received}");

    let stats = get_json(&format!("{}pool/stats", summary.dashboard)).await;
    assert!(
        stats["pool_statistics"]["totalBlocksFound"].as_u64() >= Some(1),
        "{stats}"
    );
    let miner = get_json(&format!(
        "{}miner/{}/stats",
        summary.dashboard, summary.user
    ))
    .await;
    let paid = miner["amtPaid"].as_u64().unwrap_or_default();
    assert!(paid > 0, "{miner}");
    let balance = wallet_rpc(
        &summary.miner_wallet_rpc,
        "get_balance",
        json!({"account_index": 0}),
    )
    .await;
    let address = wallet_rpc(
        &summary.miner_wallet_rpc,
        "get_address",
        json!({"account_index": 0}),
    )
    .await;
    assert_eq!(address["address"].as_str(), Some(summary.user.as_str()));
    assert!(
        balance["balance"].as_u64() >= Some(paid),
        "the miner's wallet holds what the pool paid ({paid}): {balance}"
    );
    drop(client);

    let status = sandbox.interrupt().await;
    let log = sandbox.log_text();
    assert!(status.success(), "{status}:\n{log}");
    nothing_left(&summary).await;
    assert!(!summary.state_dir.exists(), "{summary:?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    eprintln!("whole run {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_sandbox_stops_cleanly_and_the_next_run_continues_its_chain_and_wallets() {
    let _serial = SERIAL.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let state = keep.path().join("state");
    let keep_args = ["--keep", state.to_str().unwrap()];

    let mut first = Sandbox::spawn(tmp.path(), keep.path().join("first.log"), &keep_args);
    first
        .wait_for("rxpool sandbox is ready", Duration::from_secs(300))
        .await;
    first.wait_for("pids:", Duration::from_secs(5)).await;
    let log = first.log_text();
    let before = summary(&log);
    assert_eq!(before.state_dir, state.canonicalize().unwrap());
    assert!(log.contains("pool wallet funded"), "{log}");
    let height = chain_height(&log).await;
    assert!(first.interrupt().await.success(), "{}", first.log_text());
    nothing_left(&before).await;
    for kept in [
        "config.toml",
        "mariadb/data",
        "monerod/data",
        "pool-wallet/wallets/pool",
        "miner-wallet/wallets/miner",
        "lmdb",
    ] {
        assert!(state.join(kept).exists(), "{kept} was not kept");
    }

    let started = Instant::now();
    let mut second = Sandbox::spawn(tmp.path(), keep.path().join("second.log"), &keep_args);
    second
        .wait_for("rxpool sandbox is ready", Duration::from_secs(300))
        .await;
    second.wait_for("pids:", Duration::from_secs(5)).await;
    let log = second.log_text();
    eprintln!("{}", start_up_lines(&log));
    eprintln!("second run ready after {:?}", started.elapsed());
    let after = summary(&log);
    assert!(
        !log.contains("pre-mined") && !log.contains("pool wallet funded"),
        "the kept chain is funded already:\n{log}"
    );
    assert_eq!(after.user, before.user, "the same miner wallet");
    assert!(
        chain_height(&log).await >= height,
        "the chain continues from {height}"
    );
    assert!(second.interrupt().await.success(), "{}", second.log_text());
    nothing_left(&after).await;
    assert!(state.join("config.toml").is_file());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}
