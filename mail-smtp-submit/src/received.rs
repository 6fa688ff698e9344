//! The `Received:` header (RFC 5321 §4.4, RFC 3848 protocol names), written
//! so that nothing the client chose (HELO name, SASL login, addresses) can
//! break out of its field: CR, LF, control characters, parentheses and
//! backslashes are replaced by `?`, and every item is length-capped.

use std::io::Write;
use std::net::IpAddr;

use mail_proto::TlsInfo;

pub(crate) struct ReceivedFields<'a> {
    pub helo: &'a str,
    pub client_name: &'a str,
    pub client_addr: IpAddr,
    pub tls: Option<&'a TlsInfo>,
    pub login: Option<&'a str>,
    pub authenticated: bool,
    pub hostname: &'a str,
    pub software: &'a str,
    pub esmtp: bool,
    pub queue_id: &'a str,
    pub single_recipient: Option<&'a str>,
    pub date: &'a str,
}

/// Copy `s` keeping only bytes that cannot end a comment or the header.
fn push_clean(out: &mut Vec<u8>, s: &str, max: usize, allow_space: bool) {
    for &b in s.as_bytes().iter().take(max) {
        let ok = (0x21..=0x7e).contains(&b) && !matches!(b, b'(' | b')' | b'\\' | b'<' | b'>' | b';')
            || (allow_space && b == b' ');
        out.push(if ok { b } else { b'?' });
    }
}

pub(crate) fn write_received(out: &mut Vec<u8>, f: &ReceivedFields<'_>) {
    out.extend_from_slice(b"Received: from ");
    push_clean(
        out,
        if f.helo.is_empty() { "unknown" } else { f.helo },
        255,
        false,
    );
    out.extend_from_slice(b" (");
    push_clean(out, f.client_name, 255, false);
    match f.client_addr {
        IpAddr::V4(a) => {
            let _ = write!(out, " [{a}])\r\n");
        }
        IpAddr::V6(a) => {
            let _ = write!(out, " [IPv6:{a}])\r\n");
        }
    }
    if let Some(tls) = f.tls {
        out.extend_from_slice(b"\t(using ");
        push_clean(out, &tls.protocol, 32, false);
        out.extend_from_slice(b" with cipher ");
        push_clean(out, &tls.cipher, 96, false);
        let _ = write!(out, " ({}/{} bits))\r\n", tls.bits, tls.bits);
    }
    if let Some(login) = f.login {
        out.extend_from_slice(b"\t(Authenticated sender: ");
        push_clean(out, login, 255, false);
        out.extend_from_slice(b")\r\n");
    }
    out.extend_from_slice(b"\tby ");
    push_clean(out, f.hostname, 255, false);
    out.extend_from_slice(b" (");
    push_clean(out, f.software, 64, true);
    out.extend_from_slice(b") with ");
    out.extend_from_slice(if f.esmtp { b"ESMTP" } else { b"SMTP" });
    if f.tls.is_some() {
        out.push(b'S');
    }
    if f.authenticated {
        out.push(b'A');
    }
    out.extend_from_slice(b" id ");
    push_clean(out, f.queue_id, 64, false);
    match f.single_recipient {
        Some(r) => {
            out.extend_from_slice(b"\r\n\tfor <");
            push_clean(out, r, 320, false);
            out.extend_from_slice(b">; ");
        }
        None => out.extend_from_slice(b";\r\n\t"),
    }
    push_clean(out, f.date, 64, true);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_cannot_break_the_header() {
        let mut out = Vec::new();
        write_received(
            &mut out,
            &ReceivedFields {
                helo: "evil\r\nX-Injected: yes",
                client_name: "unknown",
                client_addr: "192.0.2.1".parse().unwrap(),
                tls: None,
                login: Some("ned) (forged\r\nBcc: x"),
                authenticated: true,
                hostname: "mx.example.org",
                software: "mailcrates",
                esmtp: true,
                queue_id: "ABC\r\n",
                single_recipient: Some("a@b"),
                date: "Sun, 22 Nov 2026 22:43:20 +0000\r\nX: y",
            },
        );
        let text = String::from_utf8(out).unwrap();
        // Every line but the first is a continuation line; no new header appears.
        for line in text.trim_end_matches("\r\n").split("\r\n").skip(1) {
            assert!(line.starts_with('\t'), "{line:?} in {text}");
        }
        assert!(!text.contains("ned)"));
        assert!(text.contains("(Authenticated sender: ned??"));
        assert!(text.contains("with ESMTPA id ABC??"));
    }
}
