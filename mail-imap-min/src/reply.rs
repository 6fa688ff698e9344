//! Writing IMAP response syntax: strings (quoted or literal), nstrings,
//! mailbox names.

use mail_proto::push_decimal;

/// Whether `s` can go out as a quoted string (7-bit TEXT-CHARs only).
fn quotable(s: &[u8]) -> bool {
    s.len() <= 1024 && s.iter().all(|&b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80)
}

/// A string: quoted when possible, else a literal.
pub(crate) fn string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// A literal `{n}\r\n<octets>`.
pub(crate) fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    push_decimal(out, s.len() as u64);
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// `NIL` or a string.
pub(crate) fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name (astring): an atom when it is one, else a string.
pub(crate) fn astring(out: &mut Vec<u8>, s: &[u8]) {
    let atom = !s.is_empty()
        && s.iter()
            .all(|&b| b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\'));
    if atom && !s.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings() {
        assert_eq!(s(|o| string(o, b"a\"b\\c")), "\"a\\\"b\\\\c\"");
        assert_eq!(s(|o| string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(s(|o| string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(s(|o| nstring(o, None)), "NIL");
        assert_eq!(s(|o| astring(o, b"INBOX")), "INBOX");
        assert_eq!(s(|o| astring(o, b"My Box")), "\"My Box\"");
        assert_eq!(s(|o| astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| push_decimal(o, 0)), "0");
        assert_eq!(s(|o| push_decimal(o, u64::MAX)), "18446744073709551615");
    }
}
