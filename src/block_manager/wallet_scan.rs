//! The chain-side safety net: every chain block whose coinbase pays the pool wallet (the
//! wallet's `get_transfers` entries of type `block`) must have a found-block record in the
//! share store. One that has none (a pool that died before it could record it, a store
//! restored from an old backup, a block mined to the pool wallet by hand) is reported: a
//! warning the first time, and an open `unrecorded` row in `block_issues`, listed by
//! `rxpool admin block list`. `rxpool admin block add HEIGHT` then records it, and the
//! unlocker credits it once from the PPLNS window ending at it.
//!
//! A block recorded as orphaned that the chain holds is reported the same way (its record
//! contradicts the chain: `rxpool admin block recheck` puts it back to pending). Reads the
//! wallet, the daemon and LMDB; writes only `block_issues`. Looks back [`LOOKBACK`] blocks
//! from the tip each pass; the report is idempotent.

use std::sync::Arc;

use sqlx::MySqlPool;

use super::source::{self, SourceError};
use crate::domain::{Clock, Hash32, Height};
use crate::monero::daemon::{Daemon, DaemonError};
use crate::monero::rpc_types::Transfer;
use crate::monero::wallet::{TransfersQuery, Wallet, WalletError};
use crate::store::lmdb::{BlockStatus, ShareStore};
use crate::store::mysql::block_issues::{self, IssueError, IssueKind};

/// How many blocks below the tip each pass looks at (two days of blocks).
pub const LOOKBACK: u64 = 1_440;

/// A wallet scan pass stopped early; the next pass looks again.
#[derive(Debug, thiserror::Error)]
pub enum WalletScanError {
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    #[error("wallet: {0}")]
    Wallet(#[from] WalletError),
    #[error("share store: {0}")]
    Source(#[from] SourceError),
    #[error("block issues: {0}")]
    Issues(#[from] IssueError),
}

/// A chain block paying the pool wallet that the share store does not hold as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unrecorded {
    pub height: Height,
    pub hash: Hash32,
    /// Recorded, but as orphaned.
    pub orphaned: bool,
}

/// What one pass saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletScanReport {
    /// Coinbase transfers to the pool wallet in the look-back window.
    pub coinbases: usize,
    pub unrecorded: Vec<Unrecorded>,
}

/// Looks at the pool wallet's coinbase transfers of the last [`LOOKBACK`] blocks.
pub async fn pass<D: Daemon, W: Wallet>(
    daemon: &D,
    wallet: &W,
    store: &Arc<ShareStore>,
    mysql: &MySqlPool,
    clock: &dyn Clock,
) -> Result<WalletScanReport, WalletScanError> {
    let tip = daemon.last_block_header(false).await?.height;
    let min_height = Height(tip.0.saturating_sub(LOOKBACK).max(1));
    let mut heights: Vec<Height> = wallet
        .get_transfers(TransfersQuery::confirmed_incoming(min_height))
        .await?
        .into_iter()
        .filter(Transfer::is_coinbase)
        .map(|t| t.height)
        .collect();
    heights.sort_unstable();
    heights.dedup();
    let mut report = WalletScanReport {
        coinbases: heights.len(),
        ..WalletScanReport::default()
    };
    for height in heights {
        let Some(header) = daemon.block_header_by_height(height, false).await? else {
            continue;
        };
        let hash = header.hash;
        let status = source::blocking(store, move |s| {
            Ok(s.read()?.block(height, hash)?.map(|b| b.record.status))
        })
        .await?;
        let now = clock.now();
        if status.is_some_and(|s| s != BlockStatus::Orphaned) {
            block_issues::resolve(mysql, IssueKind::Unrecorded, height, &hash, now.0).await?;
            continue;
        }
        let orphaned = status.is_some();
        let reason = if orphaned {
            format!(
                "the chain holds this block and its coinbase pays the pool wallet, but it is \
                 recorded as orphaned: `rxpool admin block recheck {hash}`"
            )
        } else {
            format!(
                "its coinbase pays the pool wallet ({} XMR) and no found block is \
                 recorded: `rxpool admin block add {height}`",
                header.reward
            )
        };
        let recorded = block_issues::record(
            mysql,
            IssueKind::Unrecorded,
            height,
            &hash,
            &reason,
            now.0,
            |_| 0,
        )
        .await?;
        if recorded.new {
            tracing::warn!(block.height = %height, block.hash = %hash, orphaned, "a block paying the pool wallet has no found-block record");
        }
        report.unrecorded.push(Unrecorded {
            height,
            hash,
            orphaned,
        });
    }
    Ok(report)
}
