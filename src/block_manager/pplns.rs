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
//! snapshot and resolve each distinct id to an address once. The walk itself lives in
//! [`crate::domain::pplns`] (re-exported here), because the cleaner role must walk every
//! pending block's window exactly as crediting will before it prunes. No I/O, no floats.

use super::split::{FeePolicy, Payee, SettleError, Settlement};
pub use crate::domain::pplns::{ShareView, Window, walk, window_size};
use crate::domain::{Atomic, BalanceType};

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
    use crate::domain::{Bps, Difficulty, Height, PoolType};
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
