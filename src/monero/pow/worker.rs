//! One verifier thread: takes jobs from the shared queue, hashes them, answers on each job's
//! oneshot. Owns its RandomX VMs (one per served seed, created here because VMs are not `Send`)
//! and swaps a light VM for a fast one as soon as its seed's dataset is published (and back when
//! the dataset is released). Drops VMs of seeds the table no longer serves, also when idle, so
//! released datasets are freed. Never touches tokio beyond sending the reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cryptonight_hash::{CryptoNight, Digest};
use randomx_rs::RandomXFlag;

use super::randomx::{Backing, Vm};
use super::seeds::SeedTable;
use super::{PowAlgo, PowError};
use crate::domain::Hash32;

/// How long an idle thread waits before it drops VMs of seeds no longer served.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);

/// One hash request.
#[derive(Debug)]
pub struct Job {
    pub algo: PowAlgo,
    pub seed: Hash32,
    pub blob: Vec<u8>,
    pub reply: tokio::sync::oneshot::Sender<Result<Hash32, PowError>>,
}

/// Counts kept by the verifier threads and the queue (for metrics).
#[derive(Debug, Default)]
pub struct Counters {
    pub hashed: AtomicU64,
    pub failed: AtomicU64,
    pub abandoned: AtomicU64,
    pub overloaded: AtomicU64,
}

/// The thread body: runs until every sender of the queue is dropped.
pub fn run(
    queue: &flume::Receiver<Job>,
    seeds: &SeedTable,
    flags: RandomXFlag,
    counters: &Counters,
) {
    let mut vms: Vec<(Hash32, Vm)> = Vec::new();
    loop {
        match queue.recv_timeout(HOUSEKEEPING_EVERY) {
            Ok(job) if job.reply.is_closed() => {
                // The caller stopped waiting (its connection closed): skip the work.
                counters.abandoned.fetch_add(1, Ordering::Relaxed);
            }
            Ok(job) => {
                let result = match job.algo {
                    PowAlgo::RandomX => randomx(&mut vms, seeds, flags, job.seed, &job.blob),
                    PowAlgo::CryptoNightV0 => Ok(cryptonight_v0(&job.blob)),
                };
                let counter = if result.is_ok() {
                    &counters.hashed
                } else {
                    &counters.failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                // The caller may have given up waiting meanwhile; nothing to do then.
                let _ = job.reply.send(result);
            }
            Err(flume::RecvTimeoutError::Timeout) => prune(&mut vms, seeds),
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn randomx(
    vms: &mut Vec<(Hash32, Vm)>,
    seeds: &SeedTable,
    flags: RandomXFlag,
    seed: Hash32,
    blob: &[u8],
) -> Result<Hash32, PowError> {
    let entry = seeds.get(&seed).ok_or(PowError::UnknownSeed(seed))?;
    let wanted = match entry.dataset() {
        Some(dataset) => Backing::Fast(dataset),
        None => Backing::Light(entry.cache()?),
    };
    let found = vms.iter().position(|(s, _)| *s == seed);
    let index = match found {
        Some(i) if same_backing(vms[i].1.backing(), &wanted) => i,
        _ => {
            if let Some(i) = found {
                vms.swap_remove(i);
            }
            prune(vms, seeds);
            vms.push((seed, Vm::new(flags, wanted)?));
            vms.len() - 1
        }
    };
    Ok(Hash32(vms[index].1.hash(blob)))
}

fn same_backing(a: &Backing, b: &Backing) -> bool {
    match (a, b) {
        (Backing::Light(x), Backing::Light(y)) => Arc::ptr_eq(x, y),
        (Backing::Fast(x), Backing::Fast(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// Drops VMs whose seed left the table, or whose dataset was released (freeing its memory).
fn prune(vms: &mut Vec<(Hash32, Vm)>, seeds: &SeedTable) {
    vms.retain(|(seed, vm)| match seeds.get(seed) {
        None => false,
        Some(entry) => match vm.backing() {
            Backing::Fast(dataset) => entry
                .dataset()
                .is_some_and(|current| Arc::ptr_eq(&current, dataset)),
            Backing::Light(_) => true,
        },
    });
}

/// CryptoNight v0 (`cn/0`) of `blob`.
fn cryptonight_v0(blob: &[u8]) -> Hash32 {
    let mut out = [0u8; 32];
    out.copy_from_slice(&CryptoNight::digest(blob));
    Hash32(out)
}
