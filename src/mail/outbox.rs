//! The durable outbox (`mail_outbox`): the only way a mail gets sent.
//!
//! Callers queue a mail inside their own MySQL transaction, so the state change it reports and
//! the mail commit together or not at all; UNIQUE (miner or `admin:<alert>`, kind, event time)
//! turns a repeated event into [`Enqueued::Duplicate`]. Miner mail goes only to the miner's
//! confirmed, subscribed address with the kind's switch on, and carries the signature, the
//! pool's name, an unsubscribe link and `List-Unsubscribe` / `List-Unsubscribe-Post` (RFC
//! 8058). Each row gets its Message-ID here, once, so a resend carries the same one.
//!
//! Row states and who moves them:
//! `queued` -> `sending` (the sender claims it, attempts + 1, lease) -> `sent`;
//! `sending` -> `queued` (transient SMTP error, backoff) or `failed` (permanent refusal,
//! unsubscribed); `sending` past its lease (a crash) is claimed again;
//! `failed` -> `queued` only by `rxpool admin mail retry`. Sent rows are removed by `purge`.

use sqlx::{MySqlConnection, MySqlPool, Row};

use super::token::{LinkSecret, Purpose};
use super::{MailError, MailKind, base_url};
use crate::config::Settings;
use crate::domain::UnixMillis;

/// The result of queueing a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new row, to be sent.
    Queued,
    /// The same (miner, kind, event time) was queued before: nothing added.
    Duplicate,
    /// No confirmed, subscribed address with this kind switched on (or no admin address).
    NotSubscribed,
}

/// A row's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Queued,
    Sending,
    Sent,
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }
}

impl std::str::FromStr for OutboxState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(OutboxState::Queued),
            "sending" => Ok(OutboxState::Sending),
            "sent" => Ok(OutboxState::Sent),
            "failed" => Ok(OutboxState::Failed),
            other => Err(format!(
                "{other}: not a state (queued, sending, sent, failed)"
            )),
        }
    }
}

/// Replaces `%(name)s` with the value of `name`; unknown names are left as they are.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(")s") {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A subject as one header line: control characters (CR, LF, tabs) become spaces, and it is
/// cut to 250 characters.
fn one_line(subject: &str) -> String {
    subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(250)
        .collect()
}

/// The signature block under every mail.
fn footer(settings: &Settings, unsubscribe: Option<&str>) -> String {
    let mut f = format!(
        "\n\n-- \n{}\n{}\n",
        settings.general.email_sig, settings.general.pool_name
    );
    if let Some(link) = unsubscribe {
        f.push_str(&format!("\nTo stop these e-mails, open: {link}\n"));
    }
    f
}

/// `<uuid@host>`, the host taken from the public URL when it is a plain host name.
fn message_id(settings: &Settings) -> String {
    let url = base_url(settings);
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':', '?', '#'])
        .next()
        .unwrap_or("");
    let host = if !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        host
    } else {
        "rxpool.invalid"
    };
    format!("<{}@{host}>", uuid::Uuid::new_v4().simple())
}

/// One row to insert.
pub(crate) struct NewMail<'a> {
    pub miner: Option<&'a str>,
    pub dedup_key: &'a str,
    pub recipient: &'a str,
    pub kind: MailKind,
    pub event_at: UnixMillis,
    pub subject: &'a str,
    pub body: String,
    pub list_unsubscribe: Option<String>,
}

/// Inserts a row; a duplicate (dedup_key, kind, event_at) is [`Enqueued::Duplicate`].
pub(crate) async fn insert(
    conn: &mut MySqlConnection,
    settings: &Settings,
    mail: NewMail<'_>,
    now: UnixMillis,
) -> Result<Enqueued, MailError> {
    let r = sqlx::query(
        "INSERT INTO mail_outbox (miner, dedup_key, recipient, kind, event_at, subject, body, \
         list_unsubscribe, message_id, state, attempts, next_attempt_at, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
    )
    .bind(mail.miner)
    .bind(mail.dedup_key)
    .bind(mail.recipient)
    .bind(mail.kind.as_str())
    .bind(mail.event_at.0)
    .bind(one_line(mail.subject))
    .bind(&mail.body)
    .bind(mail.list_unsubscribe.as_deref())
    .bind(message_id(settings))
    .bind(now.0)
    .bind(now.0)
    .execute(&mut *conn)
    .await;
    match r {
        Ok(_) => Ok(Enqueued::Queued),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Enqueued::Duplicate),
        Err(e) => Err(e.into()),
    }
}

fn now() -> UnixMillis {
    use crate::domain::Clock as _;
    crate::domain::SystemClock.now()
}

/// The unsubscribe link for `miner` at `address`.
pub(crate) fn unsubscribe_link(
    settings: &Settings,
    secret: &LinkSecret,
    miner: &str,
    address: &str,
    now: UnixMillis,
) -> String {
    let token = secret.sign(Purpose::Unsubscribe, miner, address, now);
    format!("{}/user/unsubscribeEmail/{token}", base_url(settings))
}

/// Queues a miner alert in the caller's transaction: to the confirmed address, when the miner
/// is subscribed and the kind is switched on (else [`Enqueued::NotSubscribed`], nothing
/// written). Adds the signature, pool name and unsubscribe link.
pub async fn enqueue_to_miner(
    tx: &mut MySqlConnection,
    settings: &Settings,
    miner: &str,
    kind: MailKind,
    event_at: UnixMillis,
    subject: &str,
    body: &str,
) -> Result<Enqueued, MailError> {
    if !kind.is_miner_alert() {
        return Err(MailError::Refused(
            "only miner alerts are queued with enqueue_to_miner",
        ));
    }
    let Some(sub) = super::subscribers::confirmed(&mut *tx, miner).await? else {
        return Ok(Enqueued::NotSubscribed);
    };
    if !sub.wants(kind) {
        return Ok(Enqueued::NotSubscribed);
    }
    let secret = LinkSecret::load(&mut *tx).await?;
    let now = now();
    let link = unsubscribe_link(settings, &secret, miner, &sub.email, now);
    let body = format!("{body}{}", footer(settings, Some(&link)));
    insert(
        tx,
        settings,
        NewMail {
            miner: Some(miner),
            dedup_key: miner,
            recipient: &sub.email,
            kind,
            event_at,
            subject,
            body,
            list_unsubscribe: Some(link),
        },
        now,
    )
    .await
}

/// Queues an operator alert to `general.adminEmail` in the caller's transaction (nothing
/// when it is empty). `alert` names the condition (`daemon_unreachable`, ...): with
/// `event_at` it makes the mail unique.
pub async fn enqueue_to_admin(
    tx: &mut MySqlConnection,
    settings: &Settings,
    alert: &str,
    event_at: UnixMillis,
    subject: &str,
    body: &str,
) -> Result<Enqueued, MailError> {
    let to = settings.general.admin_email.trim();
    if to.is_empty() {
        return Ok(Enqueued::NotSubscribed);
    }
    let to = super::EmailAddress::parse(to)?;
    let key = format!("admin:{alert}");
    insert(
        tx,
        settings,
        NewMail {
            miner: None,
            dedup_key: &key,
            recipient: to.as_str(),
            kind: MailKind::Operator,
            event_at,
            subject,
            body: format!("{body}{}", footer(settings, None)),
            list_unsubscribe: None,
        },
        now(),
    )
    .await
}

/// One outbox row as `admin mail list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: u64,
    pub miner: Option<String>,
    pub recipient: String,
    pub kind: String,
    pub event_at: UnixMillis,
    pub subject: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: UnixMillis,
    pub last_error: Option<String>,
    pub created_at: UnixMillis,
    pub sent_at: Option<UnixMillis>,
}

/// Rows, newest first, optionally of one state.
pub async fn list(
    db: &MySqlPool,
    state: Option<OutboxState>,
    limit: u32,
) -> Result<Vec<OutboxRow>, MailError> {
    let rows = sqlx::query(
        "SELECT id, miner, recipient, kind, event_at, subject, state, attempts, next_attempt_at, \
         last_error, created_at, sent_at FROM mail_outbox \
         WHERE (? IS NULL OR state = ?) ORDER BY id DESC LIMIT ?",
    )
    .bind(state.map(OutboxState::as_str))
    .bind(state.map(OutboxState::as_str))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(outbox_row).collect()
}

/// One row by id.
pub async fn get(db: &MySqlPool, id: u64) -> Result<Option<OutboxRow>, MailError> {
    let row = sqlx::query(
        "SELECT id, miner, recipient, kind, event_at, subject, state, attempts, next_attempt_at, \
         last_error, created_at, sent_at FROM mail_outbox WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(outbox_row).transpose()
}

/// One row of `mail_outbox`.
fn outbox_row(r: &sqlx::mysql::MySqlRow) -> Result<OutboxRow, MailError> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        miner: r.try_get("miner")?,
        recipient: r.try_get("recipient")?,
        kind: r.try_get("kind")?,
        event_at: UnixMillis(r.try_get("event_at")?),
        subject: r.try_get("subject")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: UnixMillis(r.try_get("next_attempt_at")?),
        last_error: r.try_get("last_error")?,
        created_at: UnixMillis(r.try_get("created_at")?),
        sent_at: r.try_get::<Option<u64>, _>("sent_at")?.map(UnixMillis),
    })
}

/// Puts a failed (or queued) row back in the queue, due now. `false` when there is no such
/// row in those states.
pub async fn retry(db: &MySqlPool, id: u64, now: UnixMillis) -> Result<bool, MailError> {
    let r = sqlx::query(
        "UPDATE mail_outbox SET state = 'queued', next_attempt_at = ? \
         WHERE id = ? AND state IN ('failed', 'queued')",
    )
    .bind(now.0)
    .bind(id)
    .execute(db)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Puts every failed row back in the queue; returns how many.
pub async fn retry_failed(db: &MySqlPool, now: UnixMillis) -> Result<u64, MailError> {
    let r = sqlx::query(
        "UPDATE mail_outbox SET state = 'queued', next_attempt_at = ? WHERE state = 'failed'",
    )
    .bind(now.0)
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// Deletes sent rows sent before `cutoff`; returns how many.
pub async fn purge_sent_before(db: &MySqlPool, cutoff: UnixMillis) -> Result<u64, MailError> {
    let r = sqlx::query("DELETE FROM mail_outbox WHERE state = 'sent' AND sent_at < ?")
        .bind(cutoff.0)
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}

/// Deletes one row unless it is being sent. `false` when there is none (or it is `sending`).
pub async fn purge_id(db: &MySqlPool, id: u64) -> Result<bool, MailError> {
    let r = sqlx::query("DELETE FROM mail_outbox WHERE id = ? AND state <> 'sending'")
        .bind(id)
        .execute(db)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// How delivery is going, for the operator alerts ("SMTP failing") and the api.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxHealth {
    /// Rows waiting to be sent (queued or being sent).
    pub pending: u64,
    /// Pending rows that have failed at least one attempt.
    pub retrying: u64,
    /// Rows marked failed.
    pub failed: u64,
    /// When the oldest pending row that has failed an attempt was queued.
    pub retrying_since: Option<UnixMillis>,
}

/// Counts for [`OutboxHealth`].
pub async fn health(db: &MySqlPool) -> Result<OutboxHealth, MailError> {
    let (pending, retrying, failed, since): (i64, i64, i64, Option<u64>) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(state IN ('queued', 'sending')), 0) AS SIGNED),          CAST(COALESCE(SUM(state IN ('queued', 'sending') AND attempts > 0), 0) AS SIGNED),          CAST(COALESCE(SUM(state = 'failed'), 0) AS SIGNED),          MIN(IF(state IN ('queued', 'sending') AND attempts > 0, created_at, NULL))          FROM mail_outbox",
    )
    .fetch_one(db)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(OutboxHealth {
        pending: n(pending),
        retrying: n(retrying),
        failed: n(failed),
        retrying_since: since.map(UnixMillis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_known_names_and_leaves_the_rest() {
        assert_eq!(
            render(
                "Your worker: %(worker)s at %(timestamp)s %(nope)s %(x",
                &[("worker", "rig1"), ("timestamp", "12:00")]
            ),
            "Your worker: rig1 at 12:00 %(nope)s %(x"
        );
        assert_eq!(render("%(a)s%(a)s", &[("a", "%(a)s")]), "%(a)s%(a)s");
        assert_eq!(render("", &[]), "");
        assert_eq!(render("ünï %(a)s ß", &[("a", "é")]), "ünï é ß");
    }

    #[test]
    fn a_subject_is_one_line() {
        assert_eq!(one_line("a\r\nBcc: x@y.org"), "a  Bcc: x@y.org");
        assert_eq!(one_line(&"x".repeat(10_000)).len(), 250);
    }

    #[test]
    fn message_ids_are_unique_and_name_the_public_host() {
        let mut s = Settings::defaults();
        s.general.public_url = "https://pool.example.org/api".into();
        let a = message_id(&s);
        assert!(
            a.starts_with('<') && a.ends_with("@pool.example.org>"),
            "{a}"
        );
        assert_ne!(a, message_id(&s));
    }
}
