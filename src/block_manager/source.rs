//! The block-manager's reads of the share store: pending blocks, the PPLNS window of one
//! block and the PPS shares of one height, each from ONE LMDB snapshot.
//!
//! Every function here is blocking (an LMDB read transaction must not live across an
//! `.await`, and `Snapshot` is `!Send`); the unlocker calls them through
//! `tokio::task::spawn_blocking`. Nothing here writes; status changes go through the
//! process's `ShareWriter` after the MySQL commit.

use std::sync::Arc;

use super::plan::{self, FoundBlockFacts, Params, Plan};
use super::pplns::ShareView;
use super::pps::{self, HeightCredit};
use super::split::{Payee, SettleError};
use crate::domain::{Atomic, Difficulty, Height};
use crate::store::lmdb::codec::{BlockStatus, MinerId, ShareRecord};
use crate::store::lmdb::{Block, ShareStore, Snapshot, StoreError};

/// A read or a computation over the share store failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("share references miner id {0} that the store does not know")]
    UnknownMiner(u32),
    #[error("share has an unknown pool type")]
    UnknownPoolType,
    #[error(transparent)]
    Settle(#[from] SettleError),
    #[error(transparent)]
    Pps(#[from] pps::PpsError),
}

/// Found blocks waiting for a verdict (pending, and candidates the pool recorded before
/// submitting them), lowest height first.
pub fn pending_blocks(store: &ShareStore) -> Result<Vec<Block>, SourceError> {
    let snap = store.read()?;
    let mut blocks = snap.blocks_with_status(BlockStatus::Pending)?;
    blocks.extend(snap.blocks_with_status(BlockStatus::Candidate)?);
    blocks.sort_by_key(|b| (b.record.height, b.record.hash));
    Ok(blocks)
}

fn view(height: Height, rec: &ShareRecord) -> Result<ShareView<MinerId>, SourceError> {
    Ok(ShareView {
        height,
        payee: rec.miner(),
        pool_type: rec.pool_type().ok_or(SourceError::UnknownPoolType)?,
        difficulty: rec.difficulty(),
    })
}

/// Resolves interned ids to payees, remembering the first id it could not resolve.
struct Resolver<'a, 's> {
    snap: &'a Snapshot<'s>,
    failed: Option<SourceError>,
}

impl Resolver<'_, '_> {
    fn resolve(&mut self, id: MinerId) -> Payee {
        match self.snap.miner(id) {
            Ok(Some(key)) => Payee::from_miner_key(key),
            Ok(None) => {
                self.failed.get_or_insert(SourceError::UnknownMiner(id.0));
                Payee::address("")
            }
            Err(err) => {
                self.failed.get_or_insert(err.into());
                Payee::address("")
            }
        }
    }
}

/// Plans the credits of one block from one snapshot: the PPLNS walk goes from the block's
/// height down to the oldest stored share.
pub fn plan_block(
    store: &ShareStore,
    facts: &FoundBlockFacts,
    params: &Params,
) -> Result<Plan, SourceError> {
    let snap = store.read()?;
    let mut read_error: Option<SourceError> = None;
    let shares = snap
        .share_views_down_from(facts.height)?
        .map_while(|item| match item {
            Ok(v) => Some(v),
            Err(err) => {
                read_error = Some(err.into());
                None
            }
        });
    let mut resolver = Resolver {
        snap: &snap,
        failed: None,
    };
    let plan = plan::plan_block(facts, shares, |id| resolver.resolve(id), params)?;
    if let Some(err) = read_error.or(resolver.failed) {
        return Err(err);
    }
    Ok(plan)
}

/// Values the PPS shares stored at `height` (one snapshot).
pub fn pps_height(
    store: &ShareStore,
    height: Height,
    base_reward: Atomic,
    network_difficulty: Difficulty,
    params: &Params,
) -> Result<HeightCredit, SourceError> {
    let snap = store.read()?;
    let mut shares = Vec::new();
    for item in snap.shares_at(height)? {
        shares.push(view(height, item?)?);
    }
    let mut resolver = Resolver {
        snap: &snap,
        failed: None,
    };
    let credit = pps::credit_height(
        shares,
        base_reward,
        network_difficulty,
        &params.policies.pps,
        |id| resolver.resolve(id),
    )?;
    if let Some(err) = resolver.failed {
        return Err(err);
    }
    Ok(credit)
}

/// The lowest template height holding shares, if any.
pub fn oldest_share_height(store: &ShareStore) -> Result<Option<Height>, SourceError> {
    Ok(store.read()?.share_heights()?.map(|(lo, _)| lo))
}

/// Runs a blocking read on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    store: &Arc<ShareStore>,
    read: impl FnOnce(&ShareStore) -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || read(&store))
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}
