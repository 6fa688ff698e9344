//! Verification requests and stored secrets.

use zeroize::Zeroizing;

use crate::crypto::{self, DigestInputs};
use crate::{md5_state, passwd_file, Mechanism};

/// A fixed SHA512-CRYPT hash (default 5000 rounds, like `doveadm pw` and
/// [`passwd_file::hash_password`]) of a random password nobody knows: the
/// work an unknown user costs when nothing better is known.
const DUMMY_SHA512_CRYPT: &str = "{SHA512-CRYPT}$6$4m9wxa8xAhARGdid$4n.IgSLsJplloTUmmOn8MxRexn/k0fyCvf6cMci59AeJ/Dx28m0HxYXvPLBlm7bDiDvK8TzWOWzlYyy.P4ZmG1";

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
    /// DIGEST-MD5: what is needed to recompute `response` and `rspauth`
    /// (boxed: it is rare and large, and every [`crate::Step`] would
    /// otherwise be as large as it).
    DigestMd5(Box<DigestMd5Proof>),
}

/// The parts of a DIGEST-MD5 response needed to recompute `response` and `rspauth`.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestMd5Proof {
    /// The realm the client used.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Client nonce.
    pub cnonce: String,
    /// Nonce count, as the 8 hex digits sent.
    pub nc: String,
    /// Quality of protection (`auth`).
    pub qop: String,
    /// The digest-uri the client sent.
    pub digest_uri: String,
    /// The authzid directive, if sent.
    pub authzid: Option<String>,
    /// The client's `response` (32 hex digits, lowercase).
    pub response: String,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets or material an attacker could replay.
        match self {
            Proof::Password(_) => f.write_str("Password(<redacted>)"),
            Proof::CramMd5 { .. } => f.write_str("CramMd5(<redacted>)"),
            Proof::DigestMd5(proof) => write!(f, "DigestMd5 {{ realm: {:?}, .. }}", proof.realm),
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
    #[inline]
    pub fn verify_with(&self, secret: &StoredSecret) -> VerifyOutcome {
        // The common case (PLAIN/LOGIN against a {PLAIN} secret) stays small
        // enough to inline; the hashing cases are out of line.
        if let (Proof::Password(password), StoredSecret::Plain(stored)) = (&self.proof, secret) {
            return outcome(crypto::passwords_equal(password, stored));
        }
        self.verify_other(secret)
    }

    /// [`Self::verify_with`] for every pairing but password / `{PLAIN}`.
    #[inline(never)]
    fn verify_other(&self, secret: &StoredSecret) -> VerifyOutcome {
        let ok = match (&self.proof, secret) {
            (Proof::Password(password), StoredSecret::Plain(stored)) => {
                crypto::passwords_equal(password, stored)
            }
            (Proof::Password(password), StoredSecret::CramMd5(context)) => {
                let computed = Zeroizing::new(md5_state::cram_context(password.as_bytes()));
                crypto::ct_eq(&computed[..], &context[..])
            }
            (Proof::Password(password), StoredSecret::DigestMd5 { ha1 }) => {
                // Dovecot's convention for a plaintext check against
                // {DIGEST-MD5}: "user@realm" hashes as user:realm:password,
                // a user without '@' as user::password.
                let (user, realm) = self
                    .authcid
                    .split_once('@')
                    .unwrap_or((self.authcid.as_str(), ""));
                crypto::ct_eq(&crypto::digest_md5_ha1(user, realm, password), ha1)
            }
            (Proof::Password(password), StoredSecret::Hashed(hash)) => {
                passwd_file::verify_hashed(hash, password)
            }
            (Proof::CramMd5 { challenge, digest }, StoredSecret::Plain(stored)) => {
                crypto::ct_eq(&crypto::hmac_md5(stored.as_bytes(), challenge), digest)
            }
            (Proof::CramMd5 { challenge, digest }, StoredSecret::CramMd5(context)) => {
                crypto::ct_eq(&md5_state::hmac_from_context(context, challenge), digest)
            }
            (Proof::DigestMd5(proof), StoredSecret::Plain(stored)) => {
                let ha1 = Zeroizing::new(crypto::digest_md5_ha1(&self.authcid, &proof.realm, stored));
                return digest_md5_outcome(proof, &ha1);
            }
            (Proof::DigestMd5(proof), StoredSecret::DigestMd5 { ha1 }) => {
                return digest_md5_outcome(proof, ha1)
            }
            // A secret of the wrong kind for the proof cannot verify it.
            _ => false,
        };
        outcome(ok)
    }
}

/// DIGEST-MD5: compare the client's `response` and, on success, return
/// `rspauth=<hex>` as the server proof.
fn digest_md5_outcome(proof: &DigestMd5Proof, ha1: &[u8; 16]) -> VerifyOutcome {
    let DigestMd5Proof {
        nonce,
        cnonce,
        nc,
        qop,
        digest_uri,
        authzid,
        response,
        ..
    } = proof;
    let inputs = DigestInputs {
        nonce,
        cnonce,
        nc,
        qop,
        digest_uri,
        authzid: authzid.as_deref(),
    };
    let expected = crypto::digest_md5_response(ha1, &inputs, true);
    if crypto::ct_eq(expected.as_bytes(), response.to_ascii_lowercase().as_bytes()) {
        let rspauth = crypto::digest_md5_response(ha1, &inputs, false);
        VerifyOutcome::Success {
            server_proof: Some(format!("rspauth={rspauth}").into_bytes()),
        }
    } else {
        VerifyOutcome::Failure
    }
}

/// Success (with no server proof) or failure.
fn outcome(ok: bool) -> VerifyOutcome {
    if ok {
        VerifyOutcome::Success { server_proof: None }
    } else {
        VerifyOutcome::Failure
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
    /// Used for unknown users so that they are indistinguishable from wrong
    /// passwords: the request is checked against
    /// [`StoredSecret::unknown_user_stand_in`] and the result discarded.
    pub fn dummy_verify(request: &VerifyRequest) -> VerifyOutcome {
        let _ = request.verify_with(&StoredSecret::unknown_user_stand_in(&request.proof));
        VerifyOutcome::Failure
    }

    /// The secret an unknown user's proof is checked against by
    /// [`StoredSecret::dummy_verify`]: for a password, a fixed
    /// `{SHA512-CRYPT}` hash with the default 5000 rounds (what
    /// [`passwd_file::hash_password`] writes) of a password nobody knows; for
    /// CRAM-MD5 and DIGEST-MD5, fixed contexts of the right size.
    /// Backends whose users have other schemes or costs should check
    /// against one of their own secrets instead, as
    /// [`passwd_file::PasswdFile`] does.
    pub fn unknown_user_stand_in(proof: &Proof) -> StoredSecret {
        match proof {
            Proof::Password(_) => StoredSecret::Hashed(DUMMY_SHA512_CRYPT.to_owned()),
            Proof::CramMd5 { .. } => StoredSecret::CramMd5([0x5a; 32]),
            Proof::DigestMd5(_) => StoredSecret::DigestMd5 { ha1: [0x5a; 16] },
        }
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
