//! `rxpool all` as operators run it (the real binary on a config.toml, devnet MariaDB, a
//! regtest monerod, LMDB in a temp dir): a role that cannot start stops the process at once
//! with its error, and SIGTERM under load stops the roles in order, so every share the pool
//! answered OK and every block it put on the chain is in LMDB afterwards.

#[path = "pipeline/miner.rs"]
#[expect(dead_code, reason = "these miners only mine until the pool closes")]
mod miner;
#[path = "support/pool_db.rs"]
#[expect(dead_code, reason = "the binary runs the roles here, not pool::run")]
mod pool_db;

use miner::{MinerReport, MinerSpec};
use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::Difficulty;
use rxpool::monero::pow::{Verifier, VerifierConfig};
use rxpool::store::lmdb::{ShareStore, StoreOptions};
use rxpool::store::mysql;
use rxpool::store::mysql::heartbeats::{self, BeatingRole};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// `rxpool all` as a child process; killed if the test fails before it exits.
struct All {
    child: Child,
    log: PathBuf,
}

impl All {
    /// Writes `config_toml` to `dir` and starts `rxpool all` on it.
    fn spawn(dir: &Path, config_toml: &str) -> All {
        let config = dir.join("config.toml");
        std::fs::write(&config, config_toml).unwrap();
        let log = dir.join("all.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rxpool"))
            .arg("--config")
            .arg(&config)
            .arg("all")
            .env("RUST_LOG", "info")
            .env_remove("RXPOOL_FAILPOINT")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("spawn rxpool all");
        All { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `limit` for the process to exit.
    async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
    }
}

impl Drop for All {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A migrated database with the pool's and the fee address, one stratum port at
/// `difficulty`; returns the config.toml of `all` against `daemon`, the port and the database.
async fn setup(
    name: &str,
    lmdb: &Path,
    daemon: &str,
    difficulty: u64,
) -> (String, u16, sqlx::MySqlPool) {
    let (url, db, port) = pool_db::pool_database(name, ADDR, difficulty).await;
    mysql::set_setting(&db, "payout.feeAddress", ADDR)
        .await
        .unwrap();
    let toml = pool_db::pool_config_toml(&url, lmdb, daemon, 100, "pool_id = 11");
    (toml, port, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_with_its_stratum_port_taken_exits_at_once_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    // No daemon needed: the pool binds its ports before it needs a template.
    let (toml, port, _db) = setup(
        "all_port_taken",
        &dir.path().join("lmdb"),
        "http://127.0.0.1:1",
        1,
    )
    .await;
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let started = Instant::now();
    let mut all = All::spawn(dir.path(), &toml);
    let status = all.exit_within(Duration::from_secs(30)).await;
    let log = all.log_text();
    let status =
        status.unwrap_or_else(|| panic!("still running 30 s on, port {port} closed:\n{log}"));
    assert!(!status.success(), "{status}:\n{log}");
    assert!(
        log.contains(&format!("binding stratum port 127.0.0.1:{port}")),
        "the error names the port:\n{log}"
    );
    let took = started.elapsed();
    eprintln!("all exited {took:?} after start with {status}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_all_under_load_keeps_every_accepted_share_and_every_block() {
    // Difficulty 1: every share is a block, so a submission is in flight (verifying,
    // submitting to monerod, recording) at almost any moment the signal lands.
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lmdb = dir.path().join("lmdb");
    let (toml, port, db) = setup("all_sigterm", &lmdb, &monerod.rpc_url(), 1).await;
    let mut all = All::spawn(dir.path(), &toml);
    let deadline = Instant::now() + Duration::from_secs(120);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Some(status) = all.child.try_wait().unwrap() {
            panic!("all exited ({status}):\n{}", all.log_text());
        }
        assert!(Instant::now() < deadline, "port never opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = monerod.height().await.unwrap().0;

    let verifier = Verifier::new(VerifierConfig::light(2));
    let miners: Vec<_> = (0..3)
        .map(|i| {
            let spec = MinerSpec {
                login: ADDR.to_owned(),
                pass: format!("rig{i}"),
                port,
            };
            tokio::spawn(miner::mine_until_closed(
                spec,
                verifier.clone(),
                Difficulty(1),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while monerod.height().await.unwrap().0 < start + 6 {
        assert!(Instant::now() < deadline, "no blocks:\n{}", all.log_text());
        assert!(miners.iter().all(|m| !m.is_finished()), "a miner stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    all.terminate();
    let mut reports: Vec<MinerReport> = Vec::new();
    for m in miners {
        reports.push(m.await.unwrap());
    }
    let status = all.exit_within(Duration::from_secs(60)).await;
    let log = all.log_text();
    let status = status.unwrap_or_else(|| panic!("all ignored SIGTERM:\n{log}"));

    let end = monerod.height().await.unwrap().0;
    let store = ShareStore::open(&StoreOptions {
        map_size: 64 << 20,
        ..StoreOptions::new(&lmdb)
    })
    .unwrap();
    let missing = pool_db::chain_blocks_not_recorded(&monerod.rpc_url(), &store, start, end).await;
    let snap = store.read().unwrap();
    assert!(
        missing.is_empty(),
        "blocks on chain the pool never recorded: {missing:?}\n{log}"
    );
    let accepted: u64 = reports.iter().map(|r| r.accepted).sum();
    eprintln!(
        "{accepted} shares answered OK, {} blocks on chain, all exited {status}",
        end - start
    );
    assert!(accepted >= 6, "{reports:?}");
    assert_eq!(
        snap.share_count().unwrap(),
        accepted,
        "every share answered OK is in LMDB: {reports:?}\n{log}"
    );
    assert!(
        status.success(),
        "all did not stop cleanly ({status}):\n{log}"
    );
    // Every looping role of `all` left its heartbeat, so a stall would be alerted.
    for role in BeatingRole::ALL {
        let beat = heartbeats::last_beat(&db, role).await.unwrap();
        assert!(beat.is_some(), "no {} heartbeat:\n{log}", role.as_str());
    }
}
