//! The safe floor: the lowest template height any payout may still need, so that every share
//! below it can go.
//!
//! Computed from ONE LMDB snapshot plus what MySQL said (the PPS cursor, uncredited blocks),
//! as the minimum of these needs, minus `cleaner.margin`:
//! - PPLNS: every found block not yet credited (candidate, pending, or unlocked without its
//!   paid-block row) needs the lowest height its window walk counts from
//!   ([`crate::domain::pplns::window_floor`], walked from its height over
//!   [`Snapshot::share_views_down_from`], exactly as crediting walks it); a block whose
//!   difficulty is unknown needs everything;
//! - the next block: a block found now at the newest share height would walk its window at the
//!   current network difficulty (unknown difficulty: keep everything);
//! - PPS: every height from the crediting cursor up, and every height set aside;
//! - solo (and any other uncredited block): its own height;
//! - and never above the chain tip minus `cleaner.minRetention`.
//!
//! Blocking (a `Snapshot` is `!Send`): run it on the blocking pool. Writes nothing.

use std::collections::HashSet;

use crate::domain::pplns::{window_floor, window_size};
use crate::domain::{Difficulty, Hash32, Height, PoolType};
use crate::store::lmdb::{BlockStatus, Snapshot, StoreError};

/// What the floor needs besides the share store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorInputs {
    /// The chain tip (monerod's last block), if monerod answered.
    pub tip: Option<Height>,
    /// The current network difficulty (of the tip), if known.
    pub difficulty: Option<Difficulty>,
    /// `pplns.shareMulti`.
    pub share_multi: u64,
    /// `cleaner.margin`, heights.
    pub margin: u64,
    /// `cleaner.minRetention`, heights below the tip never pruned.
    pub min_retention: u64,
    /// The lowest height PPS crediting still needs.
    pub pps: PpsNeed,
    /// Unlocked blocks with no paid-block row in MySQL: treated as not yet credited.
    pub uncredited_unlocked: HashSet<Hash32>,
}

/// What PPS crediting still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PpsNeed {
    /// PPS is off and never started: it needs no share.
    Nothing,
    /// Every height from this one up (the cursor, or a lower height set aside).
    From(Height),
    /// PPS is on but has not started (no cursor yet): it will start at the oldest share.
    Everything,
}

/// Which need set the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Nothing is stored.
    Empty,
    /// The minimum retention below the tip.
    Retention,
    /// The PPLNS window of an uncredited block at this height.
    PplnsBlock(Height),
    /// The window a block found now would walk.
    NextBlock,
    /// PPS crediting.
    Pps,
    /// An uncredited solo or PPS block's own height.
    Block(Height),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Empty => f.write_str("no shares"),
            Bound::Retention => f.write_str("minimum retention below the tip"),
            Bound::PplnsBlock(h) => write!(f, "PPLNS window of the uncredited block at {h}"),
            Bound::NextBlock => f.write_str("PPLNS window of the next block"),
            Bound::Pps => f.write_str("PPS crediting"),
            Bound::Block(h) => write!(f, "uncredited block at {h}"),
        }
    }
}

/// The floor and why it is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// Every share height strictly below this may be deleted.
    pub below: Height,
    /// The need that set it.
    pub bound: Bound,
    /// Lowest and highest share heights stored.
    pub stored: Option<(Height, Height)>,
    /// Found blocks not yet credited that were looked at.
    pub uncredited_blocks: usize,
}

/// Computes the floor over `snap`.
pub fn compute(snap: &Snapshot<'_>, inputs: &FloorInputs) -> Result<Floor, StoreError> {
    let stored = snap.share_heights()?;
    let Some((_, newest)) = stored else {
        return Ok(Floor {
            below: Height(0),
            bound: Bound::Empty,
            stored,
            uncredited_blocks: 0,
        });
    };
    // The tip from monerod; without it the newest share's template height (one above the tip
    // it was mined on), which is never lower than the real tip by more than a block or two.
    let tip = inputs.tip.unwrap_or(newest);
    // Every need but the retention keeps `margin` more heights below it.
    let mut need = (
        Height(tip.0.saturating_sub(inputs.min_retention)),
        Bound::Retention,
    );
    let margin = inputs.margin;
    let mut lower = |height: Height, bound: Bound| {
        let height = Height(height.0.saturating_sub(margin));
        if height < need.0 {
            need = (height, bound);
        }
    };
    let mut uncredited = 0;
    let mut blocks = snap.blocks_with_status(BlockStatus::Candidate)?;
    blocks.extend(snap.blocks_with_status(BlockStatus::Pending)?);
    for b in snap.blocks_with_status(BlockStatus::Unlocked)? {
        if inputs.uncredited_unlocked.contains(&b.record.hash) {
            blocks.push(b);
        }
    }
    for block in &blocks {
        uncredited += 1;
        let rec = &block.record;
        match rec.pool_type {
            PoolType::Pplns => {
                let floor = pplns_floor(snap, rec.height, rec.network_difficulty, inputs)?;
                lower(floor.min(rec.height), Bound::PplnsBlock(rec.height));
            }
            PoolType::Pps | PoolType::Solo => lower(rec.height, Bound::Block(rec.height)),
        }
    }
    // The next block: found now, at the newest template height, at today's difficulty (or the
    // newest found block's, when monerod did not answer).
    let difficulty = match inputs.difficulty {
        Some(d) => Some(d),
        None => snap
            .recent_blocks(1)?
            .first()
            .map(|b| b.record.network_difficulty),
    };
    let next = match difficulty {
        Some(d) => pplns_floor(snap, newest, d, inputs)?,
        None => Height(0),
    };
    lower(next, Bound::NextBlock);
    match inputs.pps {
        PpsNeed::Nothing => {}
        PpsNeed::From(h) => lower(h, Bound::Pps),
        PpsNeed::Everything => lower(Height(0), Bound::Pps),
    }
    let (below, bound) = need;
    Ok(Floor {
        below,
        bound,
        stored,
        uncredited_blocks: uncredited,
    })
}

/// The lowest height the PPLNS walk of a block at `height` with `difficulty` counts from
/// (the block's own height when it counts nothing; 0 when the difficulty is unknown).
fn pplns_floor(
    snap: &Snapshot<'_>,
    height: Height,
    difficulty: Difficulty,
    inputs: &FloorInputs,
) -> Result<Height, StoreError> {
    if difficulty.0 == 0 {
        return Ok(Height(0));
    }
    let wanted = window_size(difficulty, inputs.share_multi);
    let mut failed = None;
    let views = snap
        .share_views_down_from(height)?
        .map_while(|item| match item {
            Ok(v) => Some(v),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
    let floor = window_floor(views, wanted);
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(floor.unwrap_or(height))
}
