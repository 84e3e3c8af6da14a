//! One miner's rows as the api serves them and the settings a miner may change: the payout
//! threshold (`users.payout_threshold`, refused while `users.payout_threshold_lock` is set) and
//! the reads behind `/miner/:address/{stats,block_payments}` (balances, payment totals and the
//! block credit ledger; the payments list itself is `payouts::miner_payments`).
//!
//! A miner is its payout key, exactly as the pool, the block-manager and the payments role
//! store it: `balance`, `payments` and `block_credits` rows with that `payment_address` and an
//! empty `payment_id`, and the `users` row whose `username` is the key. It does not validate
//! keys or amounts (the api parses them first) and never touches the e-mail columns (the
//! double opt-in in `mail::subscriptions` owns those).

use sqlx::{MySqlPool, Row};

use crate::domain::Atomic;

/// A miner's `users` row, as far as the api shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserSettings {
    /// 0 when the miner never chose one (the pool minimum applies).
    pub payout_threshold: Atomic,
    pub threshold_locked: bool,
}

/// The miner's settings row, if it has one.
pub async fn user_settings(
    pool: &MySqlPool,
    miner: &str,
) -> Result<Option<UserSettings>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(payout_threshold AS UNSIGNED) AS threshold, payout_threshold_lock \
         FROM users WHERE username = ?",
    )
    .bind(miner)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(UserSettings {
            payout_threshold: Atomic(r.try_get("threshold")?),
            threshold_locked: r.try_get::<i8, _>("payout_threshold_lock")? != 0,
        })
    })
    .transpose()
}

/// What [`set_threshold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdChange {
    Set,
    /// The operator locked the threshold; nothing was written.
    Locked,
}

/// Sets the miner's payout threshold (creating its `users` row if needed) unless the
/// operator locked it. The row is locked from the check to the write.
pub async fn set_threshold(
    pool: &MySqlPool,
    miner: &str,
    threshold: Atomic,
) -> Result<ThresholdChange, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: Option<i8> =
        sqlx::query_scalar("SELECT payout_threshold_lock FROM users WHERE username = ? FOR UPDATE")
            .bind(miner)
            .fetch_optional(&mut *tx)
            .await?;
    if locked.is_some_and(|l| l != 0) {
        return Ok(ThresholdChange::Locked);
    }
    sqlx::query(
        "INSERT INTO users (username, payout_threshold) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE payout_threshold = VALUES(payout_threshold)",
    )
    .bind(miner)
    .bind(threshold.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ThresholdChange::Set)
}

/// Locks or unlocks a miner's payout threshold (the operator's switch; the admin api and CLI
/// call this). Creates the miner's `users` row if needed.
pub async fn set_threshold_lock(
    pool: &MySqlPool,
    miner: &str,
    locked: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (username, payout_threshold_lock) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE payout_threshold_lock = VALUES(payout_threshold_lock)",
    )
    .bind(miner)
    .bind(locked)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the pool's MySQL knows the miner at all (a settings row, a balance or a payment).
pub async fn is_known(pool: &MySqlPool, miner: &str) -> Result<bool, sqlx::Error> {
    let known: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM users WHERE username = ? \
         UNION ALL SELECT 1 FROM balance WHERE payment_address = ? AND payment_id = '' \
         LIMIT 1",
    )
    .bind(miner)
    .bind(miner)
    .fetch_optional(pool)
    .await?;
    Ok(known.is_some())
}

/// A miner's money figures for `/miner/:address/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinerTotals {
    /// Net amounts paid (sum of `payments.amount`).
    pub paid: Atomic,
    /// Balances owed, every pool type.
    pub due: Atomic,
    /// Payments made.
    pub payments: u64,
}

/// Sums a miner's payments and balances.
pub async fn totals(pool: &MySqlPool, miner: &str) -> Result<MinerTotals, sqlx::Error> {
    let row = sqlx::query(
        "SELECT \
           (SELECT CAST(COALESCE(SUM(amount), 0) AS UNSIGNED) FROM payments \
             WHERE payment_address = ? AND payment_id = '') AS paid, \
           (SELECT CAST(COUNT(*) AS UNSIGNED) FROM payments \
             WHERE payment_address = ? AND payment_id = '') AS n, \
           (SELECT CAST(COALESCE(SUM(amount), 0) AS UNSIGNED) FROM balance \
             WHERE payment_address = ? AND payment_id = '') AS due",
    )
    .bind(miner)
    .bind(miner)
    .bind(miner)
    .fetch_one(pool)
    .await?;
    Ok(MinerTotals {
        paid: Atomic(row.try_get("paid")?),
        due: Atomic(row.try_get("due")?),
        payments: row.try_get("n")?,
    })
}

/// What one credited block gave a miner (the credit ledger, `block_credits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCreditRow {
    /// `paid_blocks.id`.
    pub id: u64,
    pub hash: String,
    pub height: u64,
    pub pool_type: String,
    pub reward: Atomic,
    /// When the block was credited, Unix seconds.
    pub credited_at: u64,
    /// The miner's credit from this block (all its lines).
    pub amount: Atomic,
}

/// A page of the blocks that credited a miner, newest credit first.
pub async fn block_credits_page(
    pool: &MySqlPool,
    miner: &str,
    limit: u32,
    offset: u64,
) -> Result<Vec<BlockCreditRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT pb.id, pb.hash, pb.height, pb.pool_type, pb.reward, \
                CAST(UNIX_TIMESTAMP(pb.credited_at) AS UNSIGNED) AS ts, \
                CAST(SUM(bc.amount) AS UNSIGNED) AS amount \
         FROM block_credits bc JOIN paid_blocks pb ON pb.hash = bc.block_hash \
         WHERE bc.payment_address = ? AND bc.payment_id = '' \
         GROUP BY pb.id, pb.hash, pb.height, pb.pool_type, pb.reward, pb.credited_at \
         ORDER BY pb.id DESC LIMIT ? OFFSET ?",
    )
    .bind(miner)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(BlockCreditRow {
                id: r.try_get("id")?,
                hash: r.try_get("hash")?,
                height: r.try_get("height")?,
                pool_type: r.try_get("pool_type")?,
                reward: Atomic(r.try_get("reward")?),
                credited_at: r.try_get("ts")?,
                amount: Atomic(r.try_get("amount")?),
            })
        })
        .collect()
}
