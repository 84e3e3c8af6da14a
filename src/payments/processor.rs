//! One payout cycle against the wallet and MySQL: recover → plan → reserve → sign with
//! `do_not_relay` → commit → relay → follow to N confirmations.
//!
//! Owns the order of the two-phase protocol and every decision taken on a wallet answer. The
//! rules that make a payout exactly-once:
//! - a batch is reserved in MySQL before the wallet is called;
//! - the wallet only signs (`do_not_relay`); a signed tx that is not recorded was never
//!   broadcast, so a reservation found without a recorded tx is simply released;
//! - the tx (hash, metadata, fee, key) is committed with the debits and the
//!   `transactions`/`payments` rows, and only then relayed; a recorded tx is only ever relayed
//!   again (same tx, cannot double-spend), never signed again;
//! - no new batch is signed while a recorded tx is not yet relayed, so two live txs never
//!   draw on the same wallet outputs.
//!
//! After a restore from backup the store may lack payouts the wallet already sent (the
//! backup is older than the wallet): while a restore is open (`store::mysql::restores`) no
//! new batch is signed; each cycle compares the wallet's outgoing transfers since the
//! backup's chain height with the recorded batches, notes and alerts every unknown one, and
//! closes the restore once the operator has resolved them all (`rxpool admin backup`).
//!
//! Only the holder of the payments runner lease runs a cycle: the processor confirms the
//! lease through its [`RunnerGuard`] when a cycle starts and again before every signing
//! step, and stops the cycle ([`CycleError::LeaseLost`]) the moment it is not ours.
//!
//! Planning rules live in `planner`, statuses in `batch`, SQL in `store::mysql::payouts`.
//! It never credits a balance and never touches LMDB. Fail points (`RXPOOL_FAILPOINT`, see
//! [`crate::runtime::failpoint`]) abort the process at each step for the crash tests.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::MySqlPool;

use crate::domain::{
    Atomic, Clock, Hash32, Height, Network, PaymentId, SystemClock, WalletAddress,
};
use crate::monero::wallet::{Destination, TransferOptions, TransfersQuery, Wallet, WalletError};
use crate::payments::batch::BatchStatus;
use crate::payments::planner::{self, BatchKind, PayeeBalance, PayoutPolicy, SkipReason};
use crate::runtime::failpoint;
use crate::store::mysql::payouts::{
    self, BatchRow, NewItem, PayoutError, RunnerLease, SignedRecord, TxKey,
};
use crate::store::mysql::restores::{self, RestoreError, UnknownTx};

/// The seam before the payments runner lease. [`RunnerLease`] is the real one; tests wrap it
/// to pause a cycle at a signing step.
pub trait RunnerGuard: Send + Sync + std::fmt::Debug {
    /// Renews the lease; `Ok(false)` when this process no longer holds it.
    fn confirm(&self) -> Pin<Box<dyn Future<Output = Result<bool, PayoutError>> + Send + '_>>;
}

impl RunnerGuard for RunnerLease {
    fn confirm(&self) -> Pin<Box<dyn Future<Output = Result<bool, PayoutError>> + Send + '_>> {
        Box::pin(self.renew())
    }
}

/// What a cycle needs besides the wallet and the database.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub policy: PayoutPolicy,
    /// Addresses of other networks are set aside, never sent to the wallet.
    pub network: Network,
    /// Confirmations after which a payout batch is final (`payout.confirmations`).
    pub confirmations: u64,
    /// Transfer priority (`payout.priority`).
    pub priority: u32,
}

/// Why a cycle stopped early.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Store(#[from] PayoutError),
    /// The wallet did not answer (or not usefully); nothing new was debited. Retry later.
    #[error("wallet unavailable: {0}")]
    WalletDown(WalletError),
    /// This process no longer holds the payments runner lease: the cycle stopped before the
    /// next signing step.
    #[error("the payments runner lease is no longer ours; the cycle stopped before signing")]
    LeaseLost,
    #[error("restore reconciliation: {0}")]
    Restore(#[from] RestoreError),
}

/// What one cycle did, for logs, the admin command and the bench.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Batches signed, recorded and handed to the network this cycle.
    pub batches_sent: u64,
    pub payees_paid: u64,
    pub paid_net: Atomic,
    /// Gross amounts planned but not paid because the wallet had too little unlocked money.
    pub shortfall: Atomic,
    /// Balances set aside this cycle (bad destinations), with reasons logged.
    pub set_aside: u64,
    /// Reservations released (recovery, wallet refusals).
    pub released: u64,
    /// Recorded txs relayed again by recovery.
    pub re_relayed: u64,
    pub confirmed: u64,
    pub manual_review: u64,
    /// Every wallet call the cycle made.
    pub wallet_calls: u64,
    /// Batches not signed because an earlier tx is recorded but not relayed yet, or because
    /// a restore from backup is not reconciled with the wallet yet (`restore_hold`).
    pub signing_paused: bool,
    /// The store was restored from a backup and the wallet sent transfers it does not
    /// record: nothing new is signed until the operator resolves them.
    pub restore_hold: bool,
}

/// Runs payout cycles with one wallet and one database. Only one processor may run per pool:
/// the role and `admin payments run-now` take the runner lease and give it to the processor
/// ([`Processor::set_guard`]), which confirms it before signing.
#[derive(Debug)]
pub struct Processor<W> {
    db: MySqlPool,
    wallet: W,
    /// Replaced between cycles when the shared settings change ([`Processor::set_config`]).
    config: std::sync::RwLock<ProcessorConfig>,
    /// The runner lease, confirmed before every signing step; `None` runs unguarded (tests
    /// of a single processor).
    guard: std::sync::RwLock<Option<Arc<dyn RunnerGuard>>>,
    wallet_calls: AtomicU64,
}

/// A planned item with the address the wallet pays.
struct Ready {
    item: NewItem,
}

impl<W: Wallet> Processor<W> {
    pub fn new(db: MySqlPool, wallet: W, config: ProcessorConfig) -> Processor<W> {
        Processor {
            db,
            wallet,
            config: std::sync::RwLock::new(config),
            guard: std::sync::RwLock::new(None),
            wallet_calls: AtomicU64::new(0),
        }
    }

    /// Guards every following cycle with `guard` (the runner lease), or none.
    pub fn set_guard(&self, guard: Option<Arc<dyn RunnerGuard>>) {
        *self
            .guard
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = guard;
    }

    /// Confirms the runner lease (when guarded): the check before every signing step.
    async fn confirm_lease(&self) -> Result<(), CycleError> {
        let guard = self
            .guard
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match guard {
            None => Ok(()),
            Some(guard) => match guard.confirm().await? {
                true => Ok(()),
                false => {
                    tracing::error!(
                        alert = true,
                        "the payments runner lease was lost; this cycle stops before signing"
                    );
                    Err(CycleError::LeaseLost)
                }
            },
        }
    }

    /// The wallet the cycles use.
    pub fn wallet(&self) -> &W {
        &self.wallet
    }

    /// The rules the next cycle uses.
    pub fn config(&self) -> ProcessorConfig {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the rules from the next cycle on (a cycle in progress keeps its own copy).
    pub fn set_config(&self, config: ProcessorConfig) {
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
    }

    fn count_call(&self) {
        self.wallet_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// One full cycle: recovery, then new payouts unless recovery left a recorded tx
    /// unrelayed.
    pub async fn run_cycle(&self) -> Result<CycleReport, CycleError> {
        let start_calls = self.wallet_calls.load(Ordering::Relaxed);
        let mut report = CycleReport::default();
        let result = self.cycle(&mut report).await;
        report.wallet_calls = self.wallet_calls.load(Ordering::Relaxed) - start_calls;
        result.map(|()| report)
    }

    async fn cycle(&self, report: &mut CycleReport) -> Result<(), CycleError> {
        self.confirm_lease().await?;
        // Current chain view first: balances to spend and confirmations to count.
        self.count_call();
        self.wallet
            .refresh()
            .await
            .map_err(CycleError::WalletDown)?;
        self.recover(report).await?;
        let unrelayed = payouts::list(&self.db, &[BatchStatus::Signed], 1).await?;
        if !unrelayed.is_empty() {
            report.signing_paused = true;
            tracing::warn!(
                batch = unrelayed[0].id,
                "a recorded payout is not relayed yet; no new payouts are signed this cycle"
            );
            return Ok(());
        }
        if self.held_by_restore(report).await? {
            return Ok(());
        }
        self.pay_new(report).await?;
        if report.batches_sent > 0 {
            // Persist the wallet's view of what it relayed; a failure here loses nothing
            // (recovery relays recorded txs again), so it is only logged.
            self.count_call();
            if let Err(err) = self.wallet.store().await {
                tracing::warn!(%err, "wallet store failed");
            }
        }
        Ok(())
    }

    /// Walks every live batch, oldest first, and moves it on: reservations without a
    /// recorded tx are released, recorded txs are relayed (again), relayed ones are followed
    /// to their confirmations.
    pub async fn recover(&self, report: &mut CycleReport) -> Result<(), CycleError> {
        for batch in payouts::live(&self.db).await? {
            match batch.status {
                BatchStatus::Reserved => {
                    // The wallet only ever signs without relaying, and a signed tx is relayed
                    // only after it is recorded: nothing of this batch reached the network.
                    payouts::release(&self.db, batch.id, "recovered: no signed tx recorded")
                        .await?;
                    report.released += 1;
                    tracing::info!(batch = batch.id, "released an unsigned reservation");
                }
                BatchStatus::Signed => {
                    if self.relay(&batch, report).await? == Relay::Relayed {
                        report.re_relayed += 1;
                    }
                }
                BatchStatus::Relayed | BatchStatus::ManualReview => {
                    failpoint::hit("payments:during_tracking");
                    self.track(&batch, report).await?;
                }
                BatchStatus::Held
                | BatchStatus::HeldSigned
                | BatchStatus::Confirmed
                | BatchStatus::Released
                | BatchStatus::Reverted => {}
            }
        }
        Ok(())
    }

    /// The guard after a restore from backup (module documentation): `true` while a restore
    /// is open and an outgoing wallet transfer since its backup is recorded by no batch.
    async fn held_by_restore(&self, report: &mut CycleReport) -> Result<bool, CycleError> {
        let open = restores::open(&self.db).await?;
        let (Some(first), Some(newest)) = (open.first(), open.last()) else {
            return Ok(false);
        };
        let from = open.iter().map(|r| r.chain_height).min().unwrap_or(0);
        let mut query = TransfersQuery::outgoing();
        query.min_height = (from > 0).then_some(Height(from));
        self.count_call();
        let transfers = self
            .wallet
            .get_transfers(query)
            .await
            .map_err(CycleError::WalletDown)?;
        let now = SystemClock.now();
        for t in transfers {
            if t.kind == "failed" || restores::is_recorded(&self.db, &t.txid).await? {
                continue;
            }
            let unknown = UnknownTx {
                tx_hash: t.txid,
                amount: t.amount,
                fee: t.fee,
                height: t.height.0,
                destinations: t
                    .destinations
                    .iter()
                    .map(|d| (d.address.clone(), Atomic(d.amount)))
                    .collect(),
            };
            if restores::note_unknown(&self.db, newest.id, &unknown, now).await? {
                tracing::error!(tx = %t.txid, amount = %t.amount, height = t.height.0, alert = true,
                    "the wallet sent a transfer the restored store does not record");
            }
        }
        let left = restores::unknown(&self.db, true).await?.len();
        if left > 0 {
            report.restore_hold = true;
            report.signing_paused = true;
            tracing::error!(backup = %first.backup_id, unknown = left, alert = true,
                "restored from a backup: no payout is signed until every outgoing transfer the \
                 store does not record is resolved (rxpool admin backup unknown)");
            return Ok(true);
        }
        for r in &open {
            if restores::reconcile(&self.db, r.id, now).await? {
                tracing::info!(backup = %r.backup_id, restore = r.id,
                    "restore reconciled: every outgoing wallet transfer since the backup is recorded; payouts resume");
            }
        }
        Ok(false)
    }

    /// Relays a recorded (`signed`) tx and marks it relayed; a refusal sends it to manual
    /// review unless the wallet already knows it as sent.
    async fn relay(&self, batch: &BatchRow, report: &mut CycleReport) -> Result<Relay, CycleError> {
        let (Some(hash), Some(metadata)) = (batch.tx_hash, batch.tx_metadata.as_deref()) else {
            return Err(PayoutError::Malformed(format!(
                "batch {} is signed without a tx",
                batch.id
            ))
            .into());
        };
        self.count_call();
        match self.wallet.relay_tx(metadata).await {
            Ok(relayed) => {
                if relayed != hash {
                    tracing::error!(batch = batch.id, recorded = %hash, relayed = %relayed, alert = true,
                        "wallet relayed a different tx hash than recorded");
                }
                failpoint::hit("payments:after_relay");
                payouts::mark_relayed(&self.db, batch.id).await?;
                Ok(Relay::Relayed)
            }
            Err(err) if is_wallet_unavailable(&err) => {
                payouts::note_error(&self.db, batch.id, &err.to_string()).await?;
                Err(CycleError::WalletDown(err))
            }
            Err(err) => {
                // Refused: already known as sent (then it is relayed), or its inputs are gone.
                if self.wallet_knows_sent(hash).await? {
                    payouts::mark_relayed(&self.db, batch.id).await?;
                    return Ok(Relay::Relayed);
                }
                payouts::to_manual_review(
                    &self.db,
                    batch.id,
                    BatchStatus::Signed,
                    &format!("relay refused: {err}"),
                )
                .await?;
                report.manual_review += 1;
                tracing::error!(batch = batch.id, tx = %hash, %err, alert = true,
                    "payout tx refused on relay; held for manual review");
                Ok(Relay::ManualReview)
            }
        }
    }

    /// Whether the wallet lists `hash` as an outgoing tx that is pending, in the pool or
    /// mined (not failed).
    async fn wallet_knows_sent(&self, hash: Hash32) -> Result<bool, CycleError> {
        self.count_call();
        match self.wallet.get_transfer_by_txid(hash).await {
            Ok(Some(t)) => Ok(t.kind != "failed"),
            Ok(None) => Ok(false),
            Err(err) => Err(CycleError::WalletDown(err)),
        }
    }

    /// Follows a relayed (or reviewed) tx: confirmed after N; until then relayed again each
    /// cycle (it may have left the pool unmined), manual review if that is refused.
    async fn track(&self, batch: &BatchRow, report: &mut CycleReport) -> Result<(), CycleError> {
        let Some(hash) = batch.tx_hash else {
            return Err(PayoutError::Malformed(format!("batch {} has no tx", batch.id)).into());
        };
        self.count_call();
        let transfer = match self.wallet.get_transfer_by_txid(hash).await {
            Ok(t) => t,
            Err(err) => return Err(CycleError::WalletDown(err)),
        };
        match transfer {
            Some(t) if t.kind == "out" && t.height.0 > 0 => {
                if t.confirmations >= self.config().confirmations {
                    payouts::mark_confirmed(
                        &self.db,
                        batch.id,
                        batch.status,
                        t.confirmations,
                        Some(t.height.0),
                    )
                    .await?;
                    report.confirmed += 1;
                } else {
                    payouts::note_confirmations(
                        &self.db,
                        batch.id,
                        t.confirmations,
                        Some(t.height.0),
                    )
                    .await?;
                }
                Ok(())
            }
            Some(t) if t.kind != "failed" && batch.status == BatchStatus::ManualReview => {
                payouts::note_confirmations(&self.db, batch.id, 0, None).await?;
                Ok(())
            }
            _ if batch.status == BatchStatus::ManualReview => Ok(()),
            seen => {
                // Pending, failed, or unknown to the wallet (restored or rescanned wallet):
                // relay the same tx again; a double spend is refused and goes to review.
                // Pending ones too: wallet-rpc 0.18 goes on listing a tx the daemon dropped
                // from its pool as pending (it does not turn failed), and relaying a tx that
                // is still in the pool changes nothing (same hash, one tx in the pool).
                let pending = seen.as_ref().is_some_and(|t| t.kind != "failed");
                let Some(metadata) = batch.tx_metadata.as_deref() else {
                    return Err(PayoutError::Malformed(format!(
                        "batch {} has no metadata",
                        batch.id
                    ))
                    .into());
                };
                if pending {
                    payouts::note_confirmations(&self.db, batch.id, 0, None).await?;
                    tracing::debug!(batch = batch.id, tx = %hash, "payout still pending; relaying it again");
                } else {
                    tracing::warn!(batch = batch.id, tx = %hash, seen = seen.is_some(),
                        "relayed payout is not in the wallet's pool or chain; relaying it again");
                }
                self.count_call();
                match self.wallet.relay_tx(metadata).await {
                    Ok(_) => {
                        if !pending {
                            payouts::note_error(
                                &self.db,
                                batch.id,
                                "re-relayed after leaving the pool",
                            )
                            .await?;
                        }
                        report.re_relayed += 1;
                        Ok(())
                    }
                    Err(err) if is_wallet_unavailable(&err) => Err(CycleError::WalletDown(err)),
                    Err(err) => {
                        payouts::to_manual_review(
                            &self.db,
                            batch.id,
                            BatchStatus::Relayed,
                            &format!("re-relay refused (inputs spent elsewhere?): {err}"),
                        )
                        .await?;
                        report.manual_review += 1;
                        tracing::error!(batch = batch.id, tx = %hash, %err, alert = true,
                            "payout tx left the pool and cannot be relayed; held for manual review");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Plans from the balances and pays batch after batch.
    async fn pay_new(&self, report: &mut CycleReport) -> Result<(), CycleError> {
        let config = self.config();
        let policy = &config.policy;
        let rows = payouts::load_payable(&self.db, policy.wallet_min).await?;
        let mut parsed = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind = match WalletAddress::parse(&row.address, config.network) {
                Ok(a) => Some(a.kind),
                Err(err) => {
                    tracing::debug!(balance = row.balance_id, %err, "payout address does not parse");
                    None
                }
            };
            parsed.push(PayeeBalance {
                balance_id: row.balance_id,
                address: row.address.clone(),
                payment_id: (!row.payment_id.is_empty()).then(|| row.payment_id.clone()),
                balance_type: row.balance_type,
                amount: row.amount,
                threshold: row.threshold,
                kind,
            });
        }
        let mut plan = planner::plan(policy, &parsed);
        // Plan against what the wallet can spend now, oldest dues first: the rest waits for
        // the next cycle instead of sinking a whole batch with "not enough money".
        self.count_call();
        let unlocked = self
            .wallet
            .get_balance()
            .await
            .map_err(CycleError::WalletDown)?
            .unlocked;
        let (fitting, deferred) =
            planner::fit_unlocked(std::mem::take(&mut plan.batches), unlocked);
        plan.batches = fitting;
        if !deferred.is_empty() {
            let gross: Atomic = deferred.iter().map(|i| i.gross).sum();
            report.shortfall = report
                .shortfall
                .checked_add(gross)
                .unwrap_or(report.shortfall);
            tracing::warn!(%unlocked, deferred = deferred.len(), %gross,
                "not enough unlocked money for every due; the oldest are paid, the rest next cycle");
        }
        for skipped in &plan.skipped {
            let reason = match &skipped.reason {
                SkipReason::InvalidAddress => "the address does not parse for this network",
                SkipReason::PaymentIdNotAllowed => {
                    "a payment ID is only honoured with a standard address"
                }
                _ => continue,
            };
            let address = rows
                .iter()
                .find(|r| r.balance_id == skipped.balance_id)
                .map(|r| r.address.as_str())
                .unwrap_or_default();
            self.set_aside(skipped.balance_id, address, reason, report)
                .await?;
        }

        let mut queue: VecDeque<(BatchKind, Vec<Ready>)> = VecDeque::new();
        for batch in plan.batches {
            let mut ready = Vec::with_capacity(batch.items.len());
            for item in batch.items {
                match destination(&item.address, item.payment_id.as_deref()) {
                    Ok(destination) => ready.push(Ready {
                        item: NewItem {
                            balance_id: item.balance_id,
                            address: item.address,
                            payment_id: item.payment_id.unwrap_or_default(),
                            balance_type: item.balance_type,
                            destination,
                            gross: item.gross,
                            fee: item.fee,
                            net: item.net,
                        },
                    }),
                    Err(reason) => {
                        self.set_aside(item.balance_id, &item.address, reason, report)
                            .await?;
                    }
                }
            }
            if !ready.is_empty() {
                queue.push_back((batch.kind, ready));
            }
        }

        while let Some((kind, ready)) = queue.pop_front() {
            match self.pay_batch(kind, &ready, report).await? {
                Outcome::Sent => {}
                Outcome::Split => {
                    // A multi-destination batch with a bad destination: pay each alone so the
                    // bad one is found and the good ones still go out.
                    for one in ready.into_iter().rev() {
                        queue.push_front((BatchKind::Single, vec![one]));
                    }
                }
                Outcome::Short => {
                    // Released, nothing signed: a crash here loses and pays nothing.
                    failpoint::hit("payments:after_short_release");
                    // Oldest dues first: this batch less its newest item is tried again (the
                    // network fee did not fit), and nothing newer is tried this cycle.
                    let mut ready = ready;
                    let newest = ready.pop();
                    let waiting = newest
                        .iter()
                        .chain(queue.iter().flat_map(|(_, r)| r.iter()))
                        .map(|r| r.item.gross)
                        .sum::<Atomic>();
                    report.shortfall = report
                        .shortfall
                        .checked_add(waiting)
                        .unwrap_or(report.shortfall);
                    queue.clear();
                    if !ready.is_empty() {
                        queue.push_back((kind, ready));
                    }
                }
                Outcome::NoFunds | Outcome::ManualReview => {}
            }
        }
        Ok(())
    }

    async fn set_aside(
        &self,
        balance_id: u64,
        address: &str,
        reason: &str,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        payouts::set_aside(&self.db, balance_id, address, reason).await?;
        report.set_aside += 1;
        tracing::error!(
            balance = balance_id,
            reason,
            alert = true,
            "payout destination set aside; its balance is kept"
        );
        Ok(())
    }

    /// Reserve → sign → record → relay for one batch.
    async fn pay_batch(
        &self,
        kind: BatchKind,
        ready: &[Ready],
        report: &mut CycleReport,
    ) -> Result<Outcome, CycleError> {
        let items: Vec<NewItem> = ready.iter().map(|r| r.item.clone()).collect();
        let batch = match payouts::reserve(&self.db, kind, &items).await {
            Ok(id) => id,
            Err(PayoutError::AlreadyReserved(balance)) => {
                tracing::warn!(
                    balance,
                    "balance already reserved by another batch; skipped"
                );
                return Ok(Outcome::NoFunds);
            }
            Err(err) => return Err(err.into()),
        };
        failpoint::hit("payments:after_reserve");
        let destinations: Vec<Destination> = items
            .iter()
            .map(|i| Destination {
                address: i.destination.clone(),
                amount: i.net,
            })
            .collect();
        let options = TransferOptions {
            priority: self.config().priority,
            do_not_relay: true,
            account_index: 0,
        };
        // Not ours any more: stop here; whoever holds the lease releases this reservation.
        self.confirm_lease().await?;
        self.count_call();
        let signed = match self.wallet.transfer(&destinations, options).await {
            Ok(signed) => signed,
            Err(err) => {
                // Signed-only: even an ambiguous answer broadcast nothing. Release.
                payouts::release(&self.db, batch, &format!("wallet: {err}")).await?;
                report.released += 1;
                return match err {
                    WalletError::NotEnoughMoney { .. } => {
                        tracing::warn!(batch, payees = items.len(), %err,
                            "not enough unlocked money for this batch; paying what fits");
                        Ok(Outcome::Short)
                    }
                    WalletError::InvalidDestination { .. } | WalletError::Refused { .. }
                        if items.len() > 1 =>
                    {
                        tracing::warn!(batch, %err, "wallet refused a batch; paying its destinations one by one");
                        Ok(Outcome::Split)
                    }
                    WalletError::InvalidDestination { .. } => {
                        let reason = format!("wallet refused the destination: {err}");
                        self.set_aside(items[0].balance_id, &items[0].address, &reason, report)
                            .await?;
                        Ok(Outcome::NoFunds)
                    }
                    WalletError::Refused { .. } => {
                        tracing::warn!(batch, %err, "wallet refused a payout; retried next cycle");
                        Ok(Outcome::NoFunds)
                    }
                    other => Err(CycleError::WalletDown(other)),
                };
            }
        };
        failpoint::hit("payments:after_sign");
        let record = SignedRecord {
            tx_hash: signed.tx_hash,
            tx_metadata: signed.tx_metadata,
            tx_key: TxKey(signed.tx_key),
            network_fee: signed.fee,
        };
        if record.tx_metadata.is_empty() {
            payouts::release(&self.db, batch, "wallet returned no tx metadata").await?;
            report.released += 1;
            return Err(PayoutError::Malformed("wallet returned no tx metadata".into()).into());
        }
        match payouts::record_signed(&self.db, batch, &record).await {
            Ok(_) => {}
            Err(PayoutError::BalanceShort { balance_id, gross }) => {
                // The signed tx is dropped unbroadcast.
                payouts::release(&self.db, batch, "a balance changed under the reservation")
                    .await?;
                report.released += 1;
                tracing::error!(batch, balance = balance_id, %gross, alert = true,
                    "balance holds less than reserved; batch released");
                return Ok(Outcome::NoFunds);
            }
            Err(err) => return Err(err.into()),
        }
        failpoint::hit("payments:after_commit");
        let row = payouts::get(&self.db, batch)
            .await?
            .ok_or(PayoutError::NoSuchBatch(batch))?;
        if self.relay(&row, report).await? == Relay::ManualReview {
            // Recorded with its debits but refused on relay: not sent (alerted by relay).
            return Ok(Outcome::ManualReview);
        }
        report.batches_sent += 1;
        report.payees_paid += items.len() as u64;
        let net: Atomic = items.iter().map(|i| i.net).sum();
        report.paid_net = report.paid_net.checked_add(net).unwrap_or(report.paid_net);
        tracing::info!(batch, tx = %record.tx_hash, payees = items.len(), %net, fee = %record.network_fee,
            "payout sent");
        Ok(Outcome::Sent)
    }
}

enum Outcome {
    Sent,
    Split,
    /// The wallet lacked money for the batch (released; nothing signed).
    Short,
    NoFunds,
    ManualReview,
}

/// What relaying a recorded tx came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relay {
    Relayed,
    ManualReview,
}

/// Whether a wallet error means "not reachable / no usable answer" rather than a verdict.
fn is_wallet_unavailable(err: &WalletError) -> bool {
    matches!(
        err,
        WalletError::NotReached(_) | WalletError::Ambiguous(_) | WalletError::Config(_)
    )
}

/// The address the wallet pays for `address` with an optional payment id stored beside it:
/// the address itself, or the integrated address a standard address makes with a 16-hex id
/// (`WalletAddress::integrated_with`). 64-hex ids are refused: monero-wallet-rpc no longer
/// sends standalone payment IDs, and the operator moves such balances with `rxpool admin
/// payments resolve-legacy-id`.
pub fn destination(address: &str, payment_id: Option<&str>) -> Result<String, &'static str> {
    let Some(id) = payment_id else {
        return Ok(address.to_owned());
    };
    let id = PaymentId::parse(id).map_err(|_| "the payment ID is not 16 hex characters")?;
    if matches!(id, PaymentId::Long(_)) {
        return Err(
            "64-hex payment IDs are obsolete: monero-wallet-rpc refuses to send them \
             (move the balance with `rxpool admin payments resolve-legacy-id`)",
        );
    }
    let base = WalletAddress::parse_any(address).map_err(|_| "the address does not parse")?;
    base.integrated_with(id)
        .map(|integrated| integrated.text)
        .map_err(|_| "a payment ID is only honoured with a standard address")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::AddressKind;

    /// A mainnet standard address from fixed keys (spend = 1, view = 2).
    fn standard() -> String {
        let key = |n: u8| {
            let mut bytes = [0u8; 32];
            bytes[0] = n;
            monero::PublicKey::from_private_key(&monero::PrivateKey::from_slice(&bytes).unwrap())
        };
        monero::Address::standard(monero::Network::Mainnet, key(1), key(2)).to_string()
    }

    #[test]
    fn a_short_payment_id_becomes_an_integrated_address_of_the_same_keys() {
        let integrated = destination(&standard(), Some("0123456789abcdef")).unwrap();
        let parsed = WalletAddress::parse_any(&integrated).unwrap();
        assert_eq!(parsed.kind, AddressKind::Integrated);
        assert_eq!(
            parsed.payment_id,
            Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
        );
        let base: monero::Address = standard().parse().unwrap();
        let int: monero::Address = integrated.parse().unwrap();
        assert_eq!(
            (base.public_spend, base.public_view),
            (int.public_spend, int.public_view)
        );
    }

    #[test]
    fn long_or_malformed_payment_ids_are_refused_with_a_reason() {
        assert!(
            destination(&standard(), Some(&"ab".repeat(32)))
                .unwrap_err()
                .contains("obsolete")
        );
        assert!(destination(&standard(), Some("xyz")).is_err());
        assert!(destination(&standard(), Some("0123456789abcdefff")).is_err());
        assert!(destination("garbage", Some("0123456789abcdef")).is_err());
        assert_eq!(destination(&standard(), None).unwrap(), standard());
    }
}
