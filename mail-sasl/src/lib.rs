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
pub use verify::{Proof, StoredSecret, VerifyOutcome, VerifyRequest};
