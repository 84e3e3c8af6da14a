//! The pool's payout transactions for `/pool/payments` and `/pool/stats`, read from MySQL's
//! `transactions` and `payments` tables (written by the payments role when it records a
//! signed payout). One query per page: a transaction's payout mode comes from a correlated
//! subquery, not one query per row as in nodejs-pool. Read-only.

use serde::Serialize;
use sqlx::{MySqlPool, Row};

use crate::api::ApiError;
use crate::api::params::Paging;
use crate::domain::PoolType;

/// One row of `/pool/payments`, nodejs-pool's shape (amounts in atomic units).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRow {
    pub id: u64,
    /// The transaction hash.
    pub hash: String,
    pub mixins: u64,
    pub payees: u64,
    /// The network fee.
    pub fee: u64,
    /// The amount sent.
    pub value: u64,
    /// Submitted, Unix milliseconds.
    pub ts: u64,
    /// The mode of the balances it paid (`null` when none of its payments rows remain).
    pub pool_type: Option<String>,
}

/// The `transactions` columns of a [`PaymentRow`] (a macro: sqlx takes only static SQL).
macro_rules! columns {
    () => {
        "t.id, t.transaction_hash, CAST(t.mixin AS UNSIGNED) AS mixin, \
         CAST(t.payees AS UNSIGNED) AS payees, t.fees, t.xmr_amt, \
         CAST(UNIX_TIMESTAMP(t.submitted_time) AS UNSIGNED) * 1000 AS ts"
    };
}

/// A page of payout transactions, newest first; of one mode's payments when `mode` is set.
pub async fn page(
    db: &MySqlPool,
    mode: Option<PoolType>,
    paging: Paging,
) -> Result<Vec<PaymentRow>, ApiError> {
    let limit = u64::from(paging.limit);
    let offset = paging.offset();
    let rows = match mode {
        None => {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                ", (SELECT MIN(p.pool_type) FROM payments p \
                 WHERE p.transaction_id = t.id) AS pool_type \
                 FROM transactions t ORDER BY t.id DESC LIMIT ? OFFSET ?"
            ))
            .bind(limit)
            .bind(offset)
            .fetch_all(db)
            .await?
        }
        Some(mode) => {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                ", ? AS pool_type FROM transactions t \
                 WHERE EXISTS (SELECT 1 FROM payments p \
                               WHERE p.transaction_id = t.id AND p.pool_type = ?) \
                 ORDER BY t.id DESC LIMIT ? OFFSET ?"
            ))
            .bind(mode.as_str())
            .bind(mode.as_str())
            .bind(limit)
            .bind(offset)
            .fetch_all(db)
            .await?
        }
    };
    rows.iter()
        .map(|row| {
            Ok(PaymentRow {
                id: row.try_get("id")?,
                hash: row.try_get("transaction_hash")?,
                mixins: row.try_get("mixin")?,
                payees: row.try_get("payees")?,
                fee: row.try_get("fees")?,
                value: row.try_get("xmr_amt")?,
                ts: row.try_get("ts")?,
                pool_type: row.try_get("pool_type")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ApiError::from)
}

/// Unix seconds of the newest payout transaction; 0 before the first (nodejs-pool's
/// `lastPaymentCycle`, which was 0 until the first cycle).
pub async fn last_payment_secs(db: &MySqlPool) -> Result<u64, ApiError> {
    let secs: Option<u64> = sqlx::query_scalar(
        "SELECT CAST(UNIX_TIMESTAMP(MAX(submitted_time)) AS UNSIGNED) FROM transactions",
    )
    .fetch_one(db)
    .await?;
    Ok(secs.unwrap_or(0))
}
