//! PPLNS: the window walk and the proportional split of one block's reward.
//!
//! The window is N = `pplns.shareMulti` × the block's difficulty, in difficulty units. The
//! walk takes PPLNS shares in the order the share store yields them (newest first, from the
//! block's template height down) and sums their credited difficulty until N is reached; the
//! share that crosses N counts only for the part that fits (the exact cut), later shares earn
//! nothing. Each payee then earns `(reward − fee) × difficulty / W`, rounded down, where W is
//! the filled window: N normally, or everything the store holds when the pool is younger than
//! one window (the reward is still paid in full, proportionally; the fill is recorded). The
//! walk ends when the iterator does (the oldest stored share), never by counting down to
//! height 0. Fee and dust follow [`super::split`].
//!
//! Generic over the payee key `K` so the walk can aggregate interned miner ids from one LMDB
//! snapshot and resolve each distinct id to an address once. No I/O, no floats.

use std::collections::HashMap;
use std::hash::Hash;

use super::split::{FeePolicy, Payee, SettleError, Settlement};
use crate::domain::{Atomic, BalanceType, Difficulty, Height, PoolType};

/// What the walk needs of one stored share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareView<K> {
    /// The template height the share was mined on (its share-store key).
    pub height: Height,
    /// Who is paid for it (an interned miner id, or the payee itself).
    pub payee: K,
    pub pool_type: PoolType,
    /// The difficulty credited for this share.
    pub difficulty: u64,
}

/// The result of one window walk: difficulty per payee, summing to `filled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window<K> {
    /// N, the difficulty the window asked for.
    pub wanted: Difficulty,
    /// W, the difficulty actually counted (`== wanted` unless the store ran out of shares).
    pub filled: Difficulty,
    /// PPLNS shares counted (the cut share included).
    pub shares: u64,
    /// Heights of the newest and oldest share counted.
    pub heights: Option<(Height, Height)>,
    /// Counted difficulty per payee, sorted by payee key.
    pub per_payee: Vec<(K, u128)>,
}

impl<K> Window<K> {
    /// True when the store held fewer than N PPLNS shares.
    pub fn is_short(&self) -> bool {
        self.filled < self.wanted
    }

    /// The window fill in basis points (10,000 = full).
    pub fn fill_bps(&self) -> u16 {
        if self.wanted.0 == 0 {
            return 0;
        }
        let bps = primitive_types::U256::from(self.filled.0) * primitive_types::U256::from(10_000)
            / primitive_types::U256::from(self.wanted.0);
        bps.min(primitive_types::U256::from(10_000)).as_u32() as u16
    }
}

/// N for a block: `share_multi` × its difficulty, saturating (a u128 window never saturates on
/// a real chain).
pub fn window_size(block_difficulty: Difficulty, share_multi: u64) -> Difficulty {
    Difficulty(block_difficulty.0.saturating_mul(u128::from(share_multi)))
}

/// Walks `shares` (newest first) until `wanted` difficulty of PPLNS shares is counted.
/// Shares of other pool types are skipped; the iterator is not read past the cut.
pub fn walk<K, I>(shares: I, wanted: Difficulty) -> Window<K>
where
    K: Eq + Hash + Ord + Copy,
    I: IntoIterator<Item = ShareView<K>>,
{
    let mut per_payee: HashMap<K, u128> = HashMap::new();
    let mut filled: u128 = 0;
    let mut count: u64 = 0;
    let mut newest: Option<Height> = None;
    let mut oldest: Option<Height> = None;
    if wanted.0 > 0 {
        for share in shares {
            if share.pool_type != PoolType::Pplns || share.difficulty == 0 {
                continue;
            }
            let room = wanted.0 - filled;
            let counted = u128::from(share.difficulty).min(room);
            *per_payee.entry(share.payee).or_insert(0) += counted;
            filled += counted;
            count += 1;
            newest.get_or_insert(share.height);
            oldest = Some(share.height);
            if filled == wanted.0 {
                break;
            }
        }
    }
    let mut per_payee: Vec<(K, u128)> = per_payee.into_iter().collect();
    per_payee.sort_unstable_by_key(|a| a.0);
    Window {
        wanted,
        filled: Difficulty(filled),
        shares: count,
        heights: newest.zip(oldest),
        per_payee,
    }
}

/// Splits `reward` over `window` under `policy`. `resolve` turns each distinct payee key
/// into the balance owner (called once per key). An empty window pays the whole reward as
/// fee (the caller logs it: a found block always has at least its own share unless shares
/// were pruned).
pub fn settle<K: Copy>(
    reward: Atomic,
    window: &Window<K>,
    policy: &FeePolicy,
    mut resolve: impl FnMut(K) -> Payee,
) -> Result<Settlement, SettleError> {
    let pot = policy.after_fee(reward);
    let filled = window.filled.0;
    let credits = window.per_payee.iter().map(|&(key, difficulty)| {
        let amount = if filled == 0 {
            Atomic::ZERO
        } else {
            // difficulty <= filled, so the quotient fits in u64.
            pot.mul_div(difficulty, filled).unwrap_or(Atomic::ZERO)
        };
        (resolve(key), BalanceType::Pplns, amount)
    });
    Settlement::new(reward, credits, policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Bps;
    use proptest::prelude::*;

    fn share(height: u64, payee: u32, pool_type: PoolType, difficulty: u64) -> ShareView<u32> {
        ShareView {
            height: Height(height),
            payee,
            pool_type,
            difficulty,
        }
    }

    fn policy(rate: u16) -> FeePolicy {
        FeePolicy::new(
            Bps(rate),
            Payee::address("fee"),
            vec![(Payee::address("dev"), Bps(300))],
        )
        .unwrap()
    }

    fn name(k: u32) -> Payee {
        Payee::address(format!("miner{k}"))
    }

    #[test]
    fn the_share_that_crosses_the_window_is_cut_exactly() {
        let shares = vec![
            share(10, 1, PoolType::Pplns, 600),
            share(10, 2, PoolType::Pplns, 300),
            share(9, 3, PoolType::Pplns, 500),
            share(9, 4, PoolType::Pplns, 500),
        ];
        let w = walk(shares, Difficulty(1_000));
        assert_eq!(w.filled, Difficulty(1_000));
        assert_eq!(w.per_payee, vec![(1, 600), (2, 300), (3, 100)]);
        assert_eq!(w.shares, 3);
        assert_eq!(w.heights, Some((Height(10), Height(9))));
        assert!(!w.is_short());
        assert_eq!(w.fill_bps(), 10_000);
    }

    #[test]
    fn other_pool_types_do_not_fill_the_window() {
        let shares = vec![
            share(10, 1, PoolType::Pps, 1_000),
            share(10, 2, PoolType::Solo, 1_000),
            share(10, 3, PoolType::Pplns, 400),
        ];
        let w = walk(shares, Difficulty(1_000));
        assert_eq!(w.per_payee, vec![(3, 400)]);
        assert!(w.is_short());
        assert_eq!(w.fill_bps(), 4_000);
    }

    #[test]
    fn a_short_window_still_pays_the_whole_reward() {
        let w = walk(
            vec![
                share(5, 1, PoolType::Pplns, 100),
                share(4, 2, PoolType::Pplns, 300),
            ],
            Difficulty(10_000),
        );
        let s = settle(Atomic(1_000_000), &w, &policy(0), name).unwrap();
        let m1 = s.credits().iter().find(|c| c.payee == name(1)).unwrap();
        let m2 = s.credits().iter().find(|c| c.payee == name(2)).unwrap();
        assert_eq!(m1.amount, Atomic(250_000));
        assert_eq!(m2.amount, Atomic(750_000));
        assert_eq!(s.total(), Some(Atomic(1_000_000)));
    }

    #[test]
    fn nodejs_pool_worked_example_matches_per_share_within_a_unit() {
        // Reference §4.3: D = 300e9, R = 0.6e12, N = 600e9, a 120,000-diff share earns
        // 120,000 gross, 0.6 % fee → 119,280 to the miner.
        let n = window_size(Difficulty(300_000_000_000), 2);
        let mut shares = vec![share(100, 1, PoolType::Pplns, 120_000)];
        shares.push(share(99, 2, PoolType::Pplns, 600_000_000_000));
        let w = walk(shares, n);
        let s = settle(Atomic(600_000_000_000), &w, &policy(60), name).unwrap();
        let m1 = s.credits().iter().find(|c| c.payee == name(1)).unwrap();
        assert_eq!(m1.amount, Atomic(119_280));
        assert_eq!(s.total(), Some(Atomic(600_000_000_000)));
    }

    #[test]
    fn an_empty_window_pays_everything_to_the_fee_address() {
        let w: Window<u32> = walk(Vec::new(), Difficulty(10));
        let s = settle(Atomic(77), &w, &policy(60), name).unwrap();
        assert_eq!(s.miners_total(), Atomic::ZERO);
        assert_eq!(s.total(), Some(Atomic(77)));
    }

    #[test]
    fn the_walk_does_not_read_past_the_cut() {
        let mut read = 0;
        let shares = (0..1_000u64).map(|i| {
            read += 1;
            share(1_000 - i, 1, PoolType::Pplns, 10)
        });
        let w = walk(shares, Difficulty(100));
        assert_eq!(w.shares, 10);
        assert_eq!(read, 10);
    }

    fn arb_shares() -> impl Strategy<Value = Vec<ShareView<u32>>> {
        proptest::collection::vec(
            (
                0u32..50,
                prop_oneof![
                    Just(PoolType::Pplns),
                    Just(PoolType::Pps),
                    Just(PoolType::Solo)
                ],
                0u64..=u64::MAX >> 8,
            ),
            0..300,
        )
        .prop_map(|v| {
            let len = v.len() as u64;
            v.into_iter()
                .enumerate()
                .map(|(i, (payee, pool_type, difficulty))| {
                    share(len - i as u64 / 3, payee, pool_type, difficulty)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn credits_and_fees_equal_the_reward_exactly(
            shares in arb_shares(),
            reward in any::<u64>(),
            rate in 0u16..=10_000,
            wanted in 1u128..=u128::from(u64::MAX) * 4,
        ) {
            let w = walk(shares, Difficulty(wanted));
            let s = settle(Atomic(reward), &w, &policy(rate), name).unwrap();
            prop_assert_eq!(s.total(), Some(Atomic(reward)));
            prop_assert!(s.fees_total() >= Atomic(reward).fee(Bps(rate)));
        }

        #[test]
        fn the_window_holds_exactly_min_of_wanted_and_available(
            shares in arb_shares(),
            wanted in 1u128..=u128::from(u64::MAX) * 4,
        ) {
            let available: u128 = shares.iter()
                .filter(|s| s.pool_type == PoolType::Pplns)
                .map(|s| u128::from(s.difficulty)).sum();
            let w = walk(shares.clone(), Difficulty(wanted));
            prop_assert_eq!(w.filled.0, available.min(wanted));
            prop_assert_eq!(w.per_payee.iter().map(|(_, d)| *d).sum::<u128>(), w.filled.0);
        }

        #[test]
        fn shares_outside_the_window_earn_nothing(
            shares in arb_shares(),
            wanted in 1u128..=u128::from(u64::MAX),
            reward in any::<u64>(),
        ) {
            // Recompute the counted prefix by hand; any payee only seen after it earns nothing.
            let mut filled = 0u128;
            let mut inside = std::collections::HashSet::new();
            for s in shares.iter().filter(|s| s.pool_type == PoolType::Pplns && s.difficulty > 0) {
                if filled >= wanted { break; }
                filled += u128::from(s.difficulty).min(wanted - filled);
                inside.insert(s.payee);
            }
            let w = walk(shares.clone(), Difficulty(wanted));
            let s = settle(Atomic(reward), &w, &policy(0), name).unwrap();
            for c in s.credits() {
                if c.balance_type == BalanceType::Pplns {
                    let id: u32 = c.payee.address.trim_start_matches("miner").parse().unwrap();
                    prop_assert!(inside.contains(&id), "payee {} outside the window was paid", id);
                }
            }
        }

        #[test]
        fn a_payee_earns_their_proportion_rounded_down(
            shares in arb_shares(),
            reward in any::<u64>(),
            rate in 0u16..=10_000,
        ) {
            let w = walk(shares, Difficulty(u128::MAX));
            prop_assume!(w.filled.0 > 0);
            let p = policy(rate);
            let s = settle(Atomic(reward), &w, &p, name).unwrap();
            let pot = primitive_types::U256::from(p.after_fee(Atomic(reward)).0);
            for (k, d) in &w.per_payee {
                let expect = (pot * primitive_types::U256::from(*d) / primitive_types::U256::from(w.filled.0)).as_u64();
                let got = s.credits().iter()
                    .find(|c| c.payee == name(*k) && c.balance_type == BalanceType::Pplns)
                    .map_or(0, |c| c.amount.0);
                prop_assert_eq!(got, expect);
            }
        }
    }
}
