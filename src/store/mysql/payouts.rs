//! Payout queries: durable batches (`sql/0003_payout_batches.sql`), the balance debits, and
//! nodejs-pool's `transactions` and `payments` records.
//!
//! Owns every write the payments role makes. Each status change is a compare-and-swap on
//! `payout_batches.status` checked against [`BatchStatus::can_become`]; a lost race comes back
//! as [`PayoutError::StatusChanged`] and changes nothing. The signed tx is recorded in ONE
//! transaction with the balance debits, the `transactions` row, the `payments` rows and the
//! removal of the reservations ([`record_signed`]), so after any crash either all of it exists
//! (and the tx may be relayed) or none of it does (and the tx was never broadcast).
//!
//! It also keeps the payments runner lease ([`RunnerLease`], `sql/0005_payout_fees.sql`) and
//! the books: a `payout_fees` row per signed batch (withdrawal and network fees) written with
//! its debits, so that [`books`] reconciles credited = due + paid out + fees charged.
//!
//! It does not decide what to pay (`payments::planner`) or talk to the wallet
//! (`payments::processor`). It never credits a balance except in [`revert`], the operator's
//! undo of a tx the wallet reports as failed. Secret tx keys are kept out of `Debug`.

use sqlx::{MySql, MySqlPool, QueryBuilder, Row};

use crate::domain::{Atomic, BalanceType, BatchKind, BatchStatus, Hash32};

/// Rows per multi-row INSERT (8 placeholders per item row; far below MySQL's 65,535).
const CHUNK: usize = 1_000;

/// Decoys per input of every Monero transaction since the v15 hard fork (ring size 16, fixed
/// by consensus): `transactions.mixin`, which nodejs-pool front-ends show with each payout.
pub const MIXIN: u32 = 15;

/// Errors of the payout queries.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    /// The batch was not in the status the change expects (another process moved it, or the
    /// operator did).
    #[error("batch {batch} is not {expected} (it is {actual})")]
    StatusChanged {
        batch: u64,
        expected: String,
        actual: String,
    },
    /// The transition is not in the table of `domain::payout`.
    #[error("batch {batch}: {from} -> {to} is not a permitted transition")]
    NotPermitted {
        batch: u64,
        from: BatchStatus,
        to: BatchStatus,
    },
    #[error("no payout batch {0}")]
    NoSuchBatch(u64),
    /// A balance row is already reserved by another live batch.
    #[error("balance {0} is already reserved by another batch")]
    AlreadyReserved(u64),
    /// A balance row no longer holds what the batch draws from it (or is gone).
    #[error("balance {balance_id} holds less than the {gross} atomic units this batch debits")]
    BalanceShort { balance_id: u64, gross: Atomic },
    /// A stored value we cannot interpret.
    #[error("malformed row: {0}")]
    Malformed(String),
    /// The batch has no items (refused before anything is written).
    #[error("a batch needs at least one item")]
    Empty,
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A balance row the planner may pay: not reserved, not set aside, at or above `min`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayableBalance {
    pub balance_id: u64,
    pub address: String,
    /// '' when none.
    pub payment_id: String,
    pub balance_type: BalanceType,
    pub amount: Atomic,
    /// `users.payout_threshold` of `address` (or `address.payment_id`), 0 when unset.
    pub threshold: Atomic,
}

/// One item of a batch to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    pub balance_id: u64,
    pub address: String,
    /// '' when none.
    pub payment_id: String,
    pub balance_type: BalanceType,
    /// What the wallet pays (the address, or an integrated address built for a payment id).
    pub destination: String,
    pub gross: Atomic,
    pub fee: Atomic,
    pub net: Atomic,
}

/// A tx key: proof of payment, kept out of logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TxKey(pub String);

impl std::fmt::Debug for TxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "TxKey(none)"
        } else {
            "TxKey(***)"
        })
    }
}

/// What the wallet returned for a transfer signed with `do_not_relay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecord {
    pub tx_hash: Hash32,
    pub tx_metadata: String,
    pub tx_key: TxKey,
    pub network_fee: Atomic,
}

/// A `payout_batches` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    pub id: u64,
    pub status: BatchStatus,
    pub kind: BatchKind,
    pub destinations: u32,
    pub gross: Atomic,
    pub net: Atomic,
    pub withdrawal_fee: Atomic,
    pub network_fee: Option<Atomic>,
    pub tx_hash: Option<Hash32>,
    pub tx_metadata: Option<String>,
    pub tx_key: TxKey,
    pub transaction_id: Option<u64>,
    pub relay_attempts: u32,
    pub confirmations: u64,
    pub tx_height: Option<u64>,
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: u64,
    pub updated_at: u64,
}

/// A `payout_batch_items` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub position: u32,
    pub balance_id: u64,
    pub address: String,
    pub payment_id: String,
    pub balance_type: BalanceType,
    pub destination: String,
    pub gross: Atomic,
    pub fee: Atomic,
    pub net: Atomic,
}

/// A set-aside balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub balance_id: u64,
    pub address: String,
    pub reason: String,
}

/// One payment to one miner, as the API serves it (nodejs-pool's `/miner/:address/payments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerPayment {
    /// Net of the withdrawal fee.
    pub amount: Atomic,
    /// The withdrawal fee charged.
    pub fee: Atomic,
    /// `payments.pool_type`: the balance type paid (pplns, pps, solo, fees).
    pub pool_type: String,
    pub tx_hash: String,
    /// `transactions.mixin`.
    pub mixin: u32,
    /// Unix milliseconds.
    pub paid_at: u64,
}

/// Pool-wide payout totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolTotals {
    pub paid: Atomic,
    pub withdrawal_fees: Atomic,
    pub network_fees: Atomic,
    pub payments: u64,
    pub transactions: u64,
}

/// Balances the planner may pay this cycle, oldest row first.
pub async fn load_payable(
    pool: &MySqlPool,
    min: Atomic,
) -> Result<Vec<PayableBalance>, PayoutError> {
    let rows = sqlx::query(
        "SELECT b.id, b.payment_address, COALESCE(b.payment_id, '') AS payment_id, b.pool_type, \
                CAST(b.amount AS UNSIGNED) AS amount, \
                CAST(COALESCE(u.payout_threshold, 0) AS UNSIGNED) AS threshold \
         FROM balance b \
         LEFT JOIN users u ON u.username = IF(COALESCE(b.payment_id, '') = '', b.payment_address, \
                                              CONCAT(b.payment_address, '.', b.payment_id)) \
         LEFT JOIN payout_reservations r ON r.balance_id = b.id \
         LEFT JOIN payout_set_aside s ON s.balance_id = b.id \
         WHERE b.amount >= ? AND r.balance_id IS NULL AND s.balance_id IS NULL \
         ORDER BY b.id",
    )
    .bind(min.0)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let ty: String = row.try_get("pool_type")?;
            Ok(PayableBalance {
                balance_id: u64_col(row, "id")?,
                address: row.try_get("payment_address")?,
                payment_id: row.try_get("payment_id")?,
                balance_type: ty
                    .parse()
                    .map_err(|_| PayoutError::Malformed(format!("balance.pool_type {ty:?}")))?,
                amount: Atomic(row.try_get("amount")?),
                threshold: Atomic(row.try_get("threshold")?),
            })
        })
        .collect()
}

/// Reads an integer id column whatever its signedness.
fn u64_col(row: &sqlx::mysql::MySqlRow, name: &str) -> Result<u64, PayoutError> {
    match row.try_get::<u64, _>(name) {
        Ok(v) => Ok(v),
        Err(_) => {
            let v: i64 = row.try_get(name)?;
            u64::try_from(v).map_err(|_| PayoutError::Malformed(format!("{name} = {v}")))
        }
    }
}

/// Writes a batch in status `reserved` with its items and one reservation per balance row,
/// in one transaction. Fails with [`PayoutError::AlreadyReserved`] (and writes nothing) when
/// another live batch draws on one of the rows.
pub async fn reserve(
    pool: &MySqlPool,
    kind: BatchKind,
    items: &[NewItem],
) -> Result<u64, PayoutError> {
    if items.is_empty() {
        return Err(PayoutError::Empty);
    }
    let gross: Atomic = items.iter().map(|i| i.gross).sum();
    let net: Atomic = items.iter().map(|i| i.net).sum();
    let fee: Atomic = items.iter().map(|i| i.fee).sum();
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "INSERT INTO payout_batches (status, kind, destinations, gross, net, withdrawal_fee) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(BatchStatus::Reserved.as_str())
    .bind(kind.as_str())
    .bind(items.len() as u32)
    .bind(gross.0)
    .bind(net.0)
    .bind(fee.0)
    .execute(&mut *tx)
    .await?;
    let batch = done.last_insert_id();
    for (chunk_no, chunk) in items.chunks(CHUNK).enumerate() {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO payout_batch_items (batch_id, position, balance_id, payment_address, \
             payment_id, pool_type, destination, gross, fee, net) ",
        );
        q.push_values(chunk.iter().enumerate(), |mut b, (i, item)| {
            b.push_bind(batch)
                .push_bind((chunk_no * CHUNK + i) as u32)
                .push_bind(item.balance_id)
                .push_bind(item.address.clone())
                .push_bind(item.payment_id.clone())
                .push_bind(item.balance_type.as_str())
                .push_bind(item.destination.clone())
                .push_bind(item.gross.0)
                .push_bind(item.fee.0)
                .push_bind(item.net.0);
        });
        q.build().execute(&mut *tx).await?;

        let mut q: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO payout_reservations (balance_id, batch_id, gross) ");
        q.push_values(chunk, |mut b, item| {
            b.push_bind(item.balance_id)
                .push_bind(batch)
                .push_bind(item.gross.0);
        });
        if let Err(err) = q.build().execute(&mut *tx).await {
            if is_unique_violation(&err) {
                tx.rollback().await?;
                let taken = first_reserved(pool, items).await?;
                return Err(PayoutError::AlreadyReserved(taken));
            }
            return Err(err.into());
        }
    }
    tx.commit().await?;
    Ok(batch)
}

async fn first_reserved(pool: &MySqlPool, items: &[NewItem]) -> Result<u64, PayoutError> {
    for item in items {
        let taken = sqlx::query("SELECT 1 FROM payout_reservations WHERE balance_id = ?")
            .bind(item.balance_id)
            .fetch_optional(pool)
            .await?;
        if taken.is_some() {
            return Ok(item.balance_id);
        }
    }
    Ok(items[0].balance_id)
}

/// Records a tx the wallet signed (not relayed) for a `reserved` batch, in ONE transaction:
/// the batch becomes `signed` with hash, metadata, key and network fee; each balance row is
/// debited its gross amount (refused if it holds less); one `transactions` row and one
/// `payments` row per item are written; the reservations are dropped. Returns the
/// `transactions.id`.
pub async fn record_signed(
    pool: &MySqlPool,
    batch: u64,
    signed: &SignedRecord,
) -> Result<u64, PayoutError> {
    let items = items(pool, batch).await?;
    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE payout_batches SET status = ?, tx_hash = ?, tx_metadata = ?, tx_key = ?, \
         network_fee = ?, signed_at = CURRENT_TIMESTAMP(3), last_error = NULL \
         WHERE id = ? AND status = ?",
    )
    .bind(BatchStatus::Signed.as_str())
    .bind(signed.tx_hash.to_string())
    .bind(signed.tx_metadata.clone())
    .bind(signed.tx_key.0.clone())
    .bind(signed.network_fee.0)
    .bind(batch)
    .bind(BatchStatus::Reserved.as_str())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(status_changed(pool, batch, BatchStatus::Reserved).await);
    }
    for item in &items {
        let debited =
            sqlx::query("UPDATE balance SET amount = amount - ? WHERE id = ? AND amount >= ?")
                .bind(item.gross.0)
                .bind(item.balance_id)
                .bind(item.gross.0)
                .execute(&mut *tx)
                .await?;
        if debited.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(PayoutError::BalanceShort {
                balance_id: item.balance_id,
                gross: item.gross,
            });
        }
    }
    let net: Atomic = items.iter().map(|i| i.net).sum();
    let (address, payment_id) = match items.as_slice() {
        [one] => (Some(one.address.clone()), Some(one.payment_id.clone())),
        _ => (None, None),
    };
    let inserted = sqlx::query(
        "INSERT INTO transactions \
         (address, payment_id, xmr_amt, transaction_hash, fees, payees, mixin) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(address)
    .bind(payment_id)
    .bind(net.0)
    .bind(signed.tx_hash.to_string())
    .bind(signed.network_fee.0)
    .bind(items.len() as u32)
    .bind(MIXIN)
    .execute(&mut *tx)
    .await?;
    let transaction_id = inserted.last_insert_id();
    for chunk in items.chunks(CHUNK) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO payments (unlocked_time, paid_time, pool_type, payment_address, \
             transaction_id, amount, payment_id, transfer_fee) ",
        );
        q.push_values(chunk, |mut b, item| {
            b.push("CURRENT_TIMESTAMP")
                .push("CURRENT_TIMESTAMP")
                .push_bind(item.balance_type.as_str())
                .push_bind(item.address.clone())
                .push_bind(transaction_id)
                .push_bind(item.net.0)
                .push_bind(item.payment_id.clone())
                .push_bind(item.fee.0);
        });
        q.build().execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE payout_batches SET transaction_id = ? WHERE id = ?")
        .bind(transaction_id)
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    // The books: what the payees were charged and what the network takes, with the debits.
    let withdrawal_fees: Atomic = items.iter().map(|i| i.fee).sum();
    sqlx::query(
        "INSERT INTO payout_fees (batch_id, withdrawal_fees, network_fee) VALUES (?, ?, ?)",
    )
    .bind(batch)
    .bind(withdrawal_fees.0)
    .bind(signed.network_fee.0)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM payout_reservations WHERE batch_id = ?")
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(transaction_id)
}

async fn status_changed(pool: &MySqlPool, batch: u64, expected: BatchStatus) -> PayoutError {
    match get(pool, batch).await {
        Ok(Some(row)) => PayoutError::StatusChanged {
            batch,
            expected: expected.to_string(),
            actual: row.status.to_string(),
        },
        Ok(None) => PayoutError::NoSuchBatch(batch),
        Err(err) => err,
    }
}

/// Moves `batch` from `from` to `to` (compare-and-swap), setting `last_error` to `note` when
/// given. Refuses transitions outside the table.
async fn transition(
    pool: &MySqlPool,
    batch: u64,
    from: BatchStatus,
    to: BatchStatus,
    note: Option<&str>,
) -> Result<(), PayoutError> {
    if !from.can_become(to) {
        return Err(PayoutError::NotPermitted { batch, from, to });
    }
    let moved = sqlx::query(
        "UPDATE payout_batches SET status = ?, last_error = COALESCE(?, last_error), \
         relayed_at = IF(? = 'relayed', CURRENT_TIMESTAMP(3), relayed_at), \
         confirmed_at = IF(? = 'confirmed', CURRENT_TIMESTAMP(3), confirmed_at), \
         closed_at = IF(? IN ('confirmed', 'released', 'reverted'), CURRENT_TIMESTAMP(3), closed_at) \
         WHERE id = ? AND status = ?",
    )
    .bind(to.as_str())
    .bind(note.map(truncate_note))
    .bind(to.as_str())
    .bind(to.as_str())
    .bind(to.as_str())
    .bind(batch)
    .bind(from.as_str())
    .execute(pool)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(status_changed(pool, batch, from).await);
    }
    Ok(())
}

fn truncate_note(note: &str) -> String {
    note.chars().take(1000).collect()
}

/// `signed` → `relayed`: the wallet accepted (or already knew) the tx.
pub async fn mark_relayed(pool: &MySqlPool, batch: u64) -> Result<(), PayoutError> {
    sqlx::query("UPDATE payout_batches SET relay_attempts = relay_attempts + 1 WHERE id = ?")
        .bind(batch)
        .execute(pool)
        .await?;
    transition(pool, batch, BatchStatus::Signed, BatchStatus::Relayed, None).await
}

/// Notes a relay attempt that failed without a verdict (the wallet was down); the status
/// stays.
pub async fn note_error(pool: &MySqlPool, batch: u64, error: &str) -> Result<(), PayoutError> {
    sqlx::query(
        "UPDATE payout_batches SET relay_attempts = relay_attempts + 1, last_error = ? \
         WHERE id = ?",
    )
    .bind(truncate_note(error))
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records what the wallet says about a relayed tx's depth.
pub async fn note_confirmations(
    pool: &MySqlPool,
    batch: u64,
    confirmations: u64,
    height: Option<u64>,
) -> Result<(), PayoutError> {
    sqlx::query("UPDATE payout_batches SET confirmations = ?, tx_height = ? WHERE id = ?")
        .bind(confirmations)
        .bind(height)
        .bind(batch)
        .execute(pool)
        .await?;
    Ok(())
}

/// `relayed` (or `manual_review`) → `confirmed`, and the `transactions` row marked confirmed,
/// in one transaction.
pub async fn mark_confirmed(
    pool: &MySqlPool,
    batch: u64,
    from: BatchStatus,
    confirmations: u64,
    height: Option<u64>,
) -> Result<(), PayoutError> {
    if !from.can_become(BatchStatus::Confirmed) {
        return Err(PayoutError::NotPermitted {
            batch,
            from,
            to: BatchStatus::Confirmed,
        });
    }
    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE payout_batches SET status = 'confirmed', confirmations = ?, tx_height = ?, \
         confirmed_at = CURRENT_TIMESTAMP(3), closed_at = CURRENT_TIMESTAMP(3) \
         WHERE id = ? AND status = ?",
    )
    .bind(confirmations)
    .bind(height)
    .bind(batch)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(status_changed(pool, batch, from).await);
    }
    sqlx::query(
        "UPDATE transactions t JOIN payout_batches p ON p.transaction_id = t.id \
         SET t.confirmed = 1, t.confirmed_time = CURRENT_TIMESTAMP WHERE p.id = ?",
    )
    .bind(batch)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `reserved` or `held` (never signed) → `released`: the reservations are dropped and the
/// balances were never touched. A batch held after signing is `held_signed` and refused here
/// by the transition table.
pub async fn release(pool: &MySqlPool, batch: u64, reason: &str) -> Result<(), PayoutError> {
    let row = get(pool, batch)
        .await?
        .ok_or(PayoutError::NoSuchBatch(batch))?;
    if !row.status.can_become(BatchStatus::Released) {
        return Err(PayoutError::NotPermitted {
            batch,
            from: row.status,
            to: BatchStatus::Released,
        });
    }
    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE payout_batches SET status = 'released', last_error = ?, \
         closed_at = CURRENT_TIMESTAMP(3) \
         WHERE id = ? AND status = ? AND tx_hash IS NULL",
    )
    .bind(truncate_note(reason))
    .bind(batch)
    .bind(row.status.as_str())
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(status_changed(pool, batch, row.status).await);
    }
    sqlx::query("DELETE FROM payout_reservations WHERE batch_id = ?")
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Operator `hold`: `reserved` → `held` (nothing is signed while held) or `signed` →
/// `held_signed` (the recorded tx is not relayed while held).
pub async fn hold(pool: &MySqlPool, batch: u64, reason: &str) -> Result<BatchStatus, PayoutError> {
    let row = get(pool, batch)
        .await?
        .ok_or(PayoutError::NoSuchBatch(batch))?;
    let to = if row.status.has_debits() {
        BatchStatus::HeldSigned
    } else {
        BatchStatus::Held
    };
    transition(pool, batch, row.status, to, Some(reason)).await?;
    Ok(to)
}

/// Operator `retry`: `held` → `reserved` (not signed yet), `held_signed` → `signed` (tx
/// recorded, relayed next), and `manual_review` → `signed` (relay the same tx again).
pub async fn retry(pool: &MySqlPool, batch: u64) -> Result<BatchStatus, PayoutError> {
    let row = get(pool, batch)
        .await?
        .ok_or(PayoutError::NoSuchBatch(batch))?;
    let to = match row.status {
        BatchStatus::Held => BatchStatus::Reserved,
        BatchStatus::HeldSigned | BatchStatus::ManualReview => BatchStatus::Signed,
        from => {
            return Err(PayoutError::NotPermitted {
                batch,
                from,
                to: BatchStatus::Signed,
            });
        }
    };
    transition(pool, batch, row.status, to, Some("operator retry")).await?;
    Ok(to)
}

/// `signed` or `relayed` → `manual_review` with the reason (inputs spent elsewhere).
pub async fn to_manual_review(
    pool: &MySqlPool,
    batch: u64,
    from: BatchStatus,
    reason: &str,
) -> Result<(), PayoutError> {
    transition(pool, batch, from, BatchStatus::ManualReview, Some(reason)).await
}

/// Operator undo of a tx that never reached the chain: `manual_review` → `reverted`, each
/// balance row credited back its gross amount and the `payments` rows of the tx removed, in
/// one transaction. The caller must have the wallet's word that the tx failed or is unknown.
pub async fn revert(pool: &MySqlPool, batch: u64, reason: &str) -> Result<(), PayoutError> {
    let items = items(pool, batch).await?;
    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE payout_batches SET status = 'reverted', last_error = ?, \
         closed_at = CURRENT_TIMESTAMP(3) WHERE id = ? AND status = 'manual_review'",
    )
    .bind(truncate_note(reason))
    .bind(batch)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        tx.rollback().await?;
        return Err(status_changed(pool, batch, BatchStatus::ManualReview).await);
    }
    for item in &items {
        sqlx::query("UPDATE balance SET amount = amount + ? WHERE id = ?")
            .bind(item.gross.0)
            .bind(item.balance_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "DELETE pm FROM payments pm JOIN payout_batches p ON p.transaction_id = pm.transaction_id \
         WHERE p.id = ?",
    )
    .bind(batch)
    .execute(&mut *tx)
    .await?;
    // The tx never reached the chain: no fee was charged or paid.
    sqlx::query("UPDATE payout_fees SET reverted = 1 WHERE batch_id = ?")
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a balance aside with the reason (a destination the wallet refused); the planner skips
/// it until [`clear_set_aside`].
pub async fn set_aside(
    pool: &MySqlPool,
    balance_id: u64,
    address: &str,
    reason: &str,
) -> Result<(), PayoutError> {
    sqlx::query(
        "INSERT INTO payout_set_aside (balance_id, payment_address, reason) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE reason = VALUES(reason)",
    )
    .bind(balance_id)
    .bind(address)
    .bind(truncate_note(reason))
    .execute(pool)
    .await?;
    Ok(())
}

/// Lets the planner consider a set-aside balance again. Returns whether one was cleared.
pub async fn clear_set_aside(pool: &MySqlPool, balance_id: u64) -> Result<bool, PayoutError> {
    let done = sqlx::query("DELETE FROM payout_set_aside WHERE balance_id = ?")
        .bind(balance_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Every set-aside balance.
pub async fn set_aside_list(pool: &MySqlPool) -> Result<Vec<SetAside>, PayoutError> {
    let rows = sqlx::query(
        "SELECT balance_id, payment_address, reason FROM payout_set_aside ORDER BY balance_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SetAside {
                balance_id: u64_col(row, "balance_id")?,
                address: row.try_get("payment_address")?,
                reason: row.try_get("reason")?,
            })
        })
        .collect()
}

const BATCH_COLUMNS: &str = "id, status, kind, destinations, gross, net, withdrawal_fee, \
     network_fee, tx_hash, tx_metadata, tx_key, transaction_id, relay_attempts, confirmations, \
     tx_height, last_error, \
     CAST(UNIX_TIMESTAMP(created_at) * 1000 AS UNSIGNED) AS created_ms, \
     CAST(UNIX_TIMESTAMP(updated_at) * 1000 AS UNSIGNED) AS updated_ms";

fn batch_row(row: &sqlx::mysql::MySqlRow) -> Result<BatchRow, PayoutError> {
    let status: String = row.try_get("status")?;
    let kind: String = row.try_get("kind")?;
    let tx_hash: Option<String> = row.try_get("tx_hash")?;
    let network_fee: Option<u64> = row.try_get("network_fee")?;
    let tx_key: Option<String> = row.try_get("tx_key")?;
    Ok(BatchRow {
        id: row.try_get("id")?,
        status: status
            .parse()
            .map_err(|_| PayoutError::Malformed(format!("status {status:?}")))?,
        kind: BatchKind::parse(&kind)
            .ok_or_else(|| PayoutError::Malformed(format!("kind {kind:?}")))?,
        destinations: row.try_get("destinations")?,
        gross: Atomic(row.try_get("gross")?),
        net: Atomic(row.try_get("net")?),
        withdrawal_fee: Atomic(row.try_get("withdrawal_fee")?),
        network_fee: network_fee.map(Atomic),
        tx_hash: tx_hash
            .map(|h| {
                h.parse()
                    .map_err(|_| PayoutError::Malformed(format!("tx_hash {h:?}")))
            })
            .transpose()?,
        tx_metadata: row.try_get("tx_metadata")?,
        tx_key: TxKey(tx_key.unwrap_or_default()),
        transaction_id: row.try_get("transaction_id")?,
        relay_attempts: row.try_get("relay_attempts")?,
        confirmations: row.try_get("confirmations")?,
        tx_height: row.try_get("tx_height")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_ms")?,
        updated_at: row.try_get("updated_ms")?,
    })
}

/// One batch.
pub async fn get(pool: &MySqlPool, batch: u64) -> Result<Option<BatchRow>, PayoutError> {
    let sql = format!("SELECT {BATCH_COLUMNS} FROM payout_batches WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(batch)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(batch_row).transpose()
}

/// Batches in any of `statuses` (all when empty), newest first, at most `limit`.
pub async fn list(
    pool: &MySqlPool,
    statuses: &[BatchStatus],
    limit: u32,
) -> Result<Vec<BatchRow>, PayoutError> {
    list_page(pool, statuses, limit, 0).await
}

/// [`list`] skipping the newest `offset` (the admin api's pages).
pub async fn list_page(
    pool: &MySqlPool,
    statuses: &[BatchStatus],
    limit: u32,
    offset: u64,
) -> Result<Vec<BatchRow>, PayoutError> {
    let mut q: QueryBuilder<MySql> =
        QueryBuilder::new(format!("SELECT {BATCH_COLUMNS} FROM payout_batches"));
    if !statuses.is_empty() {
        q.push(" WHERE status IN (");
        let mut sep = q.separated(", ");
        for s in statuses {
            sep.push_bind(s.as_str());
        }
        q.push(")");
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(batch_row).collect()
}

/// Live batches (not final), oldest first: what recovery walks.
pub async fn live(pool: &MySqlPool) -> Result<Vec<BatchRow>, PayoutError> {
    let sql = format!(
        "SELECT {BATCH_COLUMNS} FROM payout_batches \
         WHERE status NOT IN ('confirmed', 'released', 'reverted') ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(batch_row).collect()
}

/// The items of a batch, in destination order.
pub async fn items(pool: &MySqlPool, batch: u64) -> Result<Vec<ItemRow>, PayoutError> {
    let rows = sqlx::query(
        "SELECT position, balance_id, payment_address, payment_id, pool_type, destination, \
         gross, fee, net FROM payout_batch_items WHERE batch_id = ? ORDER BY position",
    )
    .bind(batch)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let ty: String = row.try_get("pool_type")?;
            Ok(ItemRow {
                position: row.try_get("position")?,
                balance_id: row.try_get("balance_id")?,
                address: row.try_get("payment_address")?,
                payment_id: row.try_get("payment_id")?,
                balance_type: ty
                    .parse()
                    .map_err(|_| PayoutError::Malformed(format!("pool_type {ty:?}")))?,
                destination: row.try_get("destination")?,
                gross: Atomic(row.try_get("gross")?),
                fee: Atomic(row.try_get("fee")?),
                net: Atomic(row.try_get("net")?),
            })
        })
        .collect()
}

/// A page of a miner's payments, newest first (what the API serves per miner): those paid to
/// `address` itself; a payment under a long payment ID went to another payee.
pub async fn miner_payments(
    pool: &MySqlPool,
    address: &str,
    limit: u32,
    offset: u64,
) -> Result<Vec<MinerPayment>, PayoutError> {
    let rows = sqlx::query(
        "SELECT CAST(pm.amount AS UNSIGNED) AS amount, \
                CAST(pm.transfer_fee AS UNSIGNED) AS fee, pm.pool_type, t.transaction_hash, \
                t.mixin, CAST(UNIX_TIMESTAMP(pm.paid_time) * 1000 AS UNSIGNED) AS paid_ms \
         FROM payments pm JOIN transactions t ON t.id = pm.transaction_id \
         WHERE pm.payment_address = ? AND COALESCE(pm.payment_id, '') = '' \
         ORDER BY pm.id DESC LIMIT ? OFFSET ?",
    )
    .bind(address)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(MinerPayment {
                amount: Atomic(row.try_get("amount")?),
                fee: Atomic(row.try_get("fee")?),
                pool_type: row.try_get("pool_type")?,
                tx_hash: row.try_get("transaction_hash")?,
                mixin: row.try_get("mixin")?,
                paid_at: row.try_get("paid_ms")?,
            })
        })
        .collect()
}

/// A miner's money for the operator's user list: due (unpaid balances of every mode) and
/// paid (net), in atomic units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerMoney {
    pub address: String,
    pub payment_id: String,
    pub due: u128,
    pub paid: u128,
}

/// Every miner with a balance row or a payment (fee income left out), by address, paged.
pub async fn miner_money(
    pool: &MySqlPool,
    limit: u32,
    offset: u64,
) -> Result<Vec<MinerMoney>, PayoutError> {
    let rows = sqlx::query(
        "SELECT a, pid, CAST(SUM(due) AS CHAR) AS due, CAST(SUM(paid) AS CHAR) AS paid FROM ( \
           SELECT payment_address AS a, payment_id AS pid, amount AS due, 0 AS paid \
             FROM balance WHERE pool_type <> 'fees' \
           UNION ALL SELECT payment_address, payment_id, 0, amount \
             FROM payments WHERE pool_type <> 'fees' \
         ) AS money GROUP BY a, pid ORDER BY a, pid LIMIT ? OFFSET ?",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let sum = |name: &str| -> Result<u128, PayoutError> {
                let text: String = row.try_get(name)?;
                text.parse()
                    .map_err(|_| PayoutError::Malformed(format!("{name} sum {text:?}")))
            };
            Ok(MinerMoney {
                address: row.try_get("a")?,
                payment_id: row.try_get("pid")?,
                due: sum("due")?,
                paid: sum("paid")?,
            })
        })
        .collect()
}

/// Pool-wide totals over every recorded payment.
pub async fn pool_totals(pool: &MySqlPool) -> Result<PoolTotals, PayoutError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS UNSIGNED) AS paid, \
                CAST(COALESCE(SUM(transfer_fee), 0) AS UNSIGNED) AS fees, \
                CAST(COUNT(*) AS UNSIGNED) AS n FROM payments",
    )
    .fetch_one(pool)
    .await?;
    let tx = sqlx::query(
        "SELECT CAST(COALESCE(SUM(fees), 0) AS UNSIGNED) AS fees, \
                CAST(COUNT(*) AS UNSIGNED) AS n FROM transactions",
    )
    .fetch_one(pool)
    .await?;
    Ok(PoolTotals {
        paid: Atomic(row.try_get("paid")?),
        withdrawal_fees: Atomic(row.try_get("fees")?),
        network_fees: Atomic(tx.try_get("fees")?),
        payments: row.try_get("n")?,
        transactions: tx.try_get("n")?,
    })
}

/// The pool's books, to the atomic unit. Every atomic unit credited (block and PPS ledger
/// lines) is still due (balances), was paid out (`payments`, net), or was charged as a
/// withdrawal fee (`payout_fees`); the network fees the wallet paid come out of what the pool
/// keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Books {
    pub credited: u128,
    pub due: u128,
    pub paid: u128,
    pub fees_charged: u128,
    pub network_fees: u128,
}

impl Books {
    /// `credited - (due + paid + fees charged)`: zero when the books reconcile.
    pub fn unaccounted(&self) -> i128 {
        let accounted = self.due + self.paid + self.fees_charged;
        i128::try_from(self.credited).unwrap_or(i128::MAX)
            - i128::try_from(accounted).unwrap_or(i128::MAX)
    }

    /// What the pool keeps of the fees: charged less the network fees (negative when the
    /// pool paid more network fees than it charged, as under `feePolicy=pool`).
    pub fn fee_income(&self) -> i128 {
        i128::try_from(self.fees_charged).unwrap_or(i128::MAX)
            - i128::try_from(self.network_fees).unwrap_or(i128::MAX)
    }
}

/// Reads the books (one consistent snapshot per sum; run it while nothing is paid for an
/// exact answer).
pub async fn books(pool: &MySqlPool) -> Result<Books, PayoutError> {
    let row = sqlx::query(
        "SELECT \
           CAST((SELECT COALESCE(SUM(amount), 0) FROM block_credits) + \
                (SELECT COALESCE(SUM(amount), 0) FROM pps_credits) AS CHAR) AS credited, \
           CAST((SELECT COALESCE(SUM(amount), 0) FROM balance) AS CHAR) AS due, \
           CAST((SELECT COALESCE(SUM(amount), 0) FROM payments) AS CHAR) AS paid, \
           CAST((SELECT COALESCE(SUM(withdrawal_fees), 0) FROM payout_fees WHERE reverted = 0) \
                AS CHAR) AS charged, \
           CAST((SELECT COALESCE(SUM(network_fee), 0) FROM payout_fees WHERE reverted = 0) \
                AS CHAR) AS network",
    )
    .fetch_one(pool)
    .await?;
    let sum = |name: &str| -> Result<u128, PayoutError> {
        let text: String = row.try_get(name)?;
        text.parse()
            .map_err(|_| PayoutError::Malformed(format!("{name} sum {text:?}")))
    };
    Ok(Books {
        credited: sum("credited")?,
        due: sum("due")?,
        paid: sum("paid")?,
        fees_charged: sum("charged")?,
        network_fees: sum("network")?,
    })
}

/// The network fee the pool wallet pays per payee, rounded up, over the last `window`
/// payouts that reached the network; `None` before the first.
pub async fn network_fee_per_payee(
    pool: &MySqlPool,
    window: u32,
) -> Result<Option<Atomic>, PayoutError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(f.network_fee), 0) AS UNSIGNED) AS fees, \
                CAST(COALESCE(SUM(p.destinations), 0) AS UNSIGNED) AS payees \
         FROM (SELECT batch_id, network_fee FROM payout_fees WHERE reverted = 0 \
               ORDER BY batch_id DESC LIMIT ?) f \
         JOIN payout_batches p ON p.id = f.batch_id",
    )
    .bind(window)
    .fetch_one(pool)
    .await?;
    let fees: u64 = row.try_get("fees")?;
    let payees: u64 = row.try_get("payees")?;
    Ok((payees > 0).then(|| Atomic(fees.div_ceil(payees))))
}

/// Balance rows that hold money (each is one payee to pay some day).
pub async fn payees_owed(pool: &MySqlPool) -> Result<u64, PayoutError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM balance WHERE amount > 0")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The payments runner lease (`payout_runner_lease`, `sql/0005_payout_fees.sql`): the one
/// payments process of a pool holds it, renews it every few seconds and confirms it before
/// every signing step. Unlike a `GET_LOCK` it does not live on a connection, so a killed or
/// timed-out connection cannot free it unnoticed; a holder that dies frees it after `ttl`.
/// Expiry is measured by MySQL's clock (`UTC_TIMESTAMP(3)`), never the hosts'.
#[derive(Debug, Clone)]
pub struct RunnerLease {
    pool: MySqlPool,
    holder: String,
    ttl: std::time::Duration,
}

/// How long a lease lasts without renewal.
pub const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

const LEASE_NAME: &str = "payments";

impl RunnerLease {
    /// Takes the lease for `holder` (a name unique to this process) if it is free, expired,
    /// or already this holder's; `None` when another holder's lease is live.
    pub async fn acquire(
        pool: &MySqlPool,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<RunnerLease>, PayoutError> {
        let done = sqlx::query(
            "UPDATE payout_runner_lease SET \
             acquired_at = IF(holder = ?, acquired_at, UTC_TIMESTAMP(3)), holder = ?, \
             expires_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, renewals = renewals + 1 \
             WHERE name = ? AND (holder = ? OR expires_at <= UTC_TIMESTAMP(3))",
        )
        .bind(holder)
        .bind(holder)
        .bind(micros(ttl))
        .bind(LEASE_NAME)
        .bind(holder)
        .execute(pool)
        .await?;
        Ok((done.rows_affected() == 1).then(|| RunnerLease {
            pool: pool.clone(),
            holder: holder.to_owned(),
            ttl,
        }))
    }

    /// Extends the lease if it is still this holder's and not expired; `false` when it was
    /// lost (expired, or taken by another process). Never takes back a lost lease.
    pub async fn renew(&self) -> Result<bool, PayoutError> {
        let done = sqlx::query(
            "UPDATE payout_runner_lease SET \
             expires_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, renewals = renewals + 1 \
             WHERE name = ? AND holder = ? AND expires_at > UTC_TIMESTAMP(3)",
        )
        .bind(micros(self.ttl))
        .bind(LEASE_NAME)
        .bind(&self.holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the lease again after it was lost, if it is free or expired (see
    /// [`RunnerLease::acquire`]); returns whether this holder has it now.
    pub async fn reacquire(&self) -> Result<bool, PayoutError> {
        Ok(RunnerLease::acquire(&self.pool, &self.holder, self.ttl)
            .await?
            .is_some())
    }

    /// Gives the lease up (clean shutdown, end of an admin cycle). Changes nothing if another
    /// holder has it.
    pub async fn release(&self) -> Result<(), PayoutError> {
        sqlx::query(
            "UPDATE payout_runner_lease SET holder = '', expires_at = UTC_TIMESTAMP(3) \
             WHERE name = ? AND holder = ?",
        )
        .bind(LEASE_NAME)
        .bind(&self.holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn ttl(&self) -> std::time::Duration {
        self.ttl
    }
}

/// Who holds the runner lease and for how much longer (negative: expired), for operators
/// and tests.
pub async fn lease_holder(pool: &MySqlPool) -> Result<Option<(String, i64)>, PayoutError> {
    let row = sqlx::query(
        "SELECT holder, CAST(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expires_at) / 1000 \
         AS SIGNED) AS left_ms FROM payout_runner_lease WHERE name = ?",
    )
    .bind(LEASE_NAME)
    .fetch_optional(pool)
    .await?;
    row.map(|row| -> Result<_, PayoutError> {
        let holder: String = row.try_get("holder")?;
        let left: i64 = row.try_get("left_ms")?;
        Ok((holder, left))
    })
    .transpose()
    .map(|h| h.filter(|(holder, _)| !holder.is_empty()))
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Asks the running payments role for a cycle now (`rxpool admin payments run-now`).
pub async fn request_run(pool: &MySqlPool) -> Result<u64, PayoutError> {
    let done = sqlx::query("INSERT INTO payout_run_requests () VALUES ()")
        .execute(pool)
        .await?;
    Ok(done.last_insert_id())
}

/// Marks every open run request handled; returns whether there was one.
pub async fn take_run_requests(pool: &MySqlPool) -> Result<bool, PayoutError> {
    let done = sqlx::query(
        "UPDATE payout_run_requests SET handled_at = CURRENT_TIMESTAMP(3) WHERE handled_at IS NULL",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
