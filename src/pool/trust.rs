//! Share trust in MoneroOcean's hardened form (reference §3.2): a miner that has sent enough
//! verified shares may have a share accepted without hashing it, with a probability that grows
//! per accepted share up to a ceiling.
//!
//! Rules enforced here: trust needs `threshold` verified shares first; the skip is decided by
//! ONE random byte drawn per share (passed in, so tests drive it); shares at or above
//! `max_difficulty` and every share whose claimed hash would be a block candidate are always
//! verified; one bad share resets everything and adds a penalty. Trust lives in the session
//! (lost on reconnect). No I/O, no randomness source of its own.

/// Trust settings (MySQL `pool.trust*` items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustConfig {
    /// `pool.trustedMiners`.
    pub enabled: bool,
    /// `pool.trustThreshold`: verified shares before any share may be skipped.
    pub threshold: u32,
    /// `pool.trustMin`: the verify probability never drops below `min / 256`.
    pub min: u16,
    /// `pool.trustChange`: each accepted share lowers the verify probability by this / 256.
    pub change: u16,
    /// `pool.trustPenalty`: extra verified shares required after a bad share.
    pub penalty: u32,
    /// `pool.trustMaxDifficulty`: shares of this job difficulty or more are always verified.
    pub max_difficulty: u64,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            enabled: true,
            threshold: 30,
            min: 20,
            change: 1,
            penalty: 30,
            max_difficulty: 400_000,
        }
    }
}

/// Per-session trust state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// Verified shares still needed.
    remaining: u32,
    /// Verify probability × 256 (256 = always).
    probability: u16,
}

impl Trust {
    pub fn new(config: &TrustConfig) -> Trust {
        Trust {
            remaining: config.threshold,
            probability: 256,
        }
    }

    /// Whether this share must be hashed. `draw` is one uniformly random byte.
    pub fn must_verify(
        &self,
        config: &TrustConfig,
        job_difficulty: u64,
        claimed_block_candidate: bool,
        draw: u8,
    ) -> bool {
        !config.enabled
            || claimed_block_candidate
            || job_difficulty >= config.max_difficulty
            || self.remaining > 0
            || u16::from(draw) < self.probability
    }

    /// An accepted share; `verified` says whether it was hashed.
    pub fn accepted(&mut self, config: &TrustConfig, verified: bool) {
        if verified {
            self.remaining = self.remaining.saturating_sub(1);
        }
        if self.remaining == 0 {
            self.probability = self
                .probability
                .saturating_sub(config.change)
                .max(config.min.min(256));
        }
    }

    /// A bad share: trust starts over, with the penalty on top.
    pub fn broken(&mut self, config: &TrustConfig) {
        self.remaining = config.threshold.saturating_add(config.penalty);
        self.probability = 256;
    }

    /// Whether the miner has earned trust: its verified shares reached the threshold and no
    /// bad share has happened since (its shares are then hashed only as random samples).
    pub fn is_trusted(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trusted(config: &TrustConfig) -> Trust {
        let mut t = Trust::new(config);
        for _ in 0..1000 {
            t.accepted(config, true);
        }
        t
    }

    #[test]
    fn untrusted_miners_are_always_verified() {
        let config = TrustConfig::default();
        let mut t = Trust::new(&config);
        for _ in 0..29 {
            assert!(t.must_verify(&config, 1000, false, 255));
            t.accepted(&config, true);
        }
        t.accepted(&config, true);
        assert!(t.is_trusted());
    }

    #[test]
    fn trusted_miners_skip_with_growing_probability_down_to_the_floor() {
        let config = TrustConfig::default();
        let t = trusted(&config);
        assert!(!t.must_verify(&config, 1000, false, 20));
        assert!(t.must_verify(&config, 1000, false, 19));
    }

    #[test]
    fn trust_never_skips_a_block_candidate_or_a_high_difficulty_share() {
        let config = TrustConfig::default();
        let t = trusted(&config);
        for draw in 0..=255u8 {
            assert!(t.must_verify(&config, 1000, true, draw));
            assert!(t.must_verify(&config, 400_000, false, draw));
        }
    }

    #[test]
    fn one_bad_share_resets_trust_with_a_penalty() {
        let config = TrustConfig::default();
        let mut t = trusted(&config);
        t.broken(&config);
        assert!(!t.is_trusted());
        for _ in 0..59 {
            t.accepted(&config, true);
        }
        assert!(!t.is_trusted());
        t.accepted(&config, true);
        assert!(t.is_trusted());
    }

    #[test]
    fn trust_disabled_verifies_everything() {
        let config = TrustConfig {
            enabled: false,
            ..TrustConfig::default()
        };
        let t = trusted(&config);
        assert!(t.must_verify(&config, 1, false, 255));
    }

    #[test]
    fn unverified_shares_do_not_build_trust() {
        let config = TrustConfig::default();
        let mut t = Trust::new(&config);
        for _ in 0..1000 {
            t.accepted(&config, false);
        }
        assert!(!t.is_trusted());
    }

    proptest! {
        #[test]
        fn block_candidates_are_verified_whatever_the_history(
            events in proptest::collection::vec(any::<bool>(), 0..500), draw: u8, diff: u64
        ) {
            let config = TrustConfig::default();
            let mut t = Trust::new(&config);
            for good in events {
                if good { t.accepted(&config, true) } else { t.broken(&config) }
            }
            prop_assert!(t.must_verify(&config, diff, true, draw));
        }
    }
}
