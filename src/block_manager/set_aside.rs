//! One bad block does not stall the rest: a found block or PPS height whose crediting fails
//! (unknown miner id, missing header, a constraint error, ...) is set aside with its reason
//! in MySQL (`store::mysql::block_issues`), alerted at error level with its height and hash,
//! and retried on later passes after a backoff that doubles with each failure (1 min up to
//! 1 h), or at once when an operator asks (`rxpool admin block retry`). The passes skip it
//! until then and go on with every other block.
//!
//! Retrying is safe because crediting is exactly once on its own (the unique paid-block and
//! PPS-height rows); this module only decides when to try again. Owns the backoff and the
//! alert; the queries are the store's.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::MySqlPool;

use crate::domain::{Hash32, Height, UnixMillis};
use crate::store::mysql::block_issues::{self, Issue, IssueError, IssueKind};

/// The wait after the first failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(3_600);

/// The wait after `attempts` failures: [`FIRST_RETRY`] doubled per further failure, capped
/// at [`MAX_RETRY`].
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The open issues of one kind, read once per pass.
#[derive(Debug, Default)]
pub struct Open {
    issues: HashMap<(Height, Hash32), Issue>,
}

impl Open {
    pub async fn load(mysql: &MySqlPool, kind: IssueKind) -> Result<Open, IssueError> {
        let issues = block_issues::open(mysql, Some(kind))
            .await?
            .into_iter()
            .map(|i| ((i.height, i.hash), i))
            .collect();
        Ok(Open { issues })
    }

    /// The open issue of `(height, hash)`, if any.
    pub fn get(&self, height: Height, hash: Hash32) -> Option<&Issue> {
        self.issues.get(&(height, hash))
    }

    /// Whether `(height, hash)` is set aside and not yet due at `now`.
    pub fn waiting(&self, height: Height, hash: Hash32, now: UnixMillis) -> bool {
        self.get(height, hash).is_some_and(|i| !i.is_due(now.0))
    }

    /// Every open issue, lowest height first.
    pub fn due(&self, now: UnixMillis) -> Vec<&Issue> {
        let mut due: Vec<&Issue> = self.issues.values().filter(|i| i.is_due(now.0)).collect();
        due.sort_by_key(|i| (i.height, i.hash));
        due
    }
}

/// Sets `(height, hash)` aside after a failed attempt: records the reason and the next
/// attempt's time, and raises the alert.
pub async fn fail(
    mysql: &MySqlPool,
    kind: IssueKind,
    height: Height,
    hash: Hash32,
    reason: &str,
    now: UnixMillis,
) -> Result<(), IssueError> {
    let recorded = block_issues::record(mysql, kind, height, &hash, reason, now.0, |n| {
        millis(retry_delay(n))
    })
    .await?;
    tracing::error!(
        alert = true,
        kind = %kind,
        block.height = %height,
        block.hash = %hash,
        attempts = recorded.attempts,
        retry_in_secs = recorded.retry_at_ms.saturating_sub(now.0) / 1_000,
        %reason,
        "crediting failed: set aside, the others go on"
    );
    Ok(())
}

/// Settles the issue of `(height, hash)` after a successful attempt, if one was open.
pub async fn settled(
    mysql: &MySqlPool,
    kind: IssueKind,
    height: Height,
    hash: Hash32,
    now: UnixMillis,
) -> Result<(), IssueError> {
    if block_issues::resolve(mysql, kind, height, &hash, now.0).await? {
        tracing::info!(kind = %kind, block.height = %height, block.hash = %hash, "a block set aside is settled");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_a_minute_to_an_hour() {
        let secs: Vec<u64> = (0..10).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [60, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }
}
