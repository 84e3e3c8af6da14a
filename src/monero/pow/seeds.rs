//! Which RandomX seeds the verifier serves, and the caches and datasets built for them.
//!
//! A [`SeedTable`] holds at most three seeds: the current one (from the latest template), the
//! previous one (so a late share mined on the old seed still verifies right after a switch) and
//! the next one (announced by the template's `next_seed_hash` up to 64 blocks ahead, so its cache
//! and, in fast mode, its dataset are ready before the switch). Everything else is dropped.
//!
//! Each seed has a [`SeedEntry`]: its light cache (built once, on first use or by a background
//! builder; whichever thread comes first builds it, the others wait) and, in fast mode, its
//! dataset, published only when complete. The previous seed serves in light mode (its dataset is
//! released), so at most two datasets exist, and only while a next seed is announced.
//!
//! This module owns no threads except one builder thread while something is missing, does no hashing and
//! knows nothing of tokio; the verifier threads read entries from here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use randomx_rs::RandomXFlag;
use tracing::{info, warn};

use super::PowError;
use super::randomx::{Cache, Dataset, RandomxError};
use crate::domain::Hash32;
use crate::progress::{Progress, Unit};

/// The caches and datasets of one seed.
#[derive(Debug)]
pub struct SeedEntry {
    seed: Hash32,
    flags: RandomXFlag,
    /// Built on first need; a failed build is not remembered (the next request retries).
    cache: Mutex<Option<Arc<Cache>>>,
    dataset: Mutex<Option<Arc<Dataset>>>,
    /// True while a dataset for this seed is wanted (fast mode, seed current or next).
    want_dataset: AtomicBool,
}

impl SeedEntry {
    fn new(seed: Hash32, flags: RandomXFlag) -> SeedEntry {
        SeedEntry {
            seed,
            flags,
            cache: Mutex::new(None),
            dataset: Mutex::new(None),
            want_dataset: AtomicBool::new(false),
        }
    }

    /// The light cache, built on first call (about 0.6 s); concurrent callers wait for it.
    pub fn cache(&self) -> Result<Arc<Cache>, PowError> {
        let mut slot = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = &*slot {
            return Ok(cache.clone());
        }
        let started = std::time::Instant::now();
        let built = Arc::new(Cache::new(self.flags, &self.seed.0)?);
        info!(seed = %self.seed, ms = started.elapsed().as_millis() as u64, "RandomX cache built");
        *slot = Some(built.clone());
        Ok(built)
    }

    /// Whether everything this entry needs is built: its cache, and in fast mode its dataset
    /// (unless the dataset is not wanted).
    pub fn is_built(&self, fast: bool) -> bool {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
            && (!fast || !self.want_dataset.load(Ordering::Relaxed) || self.dataset().is_some())
    }

    /// The fast-mode dataset, if one is built and still wanted.
    pub fn dataset(&self) -> Option<Arc<Dataset>> {
        self.dataset
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops wanting a dataset: cancels a running build and releases a built one (VMs still
    /// using it keep it alive until they notice).
    fn release_dataset(&self) {
        let mut slot = self.dataset.lock().unwrap_or_else(PoisonError::into_inner);
        self.want_dataset.store(false, Ordering::Relaxed);
        *slot = None;
    }

    /// Builds this seed's dataset unless it exists or is no longer wanted.
    fn build_dataset(&self, init_threads: usize, closed: &AtomicBool) {
        if !self.want_dataset.load(Ordering::Relaxed) || self.dataset().is_some() {
            return;
        }
        let cache = match self.cache() {
            Ok(cache) => cache,
            Err(error) => {
                warn!(seed = %self.seed, %error, "no RandomX cache, so no dataset: serving in light mode");
                return;
            }
        };
        let keep_going =
            || self.want_dataset.load(Ordering::Relaxed) && !closed.load(Ordering::Relaxed);
        let started = std::time::Instant::now();
        let progress = Progress::new(
            "RandomX dataset (fast mode)",
            Some(Dataset::item_count()),
            Unit::Items,
        );
        let initialised = |n| progress.inc(n);
        match Dataset::build(self.flags, &cache, init_threads, &keep_going, &initialised) {
            Ok(dataset) => {
                progress.finish();
                let mut slot = self.dataset.lock().unwrap_or_else(PoisonError::into_inner);
                if self.want_dataset.load(Ordering::Relaxed) {
                    *slot = Some(Arc::new(dataset));
                    info!(seed = %self.seed, threads = init_threads, secs = started.elapsed().as_secs(), "RandomX dataset built: fast mode");
                }
            }
            Err(RandomxError::Cancelled) => {
                info!(seed = %self.seed, "RandomX dataset build cancelled (seed no longer used)");
            }
            Err(error) => {
                // Give up fast mode for this seed rather than retry a 2 GiB allocation on every
                // template; it is wanted again if it becomes current again.
                self.want_dataset.store(false, Ordering::Relaxed);
                warn!(seed = %self.seed, %error, "RandomX dataset not built: serving this seed in light mode");
            }
        }
    }
}

/// The seeds being served. Cheap to read (a read lock and an `Arc` clone per lookup).
#[derive(Debug)]
pub struct SeedTable {
    flags: RandomXFlag,
    fast: bool,
    init_threads: usize,
    slots: RwLock<Slots>,
    /// True while the (single) builder thread runs; dataset builds already use every init
    /// thread, so one at a time.
    builder_running: AtomicBool,
    /// Set when the verifier shuts down: builders stop early.
    closed: AtomicBool,
}

#[derive(Debug, Default, Clone)]
struct Slots {
    current: Option<Arc<SeedEntry>>,
    previous: Option<Arc<SeedEntry>>,
    next: Option<Arc<SeedEntry>>,
}

impl Slots {
    fn find(&self, seed: &Hash32) -> Option<&Arc<SeedEntry>> {
        [&self.current, &self.previous, &self.next]
            .into_iter()
            .flatten()
            .find(|entry| entry.seed == *seed)
    }
}

impl SeedTable {
    pub fn new(flags: RandomXFlag, fast: bool, init_threads: usize) -> SeedTable {
        SeedTable {
            flags,
            fast,
            init_threads: init_threads.max(1),
            slots: RwLock::new(Slots::default()),
            builder_running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// The entry for `seed`, if it is the current, previous or next seed.
    pub fn get(&self, seed: &Hash32) -> Option<Arc<SeedEntry>> {
        self.slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .find(seed)
            .cloned()
    }

    /// Whether `seed` is still served (verifier threads drop VMs of seeds that are not).
    pub fn contains(&self, seed: &Hash32) -> bool {
        self.get(seed).is_some()
    }

    /// Makes `current` the current seed and `next` the announced one. A different current
    /// seed pushes the old one to `previous` (the older previous is dropped). Call
    /// [`SeedTable::start_builder`] afterwards to build what is missing.
    pub fn set(&self, current: Hash32, next: Option<Hash32>) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let old = slots.clone();
        let reuse = |seed: Hash32| {
            old.find(&seed)
                .cloned()
                .unwrap_or_else(|| Arc::new(SeedEntry::new(seed, self.flags)))
        };
        let current_entry = reuse(current);
        let previous = match &old.current {
            Some(entry) if entry.seed != current => Some(entry.clone()),
            _ => old.previous.clone().filter(|entry| entry.seed != current),
        };
        let next_entry = next.filter(|seed| *seed != current).map(reuse);
        let previous = previous.filter(|entry| Some(entry.seed) != next);
        *slots = Slots {
            current: Some(current_entry.clone()),
            previous: previous.clone(),
            next: next_entry.clone(),
        };

        // Flags change under the write lock, so two concurrent calls cannot interleave them.
        if self.fast {
            // Only an entry that newly becomes current or next is (again) wanted: one whose
            // dataset failed keeps serving light instead of retrying on every template.
            let was_served_fast = |entry: &Arc<SeedEntry>| {
                [&old.current, &old.next]
                    .into_iter()
                    .flatten()
                    .any(|e| Arc::ptr_eq(e, entry))
            };
            for entry in [Some(&current_entry), next_entry.as_ref()]
                .into_iter()
                .flatten()
            {
                if !was_served_fast(entry) {
                    entry.want_dataset.store(true, Ordering::Relaxed);
                }
            }
            if let Some(previous) = &previous {
                previous.release_dataset();
            }
        }
        // Entries that left the table stop building.
        for gone in [&old.current, &old.previous, &old.next]
            .into_iter()
            .flatten()
        {
            if !Arc::ptr_eq(gone, &current_entry)
                && !next_entry.as_ref().is_some_and(|n| Arc::ptr_eq(gone, n))
                && !previous.as_ref().is_some_and(|p| Arc::ptr_eq(gone, p))
            {
                gone.release_dataset();
            }
        }
        drop(slots);
    }

    /// Current and next entries that still miss their cache or (fast mode) dataset.
    fn pending(&self) -> Vec<Arc<SeedEntry>> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        [&slots.current, &slots.next]
            .into_iter()
            .flatten()
            .filter(|entry| !entry.is_built(self.fast))
            .cloned()
            .collect()
    }

    /// Starts the builder thread if something is missing and no builder runs already.
    pub fn start_builder(self: &Arc<Self>) {
        if self.closed.load(Ordering::Relaxed) || self.pending().is_empty() {
            return;
        }
        if self.builder_running.swap(true, Ordering::SeqCst) {
            return;
        }
        let table = self.clone();
        let spawned = std::thread::Builder::new()
            .name("pow-seed-builder".into())
            .spawn(move || table.run_builder());
        if let Err(error) = spawned {
            self.builder_running.store(false, Ordering::SeqCst);
            // Verifier threads still build caches on first use; only fast mode is lost.
            warn!(%error, "could not start the RandomX seed builder thread");
        }
    }

    /// The builder thread: builds pending entries (current first) until none is left that it
    /// has not tried yet. A failed entry is tried again by the next builder (next template).
    fn run_builder(&self) {
        let mut tried: Vec<Arc<SeedEntry>> = Vec::new();
        let untried = |tried: &[Arc<SeedEntry>]| -> Vec<Arc<SeedEntry>> {
            self.pending()
                .into_iter()
                .filter(|entry| !tried.iter().any(|t| Arc::ptr_eq(t, entry)))
                .collect()
        };
        loop {
            let todo = untried(&tried);
            if todo.is_empty() || self.closed.load(Ordering::Relaxed) {
                self.builder_running.store(false, Ordering::SeqCst);
                // A seed set between `untried` and the store above would otherwise wait for
                // the next template.
                let more = !self.closed.load(Ordering::Relaxed) && !untried(&tried).is_empty();
                if more && !self.builder_running.swap(true, Ordering::SeqCst) {
                    continue;
                }
                return;
            }
            self.build(&todo);
            tried.extend(todo);
        }
    }

    /// Builds caches (and in fast mode datasets) for `entries`, in order, on this thread.
    fn build(&self, entries: &[Arc<SeedEntry>]) {
        for entry in entries {
            if self.closed.load(Ordering::Relaxed) {
                return;
            }
            if let Err(error) = entry.cache() {
                // Requests for this seed retry the build and report the error themselves.
                warn!(seed = %entry.seed, %error, "RandomX cache not built");
            }
        }
        if !self.fast {
            return;
        }
        for entry in entries {
            if self.closed.load(Ordering::Relaxed) {
                return;
            }
            entry.build_dataset(self.init_threads, &self.closed);
        }
    }

    /// Stops builders and releases every dataset.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        for entry in [&slots.current, &slots.previous, &slots.next]
            .into_iter()
            .flatten()
        {
            entry.release_dataset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monero::pow::randomx::recommended_flags;

    fn s(byte: u8) -> Hash32 {
        Hash32([byte; 32])
    }

    fn wanted(table: &SeedTable, seed: u8) -> bool {
        table
            .get(&s(seed))
            .is_some_and(|entry| entry.want_dataset.load(Ordering::Relaxed))
    }

    #[test]
    fn table_keeps_current_previous_and_next_and_forgets_older_seeds() {
        let table = SeedTable::new(recommended_flags(), false, 1);
        table.set(s(1), None);
        table.set(s(2), Some(s(3)));
        assert!(table.contains(&s(1)) && table.contains(&s(2)) && table.contains(&s(3)));
        table.set(s(3), None);
        assert!(
            !table.contains(&s(1)),
            "the seed before the previous is dropped"
        );
        assert!(table.contains(&s(2)) && table.contains(&s(3)));
        // The same template again changes nothing.
        table.set(s(3), None);
        assert!(table.contains(&s(2)) && table.contains(&s(3)));
    }

    #[test]
    fn next_seed_keeps_its_entry_when_it_becomes_current() {
        let table = SeedTable::new(recommended_flags(), false, 1);
        table.set(s(1), Some(s(2)));
        let announced = table.get(&s(2)).unwrap();
        table.set(s(2), None);
        assert!(Arc::ptr_eq(&announced, &table.get(&s(2)).unwrap()));
    }

    #[test]
    fn fast_mode_wants_datasets_for_current_and_next_but_not_previous() {
        let table = SeedTable::new(recommended_flags(), true, 1);
        table.set(s(1), Some(s(2)));
        assert!(wanted(&table, 1) && wanted(&table, 2));
        table.set(s(2), None);
        assert!(wanted(&table, 2));
        assert!(!wanted(&table, 1), "the previous seed serves in light mode");
        // A seed whose dataset failed is not retried on every template...
        table
            .get(&s(2))
            .unwrap()
            .want_dataset
            .store(false, Ordering::Relaxed);
        table.set(s(2), None);
        assert!(!wanted(&table, 2));
        // ...but is wanted again when it comes back as current.
        table.set(s(1), None);
        table.set(s(2), None);
        assert!(wanted(&table, 2));
    }

    #[test]
    fn dataset_build_stops_as_soon_as_it_is_no_longer_wanted() {
        let cache = Cache::new(recommended_flags(), b"seed").unwrap();
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let keep_going = || asked.fetch_add(1, Ordering::Relaxed) < 2;
        let started = std::time::Instant::now();
        let built = Dataset::build(recommended_flags(), &cache, 2, &keep_going, &|_| {});
        assert_eq!(built.unwrap_err(), RandomxError::Cancelled);
        assert!(asked.load(Ordering::Relaxed) >= 3);
        // A full build takes half a minute; a cancelled one a chunk or two.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
