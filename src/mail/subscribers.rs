//! Who is subscribed now: the reads of `mail_subscriptions` every sender of miner mail needs
//! (the outbox checks a miner's confirmed address and switches inside the transaction that
//! queues the mail), and the switches. The double opt-in that changes subscriptions is
//! [`super::subscriptions`], above this.

use std::collections::HashMap;

use sqlx::{MySql, MySqlPool, Row};

use super::{MailError, MailKind};

/// A miner's confirmed, subscribed address and its switches.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub email: String,
    pub worker_alerts: bool,
    pub payments: bool,
    pub solo_blocks: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("email", &super::mask(&self.email))
            .field("worker_alerts", &self.worker_alerts)
            .field("payments", &self.payments)
            .field("solo_blocks", &self.solo_blocks)
            .finish()
    }
}

impl Subscription {
    /// Whether this kind of mail is switched on.
    pub fn wants(&self, kind: MailKind) -> bool {
        match kind {
            MailKind::WorkersStopped | MailKind::WorkersResumed => self.worker_alerts,
            MailKind::PaymentSent => self.payments,
            MailKind::BlockFound => self.solo_blocks,
            MailKind::Confirm | MailKind::ApproveChange | MailKind::Operator => false,
        }
    }
}

fn subscription(r: &sqlx::mysql::MySqlRow) -> Result<Subscription, sqlx::Error> {
    Ok(Subscription {
        email: r.try_get("email")?,
        worker_alerts: r.try_get::<i8, _>("worker_alerts")? != 0,
        payments: r.try_get::<i8, _>("payments")? != 0,
        solo_blocks: r.try_get::<i8, _>("solo_blocks")? != 0,
    })
}

const SUBSCRIBED: &str = "SELECT miner, email, worker_alerts, payments, solo_blocks FROM mail_subscriptions \
     WHERE email IS NOT NULL AND unsubscribed = 0";

/// The miner's confirmed, subscribed address, if any (a pool or a connection in a transaction).
pub async fn confirmed<'c, E>(db: E, miner: &str) -> Result<Option<Subscription>, MailError>
where
    E: sqlx::Executor<'c, Database = MySql>,
{
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SUBSCRIBED} AND miner = ?")))
        .bind(miner)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(subscription).transpose()?)
}

/// [`confirmed`] for many miners at once; miners without one are absent from the map.
pub async fn confirmed_many(
    db: &MySqlPool,
    miners: &[&str],
) -> Result<HashMap<String, Subscription>, MailError> {
    let mut out = HashMap::new();
    for chunk in miners.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("{SUBSCRIBED} AND miner IN ({marks})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for m in chunk {
            q = q.bind(*m);
        }
        for r in q.fetch_all(db).await? {
            out.insert(r.try_get("miner")?, subscription(&r)?);
        }
    }
    Ok(out)
}

/// Miners with a confirmed address and worker alerts on (the worker tracks their workers).
pub async fn with_worker_alerts(db: &MySqlPool) -> Result<Vec<String>, MailError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SUBSCRIBED} AND worker_alerts = 1"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("miner"))
        .collect::<Result<_, _>>()?)
}

/// Sets a miner's switches (the api's settings page, tests). `false` when the miner has no row.
pub async fn set_switches(
    db: &MySqlPool,
    miner: &str,
    worker_alerts: bool,
    payments: bool,
    solo_blocks: bool,
) -> Result<bool, MailError> {
    let r = sqlx::query(
        "UPDATE mail_subscriptions SET worker_alerts = ?, payments = ?, solo_blocks = ? WHERE miner = ?",
    )
    .bind(worker_alerts)
    .bind(payments)
    .bind(solo_blocks)
    .bind(miner)
    .execute(db)
    .await?;
    Ok(r.rows_affected() > 0)
}
