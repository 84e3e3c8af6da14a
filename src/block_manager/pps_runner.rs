//! PPS crediting over the chain: every chain height, once it is `pps_depth` deep, has its
//! PPS shares credited in one transaction with its unique `pps_paid_heights` row, whoever
//! found the block there. A reorganised height is never paid again (the row is keyed by
//! height, not hash).
//!
//! Resumes from the `pps` cursor in MySQL; at the first start it begins at the oldest share
//! height in LMDB (never at genesis). Before each credit the pool wallet's balance is
//! checked against everything owed, the network fees of paying it out when the pool pays
//! them (`feePolicy=pool`), plus the new credit; when it falls short, crediting
//! pauses (the cursor stays, nothing is skipped) and an alert is logged each pass until the
//! reserve recovers. A height whose crediting fails otherwise (an unknown miner id, a
//! constraint error) is set aside ([`super::set_aside`]) and the cursor moves on; it is
//! retried on later passes, after its backoff or when an operator asks.

use std::sync::Arc;

use sqlx::MySqlPool;

use super::plan::{self, Params};
use super::pps::{Reserve, ReserveStatus};
use super::set_aside;
use super::source::{self, SourceError};
use crate::domain::{Atomic, Clock, Height};
use crate::monero::daemon::{Daemon, DaemonError};
use crate::monero::rpc_types::BlockHeader;
use crate::monero::wallet::{Wallet, WalletError};
use crate::runtime::failpoint;
use crate::store::lmdb::ShareStore;
use crate::store::mysql::block_issues::{IssueError, IssueKind};
use crate::store::mysql::credits::{self, CreditError, CreditStep, Credited, PpsHeight};
use crate::store::mysql::payouts::{self, PayoutError};

/// The cursor name in `block_manager_cursor`.
pub const CURSOR: &str = credits::PPS_CURSOR;

/// Heights credited per pass at most (a long outage catches up over several passes).
const MAX_HEIGHTS_PER_PASS: u64 = 500;

/// What the PPS crediting needs.
#[derive(Debug)]
pub struct PpsRunner<D, W> {
    pub daemon: D,
    pub wallet: W,
    pub store: Arc<ShareStore>,
    pub mysql: MySqlPool,
    pub params: Arc<Params>,
    pub clock: Arc<dyn Clock>,
}

/// A PPS pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PpsRunError {
    #[error("share store: {0}")]
    Source(#[from] SourceError),
    #[error("crediting: {0}")]
    Credit(#[from] CreditError),
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    #[error("heights set aside: {0}")]
    Issues(#[from] IssueError),
    #[error("payout records: {0}")]
    Payouts(#[from] PayoutError),
}

/// What one PPS pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PpsReport {
    /// Heights passed over (with or without PPS shares).
    pub heights: u64,
    /// Heights whose PPS shares were credited by this pass.
    pub credited: u64,
    /// The next height to credit.
    pub next: Option<Height>,
    /// Crediting is paused: the reserve is short (`Some(shortfall)`) or could not be read.
    pub paused: Option<Pause>,
}

/// What crediting one height did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeightDone {
    Credited,
    /// No PPS shares, or credited before.
    Nothing,
    Paused(Pause),
}

/// Why PPS crediting paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    ReserveShort { shortfall: Atomic },
    WalletUnavailable,
}

impl<D: Daemon, W: Wallet> PpsRunner<D, W> {
    /// Credits every height that is deep enough, from the cursor on.
    pub async fn pass(&self) -> Result<PpsReport, PpsRunError> {
        let mut report = PpsReport::default();
        if !self.params.pps_enabled {
            return Ok(report);
        }
        let tip = self.daemon.last_block_header(false).await?.height;
        let Some(last) = tip.checked_sub(self.params.pps_depth) else {
            return Ok(report);
        };
        let next = match credits::cursor(&self.mysql, CURSOR).await? {
            Some(next) => next,
            None => {
                let oldest = source::blocking(&self.store, source::oldest_share_height).await?;
                let start = oldest.unwrap_or(Height(last.0 + 1)).min(Height(last.0 + 1));
                credits::set_cursor(&self.mysql, CURSOR, start).await?;
                tracing::info!(%start, "PPS crediting starts");
                start
            }
        };
        let end = last.0.min(next.0.saturating_add(MAX_HEIGHTS_PER_PASS - 1));
        report.next = Some(next);
        if let Some(pause) = self.retry_set_aside(last, &mut report).await? {
            report.paused = Some(pause);
            return Ok(report);
        }
        for h in next.0..=end {
            let height = Height(h);
            let Some(header) = self.daemon.block_header_by_height(height, false).await? else {
                break;
            };
            match self.credit_height(&header).await {
                Ok(HeightDone::Paused(pause)) => {
                    report.paused = Some(pause);
                    return Ok(report);
                }
                Ok(HeightDone::Credited) => report.credited += 1,
                Ok(HeightDone::Nothing) => {}
                Err(err) => {
                    let now = self.clock.now();
                    let reason = err.to_string();
                    set_aside::fail(
                        &self.mysql,
                        IssueKind::Pps,
                        height,
                        header.hash,
                        &reason,
                        now,
                    )
                    .await?;
                }
            }
            credits::set_cursor(&self.mysql, CURSOR, Height(h + 1)).await?;
            report.heights += 1;
            report.next = Some(Height(h + 1));
        }
        Ok(report)
    }

    /// Tries again the heights set aside that are due (behind the cursor, so the cursor never
    /// waits for them).
    async fn retry_set_aside(
        &self,
        last: Height,
        report: &mut PpsReport,
    ) -> Result<Option<Pause>, PpsRunError> {
        let now = self.clock.now();
        let aside = set_aside::Open::load(&self.mysql, IssueKind::Pps).await?;
        for issue in aside.due(now) {
            if issue.height > last {
                continue;
            }
            let Some(header) = self
                .daemon
                .block_header_by_height(issue.height, false)
                .await?
            else {
                continue;
            };
            match self.credit_height(&header).await {
                Ok(HeightDone::Paused(pause)) => return Ok(Some(pause)),
                Ok(done) => {
                    if done == HeightDone::Credited {
                        report.credited += 1;
                    }
                    set_aside::settled(&self.mysql, IssueKind::Pps, issue.height, issue.hash, now)
                        .await?;
                }
                Err(err) => {
                    let reason = err.to_string();
                    set_aside::fail(
                        &self.mysql,
                        IssueKind::Pps,
                        issue.height,
                        issue.hash,
                        &reason,
                        now,
                    )
                    .await?;
                }
            }
        }
        Ok(None)
    }

    /// Credits the PPS shares of one chain height (nothing when it has none).
    async fn credit_height(&self, header: &BlockHeader) -> Result<HeightDone, PpsRunError> {
        let height = header.height;
        let params = Arc::clone(&self.params);
        let (reward, difficulty) = (header.reward, header.difficulty);
        let credit = source::blocking(&self.store, move |s| {
            source::pps_height(s, height, reward, difficulty, &params)
        })
        .await?;
        if credit.shares == 0 {
            return Ok(HeightDone::Nothing);
        }
        let gross = credit.settlement.reward();
        if let Some(pause) = self.reserve_check(gross).await? {
            return Ok(HeightDone::Paused(pause));
        }
        let row = PpsHeight {
            height,
            hash: header.hash,
            base_reward: header.reward,
            difficulty: header.difficulty,
            shares: credit.shares,
            share_difficulty: credit.difficulty,
            gross,
        };
        let lines = plan::ledger_lines(&credit.settlement);
        let done = credits::credit_pps_height(&self.mysql, &row, &lines, |step| {
            if step == CreditStep::RowsWritten {
                failpoint::hit("pps:before_commit");
            }
        })
        .await?;
        failpoint::hit("pps:after_commit");
        if done != Credited::Now {
            return Ok(HeightDone::Nothing);
        }
        tracing::info!(%height, pps.gross = %gross, pps.shares = credit.shares, payees = lines.len(), "PPS height credited");
        Ok(HeightDone::Credited)
    }

    async fn reserve_check(&self, liability: Atomic) -> Result<Option<Pause>, PpsRunError> {
        let balance = match self.wallet.get_balance().await {
            Ok(b) => b,
            Err(err) => {
                log_wallet(&err);
                return Ok(Some(Pause::WalletUnavailable));
            }
        };
        let owed = credits::owed_total(&self.mysql).await?;
        let payout_fees = if self.params.pool_pays_network_fee {
            payout_fee_estimate(&self.mysql).await?
        } else {
            Atomic::ZERO
        };
        let reserve = Reserve {
            wallet_balance: balance.balance,
            owed,
            payout_fees,
        };
        match reserve.check(liability) {
            ReserveStatus::Sufficient { .. } => Ok(None),
            ReserveStatus::Short { shortfall } => {
                tracing::error!(
                    alert = true,
                    wallet = %balance.balance,
                    owed = %owed,
                    payout_fees = %payout_fees,
                    pps.liability = %liability,
                    %shortfall,
                    "PPS crediting paused: the pool wallet cannot cover what it owes"
                );
                Ok(Some(Pause::ReserveShort { shortfall }))
            }
        }
    }
}

/// Network fee assumed per payee before the pool has paid anything (0.0001 XMR: above what a
/// Monero payout costs per destination at the default priority).
pub const DEFAULT_NETWORK_FEE_PER_PAYEE: Atomic = Atomic(100_000_000);

/// The network fees the pool wallet will pay to send every balance it owes: one payee per
/// balance row that holds money, at the fee per payee of the last 100 payouts (or
/// [`DEFAULT_NETWORK_FEE_PER_PAYEE`] before the first).
pub async fn payout_fee_estimate(mysql: &MySqlPool) -> Result<Atomic, PpsRunError> {
    let per_payee = payouts::network_fee_per_payee(mysql, 100)
        .await?
        .unwrap_or(DEFAULT_NETWORK_FEE_PER_PAYEE);
    let payees = payouts::payees_owed(mysql).await?;
    Ok(Atomic(per_payee.0.saturating_mul(payees)))
}

fn log_wallet(err: &WalletError) {
    tracing::warn!(%err, "PPS crediting paused: wallet balance unavailable");
}
