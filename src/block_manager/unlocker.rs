//! The unlocker: one pass over the pool's pending found blocks, each checked against the
//! chain (hash at height) and then left pending, orphaned, or credited and unlocked.
//!
//! Exactly once, across crashes: a block's credits are one MySQL transaction with its
//! unique paid-block row; the LMDB status is set only after that commit. A block found
//! pending whose paid-block row exists (the process died between the commit and the LMDB
//! write) is only marked unlocked. Fail points (see [`crate::runtime::failpoint`]) sit at each step.
//!
//! Reads the daemon through the `Daemon` trait and LMDB through [`super::source`] (on the
//! blocking pool); writes MySQL through `store::mysql::credits` and LMDB through the
//! process's `ShareWriter`.

use std::sync::Arc;

use sqlx::MySqlPool;

use super::lifecycle::{self, ChainAt, Verdict, WaitReason};
use super::plan::{self, FoundBlockFacts, Params, Plan};
use super::source::{self, SourceError};
use super::split::Payee;
use crate::domain::{Atomic, Clock, Height};
use crate::monero::daemon::{Daemon, DaemonError};
use crate::runtime::failpoint;
use crate::store::lmdb::codec::BlockStatus;
use crate::store::lmdb::{Block, BlockUpdate, ShareStore, ShareWriter, StoreError};
use crate::store::mysql::credits::{self, ChainBlockRow, CreditError, CreditStep, Credited};

/// What the unlocker needs, shared by its passes.
#[derive(Debug)]
pub struct Unlocker<D> {
    pub daemon: D,
    pub store: Arc<ShareStore>,
    pub writer: ShareWriter,
    pub mysql: MySqlPool,
    pub params: Arc<Params>,
    pub clock: Arc<dyn Clock>,
}

/// A pass could not finish; the blocks not reached stay pending for the next pass.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error("share store: {0}")]
    Source(#[from] SourceError),
    #[error("share store: {0}")]
    Store(#[from] StoreError),
    #[error("crediting: {0}")]
    Credit(#[from] CreditError),
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    #[error("the daemon does not know block {0} although it is on the chain")]
    HeaderMissing(String),
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub pending: usize,
    pub waiting: usize,
    pub orphaned: usize,
    /// Credited by this pass.
    pub credited: usize,
    /// Found credited already (restart after commit) and only marked.
    pub marked: usize,
    /// PPS blocks unlocked (their shares are paid per height).
    pub pps_unlocked: usize,
}

/// The short, stable text kept as a pending block's reason (numbers change every block; the
/// API computes depth from height and tip).
fn wait_text(reason: &WaitReason) -> String {
    match reason {
        WaitReason::DaemonUnavailable => "waiting: daemon unavailable".to_owned(),
        WaitReason::DaemonBehind { .. } => "waiting: daemon behind this height".to_owned(),
        WaitReason::Confirming { .. } => "confirming".to_owned(),
        WaitReason::Replaced { chain_hash, .. } => {
            format!("another block {chain_hash} holds this height (not final)")
        }
    }
}

impl<D: Daemon> Unlocker<D> {
    /// Checks every pending block once.
    pub async fn pass(&self) -> Result<PassReport, UnlockError> {
        let pending = source::blocking(&self.store, source::pending_blocks).await?;
        let mut report = PassReport {
            pending: pending.len(),
            ..PassReport::default()
        };
        if pending.is_empty() {
            return Ok(report);
        }
        let tip = match self.daemon.last_block_header(false).await {
            Ok(header) => Some(header.height),
            Err(err) => {
                tracing::warn!(%err, "daemon unavailable: found blocks stay pending");
                None
            }
        };
        for block in &pending {
            let chain = self.chain_at(tip, block.record.height).await;
            let verdict = lifecycle::check(
                block.record.height,
                block.record.hash,
                chain,
                self.params.blocks_required,
            );
            match verdict {
                Verdict::Wait(reason) => {
                    report.waiting += 1;
                    tracing::debug!(block.height = %block.record.height, block.hash = %block.record.hash, %reason, "block pending");
                    let text = wait_text(&reason);
                    if block.record.reason != text {
                        self.set_status(block, BlockStatus::Pending, text, None)
                            .await?;
                    }
                }
                Verdict::Orphan(reason) => {
                    report.orphaned += 1;
                    if credits::is_credited(&self.mysql, &block.record.hash).await? {
                        // Credited, then reorganised away deeper than blocksRequired: the
                        // credits stand (payouts may have used them); an operator decides.
                        tracing::error!(alert = true, block.height = %block.record.height, block.hash = %block.record.hash, "a credited block left the chain: review its credits");
                    }
                    tracing::warn!(block.height = %block.record.height, block.hash = %block.record.hash, %reason, "block orphaned");
                    let rec = &block.record;
                    let row = ChainBlockRow {
                        height: rec.height,
                        hash: rec.hash,
                        time_secs: rec.timestamp.as_secs(),
                        reward: rec.reward,
                        difficulty: rec.network_difficulty,
                        major_version: 0,
                        minor_version: 0,
                        orphan: true,
                    };
                    credits::record_chain_blocks(&self.mysql, &[row]).await?;
                    self.set_status(
                        block,
                        BlockStatus::Orphaned,
                        format!("orphaned: {reason}"),
                        None,
                    )
                    .await?;
                }
                Verdict::Unlock { depth } => match self.unlock(block, depth).await? {
                    Unlocked::Credited => report.credited += 1,
                    Unlocked::Marked => report.marked += 1,
                    Unlocked::PaidPerHeight => report.pps_unlocked += 1,
                },
            }
        }
        Ok(report)
    }

    async fn chain_at(&self, tip: Option<Height>, height: Height) -> ChainAt {
        let Some(tip) = tip else {
            return ChainAt::Unavailable;
        };
        if tip < height {
            return ChainAt::Behind { tip };
        }
        match self.daemon.block_header_by_height(height, false).await {
            Ok(Some(header)) => ChainAt::Block {
                hash: header.hash,
                tip,
            },
            Ok(None) => ChainAt::Behind { tip },
            Err(err) => {
                tracing::warn!(%err, %height, "daemon unavailable");
                ChainAt::Unavailable
            }
        }
    }

    async fn set_status(
        &self,
        block: &Block,
        status: BlockStatus,
        reason: String,
        reward: Option<Atomic>,
    ) -> Result<(), StoreError> {
        let update = BlockUpdate {
            status,
            reason,
            reward,
            at: self.clock.now(),
        };
        self.writer
            .update_block(block.record.height, block.record.hash, update)
            .await?;
        Ok(())
    }

    async fn unlock(&self, block: &Block, depth: u64) -> Result<Unlocked, UnlockError> {
        let rec = &block.record;
        if let Some(paid) = credits::paid_block(&self.mysql, &rec.hash).await? {
            tracing::info!(block.height = %rec.height, block.hash = %rec.hash, "block was credited before a restart: marking it unlocked");
            self.set_status(
                block,
                BlockStatus::Unlocked,
                format!("credited {} to {} payees", paid.block.reward, paid.payees),
                Some(paid.block.reward),
            )
            .await?;
            return Ok(Unlocked::Marked);
        }
        let header = self
            .daemon
            .block_header_by_hash(rec.hash, false)
            .await?
            .ok_or_else(|| UnlockError::HeaderMissing(rec.hash.to_string()))?;
        let facts = FoundBlockFacts {
            hash: rec.hash,
            height: rec.height,
            pool_type: rec.pool_type,
            finder: Payee::from_miner_key(&block.miner),
            reward: header.reward,
            difficulty: header.difficulty,
        };
        let params = Arc::clone(&self.params);
        let planned = {
            let facts = facts.clone();
            source::blocking(&self.store, move |s| source::plan_block(s, &facts, &params)).await?
        };
        let plan = match planned {
            Plan::PaidPerHeight => {
                self.set_status(
                    block,
                    BlockStatus::Unlocked,
                    "pps: shares credited per chain height".to_owned(),
                    Some(header.reward),
                )
                .await?;
                tracing::info!(block.height = %rec.height, block.hash = %rec.hash, depth, "pps block unlocked");
                return Ok(Unlocked::PaidPerHeight);
            }
            Plan::Credit(plan) => plan,
        };
        if let Some(w) = &plan.window {
            if w.shares == 0 {
                tracing::error!(block.height = %rec.height, block.hash = %rec.hash, "no PPLNS shares stored for this block: the whole reward goes to the fee address");
            } else if w.fill_bps < 10_000 {
                tracing::warn!(block.height = %rec.height, window.wanted = %w.wanted, window.filled = %w.filled, "short PPLNS window: the reward is shared over the shares the store holds");
            }
        }
        failpoint::hit("credit:before_tx");
        let lines = plan::ledger_lines(&plan.settlement);
        let done = credits::credit_block(&self.mysql, &plan.block, &lines, |step| match step {
            CreditStep::MarkerInserted => failpoint::hit("credit:after_paid_row"),
            CreditStep::RowsWritten => failpoint::hit("credit:before_commit"),
        })
        .await?;
        failpoint::hit("credit:after_commit");
        let fill = plan
            .window
            .map(|w| format!(", window {}.{:02}%", w.fill_bps / 100, w.fill_bps % 100))
            .unwrap_or_default();
        self.set_status(
            block,
            BlockStatus::Unlocked,
            format!(
                "credited {} to {} payees{fill}",
                plan.block.reward,
                lines.len()
            ),
            Some(plan.block.reward),
        )
        .await?;
        match done {
            Credited::Now => {
                tracing::info!(
                    block.height = %rec.height,
                    block.hash = %rec.hash,
                    block.reward = %plan.block.reward,
                    miners = %plan.settlement.miners_total(),
                    fees = %plan.settlement.fees_total(),
                    payees = lines.len(),
                    depth,
                    "block credited and unlocked"
                );
                Ok(Unlocked::Credited)
            }
            Credited::Already => Ok(Unlocked::Marked),
        }
    }
}

enum Unlocked {
    Credited,
    Marked,
    PaidPerHeight,
}
