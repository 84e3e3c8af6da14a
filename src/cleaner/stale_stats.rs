//! The stats cache keys no reader will use again, which the worker does not delete itself.
//!
//! The worker deletes a miner's or worker's stats and charts when it forgets them
//! (`worker.forgetAfter` without a share), but only those it still tracks: one that fell silent
//! while the worker was stopped, or more than the share log's two hours before it restarted,
//! is never forgotten and its keys stay. Chart chunks live in a ring of slots the worker
//! overwrites while a series lives; a slot whose chunk is older than two whole rings belongs to
//! a dead series, and a slot past the ring (the layout shrank) is never read. This module lists
//! exactly those keys, by the worker's own rule and settings: entities whose last share is
//! older than `worker.forgetAfter` (with their charts and identifiers), stale chunks and
//! slots past the ring. The pool, network, wallet, server, port and layout keys are never
//! touched. Blocking read of one snapshot; writes nothing.

use std::collections::BTreeSet;

use crate::domain::UnixMillis;
use crate::stats::{
    Chunk, EntityStats, HistoryLayout, Resolution, StatsBatch, StatsError, StatsKey, read_layout,
};
use crate::store::lmdb::Snapshot;

/// Keys of the `stats` database to delete, in key order.
pub fn stale_keys(
    snap: &Snapshot<'_>,
    now: UnixMillis,
    forget_after_ms: u64,
) -> Result<Vec<String>, StatsError> {
    let Some(layout) = read_layout(snap)? else {
        // No worker ever wrote charts: nothing of it to clean.
        return Ok(Vec::new());
    };
    let cutoff = now.0.saturating_sub(forget_after_ms);
    let mut batch = StatsBatch::default();
    for prefix in ["miner/", "worker/"] {
        for (key, value) in snap.stats_prefix(prefix)? {
            let Some(parsed) = StatsKey::parse(&key) else {
                continue;
            };
            let Ok(stats) = serde_json::from_slice::<EntityStats>(&value) else {
                continue;
            };
            if stats.last_hash >= cutoff {
                continue;
            }
            match parsed {
                StatsKey::Miner(id) => batch.forget_miner(id, layout),
                StatsKey::Worker(id) => batch.forget_worker(id, layout),
                _ => {}
            }
        }
    }
    let (_, mut deletes) = batch.into_parts();
    deletes.extend(stale_chunks(snap, now, layout)?);
    // Only keys that exist: a forgotten series rarely has every slot.
    let wanted: BTreeSet<String> = deletes.into_iter().collect();
    let mut out = Vec::new();
    for key in wanted {
        if snap.stats_get(&key)?.is_some() {
            out.push(key);
        }
    }
    Ok(out)
}

/// Chart chunks of dead series (older than two rings) and slots past the ring.
fn stale_chunks(
    snap: &Snapshot<'_>,
    now: UnixMillis,
    layout: HistoryLayout,
) -> Result<Vec<String>, StatsError> {
    let mut out = Vec::new();
    for (key, value) in snap.stats_prefix("hist/")? {
        let Some(StatsKey::Chunk(_, resolution, slot)) = StatsKey::parse(&key) else {
            continue;
        };
        let slots = layout.slots(resolution);
        if slot >= slots {
            out.push(key);
            continue;
        }
        let Ok(chunk) = Chunk::decode(&value) else {
            continue;
        };
        if is_dead(&chunk, resolution, now, slots) {
            out.push(key);
        }
    }
    Ok(out)
}

/// A chunk two whole rings old: its series has not been written for a full ring.
fn is_dead(chunk: &Chunk, resolution: Resolution, now: UnixMillis, slots: u32) -> bool {
    let current = Chunk::period_of(resolution, now);
    chunk.period.saturating_add(2 * u64::from(slots)) < current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_dead_only_after_two_whole_rings() {
        let hour = 3_600_000;
        let now = UnixMillis(1_000 * hour);
        let slots = 25;
        let chunk = |period| Chunk::new(Resolution::Minute, period);
        assert!(!is_dead(&chunk(1_000), Resolution::Minute, now, slots));
        assert!(!is_dead(&chunk(950), Resolution::Minute, now, slots));
        assert!(is_dead(&chunk(949), Resolution::Minute, now, slots));
    }
}
