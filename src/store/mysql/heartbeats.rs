//! Liveness and health facts for operator alerts: the `role_heartbeats` and `operator_alerts`
//! tables of `sql/0009_operator_alerts.sql`, and the read-only health queries the worker's
//! operator checks run (pool hosts' check-ins, the mail outbox's delivery trouble).
//!
//! Owns the queries only: what counts as stalled, behind or failing, and when an alert turns
//! on, is decided in `worker::operator`. The block-manager, payments and cleaner roles write
//! their beat here at the end of every loop iteration. Times are Unix milliseconds ([`UnixMillis`]).

use sqlx::{MySqlConnection, MySqlPool, Row};

use super::MysqlError;
use crate::domain::UnixMillis;

/// A role whose loop writes a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BeatingRole {
    BlockManager,
    Payments,
    Cleaner,
}

impl BeatingRole {
    pub const ALL: [BeatingRole; 3] = [
        BeatingRole::BlockManager,
        BeatingRole::Payments,
        BeatingRole::Cleaner,
    ];

    /// The role's name as the CLI spells it, stored in `role_heartbeats.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            BeatingRole::BlockManager => "block-manager",
            BeatingRole::Payments => "payments",
            BeatingRole::Cleaner => "cleaner",
        }
    }
}

/// Longest heartbeat or alert detail kept, in characters (the columns' size).
const MAX_DETAIL_CHARS: usize = 1024;

fn clip(text: &str) -> &str {
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// This host's name (`/proc/sys/kernel/hostname`), or `unknown` where it cannot be read.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Records that `role` on `host` finished a loop iteration at `at`.
pub async fn beat(
    pool: &MySqlPool,
    role: BeatingRole,
    host: &str,
    at: UnixMillis,
    detail: &str,
) -> Result<(), MysqlError> {
    sqlx::query(
        "INSERT INTO role_heartbeats (role, host, beat_at_ms, detail) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE beat_at_ms = GREATEST(beat_at_ms, VALUES(beat_at_ms)), \
         detail = VALUES(detail)",
    )
    .bind(role.as_str())
    .bind(host)
    .bind(at.0)
    .bind(clip(detail))
    .execute(pool)
    .await?;
    Ok(())
}

/// A role's most recent heartbeat over all hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastBeat {
    pub host: String,
    pub at: UnixMillis,
    pub detail: String,
}

/// The latest heartbeat of `role` on any host; `None` when it never beat.
pub async fn last_beat(
    pool: &MySqlPool,
    role: BeatingRole,
) -> Result<Option<LastBeat>, MysqlError> {
    let row = sqlx::query(
        "SELECT host, beat_at_ms, detail FROM role_heartbeats WHERE role = ? \
         ORDER BY beat_at_ms DESC, host LIMIT 1",
    )
    .bind(role.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok::<_, MysqlError>(LastBeat {
            host: r.try_get("host")?,
            at: UnixMillis(r.try_get("beat_at_ms")?),
            detail: r.try_get("detail")?,
        })
    })
    .transpose()
}

/// An operator alert's stored state (`operator_alerts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub key: String,
    pub active: bool,
    pub since: UnixMillis,
    pub last_notice: UnixMillis,
    pub detail: String,
}

fn alert_row(r: &sqlx::mysql::MySqlRow) -> Result<AlertRow, sqlx::Error> {
    Ok(AlertRow {
        key: r.try_get("alert_key")?,
        active: r.try_get::<i8, _>("active")? != 0,
        since: UnixMillis(r.try_get("since_ms")?),
        last_notice: UnixMillis(r.try_get("last_notice_ms")?),
        detail: r.try_get("detail")?,
    })
}

const ALERT_COLUMNS: &str = "alert_key, active, since_ms, last_notice_ms, detail";

/// Every alert that is on, by key.
pub async fn active_alerts(pool: &MySqlPool) -> Result<Vec<AlertRow>, MysqlError> {
    let sql =
        format!("SELECT {ALERT_COLUMNS} FROM operator_alerts WHERE active = 1 ORDER BY alert_key");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(alert_row).collect::<Result<_, _>>()?)
}

/// Every alert ever seen, on or off, by key (for `rxpool admin` and tests).
pub async fn all_alerts(pool: &MySqlPool) -> Result<Vec<AlertRow>, MysqlError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM operator_alerts ORDER BY alert_key");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(alert_row).collect::<Result<_, _>>()?)
}

/// Makes sure `key` has a row (an absent alert is stored off), so that [`lock_alert`] always
/// locks a row.
pub async fn ensure_alert(pool: &MySqlPool, key: &str, now: UnixMillis) -> Result<(), MysqlError> {
    sqlx::query(
        "INSERT INTO operator_alerts (alert_key, active, since_ms, last_notice_ms, detail, updated_at_ms) \
         VALUES (?, 0, ?, ?, '', ?) ON DUPLICATE KEY UPDATE alert_key = alert_key",
    )
    .bind(key)
    .bind(now.0)
    .bind(now.0)
    .bind(now.0)
    .execute(pool)
    .await?;
    Ok(())
}

/// Inside a transaction: the alert's row, locked until the transaction ends.
pub async fn lock_alert(
    tx: &mut MySqlConnection,
    key: &str,
) -> Result<Option<AlertRow>, MysqlError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM operator_alerts WHERE alert_key = ? FOR UPDATE");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.as_ref().map(alert_row).transpose()?)
}

/// Inside a transaction: writes the alert's new state.
pub async fn save_alert(
    tx: &mut MySqlConnection,
    row: &AlertRow,
    now: UnixMillis,
) -> Result<(), MysqlError> {
    sqlx::query(
        "INSERT INTO operator_alerts (alert_key, active, since_ms, last_notice_ms, detail, updated_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE active = VALUES(active), \
         since_ms = VALUES(since_ms), last_notice_ms = VALUES(last_notice_ms), \
         detail = VALUES(detail), updated_at_ms = VALUES(updated_at_ms)",
    )
    .bind(&row.key)
    .bind(row.active)
    .bind(row.since.0)
    .bind(row.last_notice.0)
    .bind(clip(&row.detail))
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A registered, active pool host as its heartbeat left it (`pools`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCheckin {
    pub pool_id: u32,
    pub hostname: String,
    /// The template height it last reported; `None` before its first heartbeat with one.
    pub block_id: Option<u64>,
    pub last_checkin: UnixMillis,
}

/// Every pool host marked active, lowest id first.
pub async fn active_pools(pool: &MySqlPool) -> Result<Vec<PoolCheckin>, MysqlError> {
    let rows = sqlx::query(
        "SELECT id, hostname, blockID, \
         CAST(UNIX_TIMESTAMP(last_checkin) * 1000 AS UNSIGNED) AS checkin_ms \
         FROM pools WHERE active = 1 ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let checkin = |r: &sqlx::mysql::MySqlRow| -> Result<PoolCheckin, sqlx::Error> {
        Ok(PoolCheckin {
            pool_id: r.try_get("id")?,
            hostname: r.try_get("hostname")?,
            block_id: r.try_get("blockID")?,
            last_checkin: UnixMillis(r.try_get("checkin_ms")?),
        })
    };
    Ok(rows.iter().map(checkin).collect::<Result<_, _>>()?)
}

/// Mails the outbox has tried and failed to deliver, still waiting for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxTrouble {
    /// Undelivered rows with at least one failed attempt, created before the cut-off.
    pub failing: u64,
    /// When the oldest of them was queued.
    pub oldest_queued: UnixMillis,
    /// Its last SMTP error.
    pub last_error: String,
}

/// Undelivered `mail_outbox` rows (queued or being sent) with a failed attempt and an error
/// that were queued at or before `queued_before`; `None` when there are none.
pub async fn outbox_trouble(
    pool: &MySqlPool,
    queued_before: UnixMillis,
) -> Result<Option<OutboxTrouble>, MysqlError> {
    let row = sqlx::query(
        "SELECT COUNT(*) OVER () AS failing, created_at, last_error FROM mail_outbox \
         WHERE state IN ('queued', 'sending') AND attempts > 0 AND last_error IS NOT NULL \
         AND created_at <= ? ORDER BY created_at, id LIMIT 1",
    )
    .bind(queued_before.0)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok::<_, MysqlError>(OutboxTrouble {
            failing: u64::try_from(r.try_get::<i64, _>("failing")?).unwrap_or(0),
            oldest_queued: UnixMillis(r.try_get("created_at")?),
            last_error: r.try_get("last_error")?,
        })
    })
    .transpose()
}
