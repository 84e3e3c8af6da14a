//! `rxpool admin payments run-now|list|show|retry|hold|release|set-aside|totals`: the
//! operator's view of payout batches and the only way to move a batch the role will not move
//! by itself (held, manual review, set-aside balances).
//!
//! `legacy-ids` and `resolve-legacy-id` are the way out for balances held under a long
//! (64-hex) payment ID, which no wallet pays any more: list them, and move one to an address
//! the operator names (once, in one transaction, recorded; `store::mysql::legacy_ids`).
//!
//! Each is a typed operation ([`list`], [`show`], [`hold`], [`release`], [`retry`],
//! [`totals`], ...) that [`execute`] prints and the admin api (`/admin/payouts`) returns as
//! JSON.
//!
//! Every change goes through `store::mysql::payouts` and its compare-and-swap transitions, so
//! a command racing the running role changes nothing rather than something wrong. It never
//! prints tx keys unless asked (`show --tx-key`), and never signs or relays itself except
//! `run-now` when it can take the payments runner lease (no role holds it): then it runs one
//! cycle in this process under the lease, as the role would.

use std::fmt::Write as _;

use serde::Serialize;
use sqlx::MySqlPool;

use crate::domain::{Atomic, BalanceType, Hash32, Network, WalletAddress};
use crate::monero::daemon::{DaemonClient, DaemonError, TxSeen};
use crate::monero::wallet::Wallet;
use crate::payments::batch::BatchStatus;
use crate::payments::processor::Processor;
use crate::store::mysql::legacy_ids::{self, MoveError};
use crate::store::mysql::payouts::{self, BatchRow, PayoutError};

/// `rxpool admin payments ...`
#[derive(Debug, clap::Subcommand)]
pub enum PaymentsCommand {
    /// Runs a payout cycle now: asks the running payments role, or runs one here if none runs.
    RunNow,
    /// Lists payout batches, newest first.
    List {
        /// Only these statuses (reserved, signed, relayed, confirmed, released, held,
        /// held_signed, manual_review, reverted); repeatable.
        #[arg(long)]
        status: Vec<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Shows one batch with its items.
    Show {
        batch: u64,
        /// Also print the tx key (proof of payment; keep it private).
        #[arg(long)]
        tx_key: bool,
    },
    /// Resumes a held batch, or relays a manual-review batch's tx again.
    Retry { batch: u64 },
    /// Holds a reserved batch (`held`: nothing is signed for it) or a signed one
    /// (`held_signed`: its recorded tx is not relayed) until `retry`.
    Hold {
        batch: u64,
        #[arg(long, default_value = "held by operator")]
        reason: String,
    },
    /// Releases a batch that was never signed (reserved or held), or, with `--revert`, credits
    /// back a manual-review batch whose tx the wallet reports failed or unknown and the daemon
    /// has neither in its pool nor on its chain; with `--balance ID`, lets a set-aside balance
    /// be paid again.
    Release {
        batch: Option<u64>,
        #[arg(long)]
        revert: bool,
        #[arg(long, conflicts_with = "batch")]
        balance: Option<u64>,
    },
    /// Lists balances set aside (destinations the wallet refused) with their reasons.
    SetAside,
    /// Pool-wide payout totals.
    Totals,
    /// Lists balances held under a long (64-hex) payment ID: no wallet pays these any more;
    /// move each with `resolve-legacy-id`.
    LegacyIds,
    /// Moves the whole of a long-payment-ID balance to ADDRESS (the payee's own address, or
    /// the integrated address or subaddress they give you), once, recorded in `balance_moves`.
    ResolveLegacyId {
        /// The balance id, as `legacy-ids` lists it.
        balance: u64,
        /// The address that receives the balance (checked for the pool's network).
        #[arg(long, value_name = "ADDRESS")]
        to: String,
        /// Recorded with the move (who asked, how the address was confirmed).
        #[arg(long, default_value = "legacy payment ID resolved by operator")]
        reason: String,
    },
}

/// Why an admin payments command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminPaymentsError {
    #[error(transparent)]
    Store(#[from] PayoutError),
    #[error("unknown status {0:?}")]
    UnknownStatus(String),
    #[error("give a batch id or --balance ID")]
    NothingToRelease,
    #[error("batch {0} has no recorded tx to check")]
    NoTx(u64),
    #[error(
        "refusing to revert batch {batch}: the wallet {state}; only a tx the wallet reports failed or unknown can be reverted"
    )]
    TxNotFailed { batch: u64, state: String },
    #[error(
        "refusing to revert batch {batch}: the daemon has its tx {state}; a tx the network knows may still be mined"
    )]
    TxKnownToDaemon { batch: u64, state: String },
    #[error("wallet: {0}")]
    Wallet(#[from] crate::monero::wallet::WalletError),
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    #[error("a wallet is needed for this command")]
    NoWallet,
    #[error("a daemon is needed for this command")]
    NoDaemon,
    #[error("payout cycle: {0}")]
    Cycle(#[from] crate::payments::processor::CycleError),
    #[error(transparent)]
    Move(#[from] MoveError),
    #[error("--to {address}: {reason}")]
    BadTarget { address: String, reason: String },
    #[error("the pool's network is needed to check the target address")]
    NoNetwork,
}

/// One payout batch, as `list` and `show` give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchView {
    pub id: u64,
    pub status: &'static str,
    pub kind: &'static str,
    pub destinations: u32,
    pub gross: Atomic,
    pub net: Atomic,
    pub withdrawal_fee: Atomic,
    pub network_fee: Option<Atomic>,
    pub tx_hash: Option<Hash32>,
    pub relay_attempts: u32,
    pub confirmations: u64,
    pub tx_height: Option<u64>,
    pub last_error: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl From<&BatchRow> for BatchView {
    fn from(row: &BatchRow) -> BatchView {
        BatchView {
            id: row.id,
            status: row.status.as_str(),
            kind: row.kind.as_str(),
            destinations: row.destinations,
            gross: row.gross,
            net: row.net,
            withdrawal_fee: row.withdrawal_fee,
            network_fee: row.network_fee,
            tx_hash: row.tx_hash,
            relay_attempts: row.relay_attempts,
            confirmations: row.confirmations,
            tx_height: row.tx_height,
            last_error: row.last_error.clone(),
            created_at_ms: row.created_at,
            updated_at_ms: row.updated_at,
        }
    }
}

/// One destination of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemView {
    pub position: u32,
    pub balance_id: u64,
    pub balance_type: BalanceType,
    pub address: String,
    pub payment_id: String,
    pub gross: Atomic,
    pub fee: Atomic,
    pub net: Atomic,
}

/// `show`: a batch, its items, and its tx key only when asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchDetail {
    pub batch: BatchView,
    /// The tx key (proof of payment): None unless asked for, or when the batch has none.
    pub tx_key: Option<String>,
    pub items: Vec<ItemView>,
}

/// A batch moved by the operator: its status before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub batch: u64,
    pub before: &'static str,
    pub after: &'static str,
}

/// A balance set aside (a destination the wallet refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetAsideView {
    pub balance_id: u64,
    pub address: String,
    pub reason: String,
}

/// Pool-wide payout totals and the books, in atomic units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub paid: Atomic,
    pub payments: u64,
    pub transactions: u64,
    pub withdrawal_fees: Atomic,
    pub network_fees: Atomic,
    pub books: BooksView,
}

/// [`payouts::Books`]: `credited = due + paid + fees_charged` when `unaccounted` is 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BooksView {
    pub credited: u128,
    pub due: u128,
    pub paid: u128,
    pub fees_charged: u128,
    pub network_fees: u128,
    pub unaccounted: i128,
    pub fee_income: i128,
}

/// Parses status names (`reserved`, `held`, ...).
pub fn parse_statuses(names: &[String]) -> Result<Vec<BatchStatus>, AdminPaymentsError> {
    names
        .iter()
        .map(|s| {
            s.parse::<BatchStatus>()
                .map_err(|_| AdminPaymentsError::UnknownStatus(s.clone()))
        })
        .collect()
}

/// Batches in any of `statuses` (all when empty), newest first.
pub async fn list(
    db: &MySqlPool,
    statuses: &[BatchStatus],
    limit: u32,
    offset: u64,
) -> Result<Vec<BatchView>, AdminPaymentsError> {
    Ok(payouts::list_page(db, statuses, limit, offset)
        .await?
        .iter()
        .map(BatchView::from)
        .collect())
}

async fn get(db: &MySqlPool, batch: u64) -> Result<BatchRow, AdminPaymentsError> {
    Ok(payouts::get(db, batch)
        .await?
        .ok_or(PayoutError::NoSuchBatch(batch))?)
}

/// One batch with its items; its tx key only with `tx_key`.
pub async fn show(
    db: &MySqlPool,
    batch: u64,
    tx_key: bool,
) -> Result<BatchDetail, AdminPaymentsError> {
    let row = get(db, batch).await?;
    let items = payouts::items(db, batch)
        .await?
        .into_iter()
        .map(|item| ItemView {
            position: item.position,
            balance_id: item.balance_id,
            balance_type: item.balance_type,
            address: item.address,
            payment_id: item.payment_id,
            gross: item.gross,
            fee: item.fee,
            net: item.net,
        })
        .collect();
    Ok(BatchDetail {
        batch: BatchView::from(&row),
        tx_key: (tx_key && !row.tx_key.0.is_empty()).then(|| row.tx_key.0.clone()),
        items,
    })
}

/// Holds a reserved batch (`held`) or a signed one (`held_signed`).
pub async fn hold(
    db: &MySqlPool,
    batch: u64,
    reason: &str,
) -> Result<Transition, AdminPaymentsError> {
    let before = get(db, batch).await?.status;
    let after = payouts::hold(db, batch, reason).await?;
    Ok(Transition {
        batch,
        before: before.as_str(),
        after: after.as_str(),
    })
}

/// Resumes a held batch, or relays a manual-review batch's tx again.
pub async fn retry(db: &MySqlPool, batch: u64) -> Result<Transition, AdminPaymentsError> {
    let before = get(db, batch).await?.status;
    let after = payouts::retry(db, batch).await?;
    Ok(Transition {
        batch,
        before: before.as_str(),
        after: after.as_str(),
    })
}

/// Releases a batch never signed, or with `revert`, credits back a manual-review batch whose
/// tx the wallet reports failed or unknown and the daemon has neither in its pool nor on its
/// chain (`wallet` and `daemon` are needed then).
pub async fn release<W: Wallet>(
    db: &MySqlPool,
    wallet: Option<&W>,
    daemon: Option<&DaemonClient>,
    batch: u64,
    revert: bool,
) -> Result<Transition, AdminPaymentsError> {
    let row = get(db, batch).await?;
    if revert && row.status == BatchStatus::ManualReview {
        let wallet = wallet.ok_or(AdminPaymentsError::NoWallet)?;
        let daemon = daemon.ok_or(AdminPaymentsError::NoDaemon)?;
        let hash = row.tx_hash.ok_or(AdminPaymentsError::NoTx(batch))?;
        match wallet.get_transfer_by_txid(hash).await? {
            None => {}
            Some(t) if t.kind == "failed" => {}
            Some(t) => {
                return Err(AdminPaymentsError::TxNotFailed {
                    batch,
                    state: format!("lists it as {}", t.kind),
                });
            }
        }
        // A wallet restored or rescanned may not know a tx the network has: ask the
        // daemon's pool and chain too before crediting anything back.
        match daemon.tx_seen(hash).await? {
            TxSeen::Unknown => {}
            TxSeen::InPool => {
                return Err(AdminPaymentsError::TxKnownToDaemon {
                    batch,
                    state: "in its pool".to_owned(),
                });
            }
            TxSeen::OnChain { height } => {
                return Err(AdminPaymentsError::TxKnownToDaemon {
                    batch,
                    state: format!("on its chain at height {height}"),
                });
            }
        }
        payouts::revert(db, batch, "reverted by operator: tx failed or unknown").await?;
        Ok(Transition {
            batch,
            before: row.status.as_str(),
            after: BatchStatus::Reverted.as_str(),
        })
    } else {
        payouts::release(db, batch, "released by operator").await?;
        Ok(Transition {
            batch,
            before: row.status.as_str(),
            after: BatchStatus::Released.as_str(),
        })
    }
}

/// Lets a set-aside balance be paid again; `false` when it was not set aside.
pub async fn release_balance(db: &MySqlPool, balance: u64) -> Result<bool, AdminPaymentsError> {
    Ok(payouts::clear_set_aside(db, balance).await?)
}

/// Balances set aside, with their reasons.
pub async fn set_aside(db: &MySqlPool) -> Result<Vec<SetAsideView>, AdminPaymentsError> {
    Ok(payouts::set_aside_list(db)
        .await?
        .into_iter()
        .map(|s| SetAsideView {
            balance_id: s.balance_id,
            address: s.address,
            reason: s.reason,
        })
        .collect())
}

/// Pool-wide totals and the books.
pub async fn totals(db: &MySqlPool) -> Result<Totals, AdminPaymentsError> {
    let t = payouts::pool_totals(db).await?;
    let b = payouts::books(db).await?;
    Ok(Totals {
        paid: t.paid,
        payments: t.payments,
        transactions: t.transactions,
        withdrawal_fees: t.withdrawal_fees,
        network_fees: t.network_fees,
        books: BooksView {
            credited: b.credited,
            due: b.due,
            paid: b.paid,
            fees_charged: b.fees_charged,
            network_fees: b.network_fees,
            unaccounted: b.unaccounted(),
            fee_income: b.fee_income(),
        },
    })
}

/// Runs one command and returns what to print. `processor` is used by `run-now` when no
/// payments role holds the runner lease; `wallet` and `daemon` by `release --revert`.
pub async fn execute<W: Wallet>(
    db: &MySqlPool,
    wallet: Option<&W>,
    daemon: Option<&DaemonClient>,
    processor: Option<&Processor<W>>,
    cmd: PaymentsCommand,
) -> Result<String, AdminPaymentsError> {
    let mut out = String::new();
    match cmd {
        PaymentsCommand::RunNow => {
            let holder = crate::payments::lease_holder_name("admin run-now");
            match payouts::RunnerLease::acquire(db, &holder, payouts::LEASE_TTL).await? {
                Some(lease) => {
                    let lease = std::sync::Arc::new(lease);
                    let result = match processor {
                        Some(processor) => {
                            let stop = tokio_util::sync::CancellationToken::new();
                            let keepalive = crate::payments::keep_lease(
                                std::sync::Arc::clone(&lease),
                                stop.clone(),
                            );
                            processor.set_guard(Some(lease.clone()));
                            let result = processor.run_cycle().await;
                            processor.set_guard(None);
                            stop.cancel();
                            let _ = keepalive.await;
                            result.map_err(AdminPaymentsError::from)
                        }
                        None => Err(AdminPaymentsError::NoWallet),
                    };
                    lease.release().await?;
                    let report = result?;
                    let _ = writeln!(
                        out,
                        "ran one payout cycle here (no payments role is running)"
                    );
                    let _ = writeln!(out, "{report:#?}");
                }
                None => {
                    let id = payouts::request_run(db).await?;
                    let _ = writeln!(
                        out,
                        "requested payout cycle #{id}; the running payments role starts it within seconds"
                    );
                }
            }
        }
        PaymentsCommand::List { status, limit } => {
            let statuses = parse_statuses(&status)?;
            let _ = writeln!(
                out,
                "{:>8}  {:<13} {:<7} {:>5} {:>20} {:>16}  tx",
                "batch", "status", "kind", "dest", "net", "network_fee"
            );
            for row in list(db, &statuses, limit, 0).await? {
                let _ = writeln!(out, "{}", summary_line(&row));
            }
        }
        PaymentsCommand::Show { batch, tx_key } => {
            let detail = show(db, batch, tx_key).await?;
            let row = &detail.batch;
            let _ = writeln!(out, "{}", summary_line(row));
            let _ = writeln!(
                out,
                "gross {}  withdrawal fees {}  relay attempts {}  confirmations {}",
                row.gross, row.withdrawal_fee, row.relay_attempts, row.confirmations
            );
            if let Some(err) = &row.last_error {
                let _ = writeln!(out, "last note: {err}");
            }
            if let Some(key) = &detail.tx_key {
                let _ = writeln!(out, "tx key: {key}");
            }
            for item in detail.items {
                let pid = if item.payment_id.is_empty() {
                    String::new()
                } else {
                    format!(" payment id {}", item.payment_id)
                };
                let _ = writeln!(
                    out,
                    "  #{:<3} balance {:<8} {:<6} {} net {} fee {}{}",
                    item.position,
                    item.balance_id,
                    item.balance_type,
                    item.address,
                    item.net,
                    item.fee,
                    pid
                );
            }
        }
        PaymentsCommand::Retry { batch } => {
            let done = retry(db, batch).await?;
            let _ = writeln!(out, "batch {batch} is {} again", done.after);
        }
        PaymentsCommand::Hold { batch, reason } => {
            let done = hold(db, batch, &reason).await?;
            let _ = writeln!(out, "batch {batch} is {}", done.after);
        }
        PaymentsCommand::Release {
            batch: None,
            balance: Some(balance),
            ..
        } => {
            let cleared = release_balance(db, balance).await?;
            let _ = writeln!(
                out,
                "{}",
                if cleared {
                    format!("balance {balance} will be paid again")
                } else {
                    format!("balance {balance} was not set aside")
                }
            );
        }
        PaymentsCommand::Release {
            batch: Some(batch),
            revert,
            ..
        } => {
            let done = release(db, wallet, daemon, batch, revert).await?;
            if done.after == BatchStatus::Reverted.as_str() {
                let _ = writeln!(
                    out,
                    "batch {batch} reverted; its balances are credited back"
                );
            } else {
                let _ = writeln!(out, "batch {batch} released");
            }
        }
        PaymentsCommand::Release {
            batch: None,
            balance: None,
            ..
        } => return Err(AdminPaymentsError::NothingToRelease),
        PaymentsCommand::SetAside => {
            for s in set_aside(db).await? {
                let _ = writeln!(
                    out,
                    "balance {:<8} {}  {}",
                    s.balance_id, s.address, s.reason
                );
            }
        }
        cmd @ (PaymentsCommand::LegacyIds | PaymentsCommand::ResolveLegacyId { .. }) => {
            let network = processor.map(|p| p.config().network);
            out = legacy_id_command(db, network, cmd).await?;
        }
        PaymentsCommand::Totals => {
            let t = totals(db).await?;
            let _ = writeln!(
                out,
                "paid {}  in {} payments and {} transactions; withdrawal fees {}; network fees {}",
                t.paid, t.payments, t.transactions, t.withdrawal_fees, t.network_fees
            );
            out.push_str(&books_report(&payouts::books(db).await?));
        }
    }
    Ok(out)
}

/// `legacy-ids` and `resolve-legacy-id`; `network` (the pool's, from the shared settings)
/// checks the target address, and a move is refused without it.
async fn legacy_id_command(
    db: &MySqlPool,
    network: Option<Network>,
    cmd: PaymentsCommand,
) -> Result<String, AdminPaymentsError> {
    let mut out = String::new();
    match cmd {
        PaymentsCommand::ResolveLegacyId {
            balance,
            to,
            reason,
        } => {
            let network = network.ok_or(AdminPaymentsError::NoNetwork)?;
            let target =
                WalletAddress::parse(&to, network).map_err(|e| AdminPaymentsError::BadTarget {
                    address: to.clone(),
                    reason: e.to_string(),
                })?;
            let moved = legacy_ids::move_to(db, balance, &target.text, &reason).await?;
            let _ = writeln!(
                out,
                "moved {} from balance {} to balance {} ({}); recorded as move #{}",
                moved.amount,
                moved.from_balance_id,
                moved.to_balance_id,
                moved.to_address,
                moved.id
            );
        }
        _ => {
            let rows = legacy_ids::list(db).await?;
            if rows.is_empty() {
                let _ = writeln!(out, "no balance is held under a long payment ID");
            }
            for r in rows {
                let _ = writeln!(
                    out,
                    "balance {:<8} {:<6} {:>20}  {}.{}{}",
                    r.balance_id,
                    r.balance_type,
                    r.amount.to_string(),
                    r.address,
                    r.payment_id,
                    r.set_aside_reason
                        .map(|why| format!("  (set aside: {why})"))
                        .unwrap_or_default()
                );
            }
            let _ = writeln!(
                out,
                "move one with: rxpool admin payments resolve-legacy-id BALANCE --to ADDRESS"
            );
        }
    }
    Ok(out)
}

/// The books in atomic units: `credited = due + paid out + fees charged`, whether that holds,
/// and the network fees the pool wallet paid.
pub fn books_report(books: &payouts::Books) -> String {
    let verdict = match books.unaccounted() {
        0 => "the books reconcile".to_owned(),
        d if d > 0 => format!("{d} atomic units credited are not accounted for"),
        d => format!("{} atomic units more are accounted for than credited", -d),
    };
    format!(
        "books: credited {} = balances due {} + paid out {} + fees charged {}; {verdict}\n\
         network fees paid by the pool wallet {}; fees kept after network fees {}\n",
        books.credited,
        books.due,
        books.paid,
        books.fees_charged,
        books.network_fees,
        books.fee_income()
    )
}

fn summary_line(row: &BatchView) -> String {
    format!(
        "{:>8}  {:<13} {:<7} {:>5} {:>20} {:>16}  {}",
        row.id,
        row.status,
        row.kind,
        row.destinations,
        row.net.to_string(),
        row.network_fee.map(|f| f.to_string()).unwrap_or_default(),
        row.tx_hash.map(|h| h.to_string()).unwrap_or_default()
    )
}

/// `rxpool admin payments ...` from the admin dispatcher: builds the wallet client and the
/// processor from `config.toml` and the shared settings, runs the command, prints its output.
pub async fn run(
    config: &crate::config::FileConfig,
    db: &MySqlPool,
    cmd: PaymentsCommand,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let settings = crate::store::mysql::load_settings(db, &config.overrides)
        .await
        .context("loading shared settings")?;
    let wallet = crate::payments::wallet_client(config)?;
    let processor = Processor::new(
        db.clone(),
        wallet.clone(),
        crate::payments::processor_config(&settings),
    );
    let daemon = DaemonClient::new(&config.daemon.urls).context("daemon urls")?;
    let out = execute(db, Some(&wallet), Some(&daemon), Some(&processor), cmd).await?;
    print!("{out}");
    Ok(())
}
