//! Proof of work, the hottest path of the pool: a [`Verifier`] that hashes hashing blobs with
//! RandomX (`rx/0`, what Monero mines) or CryptoNight v0 (`cn/0`, kept for the algo list).
//!
//! The verifier is a pool of OS threads, each owning its own RandomX VMs (RandomX VMs are not
//! thread-safe; they are created on the thread that uses them). Callers use the async
//! [`Verifier::hash`], which puts a job on a bounded queue and awaits a oneshot reply, so the
//! tokio reactor never runs a hash. A full queue is answered at once with
//! [`PowError::Overloaded`] (back-pressure the caller can count and report), never by waiting.
//!
//! RandomX modes ([`RandomxMode`], config `pow.randomx_mode`): `light` hashes from a 256 MiB
//! cache per seed (~30 H/s per core); `fast` builds ONE 2 GiB dataset per seed shared by every
//! verifier VM (~8x faster), initialised over item ranges on several threads while requests are
//! served in light mode; `auto` picks fast when the host has the memory. Seeds come from the
//! template ([`Verifier::set_seeds`] with `seed_hash` and `next_seed_hash`): the current and the
//! previous seed stay usable (late shares on the old seed verify), the announced next one is
//! built ahead (the `seeds` submodule).
//!
//! This module does not decide whether a hash meets a target (that is share validation, with
//! `domain::Target`) and does not build blobs (`monero::blob` does).

mod randomx;
mod seeds;
#[cfg(test)]
mod tests;
mod worker;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::{info, warn};

use crate::domain::Hash32;
pub use randomx::RandomxError;
use seeds::SeedTable;
use worker::{Counters, Job};

/// Longest hashing blob accepted. Monero's is 76 bytes plus a varint; the cap only keeps a
/// confused caller from queueing megabytes.
pub const MAX_BLOB_LEN: usize = 1024;

/// Default queued jobs per verifier thread when `queue_capacity` is 0.
const QUEUE_PER_THREAD: usize = 128;

/// Memory `auto` mode wants free before it chooses fast mode: two datasets (current and the
/// announced next, 2 x 2080 MiB) plus three caches (3 x 256 MiB), rounded up.
const AUTO_FAST_MIN_AVAILABLE_BYTES: u64 = 6 << 30;

/// A proof-of-work algorithm, named as stratum names it (`algo` in login, jobs and submits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PowAlgo {
    /// RandomX as Monero uses it since height 1978433.
    #[serde(rename = "rx/0")]
    RandomX,
    /// The original CryptoNight (Monero before v7).
    #[serde(rename = "cn/0")]
    CryptoNightV0,
}

impl PowAlgo {
    /// Every algorithm the verifier can hash.
    pub const ALL: [PowAlgo; 2] = [PowAlgo::RandomX, PowAlgo::CryptoNightV0];

    /// The stratum name: `rx/0` or `cn/0`.
    pub fn stratum_name(self) -> &'static str {
        match self {
            PowAlgo::RandomX => "rx/0",
            PowAlgo::CryptoNightV0 => "cn/0",
        }
    }

    /// Whether hashing needs a seed hash (RandomX does; CryptoNight ignores it).
    pub fn uses_seed(self) -> bool {
        matches!(self, PowAlgo::RandomX)
    }
}

impl std::fmt::Display for PowAlgo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.stratum_name())
    }
}

/// A stratum algo name this verifier does not hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported proof-of-work algorithm")]
pub struct UnknownAlgo;

impl std::str::FromStr for PowAlgo {
    type Err = UnknownAlgo;
    fn from_str(name: &str) -> Result<PowAlgo, UnknownAlgo> {
        PowAlgo::ALL
            .into_iter()
            .find(|algo| algo.stratum_name() == name)
            .ok_or(UnknownAlgo)
    }
}

/// How RandomX hashes are computed (config `pow.randomx_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RandomxMode {
    /// Fast when at least 6 GiB are available (`MemAvailable`), light otherwise.
    #[default]
    Auto,
    /// One shared 2 GiB dataset per seed (light mode while it builds, ~30 s).
    Fast,
    /// A 256 MiB cache per seed; about 8x slower per hash, starts in under a second.
    Light,
}

impl RandomxMode {
    /// Whether this mode means fast mode on this host.
    pub fn resolves_to_fast(self) -> bool {
        match self {
            RandomxMode::Fast => true,
            RandomxMode::Light => false,
            RandomxMode::Auto => {
                available_memory().is_some_and(|bytes| bytes >= AUTO_FAST_MIN_AVAILABLE_BYTES)
            }
        }
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (None where there is no such file).
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Verifier settings: the `[pow]` section of `config.toml`. Zero means "choose for me".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierConfig {
    /// `auto | fast | light`.
    pub randomx_mode: RandomxMode,
    /// Verifier threads (each with its own VMs); 0 = one per core.
    pub threads: usize,
    /// Threads that initialise a fast-mode dataset; 0 = one per core.
    pub init_threads: usize,
    /// Jobs waiting beyond which `hash` answers `Overloaded`; 0 = 128 per verifier thread.
    pub queue_capacity: usize,
}

impl VerifierConfig {
    /// Light mode on `threads` threads: what tests and tools use.
    pub fn light(threads: usize) -> VerifierConfig {
        VerifierConfig {
            randomx_mode: RandomxMode::Light,
            threads,
            ..VerifierConfig::default()
        }
    }
}

/// Why a hash was not computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("proof-of-work verifier overloaded: {capacity} hashes already queued")]
    Overloaded { capacity: usize },
    #[error("RandomX seed {0} is not served (set_seeds with the template's seed_hash first)")]
    UnknownSeed(Hash32),
    #[error("hashing blob of {len} bytes (expected 1..={MAX_BLOB_LEN})")]
    BadBlob { len: usize },
    #[error(transparent)]
    RandomX(#[from] RandomxError),
    #[error("proof-of-work verifier has stopped")]
    Stopped,
}

/// The proof-of-work verifier: verifier threads behind a bounded queue. Cheap to clone (all
/// clones share the threads); the threads stop when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    jobs: flume::Sender<Job>,
    counters: Arc<Counters>,
    seeds: Arc<SeedTable>,
    capacity: usize,
    threads: usize,
    fast: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Verifier threads exit when the queue's last sender (ours) is gone; builders stop here.
        self.seeds.close();
    }
}

impl Verifier {
    /// Starts the verifier threads. RandomX caches are built when seeds are set (or on first
    /// use); nothing blocks here. If no thread can be started, every `hash` answers `Stopped`.
    pub fn new(config: VerifierConfig) -> Verifier {
        let cores = num_cpus::get().max(1);
        let threads = if config.threads == 0 {
            cores
        } else {
            config.threads
        };
        let init_threads = if config.init_threads == 0 {
            cores
        } else {
            config.init_threads
        };
        let capacity = if config.queue_capacity == 0 {
            QUEUE_PER_THREAD.saturating_mul(threads)
        } else {
            config.queue_capacity
        };
        let fast = config.randomx_mode.resolves_to_fast();
        let flags = randomx::recommended_flags();
        let seeds = Arc::new(SeedTable::new(flags, fast, init_threads));
        let (jobs, queue) = flume::bounded(capacity);
        let counters = Arc::new(Counters::default());
        let mut started = 0;
        for index in 0..threads {
            let queue = queue.clone();
            let seeds = seeds.clone();
            let counters = counters.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pow-verifier-{index}"))
                .spawn(move || worker::run(&queue, &seeds, flags, &counters));
            match spawned {
                Ok(_) => started += 1,
                Err(error) => warn!(%error, index, "could not start a PoW verifier thread"),
            }
        }
        info!(threads = started, fast, capacity, flags = ?flags, "PoW verifier started");
        Verifier {
            shared: Arc::new(Shared {
                jobs,
                counters,
                seeds,
                capacity,
                threads: started,
                fast,
            }),
        }
    }

    /// Hashes `blob` with `algo`; `seed` is the job's RandomX seed hash (ignored by `cn/0`).
    /// Never blocks the caller's thread: the work runs on a verifier thread. Answers
    /// `Overloaded` at once when the queue is full, `UnknownSeed` for a seed not set with
    /// [`Verifier::set_seeds`] (current, previous or next).
    pub async fn hash(
        &self,
        algo: PowAlgo,
        seed: Hash32,
        blob: Vec<u8>,
    ) -> Result<Hash32, PowError> {
        if blob.is_empty() || blob.len() > MAX_BLOB_LEN {
            return Err(PowError::BadBlob { len: blob.len() });
        }
        if algo.uses_seed() && !self.shared.seeds.contains(&seed) {
            return Err(PowError::UnknownSeed(seed));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            algo,
            seed,
            blob,
            reply,
        };
        match self.shared.jobs.try_send(job) {
            Ok(()) => {}
            Err(flume::TrySendError::Full(_)) => {
                self.shared
                    .counters
                    .overloaded
                    .fetch_add(1, Ordering::Relaxed);
                return Err(PowError::Overloaded {
                    capacity: self.shared.capacity,
                });
            }
            Err(flume::TrySendError::Disconnected(_)) => return Err(PowError::Stopped),
        }
        answer.await.unwrap_or(Err(PowError::Stopped))
    }

    /// Tells the verifier the template's `seed_hash` (`current`) and `next_seed_hash` (`next`,
    /// when announced). Call it on every new template; it returns at once and builds what is
    /// missing (caches, and datasets in fast mode) on a background thread. A changed current
    /// seed keeps the old one usable as "previous" until the following change.
    pub fn set_seeds(&self, current: Hash32, next: Option<Hash32>) {
        self.shared.seeds.set(current, next);
        self.shared.seeds.start_builder();
    }

    /// Number of verifier threads running.
    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// Whether RandomX runs in fast mode (datasets) on this host.
    pub fn is_fast_mode(&self) -> bool {
        self.shared.fast
    }

    /// Whether `seed`'s fast-mode dataset is built (false in light mode).
    pub fn has_dataset(&self, seed: &Hash32) -> bool {
        self.shared
            .seeds
            .get(seed)
            .is_some_and(|entry| entry.dataset().is_some())
    }

    /// Jobs waiting in the queue now (for metrics).
    pub fn queued(&self) -> usize {
        self.shared.jobs.len()
    }

    /// Counters since start (for metrics and logs).
    pub fn stats(&self) -> VerifierStats {
        let c = &self.shared.counters;
        VerifierStats {
            hashed: c.hashed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            queued: self.queued(),
        }
    }
}

/// What the verifier has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifierStats {
    /// Hashes computed and answered.
    pub hashed: u64,
    /// Requests answered with an error by a verifier thread (unknown seed after a switch,
    /// RandomX allocation failure).
    pub failed: u64,
    /// Requests skipped because the caller had stopped waiting before a thread took them.
    pub abandoned: u64,
    /// Requests turned away because the queue was full.
    pub overloaded: u64,
    /// Requests waiting now.
    pub queued: usize,
}
