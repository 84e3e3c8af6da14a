//! Byte layouts of everything rxpool keeps in LMDB, and their heed codecs.
//!
//! Owns the on-disk format: the fixed-size share record (zero-copy, big-endian, unaligned,
//! because LMDB hands out values at any alignment), the 40-byte block key, the found-block
//! record (a fixed zero-copy head plus a length-prefixed reason), the worker key, the
//! lifetime counter key and record, and the share-log batch. Does no I/O and knows nothing of
//! transactions; `lmdb.rs` and `writer.rs` put these bytes in and take them out. Any change to
//! an existing layout is a schema change: bump `SCHEMA_VERSION` in `lmdb.rs` and add a
//! migration.
//!
//! The `counters` and `share_log` databases were added without a schema change
//! (`SCHEMA_VERSION` stays 1): they are new databases created at open, no existing record
//! changes, and a version that does not know them simply never opens them. An environment
//! written before they existed opens and starts counting from zero.

use std::borrow::Cow;

use heed::{BoxedError, BytesDecode, BytesEncode};
use zerocopy::byteorder::{BigEndian, U32, U64, U128};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::domain::{Atomic, Difficulty, Hash32, Height, PoolType, UnixMillis};

/// The interned id of a payout key (`address` or `address.paymentid`). Ids start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinerId(pub u32);

/// The interned id of one worker name of one miner. Ids are global (not per miner) and
/// start at 1; `WorkerId` alone identifies both the miner and the worker name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(pub u32);

/// Share flag: the share came from a trusted miner and its PoW was not verified.
pub const FLAG_TRUSTED: u8 = 0b0000_0001;
/// Share flag: the share met the network difficulty and was submitted as a block.
pub const FLAG_FOUND_BLOCK: u8 = 0b0000_0010;

/// One accepted share as stored under its template height in the `shares` database.
///
/// Duplicates of one key are sorted bytewise by LMDB, so the record begins with the
/// timestamp and then a tie-breaker sequence: shares at one height iterate in time order,
/// and two otherwise identical shares in the same millisecond stay two records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ShareRecord {
    timestamp_ms: U64<BigEndian>,
    seq: U32<BigEndian>,
    miner: U32<BigEndian>,
    worker: U32<BigEndian>,
    difficulty: U64<BigEndian>,
    job_difficulty: U64<BigEndian>,
    pool_type: u8,
    flags: u8,
}

/// Size of a share record on disk, in bytes.
pub const SHARE_RECORD_SIZE: usize = size_of::<ShareRecord>();

impl ShareRecord {
    #[expect(clippy::too_many_arguments, reason = "one argument per stored field")]
    pub fn new(
        timestamp: UnixMillis,
        seq: u32,
        miner: MinerId,
        worker: WorkerId,
        difficulty: u64,
        job_difficulty: u64,
        pool_type: PoolType,
        flags: u8,
    ) -> ShareRecord {
        ShareRecord {
            timestamp_ms: U64::new(timestamp.0),
            seq: U32::new(seq),
            miner: U32::new(miner.0),
            worker: U32::new(worker.0),
            difficulty: U64::new(difficulty),
            job_difficulty: U64::new(job_difficulty),
            pool_type: pool_type as u8,
            flags,
        }
    }

    /// When the pool accepted the share.
    pub fn timestamp(&self) -> UnixMillis {
        UnixMillis(self.timestamp_ms.get())
    }
    /// The writer's tie-breaker; meaningful only for ordering within one millisecond.
    pub fn seq(&self) -> u32 {
        self.seq.get()
    }
    pub fn miner(&self) -> MinerId {
        MinerId(self.miner.get())
    }
    pub fn worker(&self) -> WorkerId {
        WorkerId(self.worker.get())
    }
    /// The difficulty credited for this share (PPLNS weight).
    pub fn difficulty(&self) -> u64 {
        self.difficulty.get()
    }
    /// The job difficulty the miner was working at (the raw share difficulty).
    pub fn job_difficulty(&self) -> u64 {
        self.job_difficulty.get()
    }
    /// The payout mode of the port the share came in on; `None` for a byte this version does
    /// not know (a record written by a newer rxpool).
    pub fn pool_type(&self) -> Option<PoolType> {
        PoolType::from_u8(self.pool_type)
    }
    pub fn trusted(&self) -> bool {
        self.flags & FLAG_TRUSTED != 0
    }
    pub fn found_block(&self) -> bool {
        self.flags & FLAG_FOUND_BLOCK != 0
    }
    /// The raw flag byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }
    /// Returns the same record with another tie-breaker (used when a duplicate value exists).
    pub(crate) fn with_seq(mut self, seq: u32) -> ShareRecord {
        self.seq = U32::new(seq);
        self
    }
}

/// heed codec for `ShareRecord` values: a zero-copy view into the mapped page.
#[derive(Debug)]
pub enum ShareCodec {}

impl<'a> BytesEncode<'a> for ShareCodec {
    type EItem = ShareRecord;
    fn bytes_encode(item: &'a ShareRecord) -> Result<Cow<'a, [u8]>, BoxedError> {
        Ok(Cow::Borrowed(item.as_bytes()))
    }
}

impl<'a> BytesDecode<'a> for ShareCodec {
    type DItem = &'a ShareRecord;
    fn bytes_decode(bytes: &'a [u8]) -> Result<&'a ShareRecord, BoxedError> {
        ShareRecord::ref_from_bytes(bytes).map_err(|_| {
            format!(
                "share record of {} bytes, expected {SHARE_RECORD_SIZE}",
                bytes.len()
            )
            .into()
        })
    }
}

/// The `shares` key: the template height, u32 big-endian so keys sort by height.
pub type HeightKey = heed::types::U32<heed::byteorder::BigEndian>;

/// Narrows a chain height to the 32-bit share key (heights pass 2^32 in about 8,000 years).
pub fn height_key(height: Height) -> Option<u32> {
    u32::try_from(height.0).ok()
}

/// A found block's key: height (u64 BE) then block hash, so blocks sort by height and two
/// blocks at one height never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockKey {
    pub height: Height,
    pub hash: Hash32,
}

/// Size of a block key in bytes.
pub const BLOCK_KEY_SIZE: usize = 40;

impl BlockKey {
    pub fn to_bytes(self) -> [u8; BLOCK_KEY_SIZE] {
        let mut out = [0u8; BLOCK_KEY_SIZE];
        out[..8].copy_from_slice(&self.height.0.to_be_bytes());
        out[8..].copy_from_slice(&self.hash.0);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<BlockKey> {
        let bytes: &[u8; BLOCK_KEY_SIZE] = bytes.try_into().ok()?;
        let mut height = [0u8; 8];
        height.copy_from_slice(&bytes[..8]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[8..]);
        Some(BlockKey {
            height: Height(u64::from_be_bytes(height)),
            hash: Hash32(hash),
        })
    }
}

/// Where a found block stands.
///
/// Transitions (enforced by the pool and the block manager, not here): a block is recorded
/// `Candidate` BEFORE the pool submits it (so a crash between the submission and any later
/// write cannot lose it); `Candidate → Pending` once a daemon accepted it or the chain holds
/// it; `Candidate → Orphaned` when every daemon refused it or the chain settled another block
/// at its height. `Pending → Unlocked` once buried deep enough and credited; `Pending →
/// Orphaned` when the chain has another block at its height. `Orphaned → Pending` is allowed
/// when a re-check finds it back on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum BlockStatus {
    Pending = 0,
    Unlocked = 1,
    Orphaned = 2,
    /// Recorded before submission; not yet known to be on the chain.
    Candidate = 3,
}

impl BlockStatus {
    pub const ALL: [BlockStatus; 4] = [
        BlockStatus::Pending,
        BlockStatus::Unlocked,
        BlockStatus::Orphaned,
        BlockStatus::Candidate,
    ];

    pub fn from_u8(v: u8) -> Option<BlockStatus> {
        Self::ALL.into_iter().find(|s| *s as u8 == v)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BlockStatus::Pending => "pending",
            BlockStatus::Unlocked => "unlocked",
            BlockStatus::Orphaned => "orphaned",
            BlockStatus::Candidate => "candidate",
        }
    }
}

impl std::fmt::Display for BlockStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fixed part of a stored found block. Followed on disk by `reason_len` bytes of UTF-8
/// and, in format 2, by the block blob (u32 BE length, then the bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct BlockHead {
    format: u8,
    hash: [u8; 32],
    height: U64<BigEndian>,
    network_difficulty: U128<BigEndian>,
    reward: U64<BigEndian>,
    pool_type: u8,
    miner: U32<BigEndian>,
    worker: U32<BigEndian>,
    timestamp_ms: U64<BigEndian>,
    status: u8,
    status_changed_ms: U64<BigEndian>,
    has_shares_at_find: u8,
    shares_at_find: U128<BigEndian>,
    reason_len: U32<BigEndian>,
}

/// A record without a block blob (written by every version).
const BLOCK_FORMAT: u8 = 1;
/// A record with the block blob after the reason (written only when there is a blob, so
/// records without one stay readable by older versions).
const BLOCK_FORMAT_BLOB: u8 = 2;
const BLOCK_HEAD_SIZE: usize = size_of::<BlockHead>();
/// Longest status reason kept; longer reasons are cut at a character boundary.
pub const MAX_REASON_BYTES: usize = 1024;

/// A found block as stored in the `blocks` database (miner and worker as interned ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    pub hash: Hash32,
    pub height: Height,
    pub network_difficulty: Difficulty,
    /// The block reward in atomic units; zero when unknown at find time.
    pub reward: Atomic,
    pub pool_type: PoolType,
    pub miner: MinerId,
    pub worker: WorkerId,
    pub timestamp: UnixMillis,
    pub status: BlockStatus,
    /// When `status` was last set (the find time for a new block).
    pub status_changed: UnixMillis,
    /// Why the status is what it is ("" for a new block).
    pub reason: String,
    /// The pool's cumulative difficulty of its round when the block was found, if known.
    pub shares_at_find: Option<Difficulty>,
    /// The complete block as submitted (empty when unknown), kept so that a block the daemon
    /// never got or lost can be submitted again.
    pub blob: Vec<u8>,
}

/// Why stored block bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockDecodeError {
    #[error("block record too short ({0} bytes)")]
    TooShort(usize),
    #[error("block record format {0} is not known to this version")]
    UnknownFormat(u8),
    #[error("block record has unknown pool type {0}")]
    UnknownPoolType(u8),
    #[error("block record has unknown status {0}")]
    UnknownStatus(u8),
    #[error("block record reason length does not match the record")]
    BadReasonLength,
    #[error("block record reason is not UTF-8")]
    ReasonNotUtf8,
    #[error("block record blob length does not match the record")]
    BadBlobLength,
}

impl BlockRecord {
    pub fn key(&self) -> BlockKey {
        BlockKey {
            height: self.height,
            hash: self.hash,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let reason = truncate_at_char_boundary(&self.reason, MAX_REASON_BYTES);
        let head = BlockHead {
            format: if self.blob.is_empty() {
                BLOCK_FORMAT
            } else {
                BLOCK_FORMAT_BLOB
            },
            hash: self.hash.0,
            height: U64::new(self.height.0),
            network_difficulty: U128::new(self.network_difficulty.0),
            reward: U64::new(self.reward.0),
            pool_type: self.pool_type as u8,
            miner: U32::new(self.miner.0),
            worker: U32::new(self.worker.0),
            timestamp_ms: U64::new(self.timestamp.0),
            status: self.status as u8,
            status_changed_ms: U64::new(self.status_changed.0),
            has_shares_at_find: u8::from(self.shares_at_find.is_some()),
            shares_at_find: U128::new(self.shares_at_find.map_or(0, |d| d.0)),
            // reason is at most MAX_REASON_BYTES long.
            reason_len: U32::new(reason.len() as u32),
        };
        let mut out = Vec::with_capacity(BLOCK_HEAD_SIZE + reason.len() + 4 + self.blob.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(reason.as_bytes());
        if !self.blob.is_empty() {
            // A block blob is far below 4 GiB (monerod refuses blocks over a few MB).
            out.extend_from_slice(&(self.blob.len() as u32).to_be_bytes());
            out.extend_from_slice(&self.blob);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<BlockRecord, BlockDecodeError> {
        let (head, rest) = BlockHead::ref_from_prefix(bytes)
            .map_err(|_| BlockDecodeError::TooShort(bytes.len()))?;
        let reason_len = head.reason_len.get() as usize;
        let (rest, blob) = match head.format {
            BLOCK_FORMAT if rest.len() == reason_len => (rest, &[][..]),
            BLOCK_FORMAT => return Err(BlockDecodeError::BadReasonLength),
            BLOCK_FORMAT_BLOB => {
                if rest.len() < reason_len + 4 {
                    return Err(BlockDecodeError::BadReasonLength);
                }
                let (reason, tail) = rest.split_at(reason_len);
                let (len, blob) = tail.split_at(4);
                let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if blob.len() != len || len == 0 {
                    return Err(BlockDecodeError::BadBlobLength);
                }
                (reason, blob)
            }
            other => return Err(BlockDecodeError::UnknownFormat(other)),
        };
        let reason = std::str::from_utf8(rest).map_err(|_| BlockDecodeError::ReasonNotUtf8)?;
        Ok(BlockRecord {
            hash: Hash32(head.hash),
            height: Height(head.height.get()),
            network_difficulty: Difficulty(head.network_difficulty.get()),
            reward: Atomic(head.reward.get()),
            pool_type: PoolType::from_u8(head.pool_type)
                .ok_or(BlockDecodeError::UnknownPoolType(head.pool_type))?,
            miner: MinerId(head.miner.get()),
            worker: WorkerId(head.worker.get()),
            timestamp: UnixMillis(head.timestamp_ms.get()),
            status: BlockStatus::from_u8(head.status)
                .ok_or(BlockDecodeError::UnknownStatus(head.status))?,
            status_changed: UnixMillis(head.status_changed_ms.get()),
            reason: reason.to_owned(),
            shares_at_find: (head.has_shares_at_find != 0)
                .then(|| Difficulty(head.shares_at_find.get())),
            blob: blob.to_vec(),
        })
    }
}

/// The key of a worker in `workers_by_name`: the miner id (u32 BE) then the worker name.
pub fn worker_key(miner: MinerId, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + name.len());
    out.extend_from_slice(&miner.0.to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out
}

/// Splits a `workers_by_id` value (same layout as `worker_key`) into miner id and name.
pub fn split_worker_value(bytes: &[u8]) -> Option<(MinerId, &str)> {
    if bytes.len() < 4 {
        return None;
    }
    let (id, name) = bytes.split_at(4);
    let id = u32::from_be_bytes(id.try_into().ok()?);
    Some((MinerId(id), std::str::from_utf8(name).ok()?))
}

/// The longest prefix of `text` that is at most `max` bytes and ends on a char boundary.
pub fn truncate_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Why a share was refused, for the counters. The codes are stable: they index the
/// `invalid` array of a [`CounterRecord`] on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum InvalidReason {
    /// The hash does not meet the job's difficulty.
    LowDifficulty = 0,
    /// The submitted result is not the hash of the blob.
    WrongHash = 1,
    /// The same nonce twice for one job.
    Duplicate = 2,
    /// The job or its template is no longer kept (stale or expired job).
    Stale = 3,
    /// A nonce (or result) that does not parse.
    Malformed = 4,
    /// Any other share fault.
    Other = 5,
}

impl InvalidReason {
    /// How many reasons there are (the length of [`Counters::invalid`]).
    pub const COUNT: usize = 6;
    /// Every reason, in code order.
    pub const ALL: [InvalidReason; InvalidReason::COUNT] = [
        InvalidReason::LowDifficulty,
        InvalidReason::WrongHash,
        InvalidReason::Duplicate,
        InvalidReason::Stale,
        InvalidReason::Malformed,
        InvalidReason::Other,
    ];

    /// A short, stable name for the api and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::LowDifficulty => "low_difficulty",
            InvalidReason::WrongHash => "wrong_hash",
            InvalidReason::Duplicate => "duplicate",
            InvalidReason::Stale => "stale",
            InvalidReason::Malformed => "malformed",
            InvalidReason::Other => "other",
        }
    }

    pub fn from_u8(v: u8) -> Option<InvalidReason> {
        Self::ALL.into_iter().find(|r| *r as u8 == v)
    }
}

impl std::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a set of lifetime counters is kept for.
///
/// On disk (the `counters` key) a tag byte, then the subject: `Pool` = `[0]`,
/// `Mode(t)` = `[1, t as u8]`, `Host(id)` = `[2, id u32 BE]`, `Miner(id)` = `[3, id u32 BE]`,
/// `Worker(id)` = `[4, id u32 BE]`. Keys of one kind therefore sort together, hosts by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CounterKey {
    /// The whole pool (every host, every mode).
    Pool,
    /// One payout mode (valid shares only: an invalid share carries no mode).
    Mode(PoolType),
    /// One pool host, by its `pool_id`.
    Host(u32),
    Miner(MinerId),
    Worker(WorkerId),
}

const COUNTER_TAG_POOL: u8 = 0;
const COUNTER_TAG_MODE: u8 = 1;
/// The key tag of host counters (their keys are this byte then the pool id).
pub const COUNTER_TAG_HOST: u8 = 2;
const COUNTER_TAG_MINER: u8 = 3;
const COUNTER_TAG_WORKER: u8 = 4;

impl CounterKey {
    /// The key bytes (at most 5).
    pub fn to_bytes(self) -> Vec<u8> {
        let (tag, id) = match self {
            CounterKey::Pool => return vec![COUNTER_TAG_POOL],
            CounterKey::Mode(t) => return vec![COUNTER_TAG_MODE, t as u8],
            CounterKey::Host(id) => (COUNTER_TAG_HOST, id),
            CounterKey::Miner(id) => (COUNTER_TAG_MINER, id.0),
            CounterKey::Worker(id) => (COUNTER_TAG_WORKER, id.0),
        };
        let mut out = Vec::with_capacity(5);
        out.push(tag);
        out.extend_from_slice(&id.to_be_bytes());
        out
    }

    /// Reads key bytes back; `None` for bytes no version of this layout writes.
    pub fn from_bytes(bytes: &[u8]) -> Option<CounterKey> {
        let id = |rest: &[u8]| -> Option<u32> { Some(u32::from_be_bytes(rest.try_into().ok()?)) };
        match bytes.split_first()? {
            (&COUNTER_TAG_POOL, []) => Some(CounterKey::Pool),
            (&COUNTER_TAG_MODE, [t]) => PoolType::from_u8(*t).map(CounterKey::Mode),
            (&COUNTER_TAG_HOST, rest) => id(rest).map(CounterKey::Host),
            (&COUNTER_TAG_MINER, rest) => id(rest).map(|i| CounterKey::Miner(MinerId(i))),
            (&COUNTER_TAG_WORKER, rest) => id(rest).map(|i| CounterKey::Worker(WorkerId(i))),
            _ => None,
        }
    }
}

/// Lifetime share counters of one [`CounterKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Accepted shares.
    pub valid: u64,
    /// Sum of the credited difficulty of the accepted shares (saturating).
    pub hashes: u64,
    /// Refused shares, indexed by `InvalidReason as usize`.
    pub invalid: [u64; InvalidReason::COUNT],
    /// Time of the newest accepted share.
    pub last_share: Option<UnixMillis>,
    /// Time of the newest refused share.
    pub last_invalid: Option<UnixMillis>,
}

impl Counters {
    /// Refused shares of every reason.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Adds `other` to these counters (sums saturate, times take the newer).
    pub fn add(&mut self, other: &Counters) {
        self.valid = self.valid.saturating_add(other.valid);
        self.hashes = self.hashes.saturating_add(other.hashes);
        for (a, b) in self.invalid.iter_mut().zip(other.invalid) {
            *a = a.saturating_add(b);
        }
        self.last_share = self.last_share.max(other.last_share);
        self.last_invalid = self.last_invalid.max(other.last_invalid);
    }

    /// Counts one accepted share.
    pub fn count_valid(&mut self, difficulty: u64, at: UnixMillis) {
        self.valid = self.valid.saturating_add(1);
        self.hashes = self.hashes.saturating_add(difficulty);
        self.last_share = self.last_share.max(Some(at));
    }

    /// Counts one refused share.
    pub fn count_invalid(&mut self, reason: InvalidReason, at: UnixMillis) {
        let slot = &mut self.invalid[reason as usize];
        *slot = slot.saturating_add(1);
        self.last_invalid = self.last_invalid.max(Some(at));
    }
}

/// A [`Counters`] value on disk (80 bytes, big-endian, unaligned): `valid` u64, `hashes` u64,
/// `invalid` 6 × u64 (by reason code), `last_share` u64 ms, `last_invalid` u64 ms; a time of
/// 0 means none. A later version may append fields: readers take the first 80 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CounterRecord {
    valid: U64<BigEndian>,
    hashes: U64<BigEndian>,
    invalid: [U64<BigEndian>; InvalidReason::COUNT],
    last_share_ms: U64<BigEndian>,
    last_invalid_ms: U64<BigEndian>,
}

/// Size of a counter record on disk, in bytes.
pub const COUNTER_RECORD_SIZE: usize = size_of::<CounterRecord>();

impl CounterRecord {
    pub fn encode(counters: &Counters) -> CounterRecord {
        CounterRecord {
            valid: U64::new(counters.valid),
            hashes: U64::new(counters.hashes),
            invalid: counters.invalid.map(U64::new),
            last_share_ms: U64::new(counters.last_share.map_or(0, |t| t.0)),
            last_invalid_ms: U64::new(counters.last_invalid.map_or(0, |t| t.0)),
        }
    }

    /// Reads a stored value; `None` when it is shorter than a record.
    pub fn decode(bytes: &[u8]) -> Option<Counters> {
        let (record, _newer_fields) = CounterRecord::ref_from_prefix(bytes).ok()?;
        let time = |ms: u64| (ms != 0).then_some(UnixMillis(ms));
        Some(Counters {
            valid: record.valid.get(),
            hashes: record.hashes.get(),
            invalid: record.invalid.map(|v| v.get()),
            last_share: time(record.last_share_ms.get()),
            last_invalid: time(record.last_invalid_ms.get()),
        })
    }
}

/// The key of one `share_log` batch: a sequence number (u64 BE), one more than the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogSeq(pub u64);

/// One accepted share as the share log keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedShare {
    pub timestamp: UnixMillis,
    pub miner: MinerId,
    pub worker: WorkerId,
    /// Credited difficulty.
    pub difficulty: u64,
    /// `None` for a mode byte this version does not know (written by a newer rxpool).
    pub pool_type: Option<PoolType>,
    /// The pool host (`pool_id`) that accepted it.
    pub host: u32,
}

/// A share-log entry on disk (29 bytes, big-endian, unaligned): timestamp u64 ms, miner u32,
/// worker u32, difficulty u64, pool type u8, host u32.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct LogEntry {
    timestamp_ms: U64<BigEndian>,
    miner: U32<BigEndian>,
    worker: U32<BigEndian>,
    difficulty: U64<BigEndian>,
    pool_type: u8,
    host: U32<BigEndian>,
}

/// Size of one share-log entry, in bytes.
pub const LOG_ENTRY_SIZE: usize = size_of::<LogEntry>();
/// Size of the head of a share-log value (the batch's commit time, u64 ms BE).
pub const LOG_HEAD_SIZE: usize = 8;

/// Appends one share to a share-log value under construction (start it with
/// [`log_value_head`]).
/// A share without a known mode is written with mode byte 255.
pub fn push_log_entry(out: &mut Vec<u8>, share: &LoggedShare) {
    let entry = LogEntry {
        timestamp_ms: U64::new(share.timestamp.0),
        miner: U32::new(share.miner.0),
        worker: U32::new(share.worker.0),
        difficulty: U64::new(share.difficulty),
        pool_type: share.pool_type.map_or(u8::MAX, |t| t as u8),
        host: U32::new(share.host),
    };
    out.extend_from_slice(entry.as_bytes());
}

/// The start of a share-log value: the batch's commit time.
pub fn log_value_head(committed: UnixMillis, entries: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(LOG_HEAD_SIZE + entries * LOG_ENTRY_SIZE);
    out.extend_from_slice(&committed.0.to_be_bytes());
    out
}

/// Sets the commit time of a share-log value built with room for its head.
pub fn set_log_value_time(value: &mut [u8], committed: UnixMillis) {
    if let Some(head) = value.get_mut(..LOG_HEAD_SIZE) {
        head.copy_from_slice(&committed.0.to_be_bytes());
    }
}

/// The commit time of a share-log value; `None` when it is too short.
pub fn log_value_time(bytes: &[u8]) -> Option<UnixMillis> {
    let head: [u8; LOG_HEAD_SIZE] = bytes.get(..LOG_HEAD_SIZE)?.try_into().ok()?;
    Some(UnixMillis(u64::from_be_bytes(head)))
}

/// The entries of a share-log value; `None` when its length is not a head plus whole entries.
pub fn log_value_entries(bytes: &[u8]) -> Option<impl Iterator<Item = LoggedShare> + '_> {
    let body = bytes.get(LOG_HEAD_SIZE..)?;
    if body.len() % LOG_ENTRY_SIZE != 0 {
        return None;
    }
    Some(body.chunks_exact(LOG_ENTRY_SIZE).filter_map(|chunk| {
        let entry = LogEntry::ref_from_bytes(chunk).ok()?;
        Some(LoggedShare {
            timestamp: UnixMillis(entry.timestamp_ms.get()),
            miner: MinerId(entry.miner.get()),
            worker: WorkerId(entry.worker.get()),
            difficulty: entry.difficulty.get(),
            pool_type: PoolType::from_u8(entry.pool_type),
            host: entry.host.get(),
        })
    }))
}

/// A `feed_ids_by_time` key: the commit time (u64 ms BE) then the message id.
pub fn feed_time_key(at: UnixMillis, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&at.0.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The time and id of a `feed_ids_by_time` key.
pub fn split_feed_time_key(key: &[u8]) -> Option<(UnixMillis, &str)> {
    let (at, id) = key.split_at_checked(8)?;
    let at = u64::from_be_bytes(at.try_into().ok()?);
    Some((UnixMillis(at), std::str::from_utf8(id).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pool_type() -> impl Strategy<Value = PoolType> {
        prop::sample::select(PoolType::ALL.to_vec())
    }

    fn status() -> impl Strategy<Value = BlockStatus> {
        prop::sample::select(BlockStatus::ALL.to_vec())
    }

    #[test]
    fn share_record_is_38_bytes_and_unaligned() {
        assert_eq!(SHARE_RECORD_SIZE, 38);
        assert_eq!(align_of::<ShareRecord>(), 1);
    }

    #[test]
    fn share_records_sort_by_time_then_sequence_as_bytes() {
        let a = ShareRecord::new(
            UnixMillis(1000),
            7,
            MinerId(9),
            WorkerId(9),
            9,
            9,
            PoolType::Solo,
            3,
        );
        let b = ShareRecord::new(
            UnixMillis(1001),
            0,
            MinerId(1),
            WorkerId(1),
            1,
            1,
            PoolType::Pplns,
            0,
        );
        let c = a.with_seq(8);
        assert!(a.as_bytes() < b.as_bytes());
        assert!(a.as_bytes() < c.as_bytes());
        assert!(c.as_bytes() < b.as_bytes());
    }

    fn sample_block(status: BlockStatus, reason: &str, blob: Vec<u8>) -> BlockRecord {
        BlockRecord {
            hash: Hash32([1; 32]),
            height: Height(5),
            network_difficulty: Difficulty(7),
            reward: Atomic(0),
            pool_type: PoolType::Pplns,
            miner: MinerId(1),
            worker: WorkerId(1),
            timestamp: UnixMillis(1),
            status,
            status_changed: UnixMillis(1),
            reason: reason.into(),
            shares_at_find: None,
            blob,
        }
    }

    #[test]
    fn block_decode_rejects_truncated_and_garbled_bytes() {
        let rec = sample_block(BlockStatus::Pending, "héllo", Vec::new());
        let bytes = rec.encode();
        for cut in 0..bytes.len() {
            assert!(BlockRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = 99;
        assert_eq!(
            BlockRecord::decode(&bad),
            Err(BlockDecodeError::UnknownFormat(99))
        );
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 0xff;
        assert_eq!(
            BlockRecord::decode(&bad),
            Err(BlockDecodeError::ReasonNotUtf8)
        );
        assert!(ShareCodec::bytes_decode(&[0u8; 37]).is_err());
    }

    #[test]
    fn a_block_with_its_blob_decodes_and_refuses_every_truncation() {
        let rec = sample_block(BlockStatus::Candidate, "submitting", vec![7; 300]);
        let bytes = rec.encode();
        assert_eq!(bytes[0], BLOCK_FORMAT_BLOB);
        assert_eq!(BlockRecord::decode(&bytes), Ok(rec.clone()));
        for cut in 0..bytes.len() {
            assert!(BlockRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            BlockRecord::decode(&long),
            Err(BlockDecodeError::BadBlobLength)
        );
        let without = BlockRecord {
            blob: Vec::new(),
            ..rec
        };
        assert_eq!(
            without.encode()[0],
            BLOCK_FORMAT,
            "old readers still read it"
        );
    }

    #[test]
    fn long_reasons_are_cut_at_a_char_boundary() {
        let text = "é".repeat(MAX_REASON_BYTES);
        let cut = truncate_at_char_boundary(&text, MAX_REASON_BYTES);
        assert_eq!(cut.len(), MAX_REASON_BYTES);
        let cut = truncate_at_char_boundary(&text, 5);
        assert_eq!(cut, "éé");
    }

    proptest! {
        #[test]
        fn share_records_round_trip(
            ts in any::<u64>(), seq in any::<u32>(), miner in any::<u32>(), worker in any::<u32>(),
            diff in any::<u64>(), job in any::<u64>(), pt in pool_type(), flags in any::<u8>(),
        ) {
            let rec = ShareRecord::new(UnixMillis(ts), seq, MinerId(miner), WorkerId(worker), diff, job, pt, flags);
            let bytes = ShareCodec::bytes_encode(&rec).unwrap().into_owned();
            prop_assert_eq!(bytes.len(), SHARE_RECORD_SIZE);
            let back = ShareCodec::bytes_decode(&bytes).unwrap();
            prop_assert_eq!(back.timestamp(), UnixMillis(ts));
            prop_assert_eq!(back.seq(), seq);
            prop_assert_eq!(back.miner(), MinerId(miner));
            prop_assert_eq!(back.worker(), WorkerId(worker));
            prop_assert_eq!(back.difficulty(), diff);
            prop_assert_eq!(back.job_difficulty(), job);
            prop_assert_eq!(back.pool_type(), Some(pt));
            prop_assert_eq!(back.flags(), flags);
            prop_assert_eq!(back.trusted(), flags & FLAG_TRUSTED != 0);
            prop_assert_eq!(back.found_block(), flags & FLAG_FOUND_BLOCK != 0);
        }

        #[test]
        fn share_record_bytes_order_like_timestamps(a in any::<u64>(), b in any::<u64>()) {
            let ra = ShareRecord::new(UnixMillis(a), 0, MinerId(0), WorkerId(0), 0, 0, PoolType::Pplns, 0);
            let rb = ShareRecord::new(UnixMillis(b), 0, MinerId(0), WorkerId(0), 0, 0, PoolType::Pplns, 0);
            prop_assert_eq!(a.cmp(&b), ra.as_bytes().cmp(rb.as_bytes()));
        }

        #[test]
        fn block_keys_round_trip_and_sort_by_height(h1 in any::<u64>(), h2 in any::<u64>(), x in any::<[u8; 32]>(), y in any::<[u8; 32]>()) {
            let k1 = BlockKey { height: Height(h1), hash: Hash32(x) };
            let k2 = BlockKey { height: Height(h2), hash: Hash32(y) };
            prop_assert_eq!(BlockKey::from_bytes(&k1.to_bytes()), Some(k1));
            prop_assert_eq!(k1.cmp(&k2), k1.to_bytes().cmp(&k2.to_bytes()));
        }

        #[test]
        fn block_records_round_trip(
            hash in any::<[u8; 32]>(), height in any::<u64>(), nd in any::<u128>(), reward in any::<u64>(),
            pt in pool_type(), miner in any::<u32>(), worker in any::<u32>(), ts in any::<u64>(),
            st in status(), changed in any::<u64>(), reason in ".{0,80}", saf in proptest::option::of(any::<u128>()),
            blob in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let rec = BlockRecord {
                hash: Hash32(hash), height: Height(height), network_difficulty: Difficulty(nd),
                reward: Atomic(reward), pool_type: pt, miner: MinerId(miner), worker: WorkerId(worker),
                timestamp: UnixMillis(ts), status: st, status_changed: UnixMillis(changed),
                reason, shares_at_find: saf.map(Difficulty), blob,
            };
            prop_assert_eq!(BlockRecord::decode(&rec.encode()), Ok(rec));
        }

        #[test]
        fn worker_keys_round_trip(miner in any::<u32>(), name in ".{0,64}") {
            let key = worker_key(MinerId(miner), &name);
            prop_assert_eq!(split_worker_value(&key), Some((MinerId(miner), name.as_str())));
        }
    }

    #[test]
    fn counter_record_is_80_bytes_and_log_entry_29() {
        assert_eq!(COUNTER_RECORD_SIZE, 80);
        assert_eq!(LOG_ENTRY_SIZE, 29);
        assert_eq!(align_of::<CounterRecord>(), 1);
        assert!(CounterRecord::decode(&[0u8; 79]).is_none());
        assert_eq!(CounterRecord::decode(&[0u8; 81]), Some(Counters::default()));
    }

    #[test]
    fn invalid_reason_codes_are_stable() {
        for (i, r) in InvalidReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(InvalidReason::from_u8(i as u8), Some(*r));
        }
        assert_eq!(InvalidReason::from_u8(6), None);
    }

    #[test]
    fn a_log_value_of_a_wrong_length_is_refused() {
        let mut value = log_value_head(UnixMillis(5), 1);
        assert_eq!(log_value_entries(&value).map(Iterator::count), Some(0));
        value.push(1);
        assert!(log_value_entries(&value).is_none());
        assert!(log_value_time(&value[..7]).is_none());
    }

    proptest! {
        #[test]
        fn counter_keys_round_trip_and_hosts_sort_by_id(a in any::<u32>(), b in any::<u32>(), pt in pool_type()) {
            for key in [CounterKey::Pool, CounterKey::Mode(pt), CounterKey::Host(a),
                        CounterKey::Miner(MinerId(a)), CounterKey::Worker(WorkerId(b))] {
                prop_assert_eq!(CounterKey::from_bytes(&key.to_bytes()), Some(key));
            }
            prop_assert_eq!(a.cmp(&b), CounterKey::Host(a).to_bytes().cmp(&CounterKey::Host(b).to_bytes()));
        }

        #[test]
        fn counter_records_round_trip(
            valid in any::<u64>(), hashes in any::<u64>(), invalid in any::<[u64; 6]>(),
            last in proptest::option::of(1u64..), last_invalid in proptest::option::of(1u64..),
        ) {
            let counters = Counters {
                valid, hashes, invalid,
                last_share: last.map(UnixMillis), last_invalid: last_invalid.map(UnixMillis),
            };
            let record = CounterRecord::encode(&counters);
            prop_assert_eq!(CounterRecord::decode(record.as_bytes()), Some(counters));
        }

        #[test]
        fn log_values_round_trip(
            entries in proptest::collection::vec((any::<u64>(), any::<u32>(), any::<u32>(), any::<u64>(), pool_type(), any::<u32>()), 0..20),
            at in any::<u64>(),
        ) {
            let shares: Vec<LoggedShare> = entries.into_iter().map(|(ts, m, w, d, pt, h)| LoggedShare {
                timestamp: UnixMillis(ts), miner: MinerId(m), worker: WorkerId(w),
                difficulty: d, pool_type: Some(pt), host: h,
            }).collect();
            let mut value = log_value_head(UnixMillis(at), shares.len());
            for share in &shares {
                push_log_entry(&mut value, share);
            }
            prop_assert_eq!(log_value_time(&value), Some(UnixMillis(at)));
            let back: Vec<LoggedShare> = log_value_entries(&value).unwrap().collect();
            prop_assert_eq!(back, shares);
        }
    }
}
