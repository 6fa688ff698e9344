//! The sans-IO session contract shared by SMTP, POP3 and IMAP.

use crate::TlsInfo;

/// What a session says about switching the byte stream to TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSwitch {
    /// Keep the current channel.
    None,
    /// The session accepted STARTTLS/STLS: write everything in
    /// [`Session::output`] in the clear, then start the TLS handshake before
    /// reading anything else. Input received meanwhile is never parsed.
    AfterOutput,
}

/// Why the server ends a connection on its own (see [`Session::farewell`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// The server is shutting down (after its grace period).
    Shutdown,
    /// The client sent nothing for the idle timeout.
    IdleTimeout,
}

/// The sans-IO contract every mailcrates protocol session implements.
///
/// A session is a plain value: it never reads a socket, sleeps, spawns, looks
/// at the clock or the file system. The driver:
///
/// 1. pushes received bytes with [`receive`](Self::receive) (any chunking gives
///    the same result);
/// 2. drains [`next_event`](Self::next_event) and answers decisions through
///    the session's own typed methods;
/// 3. writes [`output`](Self::output) and acknowledges it with
///    [`consume_output`](Self::consume_output);
/// 4. honours [`tls_switch`](Self::tls_switch) and
///    [`is_closed`](Self::is_closed).
///
/// `mail_tls::Secured` drives the TLS hooks so that the switch happens at the
/// exact byte after the STARTTLS reply.
pub trait Session {
    /// The session's events: decisions to answer and control requests.
    type Event;

    /// Push bytes received from the peer (already decrypted under TLS).
    fn receive(&mut self, data: &[u8]);

    /// The next event, processing buffered input as far as possible.
    fn next_event(&mut self) -> Option<Self::Event>;

    /// Bytes the session wants written to the peer.
    fn output(&self) -> &[u8];

    /// Mark `n` bytes of [`output`](Self::output) as written.
    fn consume_output(&mut self, n: usize);

    /// Take all pending output at once.
    fn take_output(&mut self) -> Vec<u8> {
        let out = self.output().to_vec();
        self.consume_output(out.len());
        out
    }

    /// Whether the driver should read more input now. False while the
    /// session holds as much unprocessed input as its limits allow (the
    /// driver then waits for events to be answered and output written),
    /// which bounds memory under pipelining floods.
    fn wants_input(&self) -> bool;

    /// Whether the transport must switch to TLS once output is flushed.
    fn tls_switch(&self) -> TlsSwitch;

    /// The TLS handshake completed (after STARTTLS, or at the start of an
    /// implicit-TLS connection). The session forgets everything learnt in
    /// cleartext (RFC 3207 §4.2, RFC 2595 §3.1) and discards unparsed
    /// cleartext input. Returns how many cleartext bytes were discarded, so
    /// the driver can report a STARTTLS command-injection attempt.
    fn tls_established(&mut self, info: &TlsInfo) -> usize;

    /// The session is finished: write remaining output, then close.
    fn is_closed(&self) -> bool;

    /// The server ends the connection on its own: append the protocol's
    /// last words to the output (SMTP `421` as RFC 5321 §3.8 asks, POP3
    /// `-ERR`, IMAP `* BYE`) and close. The driver writes them, then closes
    /// the connection. Nothing is written while a TLS switch is pending or
    /// after the session closed. The default writes nothing.
    fn farewell(&mut self, reason: Farewell) {
        let _ = reason;
    }
}
