//! Shared building blocks of the mailcrates protocol sessions.
//!
//! SMTP submission, POP3 and IMAP all need the same three pieces, and this
//! crate is their single home so that each is written (and fuzzed) once:
//!
//! * [`LineReader`]: an incremental, bounded line framer. Every buffer has a
//!   limit; an over-long line is reported once and skipped, never buffered.
//! * [`Session`]: the sans-IO contract every protocol session implements —
//!   `receive` bytes, drain `next_event`, drain `output` — plus the STARTTLS
//!   hand-off hooks that `mail-tls`'s `Secured` wrapper drives.
//! * [`TlsInfo`]: the facts about an established TLS channel that logs and
//!   `Received:` headers print (`TLSv1.3 with cipher … (256/256 bits)`).
//!
//! ```
//! use mail_proto::{LineReader, Line};
//!
//! let mut reader = LineReader::new(512);
//! reader.push(b"EHLO client.example\r\nNOOP\r\nQU");
//! assert_eq!(reader.next_line(), Some(Line::Complete(b"EHLO client.example")));
//! assert_eq!(reader.next_line(), Some(Line::Complete(b"NOOP")));
//! assert_eq!(reader.next_line(), None); // "QU" waits for the rest
//! reader.push(b"IT\r\n");
//! assert_eq!(reader.next_line(), Some(Line::Complete(b"QUIT")));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod line;
mod session;
mod tls_info;

pub use line::{Line, LineReader};
pub use session::{Session, TlsSwitch};
pub use tls_info::TlsInfo;
