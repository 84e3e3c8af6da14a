//! Network address values shared by the roles that face the internet: [`TrustedProxies`], the
//! addresses or networks whose word about a client's address is believed (the pool's PROXY
//! protocol senders, `[pool] proxy_addresses`; the api's reverse proxies, `[api]
//! trusted_proxies`).

use std::net::IpAddr;

/// Addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `2001:db8::/48`) believed about the
/// client behind them: PROXY headers (`[pool] proxy_addresses`), `X-Forwarded-For`
/// (`[api] trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses each entry; an entry that is not an address or `address/prefix` is named.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                let (addr, prefix) = match e.split_once('/') {
                    Some((a, p)) => (a, Some(p)),
                    None => (e, None),
                };
                let addr: IpAddr = addr
                    .parse()
                    .map_err(|_| format!("proxy address {e:?} is not an IP address or network"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix =
                    match prefix {
                        None => max,
                        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                            format!("proxy network {e:?} has a bad prefix length")
                        })?,
                    };
                Ok((addr, prefix))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` (IPv4-mapped IPv6 taken as IPv4) may send a PROXY header.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|(net, prefix)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_match_addresses_and_networks_only() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.1", "2001:db8::/48"]).unwrap();
        assert!(t.contains("10.200.3.4".parse().unwrap()));
        assert!(t.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(t.contains("192.0.2.1".parse().unwrap()));
        assert!(!t.contains("192.0.2.2".parse().unwrap()));
        assert!(t.contains("2001:db8:0:ffff::1".parse().unwrap()));
        assert!(!t.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!TrustedProxies::default().contains("127.0.0.1".parse().unwrap()));
        let all = TrustedProxies::parse(&["0.0.0.0/0"]).unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "host.example",
            "10.0.0.0/",
            "10.0.0.0/-1",
        ] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
