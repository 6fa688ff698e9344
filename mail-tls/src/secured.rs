//! `Secured<S>`: a protocol session composed with a rustls server connection.
//!
//! The wrapper keeps the sans-IO shape (`receive` / `next_event` /
//! `take_output`) and performs the TLS switch at the exact byte:
//!
//! * **STARTTLS** ([`Secured::starttls`]): bytes go to the session in the
//!   clear. When the session accepts STARTTLS (its `tls_switch()` says
//!   [`TlsSwitch::AfterOutput`]), the next [`take_output`](Secured::take_output)
//!   hands out the pending cleartext reply (`220 Ready …`) and switches: every
//!   byte received from then on goes to rustls. Bytes the client sent after
//!   the STARTTLS line but before it could have seen the reply are never
//!   parsed (the session only counts them); once the handshake completes they
//!   are reported as [`SecuredEvent::InjectionDiscarded`]. Bytes injected after
//!   the reply was written reach rustls and fail the handshake
//!   ([`TlsError::PlaintextOnTlsPort`]). Either way they are never executed.
//! * **Implicit TLS** ([`Secured::implicit`], ports 465/993/995): TLS from byte
//!   0. The session's greeting waits in its output and is only written,
//!   encrypted, after the handshake; `tls_established` is called before any
//!   input reaches the session. Plaintext input is a TLS error (the peer gets
//!   at most a TLS alert record, never a plaintext reply).
//!
//! After a handshake the wrapper emits [`SecuredEvent::TlsEstablished`] first.
//! A TLS error makes [`receive`](Secured::receive) return `Err`; write what
//! [`take_output`](Secured::take_output) still returns (the alert) and close.
//! A `close_notify` from the peer is answered with one and closes the
//! connection, as does the session closing (after its last reply).

use std::collections::VecDeque;
use std::io::{Read, Write};

use mail_proto::{Session, TlsInfo, TlsSwitch};
use rustls::ServerConnection;

use crate::info::tls_info;
use crate::{ServerTls, TlsError};

/// TLS record content type of a handshake record: a ClientHello starts with it.
const HANDSHAKE_RECORD: u8 = 0x16;

/// What a [`Secured`] connection reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecuredEvent<E> {
    /// An event of the wrapped protocol session.
    Session(E),
    /// The TLS handshake completed (for logs: `TLS connection established
    /// from …: {info}`). Emitted before any event caused by encrypted input.
    TlsEstablished(TlsInfo),
    /// Cleartext bytes that followed the STARTTLS command were discarded
    /// unparsed (a command-injection attempt, CVE-2011-0411 class).
    InjectionDiscarded {
        /// How many bytes.
        bytes: usize,
    },
}

/// A protocol session behind (optional) TLS; see the module docs.
pub struct Secured<S: Session> {
    session: S,
    tls: Option<ServerTls>,
    conn: Option<ServerConnection>,
    established: bool,
    info: Option<TlsInfo>,
    events: VecDeque<SecuredEvent<S::Event>>,
    /// Wire bytes produced outside `take_output` (alerts after an error).
    wire_out: Vec<u8>,
    /// First byte received on the TLS layer (plaintext detection).
    first_tls_byte: Option<u8>,
    /// An error to report on the next `receive` (set up outside `receive`).
    pending_error: Option<TlsError>,
    failed: bool,
    peer_closed: bool,
    close_sent: bool,
}

impl<S: Session> std::fmt::Debug for Secured<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secured")
            .field("tls_active", &self.conn.is_some())
            .field("established", &self.established)
            .field("failed", &self.failed)
            .field("peer_closed", &self.peer_closed)
            .field("close_sent", &self.close_sent)
            .finish_non_exhaustive()
    }
}

impl<S: Session> Secured<S> {
    fn with(session: S, tls: Option<ServerTls>) -> Self {
        Self {
            session,
            tls,
            conn: None,
            established: false,
            info: None,
            events: VecDeque::new(),
            wire_out: Vec::new(),
            first_tls_byte: None,
            pending_error: None,
            failed: false,
            peer_closed: false,
            close_sent: false,
        }
    }

    /// A cleartext connection (ports 25/587/110/143) that switches to TLS when
    /// the session accepts STARTTLS/STLS. With `tls == None` the session must
    /// not offer STARTTLS (if it accepts it anyway, the connection fails with
    /// [`TlsError::StartTlsUnavailable`]).
    pub fn starttls(session: S, tls: Option<ServerTls>) -> Self {
        Self::with(session, tls)
    }

    /// An implicit-TLS connection (ports 465/993/995): TLS from the first byte.
    pub fn implicit(session: S, tls: ServerTls) -> Self {
        let mut secured = Self::with(session, Some(tls));
        secured.start_tls();
        secured
    }

    /// The protocol session.
    pub fn session(&self) -> &S {
        &self.session
    }

    /// The protocol session, to answer its events.
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    /// Give the protocol session back.
    pub fn into_session(self) -> S {
        self.session
    }

    /// The rustls connection once TLS has started (e.g. for key exporters).
    pub fn connection(&self) -> Option<&ServerConnection> {
        self.conn.as_ref()
    }

    /// Whether the byte stream is TLS now (handshake started or done).
    pub fn is_tls(&self) -> bool {
        self.conn.is_some()
    }

    /// The established channel's facts, once the handshake completed.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.info.as_ref()
    }

    fn start_tls(&mut self) {
        match self.tls.as_ref().map(ServerTls::new_connection) {
            Some(Ok(conn)) => self.conn = Some(conn),
            Some(Err(e)) => self.fail_later(e),
            None => self.fail_later(TlsError::StartTlsUnavailable),
        }
    }

    fn fail_later(&mut self, error: TlsError) {
        self.failed = true;
        self.pending_error = Some(error);
    }

    /// Push bytes received from the socket.
    ///
    /// An `Err` is fatal: write what [`take_output`](Self::take_output)
    /// returns (a TLS alert, if any) and close; later input is ignored.
    pub fn receive(&mut self, data: &[u8]) -> Result<(), TlsError> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        if self.failed || self.peer_closed || data.is_empty() {
            return Ok(());
        }
        if self.conn.is_none() {
            self.session.receive(data);
            return Ok(());
        }
        if self.first_tls_byte.is_none() {
            self.first_tls_byte = data.first().copied();
        }
        let mut rest = data;
        while !rest.is_empty() && !self.peer_closed {
            let Some(conn) = self.conn.as_mut() else { break };
            let read = match conn.read_tls(&mut rest) {
                Ok(0) => break, // close_notify already received: ignore the rest
                Ok(n) => n,
                Err(e) => return Err(self.fail(rustls::Error::General(e.to_string()))),
            };
            debug_assert!(read > 0);
            if let Err(e) = conn.process_new_packets() {
                return Err(self.fail(e));
            }
            self.after_packets();
        }
        Ok(())
    }

    /// A fatal TLS error: queue the alert and remember that we failed.
    fn fail(&mut self, error: rustls::Error) -> TlsError {
        self.failed = true;
        if let Some(conn) = self.conn.as_mut() {
            while conn.wants_write() {
                match conn.write_tls(&mut self.wire_out) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        match self.first_tls_byte {
            Some(first_byte) if first_byte != HANDSHAKE_RECORD && !self.established => {
                TlsError::PlaintextOnTlsPort { first_byte }
            }
            _ => TlsError::Protocol(error),
        }
    }

    /// After rustls processed records: notice the end of the handshake, then
    /// move decrypted plaintext to the session.
    fn after_packets(&mut self) {
        let Some(conn) = self.conn.as_mut() else { return };
        if !self.established && !conn.is_handshaking() {
            self.established = true;
            let info = tls_info(conn);
            let discarded = self.session.tls_established(&info);
            self.events.push_back(SecuredEvent::TlsEstablished(info.clone()));
            if discarded > 0 {
                self.events
                    .push_back(SecuredEvent::InjectionDiscarded { bytes: discarded });
            }
            self.info = Some(info);
        }
        if !self.established {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    break;
                }
                Ok(n) => {
                    if !self.session.is_closed() {
                        self.session.receive(&buf[..n]);
                    }
                }
                // WouldBlock: nothing more decrypted yet. UnexpectedEof cannot
                // happen (we never signal EOF to rustls), but stop either way.
                Err(_) => break,
            }
        }
    }

    /// The next event: the wrapper's own (TLS established, injection) first,
    /// then the session's.
    pub fn next_event(&mut self) -> Option<SecuredEvent<S::Event>> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        if self.failed {
            return None;
        }
        self.session.next_event().map(SecuredEvent::Session)
    }

    /// Wire bytes to write to the socket now, in order. In STARTTLS mode this
    /// is also where the switch happens: the cleartext reply to STARTTLS is
    /// the last cleartext returned.
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.wire_out);
        if self.failed {
            return out;
        }
        if self.conn.is_none() {
            out.extend_from_slice(self.session.output());
            let n = self.session.output().len();
            self.session.consume_output(n);
            if self.session.tls_switch() == TlsSwitch::AfterOutput && !self.session.is_closed() {
                self.start_tls();
            }
            return out;
        }
        let Some(conn) = self.conn.as_mut() else {
            return out;
        };
        if self.established && !self.close_sent {
            loop {
                let pending = self.session.output();
                if pending.is_empty() {
                    break;
                }
                let n = conn.writer().write(pending).unwrap_or(0);
                self.session.consume_output(n);
                let flushed = drain_tls(conn, &mut out);
                if n == 0 && flushed == 0 {
                    break;
                }
            }
            if (self.session.is_closed() || self.peer_closed) && self.session.output().is_empty() {
                conn.send_close_notify();
                self.close_sent = true;
            }
        }
        drain_tls(conn, &mut out);
        out
    }

    /// Whether the driver should read more input now (backpressure: false
    /// while the session holds as much unprocessed input as its limits allow,
    /// and once the connection is closing).
    pub fn wants_input(&self) -> bool {
        if self.failed || self.peer_closed || self.close_sent || self.session.is_closed() {
            return false;
        }
        match &self.conn {
            Some(_) if !self.established => true,
            _ => self.session.wants_input(),
        }
    }

    /// Whether the connection is finished: write what
    /// [`take_output`](Self::take_output) returns, then close the socket.
    pub fn is_closed(&self) -> bool {
        self.failed || self.peer_closed || self.close_sent || self.session.is_closed()
    }
}

/// Move all pending TLS records into `out`; returns how many bytes.
fn drain_tls(conn: &mut ServerConnection, out: &mut Vec<u8>) -> usize {
    let mut total = 0;
    while conn.wants_write() {
        match conn.write_tls(out) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    total
}
