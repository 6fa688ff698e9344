//! The Dovecot authentication protocol (client and server roles), sans-IO.
//!
//! The wire format is lines of TAB-separated fields ending in LF, at most
//! 16 KiB ([`MAX_LINE`]); values are tab-escaped ([`escape`]) so that user
//! input can never add a field or a line.
//!
//! * [`DovecotAuthServer`] serves the protocol: Postfix
//!   (`smtpd_sasl_type = dovecot`) can use this crate's mechanisms and
//!   backends as its SASL backend. Password checks come out as
//!   [`ServerEvent::AuthVerify`] events the caller answers.
//! * [`DovecotAuthClient`] talks to an existing Dovecot auth socket;
//!   [`DovecotSocketBackend`] drives it over a Unix socket as a blocking
//!   [`crate::CredentialBackend`] (the only IO in this crate).
//!
//! The two roles talking to each other, the driver shuttling bytes:
//!
//! ```
//! use mail_proto::Session;
//! use mail_sasl::dovecot::{AuthParams, ClientEvent, DovecotAuthClient, DovecotAuthServer, ServerConfig, ServerEvent};
//! use mail_sasl::{Mechanism, MechanismSet, StoredSecret};
//!
//! let mechs = MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login]);
//! let mut server = DovecotAuthServer::new(ServerConfig::new(mechs, "mail.example.test", [9; 16]));
//! let mut client = DovecotAuthClient::new(4242);
//! let mut result = None;
//! for _round in 0..10 {
//!     server.receive(&client.take_output());
//!     while let Some(event) = server.next_event() {
//!         if let ServerEvent::AuthVerify(id, request) = event {
//!             // The caller's backend decides; here a fixed plain password.
//!             let outcome = request.verify_with(&StoredSecret::plain("secret"));
//!             server.verified(id, outcome);
//!         }
//!     }
//!     client.receive(&server.take_output());
//!     while let Some(event) = client.next_event() {
//!         match event {
//!             ClientEvent::Ready => {
//!                 client.start_plain(None, "ned", "secret", &AuthParams::new("smtp")).unwrap();
//!             }
//!             ClientEvent::Success { user, .. } => result = Some(user),
//!             other => panic!("unexpected {other:?}"),
//!         }
//!     }
//! }
//! assert_eq!(result.as_deref(), Some("ned"));
//! ```

mod client;
mod codec;
pub mod escape;
mod server;
mod socket;

#[cfg(test)]
mod tests;

pub use client::{AuthParams, ClientEvent, DovecotAuthClient, ServerMechanism};
pub use codec::{MAX_LINE, VERSION_MAJOR, VERSION_MINOR};
pub use server::{DovecotAuthServer, ServerConfig, ServerEvent, PLAINTEXT_DISALLOWED, UNSUPPORTED_MECHANISM};
pub use socket::{DovecotAnswer, DovecotSocketBackend};
