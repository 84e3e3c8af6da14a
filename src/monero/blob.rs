//! Block templates as the pool uses them: parse a `get_block_template` result once, then per
//! job write an extra nonce into the reserved space and build the hashing blob, and per share
//! set the 4-byte nonce and build the block blob for `submit_block`.
//!
//! Owns every byte offset of the template: the 43-byte header with the nonce at offset 39, the
//! reserved extra-nonce space at monerod's `reserved_offset` (never assumed), the miner
//! transaction prefix that the extra nonce changes, and the Merkle root over the transaction
//! hashes. It does no I/O (templates come from `daemon`) and no proof of work (`pow`).
//!
//! Cost model: `Template::parse` deserializes and re-serializes the template once, computes the
//! Merkle branch of the miner transaction (the sibling hashes on its path to the root, which do
//! not depend on the extra nonce) and checks our hashing blob against monerod's. A job then
//! costs one Keccak over the miner-tx prefix, one more for a v2 transaction id and one per
//! branch level (⌊log2(transactions + 1)⌋), whatever the number of transactions
//! (`write_hashing_blob`); a share costs a 4-byte write
//! (`HashingBlob::with_nonce`).

use monero::consensus::encode::{VarInt, deserialize, serialize};
use monero::cryptonote::hash::{Hash, Hashable, keccak_256, tree_hash};
use monero::util::ringct::RctType;

use crate::domain::{Atomic, Difficulty, Hash32, Height};
use crate::monero::rpc_types::{
    ConvertError, GetBlockTemplateResponse, parse_hash, parse_hex, parse_optional_hash,
    parse_wide_difficulty,
};

/// Length of a serialized block header while timestamps need a 5-byte varint (2^28..2^35 s).
pub const HEADER_LEN: usize = 43;
/// Offset of the 4-byte little-endian nonce in both the hashing blob and the block blob.
pub const NONCE_OFFSET: usize = 39;
/// monerod refuses `reserve_size` above this.
pub const MAX_RESERVE_SIZE: usize = 255;
/// Longest hashing blob: the header, the Merkle root and a transaction count (a varint of at
/// most 9 bytes for a u64).
pub const MAX_HASHING_BLOB: usize = HEADER_LEN + 32 + 9;

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("template blob does not parse as a block: {0}")]
    Deserialize(String),
    #[error("template blob has {0} trailing or re-encoded bytes (non-canonical encoding)")]
    NonCanonical(usize),
    #[error("block header serializes to {0} bytes, expected {HEADER_LEN}")]
    HeaderLength(usize),
    #[error(
        "reserved space {offset}+{size} lies outside the miner tx extra (prefix {start}..{end})"
    )]
    ReservedOutOfRange {
        offset: usize,
        size: usize,
        start: usize,
        end: usize,
    },
    #[error("reserve size {0} is above {MAX_RESERVE_SIZE}")]
    ReserveTooLarge(usize),
    #[error("miner transaction has an unsupported shape: {0}")]
    UnsupportedMinerTx(&'static str),
    #[error("our {what} differs from monerod's")]
    Mismatch { what: &'static str },
    #[error("extra nonce of {len} bytes does not fit the {max}-byte reserved space")]
    ExtraNonceTooLong { len: usize, max: usize },
}

/// How the miner transaction's id is formed from its prefix hash.
#[derive(Debug, Clone)]
enum MinerTxHashing {
    /// Version 1: the id is the Keccak of the whole transaction (prefix, no signatures).
    V1,
    /// Version 2: `keccak(prefix_hash || rct_base_hash || rct_prunable_hash)`; the two RingCT
    /// hashes do not depend on the extra nonce and are kept here.
    V2 { rct_hashes: [u8; 64] },
}

/// A parsed block template.
#[derive(Debug, Clone)]
pub struct Template {
    blob: Vec<u8>,
    height: Height,
    prev_hash: Hash32,
    seed_hash: Hash32,
    seed_height: Height,
    next_seed_hash: Option<Hash32>,
    difficulty: Difficulty,
    expected_reward: Atomic,
    reserved_offset: usize,
    reserve_size: usize,
    /// End of the miner tx prefix in `blob` (the prefix starts at `HEADER_LEN`).
    prefix_end: usize,
    /// End of the whole miner tx in `blob`.
    miner_tx_end: usize,
    miner_tx_hashing: MinerTxHashing,
    /// Transactions besides the miner transaction.
    tx_count: usize,
    /// The miner transaction's Merkle branch: fold `keccak(acc || sibling)` over it, starting
    /// from the miner tx id, to get the root (see [`MerkleBranch`]).
    miner_branch: MerkleBranch,
    /// `VarInt(1 + tx_count)`, the hashing blob's last field.
    tx_count_varint: Vec<u8>,
}

/// The sibling hashes on the path from the first leaf (the miner transaction) to the root of
/// Monero's `tree_hash`, which only depend on the other transactions.
///
/// `tree_hash` over `count` leaves: one leaf is the root; two are hashed together; otherwise,
/// with `cnt` the largest power of two below `count`, the first `2·cnt − count` leaves pass to
/// the next level unchanged and the rest are hashed in pairs, giving `cnt` nodes, which are then
/// halved pairwise down to two and hashed into the root. Leaf 0 is always the leftmost node,
/// so on each level where it is paired its sibling is the node to its right; the branch lists
/// those siblings bottom-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleBranch(Vec<Hash>);

impl MerkleBranch {
    /// The branch of leaf 0 in `tree_hash(leaf0, others)`.
    pub fn of_first_leaf(others: &[Hash]) -> MerkleBranch {
        let count = others.len() + 1;
        match count {
            1 => return MerkleBranch(Vec::new()),
            2 => return MerkleBranch(vec![others[0]]),
            _ => {}
        }
        // `leaves[0]` stands for the miner tx and is never read: the only node that depends on
        // it is `level[0]`, whose value the branch does not need.
        let leaves: Vec<Hash> = std::iter::once(Hash::null())
            .chain(others.iter().copied())
            .collect();
        let mut cnt = 2usize;
        while cnt < count {
            cnt <<= 1;
        }
        cnt >>= 1;
        let passed = 2 * cnt - count;
        let mut branch = Vec::new();
        let mut level: Vec<Hash> = Vec::with_capacity(cnt);
        level.extend_from_slice(&leaves[..passed]);
        if passed == 0 {
            // Leaf 0 is paired with leaf 1 on the first level.
            branch.push(leaves[1]);
        }
        let mut i = passed;
        while level.len() < cnt {
            level.push(hash_pair(&leaves[i], &leaves[i + 1]));
            i += 2;
        }
        while level.len() > 2 {
            branch.push(level[1]);
            let next: Vec<Hash> = level
                .chunks_exact(2)
                .map(|pair| hash_pair(&pair[0], &pair[1]))
                .collect();
            level = next;
        }
        branch.push(level[1]);
        MerkleBranch(branch)
    }

    /// The tree root when leaf 0 is `leaf`.
    pub fn root(&self, leaf: [u8; 32]) -> [u8; 32] {
        self.0.iter().fold(leaf, |acc, sibling| {
            let mut pair = [0u8; 64];
            pair[..32].copy_from_slice(&acc);
            pair[32..].copy_from_slice(sibling.as_bytes());
            keccak_256(&pair)
        })
    }

    /// Hashes per root (the branch length).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn hash_pair(a: &Hash, b: &Hash) -> Hash {
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(a.as_bytes());
    pair[32..].copy_from_slice(b.as_bytes());
    Hash(keccak_256(&pair))
}

/// A hashing blob (header, Merkle root, transaction count) for one extra nonce. At least
/// [`HEADER_LEN`] bytes long by construction, so the nonce slot always exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashingBlob(Vec<u8>);

impl HashingBlob {
    /// Wraps bytes a miner or monerod gave; `None` when too short to hold a header.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<HashingBlob> {
        (bytes.len() >= HEADER_LEN).then_some(HashingBlob(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The nonce currently in the blob.
    pub fn nonce(&self) -> u32 {
        let mut le = [0u8; 4];
        le.copy_from_slice(&self.0[NONCE_OFFSET..NONCE_OFFSET + 4]);
        u32::from_le_bytes(le)
    }

    /// Writes `nonce` (little-endian) at offset 39.
    pub fn set_nonce(&mut self, nonce: u32) {
        self.0[NONCE_OFFSET..NONCE_OFFSET + 4].copy_from_slice(&nonce.to_le_bytes());
    }

    /// A copy with `nonce` written at offset 39: what the PoW hash is computed over.
    pub fn with_nonce(&self, nonce: u32) -> HashingBlob {
        let mut copy = self.clone();
        copy.set_nonce(nonce);
        copy
    }

    /// The block id of the block this blob (with its nonce) describes:
    /// `keccak(varint(len) || blob)`.
    pub fn block_id(&self) -> Hash32 {
        let mut framed = serialize(&VarInt(self.0.len() as u64));
        framed.extend_from_slice(&self.0);
        Hash32(keccak_256(&framed))
    }
}

impl Template {
    /// Parses and checks a `get_block_template` result requested with `reserve_size`.
    ///
    /// Checks: the blob is a canonically encoded block; its header is 43 bytes; the reserved
    /// space lies inside the miner tx extra; the miner tx id we compute from parts equals the
    /// `monero` crate's; and our hashing blob equals monerod's `blockhashing_blob`.
    pub fn parse(
        response: &GetBlockTemplateResponse,
        reserve_size: usize,
    ) -> Result<Template, TemplateError> {
        if reserve_size > MAX_RESERVE_SIZE {
            return Err(TemplateError::ReserveTooLarge(reserve_size));
        }
        let blob = parse_hex("blocktemplate_blob", &response.blocktemplate_blob)?;
        let block: monero::Block =
            deserialize(&blob).map_err(|e| TemplateError::Deserialize(e.to_string()))?;
        let reencoded = serialize(&block);
        if reencoded != blob {
            return Err(TemplateError::NonCanonical(
                blob.len().abs_diff(reencoded.len()),
            ));
        }
        let header_len = serialize(&block.header).len();
        if header_len != HEADER_LEN {
            return Err(TemplateError::HeaderLength(header_len));
        }
        let prefix_end = HEADER_LEN + serialize(&block.miner_tx.prefix).len();
        let miner_tx_end = HEADER_LEN + serialize(&block.miner_tx).len();

        let reserved_offset = usize::try_from(response.reserved_offset).unwrap_or(usize::MAX);
        let extra_len = serialize(&block.miner_tx.prefix.extra).len();
        let extra_start = prefix_end - extra_len;
        if reserved_offset < extra_start
            || reserved_offset
                .checked_add(reserve_size)
                .is_none_or(|end| end > prefix_end)
        {
            return Err(TemplateError::ReservedOutOfRange {
                offset: reserved_offset,
                size: reserve_size,
                start: extra_start,
                end: prefix_end,
            });
        }

        // monerod writes TX_EXTRA_NONCE (0x02) and varint(reserve_size) just before the space.
        if reserve_size > 0 {
            let mut tag = vec![0x02];
            tag.extend_from_slice(&serialize(&VarInt(reserve_size as u64)));
            if reserved_offset < extra_start + tag.len()
                || blob[reserved_offset - tag.len()..reserved_offset] != tag[..]
            {
                return Err(TemplateError::Mismatch {
                    what: "extra nonce tag before reserved_offset (wrong reserve_size?)",
                });
            }
        }

        let miner_tx_hashing = match *block.miner_tx.prefix.version {
            1 => MinerTxHashing::V1,
            2 => {
                let base = block
                    .miner_tx
                    .rct_signatures
                    .sig
                    .as_ref()
                    .ok_or(TemplateError::UnsupportedMinerTx("v2 without RingCT base"))?;
                if base.rct_type != RctType::Null {
                    return Err(TemplateError::UnsupportedMinerTx("RingCT type is not Null"));
                }
                let mut rct_hashes = [0u8; 64];
                rct_hashes[..32].copy_from_slice(base.hash().as_bytes());
                // The prunable hash of a Null-type signature is the zero hash.
                MinerTxHashing::V2 { rct_hashes }
            }
            _ => return Err(TemplateError::UnsupportedMinerTx("unknown version")),
        };

        let template = Template {
            height: Height(response.height),
            prev_hash: parse_hash("prev_hash", &response.prev_hash)?,
            seed_hash: parse_hash("seed_hash", &response.seed_hash)?,
            seed_height: Height(response.seed_height),
            next_seed_hash: parse_optional_hash("next_seed_hash", &response.next_seed_hash)?,
            difficulty: if response.wide_difficulty.is_empty() {
                Difficulty(response.difficulty as u128)
            } else {
                parse_wide_difficulty("wide_difficulty", &response.wide_difficulty)?
            },
            expected_reward: Atomic(response.expected_reward),
            reserved_offset,
            reserve_size,
            prefix_end,
            miner_tx_end,
            miner_tx_hashing,
            tx_count_varint: serialize(&VarInt(1 + block.tx_hashes.len() as u64)),
            tx_count: block.tx_hashes.len(),
            miner_branch: MerkleBranch::of_first_leaf(&block.tx_hashes),
            blob,
        };

        let miner_tx_id =
            template.miner_tx_hash_of_prefix(&template.blob[HEADER_LEN..template.hashed_end()]);
        if Hash(miner_tx_id) != block.miner_tx.hash() {
            return Err(TemplateError::Mismatch {
                what: "miner transaction id",
            });
        }
        if template.prev_hash.0 != block.header.prev_id.0 {
            return Err(TemplateError::Mismatch { what: "prev_hash" });
        }
        if template.miner_branch.root(miner_tx_id)
            != tree_hash(Hash(miner_tx_id), &block.tx_hashes).0
        {
            return Err(TemplateError::Mismatch {
                what: "Merkle root from the miner tx branch",
            });
        }
        // The template's reserved space is as monerod left it: an empty extra nonce keeps it.
        let ours = template.hashing_blob(&[])?;
        let theirs = parse_hex("blockhashing_blob", &response.blockhashing_blob)?;
        if ours.0 != theirs {
            return Err(TemplateError::Mismatch {
                what: "hashing blob",
            });
        }
        if ours.0 != block.serialize_hashable() {
            return Err(TemplateError::Mismatch {
                what: "hashing blob (monero crate)",
            });
        }
        Ok(template)
    }

    /// The hashing blob for `extra_nonce` (nonce as in the template, normally zero).
    /// The extra nonce is written at the start of the reserved space; shorter ones leave the
    /// rest of the space zero.
    pub fn hashing_blob(&self, extra_nonce: &[u8]) -> Result<HashingBlob, TemplateError> {
        let mut out = [0u8; MAX_HASHING_BLOB];
        let len = self.write_hashing_blob(extra_nonce, &mut out)?;
        Ok(HashingBlob(out[..len].to_vec()))
    }

    /// Writes the hashing blob for `extra_nonce` into `out` and returns its length: the
    /// allocation-free form of [`Template::hashing_blob`] that every job uses.
    pub fn write_hashing_blob(
        &self,
        extra_nonce: &[u8],
        out: &mut [u8; MAX_HASHING_BLOB],
    ) -> Result<usize, TemplateError> {
        let root = self.merkle_root(extra_nonce)?;
        let count = &self.tx_count_varint;
        out[..HEADER_LEN].copy_from_slice(&self.blob[..HEADER_LEN]);
        out[HEADER_LEN..HEADER_LEN + 32].copy_from_slice(&root);
        out[HEADER_LEN + 32..HEADER_LEN + 32 + count.len()].copy_from_slice(count);
        Ok(HEADER_LEN + 32 + count.len())
    }

    /// The Merkle root of the block's transactions with `extra_nonce` in the miner tx.
    fn merkle_root(&self, extra_nonce: &[u8]) -> Result<[u8; 32], TemplateError> {
        self.check_extra_nonce(extra_nonce)?;
        let prefix = &self.blob[HEADER_LEN..self.hashed_end()];
        let at = self.reserved_offset - HEADER_LEN;
        // Miner transactions are a few hundred bytes: hash them from the stack.
        let mut stack = [0u8; 1024];
        let mut heap = Vec::new();
        let copy = if prefix.len() <= stack.len() {
            let copy = &mut stack[..prefix.len()];
            copy.copy_from_slice(prefix);
            copy
        } else {
            heap.extend_from_slice(prefix);
            &mut heap[..]
        };
        copy[at..at + extra_nonce.len()].copy_from_slice(extra_nonce);
        Ok(self.miner_branch.root(self.miner_tx_hash_of_prefix(copy)))
    }

    /// The complete block for `submit_block`: the template with `extra_nonce` in the reserved
    /// space and `nonce` at offset 39.
    pub fn block_blob(&self, extra_nonce: &[u8], nonce: u32) -> Result<Vec<u8>, TemplateError> {
        self.check_extra_nonce(extra_nonce)?;
        let mut blob = self.blob.clone();
        blob[self.reserved_offset..self.reserved_offset + extra_nonce.len()]
            .copy_from_slice(extra_nonce);
        blob[NONCE_OFFSET..NONCE_OFFSET + 4].copy_from_slice(&nonce.to_le_bytes());
        Ok(blob)
    }

    /// The id the block would have with `extra_nonce` and `nonce`.
    pub fn block_id(&self, extra_nonce: &[u8], nonce: u32) -> Result<Hash32, TemplateError> {
        let mut blob = self.hashing_blob(extra_nonce)?;
        blob.set_nonce(nonce);
        Ok(blob.block_id())
    }

    pub fn height(&self) -> Height {
        self.height
    }

    pub fn prev_hash(&self) -> Hash32 {
        self.prev_hash
    }

    /// The RandomX seed (key) hash for this template.
    pub fn seed_hash(&self) -> Hash32 {
        self.seed_hash
    }

    pub fn seed_height(&self) -> Height {
        self.seed_height
    }

    /// The next seed hash when a seed change is within 64 blocks.
    pub fn next_seed_hash(&self) -> Option<Hash32> {
        self.next_seed_hash
    }

    /// The network difficulty a block must meet (`wide_difficulty`).
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// The block reward (coinbase amount) monerod expects for this template.
    pub fn expected_reward(&self) -> Atomic {
        self.expected_reward
    }

    pub fn reserved_offset(&self) -> usize {
        self.reserved_offset
    }

    pub fn reserve_size(&self) -> usize {
        self.reserve_size
    }

    /// Transactions in the block besides the miner transaction.
    pub fn tx_count(&self) -> usize {
        self.tx_count
    }

    /// The template blob exactly as monerod gave it.
    pub fn template_blob(&self) -> &[u8] {
        &self.blob
    }

    fn check_extra_nonce(&self, extra_nonce: &[u8]) -> Result<(), TemplateError> {
        if extra_nonce.len() > self.reserve_size {
            return Err(TemplateError::ExtraNonceTooLong {
                len: extra_nonce.len(),
                max: self.reserve_size,
            });
        }
        Ok(())
    }

    fn miner_tx_hash_of_prefix(&self, prefix: &[u8]) -> [u8; 32] {
        match &self.miner_tx_hashing {
            MinerTxHashing::V1 => keccak_256(prefix),
            MinerTxHashing::V2 { rct_hashes } => {
                let mut parts = [0u8; 96];
                parts[..32].copy_from_slice(&keccak_256(prefix));
                parts[32..].copy_from_slice(rct_hashes);
                keccak_256(&parts)
            }
        }
    }

    /// End of the miner tx bytes whose hash depends on the extra nonce: the prefix for v2,
    /// the whole transaction for v1.
    fn hashed_end(&self) -> usize {
        match self.miner_tx_hashing {
            MinerTxHashing::V1 => self.miner_tx_end,
            MinerTxHashing::V2 { .. } => self.prefix_end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `get_block_template` from `monerod --regtest --fixed-difficulty 500` at height 1,
    /// `reserve_size: 8`.
    fn regtest_response() -> GetBlockTemplateResponse {
        serde_json::from_value(serde_json::json!({
            "blockhashing_blob": "1010e7a587d806418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e30000000002aa9f251e62abdecd7b70766eae70b9b67e9490427e255be0e5fbf2c1f869c701",
            "blocktemplate_blob": "1010e7a587d806418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e300000000023d01ff0101808080f0ffff0703fb514f0a7a68b9c03cbc61fc01de1b7d50770a4a3cd401c268b31ef485af07da4e2b0125287a8d697b3f3bffbf9cd4c1a4c5dde8b236b29d1af9ccc6f608b69aebfe7f020800000000000000000000",
            "difficulty": 500,
            "difficulty_top64": 0,
            "expected_reward": 35184338534400u64,
            "height": 1,
            "next_seed_hash": "",
            "prev_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3",
            "reserved_offset": 126,
            "seed_hash": "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3",
            "seed_height": 0,
            "status": "OK",
            "untrusted": false,
            "wide_difficulty": "0x1f4"
        }))
        .unwrap()
    }

    /// The regtest template with `count` made-up transaction hashes added, and the hashing
    /// blob the `monero` crate computes for it (as monerod would).
    fn response_with_transactions(count: usize, seed: u8) -> GetBlockTemplateResponse {
        let mut response = regtest_response();
        let blob = hex::decode(&response.blocktemplate_blob).unwrap();
        let mut block: monero::Block = deserialize(&blob).unwrap();
        block.tx_hashes = (0..count)
            .map(|i| Hash(keccak_256(&[seed, (i % 256) as u8, (i / 256) as u8])))
            .collect();
        response.blocktemplate_blob = hex::encode(serialize(&block));
        response.blockhashing_blob = hex::encode(block.serialize_hashable());
        response
    }

    /// What a full re-parse of the block blob says: (hashing blob, block id, header nonce).
    fn reparse(blob: &[u8]) -> (Vec<u8>, Hash32, u32) {
        let block: monero::Block = deserialize(blob).unwrap();
        (
            block.serialize_hashable(),
            Hash32(block.id().0),
            block.header.nonce,
        )
    }

    #[test]
    fn parses_a_regtest_template_and_reproduces_monerods_hashing_blob() {
        let response = regtest_response();
        let template = Template::parse(&response, 8).unwrap();
        assert_eq!(template.height(), Height(1));
        assert_eq!(template.reserved_offset(), 126);
        assert_eq!(template.difficulty(), Difficulty(500));
        assert_eq!(template.expected_reward(), Atomic(35_184_338_534_400));
        assert_eq!(template.seed_hash(), template.prev_hash());
        assert_eq!(template.next_seed_hash(), None);
        assert_eq!(template.tx_count(), 0);
        let blob = template.hashing_blob(&[]).unwrap();
        assert_eq!(hex::encode(blob.as_bytes()), response.blockhashing_blob);
        assert_eq!(blob.nonce(), 0);
    }

    #[test]
    fn templates_with_transactions_match_a_full_reparse() {
        // 1, 2 and 3 exercise the tree's special cases; 127/128 the varint width; 300 depth.
        for count in [1, 2, 3, 4, 5, 127, 128, 300] {
            let response = response_with_transactions(count, 7);
            let template = Template::parse(&response, 8)
                .unwrap_or_else(|e| panic!("{count} transactions: {e}"));
            assert_eq!(template.tx_count(), count);
            let extra = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4];
            let blob = template.block_blob(&extra, 0x0102_0304).unwrap();
            let (hashable, id, nonce) = reparse(&blob);
            let ours = template
                .hashing_blob(&extra)
                .unwrap()
                .with_nonce(0x0102_0304);
            assert_eq!(ours.as_bytes(), &hashable[..], "{count} transactions");
            assert_eq!(ours.block_id(), id);
            assert_eq!(nonce, 0x0102_0304);
        }
    }

    /// The slow hashing blob, as the pool computed it before the Merkle branch: write the
    /// extra nonce into a copy of the whole template, re-parse it with the `monero` crate and
    /// take its hashing blob (Keccak over the miner tx, `tree_hash` over every transaction).
    fn slow_hashing_blob(template: &Template, extra: &[u8]) -> Vec<u8> {
        let blob = template.block_blob(extra, 0).unwrap();
        let block: monero::Block = deserialize(&blob).unwrap();
        let root = tree_hash(block.miner_tx.hash(), &block.tx_hashes);
        let mut slow = blob[..HEADER_LEN].to_vec();
        slow.extend_from_slice(root.as_bytes());
        slow.extend_from_slice(&serialize(&VarInt(1 + block.tx_hashes.len() as u64)));
        assert_eq!(slow, block.serialize_hashable(), "the two slow paths agree");
        slow
    }

    #[test]
    fn fast_hashing_blob_equals_the_slow_one_for_every_tree_shape() {
        // Leaves = transactions + 1: 1 (root is the miner tx), 2 (one pair), 3 (one leaf passes
        // up), 4 and 9 and 14 (powers of two and odd remainders), 6 (two levels).
        for count in [0, 1, 2, 3, 5, 8, 13] {
            for seed in [1u8, 2] {
                let template = Template::parse(&response_with_transactions(count, seed), 8)
                    .unwrap_or_else(|e| panic!("{count} transactions: {e}"));
                assert_eq!(template.tx_count(), count);
                for extra in [
                    &[][..],
                    &[0xff][..],
                    &[1, 2, 3, 4, 5, 6, 7, 8][..],
                    &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9][..],
                ] {
                    let fast = template.hashing_blob(extra).unwrap();
                    assert_eq!(
                        fast.as_bytes(),
                        &slow_hashing_blob(&template, extra)[..],
                        "{count} transactions, extra {extra:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn merkle_branch_root_equals_tree_hash_for_any_leaf_count() {
        for others in (0..=40).chain([127, 128, 129, 255, 256, 300]) {
            let hashes: Vec<Hash> = (0..others)
                .map(|i: usize| Hash(keccak_256(&i.to_le_bytes())))
                .collect();
            let branch = MerkleBranch::of_first_leaf(&hashes);
            for leaf in [[0u8; 32], [0xab; 32]] {
                assert_eq!(
                    branch.root(leaf),
                    tree_hash(Hash(leaf), &hashes).0,
                    "{others} other transactions"
                );
            }
            // Leaf 0 is leftmost: it skips the first level unless the leaf count is a power
            // of two, so it meets floor(log2(leaves)) siblings.
            let depth = (others + 1).ilog2() as usize;
            assert_eq!(branch.len(), depth, "{others}: one hash per level");
        }
    }

    #[test]
    fn rejects_an_extra_nonce_longer_than_the_reserved_space() {
        let template = Template::parse(&regtest_response(), 8).unwrap();
        assert_eq!(
            template.hashing_blob(&[0; 9]),
            Err(TemplateError::ExtraNonceTooLong { len: 9, max: 8 })
        );
        assert!(template.block_blob(&[0; 9], 1).is_err());
        assert!(template.block_id(&[0; 9], 1).is_err());
    }

    #[test]
    fn rejects_a_reserved_offset_outside_the_miner_extra() {
        for offset in [0, 39, 80, 140, 10_000, u64::MAX] {
            let mut response = regtest_response();
            response.reserved_offset = offset;
            assert!(
                matches!(
                    Template::parse(&response, 8),
                    Err(TemplateError::ReservedOutOfRange { .. })
                ),
                "offset {offset} accepted"
            );
        }
        // A reserve size other than the one requested is caught by the extra-nonce tag.
        for wrong in [4, 7, 9, 12] {
            assert!(
                Template::parse(&regtest_response(), wrong).is_err(),
                "{wrong}"
            );
        }
        assert_eq!(
            Template::parse(&regtest_response(), 256).unwrap_err(),
            TemplateError::ReserveTooLarge(256)
        );
    }

    #[test]
    fn rejects_a_hashing_blob_that_disagrees_with_monerod() {
        let mut response = regtest_response();
        response.blockhashing_blob.replace_range(100..102, "00");
        assert_eq!(
            Template::parse(&response, 8).unwrap_err(),
            TemplateError::Mismatch {
                what: "hashing blob"
            }
        );
    }

    #[test]
    fn rejects_bad_hex_truncation_and_trailing_bytes() {
        let mut response = regtest_response();
        response.blocktemplate_blob.push('z');
        assert!(matches!(
            Template::parse(&response, 8),
            Err(TemplateError::Convert(_))
        ));
        let good = regtest_response().blocktemplate_blob;
        for cut in [0, 2, 40, 86, 120, good.len() - 2] {
            let mut response = regtest_response();
            response.blocktemplate_blob = good[..cut].to_owned();
            assert!(Template::parse(&response, 8).is_err(), "cut at {cut}");
        }
        let mut response = regtest_response();
        response.blocktemplate_blob.push_str("00");
        assert!(Template::parse(&response, 8).is_err());
    }

    #[test]
    fn hashing_blob_rejects_bytes_shorter_than_a_header() {
        assert!(HashingBlob::from_bytes(vec![0; HEADER_LEN - 1]).is_none());
        let mut blob = HashingBlob::from_bytes(vec![0; HEADER_LEN]).unwrap();
        blob.set_nonce(0xaabb_ccdd);
        assert_eq!(&blob.as_bytes()[39..43], &[0xdd, 0xcc, 0xbb, 0xaa]);
        assert_eq!(blob.nonce(), 0xaabb_ccdd);
    }

    proptest! {
        #[test]
        fn extra_nonce_and_nonce_land_where_a_full_reparse_finds_them(
            extra in proptest::collection::vec(any::<u8>(), 0..=8),
            nonce in any::<u32>(),
            transactions in 0usize..6,
        ) {
            let template = Template::parse(&response_with_transactions(transactions, 3), 8).unwrap();
            let blob = template.block_blob(&extra, nonce).unwrap();
            prop_assert_eq!(&blob[template.reserved_offset()..][..extra.len()], &extra[..]);
            let (hashable, id, parsed_nonce) = reparse(&blob);
            let ours = template.hashing_blob(&extra).unwrap().with_nonce(nonce);
            prop_assert_eq!(ours.as_bytes(), &hashable[..]);
            prop_assert_eq!(ours.nonce(), nonce);
            prop_assert_eq!(parsed_nonce, nonce);
            prop_assert_eq!(ours.block_id(), id);
            prop_assert_eq!(template.block_id(&extra, nonce).unwrap(), id);
        }

        #[test]
        fn arbitrary_template_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut response = regtest_response();
            response.blocktemplate_blob = hex::encode(&bytes);
            let _ = Template::parse(&response, 8);
        }

        #[test]
        fn corrupted_regtest_templates_never_panic(position in 0usize..153, byte in any::<u8>()) {
            let mut bytes = hex::decode(regtest_response().blocktemplate_blob).unwrap();
            let position = position % bytes.len();
            bytes[position] = byte;
            let mut response = regtest_response();
            response.blocktemplate_blob = hex::encode(&bytes);
            let _ = Template::parse(&response, 8);
        }
    }
}
