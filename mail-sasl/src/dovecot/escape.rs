//! Dovecot's "tab-escaping" (`str_tabescape` / `str_tabunescape`).
//!
//! `\001` is the escape character: NUL → `\001 0`, `\001` → `\001 1`,
//! TAB → `\001 t`, CR → `\001 r`, LF → `\001 n`. When unescaping, `\001`
//! followed by any other byte gives that byte itself. An escaped value never
//! contains TAB, CR or LF, so user input cannot add fields or lines.

const ESC: u8 = 0x01;

/// Append the escaped form of `value` to `out`.
pub fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    let mut rest = value;
    while let Some(pos) = rest.iter().position(|b| needs_escape(*b)) {
        out.extend_from_slice(&rest[..pos]);
        out.push(ESC);
        out.push(match rest[pos] {
            0 => b'0',
            ESC => b'1',
            b'\t' => b't',
            b'\r' => b'r',
            _ => b'n',
        });
        rest = &rest[pos + 1..];
    }
    out.extend_from_slice(rest);
}

/// The escaped form of `value`.
pub fn escape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    escape_into(value, &mut out);
    out
}

fn needs_escape(b: u8) -> bool {
    matches!(b, 0 | ESC | b'\t' | b'\r' | b'\n')
}

/// Undo [`escape`]. A trailing lone `\001` is dropped.
pub fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut iter = field.iter().copied();
    while let Some(b) = iter.next() {
        if b != ESC {
            out.push(b);
            continue;
        }
        match iter.next() {
            Some(b'0') => out.push(0),
            Some(b'1') => out.push(ESC),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_escapes() {
        assert_eq!(escape(b"a\tb\nc\rd\x01e\0f"), b"a\x01tb\x01nc\x01rd\x011e\x010f");
        assert_eq!(
            unescape(b"a\x01tb\x01nc\x01rd\x011e\x010f"),
            b"a\tb\nc\rd\x01e\0f"
        );
        assert_eq!(escape(b"plain user@example.test"), b"plain user@example.test");
    }

    #[test]
    fn unknown_escape_gives_the_byte_and_trailing_escape_is_dropped() {
        assert_eq!(unescape(b"\x01x\x01"), b"x");
    }

    proptest! {
        #[test]
        fn round_trip(value in proptest::collection::vec(any::<u8>(), 0..200)) {
            let escaped = escape(&value);
            prop_assert!(!escaped.iter().any(|b| matches!(b, b'\t' | b'\n' | b'\r' | 0)));
            prop_assert_eq!(unescape(&escaped), value);
        }
    }
}
