//! Abuse control: temporary IP bans from an invalid-share ratio, permanent bans (IPs and
//! addresses from the MySQL `bans` table), per-IP connection caps and per-method token buckets.
//!
//! Owns the in-memory ban state of this pool process. Temporary bans last the configured
//! length (nodejs-pool cleared them every 60 s); permanent bans are replaced wholesale by the
//! periodic MySQL refresh. Time comes in as `now` (no clock reads), so expiry is testable.
//! It does not read MySQL itself; the role's refresher calls [`BanList::replace_permanent`].

use crate::domain::UnixMillis;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

/// Ban settings (MySQL `pool.ban*` items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanConfig {
    /// `pool.banEnabled`.
    pub enabled: bool,
    /// `pool.banThreshold`: shares judged at once.
    pub threshold: u32,
    /// `pool.banPercent`: invalid/valid ratio (percent) that bans.
    pub percent: u32,
    /// `pool.banLength` in seconds.
    pub length_secs: u64,
}

impl Default for BanConfig {
    fn default() -> Self {
        BanConfig {
            enabled: true,
            threshold: 30,
            percent: 25,
            length_secs: 15 * 60,
        }
    }
}

/// Valid/invalid share counts of one session, judged every `threshold` shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareRatio {
    valid: u32,
    invalid: u32,
}

impl ShareRatio {
    /// Counts a share; `true` when the session must be banned.
    pub fn record(&mut self, config: &BanConfig, valid: bool) -> bool {
        if valid {
            self.valid = self.valid.saturating_add(1);
        } else {
            self.invalid = self.invalid.saturating_add(1);
        }
        if !config.enabled || self.valid.saturating_add(self.invalid) < config.threshold {
            return false;
        }
        let ban =
            u64::from(self.invalid) * 100 >= u64::from(self.valid) * u64::from(config.percent);
        *self = ShareRatio::default();
        ban
    }
}

/// Banned IPs and addresses. Shared by every session (`Arc`), read on every request.
#[derive(Debug, Default)]
pub struct BanList {
    temporary: Mutex<HashMap<IpAddr, UnixMillis>>,
    permanent: RwLock<Permanent>,
}

#[derive(Debug, Default)]
struct Permanent {
    ips: HashSet<IpAddr>,
    addresses: HashSet<String>,
}

impl BanList {
    pub fn is_ip_banned(&self, ip: IpAddr, now: UnixMillis) -> bool {
        if self
            .permanent
            .read()
            .map(|p| p.ips.contains(&ip))
            .unwrap_or(false)
        {
            return true;
        }
        let mut temp = match self.temporary.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        match temp.get(&ip) {
            Some(until) if *until > now => true,
            Some(_) => {
                temp.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Bans `ip` until `now + length`.
    pub fn ban_ip(&self, ip: IpAddr, now: UnixMillis, length_secs: u64) {
        let until = UnixMillis(now.0.saturating_add(length_secs.saturating_mul(1000)));
        let mut temp = match self.temporary.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        temp.retain(|_, u| *u > now);
        temp.insert(ip, until);
    }

    /// Whether a payout address (without payment id) is permanently banned.
    pub fn is_address_banned(&self, address: &str) -> bool {
        self.permanent
            .read()
            .map(|p| p.addresses.contains(address))
            .unwrap_or(false)
    }

    /// Replaces the permanent bans (from the `bans` table).
    pub fn replace_permanent(&self, ips: HashSet<IpAddr>, addresses: HashSet<String>) {
        let mut p = match self.permanent.write() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        *p = Permanent { ips, addresses };
    }

    /// Temporary bans currently in force.
    pub fn temporary_count(&self, now: UnixMillis) -> usize {
        self.temporary
            .lock()
            .map(|t| t.values().filter(|u| **u > now).count())
            .unwrap_or(0)
    }
}

/// Connection counts per IP, capped.
#[derive(Debug)]
pub struct IpCaps {
    max_per_ip: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// Holds one connection slot of an IP; released on drop.
#[derive(Debug)]
pub struct IpSlot {
    caps: Arc<IpCaps>,
    ip: IpAddr,
}

impl IpCaps {
    pub fn new(max_per_ip: u32) -> Arc<IpCaps> {
        Arc::new(IpCaps {
            max_per_ip,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`, or `None` when it already holds `max_per_ip` connections
    /// (0 = unlimited).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = match self.counts.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let n = counts.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            caps: self.clone(),
            ip,
        })
    }

    pub fn connections(&self, ip: IpAddr) -> u32 {
        self.counts
            .lock()
            .map(|c| c.get(&ip).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = match self.caps.counts.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A token bucket: `rate` requests per second on average, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub rate_per_sec: u32,
    pub burst: u32,
}

/// Bucket state (8 bytes + 8 bytes): tokens in thousandths.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    milli_tokens: u64,
    last: UnixMillis,
}

impl TokenBucket {
    pub fn full(limit: RateLimit, now: UnixMillis) -> TokenBucket {
        TokenBucket {
            milli_tokens: u64::from(limit.burst) * 1000,
            last: now,
        }
    }

    /// Takes one token; `false` when empty (rate 0 = unlimited).
    pub fn take(&mut self, limit: RateLimit, now: UnixMillis) -> bool {
        if limit.rate_per_sec == 0 {
            return true;
        }
        let elapsed = now.0.saturating_sub(self.last.0);
        self.last = UnixMillis(self.last.0.max(now.0));
        let cap = u64::from(limit.burst.max(1)) * 1000;
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(u64::from(limit.rate_per_sec)))
            .min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn invalid_ratio_bans_after_threshold_and_resets_otherwise() {
        let config = BanConfig::default();
        let mut r = ShareRatio::default();
        for _ in 0..23 {
            assert!(!r.record(&config, true));
        }
        for _ in 0..6 {
            assert!(!r.record(&config, false));
        }
        assert!(
            r.record(&config, false),
            "7 invalid of 30 is ≥ 25% of 23 valid"
        );
        let mut r = ShareRatio::default();
        for _ in 0..29 {
            assert!(!r.record(&config, true));
        }
        assert!(!r.record(&config, false), "1 of 30 invalid is fine");
    }

    #[test]
    fn bans_disabled_never_ban() {
        let config = BanConfig {
            enabled: false,
            ..BanConfig::default()
        };
        let mut r = ShareRatio::default();
        assert!((0..100).all(|_| !r.record(&config, false)));
    }

    #[test]
    fn bans_expire_after_their_configured_length() {
        let bans = BanList::default();
        bans.ban_ip(IP, UnixMillis(1_000), 600);
        assert!(bans.is_ip_banned(IP, UnixMillis(1_000)));
        assert!(bans.is_ip_banned(IP, UnixMillis(600_999)));
        assert!(!bans.is_ip_banned(IP, UnixMillis(601_000)));
        assert_eq!(bans.temporary_count(UnixMillis(601_000)), 0);
    }

    #[test]
    fn permanent_bans_cover_ips_and_addresses_until_replaced() {
        let bans = BanList::default();
        bans.replace_permanent([IP].into(), ["4abc".to_string()].into());
        assert!(bans.is_ip_banned(IP, UnixMillis(u64::MAX)));
        assert!(bans.is_address_banned("4abc"));
        bans.replace_permanent(HashSet::new(), HashSet::new());
        assert!(!bans.is_ip_banned(IP, UnixMillis(0)));
        assert!(!bans.is_address_banned("4abc"));
    }

    #[test]
    fn ip_caps_limit_and_release_connections() {
        let caps = IpCaps::new(2);
        let a = caps.acquire(IP);
        let b = caps.acquire(IP);
        assert!(a.is_some() && b.is_some());
        assert!(caps.acquire(IP).is_none());
        drop(a);
        assert_eq!(caps.connections(IP), 1);
        assert!(caps.acquire(IP).is_some());
        drop(b);
        assert_eq!(caps.connections(IP), 0);
    }

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let limit = RateLimit {
            rate_per_sec: 10,
            burst: 5,
        };
        let mut b = TokenBucket::full(limit, UnixMillis(0));
        assert_eq!((0..10).filter(|_| b.take(limit, UnixMillis(0))).count(), 5);
        assert!(!b.take(limit, UnixMillis(99)));
        assert!(b.take(limit, UnixMillis(200)));
        assert!(b.take(limit, UnixMillis(200)));
        assert!(!b.take(limit, UnixMillis(200)));
        // A clock going backwards neither panics nor mints tokens.
        assert!(!b.take(limit, UnixMillis(0)));
        let unlimited = RateLimit {
            rate_per_sec: 0,
            burst: 0,
        };
        assert!((0..1000).all(|_| b.take(unlimited, UnixMillis(0))));
    }
}
