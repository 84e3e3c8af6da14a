//! Where the share path's accepted shares and found blocks go: the [`ShareSink`] seam. One
//! host implements it with the group-committing LMDB writer (`pool::services::LmdbSink`); a
//! pool host of several with the share feed to NATS JetStream (`feed::FeedSink`), which the
//! `ingest` role writes into LMDB. The records are the share store's own types: the pool hands
//! over what LMDB keeps. It lives with the stores, below both the pool and the feed, so
//! neither imports the other to meet here.

use std::future::Future;
use std::pin::Pin;

use crate::store::lmdb::{BlockKey, BlockUpdate, FoundBlock, InvalidShare, NewShare};

/// A boxed, sendable future (the return type of the pool's seams).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the share store refused a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("share store: {0}")]
pub struct SinkError(pub String);

/// Where accepted shares and found blocks go: one per pool process, the LMDB writer or the
/// share feed.
pub trait ShareSink: Send + Sync + std::fmt::Debug {
    fn append(&self, share: NewShare) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Returns once the block is durably stored.
    fn record_block(&self, block: FoundBlock) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Changes a recorded block's status (the outcome of its submission); returns once
    /// durable.
    fn update_block(
        &self,
        key: BlockKey,
        update: BlockUpdate,
    ) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Returns once everything appended before is durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Counts a refused share without waiting; `false` when it was not queued (queue full
    /// or store closed). Refused shares never hold the pool back.
    fn record_invalid(&self, share: InvalidShare) -> bool;
}
