//! The unlocker: one pass over the pool's pending found blocks, each checked against the
//! chain (hash at height) and then left pending, orphaned, or credited and unlocked.
//!
//! A candidate (recorded by the pool before it submitted the block) is resolved the same
//! way: our hash on the chain makes it pending (then confirmed, credited, unlocked); another
//! block settled at its height orphans it; a chain not yet at its height gets the stored
//! blob submitted again (a pool that died before submitting, a daemon that lost it). One
//! block that cannot be settled is set aside ([`super::set_aside`]); the others go on.
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
use super::set_aside;
use super::source::{self, SourceError};
use super::split::Payee;
use crate::domain::{Atomic, Clock, Height};
use crate::monero::daemon::{Daemon, DaemonError, SubmitStatus};
use crate::runtime::failpoint;
use crate::store::lmdb::codec::BlockStatus;
use crate::store::lmdb::{Block, BlockUpdate, ShareStore, ShareWriter, StoreError};
use crate::store::mysql::block_issues::{IssueError, IssueKind};
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
    #[error("blocks set aside: {0}")]
    Issues(#[from] IssueError),
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
    /// Set aside by this pass, or skipped because set aside earlier and not due yet.
    pub set_aside: usize,
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
    /// Checks every pending (and candidate) block once. A block whose settling fails is set
    /// aside (see [`super::set_aside`]) and the pass goes on with the next; a block set
    /// aside is skipped until it is due again.
    pub async fn pass(&self) -> Result<PassReport, UnlockError> {
        let pending = source::blocking(&self.store, source::pending_blocks).await?;
        let mut report = PassReport {
            pending: pending.len(),
            ..PassReport::default()
        };
        if pending.is_empty() {
            return Ok(report);
        }
        let aside = set_aside::Open::load(&self.mysql, IssueKind::Block).await?;
        let tip = match self.daemon.last_block_header(false).await {
            Ok(header) => Some(header.height),
            Err(err) => {
                tracing::warn!(%err, "daemon unavailable: found blocks stay pending");
                None
            }
        };
        for block in &pending {
            let (height, hash) = (block.record.height, block.record.hash);
            let now = self.clock.now();
            if aside.waiting(height, hash, now) {
                report.set_aside += 1;
                continue;
            }
            match self.settle(block, tip, &mut report).await {
                Ok(()) => {
                    if aside.get(height, hash).is_some() {
                        set_aside::settled(&self.mysql, IssueKind::Block, height, hash, now)
                            .await?;
                    }
                }
                Err(err) => {
                    report.set_aside += 1;
                    let reason = err.to_string();
                    set_aside::fail(&self.mysql, IssueKind::Block, height, hash, &reason, now)
                        .await?;
                    // Best effort: the reason shows beside the block too.
                    let text = format!("set aside: {reason}");
                    if let Err(e) = self
                        .set_status(block, block.record.status, text, None)
                        .await
                    {
                        tracing::warn!(error = %e, block.height = %height, "could not note a block set aside in LMDB");
                    }
                }
            }
        }
        Ok(report)
    }

    /// Decides one block against the chain and acts on the verdict.
    async fn settle(
        &self,
        block: &Block,
        tip: Option<Height>,
        report: &mut PassReport,
    ) -> Result<(), UnlockError> {
        let rec = &block.record;
        let chain = self.chain_at(tip, rec.height).await;
        let verdict = lifecycle::check(rec.height, rec.hash, chain, self.params.blocks_required);
        let on_chain = matches!(chain, ChainAt::Block { hash, .. } if hash == rec.hash);
        match verdict {
            Verdict::Wait(reason) => {
                report.waiting += 1;
                tracing::debug!(block.height = %rec.height, block.hash = %rec.hash, %reason, "block pending");
                let extends_tip = tip.is_some_and(|t| t.0.checked_add(1) == Some(rec.height.0));
                if matches!(reason, WaitReason::DaemonBehind { .. })
                    && extends_tip
                    && !rec.blob.is_empty()
                {
                    // Never submitted (a crash), or lost by a daemon that crashed: the chain
                    // stops right below it, so it can still take it.
                    self.resubmit(block).await;
                }
                // A candidate the chain holds was submitted: it is a found block now.
                let status = if on_chain {
                    BlockStatus::Pending
                } else {
                    rec.status
                };
                let text = wait_text(&reason);
                if rec.reason != text || rec.status != status {
                    self.set_status(block, status, text, None).await?;
                }
            }
            Verdict::Orphan(reason) => {
                report.orphaned += 1;
                if credits::is_credited(&self.mysql, &rec.hash).await? {
                    // Credited, then reorganised away deeper than blocksRequired: the
                    // credits stand (payouts may have used them); an operator decides.
                    tracing::error!(alert = true, block.height = %rec.height, block.hash = %rec.hash, "a credited block left the chain: review its credits");
                }
                tracing::warn!(block.height = %rec.height, block.hash = %rec.hash, %reason, "block orphaned");
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
        Ok(())
    }

    /// Submits a recorded block again; what the daemons say is only logged (the next pass
    /// reads the chain).
    async fn resubmit(&self, block: &Block) {
        let outcomes = self.daemon.submit_block(&block.record.blob).await;
        let accepted = outcomes
            .iter()
            .any(|o| matches!(o.status, SubmitStatus::Accepted { .. }));
        tracing::warn!(
            block.height = %block.record.height,
            block.hash = %block.record.hash,
            accepted,
            details = ?outcomes,
            "a found block missing from the chain was submitted again"
        );
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
