//! TLS for mail servers, with rustls (ring provider) only.
//!
//! * [`ServerTls`]: a rustls `ServerConfig` made for a mail listener — PEM
//!   files with a key-permission check (`chmod 600`), TLS 1.2/1.3 only,
//!   forward-secret suites, session cache + tickets, SNI certificate
//!   selection, strict ALPN per [`MailProtocol`] (ALPACA), optional client
//!   certificates. See [`config`] for the policy.
//! * [`self_signed`] / [`certificate_request`]: the `genkey` step
//!   ([`CertAndKey::write_to`] creates the key file with mode 0600).
//! * [`Secured`]: the sans-IO composition of a `mail_proto::Session` and a
//!   `rustls::ServerConnection`, switching at the exact byte after STARTTLS,
//!   or TLS from byte 0 on implicit-TLS ports. Same `receive` /
//!   `next_event` / `take_output` shape as the sessions themselves.
//! * [`blocking::serve`] (and, with feature `tokio`, `tokio::serve`): thin
//!   drivers over a socket.
//!
//! The sans-IO loop, here on a STARTTLS port with an injection attempt
//! (`NOOP` pipelined after `STARTTLS` is never executed):
//!
//! ```
//! use mail_tls::echo::{EchoEvent, EchoSession};
//! use mail_tls::{self_signed, MailProtocol, Secured, SecuredEvent, ServerTls};
//!
//! let cert = self_signed(&["mail.example.com".into()], 30)?;
//! let tls = ServerTls::from_cert_and_key(&cert, MailProtocol::Smtp)?;
//! let mut conn = Secured::starttls(EchoSession::new("mail.example.com", true), Some(tls));
//!
//! assert!(conn.take_output().starts_with(b"220 mail.example.com")); // greeting
//! conn.receive(b"EHLO client\r\nSTARTTLS\r\nNOOP\r\n")?;             // one TCP read
//! let mut commands = Vec::new();
//! while let Some(event) = conn.next_event() {
//!     if let SecuredEvent::Session(EchoEvent::Command(c)) = event {
//!         commands.push(c);
//!     }
//! }
//! assert_eq!(commands, ["EHLO client"]); // STARTTLS accepted, NOOP not parsed
//! let out = conn.take_output(); // the last cleartext: "220 2.0.0 Ready to start TLS"
//! assert!(out.ends_with(b"220 2.0.0 Ready to start TLS\r\n"));
//! assert!(conn.is_tls()); // from now on every received byte goes to rustls;
//! // after the handshake: SecuredEvent::TlsEstablished(info), then
//! // SecuredEvent::InjectionDiscarded { bytes: 6 }.
//! # Ok::<(), mail_tls::TlsError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocking;
mod certgen;
pub mod config;
pub mod echo;
mod error;
mod info;
mod secured;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use certgen::{certificate_request, self_signed, CertAndKey, CsrAndKey};
pub use config::{MailProtocol, ServerTls, ServerTlsBuilder, TlsVersion};
pub use error::TlsError;
pub use info::tls_info;
pub use mail_proto::TlsInfo;
pub use secured::{Secured, SecuredEvent};
