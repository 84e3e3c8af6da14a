//! The chain scan: every chain block, once `pps_depth` deep, gets a `block_log` row (height,
//! hash, reward, difficulty, time) for pool statistics, as nodejs-pool's `blockScanner`.
//!
//! Resumable from the `chain_scan` cursor in MySQL. The first start begins
//! `blocks_required` below the tip, never at genesis (nodejs-pool re-scanned the whole chain
//! on a fresh install). Rows are written `pps_depth` behind the tip so reorganisations have
//! settled (this lag is by design; the API should say so). The pool's own orphaned blocks
//! get their row with the orphan flag from the unlocker. Reads the daemon only; writes only
//! `block_log` and the cursor.

use sqlx::MySqlPool;

use crate::domain::Height;
use crate::monero::daemon::{Daemon, DaemonError};
use crate::monero::rpc_types::BlockHeader;
use crate::store::mysql::credits::{self, ChainBlockRow, CreditError};

/// The cursor name in `block_manager_cursor`.
pub const CURSOR: &str = "chain_scan";

/// Heights recorded per pass at most.
const MAX_HEIGHTS_PER_PASS: u64 = 500;

/// A chain scan pass stopped early; the cursor marks where it resumes.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    #[error("mysql: {0}")]
    Mysql(#[from] CreditError),
}

/// The `block_log` row of a chain header.
pub fn row(header: &BlockHeader, orphan: bool) -> ChainBlockRow {
    ChainBlockRow {
        height: header.height,
        hash: header.hash,
        time_secs: header.timestamp,
        reward: header.reward,
        difficulty: header.difficulty,
        major_version: header.major_version,
        minor_version: header.minor_version,
        orphan,
    }
}

/// Records the next settled chain heights; returns how many.
pub async fn pass<D: Daemon>(
    daemon: &D,
    mysql: &MySqlPool,
    blocks_required: u64,
    depth: u64,
) -> Result<u64, ScanError> {
    let tip = daemon.last_block_header(false).await?.height;
    let Some(last) = tip.checked_sub(depth) else {
        return Ok(0);
    };
    let next = match credits::cursor(mysql, CURSOR).await? {
        Some(next) => next,
        None => {
            let start = Height(tip.0.saturating_sub(blocks_required).min(last.0 + 1));
            credits::set_cursor(mysql, CURSOR, start).await?;
            tracing::info!(%start, "chain scan starts");
            start
        }
    };
    if next > last {
        return Ok(0);
    }
    let end = last.0.min(next.0.saturating_add(MAX_HEIGHTS_PER_PASS - 1));
    let mut rows = Vec::new();
    for h in next.0..=end {
        match daemon.block_header_by_height(Height(h), false).await? {
            Some(header) => rows.push(row(&header, false)),
            None => break,
        }
    }
    credits::record_chain_blocks(mysql, &rows).await?;
    let done = rows.len() as u64;
    credits::set_cursor(mysql, CURSOR, Height(next.0 + done)).await?;
    Ok(done)
}
