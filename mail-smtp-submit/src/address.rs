//! Envelope addresses: syntax, and the routing tricks relay checks must see.

use std::net::IpAddr;

/// A parsed envelope address (`local@domain`), borrowing from the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mailbox<'a> {
    /// The address without source route or brackets, as sent (`"a b"@x.example.`).
    pub address: &'a str,
    /// The local part as sent (quotes included).
    pub local: &'a str,
    /// The domain without one trailing dot, `None` for an unqualified address (`postmaster`).
    pub domain: Option<&'a str>,
    /// `[192.0.2.1]` / `[IPv6:…]` address literal, if the domain is one.
    pub literal: Option<IpAddr>,
    /// Sender-specified routing: a source route (`@a:b@c`), `%`, `!` or `@`
    /// in the local part (quoted or not). Never an authorized destination.
    pub routed: bool,
}

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressError;

/// Parse the inside of `<…>`. The empty (null) path is not accepted here.
pub fn parse_mailbox(path: &str) -> Result<Mailbox<'_>, AddressError> {
    if let Some(m) = parse_common(path) {
        return Ok(m);
    }
    parse_general(path)
}

/// The common shape `dot-atom@domain.name` (no quotes, source route,
/// routing or literal, a domain under 64 octets) in a few branch-free passes. `None` means
/// "not this shape": [`parse_general`] then decides, so this path never
/// accepts anything the general parser refuses, nor changes its result.
#[inline]
fn parse_common(path: &str) -> Option<Mailbox<'_>> {
    let bytes = path.as_bytes();
    if bytes.len() > 255 || bytes.first() == Some(&b'@') {
        return None;
    }
    // One '@' (a second one would be routing: left to the general parser).
    let at = crate::parse::find3(bytes, b'@', b'@', b'@')?;
    let local = &bytes[..at];
    let domain = match &bytes[at + 1..] {
        [rest @ .., b'.'] => rest,
        d => d,
    };
    if local.is_empty() || domain.is_empty() || domain.len() > 63 {
        return None;
    }
    // Local part: atext (with '.' and UTF-8); domain: LDH and dots.
    // Or-reductions without early exits: the compiler unrolls them.
    let mut class = 0u8;
    for &b in local {
        class |= CLASS[b as usize];
    }
    let mut bad = 0u8;
    for &b in domain {
        bad |= CLASS[b as usize];
    }
    // Labels: none empty, none starting with '-' (a domain of at most 63
    // octets has no label over 63). Dots are few: jump from one to the next.
    let mut rest = domain;
    while let Some(i) = crate::parse::find3(rest, b'.', b'.', b'.') {
        rest = &rest[i + 1..];
        if matches!(rest.first(), Some(b'.' | b'-')) {
            return None;
        }
    }
    if class & NOT_ATEXT != 0
        || bad & NOT_LDH != 0
        || matches!(domain[0], b'.' | b'-')
        || domain[domain.len() - 1] == b'.'
    {
        return None;
    }
    let domain_len = domain.len();
    Some(Mailbox {
        address: path,
        local: &path[..at],
        domain: Some(&path[at + 1..at + 1 + domain_len]),
        literal: None,
        routed: class & ROUTING != 0,
    })
}

/// Octet classes for the common-shape scan.
const NOT_ATEXT: u8 = 1;
const NOT_LDH: u8 = 2;
const ROUTING: u8 = 4;
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        if !ATEXT[b] {
            t[b] |= NOT_ATEXT;
        }
        if !LDH[b] && b != b'.' as usize {
            t[b] |= NOT_LDH;
        }
        if b == b'%' as usize || b == b'!' as usize || b == b'@' as usize {
            t[b] |= ROUTING;
        }
        b += 1;
    }
    t
};

#[inline(never)]
fn parse_general(path: &str) -> Result<Mailbox<'_>, AddressError> {
    if path.is_empty() || path.len() > 512 {
        return Err(AddressError);
    }
    let mut routed = false;
    let mut rest = path;
    if rest.starts_with('@') {
        // A-d-l: "@a,@b:" — validate the hops, then ignore them (RFC 5321 §4.1.2), but remember.
        let colon = rest.find(':').ok_or(AddressError)?;
        for hop in rest[..colon].split(',') {
            let hop = hop.strip_prefix('@').ok_or(AddressError)?;
            check_domain(hop)?;
        }
        rest = &rest[colon + 1..];
        routed = true;
    }
    let at = last_unquoted_at(rest);
    let (local, domain) = match at {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if check_local(local)? {
        routed = true;
    }
    let mut literal = None;
    let domain = match domain {
        None => None,
        Some(d) if d.starts_with('[') => {
            literal = Some(parse_literal(d)?);
            Some(d)
        }
        Some(d) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            check_domain(d)?;
            Some(d)
        }
    };
    Ok(Mailbox {
        address: rest,
        local,
        domain,
        literal,
        routed,
    })
}

fn last_unquoted_at(s: &str) -> Option<usize> {
    if memchr::memchr(b'"', s.as_bytes()).is_none() {
        return memchr::memrchr(b'@', s.as_bytes());
    }
    let mut quoted = false;
    let mut escaped = false;
    let mut last = None;
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'@' if !quoted => last = Some(i),
            _ => {}
        }
    }
    last
}

/// Validate a local part; `Ok(true)` if it carries routing (`%`, `!`, `@`).
fn check_local(local: &str) -> Result<bool, AddressError> {
    if local.is_empty() || local.len() > 256 {
        return Err(AddressError);
    }
    if let Some(quoted) = local.strip_prefix('"') {
        // quoted-string: qtext and quoted-pairs, closing quote last.
        let inner = quoted.strip_suffix('"').ok_or(AddressError)?;
        let mut escaped = false;
        for b in inner.bytes() {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' || b.is_ascii_control() {
                return Err(AddressError);
            }
        }
        return if escaped {
            Err(AddressError)
        } else {
            Ok(inner.contains(['%', '!', '@']))
        };
    }
    // Dot-atom (lenient about empty atoms, like Postfix), atext or UTF-8.
    // An unquoted '@' is allowed here only as routing (flagged by the caller).
    let mut routing = false;
    for &b in local.as_bytes() {
        if !ATEXT[b as usize] {
            return Err(AddressError);
        }
        routing |= matches!(b, b'%' | b'!' | b'@');
    }
    Ok(routing)
}

/// Octets allowed in an unquoted local part: atext, '.', UTF-8, and '@'
/// (only as routing, which the caller flags).
const ATEXT: [bool; 256] = table(b"!#$%&'*+-/=?^_`{|}~.@");
/// Octets allowed in a domain label: letters, digits, '-', '_' and UTF-8.
const LDH: [bool; 256] = table(b"-_");

const fn table(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c >= 0x80 || c.is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

fn check_domain(d: &str) -> Result<(), AddressError> {
    if d.is_empty() || d.len() > 255 {
        return Err(AddressError);
    }
    // One pass: label characters, label lengths 1..=63, no leading '-'.
    let mut label_len = 0usize;
    for &b in d.as_bytes() {
        if b == b'.' {
            if label_len == 0 {
                return Err(AddressError);
            }
            label_len = 0;
        } else {
            if !LDH[b as usize] || (label_len == 0 && b == b'-') {
                return Err(AddressError);
            }
            label_len += 1;
            if label_len > 63 {
                return Err(AddressError);
            }
        }
    }
    if label_len == 0 {
        return Err(AddressError);
    }
    Ok(())
}

fn parse_literal(d: &str) -> Result<IpAddr, AddressError> {
    let inner = d
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(AddressError)?;
    if let Some(v6) = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
    {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| AddressError);
    }
    inner
        .parse::<std::net::Ipv4Addr>()
        .map(IpAddr::V4)
        .map_err(|_| AddressError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_unqualified() {
        let m = parse_mailbox("Alice@Example.COM.").unwrap();
        assert_eq!(
            (m.local, m.domain, m.routed),
            ("Alice", Some("Example.COM"), false)
        );
        let m = parse_mailbox("postmaster").unwrap();
        assert_eq!((m.domain, m.routed), (None, false));
    }

    #[test]
    fn routing_tricks_are_flagged() {
        for a in [
            "user%remote.example@local.example",
            "remote.example!user@local.example",
            "\"user@remote.example\"@local.example",
            "\"user%remote.example\"@local.example",
            "@local.example:user@remote.example",
            "@a.example,@b.example:user@c.example",
            "user@remote.example@local.example",
            "remote!user",
        ] {
            assert!(parse_mailbox(a).unwrap().routed, "{a}");
        }
        assert_eq!(
            parse_mailbox("@local.example:user@remote.example")
                .unwrap()
                .domain,
            Some("remote.example")
        );
    }

    proptest::proptest! {
        #[test]
        fn common_shape_agrees_with_general_parser(path in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"@.-_%!\"[]:,a\\ ".to_vec()),
                proptest::sample::select(b"aZ09".to_vec()),
                proptest::prelude::any::<u8>(),
            ], 0..80)) {
            let path = String::from_utf8_lossy(&path);
            if let Some(fast) = parse_common(&path) {
                proptest::prop_assert_eq!(Ok(fast), parse_general(&path));
            }
        }

        #[test]
        fn long_labels_and_domains(label in 1usize..80, labels in 1usize..6) {
            let domain = vec!["x".repeat(label); labels].join(".");
            let path = format!("user@{domain}");
            proptest::prop_assert_eq!(parse_mailbox(&path), parse_general(&path));
        }
    }

    #[test]
    fn bad_syntax() {
        for a in [
            "",
            "a@",
            "a@b..c",
            "a@-b",
            "a b@c",
            "\"a@c",
            "a@[300.1.1.1]",
            "a@b.c..",
            "@x",
            "a@b c",
        ] {
            assert!(parse_mailbox(a).is_err(), "{a:?}");
        }
        let m = parse_mailbox("u@[IPv6:2001:db8::1]").unwrap();
        assert_eq!(m.literal, Some("2001:db8::1".parse().unwrap()));
    }
}
