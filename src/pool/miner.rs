//! A logged-in miner's state, the part of a session that the share path works on: payout and
//! worker names, client kind, difficulty mode and vardiff, the job ring, the cached target
//! and the pending spot check. Owned by its session (`session::Phase::Mining`), which cuts
//! jobs from it; `validate` borrows it for one share at a time, with the connection's IP,
//! and never sees the session. Also owns [`ALGO`], the algorithm name jobs carry and
//! submits may name. Plain per-connection state: no I/O, no share decisions.

use super::jobs::JobRing;
use super::login::ClientKind;
use super::trust::Verdict;
use super::vardiff::{DiffMode, Vardiff};
use crate::domain::{Difficulty, Target};
use std::sync::Arc;

/// The algorithm name jobs carry (`algo` extension).
pub const ALGO: &str = "rx/0";

/// A logged-in miner.
#[derive(Debug)]
pub struct Miner {
    pub payout: Arc<str>,
    pub worker: Arc<str>,
    pub client: ClientKind,
    pub mode: DiffMode,
    /// The miner's difficulty: the next job's, unless above that template's network
    /// difficulty (a job is never harder than its block, see `jobs`).
    pub difficulty: Difficulty,
    pub vardiff: Vardiff,
    pub jobs: JobRing,
    /// The target hex of `difficulty`, for jobs.
    pub target: TargetCache,
    /// Whether the miner's client takes `algo` in submits (it sent an `algo` list).
    pub algo_extension: bool,
    pub shares: u64,
    /// The check of the last sampled share (run after its reply); the next submit waits
    /// for it and counts a failed one against the ban ratio.
    pub pending_check: Option<tokio::task::JoinHandle<Verdict>>,
}

/// The stratum target of the miner's difficulty, recomputed only when the difficulty changes
/// (a 256-bit division otherwise paid on every job).
#[derive(Debug, Clone, Default)]
pub struct TargetCache {
    cached: Option<(Difficulty, String)>,
}

impl TargetCache {
    /// The target hex for `difficulty`: 4 bytes up to 2^32 − 1, 8 bytes above.
    pub fn of(&mut self, difficulty: Difficulty) -> &str {
        let stale = self.cached.as_ref().is_none_or(|(d, _)| *d != difficulty);
        if stale {
            let width = if difficulty.0 <= u128::from(u32::MAX) {
                Target::Four
            } else {
                Target::Eight
            };
            self.cached = Some((difficulty, width.hex(difficulty)));
        }
        self.cached.as_ref().map_or("", |(_, hex)| hex)
    }
}
