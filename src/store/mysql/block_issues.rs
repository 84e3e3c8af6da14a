//! Blocks set aside: the `block_issues` table of `sql/0006_block_issues.sql`.
//!
//! A found block (or PPS height) whose crediting failed is recorded here with its reason and
//! the time of its next attempt, so the block-manager goes on with the others and retries it
//! later; a chain block paying the pool wallet that nothing recorded is reported here too.
//! Owns the queries only: the backoff and what counts as an issue are the block-manager's.
//! Times are milliseconds since the epoch.

use sqlx::{MySqlPool, Row};

use crate::domain::{Hash32, Height};

/// What kind of trouble a row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IssueKind {
    /// A found block whose crediting failed.
    Block,
    /// A chain height whose PPS crediting failed.
    Pps,
    /// A chain block paying the pool wallet with no found-block record.
    Unrecorded,
}

impl IssueKind {
    pub const ALL: [IssueKind; 3] = [IssueKind::Block, IssueKind::Pps, IssueKind::Unrecorded];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Block => "block",
            IssueKind::Pps => "pps",
            IssueKind::Unrecorded => "unrecorded",
        }
    }

    fn parse(text: &str) -> Option<IssueKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for IssueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One open (or settled) issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub kind: IssueKind,
    pub height: Height,
    pub hash: Hash32,
    pub reason: String,
    /// Failed attempts so far (1 for a report).
    pub attempts: u32,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Not retried before this time.
    pub retry_at_ms: u64,
    pub resolved_at_ms: Option<u64>,
}

impl Issue {
    /// Whether the block-manager may try it again at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.retry_at_ms <= now_ms
    }
}

/// A query on `block_issues` failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("a stored issue is malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Longest reason kept, in characters (the column's size).
const MAX_REASON_CHARS: usize = 1024;

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Failed attempts so far, this one included.
    pub attempts: u32,
    /// The issue was not open before.
    pub new: bool,
    pub retry_at_ms: u64,
}

/// Records a failed attempt (or a report) at `now_ms`; the next attempt waits
/// `retry_after(attempts)` milliseconds. A settled row is reopened with its attempts counted
/// from 1.
pub async fn record(
    pool: &MySqlPool,
    kind: IssueKind,
    height: Height,
    hash: &Hash32,
    reason: &str,
    now_ms: u64,
    retry_after: impl FnOnce(u32) -> u64,
) -> Result<Recorded, IssueError> {
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    let mut tx = pool.begin().await?;
    let before = sqlx::query(
        "SELECT attempts, resolved_at_ms FROM block_issues \
         WHERE kind = ? AND height = ? AND hash = ? FOR UPDATE",
    )
    .bind(kind.as_str())
    .bind(height.0)
    .bind(hash.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let (attempts, new) = match &before {
        None => (1, true),
        Some(row) => {
            let resolved: Option<u64> = row.try_get("resolved_at_ms")?;
            match resolved {
                Some(_) => (1, true),
                None => (row.try_get::<u32, _>("attempts")?.saturating_add(1), false),
            }
        }
    };
    let retry_at_ms = now_ms.saturating_add(retry_after(attempts));
    match before {
        None => {
            sqlx::query(
                "INSERT INTO block_issues \
                 (kind, height, hash, reason, attempts, first_seen_ms, last_seen_ms, retry_at_ms) \
                 VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
            )
            .bind(kind.as_str())
            .bind(height.0)
            .bind(hash.to_string())
            .bind(&reason)
            .bind(now_ms)
            .bind(now_ms)
            .bind(retry_at_ms)
            .execute(&mut *tx)
            .await?;
        }
        Some(_) => {
            sqlx::query(
                "UPDATE block_issues SET reason = ?, attempts = ?, last_seen_ms = ?, \
                 retry_at_ms = ?, resolved_at_ms = NULL \
                 WHERE kind = ? AND height = ? AND hash = ?",
            )
            .bind(&reason)
            .bind(attempts)
            .bind(now_ms)
            .bind(retry_at_ms)
            .bind(kind.as_str())
            .bind(height.0)
            .bind(hash.to_string())
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Recorded {
        attempts,
        new,
        retry_at_ms,
    })
}

/// Marks an open issue settled; returns whether one was open.
pub async fn resolve(
    pool: &MySqlPool,
    kind: IssueKind,
    height: Height,
    hash: &Hash32,
    now_ms: u64,
) -> Result<bool, IssueError> {
    let done = sqlx::query(
        "UPDATE block_issues SET resolved_at_ms = ? \
         WHERE kind = ? AND height = ? AND hash = ? AND resolved_at_ms IS NULL",
    )
    .bind(now_ms)
    .bind(kind.as_str())
    .bind(height.0)
    .bind(hash.to_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Makes the open issues of `kind` matching `hash` (any height), or `height` (any hash), due
/// now: the operator's retry. Returns how many.
pub async fn retry_now(
    pool: &MySqlPool,
    kind: IssueKind,
    height: Option<Height>,
    hash: Option<&Hash32>,
) -> Result<u64, IssueError> {
    let done = sqlx::query(
        "UPDATE block_issues SET retry_at_ms = 0 \
         WHERE kind = ? AND resolved_at_ms IS NULL \
         AND (? IS NULL OR height = ?) AND (? IS NULL OR hash = ?)",
    )
    .bind(kind.as_str())
    .bind(height.map(|h| h.0))
    .bind(height.map(|h| h.0))
    .bind(hash.map(Hash32::to_string))
    .bind(hash.map(Hash32::to_string))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Every open issue of `kind` (all kinds with `None`), lowest height first.
pub async fn open(pool: &MySqlPool, kind: Option<IssueKind>) -> Result<Vec<Issue>, IssueError> {
    let rows = sqlx::query(
        "SELECT kind, height, hash, reason, attempts, first_seen_ms, last_seen_ms, retry_at_ms, \
         resolved_at_ms FROM block_issues \
         WHERE resolved_at_ms IS NULL AND (? IS NULL OR kind = ?) ORDER BY height, kind, hash",
    )
    .bind(kind.map(IssueKind::as_str))
    .bind(kind.map(IssueKind::as_str))
    .fetch_all(pool)
    .await?;
    rows.iter().map(issue).collect()
}

/// One issue, open or settled.
pub async fn get(
    pool: &MySqlPool,
    kind: IssueKind,
    height: Height,
    hash: &Hash32,
) -> Result<Option<Issue>, IssueError> {
    let row = sqlx::query(
        "SELECT kind, height, hash, reason, attempts, first_seen_ms, last_seen_ms, retry_at_ms, \
         resolved_at_ms FROM block_issues WHERE kind = ? AND height = ? AND hash = ?",
    )
    .bind(kind.as_str())
    .bind(height.0)
    .bind(hash.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(issue).transpose()
}

fn issue(row: &sqlx::mysql::MySqlRow) -> Result<Issue, IssueError> {
    let kind: String = row.try_get("kind")?;
    let hash: String = row.try_get("hash")?;
    Ok(Issue {
        kind: IssueKind::parse(&kind)
            .ok_or_else(|| IssueError::Malformed(format!("kind {kind:?}")))?,
        height: Height(row.try_get("height")?),
        hash: hash
            .parse()
            .map_err(|_| IssueError::Malformed(format!("hash {hash:?}")))?,
        reason: row.try_get("reason")?,
        attempts: row.try_get("attempts")?,
        first_seen_ms: row.try_get("first_seen_ms")?,
        last_seen_ms: row.try_get("last_seen_ms")?,
        retry_at_ms: row.try_get("retry_at_ms")?,
        resolved_at_ms: row.try_get("resolved_at_ms")?,
    })
}
