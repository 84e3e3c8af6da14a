//! The sandbox's demo miner: a stratum client that mines real shares through the pool's port,
//! as xmrig would, with light-mode RandomX on `threads` verifier threads of its own.
//!
//! Owns one connection at a time: log in, hash the current job nonce by nonce (one hash in
//! flight per thread), submit every hash that meets the job target without waiting for the
//! answer, switch to a pushed job at once and drop hashes of the old one. Unlike xmrig it
//! knows the chain's difficulty, so after sending a block it waits for the next job instead
//! of mining a sibling of its own block (an orphan). When the pool
//! closes the connection it reconnects after a pause, until the shutdown token is cancelled.
//! It knows the chain's fixed difficulty only to say, at info, which of its accepted shares
//! were blocks; the pool, the block manager and the chain decide what they were worth.
//!
//! It writes no store and never panics on what the pool sends: a bad line ends the connection
//! with a [`MinerError`] and a reconnect.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::domain::{Difficulty, Hash32, Target};
use crate::monero::pow::{PowAlgo, PowError, Verifier, VerifierConfig};

/// How long the pool has to answer the login.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before reconnecting after the pool closed the connection.
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);
/// The nonce is 4 bytes LE at this offset of the hashing blob (design.md §2).
const NONCE_OFFSET: usize = 39;

/// Who mines where, and how hard.
#[derive(Debug, Clone)]
pub struct MinerSpec {
    /// The pool's stratum port on 127.0.0.1.
    pub port: u16,
    /// The stratum `login` (the payout address).
    pub login: String,
    /// The stratum `pass` (the worker name).
    pub pass: String,
    /// Hashing threads (and hashes in flight).
    pub threads: usize,
    /// The chain's fixed difficulty: an accepted share meeting it is a block.
    pub network: Difficulty,
}

/// Why a connection to the pool ended.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the pool closed the connection")]
    Closed,
    #[error("no login answer within {0:?}")]
    LoginTimeout(Duration),
    #[error("login refused: {0}")]
    Refused(String),
    #[error("unexpected message from the pool: {0}")]
    Protocol(String),
    #[error("RandomX: {0}")]
    Pow(#[from] PowError),
}

/// What the miner did, over every connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinerTotals {
    pub hashes: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub blocks: u64,
}

/// One job as the miner works it.
#[derive(Debug, PartialEq, Eq)]
struct Work {
    /// The session id to submit with (`job.id`).
    session: String,
    job_id: String,
    blob: Vec<u8>,
    seed: Hash32,
    target: Difficulty,
    height: u64,
}

impl Work {
    /// Reads a stratum job object (`blob`, `job_id`, `target`, `id`, `seed_hash`, `height`).
    fn parse(job: &Value) -> Result<Work, MinerError> {
        let text = |field: &str| {
            job[field]
                .as_str()
                .ok_or_else(|| MinerError::Protocol(format!("job without {field}: {job}")))
        };
        let blob = hex::decode(text("blob")?)
            .map_err(|e| MinerError::Protocol(format!("job blob: {e}")))?;
        if blob.len() < NONCE_OFFSET + 4 {
            return Err(MinerError::Protocol(format!(
                "job blob of {} bytes",
                blob.len()
            )));
        }
        let seed = text("seed_hash")?
            .parse()
            .map_err(|_| MinerError::Protocol(format!("job seed_hash: {job}")))?;
        let target = Target::difficulty_of_hex(text("target")?)
            .ok_or_else(|| MinerError::Protocol(format!("job target: {job}")))?;
        Ok(Work {
            session: text("id")?.to_owned(),
            job_id: text("job_id")?.to_owned(),
            blob,
            seed,
            target,
            height: job["height"].as_u64().unwrap_or_default(),
        })
    }

    /// The hashing blob with `nonce` in place.
    fn blob_with(&self, nonce: u32) -> Vec<u8> {
        let mut blob = self.blob.clone();
        blob[NONCE_OFFSET..NONCE_OFFSET + 4].copy_from_slice(&nonce.to_le_bytes());
        blob
    }

    /// The `submit` params for `nonce` and its `hash`.
    fn submit_params(&self, nonce: u32, hash: &Hash32) -> Value {
        json!({"id": self.session, "job_id": self.job_id, "nonce": hex::encode(nonce.to_le_bytes()),
               "result": hash.to_string(), "algo": "rx/0"})
    }
}

/// A submitted share waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct Submitted {
    height: u64,
    block: bool,
}

/// Mines until `shutdown`, reconnecting whenever the pool closes the connection. `hashing`
/// is told when the first hash is done (the RandomX cache is built).
pub async fn run(
    spec: MinerSpec,
    hashing: oneshot::Sender<()>,
    shutdown: CancellationToken,
) -> MinerTotals {
    let verifier = Verifier::new(VerifierConfig::light(spec.threads.max(1)));
    let mut hashing = Some(hashing);
    let mut totals = MinerTotals::default();
    while !shutdown.is_cancelled() {
        match session(&spec, &verifier, &mut hashing, &mut totals, &shutdown).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "demo miner: reconnecting in {RECONNECT_PAUSE:?}");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(RECONNECT_PAUSE) => {}
                }
            }
        }
    }
    tracing::info!(
        hashes = totals.hashes,
        accepted = totals.accepted,
        rejected = totals.rejected,
        blocks = totals.blocks,
        "demo miner stopped"
    );
    totals
}

type Hashed = (Arc<Work>, u32, Result<Hash32, PowError>);

async fn hash_nonce(verifier: Verifier, work: Arc<Work>, nonce: u32) -> Hashed {
    let hash = verifier
        .hash(PowAlgo::RandomX, work.seed, work.blob_with(nonce))
        .await;
    (work, nonce, hash)
}

async fn send(
    write: &mut OwnedWriteHalf,
    id: u64,
    method: &str,
    params: Value,
) -> std::io::Result<()> {
    let request = json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params});
    write.write_all(format!("{request}\n").as_bytes()).await
}

/// One connection: returns `Ok` only at shutdown.
async fn session(
    spec: &MinerSpec,
    verifier: &Verifier,
    hashing: &mut Option<oneshot::Sender<()>>,
    totals: &mut MinerTotals,
    shutdown: &CancellationToken,
) -> Result<(), MinerError> {
    let stream = TcpStream::connect(("127.0.0.1", spec.port)).await?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let login = json!({"login": spec.login, "pass": spec.pass, "rigid": "",
                       "agent": concat!("rxpool-sandbox/", env!("CARGO_PKG_VERSION")),
                       "algo": ["rx/0"]});
    send(&mut write, 1, "login", login).await?;
    let reply = tokio::time::timeout(LOGIN_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| MinerError::LoginTimeout(LOGIN_TIMEOUT))??
        .ok_or(MinerError::Closed)?;
    let reply: Value =
        serde_json::from_str(&reply).map_err(|_| MinerError::Protocol(reply.clone()))?;
    if let Some(message) = reply["error"]["message"].as_str() {
        return Err(MinerError::Refused(message.to_owned()));
    }
    let mut work = Arc::new(Work::parse(&reply["result"]["job"])?);
    let mut seed = work.seed;
    verifier.set_seeds(seed, None);
    tracing::info!(
        port = spec.port,
        threads = spec.threads,
        "demo miner logged in"
    );

    let mut next_id = 2u64;
    let mut pending: HashMap<u64, Submitted> = HashMap::new();
    let mut in_flight = FuturesUnordered::new();
    let mut nonce = 0u32;
    // The job a block was sent for: nothing more to mine on it.
    let mut block_sent: Option<Arc<Work>> = None;
    loop {
        while in_flight.len() < spec.threads.max(1)
            && !block_sent
                .as_ref()
                .is_some_and(|done| Arc::ptr_eq(done, &work))
        {
            in_flight.push(hash_nonce(verifier.clone(), work.clone(), nonce));
            nonce = nonce.wrapping_add(1);
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            line = lines.next_line() => {
                let line = line?.ok_or(MinerError::Closed)?;
                let message: Value = serde_json::from_str(&line)
                    .map_err(|_| MinerError::Protocol(line.clone()))?;
                if message["method"] == "job" {
                    work = Arc::new(Work::parse(&message["params"])?);
                    nonce = 0;
                    if work.seed != seed {
                        seed = work.seed;
                        verifier.set_seeds(seed, None);
                    }
                } else if let Some(share) = message["id"].as_u64().and_then(|id| pending.remove(&id)) {
                    match message["error"]["message"].as_str() {
                        Some(refusal) => {
                            totals.rejected += 1;
                            tracing::debug!(refusal, "demo miner: share rejected");
                        }
                        None => {
                            totals.accepted += 1;
                            if share.block {
                                totals.blocks += 1;
                                tracing::info!(block.height = share.height, "demo miner found a block");
                            }
                        }
                    }
                }
            }
            Some((hashed, hashed_nonce, hash)) = in_flight.next() => {
                let hash = hash?;
                totals.hashes += 1;
                if let Some(tell) = hashing.take() {
                    let _ = tell.send(());
                }
                // A hash of a replaced job is dropped: its template may be gone.
                if hashed.job_id == work.job_id && hashed.target.is_met_by(&hash) {
                    let id = next_id;
                    next_id += 1;
                    let block = spec.network.is_met_by(&hash);
                    if block {
                        block_sent = Some(work.clone());
                    }
                    pending.insert(id, Submitted { height: hashed.height, block });
                    send(&mut write, id, "submit", hashed.submit_params(hashed_nonce, &hash)).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Value {
        json!({"blob": "10".repeat(76), "job_id": "7", "target": "37894100", "id": "s1",
               "seed_hash": "ab".repeat(32), "height": 91, "algo": "rx/0"})
    }

    #[test]
    fn a_job_is_read_with_its_target_difficulty_and_the_nonce_goes_at_byte_39() {
        let work = Work::parse(&job()).expect("job");
        assert_eq!(work.target, Difficulty(1000));
        assert_eq!(work.height, 91);
        let blob = work.blob_with(0x0403_0201);
        assert_eq!(&blob[39..43], &[1, 2, 3, 4]);
        assert_eq!(blob.len(), 76);
        assert!(blob[..39].iter().chain(&blob[43..]).all(|b| *b == 0x10));
    }

    #[test]
    fn a_submit_carries_the_session_job_nonce_in_little_endian_hex_and_the_hash() {
        let work = Work::parse(&job()).expect("job");
        let hash: Hash32 = "cd".repeat(32).parse().expect("hash");
        let params = work.submit_params(1, &hash);
        assert_eq!(params["id"], "s1");
        assert_eq!(params["job_id"], "7");
        assert_eq!(params["nonce"], "01000000");
        assert_eq!(params["result"], "cd".repeat(32));
    }

    #[test]
    fn a_job_with_a_short_blob_or_without_a_seed_is_a_protocol_error() {
        let mut short = job();
        short["blob"] = json!("00".repeat(42));
        assert!(matches!(Work::parse(&short), Err(MinerError::Protocol(_))));
        let mut seedless = job();
        seedless
            .as_object_mut()
            .expect("object")
            .remove("seed_hash");
        assert!(matches!(
            Work::parse(&seedless),
            Err(MinerError::Protocol(_))
        ));
    }
}
