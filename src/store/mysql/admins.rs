//! Admin accounts (`admin_users`, `sql/0012_admin_accounts.sql`): the people who may use the
//! api's `/admin` routes, with their role and an argon2id hash of their password.
//!
//! The command line (`rxpool admin user ...`) and the api's account routes both change
//! accounts through [`create`], [`remove`] and [`set_password`], which check the name and
//! password rules, revoke the account's sessions where it matters and append one audit row
//! (`admin_audit`) naming the actor. Nothing here logs, returns or audits a password or a
//! hash: [`AdminAccount`] carries neither, and the hash is read only by [`credentials`] for
//! the login check. Sessions, the token key and failed-login counts live in [`sessions`].
//! There is no default account; an empty table means nobody can log in.

pub mod sessions;

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sqlx::{MySqlPool, Row};

use super::audit::{self, AuditEntry};
use crate::domain::UnixMillis;

/// Shortest password accepted (in characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (in bytes): argon2 takes any length, the body limit does not.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest account name.
pub const MAX_NAME_LEN: usize = 64;

/// What an account may do through the api.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every admin route, reads and writes.
    Admin,
    /// Read-only: GET routes only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// `admin` or `viewer` (exactly).
    pub fn parse(text: &str) -> Result<Role, AccountError> {
        match text {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(AccountError::Invalid(
                "role: must be \"admin\" or \"viewer\"".into(),
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid account name: 1 to [`MAX_NAME_LEN`] ASCII letters, digits, `.`, `_` or `-`,
/// starting with a letter or digit; compared byte-exact (`Alice` and `alice` are two names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminName(String);

impl AdminName {
    pub fn parse(text: &str) -> Result<AdminName, AccountError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if text.is_empty() || text.len() > MAX_NAME_LEN {
            return Err(AccountError::Invalid(format!(
                "name: must be 1 to {MAX_NAME_LEN} characters"
            )));
        }
        if !text.chars().all(ok_char) || !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(AccountError::Invalid(
                "name: only ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"
                    .into(),
            ));
        }
        Ok(AdminName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdminName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An argon2id PHC string of a password that met the rules. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashText(String);

impl fmt::Debug for PasswordHashText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHashText(***)")
    }
}

/// Checks a new password against the rules ([`MIN_PASSWORD_CHARS`] characters at least, at
/// most [`MAX_PASSWORD_BYTES`] bytes, no control characters) and hashes it with argon2id and a
/// fresh salt. Slow on purpose (tens of milliseconds): call it off the reactor.
pub fn hash_new_password(password: &str) -> Result<PasswordHashText, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!(
            "password: must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::Invalid(format!(
            "password: must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "password: must not contain control characters".into(),
        ));
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    Ok(PasswordHashText(hash.to_string()))
}

/// A hash of a password nobody knows, with the same parameters as [`hash_new_password`]:
/// unknown accounts are checked against it so that they take as long as known ones.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Gd9bq9Jx0h0vY8QJ3s1u2A$\
                          mL9M5r8k0V7ZB0V3m2q2mXl7cJQWmVZ8y9aP7yK3o1E";

/// Whether `candidate` is the password `stored` (a PHC string) was made from; `None` checks
/// against a dummy hash and answers false in the same time. Constant-time comparison
/// (argon2's). Slow on purpose: call it off the reactor.
pub fn verify_password(stored: Option<&PasswordHashText>, candidate: &str) -> bool {
    let text = stored.map_or(DUMMY_HASH, |h| h.0.as_str());
    let Ok(parsed) = PasswordHash::new(text) else {
        return false;
    };
    let ok = argon2::Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

/// One account as shown to the operator (never its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminAccount {
    pub id: u64,
    pub name: String,
    pub role: Role,
    pub created_ms: u64,
    pub password_changed_ms: u64,
}

impl AdminAccount {
    /// What the audit log keeps of an account.
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "role": self.role,
            "password_changed_ms": self.password_changed_ms,
        })
    }
}

/// Why an account change or lookup was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A name, role or password that breaks the rules (the message names which).
    #[error("{0}")]
    Invalid(String),
    #[error("admin account {0:?} already exists")]
    Exists(String),
    #[error("no admin account {0:?}")]
    NotFound(String),
    /// The change would leave no account with the `admin` role (api only; the command line
    /// may do it, it needs no account).
    #[error("{0:?} is the last admin account; make another admin first")]
    LastAdmin(String),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Mysql(#[from] super::MysqlError),
}

fn account_from_row(row: &sqlx::mysql::MySqlRow) -> Result<AdminAccount, AccountError> {
    let role: String = row.try_get("role")?;
    Ok(AdminAccount {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).map_err(|_| {
            AccountError::Sql(sqlx::Error::Decode(
                format!("admin_users.role {role:?}").into(),
            ))
        })?,
        created_ms: row.try_get("created_ms")?,
        password_changed_ms: row.try_get("password_changed_ms")?,
    })
}

/// The columns of [`AdminAccount`], for `concat!` (sqlx takes only static SQL).
macro_rules! account_columns {
    () => {
        "id, name, role, created_ms, password_changed_ms"
    };
}

/// Every account, by name.
pub async fn list(pool: &MySqlPool) -> Result<Vec<AdminAccount>, AccountError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM admin_users ORDER BY name"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(account_from_row).collect()
}

/// The account named `name`, if any.
pub async fn find(pool: &MySqlPool, name: &str) -> Result<Option<AdminAccount>, AccountError> {
    Ok(credentials(pool, name).await?.map(|(account, _)| account))
}

/// The account named `name` with its password hash, for the login check only.
pub async fn credentials(
    pool: &MySqlPool,
    name: &str,
) -> Result<Option<(AdminAccount, PasswordHashText)>, AccountError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        ", password_hash FROM admin_users WHERE name = ?"
    ))
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        let account = account_from_row(&row)?;
        let hash: String = row.try_get("password_hash")?;
        Ok((account, PasswordHashText(hash)))
    })
    .transpose()
}

/// Makes account `name` with `role` and the password `hash` was made from; audited as
/// `admin.user.add` by `actor`.
pub async fn create(
    pool: &MySqlPool,
    at: UnixMillis,
    actor: &str,
    name: &AdminName,
    role: Role,
    hash: &PasswordHashText,
) -> Result<AdminAccount, AccountError> {
    let inserted = sqlx::query(
        "INSERT INTO admin_users (name, role, password_hash, created_ms, password_changed_ms)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(name.as_str())
    .bind(role.as_str())
    .bind(&hash.0)
    .bind(at.0)
    .bind(at.0)
    .execute(pool)
    .await;
    let done = match inserted {
        Ok(done) => done,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AccountError::Exists(name.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let account = AdminAccount {
        id: done.last_insert_id(),
        name: name.to_string(),
        role,
        created_ms: at.0,
        password_changed_ms: at.0,
    };
    audit::record(
        pool,
        at,
        &AuditEntry {
            actor,
            action: "admin.user.add",
            target: name.as_str(),
            before: None,
            after: Some(account.audit_view()),
        },
    )
    .await?;
    Ok(account)
}

/// Removes account `name` and revokes its sessions (its tokens stop working at once);
/// audited as `admin.user.remove` by `actor`. With `keep_an_admin`, refuses to remove the
/// last account whose role is `admin`.
pub async fn remove(
    pool: &MySqlPool,
    at: UnixMillis,
    actor: &str,
    name: &str,
    keep_an_admin: bool,
) -> Result<AdminAccount, AccountError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM admin_users WHERE role = 'admin' OR name = ? FOR UPDATE"
    ))
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    let accounts = rows
        .iter()
        .map(account_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(account) = accounts.iter().find(|a| a.name == name).cloned() else {
        return Err(AccountError::NotFound(name.to_owned()));
    };
    let admins = accounts.iter().filter(|a| a.role == Role::Admin).count();
    if keep_an_admin && account.role == Role::Admin && admins <= 1 {
        return Err(AccountError::LastAdmin(name.to_owned()));
    }
    sqlx::query("DELETE FROM admin_users WHERE id = ?")
        .bind(account.id)
        .execute(&mut *tx)
        .await?;
    sessions::revoke_all(&mut tx, account.id, at).await?;
    tx.commit().await?;
    audit::record(
        pool,
        at,
        &AuditEntry {
            actor,
            action: "admin.user.remove",
            target: name,
            before: Some(account.audit_view()),
            after: None,
        },
    )
    .await?;
    Ok(account)
}

/// Sets account `name`'s password to the one `hash` was made from and revokes its sessions;
/// audited as `action` (`admin.user.passwd` from the command line, `admin.password` for
/// one's own) by `actor`, with the time of the change (never the hash).
pub async fn set_password(
    pool: &MySqlPool,
    at: UnixMillis,
    actor: &str,
    action: &str,
    name: &str,
    hash: &PasswordHashText,
) -> Result<AdminAccount, AccountError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM admin_users WHERE name = ? FOR UPDATE"
    ))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = row.as_ref().map(account_from_row).transpose()? else {
        return Err(AccountError::NotFound(name.to_owned()));
    };
    sqlx::query("UPDATE admin_users SET password_hash = ?, password_changed_ms = ? WHERE id = ?")
        .bind(&hash.0)
        .bind(at.0)
        .bind(before.id)
        .execute(&mut *tx)
        .await?;
    sessions::revoke_all(&mut tx, before.id, at).await?;
    tx.commit().await?;
    let after = AdminAccount {
        password_changed_ms: at.0,
        ..before.clone()
    };
    audit::record(
        pool,
        at,
        &AuditEntry {
            actor,
            action,
            target: name,
            before: Some(before.audit_view()),
            after: Some(after.audit_view()),
        },
    )
    .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for good in ["alice", "Bob.ops", "x", "a-b_c.9", &"a".repeat(64)] {
            assert!(AdminName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "ümlaut",
            "a b",
            "x'; DROP TABLE admin_users; --",
            "admin\0",
            &"a".repeat(65),
        ] {
            assert!(AdminName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_follow_the_rule_and_verify() {
        assert!(hash_new_password("short").is_err());
        assert!(hash_new_password("eleven char").is_err());
        assert!(hash_new_password("tab\tinside passphrase").is_err());
        assert!(hash_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        let hash = hash_new_password("correct horse battery").unwrap();
        assert!(hash.0.starts_with("$argon2id$"));
        assert!(!format!("{hash:?}").contains("argon2"));
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(!verify_password(Some(&hash), "correct horse batterY"));
        assert!(!verify_password(None, "correct horse battery"));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real_text = hash_new_password("some long passphrase").unwrap();
        let real = PasswordHash::new(&real_text.0).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "same output length"
        );
    }
}
