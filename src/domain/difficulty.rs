//! Difficulty and the targets miners are sent.
//!
//! A hash `h` (32 bytes, read as a little-endian 256-bit integer) meets difficulty `d` when
//! `h × d < 2^256`, exactly monerod's `check_hash`. Difficulties are 128-bit as monerod's
//! `wide_difficulty`; a share's credited difficulty always fits in u64.

use primitive_types::{U256, U512};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::Hash32;

/// A mining difficulty (expected number of hashes per solution).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Difficulty(pub u128);

impl Difficulty {
    pub const ONE: Difficulty = Difficulty(1);

    /// Whether `pow_hash` meets this difficulty (monerod's `check_hash`).
    pub fn is_met_by(self, pow_hash: &Hash32) -> bool {
        if self.0 == 0 {
            return true;
        }
        let h = U512::from(U256::from_little_endian(&pow_hash.0));
        let product = h * U512::from(self.0);
        product <= U512::from(U256::MAX)
    }

    /// The highest difficulty `pow_hash` meets: `floor((2^256 - 1) / h)`, saturating at
    /// `u128::MAX` (a zero hash meets every difficulty).
    pub fn of_hash(pow_hash: &Hash32) -> Difficulty {
        let h = U256::from_little_endian(&pow_hash.0);
        if h.is_zero() {
            return Difficulty(u128::MAX);
        }
        let d = U256::MAX / h;
        if d > U256::from(u128::MAX) {
            Difficulty(u128::MAX)
        } else {
            Difficulty(d.as_u128())
        }
    }

    /// Lossless narrowing for share records, which store credited difficulty as u64.
    pub fn as_u64(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How wide a stratum `target` is written. xmrig accepts both; 8 bytes is exact for
/// difficulties above 2^32, 4 bytes is what older miners and proxies expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Four,
    Eight,
}

impl Target {
    /// The stratum target hex for `difficulty`: the most significant 4 or 8 bytes of
    /// `floor((2^256 - 1) / difficulty)`, little-endian (diff 1000 → `37894100` /
    /// `efa7c64b37894100`).
    pub fn hex(self, difficulty: Difficulty) -> String {
        let d = U256::from(difficulty.0.max(1));
        let q = U256::MAX / d;
        let top64 = (q >> 192).low_u64();
        match self {
            Target::Eight => hex::encode(top64.to_le_bytes()),
            Target::Four => hex::encode(((top64 >> 32) as u32).to_le_bytes()),
        }
    }

    /// Reads a stratum target back into the difficulty a miner works at.
    pub fn difficulty_of_hex(text: &str) -> Option<Difficulty> {
        let bytes = hex::decode(text).ok()?;
        let top64 = match bytes.len() {
            4 => (u32::from_le_bytes(bytes.try_into().ok()?) as u64) << 32,
            8 => u64::from_le_bytes(bytes.try_into().ok()?),
            _ => return None,
        };
        if top64 == 0 {
            return None;
        }
        Some(Difficulty((u64::MAX / top64) as u128))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn target_matches_xmrig_for_difficulty_1000() {
        assert_eq!(Target::Four.hex(Difficulty(1000)), "37894100");
        assert_eq!(Target::Eight.hex(Difficulty(1000)), "efa7c64b37894100");
        assert_eq!(
            Target::difficulty_of_hex("37894100"),
            Some(Difficulty(1000))
        );
    }

    #[test]
    fn hash_check_matches_division_at_the_boundary() {
        let mut h = [0u8; 32];
        h[31] = 0x01; // h = 2^248, meets difficulty up to 255
        let hash = Hash32(h);
        assert_eq!(Difficulty::of_hash(&hash), Difficulty(255));
        assert!(Difficulty(255).is_met_by(&hash));
        assert!(!Difficulty(256).is_met_by(&hash));
        assert!(Difficulty(u128::MAX).is_met_by(&Hash32([0; 32])));
    }

    proptest! {
        #[test]
        fn is_met_by_agrees_with_of_hash(bytes in any::<[u8; 32]>(), d in 1u128..u128::MAX) {
            let hash = Hash32(bytes);
            prop_assert_eq!(Difficulty(d).is_met_by(&hash), Difficulty::of_hash(&hash) >= Difficulty(d));
        }
    }
}
