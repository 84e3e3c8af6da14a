//! The operator mail of a [`Transition`]: its subject and body (pure), queued in the mail
//! outbox (`mail::outbox::enqueue_to_admin`) inside the caller's transaction.

use sqlx::MySqlConnection;

use super::{Change, Family, OperatorError, Transition};
use crate::config::Settings;
use crate::domain::UnixMillis;

/// A mail ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub body: String,
}

/// The mail for `t`, or `None` when `general.adminEmail` is empty (the state is kept, nothing
/// is mailed).
pub fn mail_for(t: &Transition, settings: &Settings) -> Option<Notice> {
    if settings.general.admin_email.trim().is_empty() {
        return None;
    }
    let title = title(&t.key);
    let pool = &settings.general.pool_name;
    let reminder = settings.general.admin_alert_reminder_minutes;
    let (subject, lead, tail) = match t.change {
        Change::On => (
            format!("[{pool}] ALERT: {title}"),
            format!("Alert since {}:", utc(t.since)),
            format!("You will be reminded every {reminder} minutes while it lasts."),
        ),
        Change::Reminder => (
            format!("[{pool}] still on: {title}"),
            format!(
                "Still on at {}, for {} minutes (since {}):",
                utc(t.at),
                t.at.0.saturating_sub(t.since.0) / 60_000,
                utc(t.since)
            ),
            format!("Next reminder in {reminder} minutes unless it clears."),
        ),
        Change::Off => (
            format!("[{pool}] back to normal: {title}"),
            format!(
                "Back to normal at {} after {} minutes (on since {}):",
                utc(t.at),
                t.at.0.saturating_sub(t.since.0) / 60_000,
                utc(t.since)
            ),
            String::new(),
        ),
    };
    let body = format!("{lead}\n\n{}\n\n{tail}\nAlert key: {}\n", t.detail, t.key);
    Some(Notice { subject, body })
}

/// A readable name for the alert `key`.
pub fn title(key: &str) -> String {
    let subject = key.split_once(':').map(|(_, s)| s).unwrap_or("");
    match Family::of(key) {
        Some(Family::Daemon) => "monerod unreachable".to_owned(),
        Some(Family::PoolBehind) => format!("pool host {subject} behind the chain"),
        Some(Family::PoolSilent) => format!("pool host {subject} silent"),
        Some(Family::LmdbMap) => "share store (LMDB) map nearly full".to_owned(),
        Some(Family::PayoutsReview) => "payouts waiting for manual review".to_owned(),
        Some(Family::PayoutsSetAside) => "balances set aside from payouts".to_owned(),
        Some(Family::PpsReserve) => "PPS reserve short".to_owned(),
        Some(Family::Stalled) => format!("{subject} stalled"),
        Some(Family::Smtp) => "SMTP delivery failing".to_owned(),
        Some(Family::BlockIssue) => format!("block not credited ({subject})"),
        Some(Family::RestoreHold) => "payouts held after a restore from backup".to_owned(),
        None => key.to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for `t`.
pub fn utc(t: UnixMillis) -> String {
    let secs = t.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, unsigned form).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Queues `notice` for the admin address in `tx` (unique per alert, kind and event time, so a
/// retried transaction never mails twice).
pub async fn enqueue(
    tx: &mut MySqlConnection,
    settings: &Settings,
    alert: &str,
    event_at: UnixMillis,
    notice: &Notice,
) -> Result<(), OperatorError> {
    crate::mail::outbox::enqueue_to_admin(
        tx,
        settings,
        alert,
        event_at,
        &notice.subject,
        &notice.body,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(change: Change) -> Transition {
        Transition {
            key: "pool_behind:3".to_owned(),
            change,
            detail: "pool host 3 works on height 90".to_owned(),
            since: UnixMillis(1_764_626_000_000),
            at: UnixMillis(1_764_626_000_000 + 240 * 60_000),
            previous_notice: None,
        }
    }

    fn settings(admin: &str) -> Settings {
        let mut s = Settings::defaults();
        s.general.admin_email = admin.to_owned();
        s.general.pool_name = "TestPool".to_owned();
        s
    }

    #[test]
    fn nothing_is_mailed_without_an_admin_address() {
        for change in [Change::On, Change::Reminder, Change::Off] {
            assert_eq!(mail_for(&transition(change), &settings("")), None);
            assert_eq!(mail_for(&transition(change), &settings("  ")), None);
        }
    }

    #[test]
    fn each_change_has_its_own_subject_and_the_detail() {
        let s = settings("ops@example.org");
        let on = mail_for(&transition(Change::On), &s).unwrap();
        let again = mail_for(&transition(Change::Reminder), &s).unwrap();
        let off = mail_for(&transition(Change::Off), &s).unwrap();
        assert_eq!(on.subject, "[TestPool] ALERT: pool host 3 behind the chain");
        assert_eq!(
            again.subject,
            "[TestPool] still on: pool host 3 behind the chain"
        );
        assert_eq!(
            off.subject,
            "[TestPool] back to normal: pool host 3 behind the chain"
        );
        for n in [&on, &again, &off] {
            assert!(n.body.contains("pool host 3 works on height 90"));
            assert!(n.body.contains("Alert key: pool_behind:3"));
            assert!(!n.body.contains("ops@example.org"));
        }
        assert!(again.body.contains("for 240 minutes"));
    }

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc(UnixMillis(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(UnixMillis(951_782_400_000)), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            utc(UnixMillis(1_764_626_645_123)),
            "2025-12-01 22:04:05 UTC"
        );
    }
}
