//! The stratum side of the pool tests: a pool started in this process on one loopback port
//! (light-mode RandomX verifier, LMDB in a temp dir, templates from regtest monerod when given
//! a daemon), a line client that speaks stratum to a pool, in process or not, and shares
//! mined for real for its jobs.

use rxpool::domain::{Difficulty, Hash32, PoolType, SystemClock, Target};
use rxpool::monero::daemon::DaemonClient;
use rxpool::monero::pow::{PowAlgo, Verifier, VerifierConfig};
use rxpool::pool::services::{DaemonSubmitter, LmdbSink, VerifierHasher};
use rxpool::pool::session::PortInfo;
use rxpool::pool::settings::PoolSettings;
use rxpool::pool::state::Shared;
use rxpool::store::lmdb::{ShareStore, StoreOptions, WriterConfig};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The regtest miner address the pool tests mine and log in with.
pub const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// A pool serving one loopback port; dropping it stops the pool.
pub struct TestPool {
    pub shared: Arc<Shared>,
    pub addr: SocketAddr,
    pub store: Arc<ShareStore>,
    pub verifier: Verifier,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestPool {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Default settings paying [`ADDR`], vardiff from difficulty 1, templates polled every 100 ms.
pub fn test_settings() -> PoolSettings {
    let defaults = PoolSettings::default();
    PoolSettings {
        pool_address: ADDR.into(),
        vardiff: rxpool::pool::vardiff::VardiffConfig {
            min: 1,
            ..defaults.vardiff.clone()
        },
        template_poll: Duration::from_millis(100),
        ..defaults
    }
}

/// The pool's one stratum port.
pub struct Listen {
    pub difficulty: u128,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub proxy_protocol: bool,
}

pub async fn start_pool(
    daemon_urls: &[String],
    settings: PoolSettings,
    port_difficulty: u128,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> TestPool {
    start_pool_with(daemon_urls, settings, port_difficulty, tls, |_| {}).await
}

/// [`start_pool`], with `customize` applied to the shared state before the pool starts
/// (a trust draw or a hasher in front of the real verifier).
pub async fn start_pool_with(
    daemon_urls: &[String],
    settings: PoolSettings,
    port_difficulty: u128,
    tls: Option<tokio_rustls::TlsAcceptor>,
    customize: impl FnOnce(&mut Shared),
) -> TestPool {
    let listen = Listen {
        difficulty: port_difficulty,
        tls,
        proxy_protocol: false,
    };
    start_pool_on(daemon_urls, settings, listen, customize).await
}

/// Starts a pool on `listen`; `customize` may set what `pool::run` sets from config.toml
/// before the state is shared (connection cap, trusted proxies, trust draws, hashers). With
/// daemons it polls templates and returns once it has one; with none it serves only what
/// needs no template (connection limits, PROXY headers).
pub async fn start_pool_on(
    daemon_urls: &[String],
    settings: PoolSettings,
    listen: Listen,
    customize: impl FnOnce(&mut Shared),
) -> TestPool {
    let dir = tempfile::tempdir().unwrap();
    let store = ShareStore::open(&StoreOptions {
        map_size: 64 << 20,
        ..StoreOptions::new(dir.path())
    })
    .unwrap();
    let writer = store.writer(WriterConfig::default()).unwrap();
    let verifier = Verifier::new(VerifierConfig::light(1));
    let fed = !daemon_urls.is_empty();
    let urls = if fed {
        daemon_urls.to_vec()
    } else {
        vec!["http://127.0.0.1:1".to_string()]
    };
    let daemon = Arc::new(DaemonClient::with_timeout(&urls, Duration::from_secs(30)).unwrap());
    let mut shared = Shared::new(
        settings,
        0x0a0b_0c0d,
        42,
        Arc::new(VerifierHasher(verifier.clone())),
        Arc::new(LmdbSink(writer)),
        Arc::new(DaemonSubmitter(daemon.clone())),
        Arc::new(SystemClock),
    );
    customize(&mut shared);
    let shared = Arc::new(shared);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    if fed {
        tracker.spawn(rxpool::pool::feed::run(
            shared.clone(),
            daemon,
            shutdown.clone(),
        ));
    }
    let port = PortInfo {
        port: 0,
        difficulty: Difficulty(listen.difficulty),
        pool_type: PoolType::Pplns,
        tls: listen.tls.is_some(),
        proxy_protocol: listen.proxy_protocol,
    };
    let addrs = rxpool::pool::start_listeners(
        shared.clone(),
        "127.0.0.1",
        vec![(port, listen.tls)],
        &shutdown,
        &tracker,
    )
    .await
    .unwrap();
    if fed {
        for _ in 0..600 {
            if shared.current_template().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            shared.current_template().is_some(),
            "no template from monerod"
        );
    }
    TestPool {
        shared,
        addr: addrs[0],
        store,
        verifier,
        shutdown,
        _dir: dir,
    }
}

/// A plain TCP client of `pool`.
pub async fn connect(pool: &TestPool) -> Client<TcpStream> {
    Client::connect(pool.addr).await
}

/// A stratum client: requests with increasing ids, job pushes kept aside.
pub struct Client<S> {
    /// The connection, for reads and writes below the stratum level.
    pub io: BufReader<S>,
    next_id: u64,
    pushes: Vec<Value>,
    wait: Duration,
}

impl Client<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Client<TcpStream> {
        Client::new(TcpStream::connect(addr).await.unwrap())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client that waits 30 s for each line it reads.
    pub fn new(stream: S) -> Client<S> {
        Client {
            io: BufReader::new(stream),
            next_id: 1,
            pushes: Vec::new(),
            wait: Duration::from_secs(30),
        }
    }

    /// This client, waiting `wait` for each line instead.
    pub fn waiting(self, wait: Duration) -> Client<S> {
        Client { wait, ..self }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }

    /// The next line within `wait`: `Some(None)` once the server closed (or reset) the
    /// connection, `None` on silence.
    async fn read(&mut self, wait: Duration) -> Option<Option<Value>> {
        let mut line = String::new();
        match tokio::time::timeout(wait, self.io.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => Some(Some(
                serde_json::from_str(&line).unwrap_or(Value::String(line)),
            )),
            Ok(_) => Some(None),
            Err(_) => None,
        }
    }

    /// The next line, or `None` when the server closed the connection.
    pub async fn line(&mut self) -> Option<Value> {
        let wait = self.wait;
        self.read(wait)
            .await
            .unwrap_or_else(|| panic!("no answer within {wait:?}"))
    }

    /// Sends a request; returns its reply, or `None` if the connection closes first. Job
    /// pushes are kept for [`Client::next_push`], other lines are skipped.
    pub async fn try_call(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params});
        self.io
            .get_mut()
            .write_all(format!("{req}\n").as_bytes())
            .await
            .ok()?;
        loop {
            let v = self.line().await?;
            if v.get("method") == Some(&json!("job")) {
                self.pushes.push(v["params"].clone());
            } else if v["id"] == json!(id) {
                return Some(v);
            }
        }
    }

    /// Sends a request and returns its reply, which must be the next line but job pushes
    /// (those are kept for [`Client::next_push`]).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params});
        self.send_raw(format!("{req}\n").as_bytes()).await;
        loop {
            let v = self.line().await.expect("connection closed");
            if v.get("method") == Some(&json!("job")) {
                self.pushes.push(v["params"].clone());
                continue;
            }
            assert_eq!(v["id"], json!(id), "reply for another id: {v}");
            return v;
        }
    }

    /// The params of the next job push.
    pub async fn next_push(&mut self) -> Value {
        if !self.pushes.is_empty() {
            return self.pushes.remove(0);
        }
        loop {
            let v = self.line().await.expect("connection closed");
            if v.get("method") == Some(&json!("job")) {
                return v["params"].clone();
            }
        }
    }

    /// Whether the server closes the connection within 10 s (lines are skipped).
    pub async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            match self.read(Duration::from_secs(10)).await {
                Some(None) => return true,
                None => return false,
                Some(Some(_)) => {}
            }
        }
        false
    }

    /// Whether the connection is still served: a keepalive gets an answer.
    pub async fn served(&mut self) -> bool {
        self.try_call("keepalived", json!({})).await.is_some()
    }

    /// Logs in with `params`, again every 100 ms for up to 60 s while the pool refuses
    /// (until its first template); returns the last reply.
    pub async fn login_when_ready(&mut self, params: Value) -> Value {
        let mut login = Value::Null;
        for _ in 0..600 {
            login = self.call("login", params.clone()).await;
            if login["error"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        login
    }
}

pub fn error_of(reply: &Value) -> Option<&str> {
    reply["error"]["message"].as_str()
}

/// Mines `job` for real: the first nonce whose RandomX hash meets (or, with `want_meet`
/// false, misses) the job target. Returns (nonce hex, result hex).
pub async fn mine(verifier: &Verifier, job: &Value, want_meet: bool) -> (String, String) {
    let blob = hex::decode(job["blob"].as_str().unwrap()).unwrap();
    let seed: Hash32 = job["seed_hash"].as_str().unwrap().parse().unwrap();
    let diff = Target::difficulty_of_hex(job["target"].as_str().unwrap()).unwrap();
    for nonce in 0u32..100_000 {
        let mut b = blob.clone();
        b[39..43].copy_from_slice(&nonce.to_le_bytes());
        let hash = verifier.hash(PowAlgo::RandomX, seed, b).await.unwrap();
        if diff.is_met_by(&hash) == want_meet {
            return (hex::encode(nonce.to_le_bytes()), hash.to_string());
        }
    }
    panic!("no nonce found");
}

/// A share for `job` mined on a verifier of the test's own, seeded with the job's seed first
/// (the pool's verifier is in another task or process). Returns (nonce hex, result hex).
pub async fn mine_share(verifier: &Verifier, job: &Value) -> (String, String) {
    let seed: Hash32 = job["seed_hash"].as_str().unwrap().parse().unwrap();
    verifier.set_seeds(seed, None);
    mine(verifier, job, true).await
}
