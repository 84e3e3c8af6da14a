//! Abuse control: temporary IP bans from an invalid-share ratio, permanent bans (IPs and
//! addresses from the MySQL `bans` table), per-IP connection caps and per-method token buckets.
//!
//! Owns the in-memory ban state of this pool process. Everything is counted per [`IpKey`]: an
//! IPv4 address, or an IPv6 address cut to its network prefix (`pool.ipv6BanPrefix`, /64 by
//! default), since one IPv6 host holds a whole /64 and could otherwise walk around every
//! per-IP limit. The invalid-share ratio is kept per key, not per session, so reconnecting
//! does not clear it; [`BanList::record_valid`] and [`BanList::record_invalid`] are the only
//! way shares reach it. Temporary bans last the configured length (nodejs-pool cleared them
//! every 60 s); permanent bans are replaced wholesale by the periodic MySQL refresh. Time
//! comes in as `now` (no clock reads), so expiry is testable. It does not read MySQL itself;
//! the role's refresher calls [`BanList::replace_permanent`].

use crate::domain::UnixMillis;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The IPv6 prefix length bans and caps count by default (one customer's /64).
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// A share ratio untouched this long is forgotten (bounds the per-IP map).
const RATIO_IDLE_MS: u64 = 3_600_000;

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
    /// `pool.ipv6BanPrefix`: IPv6 addresses sharing this many leading bits are one IP to bans
    /// and connection caps (1..=128).
    pub ipv6_prefix: u8,
}

impl Default for BanConfig {
    fn default() -> Self {
        BanConfig {
            enabled: true,
            threshold: 30,
            percent: 25,
            length_secs: 15 * 60,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

/// What bans and caps count by: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6
/// address with the bits after its prefix cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpKey(IpAddr);

impl IpKey {
    /// The key of `ip` with IPv6 addresses cut to `ipv6_prefix` bits (clamped to 1..=128).
    pub fn of(ip: IpAddr, ipv6_prefix: u8) -> IpKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let bits = u32::from(ipv6_prefix.clamp(1, 128));
                let mask = u128::MAX << (128 - bits);
                IpKey(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
            }
        }
    }

    /// The address (or network address) the key stands for.
    pub fn addr(self) -> IpAddr {
        self.0
    }
}

/// Valid/invalid share counts of one IP, judged every `threshold` shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareRatio {
    valid: u32,
    invalid: u32,
}

impl ShareRatio {
    /// Counts a share; `true` when the IP must be banned.
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

/// Banned IPs and addresses, and every IP's share ratio. Shared by every session (`Arc`),
/// read on every request.
#[derive(Debug)]
pub struct BanList {
    ipv6_prefix: AtomicU8,
    temporary: Mutex<HashMap<IpKey, UnixMillis>>,
    ratios: Mutex<Ratios>,
    permanent: RwLock<Permanent>,
}

impl Default for BanList {
    fn default() -> Self {
        BanList {
            ipv6_prefix: AtomicU8::new(DEFAULT_IPV6_PREFIX),
            temporary: Mutex::default(),
            ratios: Mutex::default(),
            permanent: RwLock::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Ratios {
    by_ip: HashMap<IpKey, (ShareRatio, UnixMillis)>,
    /// Map size after the last sweep of idle entries; the next sweep runs at twice this.
    swept_at: usize,
}

#[derive(Debug, Default)]
struct Permanent {
    /// As the `bans` table gives them.
    ips: HashSet<IpAddr>,
    /// Their keys under the current prefix (an IPv6 entry bans its whole prefix).
    keys: HashSet<IpKey>,
    addresses: HashSet<String>,
}

/// A poisoned lock still holds consistent counters: take it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl BanList {
    /// Sets the IPv6 prefix new checks count by (a settings refresh).
    pub fn set_ipv6_prefix(&self, prefix: u8) {
        if self.ipv6_prefix.swap(prefix, Ordering::Relaxed) == prefix {
            return;
        }
        let mut p = match self.permanent.write() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        p.keys = p.ips.iter().map(|ip| IpKey::of(*ip, prefix)).collect();
    }

    /// The key `ip` is counted under now.
    pub fn key(&self, ip: IpAddr) -> IpKey {
        IpKey::of(ip, self.ipv6_prefix.load(Ordering::Relaxed))
    }

    pub fn is_ip_banned(&self, ip: IpAddr, now: UnixMillis) -> bool {
        let key = self.key(ip);
        if self
            .permanent
            .read()
            .map(|p| p.keys.contains(&key))
            .unwrap_or(false)
        {
            return true;
        }
        let mut temp = lock(&self.temporary);
        match temp.get(&key) {
            Some(until) if *until > now => true,
            Some(_) => {
                temp.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Bans `ip` (its whole IPv6 prefix) until `now + length`.
    pub fn ban_ip(&self, ip: IpAddr, now: UnixMillis, length_secs: u64) {
        let until = UnixMillis(now.0.saturating_add(length_secs.saturating_mul(1000)));
        let key = self.key(ip);
        let mut temp = lock(&self.temporary);
        temp.retain(|_, u| *u > now);
        temp.insert(key, until);
    }

    /// Counts a valid share from `ip` toward its ratio.
    pub fn record_valid(&self, ip: IpAddr, now: UnixMillis, config: &BanConfig) {
        self.record(ip, now, config, true);
    }

    /// Counts an invalid share (a bad hash, low difficulty, a failed trust check...) from
    /// `ip`; when its ratio crosses `pool.banPercent`, bans it for `pool.banLength` and
    /// returns `true` (the caller closes the connection). The one way a bad share leads to a
    /// ban, whichever session of the IP sent it.
    pub fn record_invalid(&self, ip: IpAddr, now: UnixMillis, config: &BanConfig) -> bool {
        if !self.record(ip, now, config, false) {
            return false;
        }
        self.ban_ip(ip, now, config.length_secs);
        tracing::info!(%ip, secs = config.length_secs, "IP banned for invalid shares");
        true
    }

    fn record(&self, ip: IpAddr, now: UnixMillis, config: &BanConfig, valid: bool) -> bool {
        let key = self.key(ip);
        let mut ratios = lock(&self.ratios);
        if ratios.by_ip.len() >= ratios.swept_at.saturating_mul(2).max(1024) {
            ratios
                .by_ip
                .retain(|_, (_, seen)| now.0.saturating_sub(seen.0) < RATIO_IDLE_MS);
            ratios.swept_at = ratios.by_ip.len();
        }
        let (ratio, seen) = ratios.by_ip.entry(key).or_default();
        *seen = now;
        ratio.record(config, valid)
    }

    /// The IPs (keys) with a share ratio in memory.
    pub fn tracked_ratios(&self) -> usize {
        lock(&self.ratios).by_ip.len()
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
        let prefix = self.ipv6_prefix.load(Ordering::Relaxed);
        let keys = ips.iter().map(|ip| IpKey::of(*ip, prefix)).collect();
        *p = Permanent {
            ips,
            keys,
            addresses,
        };
    }

    /// Temporary bans currently in force.
    pub fn temporary_count(&self, now: UnixMillis) -> usize {
        lock(&self.temporary).values().filter(|u| **u > now).count()
    }
}

/// Connection counts per IP (per IPv6 prefix), capped. The cap and the prefix follow the
/// settings refresh; a slot already held keeps the key it was counted under.
#[derive(Debug)]
pub struct IpCaps {
    max_per_ip: AtomicU32,
    ipv6_prefix: AtomicU8,
    counts: Mutex<HashMap<IpKey, u32>>,
}

/// Holds one connection slot of an IP; released on drop.
#[derive(Debug)]
pub struct IpSlot {
    caps: Arc<IpCaps>,
    key: IpKey,
}

impl IpCaps {
    pub fn new(max_per_ip: u32) -> Arc<IpCaps> {
        Arc::new(IpCaps {
            max_per_ip: AtomicU32::new(max_per_ip),
            ipv6_prefix: AtomicU8::new(DEFAULT_IPV6_PREFIX),
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Applies `pool.maxConnectionsPerIp` and `pool.ipv6BanPrefix` to new connections.
    /// Lowering the cap closes nothing; an IP above it is refused until it drops below.
    pub fn set_limits(&self, max_per_ip: u32, ipv6_prefix: u8) {
        self.max_per_ip.store(max_per_ip, Ordering::Relaxed);
        self.ipv6_prefix.store(ipv6_prefix, Ordering::Relaxed);
    }

    /// A slot for `ip`, or `None` when its key already holds `max_per_ip` connections
    /// (0 = unlimited).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let key = IpKey::of(ip, self.ipv6_prefix.load(Ordering::Relaxed));
        let max = self.max_per_ip.load(Ordering::Relaxed);
        let mut counts = lock(&self.counts);
        let n = counts.entry(key).or_insert(0);
        if max != 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            caps: self.clone(),
            key,
        })
    }

    /// Connections counted under `ip`'s key now.
    pub fn connections(&self, ip: IpAddr) -> u32 {
        let key = IpKey::of(ip, self.ipv6_prefix.load(Ordering::Relaxed));
        lock(&self.counts).get(&key).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.caps.counts);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
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
    fn the_ratio_is_kept_per_ip_so_reconnecting_does_not_clear_it() {
        let config = BanConfig {
            threshold: 4,
            ..BanConfig::default()
        };
        let bans = BanList::default();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        // Two sessions of IP, two bad shares each; another IP's good shares do not dilute it.
        assert!(!bans.record_invalid(IP, UnixMillis(0), &config));
        assert!(!bans.record_invalid(IP, UnixMillis(0), &config));
        for _ in 0..10 {
            bans.record_valid(other, UnixMillis(0), &config);
        }
        assert!(!bans.record_invalid(IP, UnixMillis(1), &config));
        assert!(!bans.is_ip_banned(IP, UnixMillis(1)));
        assert!(bans.record_invalid(IP, UnixMillis(1), &config));
        assert!(bans.is_ip_banned(IP, UnixMillis(1)));
        assert!(!bans.is_ip_banned(other, UnixMillis(1)));
        // Addresses of one IPv6 /64 share one ratio.
        for n in 1..=3 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n));
            assert!(!bans.record_invalid(ip, UnixMillis(2), &config));
        }
        assert!(bans.record_invalid("2001:db8::ff:4".parse().unwrap(), UnixMillis(2), &config));
        assert!(bans.is_ip_banned("2001:db8::9".parse().unwrap(), UnixMillis(3)));
    }

    #[test]
    fn idle_ratios_are_forgotten_when_the_map_grows() {
        let config = BanConfig::default();
        let bans = BanList::default();
        for i in 0..2000u32 {
            bans.record_invalid(IpAddr::V4(i.into()), UnixMillis(0), &config);
        }
        assert_eq!(bans.tracked_ratios(), 2000);
        for i in 0..2000u32 {
            let later = UnixMillis(RATIO_IDLE_MS + 1);
            bans.record_valid(IpAddr::V4((i + 10_000).into()), later, &config);
        }
        assert!(bans.tracked_ratios() < 3000, "{}", bans.tracked_ratios());
    }

    #[test]
    fn ip_keys_cut_ipv6_to_the_prefix_and_leave_ipv4_alone() {
        let key = |ip: &str, prefix| IpKey::of(ip.parse().unwrap(), prefix).addr().to_string();
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 64), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 48), "2001:db8:1::");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 128), "2001:db8:1:2:3:4:5:6");
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 0), "::", "clamped to /1");
        assert_eq!(key("ffff::1", 200), "ffff::1", "clamped to /128");
        assert_eq!(key("10.1.2.3", 64), "10.1.2.3");
        assert_eq!(
            key("::ffff:10.1.2.3", 64),
            "10.1.2.3",
            "IPv4-mapped is IPv4"
        );
    }

    #[test]
    fn caps_and_bans_count_an_ipv6_prefix_as_one_ip() {
        let a: IpAddr = "2001:db8:0:1::a".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1:ffff::b".parse().unwrap();
        let c: IpAddr = "2001:db8:0:2::a".parse().unwrap();
        let caps = IpCaps::new(1);
        let held = caps.acquire(a);
        assert!(held.is_some());
        assert!(caps.acquire(b).is_none(), "same /64");
        assert!(caps.acquire(c).is_some(), "next /64");
        caps.set_limits(1, 128);
        assert!(caps.acquire(b).is_some(), "per address at /128");
        caps.set_limits(2, 64);
        assert_eq!(caps.connections(b), 1);
        drop(held);
        assert_eq!(
            caps.connections(b),
            0,
            "a slot is released under its own key"
        );

        let bans = BanList::default();
        bans.ban_ip(a, UnixMillis(0), 60);
        assert!(bans.is_ip_banned(b, UnixMillis(1)));
        assert!(!bans.is_ip_banned(c, UnixMillis(1)));
        bans.replace_permanent([c].into(), HashSet::new());
        assert!(bans.is_ip_banned("2001:db8:0:2:1:2:3:4".parse().unwrap(), UnixMillis(0)));
        bans.set_ipv6_prefix(128);
        assert!(!bans.is_ip_banned("2001:db8:0:2:1:2:3:4".parse().unwrap(), UnixMillis(0)));
        assert!(bans.is_ip_banned(c, UnixMillis(0)));
    }

    #[test]
    fn a_lower_cap_refuses_new_connections_and_closes_none() {
        let caps = IpCaps::new(3);
        let held: Vec<_> = (0..3).map(|_| caps.acquire(IP)).collect();
        assert!(held.iter().all(Option::is_some));
        caps.set_limits(1, DEFAULT_IPV6_PREFIX);
        assert!(caps.acquire(IP).is_none());
        assert_eq!(caps.connections(IP), 3);
        drop(held);
        assert!(caps.acquire(IP).is_some());
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
