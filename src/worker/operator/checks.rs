//! The operator checks: each reads its facts (from the worker's [`Probes`] or from MySQL)
//! and returns one family's [`Observation`]s as values. The deciding part of each is a pure
//! function of the facts, tested here without I/O; [`run_all`] does the reads.
//!
//! Where each fact lives:
//! - daemon: the worker's monerod client (`Probes::daemon`);
//! - pool behind / silent: `pools.blockID` (template height) and `pools.last_checkin`, written
//!   by each pool host's heartbeat every 10 s (`store::mysql::registry::heartbeat`);
//! - LMDB map: `Probes::lmdb` (`ShareStore::usage`);
//! - payouts in review: `payout_batches` in `manual_review`, and `payout_set_aside`;
//! - PPS reserve: the block-manager's reserve rule (wallet balance against every balance owed
//!   plus, when the pool pays network fees, the fees of paying it out), from
//!   `Probes::wallet` and `balance`/`payout_fees`; only with `pps.enable`;
//! - stalled roles: `role_heartbeats`, written by the block-manager, payments and cleaner loops;
//! - SMTP: `mail_outbox` rows that failed delivery and still wait;
//! - blocks not credited: open `block_issues` rows.

use sqlx::MySqlPool;

use super::{Checked, Family, Observation, Probes};
use crate::config::{FeePolicy, Settings};
use crate::domain::{Atomic, BatchStatus, Height, UnixMillis};
use crate::monero::rpc_types::Balance;
use crate::store::lmdb::MapUsage;
use crate::store::mysql::block_issues::{self, Issue};
use crate::store::mysql::credits;
use crate::store::mysql::heartbeats::{self, BeatingRole, LastBeat, OutboxTrouble, PoolCheckin};
use crate::store::mysql::payouts::{self, BatchRow, SetAside};

/// The thresholds of the checks that are not shared settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A pool host is behind when its template height is more than this below the tip.
    pub behind_blocks: u64,
    /// A pool host is silent when it has not checked in for this long (it does every 10 s).
    pub silent_after_ms: u64,
    /// The block-manager is stalled without a heartbeat for this long (it beats every 30 s).
    pub block_manager_stalled_ms: u64,
    /// The payments role is stalled without a heartbeat for this many payout timers
    /// (`payout.timer`; it beats after every cycle).
    pub payments_stalled_timers: u64,
    /// The cleaner is stalled without a heartbeat for this many `cleaner.interval`s (it beats
    /// after every cycle), and never before [`Limits::cleaner_stalled_min_ms`].
    pub cleaner_stalled_intervals: u64,
    pub cleaner_stalled_min_ms: u64,
    /// SMTP is failing when a mail has waited this long after a failed attempt.
    pub smtp_failing_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            behind_blocks: 3,
            silent_after_ms: 5 * 60_000,
            block_manager_stalled_ms: 10 * 60_000,
            payments_stalled_timers: 2,
            cleaner_stalled_intervals: 3,
            cleaner_stalled_min_ms: 30 * 60_000,
            smtp_failing_ms: 15 * 60_000,
        }
    }
}

/// Network fee assumed per payee before the pool has paid anything: the block-manager's
/// `pps_runner::DEFAULT_NETWORK_FEE_PER_PAYEE` (0.0001 XMR), which roles may not import.
const DEFAULT_NETWORK_FEE_PER_PAYEE: Atomic = Atomic(100_000_000);

/// Runs every check; a family whose facts could not be read comes back as `Err(why)`.
pub async fn run_all(
    db: &MySqlPool,
    probes: &Probes,
    settings: &Settings,
    limits: &Limits,
    now: UnixMillis,
) -> Vec<(Family, Result<Checked, String>)> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let mut out = Vec::new();
    out.push((Family::Daemon, Ok(daemon(&probes.daemon))));
    let pools = heartbeats::active_pools(db).await.map_err(|e| text(&e));
    out.push((
        Family::PoolBehind,
        match (&pools, &probes.daemon) {
            (Ok(pools), Ok(tip)) => Ok(pools_behind(pools, *tip, limits)),
            (Err(e), _) => Err(e.clone()),
            (_, Err(_)) => Err("no chain tip: the daemon does not answer".to_owned()),
        },
    ));
    out.push((
        Family::PoolSilent,
        pools.map(|p| pools_silent(&p, now, limits)),
    ));
    if let Some(usage) = &probes.lmdb {
        out.push((
            Family::LmdbMap,
            usage
                .clone()
                .map(|u| lmdb_map(u, settings.cleaner.alert_percent)),
        ));
    }
    out.push((
        Family::PayoutsReview,
        payouts::list(db, &[BatchStatus::ManualReview], 1000)
            .await
            .map(|b| payouts_review(&b))
            .map_err(|e| text(&e)),
    ));
    out.push((
        Family::PayoutsSetAside,
        payouts::set_aside_list(db)
            .await
            .map(|s| payouts_set_aside(&s))
            .map_err(|e| text(&e)),
    ));
    if settings.modes.pps_enable {
        let reserve = match &probes.wallet {
            None => Err("no wallet-rpc configured for the worker".to_owned()),
            Some(Err(e)) => Err(format!("wallet balance: {e}")),
            Some(Ok(balance)) => owed(db, settings)
                .await
                .map(|(owed, fees)| pps_reserve(balance, owed, fees)),
        };
        out.push((Family::PpsReserve, reserve));
    }
    let mut stalled = Vec::new();
    let mut stalled_err = None;
    for role in BeatingRole::ALL {
        let after = match role {
            BeatingRole::BlockManager => limits.block_manager_stalled_ms,
            BeatingRole::Payments => settings
                .payout
                .timer_minutes
                .saturating_mul(60_000)
                .saturating_mul(limits.payments_stalled_timers),
            BeatingRole::Cleaner => settings
                .cleaner
                .interval_secs
                .saturating_mul(1000)
                .saturating_mul(limits.cleaner_stalled_intervals)
                .max(limits.cleaner_stalled_min_ms),
        };
        match heartbeats::last_beat(db, role).await {
            Ok(beat) => stalled.extend(role_stalled(role, beat.as_ref(), now, after)),
            Err(e) => stalled_err = Some(text(&e)),
        }
    }
    out.push((
        Family::Stalled,
        match stalled_err {
            Some(e) => Err(e),
            None => Ok(Checked {
                family: Family::Stalled,
                observations: stalled,
            }),
        },
    ));
    let cutoff = UnixMillis(now.0.saturating_sub(limits.smtp_failing_ms));
    out.push((
        Family::Smtp,
        heartbeats::outbox_trouble(db, cutoff)
            .await
            .map(|t| smtp(t.as_ref(), now))
            .map_err(|e| text(&e)),
    ));
    out.push((
        Family::BlockIssue,
        block_issues::open(db, None)
            .await
            .map(|i| block_issue(&i))
            .map_err(|e| text(&e)),
    ));
    out
}

/// What the pool owes and, when it pays the network fees (`payout.feePolicy = pool`), the
/// fees of paying it all out, as the block-manager's PPS reserve check counts them.
async fn owed(db: &MySqlPool, settings: &Settings) -> Result<(Atomic, Atomic), String> {
    let owed = credits::owed_total(db).await.map_err(|e| e.to_string())?;
    if !matches!(settings.payout.fee_policy, FeePolicy::PoolPays) {
        return Ok((owed, Atomic::ZERO));
    }
    let per_payee = payouts::network_fee_per_payee(db, 100)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(DEFAULT_NETWORK_FEE_PER_PAYEE);
    let payees = payouts::payees_owed(db).await.map_err(|e| e.to_string())?;
    Ok((owed, Atomic(per_payee.0.saturating_mul(payees))))
}

fn single(family: Family, on: bool, detail: String) -> Checked {
    Checked {
        family,
        observations: vec![Observation {
            key: family.key(None),
            on,
            detail,
        }],
    }
}

fn minutes(ms: u64) -> u64 {
    ms / 60_000
}

/// monerod unreachable: the worker's `get_last_block_header` failed.
pub fn daemon(probe: &Result<Height, String>) -> Checked {
    match probe {
        Ok(tip) => single(
            Family::Daemon,
            false,
            format!("monerod answers; chain tip at height {tip}"),
        ),
        Err(e) => single(
            Family::Daemon,
            true,
            format!("monerod does not answer get_last_block_header: {e}"),
        ),
    }
}

/// Pool hosts whose template height is more than `behind_blocks` below the chain tip. A host
/// that has not reported a height yet is left to the silence check.
pub fn pools_behind(pools: &[PoolCheckin], tip: Height, limits: &Limits) -> Checked {
    let observations = pools
        .iter()
        .filter_map(|p| {
            let at = p.block_id?;
            let on = at.saturating_add(limits.behind_blocks) < tip.0;
            Some(Observation {
                key: Family::PoolBehind.key(Some(&p.pool_id.to_string())),
                on,
                detail: format!(
                    "pool host {} ({}) works on height {at}; the chain tip is {tip} ({} behind)",
                    p.pool_id,
                    p.hostname,
                    tip.0.saturating_sub(at)
                ),
            })
        })
        .collect();
    Checked {
        family: Family::PoolBehind,
        observations,
    }
}

/// Pool hosts that have not checked in for `silent_after_ms`.
pub fn pools_silent(pools: &[PoolCheckin], now: UnixMillis, limits: &Limits) -> Checked {
    let observations = pools
        .iter()
        .map(|p| {
            let quiet = now.0.saturating_sub(p.last_checkin.0);
            Observation {
                key: Family::PoolSilent.key(Some(&p.pool_id.to_string())),
                on: quiet >= limits.silent_after_ms,
                detail: format!(
                    "pool host {} ({}) last checked in {} s ago",
                    p.pool_id,
                    p.hostname,
                    quiet / 1000
                ),
            }
        })
        .collect();
    Checked {
        family: Family::PoolSilent,
        observations,
    }
}

/// The LMDB map over `percent` (`cleaner.alertPercent`) of its maximum size.
pub fn lmdb_map(usage: MapUsage, percent: u64) -> Checked {
    let used = u128::from(usage.used_bytes) * 100;
    let limit = u128::from(usage.max_map_size) * u128::from(percent);
    let percent = used
        .checked_div(u128::from(usage.max_map_size))
        .unwrap_or(100);
    single(
        Family::LmdbMap,
        used > limit,
        format!(
            "the share store uses {} MiB of its {} MiB maximum map size ({percent} %)",
            usage.used_bytes >> 20,
            usage.max_map_size >> 20
        ),
    )
}

/// Payout batches waiting in `manual_review` for an operator.
pub fn payouts_review(batches: &[BatchRow]) -> Checked {
    let waiting: Vec<&BatchRow> = batches
        .iter()
        .filter(|b| b.status == BatchStatus::ManualReview)
        .collect();
    let detail = if waiting.is_empty() {
        "no payout batch waits for manual review".to_owned()
    } else {
        let lines: Vec<String> = waiting
            .iter()
            .map(|b| {
                format!(
                    "batch {} ({} destinations, {} net): {}",
                    b.id,
                    b.destinations,
                    b.net,
                    b.last_error.as_deref().unwrap_or("no reason recorded")
                )
            })
            .collect();
        format!(
            "{} payout batches wait for manual review (`rxpool admin payments list --status manual_review`):\n{}",
            waiting.len(),
            lines.join("\n")
        )
    };
    single(Family::PayoutsReview, !waiting.is_empty(), detail)
}

/// Balances set aside from payouts until an operator releases them.
pub fn payouts_set_aside(rows: &[SetAside]) -> Checked {
    let detail = if rows.is_empty() {
        "no balance is set aside".to_owned()
    } else {
        let lines: Vec<String> = rows
            .iter()
            .take(20)
            .map(|s| format!("balance {}: {}", s.balance_id, s.reason))
            .collect();
        format!(
            "{} balances are set aside from payouts (`rxpool admin payments release --balance ID`):\n{}",
            rows.len(),
            lines.join("\n")
        )
    };
    single(Family::PayoutsSetAside, !rows.is_empty(), detail)
}

/// The pool wallet's balance against every balance owed plus the fees of paying it out: the
/// rule under which the block-manager pauses PPS crediting.
pub fn pps_reserve(wallet: &Balance, owed: Atomic, payout_fees: Atomic) -> Checked {
    let needed = u128::from(owed.0) + u128::from(payout_fees.0);
    let have = u128::from(wallet.balance.0);
    let short = needed.saturating_sub(have);
    let detail = format!(
        "the pool wallet holds {} ({} unlocked); it owes {owed} plus {payout_fees} of network fees to pay it out{}",
        wallet.balance,
        wallet.unlocked,
        if short > 0 {
            format!(
                ": short by {} (PPS crediting pauses)",
                Atomic(u64::try_from(short).unwrap_or(u64::MAX))
            )
        } else {
            String::new()
        }
    );
    single(Family::PpsReserve, short > 0, detail)
}

/// A role whose last heartbeat is `after_ms` old or older. A role that never beat is not
/// watched (it does not run in this pool).
pub fn role_stalled(
    role: BeatingRole,
    beat: Option<&LastBeat>,
    now: UnixMillis,
    after_ms: u64,
) -> Option<Observation> {
    let beat = beat?;
    let quiet = now.0.saturating_sub(beat.at.0);
    Some(Observation {
        key: Family::Stalled.key(Some(role.as_str())),
        on: quiet >= after_ms,
        detail: format!(
            "{} last finished a loop iteration {} min ago on {} ({}); stalled after {} min",
            role.as_str(),
            minutes(quiet),
            beat.host,
            beat.detail,
            minutes(after_ms)
        ),
    })
}

/// Mails that have failed delivery and waited past the limit. The operator mail about it
/// goes through the same outbox, so it may only arrive once SMTP works again.
pub fn smtp(trouble: Option<&OutboxTrouble>, now: UnixMillis) -> Checked {
    match trouble {
        None => single(Family::Smtp, false, "the mail outbox delivers".to_owned()),
        Some(t) => single(
            Family::Smtp,
            true,
            format!(
                "{} mails wait after failed delivery attempts; the oldest was queued {} min ago; last error: {}",
                t.failing,
                minutes(now.0.saturating_sub(t.oldest_queued.0)),
                t.last_error
            ),
        ),
    }
}

/// Each open block issue: a block or PPS height that could not be credited, or a pool block
/// nothing recorded.
pub fn block_issue(issues: &[Issue]) -> Checked {
    let observations = issues
        .iter()
        .filter(|i| i.resolved_at_ms.is_none())
        .map(|i| Observation {
            key: Family::BlockIssue.key(Some(&format!("{}:{}:{}", i.kind, i.height, i.hash))),
            on: true,
            detail: format!(
                "{} at height {} ({}) is set aside after {} attempts: {} (`rxpool admin block list`)",
                i.kind, i.height, i.hash, i.attempts, i.reason
            ),
        })
        .collect();
    Checked {
        family: Family::BlockIssue,
        observations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkin(id: u32, block_id: Option<u64>, at: u64) -> PoolCheckin {
        PoolCheckin {
            pool_id: id,
            hostname: format!("host{id}"),
            block_id,
            last_checkin: UnixMillis(at),
        }
    }

    fn on_keys(c: &Checked) -> Vec<&str> {
        c.observations
            .iter()
            .filter(|o| o.on)
            .map(|o| o.key.as_str())
            .collect()
    }

    #[test]
    fn a_pool_host_more_than_three_below_the_tip_is_behind() {
        let pools = [
            checkin(1, Some(101), 0),
            checkin(2, Some(97), 0),
            checkin(3, Some(96), 0),
            checkin(4, None, 0),
        ];
        let c = pools_behind(&pools, Height(100), &Limits::default());
        assert_eq!(on_keys(&c), vec!["pool_behind:3"]);
        assert_eq!(c.observations.len(), 3);
    }

    #[test]
    fn a_pool_host_silent_for_five_minutes_is_silent() {
        let now = 10_000_000;
        let pools = [
            checkin(1, None, now - 299_999),
            checkin(2, None, now - 300_000),
        ];
        let c = pools_silent(&pools, UnixMillis(now), &Limits::default());
        assert_eq!(on_keys(&c), vec!["pool_silent:2"]);
    }

    #[test]
    fn lmdb_turns_on_above_eighty_percent_of_the_maximum_map() {
        let at = |used| {
            lmdb_map(
                MapUsage {
                    used_bytes: used,
                    map_size: 500,
                    max_map_size: 1000,
                },
                Settings::defaults().cleaner.alert_percent,
            )
            .observations[0]
                .on
        };
        assert!(!at(800));
        assert!(at(801));
        assert!(
            !lmdb_map(
                MapUsage {
                    used_bytes: 0,
                    map_size: 0,
                    max_map_size: 0
                },
                80
            )
            .observations[0]
                .on
        );
    }

    #[test]
    fn the_reserve_is_short_when_the_wallet_holds_less_than_owed_plus_fees() {
        let wallet = Balance {
            balance: Atomic(100),
            unlocked: Atomic(10),
            blocks_to_unlock: 0,
        };
        assert!(!pps_reserve(&wallet, Atomic(90), Atomic(10)).observations[0].on);
        let short = pps_reserve(&wallet, Atomic(90), Atomic(11));
        assert!(short.observations[0].on);
        assert!(short.observations[0].detail.contains("short by"));
    }

    #[test]
    fn a_role_is_stalled_from_the_limit_on_and_unwatched_before_its_first_beat() {
        let beat = LastBeat {
            host: "h".to_owned(),
            at: UnixMillis(1_000),
            detail: "passes done".to_owned(),
        };
        let role = BeatingRole::BlockManager;
        assert!(role_stalled(role, None, UnixMillis(1 << 40), 10).is_none());
        assert!(
            !role_stalled(role, Some(&beat), UnixMillis(1_009), 10)
                .unwrap()
                .on
        );
        let o = role_stalled(role, Some(&beat), UnixMillis(1_010), 10).unwrap();
        assert!(o.on);
        assert_eq!(o.key, "stalled:block-manager");
    }

    #[test]
    fn a_failing_daemon_is_on_and_an_answering_one_off() {
        assert!(daemon(&Err("refused".to_owned())).observations[0].on);
        assert!(!daemon(&Ok(Height(5))).observations[0].on);
    }
}
