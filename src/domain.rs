//! Value types every role shares: amounts, difficulties, heights, hashes, payout modes,
//! wallet addresses and payout batch statuses, and the PPLNS window walk ([`pplns`]) that
//! crediting and the cleaner must agree on.
//!
//! Nothing here does I/O. Money is `Atomic` (integer atomic units, checked arithmetic), fees
//! are `Bps` (basis points), difficulty is `Difficulty` (128-bit, as monerod's
//! `wide_difficulty`). Roles convert at their edges (RPC JSON, SQL rows, LMDB records) into
//! these types once, so the arithmetic in between cannot mix units.

pub mod address;
pub mod amount;
pub mod difficulty;
pub mod hash;
pub mod net;
pub mod payout;
pub mod pool_type;
pub mod pplns;
pub mod time;

pub use address::{AddressKind, Network, PaymentId, WalletAddress};
pub use amount::{Atomic, Bps};
pub use difficulty::{Difficulty, Target};
pub use hash::Hash32;
pub use payout::{BatchKind, BatchStatus};
pub use pool_type::{BalanceType, PoolType};
pub use time::{Clock, SystemClock, UnixMillis};

/// A block height on the Monero chain.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

impl Height {
    /// The height `n` blocks below this one, or `None` below genesis.
    pub fn checked_sub(self, n: u64) -> Option<Height> {
        self.0.checked_sub(n).map(Height)
    }
}

impl std::fmt::Display for Height {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
