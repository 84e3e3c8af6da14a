//! `rxpool admin backup now|list|restore|unknown|resolve`: the operator's front to
//! [`crate::backup`] and to the reconciliation a restore leaves for the payments role.
//!
//! `restore` refuses a damaged backup, a database or share store that is not empty (without
//! `--yes`) and running roles (without `--force`). After a restore the payments role signs
//! nothing until every outgoing wallet transfer since the backup is accounted for; `unknown`
//! lists the ones no payout batch records and `resolve TXID --debit` records one as the payout
//! it was (its payees' balances debited what the wallet sent them, once), `--ignore` marks it
//! as not a payout of this pool. Each command returns its text ([`execute`]) so tests read
//! exactly what the operator reads.

use std::fmt::Write as _;

use sqlx::{MySqlPool, Row};

use crate::backup::{self, Health, RestoreOptions};
use crate::config::FileConfig;
use crate::domain::BatchKind;
use crate::domain::{Atomic, BalanceType, Clock, Hash32, SystemClock};
use crate::monero::daemon::DaemonClient;
use crate::monero::wallet::Wallet;
use crate::store::lmdb::ShareStore;
use crate::store::mysql::payouts::{self, NewItem, SignedRecord, TxKey};
use crate::store::mysql::restores::{self, Resolution};

/// `rxpool admin backup ...`
#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Takes a backup of both stores now, into `[backup] dir` (the roles keep running).
    Now,
    /// Lists the backups in `[backup] dir`, oldest first, each checked against its manifest.
    List,
    /// Restores backup ID into the configured database and LMDB directory (roles stopped).
    Restore {
        id: String,
        /// Replace a database that has tables (they are dropped) and move a share store
        /// aside (to `PATH.before-restore-ID`).
        #[arg(long)]
        yes: bool,
        /// Restore even though role heartbeats say roles are running.
        #[arg(long)]
        force: bool,
    },
    /// Lists the wallet's outgoing transfers a restored store does not record (they hold
    /// payouts until resolved).
    Unknown,
    /// Resolves one transfer `unknown` lists: `--debit` records it as the payout it was,
    /// `--ignore` as not a payout of this pool.
    Resolve {
        tx: Hash32,
        #[arg(long, conflicts_with = "ignore", required_unless_present = "ignore")]
        debit: bool,
        #[arg(long)]
        ignore: bool,
    },
}

/// Why a backup command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminBackupError {
    #[error(transparent)]
    Backup(#[from] backup::BackupError),
    #[error(transparent)]
    Restore(#[from] restores::RestoreError),
    #[error(transparent)]
    Payout(#[from] payouts::PayoutError),
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("mysql: {0}")]
    Mysql(#[from] crate::store::mysql::MysqlError),
    #[error("share store: {0}")]
    Store(#[from] crate::store::lmdb::StoreError),
    #[error("wallet: {0}")]
    Wallet(#[from] crate::monero::wallet::WalletError),
    #[error("monerod URLs: {0}")]
    Daemon(String),
    #[error("the wallet does not know transfer {0}")]
    NotInWallet(Hash32),
    #[error("transfer {0} is not mined yet; resolve it once it is")]
    NotMined(Hash32),
    #[error(
        "transfer {tx} pays {address}, which has no balance here; if it is not a payout, use --ignore"
    )]
    NoBalance { tx: Hash32, address: String },
    #[error(
        "transfer {tx} paid {address} {paid} but its balances hold {held}: let the block-manager credit the blocks the backup had pending first, then resolve again (or check by hand)"
    )]
    BalanceShort {
        tx: Hash32,
        address: String,
        paid: Atomic,
        held: Atomic,
    },
}

/// Runs one command and returns what it prints.
pub async fn execute(config: &FileConfig, cmd: BackupCommand) -> Result<String, AdminBackupError> {
    let clock = SystemClock;
    let mut out = String::new();
    match cmd {
        BackupCommand::Now => {
            let store = ShareStore::open(&config.lmdb_options())?;
            let daemon = DaemonClient::with_timeout(
                &config.daemon.urls,
                std::time::Duration::from_secs(config.daemon.timeout_secs),
            )
            .map_err(|e| AdminBackupError::Daemon(e.to_string()))?;
            let taken = backup::take(
                &config.backup.dir,
                &store,
                config.mysql.url.expose(),
                Some(&daemon),
                &clock,
            )
            .await?;
            let _ = writeln!(
                out,
                "backup {} taken in {}.{} s: {} ({})",
                taken.manifest.id,
                taken.elapsed.as_secs(),
                taken.elapsed.subsec_millis() / 100,
                taken.path.display(),
                size(taken.manifest.bytes())
            );
        }
        BackupCommand::List => {
            let listed = backup::list(&config.backup.dir)?;
            if listed.is_empty() {
                let _ = writeln!(out, "no backups in {}", config.backup.dir.display());
            }
            for b in listed {
                let (time, bytes, height) = match &b.manifest {
                    Some(m) => (
                        crate::domain::UnixMillis(m.started_at_ms).utc_text(),
                        size(m.bytes()),
                        m.chain_height.map_or("-".into(), |h| h.to_string()),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                let state = match &b.health {
                    Health::Good => "ok".to_owned(),
                    Health::Incomplete(why) => format!("INCOMPLETE: {why}"),
                    Health::Damaged(why) => format!("DAMAGED: {why}"),
                };
                let _ = writeln!(
                    out,
                    "{:<20} {time} UTC  {bytes:>10}  height {height:<8} {state}",
                    b.id
                );
            }
        }
        BackupCommand::Restore { id, yes, force } => {
            let restored = backup::restore(
                &config.backup.dir,
                &id,
                config.mysql.url.expose(),
                &config.lmdb.path,
                RestoreOptions { yes, force },
                &clock,
            )
            .await?;
            let m = &restored.manifest;
            let _ = writeln!(
                out,
                "restored backup {} (taken {} UTC, chain height {}) into database {} and {}",
                m.id,
                crate::domain::UnixMillis(m.started_at_ms).utc_text(),
                m.chain_height.map_or("unknown".into(), |h| h.to_string()),
                backup::dump::Target::parse(config.mysql.url.expose())
                    .map(|t| t.database)
                    .unwrap_or_default(),
                config.lmdb.path.display()
            );
            if restored.dropped_tables > 0 {
                let _ = writeln!(
                    out,
                    "the database's {} previous tables were dropped",
                    restored.dropped_tables
                );
            }
            if let Some(aside) = &restored.lmdb_moved_to {
                let _ = writeln!(out, "the previous share store is in {}", aside.display());
            }
            let _ = writeln!(
                out,
                "payments will sign nothing until the wallet's outgoing transfers since the backup \
                 are reconciled: start the roles, then see `rxpool admin backup unknown`"
            );
        }
        BackupCommand::Unknown => {
            let db = connect(config).await?;
            for r in restores::list(&db, false).await? {
                let state = r
                    .reconciled_at
                    .map_or("OPEN: payouts held".to_owned(), |t| {
                        format!("reconciled {} UTC", t.utc_text())
                    });
                let _ = writeln!(
                    out,
                    "restore {} of backup {} (restored {} UTC): {state}",
                    r.id,
                    r.backup_id,
                    r.restored_at.utc_text()
                );
            }
            for row in restores::unknown(&db, false).await? {
                let tx = &row.tx;
                let _ = writeln!(
                    out,
                    "tx {} amount {} fee {} height {} {}",
                    tx.tx_hash,
                    tx.amount,
                    tx.fee,
                    tx.height,
                    row.resolution.as_deref().unwrap_or("OPEN")
                );
                for (address, amount) in &tx.destinations {
                    let _ = writeln!(out, "  -> {address} {amount}");
                }
            }
            if out.is_empty() {
                out.push_str("no restore from backup is recorded\n");
            }
        }
        BackupCommand::Resolve { tx, debit, .. } => {
            let db = connect(config).await?;
            let resolution = if debit {
                let wallet = crate::payments::wallet_client(config)
                    .map_err(|e| AdminBackupError::Daemon(e.to_string()))?;
                let batch = record_as_payout(&db, &wallet, tx).await?;
                let _ = writeln!(out, "tx {tx} recorded as payout batch {batch}");
                Resolution::Debited
            } else {
                Resolution::Ignored
            };
            restores::resolve(&db, &tx, resolution, clock.now()).await?;
            let _ = writeln!(
                out,
                "tx {tx} resolved ({}); payments resumes once no transfer is left open",
                resolution.as_str()
            );
        }
    }
    Ok(out)
}

/// `rxpool admin backup ...` as the CLI runs it.
pub async fn run(config: &FileConfig, cmd: BackupCommand) -> anyhow::Result<()> {
    print!("{}", execute(config, cmd).await?);
    Ok(())
}

async fn connect(config: &FileConfig) -> Result<MySqlPool, AdminBackupError> {
    Ok(crate::store::mysql::connect_with(config.mysql.url.expose(), 2).await?)
}

fn size(bytes: u64) -> String {
    // Integer tenths of a MiB (no floats in this crate's arithmetic).
    let tenths = bytes.saturating_mul(10) / (1 << 20);
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

/// The balance rows a destination draws from: `(address, payment id)` of the destination
/// (an integrated address is its standard address and its short payment id).
fn payee_of(destination: &str) -> (String, String) {
    match destination.parse::<monero::Address>() {
        Ok(a) => match a.addr_type {
            monero::AddressType::Integrated(id) => (
                monero::Address::standard(a.network, a.public_spend, a.public_view).to_string(),
                hex::encode(id.0),
            ),
            _ => (destination.to_owned(), String::new()),
        },
        Err(_) => (destination.to_owned(), String::new()),
    }
}

/// Records a mined outgoing transfer the restored store lacks as the payout batch it was:
/// one item per balance row it drew from (largest first), debited exactly what the wallet
/// sent (no withdrawal fee: the pool keeps none it cannot prove), relayed, so the payments
/// role follows it to its confirmations. Already recorded (an earlier, interrupted resolve):
/// its batch is kept as it is.
async fn record_as_payout<W: Wallet>(
    db: &MySqlPool,
    wallet: &W,
    tx: Hash32,
) -> Result<u64, AdminBackupError> {
    let noted = restores::unknown_tx(db, &tx).await?;
    if let Some(resolution) = noted.resolution {
        return Err(restores::RestoreError::AlreadyResolved { tx, resolution }.into());
    }
    if let Some(batch) = batch_of(db, &tx).await? {
        return Ok(batch);
    }
    wallet.refresh().await?;
    let transfer = wallet
        .get_transfer_by_txid(tx)
        .await?
        .ok_or(AdminBackupError::NotInWallet(tx))?;
    if transfer.height.0 == 0 || transfer.kind != "out" {
        return Err(AdminBackupError::NotMined(tx));
    }
    let mut items = Vec::new();
    for dest in &transfer.destinations {
        let (address, payment_id) = payee_of(&dest.address);
        let rows = sqlx::query(
            "SELECT id, pool_type, amount FROM balance WHERE payment_address = ? \
             AND payment_id = ? ORDER BY amount DESC, id",
        )
        .bind(&address)
        .bind(&payment_id)
        .fetch_all(db)
        .await?;
        if rows.is_empty() {
            return Err(AdminBackupError::NoBalance {
                tx,
                address: dest.address.clone(),
            });
        }
        let mut left = Atomic(dest.amount);
        let mut held = Atomic::ZERO;
        for row in rows {
            if left == Atomic::ZERO {
                break;
            }
            let amount = Atomic(row.try_get::<u64, _>("amount")?);
            held = held.checked_add(amount).unwrap_or(held);
            let take = Atomic(left.0.min(amount.0));
            if take == Atomic::ZERO {
                continue;
            }
            let pool_type: String = row.try_get("pool_type")?;
            items.push(NewItem {
                balance_id: row.try_get("id")?,
                address: address.clone(),
                payment_id: payment_id.clone(),
                balance_type: pool_type.parse().unwrap_or(BalanceType::Pplns),
                destination: dest.address.clone(),
                gross: take,
                fee: Atomic::ZERO,
                net: take,
            });
            left = Atomic(left.0 - take.0);
        }
        if left > Atomic::ZERO {
            return Err(AdminBackupError::BalanceShort {
                tx,
                address: dest.address.clone(),
                paid: Atomic(dest.amount),
                held,
            });
        }
    }
    let kind = if items.len() == 1 {
        BatchKind::Single
    } else {
        BatchKind::Batched
    };
    let batch = payouts::reserve(db, kind, &items).await?;
    let record = SignedRecord {
        tx_hash: tx,
        // Never relayed from here: the tx is mined; tracking only reads the wallet.
        tx_metadata: String::new(),
        tx_key: TxKey::default(),
        network_fee: transfer.fee,
    };
    if let Err(err) = payouts::record_signed(db, batch, &record).await {
        payouts::release(db, batch, "resolve: recording the found tx failed").await?;
        return Err(err.into());
    }
    payouts::mark_relayed(db, batch).await?;
    Ok(batch)
}

async fn batch_of(db: &MySqlPool, tx: &Hash32) -> Result<Option<u64>, AdminBackupError> {
    let row = sqlx::query("SELECT id FROM payout_batches WHERE tx_hash = ?")
        .bind(tx.to_string())
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}
