//! The templates miners work on: the current one plus a bounded number of previous ones, so
//! late shares for the previous block still validate (reference §3.4), and a job counter per
//! template for the extra nonce.
//!
//! Owns the ring and the sequence numbers jobs refer to. It is generic over the template type
//! (the role uses `monero::blob::Template`) and does no I/O: the poller in `daemon_feed`
//! pushes templates in; sessions read them through a `watch` channel and look old ones up
//! here by sequence number.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Previous templates kept for late shares (nodejs-pool: 4).
pub const DEFAULT_PREVIOUS: usize = 4;

/// One template as handed to sessions.
#[derive(Debug)]
pub struct TemplateSlot<T> {
    /// Process-wide sequence number (1, 2, ...), what jobs refer to.
    pub seq: u64,
    pub template: T,
    /// When the slot was made (job push latency is measured from here).
    pub created: std::time::Instant,
    jobs: AtomicU32,
}

impl<T> TemplateSlot<T> {
    pub fn new(seq: u64, template: T) -> TemplateSlot<T> {
        TemplateSlot {
            seq,
            template,
            created: std::time::Instant::now(),
            jobs: AtomicU32::new(0),
        }
    }

    /// The next job counter for this template (wraps after 2^32 jobs; the instance id and
    /// the template's own uniqueness keep the blobs apart across templates).
    pub fn next_job_counter(&self) -> u32 {
        self.jobs.fetch_add(1, Ordering::Relaxed)
    }
}

/// The current template and up to `previous` older ones.
#[derive(Debug)]
pub struct TemplateRing<T> {
    previous: AtomicUsize,
    slots: RwLock<VecDeque<Arc<TemplateSlot<T>>>>,
    next_seq: AtomicU32,
}

impl<T> TemplateRing<T> {
    pub fn new(previous: usize) -> TemplateRing<T> {
        TemplateRing {
            previous: AtomicUsize::new(previous),
            slots: RwLock::new(VecDeque::new()),
            next_seq: AtomicU32::new(1),
        }
    }

    /// Makes `template` current and returns its slot; the oldest beyond `previous` is dropped.
    pub fn push(&self, template: T) -> Arc<TemplateSlot<T>> {
        let seq = u64::from(self.next_seq.fetch_add(1, Ordering::Relaxed));
        let slot = Arc::new(TemplateSlot::new(seq, template));
        let mut slots = match self.slots.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.push_back(slot.clone());
        let keep = self.previous.load(Ordering::Relaxed).saturating_add(1);
        while slots.len() > keep {
            slots.pop_front();
        }
        slot
    }

    /// Keeps `previous` older templates from the next push on (`pool.previousTemplates`
    /// re-read at runtime).
    pub fn set_previous(&self, previous: usize) {
        self.previous.store(previous, Ordering::Relaxed);
    }

    /// The slot with `seq`, if still kept.
    pub fn get(&self, seq: u64) -> Option<Arc<TemplateSlot<T>>> {
        let slots = match self.slots.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.iter().rev().find(|s| s.seq == seq).cloned()
    }

    pub fn current(&self) -> Option<Arc<TemplateSlot<T>>> {
        let slots = match self.slots.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.back().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_current_and_bounded_previous_templates() {
        let ring = TemplateRing::new(2);
        assert!(ring.current().is_none());
        let seqs: Vec<u64> = (0..5).map(|i| ring.push(i).seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(ring.current().map(|s| s.template), Some(4));
        assert!(ring.get(2).is_none(), "older than current + 2 previous");
        assert_eq!(ring.get(3).map(|s| s.template), Some(2));
        assert_eq!(ring.get(5).map(|s| s.template), Some(4));
        assert!(ring.get(6).is_none());
    }

    #[test]
    fn job_counters_are_per_template() {
        let ring = TemplateRing::new(1);
        let a = ring.push("a");
        assert_eq!((a.next_job_counter(), a.next_job_counter()), (0, 1));
        let b = ring.push("b");
        assert_eq!(b.next_job_counter(), 0);
    }
}
