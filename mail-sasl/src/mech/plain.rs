//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.

use zeroize::Zeroizing;

use super::{prepared_text, PasswordCredentials, MAX_FIELD};
use crate::Failure;

/// Parse and check one PLAIN message.
///
/// Fields are checked and SASLprep'ed in place (borrowed from `message`
/// unless preparation changes them); only the request's user name and
/// password are copied out. Checks, in order: three fields; per field,
/// at most 255 octets and UTF-8; authcid not empty and preparable; the
/// authzid allowed; password not empty and preparable.
#[inline(always)]
pub(super) fn parse(message: &[u8], allow_proxy: bool) -> Result<PasswordCredentials, Failure> {
    let Some((first, second)) = two_nuls(message) else {
        return Err(Failure::Malformed(
            "PLAIN needs exactly three NUL-separated fields",
        ));
    };
    // One UTF-8 validation of the whole message (NUL is UTF-8) instead of
    // one per field; when it fails, fields are validated one by one so
    // that the error is the first faulty field's.
    let whole = std::str::from_utf8(message).ok();
    let field = |start: usize, end: usize| -> Result<&str, Failure> {
        let raw = message.get(start..end).unwrap_or_default();
        if raw.len() > MAX_FIELD {
            return Err(Failure::Malformed("field longer than 255 octets"));
        }
        match whole.and_then(|text| text.get(start..end)) {
            Some(text) => Ok(text),
            None => std::str::from_utf8(raw).map_err(|_| Failure::Malformed("not valid UTF-8")),
        }
    };
    let authzid = field(0, first)?;
    let authcid_raw = field(first + 1, second)?;
    let authcid = prepared_text(authcid_raw, "empty authentication identity")?;
    // An authzid naming the authcid (as sent or as prepared) asks for nothing more.
    let authzid = if authzid.is_empty() || authzid == authcid.as_ref() || authzid == authcid_raw {
        None
    } else if allow_proxy {
        Some(authzid.to_owned())
    } else {
        return Err(Failure::AuthorizationDenied);
    };
    // Prepared last and moved straight into its zeroizing home.
    let password = field(second + 1, message.len())?;
    let password = Zeroizing::new(prepared_text(password, "empty password")?.into_owned());
    Ok(PasswordCredentials {
        authcid: authcid.into_owned(),
        authzid,
        password,
    })
}

/// The positions of the NULs of `message` if there are exactly two.
/// Eight octets at a time: each word gives an exact mask of its zero
/// octets (no carries between octets), and only words with a NUL are
/// looked into.
#[inline(always)]
fn two_nuls(message: &[u8]) -> Option<(usize, usize)> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // High bit of each octet set iff the octet is zero.
    let zero_octets = |x: u64| !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
    let mut found = [0usize; 2];
    let mut count = 0usize;
    let mut record = |base: usize, mut mask: u64| {
        while mask != 0 {
            let at = base + (mask.trailing_zeros() / 8) as usize;
            if let Some(slot) = found.get_mut(count) {
                *slot = at;
            }
            count += 1;
            mask &= mask - 1;
        }
    };
    let mut words = message.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut words {
        record(
            base,
            zero_octets(u64::from_le_bytes(chunk.try_into().unwrap_or([1; 8]))),
        );
        base += 8;
    }
    let mut last = [1u8; 8];
    for (slot, &b) in last.iter_mut().zip(words.remainder()) {
        *slot = b;
    }
    record(base, zero_octets(u64::from_le_bytes(last)));
    (count == 2).then_some((found[0], found[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mechanism, Proof, VerifyRequest};

    /// The parsed credentials as the request the exchange builds from them.
    fn parse(message: &[u8], allow_proxy: bool) -> Result<VerifyRequest, Failure> {
        super::parse(message, allow_proxy).map(|c| VerifyRequest {
            mechanism: Mechanism::Plain,
            authcid: c.authcid,
            authzid: c.authzid,
            proof: Proof::Password(c.password),
        })
    }

    fn ok(message: &[u8], proxy: bool) -> VerifyRequest {
        parse(message, proxy).expect("valid PLAIN message")
    }

    #[test]
    fn two_nuls_finds_exactly_two() {
        let naive = |m: &[u8]| {
            let at: Vec<usize> = (0..m.len()).filter(|&i| m[i] == 0).collect();
            (at.len() == 2).then(|| (at[0], at[1]))
        };
        for len in 0..26 {
            for i in 0..len {
                for j in i..len {
                    for fill in [1u8, 0x80, 0xff, b'a'] {
                        let mut m = vec![fill; len];
                        m[i] = 0;
                        m[j] = 0;
                        assert_eq!(two_nuls(&m), naive(&m), "{m:?}");
                        // One more NUL: three (or two, when i == j) in all.
                        if let Some(k) = (0..len).find(|&k| k != i && k != j) {
                            m[k] = 0;
                            assert_eq!(two_nuls(&m), naive(&m), "{m:?}");
                            if i != j {
                                assert_eq!(two_nuls(&m), None);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rfc4616_examples() {
        // §4: "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq".
        let r = ok(b"\0tim\0tanstaaftanstaaf", false);
        assert_eq!((r.authcid.as_str(), r.authzid.as_deref()), ("tim", None));
        assert_eq!(r.password(), Some("tanstaaftanstaaf"));
        assert_eq!(
            parse(b"Ursel\0Kurt\0xipj3plmq", false),
            Err(Failure::AuthorizationDenied)
        );
        let r = ok(b"Ursel\0Kurt\0xipj3plmq", true);
        assert_eq!(
            (r.authcid.as_str(), r.authzid.as_deref()),
            ("Kurt", Some("Ursel"))
        );
    }

    #[test]
    fn authzid_equal_to_authcid_is_normalised() {
        let r = ok(b"ned\0ned\0pw", false);
        assert_eq!(r.authzid, None);
    }

    #[test]
    fn field_count_and_emptiness() {
        for bad in [&b""[..], b"\0", b"ned\0pw", b"\0ned\0pw\0", b"a\0b\0c\0d"] {
            assert!(matches!(parse(bad, true), Err(Failure::Malformed(_))), "{bad:?}");
        }
        assert_eq!(
            parse(b"\0\0pw", true),
            Err(Failure::Malformed("empty authentication identity"))
        );
        assert_eq!(parse(b"\0ned\0", true), Err(Failure::Malformed("empty password")));
    }

    #[test]
    fn field_length_limit_is_255_octets() {
        let f255 = "u".repeat(255);
        let f256 = "u".repeat(256);
        let msg = |a: &str, c: &str, p: &str| format!("{a}\0{c}\0{p}").into_bytes();
        assert!(parse(&msg(&f255, &f255, &f255), true).is_ok());
        for m in [msg(&f256, "u", "p"), msg("", &f256, "p"), msg("", "u", &f256)] {
            assert_eq!(
                parse(&m, true),
                Err(Failure::Malformed("field longer than 255 octets"))
            );
        }
    }

    #[test]
    fn utf8_checked_and_saslprep_applied() {
        assert_eq!(
            parse(b"\0n\xffd\0pw", true),
            Err(Failure::Malformed("not valid UTF-8"))
        );
        assert_eq!(
            parse(b"\0ned\0p\xc3", true),
            Err(Failure::Malformed("not valid UTF-8"))
        );
        assert_eq!(
            parse(b"\xc3\0ned\0pw", true),
            Err(Failure::Malformed("not valid UTF-8"))
        );
        // U+00AD (soft hyphen) is mapped to nothing; U+2168 (ROMAN NUMERAL NINE) → "IX".
        let r = ok("\0us\u{00AD}er\0\u{2168}".as_bytes(), false);
        assert_eq!(r.authcid, "user");
        assert_eq!(r.password(), Some("IX"));
        // A prohibited character (BEL) makes preparation, hence verification, fail.
        assert_eq!(parse(b"\0ned\0p\x07w", false), Err(Failure::BadCredentials));
    }
}
