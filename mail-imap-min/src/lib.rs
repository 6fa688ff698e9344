//! A sans-IO minimal IMAP4rev1 server session: enough for mutt, Thunderbird,
//! fetchmail and Python's imaplib to log in securely and read, flag and
//! delete mail.
//!
//! The session never touches sockets, files or clocks. The caller pushes
//! bytes in, drains [`Event`]s (answering decisions: credentials, opening a
//! mailbox, a message's bytes), and writes the output:
//!
//! ```
//! use mail_imap_min::{Config, Event, Flags, ImapSession, MailboxView, MessageMeta};
//! use mail_proto::Session;
//! use mail_sasl::{BackendCapabilities, MechanismSet, VerifyOutcome};
//!
//! let backend = BackendCapabilities { plaintext: true, secret_mechanisms: MechanismSet::empty() };
//! let mut config = Config::new("mail.example.test", backend, [7; 16]);
//! config.implicit_tls = true; // port 993: the driver calls tls_established first
//! let mut session = ImapSession::new(config);
//! assert!(session.take_output().starts_with(b"* OK [CAPABILITY IMAP4rev1"));
//!
//! let message = b"Subject: hi\r\n\r\nhello\r\n".to_vec();
//! session.receive(b"a LOGIN ned secret\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[TEXT]\r\n");
//! while let Some(event) = session.next_event() {
//!     match event {
//!         Event::AuthVerify(request) => {
//!             assert_eq!(request.password(), Some("secret"));
//!             session.auth_verified(VerifyOutcome::Success { server_proof: None }).unwrap();
//!         }
//!         Event::OpenMailbox { name, .. } => {
//!             assert_eq!(name, "INBOX");
//!             let meta = MessageMeta { uid: 1, flags: Flags::empty(), internal_date: 0, size: message.len() as u64 };
//!             session.mailbox_opened(Some(MailboxView { uid_validity: 1, uid_next: 2, messages: vec![meta] })).unwrap();
//!         }
//!         Event::FetchMessage { uid } => {
//!             assert_eq!(uid, 1);
//!             session.message_content(Some(message.clone())).unwrap();
//!         }
//!         _ => {}
//!     }
//! }
//! let out = String::from_utf8(session.take_output()).unwrap();
//! assert!(out.contains("a OK [CAPABILITY"));
//! assert!(out.contains("* 1 EXISTS\r\n"));
//! assert!(out.contains("* 1 FETCH (BODY[TEXT] {7}\r\nhello\r\n)\r\n"));
//! assert!(out.ends_with("c OK Fetch completed.\r\n"));
//! ```
//!
//! Decisions the caller answers: [`Event::AuthVerify`] → `auth_verified`,
//! [`Event::OpenMailbox`] (SELECT/EXAMINE/STATUS) → `mailbox_opened`,
//! [`Event::ListMailboxes`] → `mailbox_list`, [`Event::FetchMessage`] (FETCH
//! and SEARCH needing bytes, one message at a time) → `message_content`,
//! [`Event::MailboxOp`] → `mailbox_op_done`, [`Event::CopyMessages`] (COPY,
//! MOVE) → `copy_done`, [`Event::AppendMessage`] → `append_done`. Changes to persist are notifications: [`Event::FlagsChanged`],
//! [`Event::Expunged`]. Changes made by others are reported to the session
//! (`mailbox_new_messages`, `mailbox_expunged`, `mailbox_flags_changed`)
//! and announced as `EXISTS`/`EXPUNGE`/`FETCH` when IMAP allows (at once
//! during IDLE). Limits: [`Limits`] (line, literal, command), nested SEARCH
//! keys, consecutive `BAD` commands, failed logins ([`mail_sasl::FailureTracker`]).
//!
//! Layout: [`parse`] (command grammar, zero-copy), [`CommandReader`]
//! (framing, literals, limits), [`ImapSession`] (state machine), [`store`]
//! (what the caller says about mailboxes), `mime` (ENVELOPE, BODYSTRUCTURE
//! and sections, with `mail-parser`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod mime;
pub mod parse;
mod reader;
mod reply;
mod session;
pub mod store;

pub use error::ImapError;
pub use reader::{CommandReader, Frame, Limits};
pub use session::{Config, CopyOutcome, Event, ImapSession, MailboxOp, OpenPurpose, DELIMITER};
pub use store::{Flags, MailboxView, MessageMeta};
