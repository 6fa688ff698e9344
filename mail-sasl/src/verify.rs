//! Verification requests and stored secrets.

use zeroize::Zeroizing;

use crate::Mechanism;

/// The mechanism-specific proof a client presented.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proof {
    /// The password itself (PLAIN, LOGIN).
    Password(Zeroizing<String>),
    /// CRAM-MD5: HMAC-MD5 of the challenge keyed with the password.
    CramMd5 {
        /// The challenge the server sent.
        challenge: Vec<u8>,
        /// The 16-octet digest the client sent (decoded from hex).
        digest: [u8; 16],
    },
    /// DIGEST-MD5: what is needed to recompute `response` and `rspauth`.
    DigestMd5 {
        /// The realm the client used.
        realm: String,
        /// Server nonce.
        nonce: String,
        /// Client nonce.
        cnonce: String,
        /// Nonce count, as the 8 hex digits sent.
        nc: String,
        /// Quality of protection (`auth`).
        qop: String,
        /// The digest-uri the client sent.
        digest_uri: String,
        /// The authzid directive, if sent.
        authzid: Option<String>,
        /// The client's `response` (32 hex digits, lowercase).
        response: String,
    },
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets or material an attacker could replay.
        match self {
            Proof::Password(_) => f.write_str("Password(<redacted>)"),
            Proof::CramMd5 { .. } => f.write_str("CramMd5(<redacted>)"),
            Proof::DigestMd5 { realm, .. } => write!(f, "DigestMd5 {{ realm: {realm:?}, .. }}"),
        }
    }
}

/// Credentials to check: produced by an exchange, checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The mechanism that produced the request.
    pub mechanism: Mechanism,
    /// Authentication identity (user name), SASLprep'ed where the mechanism says so.
    pub authcid: String,
    /// Requested authorization identity, if different from `authcid`.
    pub authzid: Option<String>,
    /// The proof.
    pub proof: Proof,
}

impl VerifyRequest {
    /// The password, for mechanisms that carry one (PLAIN, LOGIN).
    pub fn password(&self) -> Option<&str> {
        match &self.proof {
            Proof::Password(p) => Some(p.as_str()),
            _ => None,
        }
    }

    /// Check the proof against a stored secret, in constant time.
    ///
    /// A secret of the wrong kind for the proof (e.g. a SHA512-CRYPT hash
    /// for a CRAM-MD5 proof) fails. For unknown users call
    /// [`StoredSecret::dummy_verify`] instead so timing does not reveal the
    /// difference.
    pub fn verify_with(&self, _secret: &StoredSecret) -> VerifyOutcome {
        todo!("verification")
    }
}

/// A secret as stored by a credential backend (Dovecot scheme names).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredSecret {
    /// `{PLAIN}`: the password itself (serves every mechanism).
    Plain(Zeroizing<String>),
    /// `{CRAM-MD5}`: the HMAC-MD5 inner/outer context (Dovecot format, 32 octets).
    CramMd5([u8; 32]),
    /// `{DIGEST-MD5}`: H(A1) = MD5(user:realm:password) for one realm.
    DigestMd5 {
        /// MD5(user ":" realm ":" password).
        ha1: [u8; 16],
    },
    /// A one-way hash (`{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{BLF-CRYPT}`,
    /// `{ARGON2ID}`): serves plaintext mechanisms only. The full scheme-prefixed string.
    Hashed(String),
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredSecret::Plain(_) => "Plain(<redacted>)",
            StoredSecret::CramMd5(_) => "CramMd5(<redacted>)",
            StoredSecret::DigestMd5 { .. } => "DigestMd5(<redacted>)",
            StoredSecret::Hashed(_) => "Hashed(<redacted>)",
        })
    }
}

impl StoredSecret {
    /// A plain password secret.
    pub fn plain(password: &str) -> Self {
        StoredSecret::Plain(Zeroizing::new(password.to_owned()))
    }

    /// Spend about the time a real verification of `request` would, then fail.
    /// Used for unknown users so that they are indistinguishable from wrong passwords.
    pub fn dummy_verify(_request: &VerifyRequest) -> VerifyOutcome {
        todo!("verification")
    }
}

/// The answer to a [`VerifyRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyOutcome {
    /// Verified. `server_proof` carries what the mechanism must send back
    /// (DIGEST-MD5 `rspauth=…`); `None` for the others.
    Success {
        /// Mechanism-specific server evidence, if any.
        server_proof: Option<Vec<u8>>,
    },
    /// Wrong credentials or unknown user (never distinguished).
    Failure,
    /// The backend could not decide (unavailable): a temporary failure.
    Temporary,
}
