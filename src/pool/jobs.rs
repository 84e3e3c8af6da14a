//! Jobs: what one miner is working on, and the bookkeeping that makes each share unique.
//!
//! Owns the extra-nonce layout written into the template's reserved space (reference §2.3):
//! bytes 0..4 a per-template job counter (u32 BE), 4..8 this pool process's instance id (so
//! several pool hosts never hand out the same work), 8..12 the proxy pool nonce and 12..16 the
//! proxy worker nonce (filled by xmr-node-proxy). Also owns job ids, the per-session ring of
//! [`JOB_RING`] recent jobs and duplicate detection per job. It builds no blobs (`monero::blob`
//! does) and hashes nothing.

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
/// Submissions kept per job; more are refused (bounds memory per job).
pub const MAX_SUBMISSIONS_PER_JOB: usize = 4096;

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
    pub difficulty: Difficulty,
    /// Whether the job went out as a proxy job (shares carry pool/worker nonces).
    pub proxy: bool,
    /// Submitted (nonce, pool nonce, worker nonce) keys, sorted.
    submissions: Vec<u128>,
}

/// Why a submission key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitKeyError {
    Duplicate,
    TooMany,
}

impl Job {
    pub fn new(
        id: JobId,
        template_seq: u64,
        extra_nonce: ExtraNonce,
        difficulty: Difficulty,
        proxy: bool,
    ) -> Job {
        Job {
            id,
            template_seq,
            extra_nonce,
            difficulty,
            proxy,
            submissions: Vec::new(),
        }
    }

    /// Records a submission; refuses the same nonce (and proxy nonces) twice.
    pub fn record_submission(
        &mut self,
        nonce: u32,
        pool_nonce: u32,
        worker_nonce: u32,
    ) -> Result<(), SubmitKeyError> {
        let key = submission_key(nonce, pool_nonce, worker_nonce);
        match self.submissions.binary_search(&key) {
            Ok(_) => Err(SubmitKeyError::Duplicate),
            Err(_) if self.submissions.len() >= MAX_SUBMISSIONS_PER_JOB => {
                Err(SubmitKeyError::TooMany)
            }
            Err(pos) => {
                self.submissions.insert(pos, key);
                Ok(())
            }
        }
    }

    /// Forgets a recorded submission, so that a share refused as "Overloaded, retry" can be
    /// sent again with the same nonce.
    pub fn forget_submission(&mut self, nonce: u32, pool_nonce: u32, worker_nonce: u32) {
        let key = submission_key(nonce, pool_nonce, worker_nonce);
        if let Ok(pos) = self.submissions.binary_search(&key) {
            self.submissions.remove(pos);
        }
    }
}

/// One submission's (nonce, pool nonce, worker nonce) as a sortable key.
fn submission_key(nonce: u32, pool_nonce: u32, worker_nonce: u32) -> u128 {
    u128::from(nonce) | u128::from(pool_nonce) << 32 | u128::from(worker_nonce) << 64
}

/// The session's recent jobs, newest last; pushing the ninth drops the oldest.
#[derive(Debug, Default)]
pub struct JobRing {
    jobs: std::collections::VecDeque<Job>,
}

impl JobRing {
    pub fn push(&mut self, job: Job) {
        if self.jobs.len() >= JOB_RING {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
    }

    pub fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.iter_mut().rev().find(|j| j.id == id)
    }

    pub fn latest(&self) -> Option<&Job> {
        self.jobs.back()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
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

    #[test]
    fn duplicate_nonce_is_refused_per_job_only() {
        let mut a = job(1);
        let mut b = job(2);
        assert_eq!(a.record_submission(42, 0, 0), Ok(()));
        assert_eq!(
            a.record_submission(42, 0, 0),
            Err(SubmitKeyError::Duplicate)
        );
        assert_eq!(b.record_submission(42, 0, 0), Ok(()));
        // Proxies: the same nonce from another worker of the proxy is a different share.
        assert_eq!(a.record_submission(42, 0, 1), Ok(()));
        assert_eq!(a.record_submission(42, 1, 0), Ok(()));
        assert_eq!(
            a.record_submission(42, 1, 0),
            Err(SubmitKeyError::Duplicate)
        );
    }

    #[test]
    fn submissions_per_job_are_bounded() {
        let mut a = job(1);
        for n in 0..MAX_SUBMISSIONS_PER_JOB as u32 {
            assert_eq!(a.record_submission(n, 0, 0), Ok(()));
        }
        assert_eq!(
            a.record_submission(u32::MAX, 0, 0),
            Err(SubmitKeyError::TooMany)
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
