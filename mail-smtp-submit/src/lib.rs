//! A sans-IO ESMTP server session for mail submission and relay: what
//! Postfix's `smtpd` does on ports 25, 587 and 465, as a plain value that
//! never touches a socket, a clock or a file.
//!
//! The driver pushes bytes in, drains events (answering decisions), and
//! writes the output:
//!
//! ```
//! use std::sync::Arc;
//! use mail_proto::Session;
//! use mail_smtp_submit::{ClientInfo, Config, Event, Profile, Reply, SmtpSession};
//!
//! let mut config = Config::new(Profile::Mta, "mx.example.org");
//! config.relay.mydestination = vec!["example.org".into()];
//! let client = ClientInfo::new("203.0.113.9".parse().unwrap());
//! let mut session = SmtpSession::new(Arc::new(config), client);
//! assert_eq!(session.take_output(), b"220 mx.example.org ESMTP\r\n");
//!
//! // A pipelined transaction in one read.
//! session.receive(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\n\
//!     RCPT TO:<ned@example.org>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n");
//! let mut stored = Vec::new();
//! while let Some(event) = session.next_event() {
//!     match event {
//!         Event::Recipient => {
//!             let known = session.pending_recipient().unwrap().address == "ned@example.org";
//!             if known {
//!                 session.accept_recipient().unwrap();
//!             } else {
//!                 let rcpt = session.pending_recipient().unwrap().address.clone();
//!                 session.reject_recipient(Reply::user_unknown(&rcpt)).unwrap();
//!             }
//!         }
//!         Event::MessageBegin => session.message_begin("4AbC12", "Sun, 22 Nov 2026 22:43:20 +0000").unwrap(),
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! let out = String::from_utf8(session.take_output()).unwrap();
//! assert!(out.contains("250-PIPELINING\r\n"));
//! assert!(out.contains("250 2.1.5 Ok\r\n550 5.1.1 <nobody@example.org>: Recipient address rejected"));
//! assert!(out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"));
//!
//! // The message, dot-stuffed, then the end of data.
//! session.receive(b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
//! while let Some(event) = session.next_event() {
//!     match event {
//!         Event::MessageChunk(bytes) => stored.extend_from_slice(&bytes),
//!         // Make the message durable first; only then is 250 written.
//!         Event::MessageEnd => session.message_stored("4AbC12").unwrap(),
//!         Event::Close => {}
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! let stored = String::from_utf8(stored).unwrap();
//! assert!(stored.starts_with("Received: from client.test (unknown [203.0.113.9])\r\n"));
//! assert!(stored.ends_with("\r\nSubject: hi\r\n\r\n.dot\r\n"));
//! assert_eq!(session.take_output(), b"250 2.0.0 Ok: queued as 4AbC12\r\n221 2.0.0 Bye\r\n");
//! assert!(session.is_closed());
//! ```
//!
//! Decisions and their answers ([`Event`]):
//!
//! | event | answer |
//! |---|---|
//! | `AuthVerify(request)` | [`SmtpSession::auth_verified`] (check with a `CredentialBackend`, off the event loop if it blocks) |
//! | `Recipient` | [`SmtpSession::accept_recipient`] / [`SmtpSession::reject_recipient`] (look at [`SmtpSession::pending_recipient`]) |
//! | `MessageBegin` | [`SmtpSession::message_begin`]`(queue_id, date)` — the session has no clock: the caller gives the `Received:` date |
//! | `MessageEnd` | [`SmtpSession::message_stored`]`(queue_id)` once durable, or [`SmtpSession::message_failed`] |
//! | `Delay(d)` | wait `d` before writing the pending output |
//! | `StartTls`, `Close` | see `mail_proto::Session::tls_switch` / `is_closed` |
//!
//! While a decision is pending nothing else is processed, so pipelined
//! replies stay in order. Talking before the greeting: input received while
//! the greeting is still in [`mail_proto::Session::output`] (not yet consumed
//! by the driver) is early talk and gets `554 5.5.0 Error: SMTP protocol
//! synchronization` and a close (`Config::reject_early_talk`); drivers
//! therefore write the greeting before reading, as `mail_tls::blocking::serve` does.
//!
//! Limits (all in [`Config`], all answered without closing the connection):
//! command lines of `max_command_line` octets (512, RFC 5321; longer:
//! `500 5.5.6 Error: command line too long`); message text lines of
//! `max_text_line` octets `<CR><LF>` included (1000, RFC 5321 §4.5.3.1.6;
//! `None` for no limit, as Postfix), and messages of `max_message_size`
//! octets. A message over either limit is read to its end but not handed
//! over ([`Event::MessageAborted`], no `MessageEnd`) and answered
//! `500 5.5.6 Error: message line too long` or `552 5.3.4 Error: message
//! file too big`; the next transaction works. SASL response lines may be
//! 12288 octets (RFC 4954; longer: `500 5.5.6 SASL response limit exceeded`).
//!
//! * [`policy`]: the relay decision as a pure function (Postfix restriction lists).
//! * [`data`]: the smuggling-proof `DATA` decoder and the text line check.
//! * [`parse`]: allocation-free command parsing.
//! * STARTTLS follows `mail_proto::Session`'s contract; `mail_tls::Secured`
//!   drives it. Listener profiles: [`Profile`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
mod config;
pub mod data;
mod error;
pub mod parse;
pub mod policy;
mod received;
mod reply;
mod session;

pub use config::{BareLf, ClientInfo, Config, Profile, TlsMode};
pub use error::SmtpError;
pub use reply::Reply;
pub use session::{Body, Event, MailParams, Recipient, Ret, SmtpSession};
