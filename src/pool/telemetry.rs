//! The pool's figures for its `[metrics] bind` listener (`crate::telemetry`): the lock-free
//! counters the pool keeps anyway (`state::Stats`, `rejection::RejectionCounters`) and the
//! verifier's queue, copied into the recorder when scraped, so nothing is counted twice on
//! the share path. Reads only; decides nothing.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::rejection::Rejection;
use super::state::Shared;
use crate::monero::pow::Verifier;
use crate::telemetry::{self, names};

/// Which share outcome each share-path refusal counts under (`rxpool_pool_shares_total`).
pub fn share_outcome(rejection: Rejection) -> Option<&'static str> {
    match rejection {
        Rejection::LowDifficulty => Some("low_diff"),
        Rejection::WrongHash => Some("wrong_hash"),
        Rejection::DuplicateShare => Some("duplicate"),
        Rejection::BlockExpired | Rejection::InvalidJobId => Some("stale"),
        Rejection::MalformedNonce | Rejection::WrongAlgo | Rejection::Overloaded => Some("other"),
        _ => None,
    }
}

/// Registers the pool's scrape hook; it lives as long as the returned `Arc` is kept.
pub fn register(shared: &Arc<Shared>, verifier: Verifier) -> Arc<telemetry::ScrapeHook> {
    let shared: Weak<Shared> = Arc::downgrade(shared);
    let hook: Arc<telemetry::ScrapeHook> = Arc::new(move || {
        if let Some(shared) = shared.upgrade() {
            publish(&shared, &verifier);
        }
    });
    telemetry::on_scrape(&hook);
    hook
}

fn publish(shared: &Shared, verifier: &Verifier) {
    let stats = &shared.stats;
    let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    // Gauges are f64 in the metrics crate; these counts stay far below 2^52.
    metrics::gauge!(names::POOL_CONNECTIONS).set(load(&stats.connections) as f64);
    metrics::gauge!(names::POOL_MINERS).set(load(&stats.logged_in) as f64);
    metrics::gauge!(names::POOL_VERIFIER_QUEUE).set(verifier.queued() as f64);
    metrics::counter!(names::POOL_BLOCKS).absolute(load(&stats.blocks));
    metrics::counter!(names::POOL_JOBS_PUSHED).absolute(load(&stats.jobs_pushed));
    let mut outcomes: [(&str, u64); 6] = [
        ("accepted", load(&stats.accepted)),
        ("low_diff", 0),
        ("wrong_hash", 0),
        ("duplicate", 0),
        ("stale", 0),
        ("other", 0),
    ];
    for rejection in Rejection::ALL {
        let n = shared.rejections.get(rejection);
        metrics::counter!(names::POOL_REJECTIONS, "reason" => rejection.name()).absolute(n);
        if let Some(outcome) = share_outcome(rejection)
            && let Some(slot) = outcomes.iter_mut().find(|(o, _)| *o == outcome)
        {
            slot.1 += n;
        }
    }
    for (outcome, n) in outcomes {
        metrics::counter!(names::POOL_SHARES, "outcome" => outcome).absolute(n);
    }
}
