//! Payout batch value types: [`BatchStatus`], the batch state machine (one enum and its
//! transition table), and [`BatchKind`], how a batch is sent.
//!
//! They live here, below the roles, because two layers name them: the `payments` role decides
//! transitions and `store::mysql::payouts` persists them with a compare-and-swap
//! (`UPDATE .. WHERE id = ? AND status = ?`) after asking [`BatchStatus::can_become`]; the
//! store must not depend on a role. No I/O. `payments::batch` and `payments::planner`
//! re-export them.

use std::fmt;
use std::str::FromStr;

/// Where a payout batch stands. Stored as `payout_batches.status`.
///
/// | from           | to             | when                                                                    |
/// |----------------|----------------|-------------------------------------------------------------------------|
/// | (new)          | `Reserved`     | items and balance reservations committed; the wallet not called yet     |
/// | `Reserved`     | `Signed`       | the wallet signed with `do_not_relay`; tx hash, metadata, fee and key are committed **with** the balance debits and the `transactions`/`payments` rows |
/// | `Reserved`     | `Released`     | the wallet refused (funds, bad destination, down), or recovery finds a reservation with no signed tx: reservations dropped, balances untouched |
/// | `Reserved`     | `Held`         | operator `hold` before signing                                          |
/// | `Signed`       | `Relayed`      | `relay_tx` accepted it, or the wallet already knows the tx              |
/// | `Signed`       | `HeldSigned`   | operator `hold`: recorded tx, not relayed while held                    |
/// | `Signed`       | `ManualReview` | relay refused because its inputs were spent elsewhere (alert)           |
/// | `Relayed`      | `Confirmed`    | the tx has the configured number of confirmations                       |
/// | `Relayed`      | `ManualReview` | it left the pool unconfirmed and re-relaying is refused (alert)         |
/// | `Held`         | `Reserved`     | operator `retry` of a batch held before signing                         |
/// | `Held`         | `Released`     | operator `release` of a batch held before signing                       |
/// | `HeldSigned`   | `Signed`       | operator `retry` of a batch held after signing (relayed next)           |
/// | `ManualReview` | `Signed`       | operator `retry`: relay the same tx again                               |
/// | `ManualReview` | `Confirmed`    | the tx turned out to be on the chain after all                          |
/// | `ManualReview` | `Reverted`     | operator `release` after the wallet reports the tx failed or unknown: the debits are credited back |
///
/// A `Relayed` tx that left the pool is re-relayed (same metadata, so it cannot double-spend)
/// and stays `Relayed`. `Confirmed`, `Released` and `Reverted` are final. A batch is held in
/// one of two statuses, so that the status alone says whether its tx is signed: `Held` still
/// holds reservations (nothing signed; it may be released or signed later), `HeldSigned` has
/// its debits committed (it may only go back to `Signed` and be relayed, never released and
/// never signed again). Only `Reserved -> Signed` creates debits, and no path leads from a
/// status with debits to one without them except `Reverted`, which needs an operator and the
/// wallet's and the daemon's word that the tx is not in the pool or on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BatchStatus {
    Reserved,
    Signed,
    Relayed,
    Confirmed,
    Released,
    /// Held by the operator before signing: reservations kept, nothing signed.
    Held,
    /// Held by the operator after signing: debits committed, the recorded tx not relayed.
    HeldSigned,
    ManualReview,
    Reverted,
}

use BatchStatus::*;

/// The transition table above, as data.
pub const TRANSITIONS: &[(BatchStatus, BatchStatus)] = &[
    (Reserved, Signed),
    (Reserved, Released),
    (Reserved, Held),
    (Signed, Relayed),
    (Signed, HeldSigned),
    (Signed, ManualReview),
    (Relayed, Confirmed),
    (Relayed, ManualReview),
    (Held, Reserved),
    (Held, Released),
    (HeldSigned, Signed),
    (ManualReview, Signed),
    (ManualReview, Confirmed),
    (ManualReview, Reverted),
];

impl BatchStatus {
    pub const ALL: [BatchStatus; 9] = [
        Reserved,
        Signed,
        Relayed,
        Confirmed,
        Released,
        Held,
        HeldSigned,
        ManualReview,
        Reverted,
    ];

    /// Whether `next` may follow `self`.
    pub fn can_become(self, next: BatchStatus) -> bool {
        TRANSITIONS.contains(&(self, next))
    }

    /// Whether no transition leaves this status.
    pub fn is_final(self) -> bool {
        matches!(self, Confirmed | Released | Reverted)
    }

    /// Whether the balance debits of this batch are committed (a signed tx is recorded and
    /// must never be signed again).
    pub fn has_debits(self) -> bool {
        matches!(
            self,
            Signed | Relayed | Confirmed | HeldSigned | ManualReview
        )
    }

    /// Whether the batch still holds balance reservations (no other batch may draw on them).
    pub fn holds_reservations(self) -> bool {
        matches!(self, Reserved | Held)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reserved => "reserved",
            Signed => "signed",
            Relayed => "relayed",
            Confirmed => "confirmed",
            Released => "released",
            Held => "held",
            HeldSigned => "held_signed",
            ManualReview => "manual_review",
            Reverted => "reverted",
        }
    }
}

/// How a planned batch is sent. Stored as `payout_batches.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKind {
    /// Standard addresses and subaddresses, up to `max_destinations` per transaction.
    Batched,
    /// One integrated address or payment-ID payee in a transaction of its own.
    Single,
}

impl BatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchKind::Batched => "batched",
            BatchKind::Single => "single",
        }
    }

    pub fn parse(text: &str) -> Option<BatchKind> {
        match text {
            "batched" => Some(BatchKind::Batched),
            "single" => Some(BatchKind::Single),
            _ => None,
        }
    }
}

/// A status string that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payout batch status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for BatchStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, VecDeque};

    #[test]
    fn the_happy_path_walks_reserved_signed_relayed_confirmed() {
        let path = [Reserved, Signed, Relayed, Confirmed];
        for w in path.windows(2) {
            assert!(w[0].can_become(w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(Confirmed.is_final());
    }

    #[test]
    fn every_status_is_reachable_from_reserved_and_every_walk_ends_in_a_final_or_operator_status() {
        let mut seen = BTreeSet::from([Reserved]);
        let mut queue = VecDeque::from([Reserved]);
        while let Some(s) = queue.pop_front() {
            for next in BatchStatus::ALL {
                if s.can_become(next) && seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
        assert_eq!(seen, BatchStatus::ALL.into_iter().collect());
        for s in BatchStatus::ALL {
            let exits = BatchStatus::ALL
                .iter()
                .filter(|n| s.can_become(**n))
                .count();
            assert_eq!(exits == 0, s.is_final(), "{s}");
        }
    }

    #[test]
    fn a_batch_with_debits_never_goes_back_to_one_without_except_by_reverting() {
        for (from, to) in TRANSITIONS {
            if from.has_debits() && !to.has_debits() {
                assert_eq!(*to, Reverted, "{from} -> {to} would drop debits");
            }
            assert_ne!(from, to);
        }
        // Held after signing resumes only as Signed, never Released.
        assert!(!Signed.can_become(Released));
        assert!(!HeldSigned.can_become(Released));
        assert!(!Relayed.can_become(Released));
        assert!(!Relayed.can_become(Signed));
    }

    /// Every status reachable from `from` by any walk of the table (not `from` itself unless
    /// a cycle leads back to it).
    fn reachable(from: BatchStatus) -> BTreeSet<BatchStatus> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([from]);
        while let Some(s) = queue.pop_front() {
            for next in BatchStatus::ALL {
                if s.can_become(next) && seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
        seen
    }

    #[test]
    fn every_transition_keeps_debits_and_reservations_apart_and_a_signed_batch_is_never_signed_again()
     {
        for s in BatchStatus::ALL {
            assert!(
                !(s.has_debits() && s.holds_reservations()),
                "{s} both holds reservations and has debits"
            );
        }
        for (from, to) in TRANSITIONS {
            // Debits appear once, when the wallet's signature is recorded.
            if !from.has_debits() && to.has_debits() {
                assert_eq!(
                    (*from, *to),
                    (Reserved, Signed),
                    "{from} -> {to} creates debits"
                );
            }
            // Debits go only by an operator's revert.
            if from.has_debits() && !to.has_debits() {
                assert_eq!(*to, Reverted, "{from} -> {to} drops debits");
            }
            // Reservations come back only to a batch that never had debits.
            if to.holds_reservations() {
                assert!(from.holds_reservations(), "{from} -> {to} reserves again");
            }
        }
        // Whatever the operator does, a batch with debits (held or not) never reaches a
        // status it could be released or signed from.
        for s in BatchStatus::ALL.into_iter().filter(|s| s.has_debits()) {
            let ahead = reachable(s);
            for forbidden in [Reserved, Held, Released] {
                assert!(!ahead.contains(&forbidden), "{s} can reach {forbidden}");
            }
        }
        assert!(Signed.can_become(HeldSigned) && HeldSigned.can_become(Signed));
        assert!(Reserved.can_become(Held) && Held.can_become(Released));
    }

    #[test]
    fn nothing_leaves_a_final_status_and_signing_happens_once() {
        for s in [Confirmed, Released, Reverted] {
            for n in BatchStatus::ALL {
                assert!(!s.can_become(n), "{s} -> {n}");
            }
        }
        let into_signed: BTreeSet<_> = TRANSITIONS
            .iter()
            .filter(|(_, to)| *to == Signed)
            .map(|(from, _)| *from)
            .collect();
        assert_eq!(
            into_signed,
            BTreeSet::from([Reserved, HeldSigned, ManualReview])
        );
    }

    #[test]
    fn status_names_round_trip_and_unknown_names_are_refused() {
        for s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>(), Ok(s));
        }
        assert!("paid".parse::<BatchStatus>().is_err());
        assert!("".parse::<BatchStatus>().is_err());
    }

    #[test]
    fn batch_kind_names_round_trip_and_unknown_names_are_refused() {
        for kind in [BatchKind::Batched, BatchKind::Single] {
            assert_eq!(BatchKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(BatchKind::parse("bulk"), None);
    }
}
