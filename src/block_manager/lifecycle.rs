//! The found-block lifecycle: Pending → Unlocked or Orphaned, decided against the chain.
//!
//! ```text
//!             chain has our hash at H, depth ≥ blocksRequired        credit committed
//!   Pending ─────────────────────────────────────────────────► Unlock ───────────► Unlocked
//!      │  ▲
//!      │  └── daemon down / behind / not deep yet / replaced but shallow: stay Pending (Wait)
//!      │
//!      └── chain has another hash at H, depth ≥ blocksRequired ───────────────────► Orphaned
//! ```
//! Unlocked and Orphaned are final: [`check`] is only asked about pending blocks, and the
//! unlocker never credits a block whose paid-block row exists (see `store::mysql::credits`).
//! A replacement at our height is only final once it is as deep as an unlock would need to
//! be: a shallow reorg can still swap our block back in, and marking it orphaned early would
//! lose its reward. Two blocks at one height are checked independently (one of them, at
//! most, is on the chain).
//!
//! Owns the decision only; reading the daemon and writing the status are the unlocker's job.

use std::fmt;

use crate::domain::{Hash32, Height};

/// What the daemon told us about height `H` (the block's height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainAt {
    /// The daemon could not be asked (every URL failed).
    Unavailable,
    /// The daemon's chain is not that high yet (syncing, or it lost recent blocks).
    Behind { tip: Height },
    /// The chain holds `hash` at `H`; `tip` is the daemon's top height.
    Block { hash: Hash32, tip: Height },
}

/// Why a pending block stays pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    DaemonUnavailable,
    DaemonBehind {
        tip: Height,
    },
    /// Our block is on the chain, `depth` blocks deep of the `required`.
    Confirming {
        depth: u64,
        required: u64,
    },
    /// Another block holds our height, but not deep enough to be final.
    Replaced {
        chain_hash: Hash32,
        depth: u64,
        required: u64,
    },
}

/// Why a block was orphaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanReason {
    /// The chain holds `chain_hash` at our height, deep enough to be final.
    ReplacedAtHeight { chain_hash: Hash32 },
}

/// The verdict on one pending block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wait(WaitReason),
    /// On the chain and deep enough: credit it, then mark it unlocked.
    Unlock {
        depth: u64,
    },
    Orphan(OrphanReason),
}

/// Decides what to do with the pending block `(height, hash)` given the chain at its height.
pub fn check(height: Height, hash: Hash32, chain: ChainAt, blocks_required: u64) -> Verdict {
    match chain {
        ChainAt::Unavailable => Verdict::Wait(WaitReason::DaemonUnavailable),
        ChainAt::Behind { tip } => Verdict::Wait(WaitReason::DaemonBehind { tip }),
        ChainAt::Block {
            hash: chain_hash,
            tip,
        } => {
            if tip < height {
                return Verdict::Wait(WaitReason::DaemonBehind { tip });
            }
            let depth = tip.0 - height.0;
            let deep = depth >= blocks_required;
            match (chain_hash == hash, deep) {
                (true, true) => Verdict::Unlock { depth },
                (true, false) => Verdict::Wait(WaitReason::Confirming {
                    depth,
                    required: blocks_required,
                }),
                (false, true) => Verdict::Orphan(OrphanReason::ReplacedAtHeight { chain_hash }),
                (false, false) => Verdict::Wait(WaitReason::Replaced {
                    chain_hash,
                    depth,
                    required: blocks_required,
                }),
            }
        }
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::DaemonUnavailable => f.write_str("daemon unavailable"),
            WaitReason::DaemonBehind { tip } => write!(f, "daemon behind (tip {tip})"),
            WaitReason::Confirming { depth, required } => {
                write!(f, "confirming ({depth}/{required})")
            }
            WaitReason::Replaced {
                chain_hash,
                depth,
                required,
            } => write!(
                f,
                "replaced by {chain_hash} at this height ({depth}/{required} deep, not final)"
            ),
        }
    }
}

impl fmt::Display for OrphanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrphanReason::ReplacedAtHeight { chain_hash } => {
                write!(f, "replaced by {chain_hash} at this height")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: Hash32 = Hash32([1; 32]);
    const THEIRS: Hash32 = Hash32([2; 32]);

    #[test]
    fn every_transition_of_the_lifecycle() {
        let h = Height(100);
        let table = [
            (
                ChainAt::Unavailable,
                Verdict::Wait(WaitReason::DaemonUnavailable),
            ),
            (
                ChainAt::Behind { tip: Height(90) },
                Verdict::Wait(WaitReason::DaemonBehind { tip: Height(90) }),
            ),
            (
                ChainAt::Block {
                    hash: OURS,
                    tip: Height(159),
                },
                Verdict::Wait(WaitReason::Confirming {
                    depth: 59,
                    required: 60,
                }),
            ),
            (
                ChainAt::Block {
                    hash: OURS,
                    tip: Height(160),
                },
                Verdict::Unlock { depth: 60 },
            ),
            (
                ChainAt::Block {
                    hash: THEIRS,
                    tip: Height(101),
                },
                Verdict::Wait(WaitReason::Replaced {
                    chain_hash: THEIRS,
                    depth: 1,
                    required: 60,
                }),
            ),
            (
                ChainAt::Block {
                    hash: THEIRS,
                    tip: Height(160),
                },
                Verdict::Orphan(OrphanReason::ReplacedAtHeight { chain_hash: THEIRS }),
            ),
        ];
        for (chain, want) in table {
            assert_eq!(check(h, OURS, chain, 60), want, "{chain:?}");
        }
    }

    #[test]
    fn a_tip_below_the_block_is_a_daemon_behind() {
        let v = check(
            Height(100),
            OURS,
            ChainAt::Block {
                hash: THEIRS,
                tip: Height(50),
            },
            60,
        );
        assert_eq!(
            v,
            Verdict::Wait(WaitReason::DaemonBehind { tip: Height(50) })
        );
    }

    #[test]
    fn zero_blocks_required_unlocks_at_the_tip() {
        let v = check(
            Height(5),
            OURS,
            ChainAt::Block {
                hash: OURS,
                tip: Height(5),
            },
            0,
        );
        assert_eq!(v, Verdict::Unlock { depth: 0 });
    }
}
