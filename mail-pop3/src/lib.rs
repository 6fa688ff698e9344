//! A sans-IO POP3 server session: RFC 1939 (USER/PASS, APOP, STAT, LIST,
//! RETR, TOP, DELE, RSET, UIDL, NOOP, QUIT with the UPDATE state), CAPA
//! (RFC 2449), STLS (RFC 2595) and SASL AUTH (RFC 5034, through
//! `mail_sasl`).
//!
//! The session never touches a socket, a clock or the maildrop: the caller
//! pushes bytes in, drains events (each decision is answered by a method
//! call), and writes the output. Message bytes are streamed through the
//! session, which converts line endings to CRLF and dot-stuffs them.
//!
//! ```
//! use mail_pop3::{Config, Event, MessageInfo, Pop3Session, wire_size};
//! use mail_proto::Session;
//! use mail_sasl::{BackendCapabilities, MechanismSet, VerifyOutcome};
//!
//! let backend = BackendCapabilities { plaintext: true, secret_mechanisms: MechanismSet::empty() };
//! let mut config = Config::new("pop.example.test", backend, [42; 16]);
//! config.secure_from_start = true; // POP3S: USER/PASS allowed
//! let mut pop = Pop3Session::new(config);
//! assert_eq!(pop.take_output(), b"+OK POP3 server ready.\r\n");
//!
//! let stored = b"Subject: hi\n\n.leading dot\n"; // Maildir files hold bare LF
//! pop.receive(b"USER ned\r\nPASS secret\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n");
//! while let Some(event) = pop.next_event() {
//!     match event {
//!         Event::AuthVerify(request) => {
//!             let ok = request.authcid == "ned" && request.password() == Some("secret");
//!             let outcome = if ok { VerifyOutcome::Success { server_proof: None } } else { VerifyOutcome::Failure };
//!             pop.auth_verified(outcome).unwrap();
//!         }
//!         Event::OpenMaildrop { user } => {
//!             assert_eq!(user, "ned");
//!             let uid = "1700000000.M1P2.host".to_string();
//!             pop.maildrop_opened(vec![MessageInfo { size: wire_size(stored), uid }]).unwrap();
//!         }
//!         Event::Retrieve { index: 0, top_lines: None } => {
//!             for chunk in stored.chunks(5) {
//!                 pop.send_message_chunk(chunk).unwrap();
//!             }
//!             pop.message_done().unwrap();
//!         }
//!         Event::Update { deleted } => {
//!             assert_eq!(deleted, vec![0]); // remove the file now, then:
//!             pop.update_done().unwrap();
//!         }
//!         _ => {}
//!     }
//! }
//! let out = String::from_utf8(pop.take_output()).unwrap();
//! assert_eq!(
//!     out,
//!     "+OK\r\n+OK Logged in.\r\n+OK 29 octets\r\nSubject: hi\r\n\r\n..leading dot\r\n.\r\n\
//!      +OK Marked to be deleted.\r\n+OK Logging out.\r\n"
//! );
//! assert!(pop.is_closed());
//! ```
//!
//! Plaintext authentication over cleartext follows
//! [`mail_sasl::MechanismPolicy::tls_auth_only`]: USER, PASS and AUTH
//! PLAIN/LOGIN get `-ERR [AUTH] Plaintext authentication disallowed on
//! non-secure (SSL/TLS) connections.` until STLS.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod apop;
mod error;
mod message;
pub mod parse;
pub mod reply;
mod session;

pub use apop::{apop_digest, ApopRequest};
pub use error::Pop3Error;
pub use message::{stuff_message, wire_size, MessageEncoder, WireSize};
pub use session::{AuthMethod, Config, Event, MessageInfo, Pop3Session};
