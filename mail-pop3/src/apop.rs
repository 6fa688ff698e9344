//! APOP (RFC 1939 §7): MD5 of the greeting's timestamp and a shared secret.
//!
//! APOP needs the plaintext secret on the server (`{PLAIN}` in a passwd
//! file), so it is offered only when the configuration says so. The session
//! never sees the secret: it emits [`crate::Event::ApopVerify`] with an
//! [`ApopRequest`] and the caller answers with [`crate::Pop3Session::auth_verified`].

use mail_sasl::{StoredSecret, VerifyOutcome};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// An APOP attempt to check against the user's stored secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApopRequest {
    /// The mailbox name the client gave.
    pub user: String,
    /// The timestamp of this session's greeting, `<…@host>`, brackets included.
    pub timestamp: String,
    /// The digest the client sent, decoded from hex.
    pub digest: [u8; 16],
}

impl std::fmt::Debug for ApopRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApopRequest")
            .field("user", &self.user)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl ApopRequest {
    /// Check the digest against a stored secret in constant time. Only a
    /// `{PLAIN}` secret can verify APOP; any other kind fails.
    pub fn verify_with(&self, secret: &StoredSecret) -> VerifyOutcome {
        let (password, usable) = match secret {
            StoredSecret::Plain(p) => (p.as_str(), true),
            _ => ("", false),
        };
        let expected = apop_digest(&self.timestamp, password);
        if bool::from(expected.ct_eq(&self.digest)) && usable {
            VerifyOutcome::Success { server_proof: None }
        } else {
            VerifyOutcome::Failure
        }
    }

    /// For unknown users: do the same work as [`verify_with`](Self::verify_with), then fail.
    pub fn dummy_verify(&self) -> VerifyOutcome {
        let expected = apop_digest(&self.timestamp, "");
        let _ = bool::from(expected.ct_eq(&self.digest));
        VerifyOutcome::Failure
    }
}

/// MD5(timestamp + secret): what an APOP client sends, as raw bytes.
///
/// ```
/// // RFC 1939 §7's example.
/// let d = mail_pop3::apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf");
/// let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
/// assert_eq!(hex, "c4c9334bac560ecc979e58001b3e22fb");
/// ```
pub fn apop_digest(timestamp: &str, secret: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Decode the 32 hex digits of an APOP digest (either case).
pub(crate) fn decode_hex_digest(hex: &[u8]) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        out[i] = (nib(pair[0])? << 4) | nib(pair[1])?;
    }
    Some(out)
}

/// MD5 of the seed and a label: derived per-session values (APOP timestamp,
/// SASL nonces) without an RNG inside the session.
pub(crate) fn derive(seed: &[u8; 16], label: &[u8], counter: u64) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(seed);
    h.update(label);
    h.update(counter.to_le_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1939_example_verifies() {
        let req = ApopRequest {
            user: "mrose".into(),
            timestamp: "<1896.697170952@dbc.mtview.ca.us>".into(),
            digest: decode_hex_digest(b"C4C9334BAC560ECC979E58001B3E22FB").unwrap(),
        };
        assert_eq!(
            req.verify_with(&StoredSecret::plain("tanstaaf")),
            VerifyOutcome::Success { server_proof: None }
        );
        assert_eq!(
            req.verify_with(&StoredSecret::plain("wrong")),
            VerifyOutcome::Failure
        );
        assert_eq!(
            req.verify_with(&StoredSecret::Hashed("{SHA512-CRYPT}x".into())),
            VerifyOutcome::Failure
        );
        assert_eq!(req.dummy_verify(), VerifyOutcome::Failure);
        assert!(decode_hex_digest(b"zz").is_none());
        assert!(decode_hex_digest(&[b'g'; 32]).is_none());
        assert!(!format!("{req:?}").contains("c4c9"));
    }
}
