//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.

use zeroize::Zeroizing;

use super::{prepared_field, MAX_FIELD};
use crate::{Failure, Mechanism, Proof, VerifyRequest};

/// Parse and check one PLAIN message.
pub(super) fn parse(message: &[u8], allow_proxy: bool) -> Result<VerifyRequest, Failure> {
    let mut fields = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(Failure::Malformed(
            "PLAIN needs exactly three NUL-separated fields",
        ));
    };
    if authzid.len() > MAX_FIELD {
        return Err(Failure::Malformed("field longer than 255 octets"));
    }
    let authzid = std::str::from_utf8(authzid).map_err(|_| Failure::Malformed("not valid UTF-8"))?;
    let authcid_raw = std::str::from_utf8(authcid).map_err(|_| Failure::Malformed("not valid UTF-8"))?;
    let authcid = prepared_field(authcid, "empty authentication identity")?;
    let password = Zeroizing::new(prepared_field(password, "empty password")?);
    let authzid = if authzid.is_empty() || authzid == authcid || authzid == authcid_raw {
        None
    } else if allow_proxy {
        Some(authzid.to_owned())
    } else {
        return Err(Failure::AuthorizationDenied);
    };
    Ok(VerifyRequest {
        mechanism: Mechanism::Plain,
        authcid,
        authzid,
        proof: Proof::Password(password),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(message: &[u8], proxy: bool) -> VerifyRequest {
        parse(message, proxy).expect("valid PLAIN message")
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
