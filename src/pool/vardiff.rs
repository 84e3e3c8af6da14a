//! Variable difficulty per miner toward a target share time (reference §3.1, done as
//! MoneroOcean meant it).
//!
//! The estimator keeps the credited difficulty of recent accepted shares in [`BUCKETS`] time
//! buckets covering a sliding window, so it forgets old hashrate and adapts after a change
//! (nodejs-pool averaged since connect). A retarget proposes `hashrate × target time`, ignores
//! changes inside the dead band, limits one step to the max-change clamp (the clamp
//! nodejs-pool's misspelt key never applied), then clamps to min/max (max not for proxies)
//! and the NiceHash minimum. Fixed difficulties are never touched. Integer maths only; no
//! clock reads here (the caller passes `now`). The new difficulty applies to the next job.
//!
//! Every retarget takes a ceiling, the network difficulty of the template the next job is cut
//! from: a miner only submits hashes that meet its share target, so a target above the
//! block's would hide every block found between the two. No governed difficulty rises above
//! the ceiling (it wins over min, max and the NiceHash minimum), and one above it (a lower
//! network difficulty, a high port start) comes down to it at once. Capped in its own state,
//! vardiff cannot ratchet against the cap. `Fixed` (`+N`) keeps its number; the job caps it
//! (`jobs::Job::new`).

use crate::domain::{Difficulty, UnixMillis};

/// Buckets in the sliding window.
pub const BUCKETS: usize = 8;

/// Vardiff settings (MySQL `pool.*` items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VardiffConfig {
    /// `pool.targetTime`: seconds per share aimed at.
    pub target_time_secs: u64,
    /// `pool.minDifficulty`.
    pub min: u64,
    /// `pool.maxDifficulty` (not applied to proxies).
    pub max: u64,
    /// `pool.varDiffVariance`: dead band in percent around the current difficulty.
    pub variance_pct: u64,
    /// `pool.varDiffMaxChange`: one retarget moves at most this many percent up, or down to
    /// `100 / (100 + pct)` of the current difficulty.
    pub max_change_pct: u64,
    /// `pool.retargetTime`: least seconds between two retargets of one miner.
    pub retarget_secs: u64,
    /// `pool.varDiffWindow`: seconds of history the estimate uses.
    pub window_secs: u64,
    /// `pool.niceHashDiff`: NiceHash miners never go below this.
    pub nicehash_min: u64,
    /// `pool.proxyDiffMultiplier`: proxies aggregate many miners; aim at this many times the
    /// per-share work (nodejs-pool: 5).
    pub proxy_multiplier: u64,
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig {
            target_time_secs: 30,
            min: 100,
            max: 500_000,
            variance_pct: 20,
            max_change_pct: 100,
            retarget_secs: 60,
            window_secs: 600,
            nicehash_min: 400_000,
            proxy_multiplier: 5,
        }
    }
}

/// How a session's difficulty is governed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffMode {
    Vardiff,
    /// `+N` at login: never changed.
    Fixed,
    /// NiceHash: vardiff, floored at `nicehash_min`.
    NiceHash,
    /// xmr-node-proxy: vardiff × `proxy_multiplier`, no max clamp.
    Proxy,
}

/// Per-session estimator state (about 80 bytes; no heap).
#[derive(Debug, Clone)]
pub struct Vardiff {
    sums: [u64; BUCKETS],
    /// Bucket number (time / bucket length) that `sums[head % BUCKETS]` holds.
    head: u64,
    started: UnixMillis,
    last_retarget: UnixMillis,
}

impl Vardiff {
    pub fn new(now: UnixMillis) -> Vardiff {
        Vardiff {
            sums: [0; BUCKETS],
            head: 0,
            started: now,
            last_retarget: now,
        }
    }

    fn bucket_ms(config: &VardiffConfig) -> u64 {
        (config.window_secs.max(BUCKETS as u64) * 1000) / BUCKETS as u64
    }

    fn advance(&mut self, config: &VardiffConfig, now: UnixMillis) {
        let bucket = now.0 / Self::bucket_ms(config);
        if bucket <= self.head {
            return;
        }
        let gap = (bucket - self.head).min(BUCKETS as u64);
        for i in 1..=gap {
            self.sums[((self.head + i) % BUCKETS as u64) as usize] = 0;
        }
        self.head = bucket;
    }

    /// Records an accepted share's credited difficulty.
    pub fn record(&mut self, config: &VardiffConfig, now: UnixMillis, difficulty: Difficulty) {
        self.advance(config, now);
        let slot = &mut self.sums[(self.head % BUCKETS as u64) as usize];
        *slot = slot.saturating_add(difficulty.as_u64().unwrap_or(u64::MAX));
    }

    /// Hashes per second over the window as (work, milliseconds).
    fn work_and_span(&mut self, config: &VardiffConfig, now: UnixMillis) -> (u128, u64) {
        self.advance(config, now);
        let bucket_ms = Self::bucket_ms(config);
        let work: u128 = self.sums.iter().map(|s| u128::from(*s)).sum();
        // The window starts at the oldest bucket still kept (or at connect, if later).
        let oldest_start = (self.head + 1).saturating_sub(BUCKETS as u64) * bucket_ms;
        let start = oldest_start.max(self.started.0);
        (work, now.0.saturating_sub(start).max(1))
    }

    /// The next difficulty, or `None` to keep `current`: never above `ceiling` (the network
    /// difficulty of the next job's template; see the module doc), which a `current` above
    /// it is brought down to at once. Otherwise waits at least `retarget_secs` between
    /// retargets and after connect. `Fixed` is never changed.
    pub fn retarget(
        &mut self,
        config: &VardiffConfig,
        now: UnixMillis,
        current: Difficulty,
        mode: DiffMode,
        ceiling: Difficulty,
    ) -> Option<Difficulty> {
        if mode == DiffMode::Fixed {
            return None;
        }
        let ceiling = ceiling.max(Difficulty::ONE);
        let capped = current.min(ceiling);
        let next = self
            .propose(config, now, capped, mode)
            .map_or(capped, |d| d.min(ceiling));
        (next != current).then_some(next)
    }

    /// The estimator's proposal from `current`, before the ceiling: `None` before the
    /// retarget time or inside the dead band.
    fn propose(
        &mut self,
        config: &VardiffConfig,
        now: UnixMillis,
        current: Difficulty,
        mode: DiffMode,
    ) -> Option<Difficulty> {
        let target_ms = config.target_time_secs.max(1) * 1000;
        if now.0.saturating_sub(self.last_retarget.0) < config.retarget_secs.saturating_mul(1000) {
            return None;
        }
        self.last_retarget = now;
        let (mut work, span) = self.work_and_span(config, now);
        let cur = current.0.max(1);
        if work == 0 {
            // No share yet: assume one would have arrived just now (an upper bound on the
            // hashrate), so a too-hard difficulty comes down.
            work = cur;
        }
        let multiplier = match mode {
            DiffMode::Proxy => u128::from(config.proxy_multiplier.max(1)),
            _ => 1,
        };
        let mut proposed = work * u128::from(target_ms) / u128::from(span) * multiplier;
        // Dead band.
        let band = cur * u128::from(config.variance_pct) / 100;
        if proposed.abs_diff(cur) <= band {
            return None;
        }
        // Max-change clamp.
        let pct = u128::from(config.max_change_pct.max(1));
        let up = cur * (100 + pct) / 100;
        let down = (cur * 100 / (100 + pct)).max(1);
        proposed = proposed.clamp(down, up.max(down));
        Some(Self::clamp(config, Difficulty(proposed), mode))
    }

    /// Applies the pool's bounds for `mode` (used for starting and fixed difficulties too:
    /// fixed ones get min/max only).
    pub fn clamp(config: &VardiffConfig, difficulty: Difficulty, mode: DiffMode) -> Difficulty {
        let min = u128::from(config.min.max(1));
        let max = u128::from(config.max.max(config.min).max(1));
        let d = match mode {
            DiffMode::Proxy => difficulty.0.max(min),
            DiffMode::NiceHash => difficulty
                .0
                .clamp(min, max)
                .max(u128::from(config.nicehash_min)),
            DiffMode::Vardiff | DiffMode::Fixed => difficulty.0.clamp(min, max),
        };
        // Share records hold u64 difficulties.
        Difficulty(d.min(u128::from(u64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// No ceiling: the estimator alone.
    const UNCAPPED: Difficulty = Difficulty(u128::MAX);

    /// A miner with `hashrate` H/s mining for `secs` seconds from `start_diff`, retargeting
    /// every 60 s; shares come when accumulated work reaches the difficulty (deterministic).
    fn simulate(config: &VardiffConfig, hashrate: u64, start_diff: u128, secs: u64) -> u128 {
        simulate_under(config, hashrate, start_diff, secs, |_| UNCAPPED)
            .last()
            .map_or(start_diff, |d| d.0)
    }

    /// As [`simulate`], under a network difficulty `ceiling(second)` that each job is cut
    /// at most at (as `jobs::Job::new` does). Returns the job difficulty of every second.
    fn simulate_under(
        config: &VardiffConfig,
        hashrate: u64,
        start_diff: u128,
        secs: u64,
        ceiling: impl Fn(u64) -> Difficulty,
    ) -> Vec<Difficulty> {
        let mut v = Vardiff::new(UnixMillis(1_000_000));
        let mut diff = Difficulty(start_diff);
        let mut acc: u128 = 0;
        let mut jobs = Vec::new();
        for s in 1..=secs {
            let now = UnixMillis(1_000_000 + s * 1000);
            let job = diff.min(ceiling(s));
            acc += u128::from(hashrate);
            while acc >= job.0 {
                acc -= job.0;
                v.record(config, now, job);
            }
            if s % 60 == 0
                && let Some(d) = v.retarget(config, now, diff, DiffMode::Vardiff, ceiling(s))
            {
                diff = d;
            }
            jobs.push(job);
        }
        jobs
    }

    fn near(value: u128, want: u128, pct: u128) -> bool {
        value.abs_diff(want) * 100 <= want * pct
    }

    #[test]
    fn vardiff_converges_for_slow_and_fast_miners() {
        let config = VardiffConfig {
            max: 10_000_000,
            ..VardiffConfig::default()
        };
        // 100 H/s at 30 s/share → 3,000; 30 kH/s → 900,000.
        let slow = simulate(&config, 100, 100_000, 3600);
        assert!(near(slow, 3_000, 25), "slow miner ended at {slow}");
        let fast = simulate(&config, 30_000, 1_000, 3600);
        assert!(near(fast, 900_000, 25), "fast miner ended at {fast}");
    }

    #[test]
    fn vardiff_adapts_after_a_hashrate_change() {
        let config = VardiffConfig::default();
        let mut v = Vardiff::new(UnixMillis(0));
        let mut diff = Difficulty(3_000);
        let mut acc = 0u128;
        for s in 1..=7200u64 {
            let rate: u128 = if s <= 3600 { 100 } else { 1_000 };
            let now = UnixMillis(s * 1000);
            acc += rate;
            while acc >= diff.0 {
                acc -= diff.0;
                v.record(&config, now, diff);
            }
            if s % 60 == 0
                && let Some(d) = v.retarget(&config, now, diff, DiffMode::Vardiff, UNCAPPED)
            {
                diff = d;
            }
        }
        assert!(near(diff.0, 30_000, 25), "ended at {}", diff.0);
    }

    #[test]
    fn fixed_difficulty_is_never_retargeted() {
        let config = VardiffConfig::default();
        let mut v = Vardiff::new(UnixMillis(0));
        for s in 0..1000 {
            v.record(&config, UnixMillis(s * 100), Difficulty(1_000_000));
        }
        assert_eq!(
            v.retarget(
                &config,
                UnixMillis(100_000),
                Difficulty(1000),
                DiffMode::Fixed,
                UNCAPPED,
            ),
            None
        );
    }

    #[test]
    fn changes_inside_the_dead_band_are_ignored() {
        let config = VardiffConfig::default();
        let mut v = Vardiff::new(UnixMillis(0));
        // 1000 diff every 30 s exactly → proposed == current.
        for i in 1..=20u64 {
            v.record(&config, UnixMillis(i * 30_000), Difficulty(1000));
        }
        assert_eq!(
            v.retarget(
                &config,
                UnixMillis(600_000),
                Difficulty(1000),
                DiffMode::Vardiff,
                UNCAPPED,
            ),
            None
        );
    }

    #[test]
    fn a_silent_miner_comes_down_by_at_most_the_clamp() {
        let config = VardiffConfig::default();
        let mut v = Vardiff::new(UnixMillis(0));
        let d = v.retarget(
            &config,
            UnixMillis(600_000),
            Difficulty(100_000),
            DiffMode::Vardiff,
            UNCAPPED,
        );
        assert_eq!(d, Some(Difficulty(50_000)));
    }

    #[test]
    fn nicehash_never_goes_below_its_minimum_and_proxies_scale_past_max() {
        let config = VardiffConfig::default();
        assert_eq!(
            Vardiff::clamp(&config, Difficulty(1000), DiffMode::NiceHash),
            Difficulty(400_000)
        );
        assert_eq!(
            Vardiff::clamp(&config, Difficulty(10_000_000), DiffMode::Proxy),
            Difficulty(10_000_000)
        );
        let mut v = Vardiff::new(UnixMillis(0));
        for i in 1..=60u64 {
            v.record(&config, UnixMillis(i * 10_000), Difficulty(100_000));
        }
        let plain = v.clone().retarget(
            &config,
            UnixMillis(600_000),
            Difficulty(300_000),
            DiffMode::Vardiff,
            UNCAPPED,
        );
        let proxy = v.retarget(
            &config,
            UnixMillis(600_000),
            Difficulty(300_000),
            DiffMode::Proxy,
            UNCAPPED,
        );
        assert_eq!(plain, None, "10 kH/s × 30 s is the current difficulty");
        assert_eq!(
            proxy,
            Some(Difficulty(600_000)),
            "×5 wanted, clamp allows ×2"
        );
    }

    #[test]
    fn vardiff_never_climbs_above_the_network_difficulty_and_stays_at_it() {
        // The regtest case of issue 9: network difficulty 1000, a miner whose rate wants
        // 8,281 at 30 s per share. Every job stays at or under the block, and once at the
        // ceiling the state sits there (no retarget proposes anything: no ratchet).
        let config = VardiffConfig {
            min: 100,
            ..VardiffConfig::default()
        };
        let network = Difficulty(1000);
        let jobs = simulate_under(&config, 276, 100, 3600, |_| network);
        assert!(jobs.iter().all(|d| *d <= network), "{jobs:?}");
        assert_eq!(jobs.last(), Some(&network));

        let mut v = Vardiff::new(UnixMillis(0));
        for s in 1..=1200u64 {
            v.record(&config, UnixMillis(s * 1000), Difficulty(276));
            if s % 60 == 0 {
                assert_eq!(
                    v.retarget(
                        &config,
                        UnixMillis(s * 1000),
                        network,
                        DiffMode::Vardiff,
                        network
                    ),
                    None,
                    "at the ceiling, second {s}"
                );
            }
        }
    }

    #[test]
    fn a_difficulty_above_the_network_comes_down_to_it_at_once_in_every_governed_mode() {
        let config = VardiffConfig::default();
        let network = Difficulty(1000);
        for mode in [DiffMode::Vardiff, DiffMode::NiceHash, DiffMode::Proxy] {
            // Right after connect: no retarget is due, the ceiling applies anyway.
            let mut v = Vardiff::new(UnixMillis(0));
            assert_eq!(
                v.retarget(&config, UnixMillis(1), Difficulty(50_000), mode, network),
                Some(network),
                "{mode:?}"
            );
            // A due retarget that proposes more is held at the ceiling too.
            let mut v = Vardiff::new(UnixMillis(0));
            for s in 1..=600u64 {
                v.record(&config, UnixMillis(s * 1000), Difficulty(100_000));
            }
            assert_eq!(
                v.retarget(&config, UnixMillis(600_000), Difficulty(900), mode, network),
                Some(network),
                "{mode:?}"
            );
        }
        // `+N` is the miner's word: the job caps it, vardiff leaves it.
        let mut v = Vardiff::new(UnixMillis(0));
        assert_eq!(
            v.retarget(
                &config,
                UnixMillis(1),
                Difficulty(50_000),
                DiffMode::Fixed,
                network
            ),
            None
        );
    }

    #[test]
    fn vardiff_climbs_again_by_the_clamp_when_the_network_difficulty_rises() {
        let config = VardiffConfig::default();
        // 1,000 for the first hour, then 1,000,000; the miner wants 30,000 (1 kH/s).
        let jobs = simulate_under(&config, 1_000, 1_000, 7200, |s| {
            Difficulty(if s <= 3600 { 1_000 } else { 1_000_000 })
        });
        assert!(jobs[..3600].iter().all(|d| d.0 <= 1_000));
        // One step after the rise may at most double (max_change_pct 100): no jump.
        for pair in jobs[3600..].windows(2) {
            assert!(pair[1].0 <= pair[0].0 * 2, "{} → {}", pair[0].0, pair[1].0);
        }
        let last = jobs.last().map_or(0, |d| d.0);
        assert!(near(last, 30_000, 25), "ended at {last}");
    }

    proptest! {
        #[test]
        fn retarget_respects_min_max_and_clamp(
            shares in proptest::collection::vec((0u64..600_000, 1u64..u64::MAX / 1024), 0..50),
            current in 1u64..u64::MAX / 4,
            now in 30_000u64..10_000_000,
            min in 1u64..10_000, max in 10_000u64..u64::MAX / 4, pct in 1u64..500,
            mode in prop_oneof![Just(DiffMode::Vardiff), Just(DiffMode::NiceHash), Just(DiffMode::Proxy)],
        ) {
            let config = VardiffConfig { min, max, max_change_pct: pct, ..VardiffConfig::default() };
            let mut v = Vardiff::new(UnixMillis(0));
            for (t, d) in shares {
                v.record(&config, UnixMillis(t.min(now)), Difficulty(u128::from(d)));
            }
            let cur = Difficulty(u128::from(current));
            if let Some(d) = v.retarget(&config, UnixMillis(now), cur, mode, UNCAPPED) {
                prop_assert!(d.0 >= u128::from(min));
                prop_assert!(d.0 <= u128::from(u64::MAX));
                if mode == DiffMode::Vardiff {
                    prop_assert!(d.0 <= u128::from(max));
                }
                let in_clamp = d.0 <= cur.0 * (100 + u128::from(pct)) / 100
                    && d.0 >= cur.0 * 100 / (100 + u128::from(pct));
                let at_bound = d.0 == u128::from(min) || d.0 == u128::from(max)
                    || d.0 == u128::from(config.nicehash_min);
                prop_assert!(in_clamp || at_bound, "{} → {}", cur.0, d.0);
            }
        }

        #[test]
        fn no_governed_difficulty_is_ever_above_the_ceiling(
            shares in proptest::collection::vec((0u64..600_000, 1u64..u64::MAX / 1024), 0..50),
            current in 1u64..u64::MAX / 4,
            now in 0u64..10_000_000,
            ceiling in 1u64..u64::MAX / 4,
            mode in prop_oneof![Just(DiffMode::Vardiff), Just(DiffMode::NiceHash), Just(DiffMode::Proxy)],
        ) {
            let config = VardiffConfig::default();
            let mut v = Vardiff::new(UnixMillis(0));
            for (t, d) in shares {
                v.record(&config, UnixMillis(t.min(now)), Difficulty(u128::from(d)));
            }
            let cur = Difficulty(u128::from(current));
            let ceiling = Difficulty(u128::from(ceiling));
            let next = v.retarget(&config, UnixMillis(now), cur, mode, ceiling).unwrap_or(cur);
            prop_assert!(next <= ceiling, "{} → {} over {}", cur.0, next.0, ceiling.0);
        }
    }
}
