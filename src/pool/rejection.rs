//! Every way the pool says "no" to a miner, as values.
//!
//! A rejection is normal traffic: it is counted (per variant, process-wide, lock-free) and sent
//! to the miner with nodejs-pool's exact error string (reference §2.8) so that miners and
//! proxies that match on those strings keep working. This module decides nothing; the
//! protocol, login and share paths pick the variant.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a request was refused. `miner_message()` is the string sent in `error.message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The source IP is under a temporary or permanent ban.
    IpBanned,
    /// `login` without `login` (or without `pass` where a password is required).
    NoLogin,
    /// More than one `+` in the login field.
    TooManyLoginOptions,
    /// More than one `:` in the password field.
    TooManyPasswordOptions,
    /// The address does not parse or belongs to another network.
    InvalidAddress,
    /// The address is in the `bans` table.
    BannedAddress,
    /// An exchange address (configured in MySQL) given without a payment ID.
    ExchangeNeedsPaymentId,
    /// A dotted login part that looks like a mistyped payment ID (all hex, 15–70 characters,
    /// not 16), or an ID-like part after the worker name.
    InvalidPaymentId,
    /// A long (64-hex) payment ID at login: no wallet sends these any more.
    LongPaymentId,
    /// A payment ID with a subaddress or an integrated address (only a standard address can
    /// be joined to one).
    PaymentIdNeedsStandardAddress,
    /// No template yet (daemon down or not synced).
    NoTemplate,
    /// A method other than `login` before a successful login.
    Unauthenticated,
    /// `job_id` is not one of the session's recent jobs.
    InvalidJobId,
    /// The same nonce twice for one job.
    DuplicateShare,
    /// The nonce is not 8 hex characters (nodejs-pool answers "Duplicate share").
    MalformedNonce,
    /// The job's template is older than the kept templates.
    BlockExpired,
    /// The hash does not meet the job's difficulty.
    LowDifficulty,
    /// The submitted `result` is not the hash of the blob (a wrong or forged hash).
    WrongHash,
    /// The share names an algorithm this pool does not mine.
    WrongAlgo,
    /// Too many requests of one method in a short time (token bucket).
    RateLimited,
    /// Unknown `method`.
    UnknownMethod,
    /// `params` missing, of the wrong type, or with fields of the wrong type.
    InvalidParams,
    /// The PoW verifier queue is full; the share is neither credited nor counted as bad, and
    /// its nonce may be sent again.
    Overloaded,
    /// A second `login` on a connection that is already logged in.
    AlreadyLoggedIn,
}

impl Rejection {
    /// Every variant, in counter order.
    pub const ALL: [Rejection; 24] = [
        Rejection::IpBanned,
        Rejection::NoLogin,
        Rejection::TooManyLoginOptions,
        Rejection::TooManyPasswordOptions,
        Rejection::InvalidAddress,
        Rejection::BannedAddress,
        Rejection::ExchangeNeedsPaymentId,
        Rejection::InvalidPaymentId,
        Rejection::LongPaymentId,
        Rejection::PaymentIdNeedsStandardAddress,
        Rejection::NoTemplate,
        Rejection::Unauthenticated,
        Rejection::InvalidJobId,
        Rejection::DuplicateShare,
        Rejection::MalformedNonce,
        Rejection::BlockExpired,
        Rejection::LowDifficulty,
        Rejection::WrongHash,
        Rejection::WrongAlgo,
        Rejection::RateLimited,
        Rejection::UnknownMethod,
        Rejection::InvalidParams,
        Rejection::Overloaded,
        Rejection::AlreadyLoggedIn,
    ];

    /// The text sent to the miner (nodejs-pool's strings where it has one).
    pub fn miner_message(self) -> &'static str {
        match self {
            Rejection::IpBanned => "IP Address currently banned",
            Rejection::NoLogin => "No login/password specified",
            Rejection::TooManyLoginOptions => "Too many options in the login field",
            Rejection::TooManyPasswordOptions => "Too many options in the password field",
            Rejection::InvalidAddress => "Invalid payment address provided",
            Rejection::BannedAddress => "Banned payment address provided",
            Rejection::ExchangeNeedsPaymentId => "Exchange addresses need payment IDs",
            Rejection::InvalidPaymentId => "Invalid payment ID",
            Rejection::LongPaymentId => {
                "Long (64-hex) payment IDs are no longer supported: use an integrated address or a 16-hex payment ID"
            }
            Rejection::PaymentIdNeedsStandardAddress => {
                "Payment IDs need a standard address (not a subaddress or an integrated address)"
            }
            Rejection::NoTemplate => "No active block template",
            Rejection::Unauthenticated => "Unauthenticated",
            Rejection::InvalidJobId => "Invalid job id",
            Rejection::DuplicateShare | Rejection::MalformedNonce => "Duplicate share",
            Rejection::BlockExpired => "Block expired",
            Rejection::LowDifficulty | Rejection::WrongHash => "Low difficulty share",
            Rejection::WrongAlgo => "Unsupported algorithm",
            Rejection::RateLimited => "Too many requests, slow down",
            Rejection::UnknownMethod => "Invalid method",
            Rejection::InvalidParams => "Invalid or missing parameters",
            Rejection::Overloaded => "Pool busy, share not verified, retry",
            Rejection::AlreadyLoggedIn => "Already logged in",
        }
    }

    /// Whether this rejection counts as an invalid share for the ban ratio and breaks trust.
    pub fn is_bad_share(self) -> bool {
        matches!(
            self,
            Rejection::DuplicateShare
                | Rejection::MalformedNonce
                | Rejection::LowDifficulty
                | Rejection::WrongHash
        )
    }

    /// A short, stable name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::IpBanned => "ip_banned",
            Rejection::NoLogin => "no_login",
            Rejection::TooManyLoginOptions => "too_many_login_options",
            Rejection::TooManyPasswordOptions => "too_many_password_options",
            Rejection::InvalidAddress => "invalid_address",
            Rejection::BannedAddress => "banned_address",
            Rejection::ExchangeNeedsPaymentId => "exchange_needs_payment_id",
            Rejection::InvalidPaymentId => "invalid_payment_id",
            Rejection::LongPaymentId => "long_payment_id",
            Rejection::PaymentIdNeedsStandardAddress => "payment_id_needs_standard_address",
            Rejection::NoTemplate => "no_template",
            Rejection::Unauthenticated => "unauthenticated",
            Rejection::InvalidJobId => "invalid_job_id",
            Rejection::DuplicateShare => "duplicate_share",
            Rejection::MalformedNonce => "malformed_nonce",
            Rejection::BlockExpired => "block_expired",
            Rejection::LowDifficulty => "low_difficulty",
            Rejection::WrongHash => "wrong_hash",
            Rejection::WrongAlgo => "wrong_algo",
            Rejection::RateLimited => "rate_limited",
            Rejection::UnknownMethod => "unknown_method",
            Rejection::InvalidParams => "invalid_params",
            Rejection::Overloaded => "overloaded",
            Rejection::AlreadyLoggedIn => "already_logged_in",
        }
    }

    fn index(self) -> usize {
        Rejection::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// Process-wide rejection counters, one per variant.
#[derive(Debug, Default)]
pub struct RejectionCounters {
    counts: [AtomicU64; Rejection::ALL.len()],
}

impl RejectionCounters {
    pub fn count(&self, rejection: Rejection) {
        self.counts[rejection.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, rejection: Rejection) -> u64 {
        self.counts[rejection.index()].load(Ordering::Relaxed)
    }

    /// Every non-zero counter with its name.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Rejection::ALL
            .iter()
            .map(|r| (r.name(), self.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miner_messages_keep_nodejs_pool_strings_that_xmrig_matches_on() {
        assert_eq!(Rejection::InvalidJobId.miner_message(), "Invalid job id");
        assert_eq!(
            Rejection::Unauthenticated.miner_message(),
            "Unauthenticated"
        );
        assert_eq!(Rejection::MalformedNonce.miner_message(), "Duplicate share");
        assert_eq!(Rejection::WrongHash.miner_message(), "Low difficulty share");
        assert_eq!(
            Rejection::IpBanned.miner_message(),
            "IP Address currently banned"
        );
    }

    #[test]
    fn counters_count_each_variant_separately() {
        let counters = RejectionCounters::default();
        for (i, r) in Rejection::ALL.iter().enumerate() {
            for _ in 0..=i {
                counters.count(*r);
            }
        }
        for (i, r) in Rejection::ALL.iter().enumerate() {
            assert_eq!(counters.get(*r), i as u64 + 1, "{}", r.name());
        }
        assert_eq!(counters.snapshot().len(), Rejection::ALL.len());
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Rejection::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rejection::ALL.len());
    }
}
