//! The per-IP rate limit: one token bucket per client address, in memory, bounded.
//!
//! A bucket holds up to `burst` tokens and refills at `per_sec` tokens a second; a request
//! takes one token or is refused with the wait until the next one. IPv6 clients are keyed by
//! their /64 (one host usually holds a whole /64, so a client cannot dodge the limit by
//! walking its own prefix). The map holds at most [`MAX_CLIENTS`] buckets: when it is full,
//! buckets that have refilled (idle clients, indistinguishable from new ones) are dropped
//! first, then the least recently seen half. Knows nothing of HTTP: `limits` finds the client
//! address and answers the refusal.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most client buckets kept at once.
pub const MAX_CLIENTS: usize = 65_536;

/// Who a bucket belongs to: a client address (IPv6 by /64), or `None` when the connection's
/// address is unknown (all such requests share one bucket).
pub type ClientKey = Option<IpAddr>;

/// The bucket key of `ip`.
pub fn client_key(ip: Option<IpAddr>) -> ClientKey {
    ip.map(|ip| match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    })
}

/// One token in the buckets' unit (integer arithmetic: a bucket counts millionths).
const TOKEN: u128 = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Millionths of a token.
    tokens: u128,
    last: Instant,
}

/// Token buckets per client. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_sec: u128,
    /// Full bucket, in millionths of a token.
    burst: u128,
    max_clients: usize,
    buckets: Arc<Mutex<HashMap<ClientKey, Bucket>>>,
}

impl RateLimiter {
    /// `None` when `per_sec` is 0 (no limit). A `burst` of 0 is taken as 1.
    pub fn new(per_sec: u32, burst: u32) -> Option<RateLimiter> {
        RateLimiter::with_capacity(per_sec, burst, MAX_CLIENTS)
    }

    /// [`RateLimiter::new`] keeping at most `max_clients` buckets.
    pub fn with_capacity(per_sec: u32, burst: u32, max_clients: usize) -> Option<RateLimiter> {
        (per_sec > 0).then(|| RateLimiter {
            per_sec: u128::from(per_sec),
            burst: u128::from(burst.max(1)) * TOKEN,
            max_clients: max_clients.max(1),
            buckets: Arc::default(),
        })
    }

    /// Takes a token for `client` at `now`; `Err(wait)` when its bucket is empty, with the
    /// time until a token is back.
    pub fn check(&self, client: ClientKey, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(&client) && buckets.len() >= self.max_clients {
            self.evict(&mut buckets, now);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        // ns × tokens/s = 1e-9 tokens = 1e-3 millionths.
        let elapsed = now.saturating_duration_since(bucket.last).as_nanos();
        let refill = elapsed.saturating_mul(self.per_sec) / 1_000;
        bucket.tokens = bucket.tokens.saturating_add(refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= TOKEN {
            bucket.tokens -= TOKEN;
            Ok(())
        } else {
            let nanos = (TOKEN - bucket.tokens) * 1_000 / self.per_sec;
            Err(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(u64::MAX),
            ))
        }
    }

    /// Buckets kept now.
    pub fn clients(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Time for an empty bucket to fill.
    fn refill_time(&self) -> Duration {
        let nanos = self.burst * 1_000 / self.per_sec;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn evict(&self, buckets: &mut HashMap<ClientKey, Bucket>, now: Instant) {
        let refill = self.refill_time();
        buckets.retain(|_, b| now.saturating_duration_since(b.last) < refill);
        if buckets.len() >= self.max_clients {
            let mut seen: Vec<Instant> = buckets.values().map(|b| b.last).collect();
            let half = seen.len() / 2;
            let (_, cut, _) = seen.select_nth_unstable(half);
            let cut = *cut;
            buckets.retain(|_, b| b.last > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> ClientKey {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    #[test]
    fn a_burst_passes_then_the_rate_applies_per_client() {
        let limiter = RateLimiter::new(2, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
        }
        let wait = limiter.check(ip(1), t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another client has its own bucket.
        assert_eq!(limiter.check(ip(2), t0), Ok(()));
        // Half a second later one token is back, not two.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check(ip(1), t1), Ok(()));
        assert!(limiter.check(ip(1), t1).is_err());
    }

    #[test]
    fn zero_per_second_means_no_limit() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(Some(a)), client_key(Some(b)));
        assert_ne!(client_key(Some(a)), client_key(Some(c)));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(Some(mapped)), ip(1));
        assert_eq!(client_key(None), None);
    }

    #[test]
    fn the_map_stays_bounded_and_a_limited_client_is_not_forgotten_first() {
        let limiter = RateLimiter::with_capacity(1, 2, 100).unwrap();
        let t0 = Instant::now();
        // One client empties its bucket first...
        let hot = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
        limiter.check(hot, t0).unwrap();
        limiter.check(hot, t0).unwrap();
        // ...then a flood of new addresses, each a little later.
        for i in 0..1000u32 {
            let key = Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
            let at = t0 + Duration::from_millis(u64::from(i));
            let _ = limiter.check(key, at);
            assert!(limiter.clients() <= 100);
            // The hot client keeps asking, so it is always recent.
            let _ = limiter.check(hot, at);
        }
        // Still limited: its bucket was kept (a new one would start full).
        assert!(limiter.check(hot, t0 + Duration::from_millis(999)).is_err());
    }
}
