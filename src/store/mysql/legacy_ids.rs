//! Balances held under a long (64-hex) payment ID, and the operator's one way out for them:
//! moving such a balance to an address the operator names (`rxpool admin payments
//! legacy-ids` / `resolve-legacy-id`).
//!
//! Wallets no longer send standalone payment IDs, so these balances can never be paid as they
//! are (the payments role sets them aside). A move empties the source row and credits the
//! named address's balance of the same type in ONE transaction, with a `balance_moves` row
//! (`sql/0004_binary_collation.sql`) recording who got what. The source is emptied by a
//! compare-and-swap on the amount read under a row lock, so running the same move twice moves
//! nothing the second time; a balance reserved by a live payout batch is never moved. The sum
//! of all balances is unchanged by a move.
//!
//! It does not validate the target address (the admin front does, for the pool's network) and
//! never talks to the wallet.

use sqlx::{MySqlPool, Row};

use crate::domain::Atomic;
use crate::domain::address::LONG_PAYMENT_ID_HEX;

/// Why a move was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("no balance {0}")]
    NoSuchBalance(u64),
    #[error("balance {0} has no long (64-hex) payment ID; only those are moved here")]
    NotLegacy(u64),
    #[error("balance {0} is reserved by a live payout batch; resolve that batch first")]
    Reserved(u64),
    #[error("balance {0} holds nothing to move (already moved?)")]
    NothingToMove(u64),
    #[error("the target is the balance's own address")]
    SameAddress,
}

/// A balance row with a long payment ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyIdBalance {
    pub balance_id: u64,
    pub address: String,
    pub payment_id: String,
    /// `balance.pool_type`: pplns, pps, solo or fees.
    pub balance_type: String,
    pub amount: Atomic,
    /// Why the payments role set it aside, if it did.
    pub set_aside_reason: Option<String>,
}

/// One completed move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceMove {
    pub id: u64,
    pub from_balance_id: u64,
    pub to_balance_id: u64,
    pub to_address: String,
    pub amount: Atomic,
}

/// Every balance with a 64-hex payment ID, non-empty ones first, then by id.
pub async fn list(pool: &MySqlPool) -> Result<Vec<LegacyIdBalance>, MoveError> {
    let rows = sqlx::query(
        "SELECT b.id, b.payment_address, b.payment_id, b.pool_type, \
                CAST(b.amount AS UNSIGNED) AS amount, s.reason \
         FROM balance b LEFT JOIN payout_set_aside s ON s.balance_id = b.id \
         WHERE CHAR_LENGTH(b.payment_id) = ? \
         ORDER BY b.amount = 0, b.id",
    )
    .bind(LONG_PAYMENT_ID_HEX as u64)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LegacyIdBalance {
                balance_id: row.try_get("id")?,
                address: row.try_get("payment_address")?,
                payment_id: row.try_get("payment_id")?,
                balance_type: row.try_get("pool_type")?,
                amount: Atomic(row.try_get("amount")?),
                set_aside_reason: row.try_get("reason")?,
            })
        })
        .collect()
}

/// Moves the whole of legacy-ID balance `from` to `to_address`'s balance of the same type
/// (no payment ID), once, in one transaction, recorded in `balance_moves` with `reason`.
pub async fn move_to(
    pool: &MySqlPool,
    from: u64,
    to_address: &str,
    reason: &str,
) -> Result<BalanceMove, MoveError> {
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query(
        "SELECT payment_address, payment_id, pool_type, bitcoin, \
                CAST(amount AS UNSIGNED) AS amount \
         FROM balance WHERE id = ? FOR UPDATE",
    )
    .bind(from)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(MoveError::NoSuchBalance(from));
    };
    let address: String = row.try_get("payment_address")?;
    let payment_id: String = row.try_get("payment_id")?;
    let pool_type: String = row.try_get("pool_type")?;
    let bitcoin: i8 = row.try_get("bitcoin")?;
    let amount: u64 = row.try_get("amount")?;
    if payment_id.chars().count() != LONG_PAYMENT_ID_HEX {
        return Err(MoveError::NotLegacy(from));
    }
    if address == to_address {
        return Err(MoveError::SameAddress);
    }
    let reserved: Option<u64> =
        sqlx::query_scalar("SELECT batch_id FROM payout_reservations WHERE balance_id = ?")
            .bind(from)
            .fetch_optional(&mut *tx)
            .await?;
    if reserved.is_some() {
        return Err(MoveError::Reserved(from));
    }
    if amount == 0 {
        return Err(MoveError::NothingToMove(from));
    }
    let emptied = sqlx::query("UPDATE balance SET amount = 0 WHERE id = ? AND amount = ?")
        .bind(from)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    if emptied.rows_affected() != 1 {
        return Err(MoveError::NothingToMove(from));
    }
    sqlx::query(
        "INSERT INTO balance (payment_address, payment_id, pool_type, bitcoin, amount) \
         VALUES (?, '', ?, ?, ?) ON DUPLICATE KEY UPDATE amount = amount + VALUES(amount)",
    )
    .bind(to_address)
    .bind(&pool_type)
    .bind(bitcoin)
    .bind(amount)
    .execute(&mut *tx)
    .await?;
    let to_balance_id: u64 = sqlx::query_scalar(
        "SELECT id FROM balance \
         WHERE payment_address = ? AND payment_id = '' AND pool_type = ? AND bitcoin = ?",
    )
    .bind(to_address)
    .bind(&pool_type)
    .bind(bitcoin)
    .fetch_one(&mut *tx)
    .await?;
    let recorded = sqlx::query(
        "INSERT INTO balance_moves (from_balance_id, from_address, from_payment_id, \
         to_balance_id, to_address, pool_type, amount, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(from)
    .bind(&address)
    .bind(&payment_id)
    .bind(to_balance_id)
    .bind(to_address)
    .bind(&pool_type)
    .bind(amount)
    .bind(reason.chars().take(1024).collect::<String>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(BalanceMove {
        id: recorded.last_insert_id(),
        from_balance_id: from,
        to_balance_id,
        to_address: to_address.to_owned(),
        amount: Atomic(amount),
    })
}

/// The moves recorded for balance `from`, oldest first.
pub async fn moves_from(pool: &MySqlPool, from: u64) -> Result<Vec<BalanceMove>, MoveError> {
    let rows = sqlx::query(
        "SELECT id, from_balance_id, to_balance_id, to_address, \
                CAST(amount AS UNSIGNED) AS amount \
         FROM balance_moves WHERE from_balance_id = ? ORDER BY id",
    )
    .bind(from)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(BalanceMove {
                id: row.try_get("id")?,
                from_balance_id: row.try_get("from_balance_id")?,
                to_balance_id: row.try_get("to_balance_id")?,
                to_address: row.try_get("to_address")?,
                amount: Atomic(row.try_get("amount")?),
            })
        })
        .collect()
}
