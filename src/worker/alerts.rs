//! Miner alerts: workers that stopped or resumed hashing, payments sent, solo blocks found.
//!
//! Each cycle the worker role compares what the share store says (every worker's last share,
//! from the LMDB counters the pool keeps) with what each subscribed miner was last told
//! (`worker_alert_state` in MySQL). [`decide`] is the whole rule, without I/O. A miner with
//! changes gets ONE mail listing every worker that changed; its state rows and that mail's
//! outbox row commit in one transaction, under a lock of the miner's rows, so a crash, a
//! restart or a second worker process neither loses nor repeats an alert. Payments and solo
//! blocks are told once each through `worker_mailed_events`, in the same transaction as the
//! mail. Only miners with a confirmed subscription are tracked (the outbox checks the
//! subscription and its switch for each kind again, inside the transaction).

use std::collections::{BTreeMap, HashMap};

use sqlx::{MySqlPool, Row};

use crate::config::Settings;
use crate::domain::UnixMillis;
use crate::mail::outbox::{self, Enqueued};
use crate::mail::{MailError, MailKind};

/// What a miner was last told about one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    pub hashing: bool,
    /// The last share before a stop, or the share that ended one.
    pub changed_at: UnixMillis,
}

/// What to do about one worker this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// First sight of the worker (or of the subscription): record its state, tell nobody.
    Track(Told),
    /// No share since `last_share` for longer than the delay: tell the miner.
    Stopped { last_share: UnixMillis },
    /// Shares again after a stop: tell the miner.
    Resumed { last_share: UnixMillis },
    /// Silent for `forget_after`: drop its state, tell nobody.
    Forget,
}

/// The rule: a worker is hashing while its last share is younger than `delay`. A stop is told
/// once, when the delay passes; a resume once, at the first cycle that sees a share after the
/// stop. `None` when nothing changed.
pub fn decide(
    told: Option<Told>,
    last_share: UnixMillis,
    now: UnixMillis,
    delay_ms: u64,
    forget_after_ms: u64,
) -> Option<Change> {
    let silent_for = now.0.saturating_sub(last_share.0);
    if silent_for >= forget_after_ms {
        return told.map(|_| Change::Forget);
    }
    let hashing = silent_for < delay_ms;
    match told {
        None => Some(Change::Track(Told {
            hashing,
            changed_at: last_share,
        })),
        Some(t) if t.hashing && !hashing => Some(Change::Stopped { last_share }),
        Some(t) if !t.hashing && hashing && last_share > t.changed_at => {
            Some(Change::Resumed { last_share })
        }
        Some(_) => None,
    }
}

/// One worker of a subscribed miner, as the share store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub worker: String,
    pub last_share: UnixMillis,
}

/// The timing of worker alerts, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub delay_ms: u64,
    pub forget_after_ms: u64,
}

impl Timing {
    pub fn from_settings(settings: &Settings) -> Timing {
        Timing {
            delay_ms: settings
                .email
                .worker_not_hashing_delay_minutes
                .saturating_mul(60_000),
            forget_after_ms: settings.worker.forget_after_secs.saturating_mul(1000),
        }
    }
}

/// Every change of one miner's workers, `None` when there is none.
pub fn changes_of(
    seen: &[Seen],
    told: &HashMap<String, Told>,
    now: UnixMillis,
    timing: Timing,
) -> BTreeMap<String, Change> {
    let mut out = BTreeMap::new();
    for s in seen {
        let change = decide(
            told.get(&s.worker).copied(),
            s.last_share,
            now,
            timing.delay_ms,
            timing.forget_after_ms,
        );
        if let Some(change) = change {
            out.insert(s.worker.clone(), change);
        }
    }
    out
}

/// The mail for one miner's changes: subject, kind and body (one line per worker, stopped
/// first), or `None` when no change is worth a mail.
pub fn compose(
    settings: &Settings,
    changes: &BTreeMap<String, Change>,
) -> Option<(MailKind, String, String)> {
    let e = &settings.email;
    let mut stopped = Vec::new();
    let mut resumed = Vec::new();
    for (worker, change) in changes {
        match change {
            Change::Stopped { last_share } => stopped.push(outbox::render(
                &e.worker_not_hashing_body,
                &[("worker", worker), ("timestamp", &last_share.utc_text())],
            )),
            Change::Resumed { last_share } => resumed.push(outbox::render(
                &e.worker_start_hashing_body,
                &[("worker", worker), ("timestamp", &last_share.utc_text())],
            )),
            Change::Track(_) | Change::Forget => {}
        }
    }
    let (kind, subject) = match (stopped.is_empty(), resumed.is_empty()) {
        (true, true) => return None,
        (false, _) => (MailKind::WorkersStopped, &e.worker_not_hashing_subject),
        (true, false) => (MailKind::WorkersResumed, &e.worker_start_hashing_subject),
    };
    stopped.extend(resumed);
    Some((kind, subject.clone(), stopped.join("\n")))
}

/// Errors of the alert passes.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("mysql: {0}")]
    Mysql(#[from] sqlx::Error),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
}

/// What each miner was last told, for every tracked miner (loaded once at start; kept in step
/// by [`apply`]).
pub async fn load_told(
    db: &MySqlPool,
) -> Result<HashMap<String, HashMap<String, Told>>, AlertError> {
    let rows = sqlx::query("SELECT miner, worker, hashing, changed_at FROM worker_alert_state")
        .fetch_all(db)
        .await?;
    let mut out: HashMap<String, HashMap<String, Told>> = HashMap::new();
    for row in rows {
        out.entry(row.try_get("miner")?).or_default().insert(
            row.try_get("worker")?,
            Told {
                hashing: row.try_get::<bool, _>("hashing")?,
                changed_at: UnixMillis(row.try_get("changed_at")?),
            },
        );
    }
    Ok(out)
}

/// Applies one miner's changes: locks the miner's state rows, decides again against them
/// (another process may have told the miner already), writes the new state and queues the
/// mail, in one transaction. Returns the state as it now is, and whether a mail was queued.
pub async fn apply(
    db: &MySqlPool,
    settings: &Settings,
    miner: &str,
    seen: &[Seen],
    now: UnixMillis,
    timing: Timing,
) -> Result<(HashMap<String, Told>, bool), AlertError> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(
        "SELECT worker, hashing, changed_at FROM worker_alert_state WHERE miner = ? FOR UPDATE",
    )
    .bind(miner)
    .fetch_all(&mut *tx)
    .await?;
    let mut told = HashMap::with_capacity(rows.len());
    for row in rows {
        told.insert(
            row.try_get::<String, _>("worker")?,
            Told {
                hashing: row.try_get::<bool, _>("hashing")?,
                changed_at: UnixMillis(row.try_get("changed_at")?),
            },
        );
    }
    let changes = changes_of(seen, &told, now, timing);
    for (worker, change) in &changes {
        let state = match *change {
            Change::Track(t) => Some(t),
            Change::Stopped { last_share } => Some(Told {
                hashing: false,
                changed_at: last_share,
            }),
            Change::Resumed { last_share } => Some(Told {
                hashing: true,
                changed_at: last_share,
            }),
            Change::Forget => None,
        };
        match state {
            Some(t) => {
                sqlx::query(
                    "INSERT INTO worker_alert_state (miner, worker, hashing, changed_at) \
                     VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                     hashing = VALUES(hashing), changed_at = VALUES(changed_at)",
                )
                .bind(miner)
                .bind(worker)
                .bind(t.hashing)
                .bind(t.changed_at.0)
                .execute(&mut *tx)
                .await?;
                told.insert(worker.clone(), t);
            }
            None => {
                sqlx::query("DELETE FROM worker_alert_state WHERE miner = ? AND worker = ?")
                    .bind(miner)
                    .bind(worker)
                    .execute(&mut *tx)
                    .await?;
                told.remove(worker);
            }
        }
    }
    let mut queued = false;
    if let Some((kind, subject, body)) = compose(settings, &changes) {
        let r =
            outbox::enqueue_to_miner(&mut tx, settings, miner, kind, now, &subject, &body).await?;
        queued = r == Enqueued::Queued;
    }
    tx.commit().await?;
    Ok((told, queued))
}

/// A cursor of `worker_cursors`, set to `initial` on first use (so nothing from before the
/// worker's first start is mailed).
pub async fn cursor(db: &MySqlPool, name: &str, initial: u64) -> Result<u64, AlertError> {
    sqlx::query("INSERT IGNORE INTO worker_cursors (name, value) VALUES (?, ?)")
        .bind(name)
        .bind(initial)
        .execute(db)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM worker_cursors WHERE name = ?")
            .bind(name)
            .fetch_one(db)
            .await?,
    )
}

/// A payment of a relayed or confirmed payout, not yet told.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PaymentRow {
    id: u64,
    miner: String,
    amount: u64,
    fee: u64,
    tx_hash: String,
    at: UnixMillis,
}

/// Tells every payee of a relayed (or confirmed) payout, once per `payments` row, with the
/// amount, the network fee and the tx hash. A payment whose batch is not relayed yet is
/// told on a later cycle; payments from before the worker first ran are never told.
pub async fn payments_sent(
    db: &MySqlPool,
    settings: &Settings,
    now: UnixMillis,
) -> Result<usize, AlertError> {
    let first: u64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS UNSIGNED) FROM payments")
            .fetch_one(db)
            .await?;
    let from = cursor(db, "payments_after", first).await?;
    let rows = sqlx::query(
        "SELECT p.id, p.payment_address, p.payment_id, p.amount, p.transfer_fee, \
                t.transaction_hash \
         FROM payments p \
         JOIN transactions t ON t.id = p.transaction_id \
         JOIN payout_batches b ON b.transaction_id = p.transaction_id \
         LEFT JOIN worker_mailed_events m ON m.kind = 'payment' \
           AND m.event = CAST(p.id AS CHAR CHARACTER SET ascii) COLLATE ascii_bin \
         WHERE p.id > ? AND b.status IN ('relayed', 'confirmed') AND m.event IS NULL \
         ORDER BY p.id LIMIT 1000",
    )
    .bind(from)
    .fetch_all(db)
    .await?;
    let mut told = 0;
    for row in rows {
        let address: String = row.try_get("payment_address")?;
        let payment_id: String = row.try_get("payment_id")?;
        let payment = PaymentRow {
            id: row.try_get("id")?,
            miner: if payment_id.is_empty() {
                address
            } else {
                format!("{address}.{payment_id}")
            },
            amount: row.try_get("amount")?,
            fee: row.try_get("transfer_fee")?,
            tx_hash: row.try_get("transaction_hash")?,
            at: now,
        };
        if tell_payment(db, settings, &payment).await? {
            told += 1;
        }
    }
    Ok(told)
}

async fn tell_payment(
    db: &MySqlPool,
    settings: &Settings,
    p: &PaymentRow,
) -> Result<bool, AlertError> {
    let mut tx = db.begin().await?;
    let marked = sqlx::query(
        "INSERT IGNORE INTO worker_mailed_events (kind, event, at) VALUES ('payment', ?, ?)",
    )
    .bind(p.id.to_string())
    .bind(p.at.0)
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    let e = &settings.email;
    let (address, _) = p.miner.split_once('.').unwrap_or((&p.miner, ""));
    let body = outbox::render(
        &e.payment_sent_body,
        &[
            ("amount", &crate::domain::Atomic(p.amount).to_string()),
            ("fee", &crate::domain::Atomic(p.fee).to_string()),
            ("address", address),
            ("tx_hash", &p.tx_hash),
        ],
    );
    let r = outbox::enqueue_to_miner(
        &mut tx,
        settings,
        &p.miner,
        MailKind::PaymentSent,
        UnixMillis(p.id),
        &e.payment_sent_subject,
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(r == Enqueued::Queued)
}

/// A solo block the pool found, as the share store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoloBlock {
    pub miner: String,
    pub worker: String,
    pub height: u64,
    pub hash: String,
    pub found_at: UnixMillis,
}

/// Tells the finder of each solo block found since the worker first ran (miners opt in:
/// the outbox checks the subscription's solo switch), once per block.
pub async fn solo_blocks_found(
    db: &MySqlPool,
    settings: &Settings,
    blocks: &[SoloBlock],
    now: UnixMillis,
) -> Result<usize, AlertError> {
    let from = cursor(db, "solo_blocks_after", now.0).await?;
    let mut told = 0;
    for b in blocks.iter().filter(|b| b.found_at.0 > from) {
        let mut tx = db.begin().await?;
        let event = format!("{}:{}", b.height, b.hash);
        let marked = sqlx::query(
            "INSERT IGNORE INTO worker_mailed_events (kind, event, at) VALUES ('solo_block', ?, ?)",
        )
        .bind(&event)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            tx.rollback().await?;
            continue;
        }
        let e = &settings.email;
        let body = outbox::render(
            &e.block_found_body,
            &[
                ("worker", &b.worker),
                ("height", &b.height.to_string()),
                ("hash", &b.hash),
                ("timestamp", &b.found_at.utc_text()),
            ],
        );
        let r = outbox::enqueue_to_miner(
            &mut tx,
            settings,
            &b.miner,
            MailKind::BlockFound,
            b.found_at,
            &e.block_found_subject,
            &body,
        )
        .await?;
        tx.commit().await?;
        if r == Enqueued::Queued {
            told += 1;
        }
    }
    Ok(told)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const DELAY: u64 = 10 * MIN;
    const FORGET: u64 = 7 * 24 * 60 * MIN;

    fn t(ms: u64) -> UnixMillis {
        UnixMillis(ms)
    }

    #[test]
    fn a_new_worker_is_tracked_silently_whatever_its_state() {
        assert_eq!(
            decide(None, t(1000), t(2000), DELAY, FORGET),
            Some(Change::Track(Told {
                hashing: true,
                changed_at: t(1000)
            }))
        );
        assert_eq!(
            decide(None, t(1000), t(1000 + DELAY), DELAY, FORGET),
            Some(Change::Track(Told {
                hashing: false,
                changed_at: t(1000)
            }))
        );
    }

    #[test]
    fn a_stop_is_told_once_when_the_delay_passes_and_a_resume_once() {
        let hashing = Told {
            hashing: true,
            changed_at: t(0),
        };
        let last = t(5 * MIN);
        assert_eq!(
            decide(Some(hashing), last, t(last.0 + DELAY - 1), DELAY, FORGET),
            None
        );
        assert_eq!(
            decide(Some(hashing), last, t(last.0 + DELAY), DELAY, FORGET),
            Some(Change::Stopped { last_share: last })
        );
        let stopped = Told {
            hashing: false,
            changed_at: last,
        };
        // Still silent: nothing more.
        assert_eq!(
            decide(Some(stopped), last, t(last.0 + 5 * DELAY), DELAY, FORGET),
            None
        );
        // A share again: one resume, then nothing.
        let again = t(last.0 + 6 * DELAY);
        assert_eq!(
            decide(Some(stopped), again, t(again.0 + 1), DELAY, FORGET),
            Some(Change::Resumed { last_share: again })
        );
        let resumed = Told {
            hashing: true,
            changed_at: again,
        };
        assert_eq!(
            decide(Some(resumed), again, t(again.0 + 2), DELAY, FORGET),
            None
        );
    }

    #[test]
    fn a_worker_silent_past_forget_after_is_dropped_without_a_mail() {
        let stopped = Told {
            hashing: false,
            changed_at: t(0),
        };
        assert_eq!(
            decide(Some(stopped), t(0), t(FORGET), DELAY, FORGET),
            Some(Change::Forget)
        );
        assert_eq!(decide(None, t(0), t(FORGET), DELAY, FORGET), None);
    }

    #[test]
    fn one_mail_lists_every_worker_that_changed() {
        let settings = crate::config::Settings::defaults();
        let mut changes = BTreeMap::new();
        changes.insert("rig1".into(), Change::Stopped { last_share: t(0) });
        changes.insert(
            "rig2".into(),
            Change::Stopped {
                last_share: t(1000),
            },
        );
        changes.insert(
            "rig3".into(),
            Change::Resumed {
                last_share: t(2000),
            },
        );
        changes.insert(
            "rig4".into(),
            Change::Track(Told {
                hashing: true,
                changed_at: t(0),
            }),
        );
        let (kind, subject, body) = compose(&settings, &changes).unwrap();
        assert_eq!(kind, MailKind::WorkersStopped);
        assert_eq!(subject, settings.email.worker_not_hashing_subject);
        assert_eq!(body.lines().count(), 3, "{body}");
        assert!(body.lines().next().unwrap().contains("rig1"));
        assert!(body.contains("rig3") && body.contains("started"), "{body}");
        assert!(!body.contains("rig4"));
        let only_track: BTreeMap<_, _> = [("rig4".to_string(), Change::Forget)].into();
        assert_eq!(compose(&settings, &only_track), None);
    }
}
