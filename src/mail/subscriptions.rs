//! Who gets a miner's mail: double opt-in subscriptions (`mail_subscriptions`), keyed by the
//! miner's payout key (`address` or `address.paymentid`).
//!
//! An address given at a stratum login (`worker:email`) or through the api becomes *pending*
//! and receives only a confirmation mail with a signed link; nothing else goes to it until the
//! link is opened. A confirmed address is never redirected by a later request: the current
//! address gets an approval mail naming the new one masked, and only after that approval does
//! the new address get its own confirmation; only its confirmation switches. Unsubscribing
//! (link or one-click POST) stops every miner mail to that address at once, queued ones too.
//!
//! Each change is one MySQL transaction together with the outbox row it queues, and keeps
//! nodejs-pool's `users.email` / `users.enable_email` in step with the confirmed address.
//! Confirmation mails are limited to one per miner per hour and one per recipient per day,
//! however often miners log in.

use sqlx::{MySqlConnection, MySqlPool, Row};

use super::outbox::{self, NewMail};
pub use super::subscribers::{Subscription, confirmed, confirmed_many, set_switches};
use super::token::{Claims, LinkSecret, Purpose, TokenError};
use super::{EmailAddress, MailError, MailKind, base_url};
use crate::config::Settings;
use crate::domain::UnixMillis;

const HOUR: u64 = 3600 * 1000;
const DAY: u64 = 24 * HOUR;

/// What [`request`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The address is pending; a confirmation mail to it is queued.
    ConfirmationQueued,
    /// Another address is confirmed; an approval mail to that one is queued.
    ApprovalQueued,
    /// This address is already the confirmed one (or was unsubscribed): nothing to do.
    AlreadyConfirmed,
    /// A mail for this same request went out within the hour, or the address had its
    /// confirmation today: nothing sent now.
    Throttled,
}

/// What a link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Confirmed,
    AlreadyConfirmed,
    /// The change was approved; the new address got its confirmation mail.
    ChangeApproved,
    Unsubscribed,
    AlreadyUnsubscribed,
}

impl LinkOutcome {
    /// The page the api shows.
    pub fn message(self) -> &'static str {
        match self {
            LinkOutcome::Confirmed => {
                "Your e-mail address is confirmed: alerts will be sent to it."
            }
            LinkOutcome::AlreadyConfirmed => "This e-mail address is already confirmed.",
            LinkOutcome::ChangeApproved => {
                "Change approved: the new address has been sent a confirmation link; alerts go there once it is confirmed."
            }
            LinkOutcome::Unsubscribed => {
                "You are unsubscribed: no more alerts will be sent to this address."
            }
            LinkOutcome::AlreadyUnsubscribed => "This address receives no alerts for this miner.",
        }
    }
}

fn check_miner(miner: &str) -> Result<(), MailError> {
    if miner.is_empty() || miner.len() > 256 {
        return Err(MailError::InvalidMiner("must be 1 to 256 bytes"));
    }
    if miner.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(MailError::InvalidMiner(
            "contains a space or control character",
        ));
    }
    Ok(())
}

/// The stored row, read for update inside a transaction.
#[derive(Default)]
struct Stored {
    exists: bool,
    email: Option<String>,
    pending_email: Option<String>,
    pending_stage: Option<String>,
    last_request_mail_at: Option<u64>,
    unsubscribed: bool,
}

async fn lock_row(conn: &mut MySqlConnection, miner: &str) -> Result<Stored, MailError> {
    let row = sqlx::query(
        "SELECT email, pending_email, pending_stage, last_request_mail_at, unsubscribed \
         FROM mail_subscriptions WHERE miner = ? FOR UPDATE",
    )
    .bind(miner)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        None => Stored::default(),
        Some(r) => Stored {
            exists: true,
            email: r.try_get("email")?,
            pending_email: r.try_get("pending_email")?,
            pending_stage: r.try_get("pending_stage")?,
            last_request_mail_at: r.try_get("last_request_mail_at")?,
            unsubscribed: r.try_get::<i8, _>("unsubscribed")? != 0,
        },
    })
}

async fn set_pending(
    conn: &mut MySqlConnection,
    miner: &str,
    email: &str,
    stage: &str,
    now: UnixMillis,
) -> Result<(), MailError> {
    sqlx::query(
        "INSERT INTO mail_subscriptions (miner, pending_email, pending_stage, pending_requested_at, \
         last_request_mail_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE pending_email = VALUES(pending_email), \
         pending_stage = VALUES(pending_stage), pending_requested_at = VALUES(pending_requested_at), \
         last_request_mail_at = VALUES(last_request_mail_at), updated_at = VALUES(updated_at)",
    )
    .bind(miner)
    .bind(email)
    .bind(stage)
    .bind(now.0)
    .bind(now.0)
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues the confirmation mail to `email` (the new address only).
async fn queue_confirmation(
    conn: &mut MySqlConnection,
    settings: &Settings,
    secret: &LinkSecret,
    miner: &str,
    email: &str,
    now: UnixMillis,
) -> Result<(), MailError> {
    let token = secret.sign(Purpose::Confirm, miner, email, now);
    let link = format!("{}/user/confirmEmail/{token}", base_url(settings));
    let body = outbox::render(
        &settings.email.confirm_body,
        &[("address", miner), ("link", &link)],
    );
    let body = format!(
        "{body}\n\n-- \n{}\n{}\n",
        settings.general.email_sig, settings.general.pool_name
    );
    outbox::insert(
        conn,
        settings,
        NewMail {
            miner: Some(miner),
            dedup_key: miner,
            recipient: email,
            kind: MailKind::Confirm,
            event_at: now,
            subject: &settings.email.confirm_subject,
            body,
            list_unsubscribe: None,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Queues the approval mail to the `current` address, naming `new` only masked.
async fn queue_approval(
    conn: &mut MySqlConnection,
    settings: &Settings,
    secret: &LinkSecret,
    miner: &str,
    current: &str,
    new: &EmailAddress,
    now: UnixMillis,
) -> Result<(), MailError> {
    let token = secret.sign(Purpose::ApproveChange, miner, new.as_str(), now);
    let link = format!("{}/user/approveEmail/{token}", base_url(settings));
    let body = format!(
        "Someone asked for the alerts about the miner {miner} to be sent to {} instead of this \
         address.\n\nIf that was you, approve the change by opening:\n{link}\n\nThe new address \
         will then receive its own confirmation link. If it was not you, ignore this mail: \
         nothing changes.\n\n-- \n{}\n{}\n",
        new.masked(),
        settings.general.email_sig,
        settings.general.pool_name
    );
    outbox::insert(
        conn,
        settings,
        NewMail {
            miner: Some(miner),
            dedup_key: miner,
            recipient: current,
            kind: MailKind::ApproveChange,
            event_at: now,
            subject: &format!(
                "{}: approve a change of alert address",
                settings.general.pool_name
            ),
            body,
            list_unsubscribe: None,
        },
        now,
    )
    .await?;
    Ok(())
}

async fn confirmations_to_today(
    conn: &mut MySqlConnection,
    email: &str,
    now: UnixMillis,
) -> Result<u64, MailError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_outbox WHERE recipient = ? AND kind = 'confirm' AND created_at > ?",
    )
    .bind(email)
    .bind(now.0.saturating_sub(DAY))
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Takes an address for `miner` from a login or the api: see the module comment. An
/// unusable address or miner is refused with the reason, before anything is stored.
pub async fn request(
    db: &MySqlPool,
    settings: &Settings,
    miner: &str,
    email: &str,
    now: UnixMillis,
) -> Result<RequestOutcome, MailError> {
    check_miner(miner)?;
    let email = EmailAddress::parse(email)?;
    let mut tx = db.begin().await?;
    let secret = LinkSecret::load(&mut tx).await?;
    let row = lock_row(&mut tx, miner).await?;
    let recent = row
        .last_request_mail_at
        .is_some_and(|at| now.0.saturating_sub(at) < HOUR);
    let outcome = match row.email.as_deref() {
        Some(current) if current == email.as_str() => RequestOutcome::AlreadyConfirmed,
        Some(current) if !row.unsubscribed => {
            if recent {
                RequestOutcome::Throttled
            } else {
                set_pending(&mut tx, miner, email.as_str(), "approve", now).await?;
                queue_approval(&mut tx, settings, &secret, miner, current, &email, now).await?;
                RequestOutcome::ApprovalQueued
            }
        }
        _ => {
            if recent || confirmations_to_today(&mut tx, email.as_str(), now).await? > 0 {
                RequestOutcome::Throttled
            } else {
                set_pending(&mut tx, miner, email.as_str(), "confirm", now).await?;
                queue_confirmation(&mut tx, settings, &secret, miner, email.as_str(), now).await?;
                RequestOutcome::ConfirmationQueued
            }
        }
    };
    tx.commit().await?;
    tracing::debug!(miner, ?outcome, "e-mail request");
    Ok(outcome)
}

async fn load_secret(db: &MySqlPool) -> Result<LinkSecret, MailError> {
    let mut conn = db.acquire().await?;
    Ok(LinkSecret::load(&mut conn).await?)
}

/// A link being opened: its checked token, and the miner's row locked in a transaction.
struct OpenLink {
    secret: LinkSecret,
    claims: Claims,
    tx: sqlx::Transaction<'static, sqlx::MySql>,
    row: Stored,
}

/// Checks `token` for `purpose` and locks the subscription row it names.
async fn open_link(
    db: &MySqlPool,
    token: &str,
    purpose: Purpose,
    now: UnixMillis,
) -> Result<OpenLink, MailError> {
    let secret = load_secret(db).await?;
    let claims = secret.verify(token, purpose, now)?;
    let mut tx = db.begin().await?;
    let row = lock_row(&mut tx, &claims.miner).await?;
    Ok(OpenLink {
        secret,
        claims,
        tx,
        row,
    })
}

/// Opens a confirmation link: the pending address becomes the confirmed one.
pub async fn confirm(
    db: &MySqlPool,
    token: &str,
    now: UnixMillis,
) -> Result<LinkOutcome, MailError> {
    let OpenLink {
        secret,
        claims,
        mut tx,
        row,
    } = open_link(db, token, Purpose::Confirm, now).await?;
    let pending = row.pending_email.as_deref().filter(|p| {
        row.pending_stage.as_deref() == Some("confirm") && claims.address_matches(&secret, p)
    });
    let outcome = match (pending, row.email.as_deref()) {
        (Some(address), _) => {
            let address = address.to_owned();
            sqlx::query(
                "UPDATE mail_subscriptions SET email = ?, confirmed_at = ?, pending_email = NULL, \
                 pending_stage = NULL, pending_requested_at = NULL, unsubscribed = 0, updated_at = ? \
                 WHERE miner = ?",
            )
            .bind(&address)
            .bind(now.0)
            .bind(now.0)
            .bind(&claims.miner)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO users (username, email, enable_email) VALUES (?, ?, 1) \
                 ON DUPLICATE KEY UPDATE email = VALUES(email), enable_email = 1",
            )
            .bind(&claims.miner)
            .bind(&address)
            .execute(&mut *tx)
            .await?;
            LinkOutcome::Confirmed
        }
        (None, Some(current)) if !row.unsubscribed && claims.address_matches(&secret, current) => {
            LinkOutcome::AlreadyConfirmed
        }
        _ => return Err(TokenError::NotForThis.into()),
    };
    tx.commit().await?;
    tracing::debug!(miner = %claims.miner, ?outcome, "confirmation link");
    Ok(outcome)
}

/// Opens an approval link (sent to the current address): the new address gets its own
/// confirmation mail. Nothing switches until that one is confirmed.
pub async fn approve_change(
    db: &MySqlPool,
    settings: &Settings,
    token: &str,
    now: UnixMillis,
) -> Result<LinkOutcome, MailError> {
    let OpenLink {
        secret,
        claims,
        mut tx,
        row,
    } = open_link(db, token, Purpose::ApproveChange, now).await?;
    let Some(new) = row
        .pending_email
        .clone()
        .filter(|p| claims.address_matches(&secret, p))
    else {
        return Err(TokenError::NotForThis.into());
    };
    let outcome = match row.pending_stage.as_deref() {
        Some("approve") => {
            set_pending(&mut tx, &claims.miner, &new, "confirm", now).await?;
            queue_confirmation(&mut tx, settings, &secret, &claims.miner, &new, now).await?;
            LinkOutcome::ChangeApproved
        }
        // Approved before: the confirmation is on its way.
        Some("confirm") => LinkOutcome::ChangeApproved,
        _ => return Err(TokenError::NotForThis.into()),
    };
    tx.commit().await?;
    tracing::debug!(miner = %claims.miner, ?outcome, "approval link");
    Ok(outcome)
}

/// Opens an unsubscribe link (GET or RFC 8058 one-click POST): no more miner mail to that
/// address for that miner, queued mail included.
pub async fn unsubscribe(
    db: &MySqlPool,
    token: &str,
    now: UnixMillis,
) -> Result<LinkOutcome, MailError> {
    let OpenLink {
        secret,
        claims,
        mut tx,
        row,
    } = open_link(db, token, Purpose::Unsubscribe, now).await?;
    if !row.exists {
        return Err(TokenError::NotForThis.into());
    }
    let current = row
        .email
        .as_deref()
        .is_some_and(|e| claims.address_matches(&secret, e));
    let outcome = if current && !row.unsubscribed {
        sqlx::query(
            "UPDATE mail_subscriptions SET unsubscribed = 1, updated_at = ? WHERE miner = ?",
        )
        .bind(now.0)
        .bind(&claims.miner)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE users SET enable_email = 0 WHERE username = ?")
            .bind(&claims.miner)
            .execute(&mut *tx)
            .await?;
        LinkOutcome::Unsubscribed
    } else {
        LinkOutcome::AlreadyUnsubscribed
    };
    // Queued mail to that address for that miner never leaves (the sender re-checks too).
    let queued: Vec<(u64, String)> = sqlx::query_as(
        "SELECT id, recipient FROM mail_outbox WHERE miner = ? AND state = 'queued' \
         AND kind IN ('workers_stopped', 'workers_resumed', 'payment_sent', 'block_found') FOR UPDATE",
    )
    .bind(&claims.miner)
    .fetch_all(&mut *tx)
    .await?;
    for (id, recipient) in queued {
        if claims.address_matches(&secret, &recipient) {
            sqlx::query(
                "UPDATE mail_outbox SET state = 'failed', last_error = 'unsubscribed' WHERE id = ?",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    tracing::debug!(miner = %claims.miner, ?outcome, "unsubscribe link");
    Ok(outcome)
}
