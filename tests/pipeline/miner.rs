//! A test miner that speaks stratum over TCP to the pool role and hashes real light-mode
//! RandomX on the jobs it is given, as xmrig would: log in, mine the current job nonce by
//! nonce, submit every hash that meets the job target, switch to a pushed job at once.
//!
//! Replies and job pushes are read by one task per connection; the mining loop sends one
//! submit at a time and waits for its answer. It knows the network difficulty only to
//! count the blocks it finds and claims (the pool and the chain decide what they were).

use std::collections::BTreeSet;
use std::time::Duration;

use rxpool::domain::{Difficulty, Hash32, Target};
use rxpool::monero::pow::{PowAlgo, Verifier};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Who mines where.
#[derive(Debug, Clone)]
pub struct MinerSpec {
    /// The stratum `login` field (address, `.paymentid`, `+difficulty`).
    pub login: String,
    /// The stratum `pass` field (worker name).
    pub pass: String,
    pub port: u16,
}

/// What one miner did.
#[derive(Debug, Clone, Default)]
pub struct MinerReport {
    pub login: String,
    pub hashes: u64,
    pub accepted: u64,
    /// Submits the pool refused (a stale job after a block, typically), by message.
    pub rejected: Vec<String>,
    /// Accepted shares whose hash met the network difficulty.
    pub blocks_claimed: u64,
    /// Job heights at which a hash met the network difficulty, submitted or not (a miner
    /// submits only what meets its job target).
    pub block_heights: BTreeSet<u64>,
    /// Every job target (hex) the miner worked on.
    pub targets: BTreeSet<String>,
}

const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects, logs in and mines until `stop`. Panics on a protocol failure (the test fails).
pub async fn mine(
    spec: MinerSpec,
    verifier: Verifier,
    network: Difficulty,
    stop: CancellationToken,
) -> MinerReport {
    mine_while(spec, verifier, network, stop, false).await
}

/// As [`mine`], but the pool closing the connection (a pool shutting down) ends the mining
/// instead of failing: the report then counts what the pool accepted before it went.
pub async fn mine_until_closed(
    spec: MinerSpec,
    verifier: Verifier,
    network: Difficulty,
) -> MinerReport {
    mine_while(spec, verifier, network, CancellationToken::new(), true).await
}

async fn mine_while(
    spec: MinerSpec,
    verifier: Verifier,
    network: Difficulty,
    stop: CancellationToken,
    until_closed: bool,
) -> MinerReport {
    let stream = TcpStream::connect(("127.0.0.1", spec.port))
        .await
        .unwrap_or_else(|e| panic!("{}: connect to {}: {e}", spec.login, spec.port));
    let (read, mut write) = stream.into_split();
    let (reply_tx, mut replies) = mpsc::unbounded_channel::<Value>();
    let (job_tx, mut jobs) = watch::channel(Value::Null);
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: Value = serde_json::from_str(&line).expect("pool sent invalid JSON");
            if v.get("method") == Some(&json!("job")) {
                let _ = job_tx.send(v["params"].clone());
            } else if reply_tx.send(v).is_err() {
                break;
            }
        }
    });

    let mut next_id = 1u64;
    let mut call =
        async |method: &str, params: Value, replies: &mut mpsc::UnboundedReceiver<Value>| {
            let id = next_id;
            next_id += 1;
            let req = json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params});
            if write
                .write_all(format!("{req}\n").as_bytes())
                .await
                .is_err()
            {
                return None;
            }
            let reply = tokio::time::timeout(REPLY_TIMEOUT, replies.recv())
                .await
                .expect("pool answer within 30 s")?;
            assert_eq!(reply["id"], json!(id), "reply for another request: {reply}");
            Some(reply)
        };

    let login = call(
        "login",
        json!({"login": spec.login, "pass": spec.pass, "agent": "XMRig/6.26.0 (rxpool test)",
               "rigid": "", "algo": ["rx/0"]}),
        &mut replies,
    )
    .await
    .expect("pool closed the connection at login");
    assert!(
        login["error"].is_null(),
        "{}: login refused: {login}",
        spec.login
    );
    let mut job = login["result"]["job"].clone();
    let mut report = MinerReport {
        login: spec.login.clone(),
        ..MinerReport::default()
    };
    let mut nonce = 0u32;
    let mut seeded = None;
    while !stop.is_cancelled() {
        if jobs.has_changed().unwrap_or(false) {
            job = jobs.borrow_and_update().clone();
            nonce = 0;
        }
        let mut blob = hex::decode(job["blob"].as_str().expect("job blob")).expect("hex blob");
        let seed: Hash32 = job["seed_hash"]
            .as_str()
            .expect("seed_hash")
            .parse()
            .expect("seed hash");
        if seeded != Some(seed) {
            verifier.set_seeds(seed, None);
            seeded = Some(seed);
        }
        let target_hex = job["target"].as_str().expect("target");
        if !report.targets.contains(target_hex) {
            report.targets.insert(target_hex.to_owned());
        }
        let target = Target::difficulty_of_hex(target_hex).expect("job target");
        blob[39..43].copy_from_slice(&nonce.to_le_bytes());
        let hash = verifier
            .hash(PowAlgo::RandomX, seed, blob)
            .await
            .expect("RandomX hash");
        report.hashes += 1;
        let nonce_hex = hex::encode(nonce.to_le_bytes());
        nonce = nonce.wrapping_add(1);
        if network.is_met_by(&hash) {
            report
                .block_heights
                .insert(job["height"].as_u64().expect("job height"));
        }
        if !target.is_met_by(&hash) {
            continue;
        }
        let reply = call(
            "submit",
            json!({"id": job["id"], "job_id": job["job_id"], "nonce": nonce_hex,
                   "result": hash.to_string(), "algo": "rx/0"}),
            &mut replies,
        )
        .await;
        let Some(reply) = reply else {
            assert!(until_closed, "{}: pool closed the connection", spec.login);
            break;
        };
        match reply["error"]["message"].as_str() {
            None => {
                report.accepted += 1;
                if network.is_met_by(&hash) {
                    report.blocks_claimed += 1;
                }
            }
            Some(message) => report.rejected.push(message.to_owned()),
        }
    }
    reader.abort();
    report
}
