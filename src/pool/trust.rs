//! Share trust in MoneroOcean's hardened form (reference §3.2), kept process-wide per payout
//! address AND per IP: a miner that has sent enough verified shares may have a share credited
//! without hashing it, with a probability that grows per accepted share up to a ceiling.
//!
//! Owns the trust state of this pool process ([`TrustBook`]) and the decision for each share
//! ([`Decision`]). It does no I/O and hashes nothing (`validate` does both); its randomness
//! comes through the [`TrustDraw`] seam, so tests drive every path.
//!
//! Rules enforced here:
//! - a share is skipped (credited unhashed) only if BOTH its address and its IP have earned
//!   trust (`threshold` verified shares, no bad share since); shares at or above
//!   `max_difficulty`, claimed block candidates and claimed hashes that miss the job target
//!   are always hashed before the reply;
//! - one random byte is drawn per trusted share; below the stricter (higher) of the two
//!   verify probabilities the share is SAMPLED: hashed after its reply and credited only if
//!   its hash holds. A sampled share is never credited unchecked: if the verifier cannot take
//!   it, the miner is told "Overloaded, retry" and the key owes a sample (its next share is
//!   sampled whatever the draw, so an overload cannot turn a sample into a fresh draw);
//! - a failed check (a hash that is not the claimed one) ends the trust of the address AND the
//!   IP, process-wide: reconnecting, or coming back under another address or from another
//!   IP, starts untrusted, with `penalty` more verified shares to earn;
//! - at most [`MAX_SKIPS_WHILE_CHECKING`] shares of a key are skipped between the start of
//!   its oldest check in flight and now; past that, its shares are sampled too (the budget
//!   counts from the oldest check still running, so a burst of samples ends as soon as the
//!   checks before it do). The session that sent a sampled share waits for its check
//!   before it handles its next share.
//!
//! **The bound.** After trust is earned each share is sampled with probability at least
//! `p = trustMin / 256`, independently of the miner. A faker's fake shares are credited only
//! while skipped: the number skipped before the first sampled fake is geometric, with mean at
//! most `(1 - p) / p`; while that one check is in flight at most
//! [`MAX_SKIPS_WHILE_CHECKING`] more are skipped (from other connections; the connection that
//! sent it waits for the check); then the address and the IP are untrusted. So the expected
//! fake credit per trust earned, per address and per IP, is at most
//! `(256 - trustMin) / trustMin + 16` shares, each below `trustMaxDifficulty`; with the
//! defaults (trustMin 20) 11.8 + 16 ≈ 28 shares, and 11.8 from a single connection however
//! many lines it pipelines. Earning trust back takes `threshold + penalty` verified (real)
//! shares, and the probability then starts again from 256/256. A `trustMin` of 0 is taken
//! as 1 (a floor of 0 would allow unbounded skipping).
//!
//! The book is bounded: [`MAX_ENTRIES`] addresses and as many IPs; an entry unused for
//! [`ENTRY_EXPIRY_MS`] is dropped when room is needed (a full map is swept at most once a
//! second). A share whose key cannot get an entry is hashed (a full book never grants trust;
//! a dropped entry starts untrusted again). Keys are payout keys (`address` or
//! `address.paymentid`) and single IPs: a new key of either kind earns trust from scratch.

use crate::domain::UnixMillis;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Shares of one key skipped after its oldest check in flight began, at most; the ones after
/// are sampled. Bounds what concurrent connections of a faker gain in one check's time.
pub const MAX_SKIPS_WHILE_CHECKING: u32 = 16;

/// Keys of each kind (addresses, IPs) the book holds at most.
pub const MAX_ENTRIES: usize = 1 << 16;

/// An entry unused this long may be dropped (a revoked key keeps its penalty at least this
/// long after its last share).
pub const ENTRY_EXPIRY_MS: u64 = 6 * 60 * 60 * 1000;

/// Trust settings (MySQL `pool.trust*` items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustConfig {
    /// `pool.trustedMiners`.
    pub enabled: bool,
    /// `pool.trustThreshold`: verified shares before any share may be skipped.
    pub threshold: u32,
    /// `pool.trustMin`: the verify probability never drops below `min / 256`.
    pub min: u16,
    /// `pool.trustChange`: each accepted share lowers the verify probability by this / 256.
    pub change: u16,
    /// `pool.trustPenalty`: extra verified shares required after a bad share.
    pub penalty: u32,
    /// `pool.trustMaxDifficulty`: shares of this job difficulty or more are always verified.
    pub max_difficulty: u64,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            enabled: true,
            threshold: 30,
            min: 20,
            change: 1,
            penalty: 30,
            max_difficulty: 400_000,
        }
    }
}

impl TrustConfig {
    /// The documented bound: expected fake shares credited per trust earned, per address and
    /// per IP, in hundredths of a share (`(256 - min) / min + MAX_SKIPS_WHILE_CHECKING`).
    pub fn expected_fake_bound_centi(&self) -> u64 {
        let min = u64::from(self.min.clamp(1, 256));
        (256 - min) * 100 / min + u64::from(MAX_SKIPS_WHILE_CHECKING) * 100
    }
}

/// The trust draw: one uniformly random byte per trusted share.
pub trait TrustDraw: Send + Sync + std::fmt::Debug {
    fn draw(&self) -> u8;
}

/// The real draw (the thread's CSPRNG).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomDraw;

impl TrustDraw for RandomDraw {
    fn draw(&self) -> u8 {
        rand::random()
    }
}

/// The trust of one key (an address or an IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// Verified shares still needed.
    remaining: u32,
    /// Verify probability × 256 (256 = always).
    probability: u16,
}

impl Trust {
    pub fn new(config: &TrustConfig) -> Trust {
        Trust {
            remaining: config.threshold,
            probability: 256,
        }
    }

    /// An accepted share; `verified` says whether it was hashed.
    pub fn accepted(&mut self, config: &TrustConfig, verified: bool) {
        if verified {
            self.remaining = self.remaining.saturating_sub(1);
        }
        if self.remaining == 0 {
            self.probability = self
                .probability
                .saturating_sub(config.change)
                .max(config.min.clamp(1, 256));
        }
    }

    /// A bad share: trust starts over, with the penalty on top.
    pub fn broken(&mut self, config: &TrustConfig) {
        self.remaining = config.threshold.saturating_add(config.penalty);
        self.probability = 256;
    }

    /// Whether the key has earned trust: its verified shares reached the threshold and no
    /// bad share has happened since.
    pub fn is_trusted(&self) -> bool {
        self.remaining == 0
    }
}

/// What to do with one share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hash it before the reply.
    Verify,
    /// Hash it after the reply (a spot check); credit it only if its hash holds.
    Sample(Ticket),
    /// Credit it without hashing.
    Skip,
}

/// Whose share it is: the two keys trust is kept under.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub address: &'a Arc<str>,
    pub ip: IpAddr,
}

/// What a share claims, for the parts of the decision that do not depend on the miner.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub job_difficulty: u64,
    /// The claimed hash would be a block, or misses the job target: hashed before the reply.
    pub must_hash: bool,
}

/// How a sampled or hashed share turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hashed and its hash is the claimed one.
    Good,
    /// Hashed and its hash is not the claimed one: trust ends for the address and the IP.
    WrongHash,
    /// Refused as a bad share without proof of a lie (duplicate, malformed nonce, low
    /// difficulty): the address's trust starts over.
    Bad,
    /// The verifier could not take a sampled share: nothing credited, a sample is owed.
    Overloaded,
}

/// A sampled share's check in flight, named so that its end finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

#[derive(Debug)]
struct Entry {
    trust: Trust,
    /// Checks in flight, oldest first: (ticket, `skips` when the check started).
    checks: std::collections::VecDeque<(Ticket, u64)>,
    /// Shares of this key skipped, ever.
    skips: u64,
    /// A sample the verifier could not take: the next share is sampled whatever the draw.
    owes_sample: bool,
    last_seen: UnixMillis,
}

impl Entry {
    fn new(config: &TrustConfig, now: UnixMillis) -> Entry {
        Entry {
            trust: Trust::new(config),
            checks: std::collections::VecDeque::new(),
            skips: 0,
            owes_sample: false,
            last_seen: now,
        }
    }

    /// No sample owed, and fewer than [`MAX_SKIPS_WHILE_CHECKING`] skips since the oldest
    /// check in flight started (so fewer since any check in flight started).
    fn may_skip(&self) -> bool {
        !self.owes_sample
            && self
                .checks
                .front()
                .is_none_or(|(_, at)| self.skips - at < u64::from(MAX_SKIPS_WHILE_CHECKING))
    }

    fn check_ended(&mut self, decision: Decision) {
        if let Decision::Sample(ticket) = decision {
            self.checks.retain(|(t, _)| *t != ticket);
        }
    }

    fn apply(&mut self, config: &TrustConfig, decision: Decision, verdict: Verdict) {
        self.check_ended(decision);
        match verdict {
            Verdict::Good => self.trust.accepted(config, true),
            Verdict::WrongHash | Verdict::Bad => self.trust.broken(config),
            Verdict::Overloaded => self.owes_sample = true,
        }
    }
}

/// One kind of key, bounded.
#[derive(Debug)]
struct Entries<K> {
    map: HashMap<K, Entry>,
    /// When a full map was last swept for expired entries (at most once a second).
    swept: UnixMillis,
}

impl<K: Hash + Eq + Clone> Entries<K> {
    fn new() -> Self {
        Entries {
            map: HashMap::new(),
            swept: UnixMillis(0),
        }
    }

    /// The entry of `key`, created if there is room (after dropping expired ones).
    fn entry(&mut self, key: &K, config: &TrustConfig, now: UnixMillis) -> Option<&mut Entry> {
        if !self.map.contains_key(key) {
            if self.map.len() >= MAX_ENTRIES && now.0.saturating_sub(self.swept.0) >= 1000 {
                self.swept = now;
                self.map.retain(|_, e| {
                    !e.checks.is_empty() || now.0.saturating_sub(e.last_seen.0) < ENTRY_EXPIRY_MS
                });
            }
            if self.map.len() >= MAX_ENTRIES {
                return None;
            }
            self.map.insert(key.clone(), Entry::new(config, now));
        }
        let entry = self.map.get_mut(key)?;
        entry.last_seen = now;
        Some(entry)
    }
}

#[derive(Debug)]
struct Book {
    addresses: Entries<Arc<str>>,
    ips: Entries<IpAddr>,
    next_ticket: u64,
}

/// The process's trust state, per address and per IP. Shared by every session.
#[derive(Debug)]
pub struct TrustBook {
    book: Mutex<Book>,
    draw: Box<dyn TrustDraw>,
}

impl Default for TrustBook {
    fn default() -> Self {
        TrustBook::new(Box::new(RandomDraw))
    }
}

impl TrustBook {
    pub fn new(draw: Box<dyn TrustDraw>) -> TrustBook {
        TrustBook {
            book: Mutex::new(Book {
                addresses: Entries::new(),
                ips: Entries::new(),
                next_ticket: 0,
            }),
            draw,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        match self.book.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Decides how one share is checked. A `Sample` must be followed by exactly one
    /// [`TrustBook::settle`] with that decision (its check in flight is counted).
    pub fn decide(
        &self,
        config: &TrustConfig,
        who: Who<'_>,
        claim: Claim,
        now: UnixMillis,
    ) -> Decision {
        if !config.enabled || claim.must_hash || claim.job_difficulty >= config.max_difficulty {
            return Decision::Verify;
        }
        let mut book = self.lock();
        let Book {
            addresses,
            ips,
            next_ticket,
        } = &mut *book;
        let (Some(a), Some(i)) = (
            addresses.entry(who.address, config, now),
            ips.entry(&who.ip, config, now),
        ) else {
            return Decision::Verify;
        };
        if !a.trust.is_trusted() || !i.trust.is_trusted() {
            return Decision::Verify;
        }
        let probability = a.trust.probability.max(i.trust.probability);
        let skip = a.may_skip() && i.may_skip() && u16::from(self.draw.draw()) >= probability;
        *next_ticket += 1;
        let ticket = Ticket(*next_ticket);
        for e in [a, i] {
            if skip {
                e.skips += 1;
                e.trust.accepted(config, false);
            } else {
                e.owes_sample = false;
                e.checks.push_back((ticket, e.skips));
            }
        }
        if skip {
            Decision::Skip
        } else {
            Decision::Sample(ticket)
        }
    }

    /// How a share decided `decision` (`Verify` or `Sample`) turned out. `WrongHash` ends
    /// the trust of the address and the IP; `Bad` that of the address.
    pub fn settle(
        &self,
        config: &TrustConfig,
        who: Who<'_>,
        decision: Decision,
        verdict: Verdict,
        now: UnixMillis,
    ) {
        if decision == Decision::Skip {
            return;
        }
        let mut book = self.lock();
        let Book { addresses, ips, .. } = &mut *book;
        if let Some(a) = addresses.entry(who.address, config, now) {
            a.apply(config, decision, verdict);
        }
        if let Some(i) = ips.entry(&who.ip, config, now) {
            match verdict {
                // A duplicate or low-difficulty share is the address's business (the IP may
                // be shared by many honest rigs); a wrong hash is a lie: the IP loses trust.
                Verdict::Bad => i.check_ended(decision),
                v => i.apply(config, decision, v),
            }
        }
    }

    /// Whether the address, and the IP, have earned trust (for tests and the API).
    pub fn is_trusted(&self, address: &str, ip: IpAddr) -> (bool, bool) {
        let book = self.lock();
        let a = book
            .addresses
            .map
            .get(address)
            .is_some_and(|e| e.trust.is_trusted());
        let i = book.ips.map.get(&ip).is_some_and(|e| e.trust.is_trusted());
        (a, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::net::Ipv4Addr;

    /// Draws from a script; 255 (skip) once it runs out.
    #[derive(Debug, Default)]
    struct Script(Mutex<VecDeque<u8>>);

    impl Script {
        fn of(draws: &[u8]) -> Box<Script> {
            Box::new(Script(Mutex::new(draws.iter().copied().collect())))
        }
    }

    impl TrustDraw for Script {
        fn draw(&self) -> u8 {
            self.0.lock().unwrap().pop_front().unwrap_or(255)
        }
    }

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    const NOW: UnixMillis = UnixMillis(1_000);
    const SHARE: Claim = Claim {
        job_difficulty: 1000,
        must_hash: false,
    };

    fn config() -> TrustConfig {
        TrustConfig {
            threshold: 3,
            min: 64,
            change: 256,
            penalty: 2,
            ..TrustConfig::default()
        }
    }

    fn sampled(d: Decision) -> bool {
        matches!(d, Decision::Sample(_))
    }

    fn who(address: &Arc<str>, ip: IpAddr) -> Who<'_> {
        Who { address, ip }
    }

    /// Verified shares until the key pair is trusted.
    fn earn(book: &TrustBook, config: &TrustConfig, w: Who<'_>) {
        for _ in 0..100 {
            if book.is_trusted(w.address, w.ip) == (true, true) {
                return;
            }
            let d = book.decide(config, w, SHARE, NOW);
            assert_eq!(d, Decision::Verify);
            book.settle(config, w, d, Verdict::Good, NOW);
        }
        panic!("trust never earned");
    }

    #[test]
    fn untrusted_miners_are_always_verified_until_the_threshold() {
        let config = config();
        let book = TrustBook::new(Script::of(&[]));
        let a: Arc<str> = "addr".into();
        for _ in 0..3 {
            let d = book.decide(&config, who(&a, IP), SHARE, NOW);
            assert_eq!(d, Decision::Verify);
            book.settle(&config, who(&a, IP), d, Verdict::Good, NOW);
        }
        assert_eq!(book.is_trusted("addr", IP), (true, true));
        assert_eq!(
            book.decide(&config, who(&a, IP), SHARE, NOW),
            Decision::Skip
        );
    }

    #[test]
    fn the_draw_below_the_floor_samples_and_above_it_skips() {
        let config = config();
        let book = TrustBook::new(Script::of(&[64, 63]));
        let a: Arc<str> = "addr".into();
        earn(&book, &config, who(&a, IP));
        assert_eq!(
            book.decide(&config, who(&a, IP), SHARE, NOW),
            Decision::Skip
        );
        let d = book.decide(&config, who(&a, IP), SHARE, NOW);
        assert!(sampled(d));
        book.settle(&config, who(&a, IP), d, Verdict::Good, NOW);
        assert_eq!(book.is_trusted("addr", IP), (true, true));
    }

    #[test]
    fn block_candidates_high_difficulty_and_trust_off_are_always_hashed_first() {
        let config = config();
        let book = TrustBook::new(Script::of(&[]));
        let a: Arc<str> = "addr".into();
        earn(&book, &config, who(&a, IP));
        let block = Claim {
            must_hash: true,
            ..SHARE
        };
        let high = Claim {
            job_difficulty: config.max_difficulty,
            ..SHARE
        };
        assert_eq!(
            book.decide(&config, who(&a, IP), block, NOW),
            Decision::Verify
        );
        assert_eq!(
            book.decide(&config, who(&a, IP), high, NOW),
            Decision::Verify
        );
        let off = TrustConfig {
            enabled: false,
            ..config
        };
        assert_eq!(book.decide(&off, who(&a, IP), SHARE, NOW), Decision::Verify);
    }

    #[test]
    fn a_failed_check_ends_trust_for_the_address_and_the_ip_alike() {
        let config = config();
        let book = TrustBook::new(Script::of(&[0]));
        let a: Arc<str> = "addr".into();
        let b: Arc<str> = "other".into();
        earn(&book, &config, who(&a, IP));
        earn(&book, &config, who(&b, IP2));
        let d = book.decide(&config, who(&a, IP), SHARE, NOW);
        assert!(sampled(d));
        book.settle(&config, who(&a, IP), d, Verdict::WrongHash, NOW);
        assert_eq!(book.is_trusted("addr", IP), (false, false));
        // The address from a trusted IP, and a trusted address from the IP: both hashed.
        assert_eq!(
            book.decide(&config, who(&a, IP2), SHARE, NOW),
            Decision::Verify
        );
        assert_eq!(
            book.decide(&config, who(&b, IP), SHARE, NOW),
            Decision::Verify
        );
        // Until threshold + penalty verified shares from the pair.
        for _ in 0..4 {
            let d = book.decide(&config, who(&a, IP), SHARE, NOW);
            assert_eq!(d, Decision::Verify);
            book.settle(&config, who(&a, IP), d, Verdict::Good, NOW);
        }
        assert_eq!(
            book.decide(&config, who(&a, IP), SHARE, NOW),
            Decision::Verify
        );
        let d = book.decide(&config, who(&a, IP), SHARE, NOW);
        book.settle(&config, who(&a, IP), d, Verdict::Good, NOW);
        assert_eq!(book.is_trusted("addr", IP), (true, true));
    }

    #[test]
    fn a_duplicate_resets_the_address_but_not_the_shared_ip() {
        let config = config();
        let book = TrustBook::new(Script::of(&[]));
        let a: Arc<str> = "addr".into();
        earn(&book, &config, who(&a, IP));
        book.settle(&config, who(&a, IP), Decision::Verify, Verdict::Bad, NOW);
        assert_eq!(book.is_trusted("addr", IP), (false, true));
    }

    #[test]
    fn an_overloaded_sample_is_owed_so_the_retry_is_sampled_whatever_the_draw() {
        let config = config();
        // First draw samples; every later draw would skip.
        let book = TrustBook::new(Script::of(&[0]));
        let a: Arc<str> = "addr".into();
        earn(&book, &config, who(&a, IP));
        let d = book.decide(&config, who(&a, IP), SHARE, NOW);
        assert!(sampled(d));
        book.settle(&config, who(&a, IP), d, Verdict::Overloaded, NOW);
        assert_eq!(book.is_trusted("addr", IP), (true, true), "trust kept");
        let d = book.decide(&config, who(&a, IP), SHARE, NOW);
        assert!(sampled(d), "the retry is not a fresh draw");
        book.settle(&config, who(&a, IP), d, Verdict::Good, NOW);
        assert_eq!(
            book.decide(&config, who(&a, IP), SHARE, NOW),
            Decision::Skip
        );
    }

    #[test]
    fn while_a_check_is_in_flight_only_a_bounded_number_of_shares_skip() {
        let config = config();
        let book = TrustBook::new(Script::of(&[0]));
        let a: Arc<str> = "addr".into();
        earn(&book, &config, who(&a, IP));
        let first = book.decide(&config, who(&a, IP), SHARE, NOW);
        assert!(sampled(first));
        let decisions: Vec<Decision> = (0..40)
            .map(|_| book.decide(&config, who(&a, IP), SHARE, NOW))
            .collect();
        let max = MAX_SKIPS_WHILE_CHECKING as usize;
        assert!(decisions[..max].iter().all(|d| *d == Decision::Skip));
        assert!(decisions[max..].iter().all(|d| sampled(*d)));
        // The oldest check ends: the budget counts from the next oldest, which started
        // after the skips, so skipping resumes although 24 checks are still in flight (a
        // burst of samples does not keep a busy miner sampled for ever).
        book.settle(&config, who(&a, IP), first, Verdict::Good, NOW);
        assert_eq!(
            book.decide(&config, who(&a, IP), SHARE, NOW),
            Decision::Skip
        );
        // A check that ends out of order leaves the oldest one in charge.
        let older = decisions[max];
        let newer = decisions[max + 1];
        book.settle(&config, who(&a, IP), newer, Verdict::Good, NOW);
        let more: Vec<Decision> = (0..20)
            .map(|_| book.decide(&config, who(&a, IP), SHARE, NOW))
            .collect();
        let skipped = more.iter().filter(|d| **d == Decision::Skip).count();
        assert_eq!(
            skipped + 1,
            max,
            "16 skips since the oldest check in flight began"
        );
        book.settle(&config, who(&a, IP), older, Verdict::WrongHash, NOW);
        assert_eq!(book.is_trusted("addr", IP), (false, false));
    }

    #[test]
    fn an_unused_entry_expires_only_when_room_is_needed_and_a_full_book_grants_nothing() {
        let config = TrustConfig {
            threshold: 0,
            ..config()
        };
        let book = TrustBook::new(Script::of(&[]));
        let addresses: Vec<Arc<str>> = (0..MAX_ENTRIES).map(|i| i.to_string().into()).collect();
        for a in &addresses {
            let d = book.decide(&config, who(a, IP), SHARE, NOW);
            book.settle(&config, who(a, IP), d, Verdict::Good, NOW);
        }
        // Trusted at once (threshold 0) but for the full book.
        let late: Arc<str> = "late".into();
        assert_eq!(
            book.decide(&config, who(&late, IP), SHARE, NOW),
            Decision::Verify
        );
        let later = UnixMillis(NOW.0 + ENTRY_EXPIRY_MS);
        assert!(sampled(book.decide(&config, who(&late, IP), SHARE, later)));
    }

    #[test]
    fn the_documented_bound_with_the_defaults_is_about_28_shares() {
        assert_eq!(
            TrustConfig::default().expected_fake_bound_centi(),
            1180 + 1600
        );
    }

    proptest! {
        #[test]
        fn block_candidates_are_verified_whatever_the_history(
            events in proptest::collection::vec(0u8..4, 0..300), draws: Vec<u8>
        ) {
            let config = config();
            let book = TrustBook::new(Script::of(&draws));
            let a: Arc<str> = "addr".into();
            for e in events {
                let d = book.decide(&config, who(&a, IP), SHARE, NOW);
                let verdict = [Verdict::Good, Verdict::WrongHash, Verdict::Bad, Verdict::Overloaded][usize::from(e)];
                book.settle(&config, who(&a, IP), d, verdict, NOW);
            }
            let block = Claim { must_hash: true, ..SHARE };
            prop_assert_eq!(book.decide(&config, who(&a, IP), block, NOW), Decision::Verify);
        }

        /// A faker (every share fake) that earned trust, on one connection (each check
        /// ends before its next share): it is credited exactly the shares skipped before
        /// its first sampled one, and then the address and the IP are untrusted.
        #[test]
        fn a_fakers_skipped_shares_end_at_its_first_sample(mut draws: Vec<u8>) {
            draws.push(0);
            let config = config();
            let book = TrustBook::new(Script::of(&draws));
            let a: Arc<str> = "addr".into();
            earn(&book, &config, who(&a, IP));
            let mut skipped = 0;
            loop {
                match book.decide(&config, who(&a, IP), SHARE, NOW) {
                    Decision::Skip => skipped += 1,
                    d => {
                        book.settle(&config, who(&a, IP), d, Verdict::WrongHash, NOW);
                        break;
                    }
                }
            }
            prop_assert_eq!(Some(skipped), draws.iter().position(|d| *d < 64));
            prop_assert_eq!(book.is_trusted("addr", IP), (false, false));
            prop_assert_eq!(book.decide(&config, who(&a, IP), SHARE, NOW), Decision::Verify);
        }
    }
}
