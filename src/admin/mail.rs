//! `rxpool admin mail list|retry|purge`: the operator's view of the e-mail outbox
//! (`mail::outbox`). Addresses are shown masked unless `--show-addresses` is given; bodies
//! (which hold unsubscribe links) are never printed.

use sqlx::MySqlPool;

use crate::domain::{Clock, SystemClock, UnixMillis};
use crate::mail::mask;
use crate::mail::outbox::{self, OutboxState};

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

pub async fn run(pool: &MySqlPool, cmd: MailCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        MailCommand::List {
            state,
            limit,
            show_addresses,
        } => {
            for row in outbox::list(pool, state, limit).await? {
                let to = if show_addresses {
                    row.recipient.clone()
                } else {
                    mask(&row.recipient)
                };
                println!(
                    "{:<8} {:<8} {:<16} attempts={} to={} miner={} event_at={} {}{}",
                    row.id,
                    row.state,
                    row.kind,
                    row.attempts,
                    to,
                    row.miner.as_deref().unwrap_or("-"),
                    row.event_at.0,
                    row.subject,
                    row.last_error
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                );
            }
        }
        MailCommand::Retry { id: Some(id), .. } => {
            if !outbox::retry(pool, id, now).await? {
                anyhow::bail!("no failed or queued mail {id}");
            }
            println!("mail {id} queued");
        }
        MailCommand::Retry { id: None, .. } => {
            let n = outbox::retry_failed(pool, now).await?;
            println!("{n} failed mail(s) queued again");
        }
        MailCommand::Purge { id: Some(id), .. } => {
            if !outbox::purge_id(pool, id).await? {
                anyhow::bail!("no mail {id} (or it is being sent)");
            }
            println!("mail {id} deleted");
        }
        MailCommand::Purge {
            id: None,
            sent_before,
        } => {
            let days = sent_before.unwrap_or(0);
            let cutoff = UnixMillis(now.0.saturating_sub(days.saturating_mul(24 * 3600 * 1000)));
            let n = outbox::purge_sent_before(pool, cutoff).await?;
            println!("{n} sent mail(s) deleted");
        }
    }
    Ok(())
}
