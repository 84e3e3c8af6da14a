//! Money: `Atomic` amounts (1 XMR = 10^12 atomic units) and `Bps` fee rates.
//!
//! Every operation that can overflow or go negative is checked and returns `Option`; the one
//! multiplication money needs, "amount × part / whole", is done in 128-bit integers and rounds
//! down, so a split never pays out more than it was given.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Atomic units per XMR.
pub const ATOMIC_PER_XMR: u64 = 1_000_000_000_000;

/// An amount of XMR in atomic units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Atomic(pub u64);

impl Atomic {
    pub const ZERO: Atomic = Atomic(0);

    pub fn checked_add(self, other: Atomic) -> Option<Atomic> {
        self.0.checked_add(other.0).map(Atomic)
    }

    pub fn checked_sub(self, other: Atomic) -> Option<Atomic> {
        self.0.checked_sub(other.0).map(Atomic)
    }

    pub fn saturating_sub(self, other: Atomic) -> Atomic {
        Atomic(self.0.saturating_sub(other.0))
    }

    /// `self × part / whole`, rounded down. `None` when `whole` is zero or the result does not
    /// fit (it always fits when `part <= whole`).
    pub fn mul_div(self, part: u128, whole: u128) -> Option<Atomic> {
        if whole == 0 {
            return None;
        }
        // u64 × u128 can overflow u128 only when part > 2^64; fall back to a wider path then.
        let product = (self.0 as u128).checked_mul(part);
        let quotient = match product {
            Some(p) => p / whole,
            None => wide_mul_div(self.0, part, whole)?,
        };
        u64::try_from(quotient).ok().map(Atomic)
    }

    /// The fee part of this amount at `rate`, rounded down.
    pub fn fee(self, rate: Bps) -> Atomic {
        // rate <= 10_000, so the result never exceeds self.
        Atomic(((self.0 as u128 * rate.0 as u128) / Bps::WHOLE as u128) as u64)
    }

    /// Parses a decimal XMR string ("0.3", "1", "0.000001") into atomic units exactly.
    pub fn from_xmr_str(text: &str) -> Option<Atomic> {
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return None;
        }
        if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 12 {
            return None;
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut frac_units: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        for _ in frac.len()..12 {
            frac_units *= 10;
        }
        whole
            .checked_mul(ATOMIC_PER_XMR)?
            .checked_add(frac_units)
            .map(Atomic)
    }
}

fn wide_mul_div(a: u64, b: u128, c: u128) -> Option<u128> {
    use primitive_types::U256;
    let r = U256::from(a) * U256::from(b) / U256::from(c);
    (r <= U256::from(u128::MAX)).then(|| r.as_u128())
}

impl fmt::Display for Atomic {
    /// Formats as XMR with 12 decimals, e.g. `0.300000000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:012}",
            self.0 / ATOMIC_PER_XMR,
            self.0 % ATOMIC_PER_XMR
        )
    }
}

impl std::iter::Sum for Atomic {
    /// Sums amounts; panics on overflow, which 2^64 atomic units (18 million XMR) cannot reach
    /// from real balances.
    fn sum<I: Iterator<Item = Atomic>>(iter: I) -> Atomic {
        iter.fold(Atomic::ZERO, |a, b| {
            a.checked_add(b).expect("Atomic sum overflow")
        })
    }
}

/// A rate in basis points: 100 bps = 1 %, 10,000 bps = 100 %.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bps(pub u16);

impl Bps {
    pub const WHOLE: u16 = 10_000;

    /// A rate, or `None` above 100 %.
    pub fn new(bps: u16) -> Option<Bps> {
        (bps <= Self::WHOLE).then_some(Bps(bps))
    }

    /// Parses a percentage with up to two decimals ("0.6", "6.5", "1") into basis points.
    pub fn from_percent_str(text: &str) -> Option<Bps> {
        let atomic = Atomic::from_xmr_str(text)?;
        // "0.6" -> 0.6 * 10^12 atomic; percent * 100 = bps -> atomic / 10^10.
        if atomic.0 % 10_000_000_000 != 0 {
            return None;
        }
        u16::try_from(atomic.0 / 10_000_000_000)
            .ok()
            .and_then(Bps::new)
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_xmr_strings_exactly() {
        assert_eq!(Atomic::from_xmr_str("0.3"), Some(Atomic(300_000_000_000)));
        assert_eq!(Atomic::from_xmr_str("1"), Some(Atomic(ATOMIC_PER_XMR)));
        assert_eq!(Atomic::from_xmr_str(".000001"), Some(Atomic(1_000_000)));
        assert_eq!(Atomic::from_xmr_str("0.0000000000001"), None);
        assert_eq!(Atomic::from_xmr_str("-1"), None);
        assert_eq!(Atomic::from_xmr_str("1e3"), None);
        assert_eq!(Atomic::from_xmr_str(""), None);
        assert_eq!(Atomic::from_xmr_str("."), None);
        assert_eq!(Atomic::from_xmr_str("99999999999"), None);
    }

    #[test]
    fn parses_percentages_into_basis_points() {
        assert_eq!(Bps::from_percent_str("0.6"), Some(Bps(60)));
        assert_eq!(Bps::from_percent_str("6.5"), Some(Bps(650)));
        assert_eq!(Bps::from_percent_str("100"), Some(Bps(10_000)));
        assert_eq!(Bps::from_percent_str("100.01"), None);
        assert_eq!(Bps::from_percent_str("0.001"), None);
    }

    proptest! {
        #[test]
        fn mul_div_never_exceeds_the_whole(amount in any::<u64>(), part in any::<u64>(), extra in any::<u64>()) {
            let whole = part as u128 + extra as u128;
            prop_assume!(whole > 0);
            let share = Atomic(amount).mul_div(part as u128, whole).unwrap();
            prop_assert!(share <= Atomic(amount));
        }

        #[test]
        fn fee_is_at_most_the_amount(amount in any::<u64>(), bps in 0u16..=10_000) {
            prop_assert!(Atomic(amount).fee(Bps(bps)) <= Atomic(amount));
        }
    }
}
