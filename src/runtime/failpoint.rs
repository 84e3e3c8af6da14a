//! Fail points: named places where a role's process can be made to abort, so the crash-safety
//! tests can kill the block manager at every step of crediting and the payments role at every
//! step of a payout, and prove after a restart that nothing is credited or paid twice.
//!
//! Always compiled in and cheap: the `RXPOOL_FAILPOINT` environment variable is read once;
//! after that a fail point costs one pointer load and, when any is set, a string compare.
//! The variable holds one name or a comma-separated list. A matching fail point writes one
//! line to stderr (`fail point NAME: aborting`) and calls `std::process::abort()` (no
//! destructors, no flush: like a power cut, as far as MySQL and LMDB can tell). The crash
//! tests spawn the binary with these names and look for that line: both are a contract.
//!
//! Names (`FAILPOINTS` lists them all):
//! - block manager, `credit:before_tx`: block is decided Unlock, credits computed, no
//!   transaction open.
//! - `credit:after_paid_row`: inside the transaction, the paid-block row inserted.
//! - `credit:before_commit`: inside the transaction, every row written, not committed.
//! - `credit:after_commit`: committed in MySQL, LMDB status not yet set.
//! - `pps:before_commit`, `pps:after_commit`: the same for a PPS height.
//! - pool, `pool:block_before_submit`: a found block recorded as a candidate, not submitted.
//! - `pool:block_after_submit`: submitted, its status and the finder's share not recorded.
//! - payments, `payments:after_reserve`: batch reserved, the wallet not called.
//! - `payments:after_sign`: the wallet signed (`do_not_relay`), nothing recorded.
//! - `payments:after_commit`: the signed tx and the debits committed, not relayed.
//! - `payments:after_relay`: relayed, the batch not yet marked relayed.
//! - `payments:during_tracking`: before checking a relayed (or manual-review) batch's
//!   confirmations.
//! - `payments:after_short_release`: the wallet lacked unlocked money for a batch, which is
//!   released; the batch less its newest payee not yet reserved again.
//! - worker, `worker:after_alert_commit`: a worker alert's state change and its outbox row
//!   committed, the mail not yet handed to SMTP.

use std::sync::OnceLock;

/// The environment variable that arms fail points.
pub const ENV: &str = "RXPOOL_FAILPOINT";

/// Every fail point name.
pub const FAILPOINTS: &[&str] = &[
    "credit:before_tx",
    "credit:after_paid_row",
    "credit:before_commit",
    "credit:after_commit",
    "pps:before_commit",
    "pps:after_commit",
    "pool:block_before_submit",
    "pool:block_after_submit",
    "payments:after_reserve",
    "payments:after_sign",
    "payments:after_commit",
    "payments:after_relay",
    "payments:during_tracking",
    "payments:after_short_release",
    "worker:after_alert_commit",
];

/// The names in a `RXPOOL_FAILPOINT` value: comma-separated, blanks ignored.
fn parse(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| std::env::var(ENV).map(|v| parse(&v)).unwrap_or_default())
}

/// Aborts the process when `name` is armed.
pub fn hit(name: &'static str) {
    debug_assert!(FAILPOINTS.contains(&name), "unknown fail point {name}");
    let armed = armed();
    if !armed.is_empty() && armed.iter().any(|a| a == name) {
        eprintln!("fail point {name}: aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unarmed_fail_points_do_nothing() {
        // The unit test process never sets RXPOOL_FAILPOINT.
        for name in FAILPOINTS {
            hit(name);
        }
    }

    #[test]
    fn the_variable_is_a_comma_separated_list() {
        assert_eq!(
            parse(" credit:before_tx,,payments:after_sign ,"),
            ["credit:before_tx", "payments:after_sign"]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn names_are_unique() {
        let unique: std::collections::BTreeSet<_> = FAILPOINTS.iter().collect();
        assert_eq!(unique.len(), FAILPOINTS.len());
    }
}
