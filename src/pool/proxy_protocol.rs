//! The PROXY protocol (HAProxy's, v1 text and v2 binary) on stratum ports behind a load
//! balancer, so bans and connection caps see the miner's address instead of the balancer's.
//!
//! Owns reading and checking the header a balancer sends before any stratum (or TLS) byte,
//! and the list of addresses allowed to send one ([`TrustedProxies`](crate::domain::net::TrustedProxies), `[pool]
//! proxy_addresses`). A port opts in with `port_config.proxyProtocol`; on such a port a
//! connection from any other address is refused, and so is one whose header is malformed,
//! truncated, oversized or of an unknown family: a header is never guessed at. It reads exactly
//! the header's bytes, so what follows is left for the stratum reader. It makes no decision
//! about bans or caps (`listener` applies them to the address returned here).

pub use crate::domain::net::TrustedProxies;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature: the first 12 bytes of every v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (the specification's limit).
pub const V1_MAX: usize = 107;
/// The longest v2 address block (with TLVs) taken; balancers send well under this.
pub const V2_MAX_BODY: usize = 1024;

/// Why a PROXY header was refused (the connection is closed).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection ended inside the PROXY header")]
    Truncated,
    #[error("PROXY header longer than allowed")]
    TooLong,
    #[error("not a PROXY protocol header")]
    BadSignature,
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
    #[error("PROXY header with an unknown address family or protocol")]
    UnknownFamily,
    #[error("reading the PROXY header: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for ProxyError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ProxyError::Truncated
        } else {
            ProxyError::Io(e)
        }
    }
}

/// What a valid header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A relayed connection from this client address.
    Proxied(SocketAddr),
    /// The balancer's own connection (v2 LOCAL, a health check) or a source it could not name
    /// (v1 `UNKNOWN`, v2 unspecified or unix family): the balancer's address stands.
    Local,
}

/// Reads exactly one PROXY header (v1 or v2) from `r`.
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Header, ProxyError> {
    // Both versions are at least 15 bytes ("PROXY UNKNOWN\r\n", or 16 for v2).
    let mut start = [0u8; 12];
    r.read_exact(&mut start).await?;
    if start == V2_SIGNATURE {
        let mut rest = [0u8; 4];
        r.read_exact(&mut rest).await?;
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len > V2_MAX_BODY {
            return Err(ProxyError::TooLong);
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        return parse_v2(rest[0], rest[1], &body);
    }
    if !start.starts_with(b"PROXY ") {
        return Err(ProxyError::BadSignature);
    }
    let mut line = Vec::with_capacity(V1_MAX);
    line.extend_from_slice(&start);
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(ProxyError::TooLong);
        }
        line.push(r.read_u8().await?);
    }
    parse_v1(&line)
}

/// Parses a whole v1 line, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`.
pub fn parse_v1(line: &[u8]) -> Result<Header, ProxyError> {
    if line.len() > V1_MAX {
        return Err(ProxyError::TooLong);
    }
    let text = line
        .strip_suffix(b"\r\n")
        .ok_or(ProxyError::Malformed("v1 line without CRLF"))?;
    let text = std::str::from_utf8(text).map_err(|_| ProxyError::Malformed("v1 not ASCII"))?;
    let mut words = text.split(' ');
    if words.next() != Some("PROXY") {
        return Err(ProxyError::BadSignature);
    }
    let family = words.next().ok_or(ProxyError::Malformed("v1 family"))?;
    let v6 = match family {
        // Anything may follow UNKNOWN; the receiver ignores it.
        "UNKNOWN" => return Ok(Header::Local),
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(ProxyError::UnknownFamily),
    };
    let fields: Vec<&str> = words.collect();
    let [src, dst, sport, dport] = fields[..] else {
        return Err(ProxyError::Malformed("v1 needs four fields"));
    };
    let address = |text: &str| -> Result<IpAddr, ProxyError> {
        let ip = if v6 {
            text.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            text.parse::<Ipv4Addr>().map(IpAddr::V4)
        };
        ip.map_err(|_| ProxyError::Malformed("v1 address"))
    };
    let src = address(src)?;
    address(dst)?;
    let sport = v1_port(sport)?;
    v1_port(dport)?;
    Ok(Header::Proxied(SocketAddr::new(src, sport)))
}

/// A v1 port: 1 to 5 decimal digits, no sign, no leading zero, at most 65535.
fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(ProxyError::Malformed("v1 port"));
    }
    text.parse().map_err(|_| ProxyError::Malformed("v1 port"))
}

/// Parses a v2 header from its version/command byte, family/protocol byte and address block.
pub fn parse_v2(
    version_command: u8,
    family_protocol: u8,
    body: &[u8],
) -> Result<Header, ProxyError> {
    if version_command >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version"));
    }
    match version_command & 0x0f {
        // LOCAL: the balancer speaking for itself; the address block is ignored.
        0 => return Ok(Header::Local),
        1 => {}
        _ => return Err(ProxyError::Malformed("v2 command")),
    }
    let (family, protocol) = (family_protocol >> 4, family_protocol & 0x0f);
    if protocol > 2 {
        return Err(ProxyError::UnknownFamily);
    }
    match family {
        // Unspecified or unix: no address to take.
        0 | 3 => Ok(Header::Local),
        1 => {
            let b: &[u8; 12] = body
                .get(..12)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProxyError::Malformed("v2 IPv4 block too short"))?;
            let src = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let port = u16::from_be_bytes([b[8], b[9]]);
            Ok(Header::Proxied(SocketAddr::new(IpAddr::V4(src), port)))
        }
        2 => {
            let b: &[u8; 36] = body
                .get(..36)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProxyError::Malformed("v2 IPv6 block too short"))?;
            let mut src = [0u8; 16];
            src.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[32], b[33]]);
            Ok(Header::Proxied(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(src)),
                port,
            )))
        }
        _ => Err(ProxyError::UnknownFamily),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Result<Header, ProxyError>, Vec<u8>) {
        let mut r = bytes;
        let header = read_header(&mut r).await;
        (header, r.to_vec())
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    const LOGIN: &[u8] = b"{\"method\":\"login\"}\n";

    #[tokio::test]
    async fn a_v1_header_gives_the_client_address_and_leaves_the_stratum_bytes() {
        let mut bytes = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 3333\r\n".to_vec();
        bytes.extend_from_slice(LOGIN);
        let (header, rest) = read(&bytes).await;
        assert_eq!(
            header.unwrap(),
            Header::Proxied("203.0.113.7:51234".parse().unwrap())
        );
        assert_eq!(rest, LOGIN);
        let (header, _) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 1 3333\r\n").await;
        assert_eq!(
            header.unwrap(),
            Header::Proxied("[2001:db8::7]:1".parse().unwrap())
        );
        let (header, rest) = read(b"PROXY UNKNOWN ffff::1 whatever\r\nX").await;
        assert_eq!(header.unwrap(), Header::Local);
        assert_eq!(rest, b"X");
    }

    #[tokio::test]
    async fn a_v2_header_gives_the_client_address_and_skips_its_tlvs() {
        let mut body = vec![198, 51, 100, 9, 10, 0, 0, 1, 0xc3, 0x50, 0x0d, 0x05];
        body.extend_from_slice(&[0xea, 0x00, 0x03, b'v', b'p', b'c']); // an AWS TLV
        let mut bytes = v2(1, 0x11, &body);
        bytes.extend_from_slice(LOGIN);
        let (header, rest) = read(&bytes).await;
        assert_eq!(
            header.unwrap(),
            Header::Proxied("198.51.100.9:50000".parse().unwrap())
        );
        assert_eq!(rest, LOGIN);
        let mut body6 = [0u8; 36];
        body6[..16].copy_from_slice(&"2001:db8::9".parse::<Ipv6Addr>().unwrap().octets());
        body6[32..34].copy_from_slice(&4242u16.to_be_bytes());
        let (header, _) = read(&v2(1, 0x21, &body6)).await;
        assert_eq!(
            header.unwrap(),
            Header::Proxied("[2001:db8::9]:4242".parse().unwrap())
        );
    }

    #[tokio::test]
    async fn a_v2_local_command_keeps_the_balancers_address() {
        let (header, rest) = read(&[v2(0, 0x00, &[]), LOGIN.to_vec()].concat()).await;
        assert_eq!(header.unwrap(), Header::Local);
        assert_eq!(rest, LOGIN);
        // LOCAL ignores whatever block it carries.
        let (header, _) = read(&v2(0, 0x11, &[1, 2, 3])).await;
        assert_eq!(header.unwrap(), Header::Local);
    }

    #[tokio::test]
    async fn truncated_headers_are_refused() {
        let full_v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 3333\r\n";
        for cut in [0, 5, 11, 12, 30, full_v1.len() - 1] {
            let (header, _) = read(&full_v1[..cut]).await;
            assert!(
                matches!(header, Err(ProxyError::Truncated)),
                "v1 cut at {cut}: {header:?}"
            );
        }
        let full_v2 = v2(1, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        for cut in [12, 13, 15, 16, 20, full_v2.len() - 1] {
            let (header, _) = read(&full_v2[..cut]).await;
            assert!(
                matches!(header, Err(ProxyError::Truncated)),
                "v2 cut at {cut}: {header:?}"
            );
        }
        // A block shorter than its family needs, though the length field agrees with it.
        let (header, _) = read(&v2(1, 0x11, &[1, 2, 3, 4])).await;
        assert!(
            matches!(header, Err(ProxyError::Malformed(_))),
            "{header:?}"
        );
        let (header, _) = read(&v2(1, 0x21, &[0; 12])).await;
        assert!(
            matches!(header, Err(ProxyError::Malformed(_))),
            "{header:?}"
        );
    }

    #[tokio::test]
    async fn oversized_headers_are_refused_without_reading_them() {
        let mut long = b"PROXY TCP4 ".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        long.extend_from_slice(b"\r\n");
        let (header, rest) = read(&long).await;
        assert!(matches!(header, Err(ProxyError::TooLong)), "{header:?}");
        assert_eq!(
            rest.len(),
            long.len() - V1_MAX,
            "stops reading at the limit"
        );
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        big.extend(std::iter::repeat_n(0u8, 100));
        let (header, rest) = read(&big).await;
        assert!(matches!(header, Err(ProxyError::TooLong)), "{header:?}");
        assert_eq!(rest.len(), 100, "the announced block is never read");
    }

    #[tokio::test]
    async fn wrong_signatures_and_garbage_are_refused() {
        for bad in [
            LOGIN,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"\r\n\r\n\0\r\nQUIT!\x21\x11\x00\x0c",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00", // a TLS ClientHello
        ] {
            let (header, _) = read(bad).await;
            assert!(
                matches!(header, Err(ProxyError::BadSignature)),
                "{bad:?}: {header:?}"
            );
        }
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 \xff 2\r\n",
        ] {
            let (header, _) = read(bad).await;
            assert!(
                matches!(header, Err(ProxyError::Malformed(_))),
                "{bad:?}: {header:?}"
            );
        }
        // Version 1 in a v2 header, and an undefined command.
        let mut wrong_version = v2(1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        assert!(matches!(
            read(&wrong_version).await.0,
            Err(ProxyError::Malformed(_))
        ));
        assert!(matches!(
            read(&v2(2, 0x11, &[0; 12])).await.0,
            Err(ProxyError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn unknown_families_and_protocols_are_refused() {
        assert!(matches!(
            read(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n").await.0,
            Err(ProxyError::UnknownFamily)
        ));
        for family in [0x41, 0x51, 0xf1, 0x13, 0x1f] {
            let (header, _) = read(&v2(1, family, &[0; 36])).await;
            assert!(
                matches!(header, Err(ProxyError::UnknownFamily)),
                "{family:#x}: {header:?}"
            );
        }
        // Unspecified and unix sources name no IP: the balancer's address stands.
        assert_eq!(read(&v2(1, 0x00, &[])).await.0.unwrap(), Header::Local);
        assert_eq!(
            read(&v2(1, 0x31, &[0; 216])).await.0.unwrap(),
            Header::Local
        );
    }
}
