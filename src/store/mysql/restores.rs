//! Restores from backup and the wallet transfers they do not know (`sql/0014_store_restores.sql`).
//!
//! A backup is older than the pool wallet, so a restored store may lack payouts the wallet
//! has already sent. `rxpool admin backup restore` writes a [`RestoreRow`] into the restored
//! database; while one is open the payments role signs nothing new, notes every outgoing
//! wallet transfer no payout batch records ([`note_unknown`]) and closes the restore
//! ([`reconcile`]) once none is left open. The operator resolves each noted tx
//! ([`resolve`]). Owns the queries only: the decision to hold payouts is the payments
//! processor's, recording a found tx as a payout is `crate::admin::backup`'s. Times are Unix
//! milliseconds ([`UnixMillis`]).

use sqlx::{MySqlPool, Row};

use crate::domain::{Atomic, Hash32, UnixMillis};

/// Errors of the restore queries.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("no unknown transfer {0} was noted (see `rxpool admin backup unknown`)")]
    NoSuchTx(Hash32),
    #[error("transfer {tx} is already resolved ({resolution})")]
    AlreadyResolved { tx: Hash32, resolution: String },
    #[error("malformed row: {0}")]
    Malformed(String),
}

/// One restore of the stores from a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRow {
    pub id: u64,
    pub backup_id: String,
    pub backup_taken: UnixMillis,
    /// The chain height when the backup began; 0 when unknown.
    pub chain_height: u64,
    pub restored_at: UnixMillis,
    pub reconciled_at: Option<UnixMillis>,
}

/// An outgoing wallet transfer no payout batch records, as noted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTx {
    pub tx_hash: Hash32,
    pub amount: Atomic,
    pub fee: Atomic,
    /// 0 while not mined.
    pub height: u64,
    /// `(address, amount)` per destination, as the wallet lists them.
    pub destinations: Vec<(String, Atomic)>,
}

/// A noted transfer with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTxRow {
    pub restore_id: u64,
    pub tx: UnknownTx,
    pub found_at: UnixMillis,
    /// `None` while open; `debited` or `ignored`.
    pub resolution: Option<String>,
}

/// How the operator resolved a noted transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Recorded as a payout batch with its debits.
    Debited,
    /// Not a payout of this pool (the operator's own transfer); no debit.
    Ignored,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Debited => "debited",
            Resolution::Ignored => "ignored",
        }
    }
}

/// Writes the mark of a restore from backup `backup_id`; returns its id.
pub async fn record(
    pool: &MySqlPool,
    backup_id: &str,
    backup_taken: UnixMillis,
    chain_height: u64,
    now: UnixMillis,
) -> Result<u64, RestoreError> {
    let done = sqlx::query(
        "INSERT INTO store_restores (backup_id, backup_taken_ms, chain_height, restored_at_ms) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(backup_id)
    .bind(backup_taken.0)
    .bind(chain_height)
    .bind(now.0)
    .execute(pool)
    .await?;
    Ok(done.last_insert_id())
}

/// Restores not reconciled yet, oldest first.
pub async fn open(pool: &MySqlPool) -> Result<Vec<RestoreRow>, RestoreError> {
    list(pool, true).await
}

/// Every restore (or only the open ones), oldest first.
pub async fn list(pool: &MySqlPool, only_open: bool) -> Result<Vec<RestoreRow>, RestoreError> {
    let rows = sqlx::query(
        "SELECT id, backup_id, backup_taken_ms, chain_height, restored_at_ms, reconciled_at_ms \
         FROM store_restores WHERE (? = 0 OR reconciled_at_ms IS NULL) ORDER BY id",
    )
    .bind(only_open)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RestoreRow {
                id: r.try_get("id")?,
                backup_id: r.try_get("backup_id")?,
                backup_taken: UnixMillis(r.try_get("backup_taken_ms")?),
                chain_height: r.try_get("chain_height")?,
                restored_at: UnixMillis(r.try_get("restored_at_ms")?),
                reconciled_at: r
                    .try_get::<Option<u64>, _>("reconciled_at_ms")?
                    .map(UnixMillis),
            })
        })
        .collect()
}

/// Whether a payout batch (or a `transactions` row) records `tx`.
pub async fn is_recorded(pool: &MySqlPool, tx: &Hash32) -> Result<bool, RestoreError> {
    let hex = tx.to_string();
    let found = sqlx::query(
        "SELECT 1 FROM payout_batches WHERE tx_hash = ? \
         UNION ALL SELECT 1 FROM transactions WHERE transaction_hash = ? LIMIT 1",
    )
    .bind(&hex)
    .bind(&hex)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Notes `tx` under `restore`; `false` when it was noted before (kept as it was).
pub async fn note_unknown(
    pool: &MySqlPool,
    restore: u64,
    tx: &UnknownTx,
    now: UnixMillis,
) -> Result<bool, RestoreError> {
    let destinations: Vec<String> = tx
        .destinations
        .iter()
        .map(|(address, amount)| format!("{address} {}", amount.0))
        .collect();
    let done = sqlx::query(
        "INSERT IGNORE INTO restore_unknown_txs \
         (restore_id, tx_hash, amount, fee, tx_height, destinations, found_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(restore)
    .bind(tx.tx_hash.to_string())
    .bind(tx.amount.0)
    .bind(tx.fee.0)
    .bind(tx.height)
    .bind(destinations.join("\n"))
    .bind(now.0)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Noted transfers (or only the open ones), oldest first.
pub async fn unknown(pool: &MySqlPool, only_open: bool) -> Result<Vec<UnknownTxRow>, RestoreError> {
    let rows = sqlx::query(
        "SELECT restore_id, tx_hash, amount, fee, tx_height, destinations, found_at_ms, \
         resolution FROM restore_unknown_txs WHERE (? = 0 OR resolution IS NULL) ORDER BY id",
    )
    .bind(only_open)
    .fetch_all(pool)
    .await?;
    rows.iter().map(unknown_row).collect()
}

/// One noted transfer by hash.
pub async fn unknown_tx(pool: &MySqlPool, tx: &Hash32) -> Result<UnknownTxRow, RestoreError> {
    let row = sqlx::query(
        "SELECT restore_id, tx_hash, amount, fee, tx_height, destinations, found_at_ms, \
         resolution FROM restore_unknown_txs WHERE tx_hash = ?",
    )
    .bind(tx.to_string())
    .fetch_optional(pool)
    .await?
    .ok_or(RestoreError::NoSuchTx(*tx))?;
    unknown_row(&row)
}

fn unknown_row(r: &sqlx::mysql::MySqlRow) -> Result<UnknownTxRow, RestoreError> {
    let hash: String = r.try_get("tx_hash")?;
    let tx_hash = hash
        .parse()
        .map_err(|_| RestoreError::Malformed(format!("tx hash {hash:?}")))?;
    let text: String = r.try_get("destinations")?;
    let mut destinations = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let parsed = line
            .split_once(' ')
            .and_then(|(a, n)| Some((a.to_owned(), Atomic(n.parse().ok()?))));
        destinations
            .push(parsed.ok_or_else(|| RestoreError::Malformed(format!("destination {line:?}")))?);
    }
    Ok(UnknownTxRow {
        restore_id: r.try_get("restore_id")?,
        tx: UnknownTx {
            tx_hash,
            amount: Atomic(r.try_get("amount")?),
            fee: Atomic(r.try_get("fee")?),
            height: r.try_get("tx_height")?,
            destinations,
        },
        found_at: UnixMillis(r.try_get("found_at_ms")?),
        resolution: r.try_get("resolution")?,
    })
}

/// Marks the open noted transfer `tx` resolved.
pub async fn resolve(
    pool: &MySqlPool,
    tx: &Hash32,
    resolution: Resolution,
    now: UnixMillis,
) -> Result<(), RestoreError> {
    let done = sqlx::query(
        "UPDATE restore_unknown_txs SET resolution = ?, resolved_at_ms = ? \
         WHERE tx_hash = ? AND resolution IS NULL",
    )
    .bind(resolution.as_str())
    .bind(now.0)
    .bind(tx.to_string())
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let row = unknown_tx(pool, tx).await?;
    Err(RestoreError::AlreadyResolved {
        tx: *tx,
        resolution: row.resolution.unwrap_or_default(),
    })
}

/// Closes `restore` when no noted transfer is open; `true` when it closed it now.
pub async fn reconcile(
    pool: &MySqlPool,
    restore: u64,
    now: UnixMillis,
) -> Result<bool, RestoreError> {
    let done = sqlx::query(
        "UPDATE store_restores SET reconciled_at_ms = ? WHERE id = ? \
         AND reconciled_at_ms IS NULL \
         AND NOT EXISTS (SELECT 1 FROM restore_unknown_txs WHERE resolution IS NULL)",
    )
    .bind(now.0)
    .bind(restore)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
