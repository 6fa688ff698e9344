//! `EchoSession`: the smallest [`Session`] with STARTTLS, used by this
//! crate's docs, tests, fuzz target and the `tls-echo` example server.
//!
//! It speaks just enough SMTP for `openssl s_client -starttls smtp`:
//! greeting `220`, `EHLO` → `250-… 250-STARTTLS …`, `STARTTLS` → `220`,
//! `NOOP` → `250`, `QUIT` → `221`; any other line is echoed back as
//! `250 <line>`; its farewell is `421 shutting down` / `421 idle timeout`. It follows the `mail_proto` STARTTLS contract exactly:
//! after an accepted STARTTLS nothing more is parsed, later input is only
//! counted, and `tls_established` forgets the cleartext state.

use mail_proto::{Farewell, Line, LineReader, Session, TlsInfo, TlsSwitch};

/// Longest accepted line (octets, terminator excluded).
pub const ECHO_MAX_LINE: usize = 512;
/// Input held unprocessed before `wants_input` turns false.
const ECHO_MAX_BUFFERED: usize = 8 * 1024;

/// What the echo session reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoEvent {
    /// A command line was executed (its text, as received).
    Command(String),
    /// The session accepted STARTTLS; the switch happens after the reply.
    StartTls,
}

/// A line-echo session with SMTP-like STARTTLS (see the module docs).
#[derive(Debug, Clone)]
pub struct EchoSession {
    host: String,
    reader: LineReader,
    output: Vec<u8>,
    starttls_offered: bool,
    secure: bool,
    awaiting_tls: bool,
    /// Bytes received while awaiting TLS (counted, never stored).
    discarded: usize,
    ehlo_seen: bool,
    closed: bool,
    tls: Option<TlsInfo>,
}

impl EchoSession {
    /// A cleartext session (port 25/587 style) that offers STARTTLS when
    /// `starttls_offered`.
    pub fn new(host: &str, starttls_offered: bool) -> Self {
        let mut session = Self {
            host: host.to_string(),
            reader: LineReader::new(ECHO_MAX_LINE),
            output: Vec::new(),
            starttls_offered,
            secure: false,
            awaiting_tls: false,
            discarded: 0,
            ehlo_seen: false,
            closed: false,
            tls: None,
        };
        session.reply(&format!("220 {host} ESMTP echo"));
        session
    }

    /// A session for an implicit-TLS port: secure from the start, no STARTTLS.
    pub fn implicit(host: &str) -> Self {
        let mut session = Self::new(host, false);
        session.secure = true;
        session
    }

    /// Whether the channel is (or will be, for implicit TLS) encrypted.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Whether EHLO was seen since the last reset (forgotten by STARTTLS).
    pub fn ehlo_seen(&self) -> bool {
        self.ehlo_seen
    }

    /// The TLS facts given by the wrapper, once established.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    fn reply(&mut self, line: &str) {
        self.output.extend_from_slice(line.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    fn execute(&mut self, line: &str) -> EchoEvent {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                self.ehlo_seen = true;
                let host = self.host.clone();
                if self.starttls_offered && !self.secure {
                    self.reply(&format!("250-{host}"));
                    self.reply("250-STARTTLS");
                    self.reply("250 8BITMIME");
                } else {
                    self.reply(&format!("250-{host}"));
                    self.reply("250 8BITMIME");
                }
            }
            "STARTTLS" => {
                if self.secure {
                    self.reply("554 5.5.1 Error: TLS already active");
                } else if !self.starttls_offered {
                    self.reply("502 5.5.1 Error: command not implemented");
                } else {
                    self.reply("220 2.0.0 Ready to start TLS");
                    self.awaiting_tls = true;
                    return EchoEvent::StartTls;
                }
            }
            "NOOP" => self.reply("250 2.0.0 Ok"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye");
                self.closed = true;
            }
            _ => {
                let echoed: String = line
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                self.reply(&format!("250 {echoed}"));
            }
        }
        EchoEvent::Command(line.to_string())
    }
}

impl Session for EchoSession {
    type Event = EchoEvent;

    fn receive(&mut self, data: &[u8]) {
        if self.closed {
            return;
        }
        if self.awaiting_tls {
            self.discarded = self.discarded.saturating_add(data.len());
        } else {
            self.reader.push(data);
        }
    }

    fn next_event(&mut self) -> Option<EchoEvent> {
        if self.closed || self.awaiting_tls {
            return None;
        }
        let line = match self.reader.next_line()? {
            Line::Complete(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Line::TooLong => {
                self.reply("500 5.5.6 Error: line too long");
                return Some(EchoEvent::Command(String::new()));
            }
        };
        Some(self.execute(&line))
    }

    fn output(&self) -> &[u8] {
        &self.output
    }

    fn consume_output(&mut self, n: usize) {
        let n = n.min(self.output.len());
        self.output.drain(..n);
    }

    fn wants_input(&self) -> bool {
        !self.closed && self.reader.buffered() < ECHO_MAX_BUFFERED
    }

    fn tls_switch(&self) -> TlsSwitch {
        if self.awaiting_tls {
            TlsSwitch::AfterOutput
        } else {
            TlsSwitch::None
        }
    }

    fn tls_established(&mut self, info: &TlsInfo) -> usize {
        let discarded = self.reader.clear().saturating_add(self.discarded);
        self.discarded = 0;
        self.awaiting_tls = false;
        self.secure = true;
        self.ehlo_seen = false;
        self.tls = Some(info.clone());
        discarded
    }

    fn is_closed(&self) -> bool {
        self.closed
    }

    /// `421 shutting down` / `421 idle timeout`, then closed.
    fn farewell(&mut self, reason: Farewell) {
        if self.closed || self.awaiting_tls {
            return;
        }
        self.output.extend_from_slice(match reason {
            Farewell::Shutdown => b"421 shutting down\r\n".as_slice(),
            Farewell::IdleTimeout => b"421 idle timeout\r\n".as_slice(),
        });
        self.closed = true;
    }
}
