//! The only code that calls the RandomX C library: safe owners for a cache, a dataset and a VM.
//!
//! randomx-rs builds and links the reference RandomX library, but its wrappers cannot do what a
//! pool verifier needs: its `RandomXDataset` cannot be initialised over item ranges from several
//! threads (one shared dataset, built in half the time), its handles are neither `Send` nor
//! `Sync` (so one dataset cannot serve every verifier thread), and `RandomXVM::new` hands back a
//! NULL VM when `randomx_create_vm` fails. So this module declares the handful of C functions it
//! needs itself (they resolve against the library randomx-rs links) and wraps them:
//!
//! - [`Cache`]: 256 MiB, read-only once initialised with a key (the seed hash); `Send + Sync`.
//! - [`Dataset`]: 2 GiB, built from a cache by [`Dataset::build`] over disjoint item ranges on
//!   scoped threads; only a fully initialised dataset ever escapes; `Send + Sync`.
//! - [`Vm`]: one per verifier thread, never shared (`!Send`); keeps its cache or dataset alive.
//!
//! Every allocation is NULL-checked; when an allocation with JIT or large pages fails, it is
//! retried without them (slower, but correct). Nothing here knows about seeds, queues or tokio.

use std::ffi::{c_uint, c_ulong, c_void};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use randomx_rs::RandomXFlag;

#[repr(C)]
struct RawCache {
    _opaque: [u8; 0],
}

#[repr(C)]
struct RawDataset {
    _opaque: [u8; 0],
}

#[repr(C)]
struct RawVm {
    _opaque: [u8; 0],
}

// The declarations mirror `randomx.h` of the RandomX copy that randomx-rs 1.6 builds and links
// (`randomx_flags` is a C enum, passed as `unsigned int` as randomx-rs does).
unsafe extern "C" {
    fn randomx_alloc_cache(flags: c_uint) -> *mut RawCache;
    fn randomx_init_cache(cache: *mut RawCache, key: *const c_void, key_size: usize);
    fn randomx_release_cache(cache: *mut RawCache);
    fn randomx_alloc_dataset(flags: c_uint) -> *mut RawDataset;
    safe fn randomx_dataset_item_count() -> c_ulong;
    fn randomx_init_dataset(
        dataset: *mut RawDataset,
        cache: *mut RawCache,
        start_item: c_ulong,
        item_count: c_ulong,
    );
    fn randomx_release_dataset(dataset: *mut RawDataset);
    fn randomx_create_vm(
        flags: c_uint,
        cache: *mut RawCache,
        dataset: *mut RawDataset,
    ) -> *mut RawVm;
    fn randomx_destroy_vm(vm: *mut RawVm);
    fn randomx_calculate_hash(
        vm: *mut RawVm,
        input: *const c_void,
        input_size: usize,
        output: *mut c_void,
    );
}

/// Why a RandomX object could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RandomxError {
    #[error("RandomX could not allocate a {0} (out of memory?)")]
    Alloc(&'static str),
    #[error("RandomX dataset build was cancelled")]
    Cancelled,
}

/// The flags this machine should use: the library's recommendation (hardware AES, JIT on
/// x86-64/aarch64, the best Argon2 variant). Large pages are not requested: they need operator
/// set-up and the fallback below would hide a misconfiguration anyway.
pub fn recommended_flags() -> RandomXFlag {
    RandomXFlag::get_recommended_flags()
}

/// `flags` without the optional speed-ups that can make an allocation fail (JIT needs
/// executable memory, large pages need reserved huge pages).
fn conservative(flags: RandomXFlag) -> RandomXFlag {
    flags - RandomXFlag::FLAG_JIT - RandomXFlag::FLAG_LARGE_PAGES - RandomXFlag::FLAG_SECURE
}

/// A RandomX cache initialised with one key (a seed hash). Read-only after construction.
#[derive(Debug)]
pub struct Cache {
    ptr: NonNull<RawCache>,
}

// SAFETY: the cache is written only inside `Cache::new` (before the value exists elsewhere);
// afterwards RandomX only reads it (light VMs and dataset initialisation), which the RandomX API
// documents as safe from any number of threads. Release happens once, in `Drop`.
unsafe impl Send for Cache {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for Cache {}

impl Cache {
    /// Allocates a cache and initialises it with `key` (about 0.6 s on one core).
    pub fn new(flags: RandomXFlag, key: &[u8]) -> Result<Cache, RandomxError> {
        let ptr = alloc_cache(flags)
            .or_else(|| alloc_cache(conservative(flags)))
            .ok_or(RandomxError::Alloc("cache"))?;
        // SAFETY: `ptr` is a live cache just allocated; `key` is a valid slice for its length.
        unsafe { randomx_init_cache(ptr.as_ptr(), key.as_ptr().cast(), key.len()) };
        Ok(Cache { ptr })
    }
}

fn alloc_cache(flags: RandomXFlag) -> Option<NonNull<RawCache>> {
    // SAFETY: plain allocation call; a NULL result is handled by `NonNull::new`.
    NonNull::new(unsafe { randomx_alloc_cache(flags.bits()) })
}

impl Drop for Cache {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `randomx_alloc_cache`, and this is its only release. No VM
        // can still use it: every `Vm` built on it holds an `Arc<Cache>`.
        unsafe { randomx_release_cache(self.ptr.as_ptr()) }
    }
}

/// A fully initialised RandomX dataset (fast mode). Read-only once it exists.
#[derive(Debug)]
pub struct Dataset {
    ptr: NonNull<RawDataset>,
}

// SAFETY: a `Dataset` value only exists after every item was initialised (see `build`); from
// then on RandomX only reads it, and many VMs on many threads may share one dataset (RandomX
// API). Release happens once, in `Drop`.
unsafe impl Send for Dataset {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for Dataset {}

/// Items initialised per call between cancellation checks (about 0.1 s of work).
const INIT_CHUNK_ITEMS: c_ulong = 1 << 16;

impl Dataset {
    /// Allocates a dataset and initialises it from `cache` on `threads` threads, each over its
    /// own contiguous item range. Returns `Cancelled` (and frees the memory) as soon as
    /// `keep_going` returns false; it is asked every [`INIT_CHUNK_ITEMS`] items per thread, and
    /// `initialised` is told each chunk's item count as it completes (for progress).
    pub fn build(
        flags: RandomXFlag,
        cache: &Cache,
        threads: usize,
        keep_going: &(dyn Fn() -> bool + Sync),
        initialised: &(dyn Fn(u64) + Sync),
    ) -> Result<Dataset, RandomxError> {
        let ptr = alloc_dataset(flags)
            .or_else(|| alloc_dataset(conservative(flags)))
            .ok_or(RandomxError::Alloc("dataset"))?;
        // From here `partial` frees the memory on every exit path, including cancellation.
        let partial = Dataset { ptr };
        let total = randomx_dataset_item_count();
        let threads = c_ulong::try_from(threads.max(1)).unwrap_or(1);
        let per_thread = total.div_ceil(threads);
        let partial_ref = &partial;
        let cancelled = AtomicBool::new(false);
        let cancelled = &cancelled;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let start = (t * per_thread).min(total);
                let end = (start + per_thread).min(total);
                scope.spawn(move || {
                    let mut at = start;
                    while at < end {
                        if cancelled.load(Ordering::Relaxed) || !keep_going() {
                            cancelled.store(true, Ordering::Relaxed);
                            return;
                        }
                        let count = INIT_CHUNK_ITEMS.min(end - at);
                        // SAFETY: the item ranges of the threads are disjoint and inside the
                        // dataset; no VM reads `partial` before every thread has finished (the
                        // scope joins them), and the cache is initialised and only read.
                        unsafe { partial_ref.init_items(cache, at, count) };
                        at += count;
                        initialised(count);
                    }
                });
            }
        });
        if cancelled.load(Ordering::Relaxed) {
            return Err(RandomxError::Cancelled);
        }
        Ok(partial)
    }

    /// How many items a dataset has (what [`Dataset::build`] reports progress against).
    pub fn item_count() -> u64 {
        randomx_dataset_item_count()
    }

    /// Initialises items `[start, start + count)`.
    ///
    /// # Safety
    /// Ranges initialised concurrently must be disjoint, `start + count` must not exceed
    /// `randomx_dataset_item_count()`, and no VM may read the dataset until initialisation finished.
    unsafe fn init_items(&self, cache: &Cache, start: c_ulong, count: c_ulong) {
        // SAFETY: both pointers are live (borrowed for the call); the range contract is the
        // caller's (see above). The C function writes only the items of that range.
        unsafe { randomx_init_dataset(self.ptr.as_ptr(), cache.ptr.as_ptr(), start, count) }
    }
}

fn alloc_dataset(flags: RandomXFlag) -> Option<NonNull<RawDataset>> {
    // SAFETY: plain allocation call; a NULL result is handled by `NonNull::new`.
    NonNull::new(unsafe { randomx_alloc_dataset(flags.bits()) })
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `randomx_alloc_dataset`, and this is its only release; every
        // `Vm` using it holds an `Arc<Dataset>`, so none is left.
        unsafe { randomx_release_dataset(self.ptr.as_ptr()) }
    }
}

/// What a VM reads: the light cache or the fast dataset. Held so it outlives the VM.
#[derive(Debug, Clone)]
pub enum Backing {
    Light(Arc<Cache>),
    Fast(Arc<Dataset>),
}

/// One RandomX virtual machine. Not `Send` (the raw pointer sees to that): create it on the
/// thread that uses it.
#[derive(Debug)]
pub struct Vm {
    ptr: NonNull<RawVm>,
    backing: Backing,
}

impl Vm {
    /// Creates a VM over `backing` (light: cache; fast: dataset with `FLAG_FULL_MEM`).
    pub fn new(flags: RandomXFlag, backing: Backing) -> Result<Vm, RandomxError> {
        let ptr = create_vm(flags, &backing)
            .or_else(|| create_vm(conservative(flags), &backing))
            .ok_or(RandomxError::Alloc("VM"))?;
        Ok(Vm { ptr, backing })
    }

    /// What this VM reads from.
    pub fn backing(&self) -> &Backing {
        &self.backing
    }

    /// The RandomX hash of `input`.
    pub fn hash(&mut self, input: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the VM is live and used by this thread only (`&mut self`, `!Send`); its cache
        // or dataset is kept alive by `self.backing`; `input` and `out` are valid for the given
        // lengths (RandomX writes exactly 32 bytes).
        unsafe {
            randomx_calculate_hash(
                self.ptr.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
            )
        };
        out
    }
}

fn create_vm(flags: RandomXFlag, backing: &Backing) -> Option<NonNull<RawVm>> {
    let raw = match backing {
        // SAFETY: the cache is live and initialised; FULL_MEM is off so no dataset is needed.
        Backing::Light(cache) => unsafe {
            randomx_create_vm(
                (flags - RandomXFlag::FLAG_FULL_MEM).bits(),
                cache.ptr.as_ptr(),
                std::ptr::null_mut(),
            )
        },
        // SAFETY: the dataset is live and fully initialised; with FULL_MEM no cache is needed.
        Backing::Fast(dataset) => unsafe {
            randomx_create_vm(
                (flags | RandomXFlag::FLAG_FULL_MEM).bits(),
                std::ptr::null_mut(),
                dataset.ptr.as_ptr(),
            )
        },
    };
    NonNull::new(raw)
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `randomx_create_vm`; this is its only destruction.
        unsafe { randomx_destroy_vm(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_vm_matches_the_randomx_reference_vector() {
        let cache = Arc::new(Cache::new(recommended_flags(), b"test key 000").unwrap());
        let mut vm = Vm::new(recommended_flags(), Backing::Light(cache)).unwrap();
        assert_eq!(
            hex::encode(vm.hash(b"This is a test")),
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
        );
    }

    #[test]
    fn cancelled_dataset_build_returns_cancelled() {
        let cache = Cache::new(recommended_flags(), b"test key 000").unwrap();
        assert_eq!(
            Dataset::build(recommended_flags(), &cache, 2, &|| false, &|_| {}).unwrap_err(),
            RandomxError::Cancelled
        );
    }
}
