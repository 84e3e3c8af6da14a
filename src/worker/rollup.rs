//! The incremental stats engine: sliding-window hashrates for the pool, each payout mode, each
//! miner and each worker, kept as running sums.
//!
//! Pure and in memory: no I/O and no clock. The caller feeds it [`Share`]s (mapped from the
//! share log, in roughly time order) with [`Rollup::add`] and moves time on with
//! [`Rollup::advance`], which counts the shares that became due, subtracts those that left the
//! window, forgets workers silent for `forget_after`, and returns the [`Cycle`]: which entities
//! changed and which were forgotten, so the caller writes and deletes only those. A cycle costs
//! O((new + expired + changed) · log n); it never walks the history (only the shares still in
//! the window are held). The hashrate is nodejs-pool's `floor(Σ hashes in window / window
//! seconds)`; a share is in the window at `now` when `now − window < at ≤ now`, and a share
//! stamped in the future waits until it is due.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::domain::{PoolType, UnixMillis};
use crate::stats::{EntityStats, PoolScope, PoolStats};
use crate::store::lmdb::{MinerId, WorkerId};

/// One accepted share as the engine sees it: who, when, how many hashes (the credited
/// difficulty) and on which payout mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub at: UnixMillis,
    pub miner: MinerId,
    pub worker: WorkerId,
    pub hashes: u64,
    pub mode: PoolType,
}

/// The engine's settings (`worker.hashrateWindow`, `worker.identifierWindow`,
/// `general.statsBufferLength`, `worker.historyDays`, `worker.forgetAfter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupConfig {
    /// Hashrates average the shares of this window (at least one millisecond).
    pub window: Duration,
    /// A worker is listed among its miner's identifiers while its last share is this recent.
    pub identifier_window: Duration,
    /// One-minute chart points kept per series.
    pub minute_points: usize,
    /// Days of hourly chart points kept per series.
    pub history_days: u32,
    /// Workers silent this long are dropped (never less than `window`).
    pub forget_after: Duration,
}

impl Default for RollupConfig {
    fn default() -> RollupConfig {
        RollupConfig {
            window: Duration::from_secs(600),
            identifier_window: Duration::from_secs(1800),
            minute_points: 1440,
            history_days: 30,
            forget_after: Duration::from_secs(7 * 86_400),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RollupConfig {
    fn window_ms(&self) -> u64 {
        millis(self.window).max(1)
    }
    fn forget_ms(&self) -> u64 {
        millis(self.forget_after).max(self.window_ms())
    }
    fn identifier_ms(&self) -> u64 {
        millis(self.identifier_window)
    }
    /// `floor(hashes / window seconds)`, in H/s (saturating at `u64::MAX`).
    pub fn hashrate(&self, hashes: u128) -> u64 {
        let rate = hashes.saturating_mul(1000) / u128::from(self.window_ms());
        u64::try_from(rate).unwrap_or(u64::MAX)
    }
}

/// The pool's or one mode's figures at the last [`Rollup::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate {
    /// Sum of the hashes of the shares in the window.
    pub hashes: u128,
    /// `floor(hashes / window seconds)` H/s.
    pub hashrate: u64,
    /// The newest share seen (due by now), if any.
    pub last_share: Option<UnixMillis>,
    /// Miners with a share in the window.
    pub miners: u64,
    /// Workers with a share in the window.
    pub workers: u64,
}

impl Rate {
    /// The rollup's part of a `pool/<scope>` value (hashRate, miners, workers); the block,
    /// payment and total-hashes fields are the caller's to fill.
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            hash_rate: self.hashrate,
            miners: self.miners,
            workers: self.workers,
            ..PoolStats::default()
        }
    }
}

/// The rollup's part (hash, lastHash) of a `miner/<id>` or `worker/<id>` value; the share
/// counters' totals are the caller's to fill.
fn entity_stats(hashrate: u64, last_share: UnixMillis) -> EntityStats {
    EntityStats {
        hash: hashrate,
        last_hash: last_share.0,
        ..EntityStats::default()
    }
}

/// One miner's figures at the last advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerRate {
    pub hashes: u128,
    pub hashrate: u64,
    pub last_share: UnixMillis,
    /// Its workers with a share in the window.
    pub workers: u64,
}

impl MinerRate {
    /// hash and lastHash of the miner's stats value.
    pub fn entity_stats(&self) -> EntityStats {
        entity_stats(self.hashrate, self.last_share)
    }
}

/// One worker's figures at the last advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerRate {
    pub hashes: u128,
    pub hashrate: u64,
    pub last_share: UnixMillis,
}

impl WorkerRate {
    /// hash and lastHash of the worker's stats value.
    pub fn entity_stats(&self) -> EntityStats {
        entity_stats(self.hashrate, self.last_share)
    }
}

/// What one [`Rollup::advance`] changed: the entities whose figures (or, for a miner, its list
/// of identifiers) may differ from the previous cycle, and the entities dropped for silence.
/// Each list is sorted and free of duplicates; a forgotten entity is not listed as changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cycle {
    pub now: UnixMillis,
    /// Shares that became due this cycle (counted or, if already too old, only timed).
    pub due: usize,
    /// Shares that left the window this cycle.
    pub expired: usize,
    pub pool_changed: bool,
    pub modes: Vec<PoolType>,
    pub miners: Vec<MinerId>,
    pub workers: Vec<WorkerId>,
    pub forgotten_miners: Vec<MinerId>,
    /// Forgotten workers with the miner they belonged to.
    pub forgotten_workers: Vec<(WorkerId, MinerId)>,
}

/// A share held in the window or waiting to be due, keyed elsewhere by (time, sequence).
#[derive(Debug, Clone, Copy)]
struct Held {
    miner: MinerId,
    worker: WorkerId,
    hashes: u64,
    mode: PoolType,
}

#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    hashes: u128,
    last: Option<UnixMillis>,
    miners: u64,
    workers: u64,
}

#[derive(Debug, Clone)]
struct WorkerState {
    miner: MinerId,
    rate: WorkerRate,
    shares: u64,
    per_mode: [u64; 3],
}

#[derive(Debug, Clone)]
struct MinerState {
    rate: MinerRate,
    shares: u64,
    per_mode: [u64; 3],
    workers: Vec<WorkerId>,
}

/// The engine. See the module documentation.
#[derive(Debug)]
pub struct Rollup {
    config: RollupConfig,
    now: UnixMillis,
    seq: u64,
    incoming: Vec<Share>,
    future: BTreeMap<(u64, u64), Held>,
    window: BTreeMap<(u64, u64), Held>,
    pool: Totals,
    modes: [Totals; 3],
    miners: HashMap<MinerId, MinerState>,
    workers: HashMap<WorkerId, WorkerState>,
    /// (last share, worker) of every known worker: finds the silent ones without a scan.
    by_last: BTreeSet<(u64, u32)>,
    touched_workers: HashSet<WorkerId>,
    touched_miners: HashSet<MinerId>,
    touched_modes: [bool; 3],
    touched_pool: bool,
}

fn mode_index(mode: PoolType) -> usize {
    mode as usize
}

impl Rollup {
    pub fn new(config: RollupConfig) -> Rollup {
        Rollup {
            config,
            now: UnixMillis(0),
            seq: 0,
            incoming: Vec::new(),
            future: BTreeMap::new(),
            window: BTreeMap::new(),
            pool: Totals::default(),
            modes: [Totals::default(); 3],
            miners: HashMap::new(),
            workers: HashMap::new(),
            by_last: BTreeSet::new(),
            touched_workers: HashSet::new(),
            touched_miners: HashSet::new(),
            touched_modes: [false; 3],
            touched_pool: false,
        }
    }

    pub fn config(&self) -> &RollupConfig {
        &self.config
    }

    /// The time of the last [`Rollup::advance`].
    pub fn now(&self) -> UnixMillis {
        self.now
    }

    /// Shares held in the window (counted) and waiting to be due.
    pub fn held(&self) -> (usize, usize) {
        (self.window.len(), self.future.len() + self.incoming.len())
    }

    /// Queues a share; it is counted by the next advance whose `now` reaches its time.
    pub fn add(&mut self, share: Share) {
        self.incoming.push(share);
    }

    /// New settings. A shorter window takes effect exactly at the next advance; a longer one
    /// fills up with the shares that arrive from now on (shares that already left the old
    /// window are not kept, so for one window length the sums cover less than the window).
    pub fn set_config(&mut self, config: RollupConfig) {
        let rates_change = config.window != self.config.window;
        self.config = config;
        if rates_change {
            let config = &self.config;
            for (id, w) in &mut self.workers {
                w.rate.hashrate = config.hashrate(w.rate.hashes);
                self.touched_workers.insert(*id);
            }
            for (id, m) in &mut self.miners {
                m.rate.hashrate = config.hashrate(m.rate.hashes);
                self.touched_miners.insert(*id);
            }
            self.touched_pool = true;
            self.touched_modes = [true; 3];
        } else {
            // The identifier window may have changed: every miner's list may differ.
            self.touched_miners.extend(self.miners.keys().copied());
        }
    }

    /// Moves time to `now` (never backwards: an earlier `now` is taken as the last one),
    /// counts the shares that became due, expires those that left the window and forgets
    /// silent workers.
    pub fn advance(&mut self, now: UnixMillis) -> Cycle {
        let previous = self.now;
        let now = UnixMillis(now.0.max(previous.0));
        self.now = now;
        // `None` while less than a window has passed since the epoch: nothing can expire.
        let cutoff = now.0.checked_sub(self.config.window_ms());
        let mut cycle = Cycle {
            now,
            ..Cycle::default()
        };

        for share in std::mem::take(&mut self.incoming) {
            let held = Held {
                miner: share.miner,
                worker: share.worker,
                hashes: share.hashes,
                mode: share.mode,
            };
            self.seq += 1;
            if share.at.0 > now.0 {
                self.future.insert((share.at.0, self.seq), held);
            } else {
                cycle.due += 1;
                self.count(share.at.0, self.seq, held, cutoff);
            }
        }
        while let Some(entry) = self.future.first_entry() {
            if entry.key().0 > now.0 {
                break;
            }
            let ((at, seq), held) = entry.remove_entry();
            cycle.due += 1;
            self.count(at, seq, held, cutoff);
        }
        while let Some(entry) = self.window.first_entry() {
            if cutoff.is_none_or(|c| entry.key().0 > c) {
                break;
            }
            let held = entry.remove();
            cycle.expired += 1;
            self.uncount(held);
        }

        // Workers that dropped out of the identifier window change their miner's list.
        let idw = self.config.identifier_ms();
        if let Some(to) = now.0.checked_sub(idw) {
            // Last shares in (previous − idw, now − idw] just left the identifier window.
            let lo = previous.0.checked_sub(idw).map_or(0, |from| from + 1);
            for &(_, worker) in self.by_last.range((lo, 0)..(to + 1, 0)) {
                if let Some(w) = self.workers.get(&WorkerId(worker)) {
                    self.touched_miners.insert(w.miner);
                }
            }
        }

        self.forget(now, &mut cycle);

        let mut workers: Vec<WorkerId> = self.touched_workers.drain().collect();
        workers.sort_unstable();
        let mut miners: Vec<MinerId> = self
            .touched_miners
            .drain()
            .filter(|m| self.miners.contains_key(m))
            .collect();
        miners.sort_unstable();
        cycle.workers = workers;
        cycle.miners = miners;
        cycle.modes = PoolType::ALL
            .into_iter()
            .filter(|m| self.touched_modes[mode_index(*m)])
            .collect();
        cycle.pool_changed = self.touched_pool;
        self.touched_modes = [false; 3];
        self.touched_pool = false;
        cycle
    }

    /// A due share: updates last-share times and, if it is still in the window, the sums.
    fn count(&mut self, at: u64, seq: u64, held: Held, cutoff: Option<u64>) {
        let at_ms = UnixMillis(at);
        let mi = mode_index(held.mode);
        let in_window = cutoff.is_none_or(|c| at > c);
        let hashes = if in_window {
            u128::from(held.hashes)
        } else {
            0
        };
        let share_count = u64::from(in_window);

        let created = !self.workers.contains_key(&held.worker);
        let worker = self.workers.entry(held.worker).or_insert_with(|| {
            if let Some(miner) = self.miners.get_mut(&held.miner) {
                miner.workers.push(held.worker);
            }
            WorkerState {
                miner: held.miner,
                rate: WorkerRate {
                    hashes: 0,
                    hashrate: 0,
                    last_share: at_ms,
                },
                shares: 0,
                per_mode: [0; 3],
            }
        });
        if created || worker.rate.last_share < at_ms {
            self.by_last
                .remove(&(worker.rate.last_share.0, held.worker.0));
            worker.rate.last_share = worker.rate.last_share.max(at_ms);
            self.by_last
                .insert((worker.rate.last_share.0, held.worker.0));
        }
        let worker_entered = in_window && worker.shares == 0;
        let worker_entered_mode = in_window && worker.per_mode[mi] == 0;
        worker.shares += share_count;
        worker.per_mode[mi] += share_count;
        worker.rate.hashes += hashes;
        worker.rate.hashrate = self.config.hashrate(worker.rate.hashes);
        self.touched_workers.insert(held.worker);

        let miner = self.miners.entry(held.miner).or_insert_with(|| MinerState {
            rate: MinerRate {
                hashes: 0,
                hashrate: 0,
                last_share: at_ms,
                workers: 0,
            },
            shares: 0,
            per_mode: [0; 3],
            workers: vec![held.worker],
        });
        let miner_entered = in_window && miner.shares == 0;
        let miner_entered_mode = in_window && miner.per_mode[mi] == 0;
        miner.rate.last_share = miner.rate.last_share.max(at_ms);
        miner.shares += share_count;
        miner.per_mode[mi] += share_count;
        miner.rate.hashes += hashes;
        miner.rate.hashrate = self.config.hashrate(miner.rate.hashes);
        miner.rate.workers += u64::from(worker_entered);
        self.touched_miners.insert(held.miner);

        for totals in [&mut self.pool, &mut self.modes[mi]] {
            totals.last = Some(totals.last.map_or(at_ms, |l| l.max(at_ms)));
            totals.hashes += hashes;
        }
        self.pool.miners += u64::from(miner_entered);
        self.pool.workers += u64::from(worker_entered);
        self.modes[mi].miners += u64::from(miner_entered_mode);
        self.modes[mi].workers += u64::from(worker_entered_mode);
        self.touched_pool = true;
        self.touched_modes[mi] = true;

        if in_window {
            self.window.insert((at, seq), held);
        }
    }

    /// A share left the window: subtract it everywhere.
    fn uncount(&mut self, held: Held) {
        let mi = mode_index(held.mode);
        let hashes = u128::from(held.hashes);
        let mut worker_left = false;
        let mut worker_left_mode = false;
        if let Some(worker) = self.workers.get_mut(&held.worker) {
            worker.shares -= 1;
            worker.per_mode[mi] -= 1;
            worker.rate.hashes -= hashes;
            worker.rate.hashrate = self.config.hashrate(worker.rate.hashes);
            worker_left = worker.shares == 0;
            worker_left_mode = worker.per_mode[mi] == 0;
            self.touched_workers.insert(held.worker);
        }
        let mut miner_left = false;
        let mut miner_left_mode = false;
        if let Some(miner) = self.miners.get_mut(&held.miner) {
            miner.shares -= 1;
            miner.per_mode[mi] -= 1;
            miner.rate.hashes -= hashes;
            miner.rate.hashrate = self.config.hashrate(miner.rate.hashes);
            miner.rate.workers -= u64::from(worker_left);
            miner_left = miner.shares == 0;
            miner_left_mode = miner.per_mode[mi] == 0;
            self.touched_miners.insert(held.miner);
        }
        self.pool.hashes -= hashes;
        self.modes[mi].hashes -= hashes;
        self.pool.workers -= u64::from(worker_left);
        self.pool.miners -= u64::from(miner_left);
        self.modes[mi].workers -= u64::from(worker_left_mode);
        self.modes[mi].miners -= u64::from(miner_left_mode);
        self.touched_pool = true;
        self.touched_modes[mi] = true;
    }

    fn forget(&mut self, now: UnixMillis, cycle: &mut Cycle) {
        let Some(horizon) = now.0.checked_sub(self.config.forget_ms()) else {
            return;
        };
        while let Some(&(last, worker)) = self.by_last.first() {
            if last > horizon {
                break;
            }
            self.by_last.pop_first();
            let id = WorkerId(worker);
            let Some(state) = self.workers.remove(&id) else {
                continue;
            };
            self.touched_workers.remove(&id);
            cycle.forgotten_workers.push((id, state.miner));
            if let Some(miner) = self.miners.get_mut(&state.miner) {
                miner.workers.retain(|w| *w != id);
                if miner.workers.is_empty() {
                    self.miners.remove(&state.miner);
                    self.touched_miners.remove(&state.miner);
                    cycle.forgotten_miners.push(state.miner);
                } else {
                    // Its identifier list may have listed the forgotten worker.
                    self.touched_miners.insert(state.miner);
                }
            }
        }
        cycle.forgotten_workers.sort_unstable();
        cycle.forgotten_miners.sort_unstable();
    }

    /// The whole pool.
    pub fn pool(&self) -> Rate {
        self.rate_of(&self.pool)
    }

    /// One payout mode.
    pub fn mode(&self, m: PoolType) -> Rate {
        self.rate_of(&self.modes[mode_index(m)])
    }

    /// The whole pool or one mode.
    pub fn scope(&self, scope: PoolScope) -> Rate {
        match scope {
            PoolScope::Global => self.pool(),
            PoolScope::Mode(m) => self.mode(m),
        }
    }

    fn rate_of(&self, t: &Totals) -> Rate {
        Rate {
            hashes: t.hashes,
            hashrate: self.config.hashrate(t.hashes),
            last_share: t.last,
            miners: t.miners,
            workers: t.workers,
        }
    }

    /// A known (not forgotten) miner.
    pub fn miner(&self, id: MinerId) -> Option<MinerRate> {
        self.miners.get(&id).map(|m| m.rate)
    }

    /// A known (not forgotten) worker.
    pub fn worker(&self, id: WorkerId) -> Option<WorkerRate> {
        self.workers.get(&id).map(|w| w.rate)
    }

    /// The miner a known worker belongs to.
    pub fn worker_miner(&self, id: WorkerId) -> Option<MinerId> {
        self.workers.get(&id).map(|w| w.miner)
    }

    /// Every known, not forgotten worker, in no particular order.
    pub fn workers(&self) -> impl Iterator<Item = (WorkerId, MinerId, &WorkerRate)> {
        self.workers.iter().map(|(id, w)| (*id, w.miner, &w.rate))
    }

    /// Every known, not forgotten miner, in no particular order.
    pub fn miners(&self) -> impl Iterator<Item = (MinerId, &MinerRate)> {
        self.miners.iter().map(|(id, m)| (*id, &m.rate))
    }

    /// A miner's workers whose last share is within the identifier window (nodejs-pool's
    /// `<minerID>_identifiers`), sorted by id.
    pub fn identifiers(&self, miner: MinerId) -> Vec<WorkerId> {
        let since = self.now.0.checked_sub(self.config.identifier_ms());
        let mut out: Vec<WorkerId> = self
            .miners
            .get(&miner)
            .map(|m| {
                m.workers
                    .iter()
                    .copied()
                    .filter(|w| {
                        self.workers
                            .get(w)
                            .is_some_and(|s| since.is_none_or(|t| s.rate.last_share.0 > t))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(at: u64, miner: u32, worker: u32, hashes: u64, mode: PoolType) -> Share {
        Share {
            at: UnixMillis(at),
            miner: MinerId(miner),
            worker: WorkerId(worker),
            hashes,
            mode,
        }
    }

    #[test]
    fn hashrate_is_the_floor_of_the_window_sum_over_window_seconds() {
        let mut r = Rollup::new(RollupConfig::default());
        r.add(share(1_000_000, 1, 1, 1_199, PoolType::Pplns));
        r.advance(UnixMillis(1_000_000));
        assert_eq!(r.pool().hashrate, 1);
        assert_eq!(r.worker(WorkerId(1)).map(|w| w.hashrate), Some(1));
        r.add(share(1_000_001, 1, 1, 1, PoolType::Pplns));
        r.advance(UnixMillis(1_000_001));
        assert_eq!(r.pool().hashrate, 2);
    }

    #[test]
    fn a_share_on_the_window_edge_has_left_it() {
        let mut r = Rollup::new(RollupConfig::default());
        r.add(share(1_000_000, 1, 1, 600, PoolType::Solo));
        r.advance(UnixMillis(1_599_999));
        assert_eq!(r.mode(PoolType::Solo).hashrate, 1);
        assert_eq!(r.mode(PoolType::Solo).miners, 1);
        let cycle = r.advance(UnixMillis(1_600_000));
        assert_eq!(cycle.expired, 1);
        assert_eq!(r.mode(PoolType::Solo).hashrate, 0);
        assert_eq!(r.mode(PoolType::Solo).miners, 0);
        assert_eq!(cycle.workers, vec![WorkerId(1)]);
    }

    #[test]
    fn a_future_share_waits_until_it_is_due() {
        let mut r = Rollup::new(RollupConfig::default());
        r.add(share(2_000, 1, 1, 600, PoolType::Pps));
        let cycle = r.advance(UnixMillis(1_999));
        assert_eq!(cycle.due, 0);
        assert_eq!(r.worker(WorkerId(1)), None);
        let cycle = r.advance(UnixMillis(2_000));
        assert_eq!(cycle.due, 1);
        assert_eq!(r.pool().last_share, Some(UnixMillis(2_000)));
    }

    #[test]
    fn silent_workers_are_forgotten_with_their_miner() {
        let config = RollupConfig {
            forget_after: Duration::from_secs(3600),
            ..RollupConfig::default()
        };
        let mut r = Rollup::new(config);
        r.add(share(10_000, 1, 1, 1, PoolType::Pplns));
        r.add(share(20_000, 1, 2, 1, PoolType::Pplns));
        r.advance(UnixMillis(20_000));
        let cycle = r.advance(UnixMillis(10_000 + 3_600_000));
        assert_eq!(cycle.forgotten_workers, vec![(WorkerId(1), MinerId(1))]);
        assert!(cycle.forgotten_miners.is_empty());
        let cycle = r.advance(UnixMillis(20_000 + 3_600_000));
        assert_eq!(cycle.forgotten_workers, vec![(WorkerId(2), MinerId(1))]);
        assert_eq!(cycle.forgotten_miners, vec![MinerId(1)]);
        assert_eq!(r.miner(MinerId(1)), None);
        assert_eq!(r.workers().count(), 0);
    }
}
