//! Fail points: named places where the block-manager process can be made to abort, so the
//! crash-safety tests can kill it at every step of crediting and prove each block is credited
//! exactly once after a restart.
//!
//! Always compiled in and cheap: the `RXPOOL_FAILPOINT` environment variable is read once;
//! after that a fail point costs one pointer load and, when any is set, a string compare.
//! The variable holds one name or a comma-separated list. A matching fail point writes one
//! line to stderr and calls `std::process::abort()` (no destructors, no flush: like a power
//! cut, as far as MySQL and LMDB can tell).
//!
//! Names used by this role (`FAILPOINTS` lists them all):
//! - `credit:before_tx`: block is decided Unlock, credits computed, no transaction open.
//! - `credit:after_paid_row`: inside the transaction, the paid-block row inserted.
//! - `credit:before_commit`: inside the transaction, every row written, not committed.
//! - `credit:after_commit`: committed in MySQL, LMDB status not yet set.
//! - `pps:before_commit`, `pps:after_commit`: the same for a PPS height.

use std::sync::OnceLock;

/// The environment variable that arms fail points.
pub const ENV: &str = "RXPOOL_FAILPOINT";

/// Every fail point name in this role.
pub const FAILPOINTS: &[&str] = &[
    "credit:before_tx",
    "credit:after_paid_row",
    "credit:before_commit",
    "credit:after_commit",
    "pps:before_commit",
    "pps:after_commit",
];

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var(ENV)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process when `name` is armed.
pub fn hit(name: &'static str) {
    debug_assert!(FAILPOINTS.contains(&name), "unknown fail point {name}");
    let armed = armed();
    if !armed.is_empty() && armed.iter().any(|a| a == name) {
        eprintln!("fail point {name} hit: aborting");
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
}
