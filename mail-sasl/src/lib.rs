//! Server-side SASL for mail servers.
//!
//! Mechanisms are sans-IO step machines: the protocol session feeds client
//! responses in and gets a [`Step`] back — a challenge to send, a
//! [`VerifyRequest`] to check against a credential backend (so a blocking
//! backend such as PAM never blocks the state machine), success with an
//! [`Identity`], or a failure with a reason.
//!
//! ```
//! use mail_sasl::{Exchange, ExchangeContext, Mechanism, Step, StoredSecret};
//!
//! let ctx = ExchangeContext::new("smtp", "mail.example.test", [7; 16]);
//! // AUTH PLAIN with an initial response: "\0ned\0secret"
//! let (mut exchange, step) = Exchange::start(Mechanism::Plain, Some(b"\0ned\0secret"), &ctx);
//! let Step::Verify(request) = step else { panic!("PLAIN asks for verification") };
//! assert_eq!(request.authcid, "ned");
//! // The caller looks the user up; here the stored secret is a plain password.
//! let outcome = request.verify_with(&StoredSecret::plain("secret"));
//! match exchange.verified(outcome) {
//!     Step::Success(identity) => assert_eq!(identity.authorized_user(), "ned"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
//!
//! # Mechanisms
//!
//! | mechanism | notes |
//! |---|---|
//! | `PLAIN` (RFC 4616) | three NUL-separated fields, up to 255 octets each, UTF-8; authcid and password SASLprep'ed (and the stored `{PLAIN}` password too); authzid ≠ authcid needs [`ExchangeContext::allow_proxy_authorization`] |
//! | `LOGIN` | `Username:` / `Password:`; user name as initial response or not; an empty initial response asks for the user name; a trailing NUL is dropped |
//! | `CRAM-MD5` (RFC 2195) | challenge `<digits.digits@host>` from [`ExchangeContext::nonce`]; needs `{PLAIN}` or Dovecot's `{CRAM-MD5}` context |
//! | `DIGEST-MD5` (RFC 2831, historic) | qop=auth only; nonce from the context and used once; `nc`, `digest-uri`, realm checked; `rspauth` sent back; needs `{PLAIN}` or `{DIGEST-MD5}` H(A1) |
//! | `ANONYMOUS` | always refused ([`Failure::MechanismRefused`]) |
//!
//! Credential backends implement [`CredentialBackend`]; the passwd-file one
//! is [`passwd_file::PasswdFile`] (Dovecot `passwd-file` format, schemes
//! `PLAIN`, `CRAM-MD5`, `DIGEST-MD5`, `SHA512-CRYPT`, `SHA256-CRYPT`,
//! `BLF-CRYPT`, `ARGON2ID`) and [`passwd_file::hash_password`] writes its
//! lines. What a backend can verify decides what is offered
//! ([`MechanismPolicy::offered`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod crypto;
mod error;
mod exchange;
mod md5_state;
mod mech;
mod mechanism;
mod policy;
mod verify;
pub mod wire;

pub mod passwd_file;

#[cfg(feature = "pam")]
pub mod pam_backend;

pub mod dovecot;

pub use backend::{BackendCapabilities, CredentialBackend};
pub use error::SaslError;
pub use exchange::{Exchange, ExchangeContext, Failure, Identity, Step};
pub use mechanism::{Mechanism, MechanismSet};
pub use policy::{FailureAction, FailurePolicy, FailureTracker, MechanismPolicy};
pub use verify::{DigestMd5Proof, Proof, StoredSecret, VerifyOutcome, VerifyRequest};
