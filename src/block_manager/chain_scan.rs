//! The chain scan: every chain block, once `pps_depth` deep, gets a `block_log` row (height,
//! hash, reward, difficulty, time) for pool statistics, as nodejs-pool's `blockScanner`.
//!
//! Resumable from the `chain_scan` cursor in MySQL. The first start begins
//! `blocks_required` below the tip, never at genesis (nodejs-pool re-scanned the whole chain
//! on a fresh install). Rows are written `pps_depth` behind the tip so reorganisations have
//! settled (this lag is by design; the API should say so). The pool's own orphaned blocks
//! get their row with the orphan flag from the unlocker. Reads the daemon only; writes only
//! `block_log` and the cursor. A catch-up longer than one pass (after downtime) is shown with
//! [`CatchUp`]: a bar on a terminal, periodic log lines under systemd.

use sqlx::MySqlPool;

use crate::domain::Height;
use crate::monero::daemon::{Daemon, DaemonError};
use crate::monero::rpc_types::BlockHeader;
use crate::progress::{Progress, Unit};
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

/// What one pass did, and how far the scan still is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanPass {
    /// Heights recorded by this pass.
    pub recorded: u64,
    /// Settled heights still to record after this pass.
    pub behind: u64,
}

/// Records the next settled chain heights.
pub async fn pass<D: Daemon>(
    daemon: &D,
    mysql: &MySqlPool,
    blocks_required: u64,
    depth: u64,
) -> Result<ScanPass, ScanError> {
    let tip = daemon.last_block_header(false).await?.height;
    let Some(last) = tip.checked_sub(depth) else {
        return Ok(ScanPass::default());
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
        return Ok(ScanPass::default());
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
    Ok(ScanPass {
        recorded: done,
        behind: (last.0 + 1).saturating_sub(next.0 + done),
    })
}

/// Shows a catch-up that takes more than one pass; a scan that keeps up shows nothing.
#[derive(Debug, Default)]
pub struct CatchUp {
    shown: Option<Progress>,
}

impl CatchUp {
    /// Takes in one pass's result: starts showing when heights are left after a pass, advances,
    /// and finishes when the scan has caught up. A failed pass leaves the display as it is.
    pub fn observe(&mut self, pass: ScanPass) {
        match (&self.shown, pass.behind) {
            (None, 0) => {}
            (None, behind) => {
                let progress = Progress::new(
                    "chain scan catching up",
                    Some(pass.recorded + behind),
                    Unit::Heights,
                );
                progress.inc(pass.recorded);
                self.shown = Some(progress);
            }
            (Some(progress), behind) => {
                // The chain grows while we catch up: the total follows it.
                progress.set_total(progress.done() + pass.recorded + behind);
                progress.inc(pass.recorded);
                if behind == 0
                    && let Some(progress) = self.shown.take()
                {
                    progress.finish();
                }
            }
        }
    }

    /// Whether a catch-up is being shown.
    pub fn active(&self) -> bool {
        self.shown.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_that_keeps_up_shows_nothing_and_a_catch_up_shows_until_done() {
        let mut catch_up = CatchUp::default();
        catch_up.observe(ScanPass {
            recorded: 3,
            behind: 0,
        });
        assert!(!catch_up.active());
        catch_up.observe(ScanPass {
            recorded: 500,
            behind: 1_200,
        });
        assert!(catch_up.active());
        catch_up.observe(ScanPass {
            recorded: 500,
            behind: 710,
        });
        let line = catch_up
            .shown
            .as_ref()
            .map(Progress::line)
            .unwrap_or_default();
        assert!(line.contains("(1,000 of 1,710 heights)"), "{line}");
        catch_up.observe(ScanPass {
            recorded: 710,
            behind: 0,
        });
        assert!(!catch_up.active());
    }
}
