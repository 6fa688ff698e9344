//! PROXY protocol v1 and v2 (HAProxy), sans-IO: parse the header a trusted
//! load balancer sends before the client's first byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most 107 octets including CRLF.
const V1_MAX: usize = 107;
/// Largest v2 payload accepted (addresses + TLVs).
const V2_MAX_PAYLOAD: usize = 1024;

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Octets the header took; the client's stream starts after them.
    pub len: usize,
    /// The original client address (`None` for `UNKNOWN` / `LOCAL`: use the socket's peer).
    pub source: Option<SocketAddr>,
    /// The address the client connected to.
    pub destination: Option<SocketAddr>,
}

/// Why a header was refused (the connection is then closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The stream does not start with a PROXY header.
    #[error("expected a PROXY protocol header")]
    Missing,
    /// A header that does not follow the specification.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
}

/// Parse a header at the start of `buf`: `Ok(None)` means more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Ok(None)
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if buf[..n] == b"PROXY "[..n] {
        return if n < 6 { Ok(None) } else { parse_v1(buf) };
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let Some(lf) = memchr_lf(&buf[..buf.len().min(V1_MAX)]) else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::Malformed("v1 header longer than 107 octets"))
        } else {
            Ok(None)
        };
    };
    let line = &buf[..lf];
    let line = line
        .strip_suffix(b"\r")
        .ok_or(ProxyError::Malformed("v1 header must end in CRLF"))?;
    let text = std::str::from_utf8(line).map_err(|_| ProxyError::Malformed("v1 header is not ASCII"))?;
    let fields: Vec<&str> = text.split(' ').collect();
    let len = lf + 1;
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Some(ProxyHeader {
            len,
            source: None,
            destination: None,
        })),
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let src: IpAddr = src
                .parse()
                .map_err(|_| ProxyError::Malformed("v1 source address"))?;
            let dst: IpAddr = dst
                .parse()
                .map_err(|_| ProxyError::Malformed("v1 destination address"))?;
            if (*proto == "TCP4") != (src.is_ipv4() && dst.is_ipv4()) || src.is_ipv4() != dst.is_ipv4() {
                return Err(ProxyError::Malformed(
                    "v1 address family does not match TCP4/TCP6",
                ));
            }
            let port = |p: &str| {
                if p.len() > 1 && p.starts_with('0') {
                    return Err(ProxyError::Malformed("v1 port with leading zero"));
                }
                p.parse::<u16>().map_err(|_| ProxyError::Malformed("v1 port"))
            };
            Ok(Some(ProxyHeader {
                len,
                source: Some(SocketAddr::new(src, port(sport)?)),
                destination: Some(SocketAddr::new(dst, port(dport)?)),
            }))
        }
        _ => Err(ProxyError::Malformed("v1 header fields")),
    }
}

fn parse_v2(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version is not 2"));
    }
    let family = buf[13];
    let payload = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if payload > V2_MAX_PAYLOAD {
        return Err(ProxyError::Malformed("v2 payload too long"));
    }
    let len = 16 + payload;
    if buf.len() < len {
        return Ok(None);
    }
    let body = &buf[16..len];
    match version_command & 0x0f {
        0 => {
            return Ok(Some(ProxyHeader {
                len,
                source: None,
                destination: None,
            }))
        } // LOCAL
        1 => {}
        _ => return Err(ProxyError::Malformed("v2 command is neither LOCAL nor PROXY")),
    }
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let (source, destination) = match family {
        0x11 | 0x12 => {
            if body.len() < 12 {
                return Err(ProxyError::Malformed("v2 IPv4 addresses truncated"));
            }
            let src = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let dst = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            (
                SocketAddr::new(src.into(), port(&body[8..10])),
                SocketAddr::new(dst.into(), port(&body[10..12])),
            )
        }
        0x21 | 0x22 => {
            if body.len() < 36 {
                return Err(ProxyError::Malformed("v2 IPv6 addresses truncated"));
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&body[..16]);
            let mut b = [0u8; 16];
            b.copy_from_slice(&body[16..32]);
            (
                SocketAddr::new(Ipv6Addr::from(a).into(), port(&body[32..34])),
                SocketAddr::new(Ipv6Addr::from(b).into(), port(&body[34..36])),
            )
        }
        // UNSPEC or UNIX: keep the socket's own addresses.
        _ => {
            return Ok(Some(ProxyHeader {
                len,
                source: None,
                destination: None,
            }))
        }
    };
    Ok(Some(ProxyHeader {
        len,
        source: Some(source),
        destination: Some(destination),
    }))
}

fn memchr_lf(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tcp4_and_every_prefix_is_incomplete() {
        let h = b"PROXY TCP4 192.0.2.10 198.51.100.1 51234 587\r\nEHLO x\r\n";
        let parsed = parse(h).unwrap().unwrap();
        assert_eq!(parsed.len, 46);
        assert_eq!(parsed.source, Some("192.0.2.10:51234".parse().unwrap()));
        assert_eq!(parsed.destination, Some("198.51.100.1:587".parse().unwrap()));
        for cut in 0..parsed.len {
            assert_eq!(parse(&h[..cut]), Ok(None), "prefix of {cut} octets");
        }
    }

    #[test]
    fn v1_tcp6_unknown_and_refusals() {
        let h = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 25\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.source, Some("[2001:db8::1]:1".parse().unwrap()));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().source, None);
        assert_eq!(parse(b"EHLO x\r\n"), Err(ProxyError::Missing));
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 25\r\n").is_err());
        assert!(parse(b"PROXY TCP4 2001:db8::1 5.6.7.8 1 25\r\n").is_err());
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 25\n").is_err());
        assert!(parse(&[b"PROXY ".as_slice(), &[b'x'; 200]].concat()).is_err());
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v2_ipv4_ipv6_local_and_tlvs() {
        let mut body = vec![192, 0, 2, 10, 198, 51, 100, 1];
        body.extend_from_slice(&51234u16.to_be_bytes());
        body.extend_from_slice(&465u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0x00, 0x01, 0xff]); // a TLV, skipped
        let h = v2(1, 0x11, &body);
        let parsed = parse(&h).unwrap().unwrap();
        assert_eq!(parsed.len, h.len());
        assert_eq!(parsed.source, Some("192.0.2.10:51234".parse().unwrap()));
        for cut in 0..h.len() {
            assert_eq!(parse(&h[..cut]), Ok(None));
        }
        let mut body6 = vec![0u8; 36];
        body6[15] = 1;
        body6[31] = 2;
        body6[33] = 7;
        body6[35] = 25;
        let p6 = parse(&v2(1, 0x21, &body6)).unwrap().unwrap();
        assert_eq!(p6.source, Some("[::1]:7".parse().unwrap()));
        assert_eq!(p6.destination, Some("[::2]:25".parse().unwrap()));
        assert_eq!(parse(&v2(0, 0x00, &[])).unwrap().unwrap().source, None);
        assert!(parse(&v2(1, 0x11, &[1, 2, 3])).is_err());
        let mut bad_version = v2(1, 0x11, &body);
        bad_version[12] = 0x31;
        assert!(parse(&bad_version).is_err());
    }
}
