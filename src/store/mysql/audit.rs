//! The admin audit log (`admin_audit`, `sql/0011_admin_audit.sql`): who changed what, with the
//! state before and after, one row per admin write. The admin API records every write here in
//! the request that made it; nothing reads it back but the operator (`/admin/audit`).

use serde::Serialize;
use sqlx::{MySqlPool, Row};

use super::MysqlError;
use crate::domain::UnixMillis;

/// One admin write, as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    /// The admin account's name, or `cli`.
    pub actor: &'a str,
    /// What was done, e.g. `ports.set` or `payout.hold`.
    pub action: &'a str,
    /// What it was done to ('' when nothing in particular).
    pub target: &'a str,
    /// The state before (None for a create).
    pub before: Option<serde_json::Value>,
    /// The state after (None for a delete).
    pub after: Option<serde_json::Value>,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: u64,
    pub at_ms: u64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Appends one entry.
pub async fn record(
    pool: &MySqlPool,
    at: UnixMillis,
    entry: &AuditEntry<'_>,
) -> Result<u64, MysqlError> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(serde_json::Value::to_string);
    let done = sqlx::query(
        "INSERT INTO admin_audit (at_ms, actor, action, target, before_json, after_json)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(at.0)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(json(&entry.before))
    .bind(json(&entry.after))
    .execute(pool)
    .await?;
    Ok(done.last_insert_id())
}

/// The newest `limit` entries, newest first, skipping `offset`.
pub async fn recent(
    pool: &MySqlPool,
    limit: u32,
    offset: u64,
) -> Result<Vec<AuditRow>, MysqlError> {
    let rows = sqlx::query(
        "SELECT id, at_ms, actor, action, target, before_json, after_json
         FROM admin_audit ORDER BY id DESC LIMIT ? OFFSET ?",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    rows.into_iter()
        .map(|row| {
            Ok(AuditRow {
                id: row.try_get("id")?,
                at_ms: row.try_get("at_ms")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                before: parse(row.try_get("before_json")?),
                after: parse(row.try_get("after_json")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(MysqlError::from)
}
