//! `rxpool admin mail list|retry|purge`: the operator's view of the e-mail outbox
//! (`mail::outbox`), as typed operations the admin api (`/admin/mail`) shares; the CLI prints
//! their results. Addresses are shown masked unless `--show-addresses` is given; bodies
//! (which hold unsubscribe links) are never returned.

use serde::Serialize;
use sqlx::MySqlPool;

use crate::domain::{Clock, SystemClock, UnixMillis};
use crate::mail::outbox::{self, OutboxRow, OutboxState};
use crate::mail::{MailError, mask};

/// `rxpool admin mail ...`
#[derive(Debug, clap::Subcommand)]
pub enum MailCommand {
    /// Lists outbox rows, newest first.
    List {
        /// Only rows in this state: queued, sending, sent, failed.
        #[arg(long)]
        state: Option<OutboxState>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print recipients in full instead of masked.
        #[arg(long)]
        show_addresses: bool,
    },
    /// Puts a failed row (ID) or every failed row (--failed) back in the queue, due now.
    Retry {
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<u64>,
        #[arg(long)]
        failed: bool,
    },
    /// Deletes sent rows older than DAYS (--sent-before DAYS), or one row by ID.
    Purge {
        #[arg(
            required_unless_present = "sent_before",
            conflicts_with = "sent_before"
        )]
        id: Option<u64>,
        #[arg(long, value_name = "DAYS")]
        sent_before: Option<u64>,
    },
}

/// Why an admin mail operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminMailError {
    #[error("no failed or queued mail {0}")]
    NotRetryable(u64),
    #[error("no mail {0} (or it is being sent)")]
    NotDeletable(u64),
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// One outbox row; the recipient masked unless asked for, the body never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailView {
    pub id: u64,
    pub state: String,
    pub kind: String,
    pub attempts: u32,
    pub to: String,
    pub miner: Option<String>,
    pub subject: String,
    pub event_at_ms: u64,
    pub next_attempt_at_ms: u64,
    pub created_at_ms: u64,
    pub sent_at_ms: Option<u64>,
    pub last_error: Option<String>,
}

impl MailView {
    fn of(row: OutboxRow, show_address: bool) -> MailView {
        MailView {
            id: row.id,
            to: if show_address {
                row.recipient.clone()
            } else {
                mask(&row.recipient)
            },
            state: row.state,
            kind: row.kind,
            attempts: row.attempts,
            miner: row.miner,
            subject: row.subject,
            event_at_ms: row.event_at.0,
            next_attempt_at_ms: row.next_attempt_at.0,
            created_at_ms: row.created_at.0,
            sent_at_ms: row.sent_at.map(|t| t.0),
            last_error: row.last_error,
        }
    }
}

/// Outbox rows newest first, of `state` when given.
pub async fn list(
    pool: &MySqlPool,
    state: Option<OutboxState>,
    limit: u32,
    show_addresses: bool,
) -> Result<Vec<MailView>, AdminMailError> {
    Ok(outbox::list(pool, state, limit)
        .await?
        .into_iter()
        .map(|row| MailView::of(row, show_addresses))
        .collect())
}

/// One row (recipient masked), None when there is none.
pub async fn get(pool: &MySqlPool, id: u64) -> Result<Option<MailView>, AdminMailError> {
    Ok(outbox::get(pool, id)
        .await?
        .map(|row| MailView::of(row, false)))
}

/// Puts a failed (or queued) row back in the queue, due `now`.
pub async fn retry(pool: &MySqlPool, id: u64, now: UnixMillis) -> Result<(), AdminMailError> {
    if !outbox::retry(pool, id, now).await? {
        return Err(AdminMailError::NotRetryable(id));
    }
    Ok(())
}

/// Puts every failed row back in the queue; how many.
pub async fn retry_failed(pool: &MySqlPool, now: UnixMillis) -> Result<u64, AdminMailError> {
    Ok(outbox::retry_failed(pool, now).await?)
}

/// Deletes one row unless it is being sent.
pub async fn delete(pool: &MySqlPool, id: u64) -> Result<(), AdminMailError> {
    if !outbox::purge_id(pool, id).await? {
        return Err(AdminMailError::NotDeletable(id));
    }
    Ok(())
}

/// Deletes sent rows sent more than `days` days before `now`; how many.
pub async fn purge_sent_before(
    pool: &MySqlPool,
    days: u64,
    now: UnixMillis,
) -> Result<u64, AdminMailError> {
    let cutoff = UnixMillis(now.0.saturating_sub(days.saturating_mul(24 * 3600 * 1000)));
    Ok(outbox::purge_sent_before(pool, cutoff).await?)
}

pub async fn run(pool: &MySqlPool, cmd: MailCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        MailCommand::List {
            state,
            limit,
            show_addresses,
        } => {
            for row in list(pool, state, limit, show_addresses).await? {
                println!(
                    "{:<8} {:<8} {:<16} attempts={} to={} miner={} event_at={} {}{}",
                    row.id,
                    row.state,
                    row.kind,
                    row.attempts,
                    row.to,
                    row.miner.as_deref().unwrap_or("-"),
                    row.event_at_ms,
                    row.subject,
                    row.last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        MailCommand::Retry { id: Some(id), .. } => {
            retry(pool, id, now).await?;
            println!("mail {id} queued");
        }
        MailCommand::Retry { id: None, .. } => {
            let n = retry_failed(pool, now).await?;
            println!("{n} failed mail(s) queued again");
        }
        MailCommand::Purge { id: Some(id), .. } => {
            delete(pool, id).await?;
            println!("mail {id} deleted");
        }
        MailCommand::Purge {
            id: None,
            sent_before,
        } => {
            let n = purge_sent_before(pool, sent_before.unwrap_or(0), now).await?;
            println!("{n} sent mail(s) deleted");
        }
    }
    Ok(())
}
