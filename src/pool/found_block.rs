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
//! The finder's share is written by `validate` before this record (a share that meets the
//! network difficulty carries the found-block flag whether or not a daemon takes the block).
//!
//! Fail points: `pool:block_before_submit` (recorded, not submitted) and
//! `pool:block_after_submit` (submitted, its status not written).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Atomic, Difficulty, Hash32, Height, PoolType, SystemClock, UnixMillis};
    use crate::pool::services::LmdbSink;
    use crate::pool::settings::PoolSettings;
    use crate::pool::state::{
        BlockSubmitter, BoxFuture, HashFailure, ShareHasher, ShareSink, SinkError,
    };
    use crate::store::lmdb::{InvalidShare, NewShare, ShareStore, StoreOptions, WriterConfig};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Daemons that all answer `result`; counts the blobs they were sent.
    #[derive(Debug)]
    struct Daemons {
        result: BlockSubmitResult,
        sent: AtomicUsize,
    }

    impl BlockSubmitter for Daemons {
        fn submit_block(&self, blob: Vec<u8>) -> BoxFuture<'_, BlockSubmitResult> {
            assert_eq!(blob, vec![7; 100], "the block's own blob");
            self.sent.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { self.result.clone() })
        }
    }

    #[derive(Debug)]
    struct NoHasher;

    impl ShareHasher for NoHasher {
        fn hash(&self, _: Hash32, _: Vec<u8>) -> BoxFuture<'_, Result<Hash32, HashFailure>> {
            Box::pin(async { Err(HashFailure::Overloaded) })
        }
        fn set_seeds(&self, _: Hash32, _: Option<Hash32>) {}
    }

    /// A share store that refuses every write.
    #[derive(Debug)]
    struct BrokenStore;

    impl ShareSink for BrokenStore {
        fn append(&self, _: NewShare) -> BoxFuture<'_, Result<(), SinkError>> {
            Box::pin(async { Err(SinkError("disk full".into())) })
        }
        fn record_block(&self, _: FoundBlock) -> BoxFuture<'_, Result<(), SinkError>> {
            Box::pin(async { Err(SinkError("disk full".into())) })
        }
        fn update_block(
            &self,
            _: BlockKey,
            _: BlockUpdate,
        ) -> BoxFuture<'_, Result<(), SinkError>> {
            Box::pin(async { Err(SinkError("disk full".into())) })
        }
        fn flush(&self) -> BoxFuture<'_, Result<(), SinkError>> {
            Box::pin(async { Err(SinkError("disk full".into())) })
        }
        fn record_invalid(&self, _: InvalidShare) -> bool {
            false
        }
    }

    fn result(accepted: bool, uncertain: bool) -> BlockSubmitResult {
        BlockSubmitResult {
            accepted,
            uncertain,
            details: vec![
                "http://d1: Rejected { code: -7, message: \"Block not accepted\" }".into(),
            ],
        }
    }

    fn shared(sink: Arc<dyn ShareSink>, daemons: Arc<Daemons>) -> Shared {
        Shared::new(
            PoolSettings::default(),
            1,
            2,
            Arc::new(NoHasher),
            sink,
            daemons,
            Arc::new(SystemClock),
        )
    }

    fn block() -> FoundBlock {
        FoundBlock {
            height: Height(10),
            hash: Hash32([3; 32]),
            network_difficulty: Difficulty(1),
            reward: Atomic(5),
            pool_type: PoolType::Pplns,
            miner: "miner".into(),
            worker: "rig".into(),
            timestamp: UnixMillis(1),
            shares_at_find: None,
            status: BlockStatus::Pending,
            blob: vec![7; 100],
        }
    }

    /// Submits one block through a real LMDB sink; returns its stored status and reason.
    async fn outcome(submitted: BlockSubmitResult) -> (BlockStatus, String, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(&StoreOptions {
            map_size: 8 << 20,
            ..StoreOptions::new(dir.path())
        })
        .unwrap();
        let writer = store.writer(WriterConfig::default()).unwrap();
        let daemons = Arc::new(Daemons {
            result: submitted.clone(),
            sent: AtomicUsize::new(0),
        });
        let shared = shared(Arc::new(LmdbSink(writer.clone())), daemons.clone());
        assert_eq!(submit(&shared, block()).await, submitted);
        assert_eq!(daemons.sent.load(Ordering::SeqCst), 1);
        writer.flush().await.unwrap();
        let rec = store
            .read()
            .unwrap()
            .block(Height(10), Hash32([3; 32]))
            .unwrap()
            .expect("recorded")
            .record;
        (rec.status, rec.reason, rec.blob)
    }

    #[tokio::test]
    async fn an_accepted_block_is_pending_and_keeps_its_blob() {
        let (status, reason, blob) = outcome(result(true, false)).await;
        assert_eq!(
            (status, reason.as_str()),
            (BlockStatus::Pending, "submitted")
        );
        assert_eq!(blob, vec![7; 100]);
    }

    #[tokio::test]
    async fn an_unanswered_block_stays_a_candidate_for_the_block_manager() {
        let (status, _, _) = outcome(result(false, true)).await;
        assert_eq!(status, BlockStatus::Candidate);
    }

    #[tokio::test]
    async fn a_block_every_daemon_refuses_is_orphaned_with_their_answers() {
        let (status, reason, _) = outcome(result(false, false)).await;
        assert_eq!(status, BlockStatus::Orphaned);
        assert!(reason.starts_with("rejected by every daemon"), "{reason}");
        assert!(reason.contains("Block not accepted"), "{reason}");
    }

    #[tokio::test]
    async fn a_block_the_store_cannot_record_is_still_submitted() {
        let daemons = Arc::new(Daemons {
            result: result(true, false),
            sent: AtomicUsize::new(0),
        });
        let shared = shared(Arc::new(BrokenStore), daemons.clone());
        assert!(submit(&shared, block()).await.accepted);
        assert_eq!(daemons.sent.load(Ordering::SeqCst), 1);
    }
}
