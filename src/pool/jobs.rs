//! Jobs: what one miner is working on, and the bookkeeping that makes each share unique.
//!
//! Owns the extra-nonce layout written into the template's reserved space (reference §2.3):
//! bytes 0..4 a per-template job counter (u32 BE), 4..8 this pool process's instance id (so
//! several pool hosts never hand out the same work), 8..12 the proxy pool nonce and 12..16 the
//! proxy worker nonce (filled by xmr-node-proxy). Also owns job ids, the per-session ring of
//! [`JOB_RING`] recent jobs and duplicate detection per job. It builds no blobs (`monero::blob`
//! does) and hashes nothing.
//!
//! Nonce memory: the submitted nonces of a session's jobs live in the ring, not in the jobs
//! (which are copied on every share), 4 bytes each for a miner's job and 16 for a proxy's, and
//! the ring holds at most [`MAX_SUBMISSIONS`] of them in all: a job that would go past it
//! retires the ring's oldest jobs that hold nonces (their late shares become "Invalid job
//! id"), so one session's duplicate memory is one job's worth (16 KB for a miner, 64 KB for a
//! proxy), not [`JOB_RING`] jobs' worth (it was 512 KB).
//!
//! Invariant: a job is never harder than its block. [`Job::new`] cuts the miner's difficulty
//! down to the template's network difficulty, for every kind of miner (`+N`, vardiff,
//! NiceHash, and proxies, whose `target_diff` is the job's difficulty): a miner submits only
//! hashes that meet its share target, so every block between a higher target and the
//! network's would never reach the pool.

use crate::domain::Difficulty;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes reserved in each template (`reserve_size` of `get_block_template`).
pub const RESERVE_SIZE: usize = 16;
/// Offset of the proxy pool nonce inside the reserved space.
pub const PROXY_POOL_NONCE_OFFSET: usize = 8;
/// Offset of the proxy worker (client) nonce inside the reserved space.
pub const PROXY_WORKER_NONCE_OFFSET: usize = 12;
/// Jobs a session keeps; a share for an older job is "Invalid job id".
pub const JOB_RING: usize = 8;
/// Submitted nonces a session remembers over all its jobs; one job past it is refused.
pub const MAX_SUBMISSIONS: usize = 4096;

/// The extra nonce of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraNonce {
    pub counter: u32,
    pub instance: u32,
}

impl ExtraNonce {
    /// The reserved-space bytes for a normal miner (proxy nonces zero).
    pub fn bytes(self) -> [u8; RESERVE_SIZE] {
        self.with_proxy(0, 0)
    }

    /// The reserved-space bytes with a proxy's pool and worker nonces.
    pub fn with_proxy(self, pool_nonce: u32, worker_nonce: u32) -> [u8; RESERVE_SIZE] {
        let mut out = [0u8; RESERVE_SIZE];
        out[0..4].copy_from_slice(&self.counter.to_be_bytes());
        out[4..8].copy_from_slice(&self.instance.to_be_bytes());
        out[8..12].copy_from_slice(&pool_nonce.to_be_bytes());
        out[12..16].copy_from_slice(&worker_nonce.to_be_bytes());
        out
    }
}

/// A job id: unique within the process, unguessable enough to not be forged across sessions
/// (sessions are bound to connections anyway), 16 hex characters on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(pub u64);

impl JobId {
    /// The next id: a process-wide counter mixed with a random key (a bijection, so ids never
    /// repeat within 2^64 jobs).
    pub fn next(source: &JobIdSource) -> JobId {
        let n = source.counter.fetch_add(1, Ordering::Relaxed);
        JobId(mix(n ^ source.key))
    }

    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    pub fn parse(text: &str) -> Option<JobId> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(JobId)
    }
}

/// splitmix64's finaliser: a bijection on u64.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where job ids come from (one per process).
#[derive(Debug)]
pub struct JobIdSource {
    counter: AtomicU64,
    key: u64,
}

impl JobIdSource {
    pub fn new(key: u64) -> JobIdSource {
        JobIdSource {
            counter: AtomicU64::new(0),
            key,
        }
    }
}

/// One job handed to a miner.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    /// The template sequence number the job was cut from.
    pub template_seq: u64,
    pub extra_nonce: ExtraNonce,
    /// The share difficulty (the credit of each share): at most the template's network
    /// difficulty.
    pub difficulty: Difficulty,
    /// Whether the job went out as a proxy job (shares carry pool/worker nonces).
    pub proxy: bool,
}

/// Why a submission key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitKeyError {
    Duplicate,
    TooMany,
}

impl Job {
    /// A job at the miner's `difficulty`, cut down to `network` (the difficulty of the
    /// template `template_seq`) when above it.
    pub fn new(
        id: JobId,
        template_seq: u64,
        extra_nonce: ExtraNonce,
        difficulty: Difficulty,
        network: Difficulty,
        proxy: bool,
    ) -> Job {
        Job {
            id,
            template_seq,
            extra_nonce,
            difficulty: difficulty.min(network.max(Difficulty::ONE)),
            proxy,
        }
    }
}

/// The nonces submitted for one job, sorted: the nonce alone for a miner's job, (nonce, pool
/// nonce, worker nonce) for a proxy's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Miner(Vec<u32>),
    Proxy(Vec<u128>),
}

impl Seen {
    fn for_job(job: &Job) -> Seen {
        if job.proxy {
            Seen::Proxy(Vec::new())
        } else {
            Seen::Miner(Vec::new())
        }
    }

    fn len(&self) -> usize {
        match self {
            Seen::Miner(v) => v.len(),
            Seen::Proxy(v) => v.len(),
        }
    }

    /// Bytes held (capacity, not length: what the allocator gave).
    fn bytes(&self) -> usize {
        match self {
            Seen::Miner(v) => v.capacity() * std::mem::size_of::<u32>(),
            Seen::Proxy(v) => v.capacity() * std::mem::size_of::<u128>(),
        }
    }

    /// Adds the key; `false` when it was already there.
    fn insert(&mut self, nonce: u32, pool_nonce: u32, worker_nonce: u32) -> bool {
        fn sorted_insert<K: Ord>(v: &mut Vec<K>, key: K) -> bool {
            match v.binary_search(&key) {
                Ok(_) => false,
                Err(pos) => {
                    v.insert(pos, key);
                    true
                }
            }
        }
        match self {
            // A miner's job carries no proxy nonces (validate passes zeros).
            Seen::Miner(v) => sorted_insert(v, nonce),
            Seen::Proxy(v) => sorted_insert(v, proxy_key(nonce, pool_nonce, worker_nonce)),
        }
    }

    fn contains(&self, nonce: u32, pool_nonce: u32, worker_nonce: u32) -> bool {
        match self {
            Seen::Miner(v) => v.binary_search(&nonce).is_ok(),
            Seen::Proxy(v) => v
                .binary_search(&proxy_key(nonce, pool_nonce, worker_nonce))
                .is_ok(),
        }
    }

    /// Removes the key if it is there.
    fn remove(&mut self, nonce: u32, pool_nonce: u32, worker_nonce: u32) {
        fn sorted_remove<K: Ord>(v: &mut Vec<K>, key: K) {
            if let Ok(pos) = v.binary_search(&key) {
                v.remove(pos);
            }
        }
        match self {
            Seen::Miner(v) => sorted_remove(v, nonce),
            Seen::Proxy(v) => sorted_remove(v, proxy_key(nonce, pool_nonce, worker_nonce)),
        }
    }
}

/// A proxy submission's (nonce, pool nonce, worker nonce) as one sortable key.
fn proxy_key(nonce: u32, pool_nonce: u32, worker_nonce: u32) -> u128 {
    u128::from(nonce) | u128::from(pool_nonce) << 32 | u128::from(worker_nonce) << 64
}

/// The session's recent jobs, newest last, with their submitted nonces; pushing the ninth
/// drops the oldest.
#[derive(Debug, Default)]
pub struct JobRing {
    jobs: std::collections::VecDeque<(Job, Seen)>,
}

/// One job of the ring, as a share finds it: read it as a [`Job`], record its nonce with
/// [`JobEntry::record_submission`].
#[derive(Debug)]
pub struct JobEntry<'a> {
    ring: &'a mut JobRing,
    index: usize,
}

impl std::ops::Deref for JobEntry<'_> {
    type Target = Job;

    fn deref(&self) -> &Job {
        &self.ring.jobs[self.index].0
    }
}

impl JobEntry<'_> {
    /// Records a submission; refuses the same nonce (and proxy nonces) twice. Past
    /// [`MAX_SUBMISSIONS`] for the whole ring, the oldest other jobs holding nonces are
    /// retired; a job that alone holds them all is refused more.
    pub fn record_submission(
        &mut self,
        nonce: u32,
        pool_nonce: u32,
        worker_nonce: u32,
    ) -> Result<(), SubmitKeyError> {
        let jobs = &mut self.ring.jobs;
        if jobs[self.index].1.contains(nonce, pool_nonce, worker_nonce) {
            return Err(SubmitKeyError::Duplicate);
        }
        while jobs.iter().map(|(_, seen)| seen.len()).sum::<usize>() >= MAX_SUBMISSIONS {
            let oldest = jobs
                .iter()
                .enumerate()
                .position(|(i, (_, seen))| i != self.index && seen.len() > 0);
            let Some(oldest) = oldest else {
                return Err(SubmitKeyError::TooMany);
            };
            jobs.remove(oldest);
            if oldest < self.index {
                self.index -= 1;
            }
        }
        jobs[self.index].1.insert(nonce, pool_nonce, worker_nonce);
        Ok(())
    }

    /// Forgets a recorded submission, so that a share refused as "Overloaded, retry" can be
    /// sent again with the same nonce.
    pub fn forget_submission(&mut self, nonce: u32, pool_nonce: u32, worker_nonce: u32) {
        self.ring.jobs[self.index]
            .1
            .remove(nonce, pool_nonce, worker_nonce);
    }
}

impl JobRing {
    pub fn push(&mut self, job: Job) {
        if self.jobs.len() >= JOB_RING {
            self.jobs.pop_front();
        }
        let seen = Seen::for_job(&job);
        self.jobs.push_back((job, seen));
    }

    pub fn get_mut(&mut self, id: JobId) -> Option<JobEntry<'_>> {
        let index = self.jobs.iter().rposition(|(j, _)| j.id == id)?;
        Some(JobEntry { ring: self, index })
    }

    pub fn latest(&self) -> Option<&Job> {
        self.jobs.back().map(|(j, _)| j)
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Bytes the ring's nonce memory holds now (allocated capacity).
    pub fn nonce_bytes(&self) -> usize {
        self.jobs.iter().map(|(_, seen)| seen.bytes()).sum()
    }
}

/// Parses a submitted nonce: exactly 8 hex characters, the 4 bytes little-endian as they sit
/// in the blob (nodejs-pool took the first 8 characters and lower-cased them; we refuse
/// anything else).
pub fn parse_nonce(text: &str) -> Option<u32> {
    let mut bytes = [0u8; 4];
    if text.len() != 8 {
        return None;
    }
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(u32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn job(id: u64) -> Job {
        Job::new(
            JobId(id),
            1,
            ExtraNonce {
                counter: id as u32,
                instance: 7,
            },
            Difficulty(1000),
            Difficulty(u128::from(u64::MAX)),
            false,
        )
    }

    #[test]
    fn extra_nonce_layout_matches_reference_2_3() {
        let e = ExtraNonce {
            counter: 0x0102_0304,
            instance: 0xaabb_ccdd,
        };
        assert_eq!(
            e.with_proxy(0x1111_2222, 0x3333_4444),
            [
                1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44
            ]
        );
        assert_eq!(&e.bytes()[8..], &[0u8; 8]);
    }

    #[test]
    fn a_job_is_never_harder_than_its_block() {
        let cut = |miner: u128, network: u128| {
            let extra = ExtraNonce {
                counter: 0,
                instance: 0,
            };
            Job::new(
                JobId(1),
                1,
                extra,
                Difficulty(miner),
                Difficulty(network),
                true,
            )
            .difficulty
        };
        assert_eq!(cut(50_000, 1_000), Difficulty(1_000), "a `+50000` miner");
        assert_eq!(cut(1_000, 1_000), Difficulty(1_000));
        assert_eq!(cut(999, 1_000), Difficulty(999), "easier jobs keep theirs");
        assert_eq!(cut(u128::MAX, 1), Difficulty(1));
        assert_eq!(
            cut(5, 0),
            Difficulty(1),
            "a zero network difficulty is not a job"
        );
    }

    proptest! {
        #[test]
        fn job_difficulty_is_the_lesser_of_miner_and_network(miner in 1u128.., network in 1u128..) {
            let extra = ExtraNonce { counter: 0, instance: 0 };
            let job = Job::new(JobId(1), 1, extra, Difficulty(miner), Difficulty(network), false);
            prop_assert_eq!(job.difficulty, Difficulty(miner.min(network)));
        }
    }

    #[test]
    fn job_ring_keeps_the_last_eight_jobs() {
        let mut ring = JobRing::default();
        for i in 0..10 {
            ring.push(job(i));
        }
        assert_eq!(ring.len(), JOB_RING);
        assert!(ring.get_mut(JobId(0)).is_none());
        assert!(ring.get_mut(JobId(1)).is_none());
        assert!(ring.get_mut(JobId(2)).is_some());
        assert_eq!(ring.latest().map(|j| j.id), Some(JobId(9)));
    }

    fn proxy_job(id: u64) -> Job {
        Job {
            proxy: true,
            ..job(id)
        }
    }

    fn record(ring: &mut JobRing, id: u64, key: (u32, u32, u32)) -> Result<(), SubmitKeyError> {
        ring.get_mut(JobId(id))
            .expect("job in the ring")
            .record_submission(key.0, key.1, key.2)
    }

    #[test]
    fn duplicate_nonce_is_refused_per_job_only() {
        let mut ring = JobRing::default();
        ring.push(proxy_job(1));
        ring.push(job(2));
        assert_eq!(record(&mut ring, 1, (42, 0, 0)), Ok(()));
        assert_eq!(
            record(&mut ring, 1, (42, 0, 0)),
            Err(SubmitKeyError::Duplicate)
        );
        assert_eq!(record(&mut ring, 2, (42, 0, 0)), Ok(()));
        assert_eq!(
            record(&mut ring, 2, (42, 0, 0)),
            Err(SubmitKeyError::Duplicate)
        );
        // Proxies: the same nonce from another worker of the proxy is a different share.
        assert_eq!(record(&mut ring, 1, (42, 0, 1)), Ok(()));
        assert_eq!(record(&mut ring, 1, (42, 1, 0)), Ok(()));
        assert_eq!(
            record(&mut ring, 1, (42, 1, 0)),
            Err(SubmitKeyError::Duplicate)
        );
    }

    #[test]
    fn one_job_holds_at_most_the_sessions_submissions() {
        let mut ring = JobRing::default();
        ring.push(job(1));
        for n in 0..MAX_SUBMISSIONS as u32 {
            assert_eq!(record(&mut ring, 1, (n, 0, 0)), Ok(()));
        }
        assert_eq!(
            record(&mut ring, 1, (u32::MAX, 0, 0)),
            Err(SubmitKeyError::TooMany)
        );
    }

    #[test]
    fn a_full_ring_retires_its_oldest_jobs_and_keeps_detecting_duplicates() {
        let mut ring = JobRing::default();
        for id in 1..=3 {
            ring.push(job(id));
        }
        let half = MAX_SUBMISSIONS as u32 / 2;
        for n in 0..half {
            record(&mut ring, 1, (n, 0, 0)).unwrap();
            record(&mut ring, 2, (n, 0, 0)).unwrap();
        }
        // Job 3 needs room: job 1, the oldest holding nonces, is retired, not forgotten.
        assert_eq!(record(&mut ring, 3, (7, 0, 0)), Ok(()));
        assert!(
            ring.get_mut(JobId(1)).is_none(),
            "a retired job takes no shares"
        );
        assert_eq!(
            record(&mut ring, 2, (5, 0, 0)),
            Err(SubmitKeyError::Duplicate)
        );
        assert_eq!(
            record(&mut ring, 3, (7, 0, 0)),
            Err(SubmitKeyError::Duplicate)
        );
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn a_sessions_nonce_memory_is_one_jobs_worth_not_eight() {
        // A hostile miner fills every job of its ring with distinct nonces (getjob for new
        // jobs, junk shares for nonces). Before: 8 jobs x 4096 x 16 bytes = 512 KiB.
        let mut ring = JobRing::default();
        for id in 0..JOB_RING as u64 {
            ring.push(job(id));
            for n in 0..MAX_SUBMISSIONS as u32 {
                let _ = record(&mut ring, id, (n, 0, 0));
            }
        }
        assert_eq!(ring.len(), 1, "each full job retired the one before");
        let miner = ring.nonce_bytes();
        assert!(
            miner <= 16 << 10,
            "a miner session holds {miner} bytes of nonces"
        );
        let mut proxy = JobRing::default();
        for id in 0..JOB_RING as u64 {
            proxy.push(proxy_job(id));
            for n in 0..MAX_SUBMISSIONS as u32 {
                let _ = record(&mut proxy, id, (n, 1, 2));
            }
        }
        let proxy = proxy.nonce_bytes();
        assert!(
            proxy <= 64 << 10,
            "a proxy session holds {proxy} bytes of nonces"
        );
        assert!(
            std::mem::size_of::<Job>() <= 64,
            "a job is copied per share"
        );
    }

    #[test]
    fn nonce_parsing_accepts_only_eight_hex_characters() {
        assert_eq!(parse_nonce("01000000"), Some(1));
        assert_eq!(parse_nonce("A1B2C3D4"), Some(0xd4c3_b2a1));
        for bad in [
            "",
            "0100000",
            "010000000",
            "0100000g",
            "01 00000",
            "+1000000",
            "ééé",
        ] {
            assert_eq!(parse_nonce(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn job_ids_are_unique_and_round_trip() {
        let source = JobIdSource::new(0x1234);
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| JobId::next(&source)).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(JobId::parse(&id.to_hex()), Some(*id));
        }
        assert_eq!(JobId::parse("xyz"), None);
        assert_eq!(JobId::parse("00000000000000000"), None);
    }

    proptest! {
        #[test]
        fn nonce_round_trips_through_hex(n: u32) {
            prop_assert_eq!(parse_nonce(&hex::encode(n.to_le_bytes())), Some(n));
        }
    }
}
