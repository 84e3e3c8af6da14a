//! Delivers the outbox over SMTP with lettre: STARTTLS, implicit TLS, or plain for a local
//! relay (`[smtp] security = starttls | tls | none`). Runs in the worker role.
//!
//! A cycle claims due rows in one transaction (`queued`, or `sending` whose lease ran out:
//! `state = 'sending'`, attempts + 1, lease), sends each, then marks it `sent`. Transient
//! failures (connection refused, timeouts, 4xx) go back to `queued` with exponential backoff
//! ([`SenderOptions`]: 30 s doubling to 1 h); a permanent refusal (5xx) or a message that
//! cannot be built marks the row `failed`. Before claiming a miner alert the subscription is
//! checked again, so an unsubscribe or a changed address wins over a queued (or retried) row.
//! `email.hourlyCap` is enforced per recipient: rows over it wait, they are never dropped.
//!
//! Exactly once: a crash after claiming leaves the row `sending`; it is sent again when the
//! lease expires. The only duplicate possible is a crash in the instant between the server's
//! `250` and our `UPDATE ... 'sent'`; the row's Message-ID is fixed at insert, so the resend
//! carries the same one and the receiving side can drop it.
//!
//! Messages are built only with lettre's typed builder (mailboxes, subject, body), so no
//! stored string can add a header or a recipient. Logs name row ids and kinds, never
//! addresses, tokens or server replies (which may quote the address).

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::{MySqlPool, Row};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{EmailAddress, MailError, MailKind};
use crate::config::{Settings, SmtpConfig};
use crate::domain::{Clock, SystemClock, UnixMillis};

/// Timing of the sender; the defaults are the production values.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Wait after the first transient failure; doubles with each further attempt.
    pub backoff_first: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// How long a claimed row stays `sending` before another cycle may claim it again.
    pub lease: Duration,
    /// How often the outbox is polled for due rows.
    pub poll: Duration,
    /// Most rows claimed per cycle.
    pub batch: u32,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            backoff_first: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            // Well above a batch's worst case (10 rows x 30 s SMTP timeout), so a slow server
            // never lets a second sender claim a row that is still being sent.
            lease: Duration::from_secs(900),
            poll: Duration::from_secs(2),
            batch: 10,
        }
    }
}

impl SenderOptions {
    /// The wait after the `attempts`-th failed attempt (1-based).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.backoff_first
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The lettre transport `[smtp]` describes (pooled connections, 30 s timeout). Call it inside
/// the tokio runtime: the pool starts a task.
pub fn transport(smtp: &SmtpConfig) -> Result<Transport, MailError> {
    let tls_err =
        |e: lettre::transport::smtp::Error| MailError::Config(format!("[smtp] host for TLS: {e}"));
    let builder = match smtp.security.as_str() {
        "none" => Transport::builder_dangerous(smtp.host.as_str()),
        "starttls" => Transport::starttls_relay(&smtp.host).map_err(tls_err)?,
        "tls" => Transport::relay(&smtp.host).map_err(tls_err)?,
        _ => {
            return Err(MailError::Refused(
                "[smtp] security must be none, starttls or tls",
            ));
        }
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(30)));
    if let Some(user) = &smtp.username {
        let password = smtp
            .password
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// One claimed row, ready to send.
#[derive(Clone)]
pub struct OutgoingMail {
    pub id: u64,
    pub attempts: u32,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub list_unsubscribe: Option<String>,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Builds the message from typed parts: one `To` (a checked address), the `From` mailbox,
/// the subject and plain-text body (lettre encodes both), the fixed Message-ID and the RFC
/// 8058 headers. Anything that does not fit is refused, never passed through.
pub fn build_message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, String> {
    let checked = EmailAddress::parse(&mail.recipient).map_err(|e| e.to_string())?;
    let to: Address = checked
        .as_str()
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let id_ok = |s: &str| {
        s.starts_with('<')
            && s.ends_with('>')
            && s.len() < 250
            && s[1..s.len() - 1]
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '<' && c != '>')
    };
    if !id_ok(&mail.message_id) {
        return Err("malformed Message-ID".into());
    }
    let subject: String = mail
        .subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut builder = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject)
        .message_id(Some(mail.message_id.clone()));
    if let Some(url) = &mail.list_unsubscribe {
        let url_ok = url.starts_with("http")
            && url.len() < 2000
            && url
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | ',' | '"'));
        if !url_ok {
            return Err("malformed unsubscribe link".into());
        }
        let name = |n: &'static str| HeaderName::new_from_ascii_str(n);
        builder = builder
            .raw_header(HeaderValue::new(
                name("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                name("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| format!("building the message: {e}"))
}

/// Delivers due outbox rows until `shutdown`, with the production [`SenderOptions`].
pub async fn run(
    db: MySqlPool,
    smtp: SmtpConfig,
    settings: watch::Receiver<Settings>,
    shutdown: CancellationToken,
) -> Result<(), MailError> {
    run_with(db, smtp, settings, SenderOptions::default(), shutdown).await
}

/// [`run`] with explicit timing (tests shorten the backoff).
pub async fn run_with(
    db: MySqlPool,
    smtp: SmtpConfig,
    settings: watch::Receiver<Settings>,
    options: SenderOptions,
    shutdown: CancellationToken,
) -> Result<(), MailError> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|_| MailError::Config("[smtp] from is not a valid mailbox".into()))?;
    let transport = transport(&smtp)?;
    let mut tick = tokio::time::interval(options.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let current = settings.borrow().clone();
        match deliver_due(
            &db,
            &transport,
            &from,
            &current,
            &options,
            SystemClock.now(),
        )
        .await
        {
            Ok(n) if n > 0 => tracing::debug!(claimed = n, "outbox cycle"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox cycle failed"),
        }
    }
}

/// What one send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Retry,
    Failed,
}

/// One cycle: claims due rows and sends them. Returns how many were claimed.
pub async fn deliver_due(
    db: &MySqlPool,
    transport: &Transport,
    from: &Mailbox,
    settings: &Settings,
    options: &SenderOptions,
    now: UnixMillis,
) -> Result<usize, MailError> {
    let claimed = claim(db, settings, options, now).await?;
    let n = claimed.len();
    for mail in claimed {
        let outcome = match build_message(from, &mail) {
            Err(reason) => {
                finish(db, &mail, Delivery::Failed, Some(&reason), options, now).await?;
                Delivery::Failed
            }
            Ok(message) => match transport.send(message).await {
                Ok(_) => {
                    finish(db, &mail, Delivery::Sent, None, options, SystemClock.now()).await?;
                    Delivery::Sent
                }
                Err(e) => {
                    let delivery = if e.is_permanent() {
                        Delivery::Failed
                    } else {
                        Delivery::Retry
                    };
                    let code = e.status().map(|c| c.to_string());
                    tracing::warn!(
                        mail.id = mail.id,
                        mail.attempts = mail.attempts,
                        smtp.code = code.as_deref().unwrap_or("-"),
                        ?delivery,
                        "mail not delivered"
                    );
                    let reason: String = e.to_string().chars().take(1000).collect();
                    finish(
                        db,
                        &mail,
                        delivery,
                        Some(&reason),
                        options,
                        SystemClock.now(),
                    )
                    .await?;
                    delivery
                }
            },
        };
        if outcome == Delivery::Sent {
            tracing::info!(mail.id = mail.id, "mail sent");
        }
    }
    Ok(n)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn finish(
    db: &MySqlPool,
    mail: &OutgoingMail,
    delivery: Delivery,
    reason: Option<&str>,
    options: &SenderOptions,
    now: UnixMillis,
) -> Result<(), MailError> {
    let (state, next, sent_at) = match delivery {
        Delivery::Sent => ("sent", now.0, Some(now.0)),
        Delivery::Failed => ("failed", now.0, None),
        Delivery::Retry => (
            "queued",
            now.0.saturating_add(millis(options.backoff(mail.attempts))),
            None,
        ),
    };
    // Only the claim we hold: a row re-claimed after our lease ran out is not ours to mark.
    sqlx::query(
        "UPDATE mail_outbox SET state = ?, next_attempt_at = ?, sent_at = ?, last_error = ? \
         WHERE id = ? AND state = 'sending' AND attempts = ?",
    )
    .bind(state)
    .bind(next)
    .bind(sent_at)
    .bind(reason)
    .bind(mail.id)
    .bind(mail.attempts)
    .execute(db)
    .await?;
    Ok(())
}

const HOUR: u64 = 3600 * 1000;

/// Claims due rows in one transaction (see the module comment).
async fn claim(
    db: &MySqlPool,
    settings: &Settings,
    options: &SenderOptions,
    now: UnixMillis,
) -> Result<Vec<OutgoingMail>, MailError> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(
        "SELECT id, miner, recipient, kind, subject, body, list_unsubscribe, message_id, attempts \
         FROM mail_outbox WHERE state IN ('queued', 'sending') AND next_attempt_at <= ? \
         ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(now.0)
    .bind(options.batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for r in rows {
        let id: u64 = r.try_get("id")?;
        let miner: Option<String> = r.try_get("miner")?;
        let recipient: String = r.try_get("recipient")?;
        let kind = MailKind::parse(r.try_get::<&str, _>("kind")?);
        if let (Some(kind), Some(miner)) = (kind.filter(|k| k.is_miner_alert()), &miner) {
            let sub = super::subscriptions::confirmed(&mut *tx, miner).await?;
            if !sub.is_some_and(|s| s.email == recipient && s.wants(kind)) {
                sqlx::query(
                    "UPDATE mail_outbox SET state = 'failed', last_error = 'not subscribed' WHERE id = ?",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                continue;
            }
        }
        let (count, oldest): (i64, Option<u64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(sent_at) FROM mail_outbox WHERE recipient = ? AND id <> ? \
             AND ((state = 'sent' AND sent_at > ?) OR (state = 'sending' AND next_attempt_at > ?))",
        )
        .bind(&recipient)
        .bind(id)
        .bind(now.0.saturating_sub(HOUR))
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await?;
        if u64::try_from(count).unwrap_or(0) >= settings.email.hourly_cap {
            let wait_until = oldest
                .map_or(now.0 + millis(options.poll), |t| t + HOUR)
                .max(now.0 + 1);
            sqlx::query("UPDATE mail_outbox SET next_attempt_at = ? WHERE id = ?")
                .bind(wait_until)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tracing::debug!(mail.id = id, "hourly cap reached; mail waits");
            continue;
        }
        let attempts: u32 = r.try_get::<u32, _>("attempts")?.saturating_add(1);
        sqlx::query(
            "UPDATE mail_outbox SET state = 'sending', attempts = ?, next_attempt_at = ? WHERE id = ?",
        )
        .bind(attempts)
        .bind(now.0.saturating_add(millis(options.lease)))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        claimed.push(OutgoingMail {
            id,
            attempts,
            recipient,
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            message_id: r.try_get("message_id")?,
            list_unsubscribe: r.try_get("list_unsubscribe")?,
        });
    }
    tx.commit().await?;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(recipient: &str, subject: &str, body: &str) -> OutgoingMail {
        OutgoingMail {
            id: 1,
            attempts: 1,
            recipient: recipient.into(),
            subject: subject.into(),
            body: body.into(),
            message_id: "<abc@pool.example.org>".into(),
            list_unsubscribe: Some("https://pool.example.org/user/unsubscribeEmail/AbC-_".into()),
        }
    }

    fn from() -> Mailbox {
        "Pool <pool@example.org>".parse().unwrap()
    }

    // lettre's connection pool starts a task: a runtime is needed, as in the worker.
    #[tokio::test]
    async fn smtp_security_chooses_the_transport() {
        let config = |security: &str| SmtpConfig {
            host: "smtp.example.org".into(),
            port: 587,
            username: Some("pool".into()),
            password: Some(crate::config::Secret("pw".into())),
            from: "pool@example.org".into(),
            security: security.into(),
        };
        for ok in ["none", "starttls", "tls"] {
            assert!(transport(&config(ok)).is_ok(), "{ok}");
        }
        assert!(transport(&config("ssl")).is_err());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let o = SenderOptions::default();
        assert_eq!(o.backoff(1), Duration::from_secs(30));
        assert_eq!(o.backoff(2), Duration::from_secs(60));
        assert_eq!(o.backoff(7), Duration::from_secs(1920));
        assert_eq!(o.backoff(8), Duration::from_secs(3600));
        assert_eq!(o.backoff(1000), Duration::from_secs(3600));
    }

    #[test]
    fn the_builder_refuses_hostile_recipients() {
        for bad in [
            "a@b.org\r\nBcc: c@d.org",
            "a@b>,c@d.org",
            "a@b.org, c@d.org",
            "\"x\"@b.org",
            "ü@b.org",
        ] {
            assert!(
                build_message(&from(), &mail(bad, "s", "b")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hostile_subjects_and_bodies_stay_inside_their_header_and_body() {
        let body = format!("line\r\nBcc: evil@x.org\r\n.\r\n{}", "ü".repeat(5000));
        let m = build_message(
            &from(),
            &mail("me@example.org", "hi\r\nBcc: evil@x.org\"'<>", &body),
        )
        .unwrap();
        let to: Vec<String> = m.envelope().to().iter().map(ToString::to_string).collect();
        assert_eq!(to, ["me@example.org"]);
        let raw = String::from_utf8(m.formatted()).unwrap();
        let (headers, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc")),
            "{headers}"
        );
        assert!(headers.contains("List-Unsubscribe: <https://pool.example.org/"));
        assert!(headers.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(headers.contains("Message-ID: <abc@pool.example.org>"));
    }
}
