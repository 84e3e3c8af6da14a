//! The PPLNS window walk, shared by the block-manager (which credits a block from it) and the
//! cleaner (which must never prune a share the walk of a pending block would count).
//!
//! The window is N = `pplns.shareMulti` × the block's difficulty, in difficulty units. The
//! walk takes PPLNS shares in the order the share store yields them (newest first, from the
//! block's template height down) and sums their credited difficulty until N is reached; the
//! share that crosses N counts only for the part that fits (the exact cut), later shares are
//! not read. The walk ends when the iterator does (the oldest stored share) when the store
//! holds less than N. [`window_floor`] is the lowest height such a walk reads, the one fact
//! the cleaner needs. Pure: no I/O, no floats.

use std::collections::HashMap;
use std::hash::Hash;

use super::{Difficulty, Height, PoolType};

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

/// The lowest template height a walk of `shares` (newest first) for `wanted` difficulty
/// counts a share from, or `None` when it counts none. Pruning only heights strictly below it
/// leaves the walk, and so the split, unchanged: the walk reads nothing below it when the
/// window fills, and when it runs short it has counted every PPLNS share there is, the lowest
/// of them at this height.
pub fn window_floor<K, I>(shares: I, wanted: Difficulty) -> Option<Height>
where
    K: Eq + Hash + Ord + Copy,
    I: IntoIterator<Item = ShareView<K>>,
{
    walk(shares, wanted).heights.map(|(_, oldest)| oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(height: u64, difficulty: u64, pool_type: PoolType) -> ShareView<u32> {
        ShareView {
            height: Height(height),
            payee: 1,
            pool_type,
            difficulty,
        }
    }

    #[test]
    fn the_floor_is_the_height_of_the_share_that_fills_the_window() {
        let shares = vec![
            share(10, 400, PoolType::Pplns),
            share(9, 400, PoolType::Pplns),
            share(8, 400, PoolType::Pplns),
            share(7, 400, PoolType::Pplns),
        ];
        assert_eq!(window_floor(shares, Difficulty(1_000)), Some(Height(8)));
    }

    #[test]
    fn a_short_window_reaches_the_lowest_pplns_share_and_other_modes_do_not_count() {
        let shares = vec![
            share(10, 400, PoolType::Pplns),
            share(9, 400, PoolType::Pps),
            share(8, 400, PoolType::Pplns),
            share(7, 9_000, PoolType::Solo),
        ];
        assert_eq!(window_floor(shares, Difficulty(1_000)), Some(Height(8)));
        assert_eq!(
            window_floor(Vec::<ShareView<u32>>::new(), Difficulty(1)),
            None
        );
    }
}
