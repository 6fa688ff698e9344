//! Shared building blocks of the mailcrates protocol sessions.
//!
//! SMTP submission, POP3 and IMAP all need the same pieces, and this
//! crate is their single home so that each is written (and fuzzed) once:
//!
//! * [`LineReader`]: an incremental, bounded line framer. Every buffer has a
//!   limit; an over-long line is reported once and skipped, never buffered.
//! * [`Session`]: the sans-IO contract every protocol session implements —
//!   `receive` bytes, drain `next_event`, drain `output` — plus the STARTTLS
//!   hand-off hooks that `mail-tls`'s `Secured` wrapper drives.
//! * [`TlsInfo`]: the facts about an established TLS channel that logs and
//!   `Received:` headers print (`TLSv1.3 with cipher … (256/256 bits)`).
//! * [`dot`]: the scan kernel of SMTP `DATA` unstuffing and POP3 `RETR`
//!   stuffing (the one SIMD, `unsafe` module of the workspace).
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
// `unsafe` is denied everywhere except the measured SIMD kernel in `dot`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod decimal;
#[allow(unsafe_code)]
pub mod dot;
mod line;
mod session;
mod tls_info;

pub use decimal::push_decimal;
pub use line::{Line, LineReader};
pub use session::{Farewell, Session, TlsSwitch};
pub use tls_info::TlsInfo;
