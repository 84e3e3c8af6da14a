//! Admin sessions, the token signing key and failed-login counts (`admin_sessions`,
//! `admin_secret`, `admin_login_failures`): what every api host must agree on, so it lives in
//! MySQL.
//!
//! A session is one login. It holds the SHA-256 of its current refresh token (and of the one
//! before, so that a stolen old token presented again revokes the session), its expiry and
//! its revocation; access tokens carry its id and are honoured only while it is live. The
//! signing key is 32 random bytes inserted once. Failed logins are rows kept for the rate
//! limit's window. Tokens and keys are never logged: [`SigningKey`]'s `Debug` masks it.

use std::fmt;

use rand::RngCore as _;
use sha2::{Digest, Sha256};
use sqlx::{MySqlConnection, MySqlPool, Row};

use super::Role;
use crate::domain::UnixMillis;

/// The HS256 key access tokens are signed with. `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey(pub [u8; 32]);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// The pool's access-token key: read, or (the first time) a fresh random one inserted if
/// there is still none and read back, so every api host signs and checks with the same key.
pub async fn signing_key(pool: &MySqlPool) -> Result<SigningKey, sqlx::Error> {
    let select = "SELECT secret FROM admin_secret WHERE name = 'access_tokens'";
    if let Some(stored) = sqlx::query_scalar::<_, Vec<u8>>(select)
        .fetch_optional(pool)
        .await?
    {
        return key_from(stored);
    }
    let mut candidate = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut candidate);
    sqlx::query("INSERT IGNORE INTO admin_secret (name, secret) VALUES ('access_tokens', ?)")
        .bind(&candidate[..])
        .execute(pool)
        .await?;
    let stored: Vec<u8> = sqlx::query_scalar(select).fetch_one(pool).await?;
    key_from(stored)
}

fn key_from(stored: Vec<u8>) -> Result<SigningKey, sqlx::Error> {
    let bytes: [u8; 32] = stored
        .try_into()
        .map_err(|_| sqlx::Error::Decode("admin_secret.access_tokens is not 32 bytes".into()))?;
    Ok(SigningKey(bytes))
}

/// An opaque refresh token as handed to the client (URL-safe base64 of 32 random bytes).
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(pub String);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

impl RefreshToken {
    pub fn generate() -> RefreshToken {
        use base64::Engine as _;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        RefreshToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// What the database keeps of it.
    fn digest(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }
}

/// A live session and the account it belongs to, as the token check needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub id: u64,
    pub user_id: u64,
    pub name: String,
    pub role: Role,
    pub expires_ms: u64,
}

/// How long an ended session's row is kept (for the operator's eyes) before a login drops it.
const KEEP_ENDED_MS: u64 = 7 * 24 * 3600 * 1000;

/// Opens a session for account `user_id` with `refresh` valid until `expires`, and drops the
/// rows of sessions that expired or were revoked over a week ago.
pub async fn open(
    pool: &MySqlPool,
    user_id: u64,
    refresh: &RefreshToken,
    now: UnixMillis,
    expires: UnixMillis,
) -> Result<u64, sqlx::Error> {
    let old = now.0.saturating_sub(KEEP_ENDED_MS);
    sqlx::query("DELETE FROM admin_sessions WHERE expires_ms < ? OR revoked_ms < ?")
        .bind(old)
        .bind(old)
        .execute(pool)
        .await?;
    let done = sqlx::query(
        "INSERT INTO admin_sessions (user_id, refresh_hash, created_ms, refreshed_ms, expires_ms)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(&RefreshToken::digest(&refresh.0)[..])
    .bind(now.0)
    .bind(now.0)
    .bind(expires.0)
    .execute(pool)
    .await?;
    Ok(done.last_insert_id())
}

/// Session `id` if it is live at `now` (not revoked, not expired, its account still there),
/// with the account's current name and role.
pub async fn live(
    pool: &MySqlPool,
    id: u64,
    now: UnixMillis,
) -> Result<Option<LiveSession>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.id, s.user_id, s.expires_ms, u.name, u.role
         FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id
         WHERE s.id = ? AND s.revoked_ms IS NULL AND s.expires_ms > ?",
    )
    .bind(id)
    .bind(now.0)
    .fetch_optional(pool)
    .await?;
    row.map(|row| live_from_row(&row)).transpose()
}

fn live_from_row(row: &sqlx::mysql::MySqlRow) -> Result<LiveSession, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(LiveSession {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .map_err(|_| sqlx::Error::Decode(format!("admin_users.role {role:?}").into()))?,
        expires_ms: row.try_get("expires_ms")?,
    })
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is replaced by the new one, valid until the new expiry.
    Rotated(LiveSession),
    /// The token had already been replaced: someone holds a copy, so the session is revoked.
    Reused,
    /// Unknown, expired or revoked.
    Refused,
}

/// Replaces the session's refresh token `presented` by `next`, valid until `expires`.
/// Atomic: of two refreshes with one token, one rotates and the other is [`Rotation::Reused`].
pub async fn rotate(
    pool: &MySqlPool,
    presented: &str,
    next: &RefreshToken,
    now: UnixMillis,
    expires: UnixMillis,
) -> Result<Rotation, sqlx::Error> {
    let presented = RefreshToken::digest(presented);
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT s.id, s.user_id, s.expires_ms, s.revoked_ms, s.refresh_hash, u.name, u.role
         FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id
         WHERE s.refresh_hash = ? OR s.previous_hash = ? LIMIT 1 FOR UPDATE",
    )
    .bind(&presented[..])
    .bind(&presented[..])
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Refused);
    };
    let session = live_from_row(&row)?;
    let revoked: Option<u64> = row.try_get("revoked_ms")?;
    let current: Vec<u8> = row.try_get("refresh_hash")?;
    if revoked.is_some() || session.expires_ms <= now.0 {
        return Ok(Rotation::Refused);
    }
    if current != presented {
        revoke_in(&mut tx, session.id, now).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    sqlx::query(
        "UPDATE admin_sessions SET previous_hash = refresh_hash, refresh_hash = ?,
                refreshed_ms = ?, expires_ms = ?
         WHERE id = ?",
    )
    .bind(&RefreshToken::digest(&next.0)[..])
    .bind(now.0)
    .bind(expires.0)
    .bind(session.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(LiveSession {
        expires_ms: expires.0,
        ..session
    }))
}

/// Revokes session `id` (logout); true if it was live.
pub async fn revoke(pool: &MySqlPool, id: u64, now: UnixMillis) -> Result<bool, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    revoke_in(&mut conn, id, now).await
}

async fn revoke_in(
    conn: &mut MySqlConnection,
    id: u64,
    now: UnixMillis,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE admin_sessions SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")
            .bind(now.0)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every session of account `user_id` (password changed, account removed).
pub async fn revoke_all(
    conn: &mut MySqlConnection,
    user_id: u64,
    now: UnixMillis,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE admin_sessions SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL",
    )
    .bind(now.0)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Failed logins within a window, for one client IP and one account name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCounts {
    pub ip: u64,
    pub account: u64,
    /// The oldest counted failure of the IP and of the account (when the count drops).
    pub ip_oldest_ms: Option<u64>,
    pub account_oldest_ms: Option<u64>,
}

/// Records a login attempt as a failure before its password is checked (so that concurrent
/// attempts count each other), forgets failures older than `since`, and returns the attempt's
/// row id with the counts since `since`, this attempt included.
pub async fn begin_attempt(
    pool: &MySqlPool,
    ip: &str,
    account: &str,
    now: UnixMillis,
    since: UnixMillis,
) -> Result<(u64, FailureCounts), sqlx::Error> {
    sqlx::query("DELETE FROM admin_login_failures WHERE at_ms <= ?")
        .bind(since.0)
        .execute(pool)
        .await?;
    let id = sqlx::query("INSERT INTO admin_login_failures (at_ms, ip, account) VALUES (?, ?, ?)")
        .bind(now.0)
        .bind(ip)
        .bind(account)
        .execute(pool)
        .await?
        .last_insert_id();
    let row = sqlx::query(
        "SELECT
           (SELECT COUNT(*) FROM admin_login_failures WHERE ip = ? AND at_ms > ?) AS ip_count,
           (SELECT MIN(at_ms) FROM admin_login_failures WHERE ip = ? AND at_ms > ?) AS ip_oldest,
           (SELECT COUNT(*) FROM admin_login_failures WHERE account = ? AND at_ms > ?) AS account_count,
           (SELECT MIN(at_ms) FROM admin_login_failures WHERE account = ? AND at_ms > ?) AS account_oldest",
    )
    .bind(ip)
    .bind(since.0)
    .bind(ip)
    .bind(since.0)
    .bind(account)
    .bind(since.0)
    .bind(account)
    .bind(since.0)
    .fetch_one(pool)
    .await?;
    let count = |name: &str| -> Result<u64, sqlx::Error> {
        let n: i64 = row.try_get(name)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    Ok((
        id,
        FailureCounts {
            ip: count("ip_count")?,
            account: count("account_count")?,
            ip_oldest_ms: row.try_get("ip_oldest")?,
            account_oldest_ms: row.try_get("account_oldest")?,
        },
    ))
}

/// Takes back an attempt recorded by [`begin_attempt`] (it was refused by the limit, and so
/// never checked).
pub async fn forget_attempt(pool: &MySqlPool, id: u64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_login_failures WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// After a correct password: forgets the account's failures (this attempt's included).
pub async fn clear_account_failures(pool: &MySqlPool, account: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_login_failures WHERE account = ?")
        .bind(account)
        .execute(pool)
        .await?;
    Ok(())
}
