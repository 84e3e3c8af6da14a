//! Operator alerts (issue 10 item 5): the worker's watch over the pool's own health, mailed to
//! `general.adminEmail`, edge-triggered with reminders.
//!
//! Each cycle the worker hands [`OperatorAlerts::check`] its [`Probes`] (what it asked monerod,
//! the wallet and LMDB); the [`checks`] read the other facts from MySQL (pool hosts'
//! check-ins, role heartbeats, payout batches in review, balances set aside, block issues, the
//! mail outbox) and each returns plain [`Observation`]s of one [`Family`]. [`transitions`], pure
//! and tested without I/O, turns observations and the stored state (`operator_alerts`) into
//! [`Transition`]s: on, a reminder every `general.adminAlertReminder` minutes while on, and
//! off ("back to normal"). Each transition's new state and its operator mail's outbox row
//! commit in one transaction, so a crash or a retried cycle neither loses nor repeats a mail;
//! with `general.adminEmail` empty the state is still kept and nothing is mailed.
//!
//! A check whose facts cannot be read this cycle is skipped (logged once at warn): its alerts
//! keep their state rather than clearing on missing evidence. This module sends nothing
//! itself (the mail sender delivers from the outbox) and never logs the admin address.

pub mod checks;
pub mod notice;

use std::collections::{BTreeMap, BTreeSet};

use sqlx::MySqlPool;

use crate::config::Settings;
use crate::domain::{Height, UnixMillis};
use crate::monero::daemon::Daemon;
use crate::monero::rpc_types::Balance;
use crate::monero::wallet::Wallet;
use crate::store::lmdb::{MapUsage, ShareStore};
use crate::store::mysql::MysqlError;
use crate::store::mysql::heartbeats::{self, AlertRow};

pub use checks::Limits;

/// What the worker measured this cycle from monerod, the wallet and LMDB; the checks read
/// only these and MySQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probes {
    /// The chain tip from the worker's monerod client (`get_last_block_header`), or why the
    /// call failed.
    pub daemon: Result<Height, String>,
    /// The share store's map usage; `None` where this host has no share store to watch.
    pub lmdb: Option<Result<MapUsage, String>>,
    /// The pool wallet's balance; `None` where the worker has no wallet-rpc to ask.
    pub wallet: Option<Result<Balance, String>>,
}

impl Probes {
    /// Asks `daemon` for its tip, `wallet` (when given) for its balance and `store` (when
    /// given) for its map usage.
    pub async fn gather<D: Daemon, W: Wallet>(
        daemon: &D,
        wallet: Option<&W>,
        store: Option<&ShareStore>,
    ) -> Probes {
        let lmdb = store.map(|s| s.usage().map_err(|err| err.to_string()));
        let daemon = daemon
            .last_block_header(false)
            .await
            .map(|header| header.height)
            .map_err(|err| err.to_string());
        let wallet = match wallet {
            Some(w) => Some(w.get_balance().await.map_err(|err| err.to_string())),
            None => None,
        };
        Probes {
            daemon,
            lmdb,
            wallet,
        }
    }
}

/// A kind of operator alert. Its key is [`Family::prefix`], or `prefix:subject` for the
/// families with one alert per subject (a pool id, a role, a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// monerod does not answer the worker.
    Daemon,
    /// A pool host's template height is behind the chain tip (`pool_behind:<pool id>`).
    PoolBehind,
    /// A pool host stopped checking in (`pool_silent:<pool id>`).
    PoolSilent,
    /// The LMDB map is over its limit share of the maximum map size.
    LmdbMap,
    /// Payout batches in `manual_review`.
    PayoutsReview,
    /// Balances set aside from payouts (a destination the wallet refused).
    PayoutsSetAside,
    /// The pool wallet holds less than the pool owes (PPS crediting pauses then).
    PpsReserve,
    /// A role stopped finishing loop iterations (`stalled:<role>`).
    Stalled,
    /// The mail outbox cannot deliver.
    Smtp,
    /// A block or PPS height that could not be credited, or an unrecorded pool block
    /// (`block_issue:<kind>:<height>:<hash>`).
    BlockIssue,
    /// Restored from a backup, with outgoing wallet transfers the store does not record:
    /// payouts are held until the operator resolves them.
    RestoreHold,
}

impl Family {
    pub const ALL: [Family; 11] = [
        Family::Daemon,
        Family::PoolBehind,
        Family::PoolSilent,
        Family::LmdbMap,
        Family::PayoutsReview,
        Family::PayoutsSetAside,
        Family::PpsReserve,
        Family::Stalled,
        Family::Smtp,
        Family::BlockIssue,
        Family::RestoreHold,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            Family::Daemon => "daemon",
            Family::PoolBehind => "pool_behind",
            Family::PoolSilent => "pool_silent",
            Family::LmdbMap => "lmdb_map",
            Family::PayoutsReview => "payouts_review",
            Family::PayoutsSetAside => "payouts_set_aside",
            Family::PpsReserve => "pps_reserve",
            Family::Stalled => "stalled",
            Family::Smtp => "smtp",
            Family::BlockIssue => "block_issue",
            Family::RestoreHold => "restore_hold",
        }
    }

    /// The family of an alert key.
    pub fn of(key: &str) -> Option<Family> {
        let prefix = key.split_once(':').map_or(key, |(prefix, _)| prefix);
        Family::ALL.into_iter().find(|f| f.prefix() == prefix)
    }

    /// The key of this family's alert about `subject` (`None`: the family's only alert).
    pub fn key(self, subject: Option<&str>) -> String {
        match subject {
            Some(s) => format!("{}:{s}", self.prefix()),
            None => self.prefix().to_owned(),
        }
    }
}

/// What one check saw about one alert this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub key: String,
    pub on: bool,
    /// What was seen, for the operator (no e-mail addresses, no secrets).
    pub detail: String,
}

/// One family's check, done: its observations. A stored alert of the family that is on and
/// not observed on here is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub family: Family,
    pub observations: Vec<Observation>,
}

/// How an alert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It turned on.
    On,
    /// It is still on and a reminder is due.
    Reminder,
    /// It is over: back to normal.
    Off,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::On => "on",
            Change::Reminder => "reminder",
            Change::Off => "off",
        }
    }
}

/// One alert's change this cycle: what to store and what to mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub key: String,
    pub change: Change,
    pub detail: String,
    /// When the alert turned on (for `Off`: the start of the episode that ends).
    pub since: UnixMillis,
    /// The event time: this cycle's `now`, also the outbox row's `event_at`.
    pub at: UnixMillis,
    /// The stored `last_notice` this transition was computed from (`None`: the alert was
    /// off); applying it is a compare-and-swap on it.
    pub previous_notice: Option<UnixMillis>,
}

impl Transition {
    /// The alert's stored state after this transition.
    pub fn next_state(&self) -> AlertRow {
        AlertRow {
            key: self.key.clone(),
            active: self.change != Change::Off,
            since: match self.change {
                Change::On | Change::Off => self.at,
                Change::Reminder => self.since,
            },
            last_notice: self.at,
            detail: self.detail.clone(),
        }
    }
}

/// The edge logic, without I/O: `checked` families against the `stored` alert states (rows
/// that are off are ignored). An alert observed on that was off turns [`Change::On`]; one on
/// whose last notice is `reminder_ms` or more before `now` gets a [`Change::Reminder`]; one on
/// that a check of its family no longer observes on turns [`Change::Off`]. Families not in
/// `checked` (their facts could not be read) change nothing.
pub fn transitions(
    checked: &[Checked],
    stored: &[AlertRow],
    now: UnixMillis,
    reminder_ms: u64,
) -> Vec<Transition> {
    let active: BTreeMap<&str, &AlertRow> = stored
        .iter()
        .filter(|row| row.active)
        .map(|row| (row.key.as_str(), row))
        .collect();
    let mut out = Vec::new();
    for check in checked {
        let mut on: BTreeSet<&str> = BTreeSet::new();
        let mut off: BTreeMap<&str, &str> = BTreeMap::new();
        for o in &check.observations {
            if Family::of(&o.key) != Some(check.family) {
                continue;
            }
            if !o.on {
                off.insert(&o.key, &o.detail);
                continue;
            }
            if !on.insert(&o.key) {
                continue;
            }
            match active.get(o.key.as_str()) {
                None => out.push(Transition {
                    key: o.key.clone(),
                    change: Change::On,
                    detail: o.detail.clone(),
                    since: now,
                    at: now,
                    previous_notice: None,
                }),
                Some(row) if now.0.saturating_sub(row.last_notice.0) >= reminder_ms => {
                    out.push(Transition {
                        key: o.key.clone(),
                        change: Change::Reminder,
                        detail: o.detail.clone(),
                        since: row.since,
                        at: now,
                        previous_notice: Some(row.last_notice),
                    })
                }
                Some(_) => {}
            }
        }
        for (key, row) in &active {
            if Family::of(key) != Some(check.family) || on.contains(key) {
                continue;
            }
            let detail = match off.get(key) {
                Some(seen) => (*seen).to_owned(),
                None => format!("no longer observed (it was: {})", row.detail),
            };
            out.push(Transition {
                key: (*key).to_owned(),
                change: Change::Off,
                detail,
                since: row.since,
                at: now,
                previous_notice: Some(row.last_notice),
            });
        }
    }
    out
}

/// An operator alert cycle failed; nothing of it after the failing step was stored.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Mysql(#[from] MysqlError),
    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("mail outbox: {0}")]
    Outbox(#[from] crate::mail::MailError),
}

/// The operator alert watch the worker runs every cycle.
#[derive(Debug, Default)]
pub struct OperatorAlerts {
    pub limits: Limits,
    /// Families whose facts could not be read last cycle, with why (logged on change only).
    skipped: BTreeMap<Family, String>,
}

impl OperatorAlerts {
    pub fn new(limits: Limits) -> OperatorAlerts {
        OperatorAlerts {
            limits,
            skipped: BTreeMap::new(),
        }
    }

    /// One cycle: runs every check, computes the transitions against `operator_alerts` and
    /// applies each in its own transaction with its operator mail. Returns the transitions
    /// applied (one another worker applied first, or one whose transaction failed, is left
    /// out; the latter is logged and computed again next cycle). Fails only when the stored
    /// alert state cannot be read.
    pub async fn check(
        &mut self,
        db: &MySqlPool,
        probes: &Probes,
        settings: &Settings,
        now: UnixMillis,
    ) -> Result<Vec<Transition>, OperatorError> {
        let mut checked = Vec::new();
        for (family, result) in checks::run_all(db, probes, settings, &self.limits, now).await {
            match result {
                Ok(c) => {
                    if self.skipped.remove(&family).is_some() {
                        tracing::info!(
                            alert.family = family.prefix(),
                            "operator check readable again"
                        );
                    }
                    checked.push(c);
                }
                Err(why) => {
                    if self.skipped.get(&family) != Some(&why) {
                        tracing::warn!(alert.family = family.prefix(), %why,
                            "operator check skipped: its alerts keep their state");
                    }
                    self.skipped.insert(family, why);
                }
            }
        }
        let stored = heartbeats::active_alerts(db).await?;
        let reminder_ms = settings
            .general
            .admin_alert_reminder_minutes
            .saturating_mul(60_000);
        let mut applied = Vec::new();
        for t in transitions(&checked, &stored, now, reminder_ms) {
            // One failing transition does not hold the others back; it is computed again
            // next cycle.
            match apply(db, settings, &t).await {
                Ok(true) => {
                    tracing::info!(alert.key = %t.key, alert.change = t.change.as_str(), "operator alert");
                    applied.push(t);
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(alert.key = %t.key, %err,
                    "operator alert not stored; retrying next cycle"),
            }
        }
        Ok(applied)
    }
}

/// Stores `t` and queues its mail in one transaction; `false` when the stored state is no
/// longer the one `t` was computed from (another worker applied it).
async fn apply(db: &MySqlPool, settings: &Settings, t: &Transition) -> Result<bool, OperatorError> {
    // A row to lock even for an alert never seen before (an absent row would only take a gap
    // lock, which two workers can share and then deadlock on inserting).
    heartbeats::ensure_alert(db, &t.key, t.at).await?;
    let mut tx = db.begin().await?;
    let current = heartbeats::lock_alert(&mut tx, &t.key).await?;
    let current_notice = current.filter(|row| row.active).map(|row| row.last_notice);
    if current_notice != t.previous_notice {
        tx.rollback().await?;
        return Ok(false);
    }
    heartbeats::save_alert(&mut tx, &t.next_state(), t.at).await?;
    if let Some(mail) = notice::mail_for(t, settings) {
        notice::enqueue(&mut tx, settings, &t.key, t.at, &mail).await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;
    const REMIND: u64 = 240 * MINUTE;

    fn obs(key: &str, on: bool) -> Observation {
        Observation {
            key: key.to_owned(),
            on,
            detail: format!("{key} seen {}", if on { "on" } else { "off" }),
        }
    }

    fn checked(family: Family, observations: Vec<Observation>) -> Checked {
        Checked {
            family,
            observations,
        }
    }

    /// Runs `transitions` and applies them to `stored` as the database would.
    fn step(stored: &mut Vec<AlertRow>, checked: &[Checked], now: u64) -> Vec<(String, Change)> {
        let ts = transitions(checked, stored, UnixMillis(now), REMIND);
        for t in &ts {
            stored.retain(|row| row.key != t.key);
            stored.push(t.next_state());
        }
        ts.into_iter().map(|t| (t.key, t.change)).collect()
    }

    fn daemon(on: bool) -> Vec<Checked> {
        vec![checked(Family::Daemon, vec![obs("daemon", on)])]
    }

    #[test]
    fn an_alert_turns_on_once_and_reminds_exactly_at_the_interval() {
        let mut stored = Vec::new();
        let t0 = 1_000_000;
        assert_eq!(
            step(&mut stored, &daemon(true), t0),
            vec![("daemon".to_owned(), Change::On)]
        );
        // Still on: nothing until the reminder interval has passed, to the millisecond.
        for now in [t0 + 10_000, t0 + REMIND / 2, t0 + REMIND - 1] {
            assert!(step(&mut stored, &daemon(true), now).is_empty(), "at {now}");
        }
        assert_eq!(
            step(&mut stored, &daemon(true), t0 + REMIND),
            vec![("daemon".to_owned(), Change::Reminder)]
        );
        assert!(step(&mut stored, &daemon(true), t0 + 2 * REMIND - 1).is_empty());
        assert_eq!(
            step(&mut stored, &daemon(true), t0 + 2 * REMIND),
            vec![("daemon".to_owned(), Change::Reminder)]
        );
        // The episode keeps its start through the reminders.
        let row = stored.iter().find(|r| r.key == "daemon").unwrap();
        assert_eq!(row.since, UnixMillis(t0));
        assert!(row.active);
    }

    #[test]
    fn an_alert_that_clears_says_so_once_with_what_the_check_saw() {
        let mut stored = Vec::new();
        step(&mut stored, &daemon(true), 1_000);
        let ts = transitions(&daemon(false), &stored, UnixMillis(5_000), REMIND);
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].change, Change::Off);
        assert_eq!(ts[0].detail, "daemon seen off");
        assert_eq!(ts[0].since, UnixMillis(1_000));
        assert_eq!(ts[0].previous_notice, Some(UnixMillis(1_000)));
        step(&mut stored, &daemon(false), 5_000);
        assert!(step(&mut stored, &daemon(false), 6_000).is_empty());
        assert!(step(&mut stored, &daemon(false), 6_000 + 10 * REMIND).is_empty());
    }

    #[test]
    fn a_flapping_alert_gives_one_transition_per_edge_and_restarts_its_reminder_clock() {
        let mut stored = Vec::new();
        let mut changes = Vec::new();
        for (i, on) in [true, false, true, true, false, false, true]
            .into_iter()
            .enumerate()
        {
            changes.extend(step(&mut stored, &daemon(on), 10_000 * (i as u64 + 1)));
        }
        let kinds: Vec<Change> = changes.into_iter().map(|(_, c)| c).collect();
        use Change::*;
        assert_eq!(kinds, vec![On, Off, On, Off, On]);
        // The last episode began at the 7th cycle: its reminder is due one interval later.
        assert!(step(&mut stored, &daemon(true), 70_000 + REMIND - 1).is_empty());
        assert_eq!(step(&mut stored, &daemon(true), 70_000 + REMIND).len(), 1);
    }

    #[test]
    fn per_subject_alerts_clear_when_their_subject_is_no_longer_observed() {
        let mut stored = Vec::new();
        let issues = |keys: &[&str]| {
            vec![checked(
                Family::BlockIssue,
                keys.iter().map(|k| obs(k, true)).collect(),
            )]
        };
        let a = "block_issue:block:10:aa";
        let b = "block_issue:pps:11:bb";
        assert_eq!(step(&mut stored, &issues(&[a, b]), 1_000).len(), 2);
        assert_eq!(
            step(&mut stored, &issues(&[b]), 2_000),
            vec![(a.to_owned(), Change::Off)]
        );
        let off = stored.iter().find(|r| r.key == a).unwrap();
        assert!(!off.active);
        assert!(off.detail.starts_with("no longer observed"));
    }

    #[test]
    fn a_family_that_was_not_checked_keeps_its_alerts() {
        let mut stored = Vec::new();
        step(&mut stored, &daemon(true), 1_000);
        let lmdb_only = vec![checked(Family::LmdbMap, vec![obs("lmdb_map", false)])];
        assert!(step(&mut stored, &lmdb_only, 2_000).is_empty());
        assert!(step(&mut stored, &[], 3_000).is_empty());
        assert!(stored.iter().find(|r| r.key == "daemon").unwrap().active);
    }

    #[test]
    fn an_observation_outside_its_family_is_ignored() {
        let stray = vec![checked(Family::Smtp, vec![obs("daemon", true)])];
        assert!(transitions(&stray, &[], UnixMillis(1), REMIND).is_empty());
    }

    #[test]
    fn keys_name_their_family() {
        for f in Family::ALL {
            assert_eq!(Family::of(&f.key(None)), Some(f));
            assert_eq!(Family::of(&f.key(Some("3"))), Some(f));
        }
        assert_eq!(Family::of("daemonic"), None);
        assert_eq!(Family::of(""), None);
    }
}
