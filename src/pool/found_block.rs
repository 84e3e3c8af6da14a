//! A found block is never lost: it is recorded durably in LMDB as a `Candidate` (with its
//! blob) BEFORE it is submitted, then submitted to every daemon, then its record moves to
//! `Pending` (a daemon accepted it) or `Orphaned` (every daemon refused it). An unanswered
//! submission leaves it `Candidate`.
//!
//! Whatever happens after the first write (a crash, a failed status write, a daemon that lost
//! the block), the block-manager resolves the record against the chain: our hash at the
//! height → confirmed and credited as usual; another block settled there → orphaned; the
//! chain not yet at that height → the stored blob is submitted again. A failed first write
//! does not stop the submission (a block on the chain is worth more than a record; the
//! block-manager's wallet scan reports blocks paying the pool wallet that nothing recorded).
//!
//! Fail points: `pool:block_before_submit` (recorded, not submitted) and
//! `pool:block_after_submit` (submitted, its status and the finder's share not written).
//! Owns only this order; the share checks are `validate`'s, the chain decisions the
//! block-manager's.

use super::state::{BlockSubmitResult, Shared};
use crate::runtime::failpoint;
use crate::store::lmdb::{BlockKey, BlockStatus, BlockUpdate, FoundBlock};

/// Records `block` (status `Candidate`, blob set), submits its blob, and records the outcome.
/// Returns what the daemons said.
pub async fn submit(shared: &Shared, mut block: FoundBlock) -> BlockSubmitResult {
    block.status = BlockStatus::Candidate;
    let key = BlockKey {
        height: block.height,
        hash: block.hash,
    };
    let blob = block.blob.clone();
    let recorded = match shared.sink.record_block(block).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(alert = true, error = %e, block.height = %key.height, block.hash = %key.hash, "could not record a found block before submitting it; submitting anyway");
            false
        }
    };
    failpoint::hit("pool:block_before_submit");
    let result = shared.submitter.submit_block(blob).await;
    failpoint::hit("pool:block_after_submit");
    shared.refresh.notify_one();
    if !recorded {
        return result;
    }
    let update = if result.accepted {
        Some((BlockStatus::Pending, "submitted".to_owned()))
    } else if result.uncertain {
        // Maybe on the chain: stays a candidate, resolved (or submitted again) by the
        // block-manager.
        None
    } else {
        Some((
            BlockStatus::Orphaned,
            format!("rejected by every daemon: {}", result.details.join("; ")),
        ))
    };
    if let Some((status, reason)) = update {
        let update = BlockUpdate {
            status,
            reason,
            reward: None,
            at: shared.now(),
        };
        if let Err(e) = shared.sink.update_block(key, update).await {
            // The record stays `Candidate`; the block-manager resolves it against the chain.
            tracing::warn!(error = %e, block.height = %key.height, block.hash = %key.hash, "could not record a block's submission; the block-manager will check it against the chain");
        }
    }
    result
}
