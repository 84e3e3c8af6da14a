//! Crediting queries: one transaction per found block (and per PPS height) that writes the
//! unique paid marker, the ledger lines and the balance upserts together, or nothing.
//!
//! Owns the tables of `sql/0002_block_credits.sql` (`paid_blocks`, `block_credits`,
//! `pps_paid_heights`, `pps_credits`, `block_manager_cursor`) and the block-manager's
//! additions to nodejs-pool's `balance` (`amount = amount + ?` upserts keyed by
//! (payment_address, pool_type, payment_id)). It does not decide what to credit (the
//! block-manager's pure modules do) and refuses lines that do not sum to the reward.
//!
//! Exactly once: the marker row is inserted first; its UNIQUE key makes a second attempt fail
//! (or wait for the first transaction and then fail), which is reported as
//! [`Credited::Already`] after a rollback. `on_step` is called at each point inside the
//! transaction so the caller can hook fail points (crash tests) without this module knowing.

use sqlx::{MySql, MySqlPool, QueryBuilder, Row};

use crate::domain::{Atomic, BalanceType, Difficulty, Hash32, Height, PoolType};

/// Rows per multi-row INSERT (MySQL allows 65,535 placeholders; 6 per row here).
const CHUNK: usize = 1_000;

/// One credit line as written: `amount` to the balance `(address, payment_id, balance_type)`.
/// An absent payment id is the empty string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerLine<'a> {
    pub address: &'a str,
    pub payment_id: &'a str,
    pub balance_type: BalanceType,
    pub amount: Atomic,
}

/// A ledger line read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub address: String,
    pub payment_id: String,
    pub balance_type: BalanceType,
    pub amount: Atomic,
}

/// The PPLNS window a block was credited over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRecord {
    pub wanted: Difficulty,
    pub filled: Difficulty,
    pub shares: u64,
}

/// The found block being credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidBlock {
    pub hash: Hash32,
    pub height: Height,
    pub pool_type: PoolType,
    pub reward: Atomic,
    pub window: Option<WindowRecord>,
}

/// A `paid_blocks` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidBlockRow {
    pub block: PaidBlock,
    pub miners_credited: Atomic,
    pub fees_credited: Atomic,
    pub payees: u32,
    /// Milliseconds since the epoch.
    pub credited_at_ms: u64,
}

/// The chain height whose PPS shares are being credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PpsHeight {
    pub height: Height,
    /// The chain block at that height when it was credited.
    pub hash: Hash32,
    pub base_reward: Atomic,
    pub difficulty: Difficulty,
    pub shares: u64,
    pub share_difficulty: u128,
    /// The gross PPS value of the height: what its ledger lines sum to.
    pub gross: Atomic,
}

/// Points inside the crediting transaction, reported to `on_step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditStep {
    /// The unique marker row is inserted (transaction open).
    MarkerInserted,
    /// Ledger lines and balances are written; the commit comes next.
    RowsWritten,
}

/// What a crediting call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credited {
    /// Committed by this call.
    Now,
    /// The marker row already existed; nothing was written.
    Already,
}

/// Crediting failed; nothing was committed.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("ledger lines sum to {lines:?}, not the reward {reward:?}")]
    SumMismatch { reward: Atomic, lines: Atomic },
    #[error("ledger line overflow")]
    Overflow,
    #[error("a stored value is malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

fn sum_lines(lines: &[LedgerLine<'_>]) -> Result<(Atomic, Atomic), CreditError> {
    let mut miners = Atomic::ZERO;
    let mut fees = Atomic::ZERO;
    for line in lines {
        let slot = if line.balance_type == BalanceType::Fees {
            &mut fees
        } else {
            &mut miners
        };
        *slot = slot.checked_add(line.amount).ok_or(CreditError::Overflow)?;
    }
    Ok((miners, fees))
}

fn check_sum(reward: Atomic, lines: &[LedgerLine<'_>]) -> Result<(Atomic, Atomic), CreditError> {
    let (miners, fees) = sum_lines(lines)?;
    let total = miners.checked_add(fees).ok_or(CreditError::Overflow)?;
    if total != reward {
        return Err(CreditError::SumMismatch {
            reward,
            lines: total,
        });
    }
    Ok((miners, fees))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Credits one found block: marker row, ledger lines, balances, in one transaction.
pub async fn credit_block(
    pool: &MySqlPool,
    block: &PaidBlock,
    lines: &[LedgerLine<'_>],
    on_step: impl Fn(CreditStep),
) -> Result<Credited, CreditError> {
    let (miners, fees) = check_sum(block.reward, lines)?;
    let hash = block.hash.to_string();
    let marker = sqlx::query(
        "INSERT INTO paid_blocks (hash, height, pool_type, reward, miners_credited, \
         fees_credited, payees, window_difficulty, window_filled, window_shares) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(hash.clone())
    .bind(block.height.0)
    .bind(block.pool_type.as_str())
    .bind(block.reward.0)
    .bind(miners.0)
    .bind(fees.0)
    .bind(u32::try_from(lines.len()).unwrap_or(u32::MAX))
    .bind(block.window.map(|w| w.wanted.0.to_string()))
    .bind(block.window.map(|w| w.filled.0.to_string()))
    .bind(block.window.map(|w| w.shares));
    let ledger = Ledger::Block {
        hash: &hash,
        height: block.height,
    };
    write_once(pool, marker, ledger, lines, on_step).await
}

/// Credits the PPS shares of one chain height: marker row, ledger lines, balances.
pub async fn credit_pps_height(
    pool: &MySqlPool,
    height: &PpsHeight,
    lines: &[LedgerLine<'_>],
    on_step: impl Fn(CreditStep),
) -> Result<Credited, CreditError> {
    let (miners, fees) = check_sum(height.gross, lines)?;
    let marker = sqlx::query(
        "INSERT INTO pps_paid_heights (height, hash, base_reward, difficulty, shares, \
         share_difficulty, gross, miners_credited, fees_credited, payees) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(height.height.0)
    .bind(height.hash.to_string())
    .bind(height.base_reward.0)
    .bind(height.difficulty.0.to_string())
    .bind(height.shares)
    .bind(height.share_difficulty.to_string())
    .bind(height.gross.0)
    .bind(miners.0)
    .bind(fees.0)
    .bind(u32::try_from(lines.len()).unwrap_or(u32::MAX));
    write_once(pool, marker, Ledger::Pps(height.height), lines, on_step).await
}

/// Which ledger table the lines of one crediting go to, with their key columns.
#[derive(Debug, Clone, Copy)]
enum Ledger<'a> {
    Block { hash: &'a str, height: Height },
    Pps(Height),
}

impl Ledger<'_> {
    fn insert(self, chunk: &[LedgerLine<'_>]) -> QueryBuilder<MySql> {
        let head = match self {
            Ledger::Block { .. } => "INSERT INTO block_credits (block_hash, height, ",
            Ledger::Pps(_) => "INSERT INTO pps_credits (height, ",
        };
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(head);
        q.push("payment_address, payment_id, balance_type, amount) ");
        q.push_values(chunk, |mut row, line| {
            match self {
                Ledger::Block { hash, height } => {
                    row.push_bind(hash.to_owned()).push_bind(height.0);
                }
                Ledger::Pps(height) => {
                    row.push_bind(height.0);
                }
            }
            row.push_bind(line.address.to_owned())
                .push_bind(line.payment_id.to_owned())
                .push_bind(line.balance_type.as_str())
                .push_bind(line.amount.0);
        });
        q
    }
}

/// The one crediting transaction: the unique marker first (a duplicate means "already
/// credited": roll back, report it), then ledger lines and balances, then commit.
async fn write_once<'q>(
    pool: &MySqlPool,
    marker: sqlx::query::Query<'q, MySql, sqlx::mysql::MySqlArguments>,
    ledger: Ledger<'_>,
    lines: &[LedgerLine<'_>],
    on_step: impl Fn(CreditStep),
) -> Result<Credited, CreditError> {
    let mut tx = pool.begin().await?;
    match marker.execute(&mut *tx).await {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => {
            tx.rollback().await?;
            return Ok(Credited::Already);
        }
        Err(err) => return Err(err.into()),
    }
    on_step(CreditStep::MarkerInserted);
    for chunk in lines.chunks(CHUNK) {
        ledger.insert(chunk).build().execute(&mut *tx).await?;
    }
    upsert_balances(&mut tx, lines).await?;
    on_step(CreditStep::RowsWritten);
    tx.commit().await?;
    Ok(Credited::Now)
}

async fn upsert_balances(
    tx: &mut sqlx::Transaction<'_, MySql>,
    lines: &[LedgerLine<'_>],
) -> Result<(), CreditError> {
    for chunk in lines.chunks(CHUNK) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO balance (payment_address, payment_id, pool_type, amount) ",
        );
        q.push_values(chunk, |mut row, line| {
            row.push_bind(line.address.to_owned())
                .push_bind(line.payment_id.to_owned())
                .push_bind(line.balance_type.as_str())
                .push_bind(line.amount.0);
        });
        q.push(" ON DUPLICATE KEY UPDATE amount = amount + VALUES(amount)");
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

fn parse_u128(text: &str, what: &str) -> Result<u128, CreditError> {
    text.parse()
        .map_err(|_| CreditError::Malformed(format!("{what} {text:?}")))
}

fn parse_hash(text: &str) -> Result<Hash32, CreditError> {
    text.parse()
        .map_err(|_| CreditError::Malformed(format!("hash {text:?}")))
}

const PAID_BLOCK_COLUMNS: &str = "SELECT hash, height, pool_type, reward, miners_credited, \
     fees_credited, payees, CAST(window_difficulty AS CHAR) AS wd, \
     CAST(window_filled AS CHAR) AS wf, window_shares, \
     CAST(UNIX_TIMESTAMP(credited_at) * 1000 AS UNSIGNED) AS at_ms FROM paid_blocks ";

fn paid_block_row(row: &sqlx::mysql::MySqlRow) -> Result<PaidBlockRow, CreditError> {
    let pool_type: String = row.try_get("pool_type")?;
    let wd: Option<String> = row.try_get("wd")?;
    let wf: Option<String> = row.try_get("wf")?;
    let ws: Option<u64> = row.try_get("window_shares")?;
    let window = match (wd, wf, ws) {
        (Some(wd), Some(wf), Some(shares)) => Some(WindowRecord {
            wanted: Difficulty(parse_u128(&wd, "window_difficulty")?),
            filled: Difficulty(parse_u128(&wf, "window_filled")?),
            shares,
        }),
        _ => None,
    };
    Ok(PaidBlockRow {
        block: PaidBlock {
            hash: parse_hash(&row.try_get::<String, _>("hash")?)?,
            height: Height(row.try_get("height")?),
            pool_type: pool_type
                .parse()
                .map_err(|_| CreditError::Malformed(format!("pool_type {pool_type:?}")))?,
            reward: Atomic(row.try_get("reward")?),
            window,
        },
        miners_credited: Atomic(row.try_get("miners_credited")?),
        fees_credited: Atomic(row.try_get("fees_credited")?),
        payees: row.try_get("payees")?,
        credited_at_ms: row.try_get("at_ms")?,
    })
}

/// The paid-block row of `hash`, if the block was credited.
pub async fn paid_block(
    pool: &MySqlPool,
    hash: &Hash32,
) -> Result<Option<PaidBlockRow>, CreditError> {
    let sql = format!("{PAID_BLOCK_COLUMNS} WHERE hash = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash.to_string())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(paid_block_row).transpose()
}

/// Whether `hash` has been credited.
pub async fn is_credited(pool: &MySqlPool, hash: &Hash32) -> Result<bool, CreditError> {
    let row = sqlx::query("SELECT 1 FROM paid_blocks WHERE hash = ?")
        .bind(hash.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// The newest credited blocks, newest first.
pub async fn recent_paid_blocks(
    pool: &MySqlPool,
    limit: u32,
) -> Result<Vec<PaidBlockRow>, CreditError> {
    let sql = format!("{PAID_BLOCK_COLUMNS} ORDER BY height DESC, id DESC LIMIT ?");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(paid_block_row).collect()
}

fn ledger_row(row: &sqlx::mysql::MySqlRow) -> Result<LedgerRow, CreditError> {
    let ty: String = row.try_get("balance_type")?;
    Ok(LedgerRow {
        address: row.try_get("payment_address")?,
        payment_id: row.try_get("payment_id")?,
        balance_type: ty
            .parse()
            .map_err(|_| CreditError::Malformed(format!("balance_type {ty:?}")))?,
        amount: Atomic(row.try_get("amount")?),
    })
}

/// The ledger lines of one credited block, by address.
pub async fn block_lines(pool: &MySqlPool, hash: &Hash32) -> Result<Vec<LedgerRow>, CreditError> {
    let rows = sqlx::query(
        "SELECT payment_address, payment_id, balance_type, amount FROM block_credits \
         WHERE block_hash = ? ORDER BY payment_address, payment_id, balance_type",
    )
    .bind(hash.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter().map(ledger_row).collect()
}

/// The ledger lines of one PPS height, by address.
pub async fn pps_lines(pool: &MySqlPool, height: Height) -> Result<Vec<LedgerRow>, CreditError> {
    let rows = sqlx::query(
        "SELECT payment_address, payment_id, balance_type, amount FROM pps_credits \
         WHERE height = ? ORDER BY payment_address, payment_id, balance_type",
    )
    .bind(height.0)
    .fetch_all(pool)
    .await?;
    rows.iter().map(ledger_row).collect()
}

/// Whether PPS height `height` has been credited.
pub async fn is_pps_credited(pool: &MySqlPool, height: Height) -> Result<bool, CreditError> {
    let row = sqlx::query("SELECT 1 FROM pps_paid_heights WHERE height = ?")
        .bind(height.0)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// The sum of every balance the pool owes (all types), for the PPS reserve check.
pub async fn owed_total(pool: &MySqlPool) -> Result<Atomic, CreditError> {
    let row = sqlx::query("SELECT CAST(COALESCE(SUM(amount), 0) AS CHAR) AS owed FROM balance")
        .fetch_one(pool)
        .await?;
    let text: String = row.try_get("owed")?;
    let owed = parse_u128(&text, "owed")?;
    u64::try_from(owed)
        .map(Atomic)
        .map_err(|_| CreditError::Overflow)
}

/// The money of one balance type (`pplns`, `pps`, `solo`, `fees`), in atomic units: what the
/// ledgers credited, what the balances still owe, what was paid out (net).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeTotals {
    pub credited: u128,
    pub owed: u128,
    pub paid: u128,
}

/// [`TypeTotals`] per balance type (`GET /admin/stats`), by type name.
pub async fn totals_by_type(
    pool: &MySqlPool,
) -> Result<std::collections::BTreeMap<String, TypeTotals>, CreditError> {
    let rows = sqlx::query(
        "SELECT t, CAST(SUM(credited) AS CHAR) AS credited, CAST(SUM(owed) AS CHAR) AS owed, \
                CAST(SUM(paid) AS CHAR) AS paid FROM ( \
           SELECT balance_type AS t, amount AS credited, 0 AS owed, 0 AS paid FROM block_credits \
           UNION ALL SELECT balance_type, amount, 0, 0 FROM pps_credits \
           UNION ALL SELECT pool_type, 0, amount, 0 FROM balance \
           UNION ALL SELECT pool_type, 0, 0, amount FROM payments \
         ) AS money GROUP BY t",
    )
    .fetch_all(pool)
    .await?;
    let mut out = std::collections::BTreeMap::new();
    for row in rows {
        let kind: String = row.try_get("t")?;
        let sum = |name: &str| -> Result<u128, CreditError> {
            let text: String = row.try_get(name)?;
            parse_u128(&text, name)
        };
        out.insert(
            kind,
            TypeTotals {
                credited: sum("credited")?,
                owed: sum("owed")?,
                paid: sum("paid")?,
            },
        );
    }
    Ok(out)
}

/// The `block_manager_cursor` row of PPS crediting: the next chain height whose PPS shares
/// are to be credited (the block-manager moves it; the cleaner keeps every share from it up).
pub const PPS_CURSOR: &str = "pps";

/// A named resume point (`chain_scan`, `pps`): the next height to process.
pub async fn cursor(pool: &MySqlPool, name: &str) -> Result<Option<Height>, CreditError> {
    let row = sqlx::query("SELECT height FROM block_manager_cursor WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.map(|r| r.try_get::<u64, _>("height").map(Height))
        .transpose()
        .map_err(Into::into)
}

/// Moves a named resume point to `next` (never backwards).
pub async fn set_cursor(pool: &MySqlPool, name: &str, next: Height) -> Result<(), CreditError> {
    sqlx::query(
        "INSERT INTO block_manager_cursor (name, height) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE height = GREATEST(height, VALUES(height))",
    )
    .bind(name)
    .bind(next.0)
    .execute(pool)
    .await?;
    Ok(())
}

/// A chain block for nodejs-pool's `block_log` (pool statistics and explorers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBlockRow {
    pub height: Height,
    pub hash: Hash32,
    /// Block timestamp, seconds since the epoch (0 = unknown, stored as NULL).
    pub time_secs: u64,
    pub reward: Atomic,
    pub difficulty: Difficulty,
    pub major_version: u8,
    pub minor_version: u8,
    /// Not (or no longer) on the chain.
    pub orphan: bool,
}

/// Records chain blocks in `block_log`; a known hash only has its orphan flag updated.
pub async fn record_chain_blocks(
    pool: &MySqlPool,
    rows: &[ChainBlockRow],
) -> Result<(), CreditError> {
    for chunk in rows.chunks(CHUNK) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO block_log (id, orphan, hex, find_time, reward, difficulty, \
             major_version, minor_version) ",
        );
        q.push_values(chunk, |mut row, b| {
            row.push_bind(b.height.0)
                .push_bind(b.orphan)
                .push_bind(b.hash.to_string())
                .push("FROM_UNIXTIME(")
                .push_bind_unseparated((b.time_secs > 0).then_some(b.time_secs))
                .push_unseparated(")")
                .push_bind(b.reward.0)
                .push_bind(b.difficulty.0.to_string())
                .push_bind(b.major_version)
                .push_bind(b.minor_version);
        });
        q.push(" ON DUPLICATE KEY UPDATE orphan = VALUES(orphan)");
        q.build().execute(pool).await?;
    }
    Ok(())
}

/// The `block_log` row of `hash`: (height, orphan flag).
pub async fn chain_block(
    pool: &MySqlPool,
    hash: &Hash32,
) -> Result<Option<(Height, bool)>, CreditError> {
    let row = sqlx::query("SELECT id, orphan FROM block_log WHERE hex = ?")
        .bind(hash.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|r| -> Result<_, CreditError> {
        Ok((Height(r.try_get("id")?), r.try_get::<bool, _>("orphan")?))
    })
    .transpose()
}
