//! The ESMTP session state machine.

use mail_proto::push_decimal;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use mail_proto::{Farewell, Line, LineReader, Session, TlsInfo, TlsSwitch};
use mail_sasl::wire::{self, ClientResponse, WireError, MAX_RESPONSE_LINE};
use mail_sasl::{
    Exchange, ExchangeContext, Failure, FailureAction, FailureTracker, Identity, Mechanism, MechanismSet,
    Step, VerifyOutcome, VerifyRequest,
};
use sha2::{Digest, Sha256};

use crate::address::parse_mailbox;
use crate::config::{BareLf, ClientInfo, Config, TlsMode};
use crate::data::{DotDecoder, LfNormalizer, TextLineLimit};
use crate::parse::{
    mail_parameters, parse_command, rcpt_parameters, Command, ParamError, RcptParameters, UnsupportedParam,
};
pub use crate::parse::{Body, Ret};
use crate::policy::{self, ClientState, Destination, Verdict};
use crate::received::{write_received, ReceivedFields};
use crate::reply::{self, Reply};
use crate::SmtpError;

/// Content is handed out in chunks of at least this many octets (or at the end).
const CHUNK_TARGET: usize = 16 * 1024;
/// At most this much buffered input is decoded per step (bounds a chunk's size).
const DECODE_SLICE: usize = 64 * 1024;
/// Input the session holds before `wants_input` turns false, beyond one line.
const INPUT_SLACK: usize = 64 * 1024;

/// What the session reports to its driver. Events that need a decision say
/// which method answers them; the session processes no further input until
/// that answer arrives (pipelined commands wait, replies stay in order).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Check these credentials (e.g. `CredentialBackend::verify`, off the event
    /// loop if it blocks) and answer with [`SmtpSession::auth_verified`].
    /// Boxed so that every other event stays small (events are moved on the
    /// hot path); `&request` still coerces to `&VerifyRequest`.
    AuthVerify(Box<VerifyRequest>),
    /// Authentication succeeded (for logs: `sasl_method=…, sasl_username=…`).
    AuthSucceeded {
        /// The mechanism used.
        mechanism: Mechanism,
        /// Who authenticated.
        identity: Identity,
    },
    /// Authentication failed (for logs and fail2ban-style counting).
    AuthFailed {
        /// The mechanism tried.
        mechanism: Mechanism,
        /// Why.
        failure: Failure,
    },
    /// Wait this long before writing the pending output (failed AUTH,
    /// error limits). Never slept on inside the session.
    Delay(Duration),
    /// A recipient passed the relay policy: look at
    /// [`SmtpSession::pending_recipient`] and answer
    /// [`SmtpSession::accept_recipient`] or [`SmtpSession::reject_recipient`]
    /// (e.g. `Reply::user_unknown` for unknown local users).
    Recipient,
    /// A message is about to be received (DATA accepted, or the first BDAT
    /// chunk): answer [`SmtpSession::message_begin`] with a queue id and the
    /// date for the `Received:` header.
    MessageBegin,
    /// Message content, in order (dot-unstuffed, CRLF line endings; the
    /// `Received:` header opens the first chunk).
    MessageChunk(Vec<u8>),
    /// The whole message was received: make it durable, then answer
    /// [`SmtpSession::message_stored`] (the `250` is written only then) or
    /// [`SmtpSession::message_failed`].
    MessageEnd,
    /// The message being received is abandoned (size limit, text line
    /// limit, bare LF rejected, RSET, TLS reset, close): discard what was
    /// received. No [`Event::MessageEnd`] follows for it.
    MessageAborted,
    /// STARTTLS was accepted: write the output, then switch to TLS
    /// (see [`Session::tls_switch`]).
    StartTls,
    /// Write the remaining output, then close the connection.
    Close,
}

/// Parameters of the current `MAIL FROM`, handed through to the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=`.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Option<Body>,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
    /// DSN `RET=`.
    pub ret: Option<Ret>,
    /// DSN `ENVID=` (xtext as sent; empty if absent).
    pub envid: String,
    /// `AUTH=` (RFC 4954 §5, xtext as sent, `<>` included; empty if absent).
    pub auth: String,
}

/// One recipient of the current transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipient {
    /// The address without brackets or source route.
    pub address: String,
    /// Whether it is in a local domain (`mydestination`, a local literal, or unqualified).
    pub local: bool,
    /// DSN `NOTIFY=` as sent (empty if absent).
    pub notify: String,
    /// DSN `ORCPT=` as sent (empty if absent).
    pub orcpt: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Command,
    AuthResponse,
    Data,
    Bdat { remaining: u64, size: u64, last: bool },
    BdatSkip { remaining: u64, reply: &'static [u8] },
    AwaitTls,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    AuthVerify,
    Recipient,
    MessageBegin { bdat: Option<(u64, bool)> },
    MessageStored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Greeted {
    No,
    Helo,
    Ehlo,
}

/// A sans-IO ESMTP server session for one connection.
///
/// See the crate documentation for the driving loop. Input is processed
/// lazily in [`Session::next_event`]; a pipelined burst is answered in order,
/// and a pending decision pauses processing until it is answered.
///
/// Early talk: input that arrives while the greeting has not been taken from
/// [`Session::output`] (via `consume_output`/`take_output`) is treated as
/// talking before the greeting (`554 5.5.0`, close) when
/// `Config::reject_early_talk` is set. Drivers therefore write the greeting
/// before they read.
#[derive(Debug)]
pub struct SmtpSession {
    reader: LineReader,
    core: Core,
}

#[derive(Debug)]
struct Core {
    config: Arc<Config>,
    client: ClientInfo,
    /// The client is in `mynetworks` (fixed for the connection).
    trusted: bool,
    out: Vec<u8>,
    out_start: usize,
    greeting_left: usize,
    early_talk: bool,
    mode: Mode,
    pending: Pending,
    events: VecDeque<Event>,
    /// `Event::Recipient` is due after `events` (kept out of the queue: it
    /// is the hot path's only event, and always the last one queued).
    recipient_event: bool,
    helo: Greeted,
    helo_name: String,
    secure: bool,
    tls_info: Option<TlsInfo>,
    login: Option<String>,
    /// The mechanism of `login` (set and cleared with it).
    login_mechanism: Option<Mechanism>,
    exchange: Option<Exchange>,
    exchanges: u64,
    nonce_seed: [u8; 16],
    failures: FailureTracker,
    errors: u32,
    cleartext_discarded: usize,
    // Transaction.
    in_mail: bool,
    sender: String,
    mail_params: MailParams,
    rcpts: Vec<Recipient>,
    rcpt_count: usize,
    rcpt_attempts: usize,
    bdat_used: bool,
    // Message.
    msg_active: bool,
    msg_bytes: u64,
    /// The message is refused (size or line limit): the rest is read and
    /// discarded, and this reply answers its end.
    refused: Option<&'static [u8]>,
    /// `Config::max_text_line` for the current message.
    line_limit: Option<TextLineLimit>,
    decoder: DotDecoder,
    lf: LfNormalizer,
    chunk: Vec<u8>,
}

impl SmtpSession {
    /// A session for a new connection. The greeting (`220 host ESMTP`) is
    /// already in [`Session::output`].
    pub fn new(config: Arc<Config>, client: ClientInfo) -> Self {
        let max_line = config.max_command_line.max(MAX_RESPONSE_LINE + 32);
        let failures = FailureTracker::new(config.auth_failures);
        let nonce_seed = config.nonce_seed;
        let mut out = Vec::with_capacity(1024);
        let _ = write!(out, "220 {} {}\r\n", config.hostname, config.banner);
        let greeting_left = out.len();
        let trusted = policy::is_trusted(&config.relay, client.addr);
        SmtpSession {
            reader: LineReader::new(max_line),
            core: Core {
                config,
                client,
                trusted,
                out,
                out_start: 0,
                greeting_left,
                early_talk: false,
                mode: Mode::Command,
                pending: Pending::None,
                events: VecDeque::with_capacity(8),
                recipient_event: false,
                helo: Greeted::No,
                helo_name: String::new(),
                secure: false,
                tls_info: None,
                login: None,
                login_mechanism: None,
                exchange: None,
                exchanges: 0,
                nonce_seed,
                failures,
                errors: 0,
                cleartext_discarded: 0,
                in_mail: false,
                sender: String::new(),
                mail_params: MailParams::default(),
                rcpts: Vec::new(),
                rcpt_count: 0,
                rcpt_attempts: 0,
                bdat_used: false,
                msg_active: false,
                msg_bytes: 0,
                refused: None,
                line_limit: None,
                decoder: DotDecoder::new(),
                lf: LfNormalizer::new(),
                chunk: Vec::new(),
            },
        }
    }

    /// Set this connection's randomness (from the OS RNG) when the shared
    /// `Config::nonce_seed` is not per connection. Each SASL exchange's nonce
    /// is derived from it and a counter (SHA-256).
    pub fn set_nonce_seed(&mut self, seed: [u8; 16]) {
        self.core.nonce_seed = seed;
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The client.
    pub fn client(&self) -> &ClientInfo {
        &self.core.client
    }

    /// The HELO/EHLO name, once given.
    pub fn helo_name(&self) -> Option<&str> {
        (self.core.helo != Greeted::No).then_some(self.core.helo_name.as_str())
    }

    /// The authenticated user (authorization identity), if any.
    pub fn login(&self) -> Option<&str> {
        self.core.login.as_deref()
    }

    /// The SASL mechanism of [`login`](Self::login), if any (Postfix logs
    /// it as `sasl_method=`).
    pub fn login_mechanism(&self) -> Option<Mechanism> {
        self.core.login_mechanism
    }

    /// Whether the channel is TLS.
    pub fn is_secure(&self) -> bool {
        self.core.secure
    }

    /// The TLS facts given to `tls_established`.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.core.tls_info.as_ref()
    }

    /// The envelope sender of the current transaction (`""` for `<>`), if MAIL was accepted.
    pub fn sender(&self) -> Option<&str> {
        self.core.in_mail.then_some(self.core.sender.as_str())
    }

    /// The `MAIL FROM` parameters of the current transaction.
    pub fn mail_params(&self) -> &MailParams {
        &self.core.mail_params
    }

    /// The accepted recipients of the current transaction.
    pub fn recipients(&self) -> &[Recipient] {
        &self.core.rcpts[..self.core.rcpt_count]
    }

    /// The recipient awaiting [`accept_recipient`](Self::accept_recipient) /
    /// [`reject_recipient`](Self::reject_recipient).
    pub fn pending_recipient(&self) -> Option<&Recipient> {
        (self.core.pending == Pending::Recipient).then(|| &self.core.rcpts[self.core.rcpt_count])
    }

    /// Errors counted so far (for the soft/hard limits).
    pub fn error_count(&self) -> u32 {
        self.core.errors
    }

    /// The mechanisms `EHLO` advertises right now.
    pub fn offered_mechanisms(&self) -> MechanismSet {
        self.core.offered()
    }

    /// Answer [`Event::AuthVerify`].
    pub fn auth_verified(&mut self, outcome: VerifyOutcome) -> Result<(), SmtpError> {
        let core = &mut self.core;
        if core.pending != Pending::AuthVerify {
            return Err(SmtpError::NotWaiting("auth_verified"));
        }
        core.pending = Pending::None;
        let Some(exchange) = core.exchange.as_mut() else {
            return Err(SmtpError::NotWaiting("auth_verified"));
        };
        let step = exchange.verified(outcome);
        core.auth_step(step);
        Ok(())
    }

    /// Answer [`Event::Recipient`]: `250 2.1.5 Ok`.
    pub fn accept_recipient(&mut self) -> Result<(), SmtpError> {
        let core = &mut self.core;
        if core.pending != Pending::Recipient {
            return Err(SmtpError::NotWaiting("accept_recipient"));
        }
        core.pending = Pending::None;
        core.rcpt_count += 1;
        core.raw(reply::RCPT_OK);
        Ok(())
    }

    /// Answer [`Event::Recipient`] with a refusal (e.g. [`Reply::user_unknown`]).
    pub fn reject_recipient(&mut self, reply: Reply) -> Result<(), SmtpError> {
        let core = &mut self.core;
        if core.pending != Pending::Recipient {
            return Err(SmtpError::NotWaiting("reject_recipient"));
        }
        core.pending = Pending::None;
        core.reply_owned(&reply);
        Ok(())
    }

    /// Answer [`Event::MessageBegin`]. `queue_id` names the message in the
    /// `Received:` header and the final reply; `date` is the RFC 5322 date
    /// the header carries (the session has no clock), e.g.
    /// `Sun, 22 Nov 2026 22:43:20 +0000`.
    pub fn message_begin(&mut self, queue_id: &str, date: &str) -> Result<(), SmtpError> {
        let core = &mut self.core;
        let Pending::MessageBegin { bdat } = core.pending else {
            return Err(SmtpError::NotWaiting("message_begin"));
        };
        core.pending = Pending::None;
        core.msg_active = true;
        core.msg_bytes = 0;
        core.refused = None;
        core.line_limit = core.config.max_text_line.map(TextLineLimit::new);
        core.chunk.clear();
        if core.config.received_header {
            let single = (core.rcpt_count == 1).then(|| core.rcpts[0].address.as_str());
            let client_name = core.client.hostname.as_deref().unwrap_or("unknown");
            let fields = ReceivedFields {
                helo: &core.helo_name,
                client_name,
                client_addr: core.client.addr,
                tls: core.tls_info.as_ref(),
                login: if core.config.received_auth_sender {
                    core.login.as_deref()
                } else {
                    None
                },
                authenticated: core.login.is_some(),
                hostname: &core.config.hostname,
                software: &core.config.software,
                esmtp: core.helo == Greeted::Ehlo,
                queue_id,
                single_recipient: single,
                date,
            };
            write_received(&mut core.chunk, &fields);
        }
        match bdat {
            None => {
                core.decoder = DotDecoder::new();
                core.raw(reply::DATA_GO);
                core.mode = Mode::Data;
            }
            Some((size, last)) => {
                core.lf = LfNormalizer::new();
                core.mode = Mode::Bdat {
                    remaining: size,
                    size,
                    last,
                };
            }
        }
        Ok(())
    }

    /// Answer [`Event::MessageEnd`] once the message is durable:
    /// `250 2.0.0 Ok: queued as <queue_id>`.
    pub fn message_stored(&mut self, queue_id: &str) -> Result<(), SmtpError> {
        let core = &mut self.core;
        if core.pending != Pending::MessageStored {
            return Err(SmtpError::NotWaiting("message_stored"));
        }
        core.pending = Pending::None;
        core.out.extend_from_slice(b"250 2.0.0 Ok: queued as ");
        core.out
            .extend(queue_id.bytes().take(64).filter(|b| b.is_ascii_graphic()));
        core.out.extend_from_slice(b"\r\n");
        core.reset_transaction();
        Ok(())
    }

    /// Answer [`Event::MessageEnd`] with a failure (e.g. [`Reply::queue_write_error`]).
    pub fn message_failed(&mut self, reply: Reply) -> Result<(), SmtpError> {
        let core = &mut self.core;
        if core.pending != Pending::MessageStored {
            return Err(SmtpError::NotWaiting("message_failed"));
        }
        core.pending = Pending::None;
        core.reply_owned(&reply);
        core.reset_transaction();
        Ok(())
    }

    /// Close the connection from the server side because it shuts down:
    /// [`Session::farewell`] with [`Farewell::Shutdown`].
    pub fn shutdown(&mut self) {
        self.farewell(Farewell::Shutdown);
    }

    /// Process one unit of input; false when nothing more can be done now.
    fn step(&mut self) -> bool {
        let Self { reader, core } = self;
        if core.pending != Pending::None {
            return false;
        }
        match core.mode {
            Mode::Closed | Mode::AwaitTls => false,
            Mode::Command => {
                if core.early_talk {
                    core.raw(reply::SYNC_ERROR);
                    core.close();
                    return true;
                }
                if core.errors >= core.config.hard_error_limit {
                    let _ = write!(
                        core.out,
                        "421 4.7.0 {} Error: too many errors\r\n",
                        core.config.hostname
                    );
                    core.close();
                    return true;
                }
                let Some(line) = reader.next_line() else {
                    return false;
                };
                if core.errors >= core.config.soft_error_limit {
                    let delay = core.config.error_delay;
                    core.push(Event::Delay(delay));
                }
                match line {
                    Line::TooLong => core.reply(reply::LINE_TOO_LONG),
                    Line::Complete(line) => core.command(line),
                }
                true
            }
            Mode::AuthResponse => {
                match reader.next_line() {
                    None => return false,
                    Some(Line::TooLong) => {
                        core.exchange = None;
                        core.mode = Mode::Command;
                        core.reply(reply::AUTH_TOO_LONG);
                    }
                    Some(Line::Complete(line)) => core.auth_response(line),
                }
                true
            }
            Mode::Data => {
                let pending = reader.pending();
                if pending.is_empty() {
                    return false;
                }
                let slice = &pending[..pending.len().min(DECODE_SLICE)];
                let before = core.chunk.len();
                let r = core.decoder.decode(slice, &mut core.chunk);
                reader.consume(r.consumed);
                core.account(before);
                if r.end {
                    core.mode = Mode::Command;
                    core.finish_message(core.decoder.saw_bare_lf());
                } else if core.chunk.len() >= CHUNK_TARGET {
                    core.flush_chunk();
                }
                true
            }
            Mode::Bdat {
                remaining,
                size,
                last,
            } => {
                if remaining > 0 {
                    let pending = reader.pending();
                    if pending.is_empty() {
                        return false;
                    }
                    let take = pending
                        .len()
                        .min(DECODE_SLICE)
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let before = core.chunk.len();
                    core.lf.push(&pending[..take], &mut core.chunk);
                    reader.consume(take);
                    core.account(before);
                    core.mode = Mode::Bdat {
                        remaining: remaining - take as u64,
                        size,
                        last,
                    };
                    if core.chunk.len() >= CHUNK_TARGET {
                        core.flush_chunk();
                    }
                    return true;
                }
                core.mode = Mode::Command;
                if let Some(r) = core.refused {
                    core.reply(r);
                    core.reset_transaction();
                } else if last {
                    core.finish_message(core.lf.saw_bare_lf());
                } else {
                    core.out.extend_from_slice(b"250 2.0.0 Ok: ");
                    push_decimal(&mut core.out, size);
                    core.out.extend_from_slice(b" bytes\r\n");
                }
                true
            }
            Mode::BdatSkip { remaining, reply } => {
                if remaining > 0 {
                    let buffered = reader.buffered();
                    if buffered == 0 {
                        return false;
                    }
                    let take = buffered.min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    reader.consume(take);
                    core.mode = Mode::BdatSkip {
                        remaining: remaining - take as u64,
                        reply,
                    };
                    return true;
                }
                core.mode = Mode::Command;
                core.reply(reply);
                true
            }
        }
    }
}

impl Session for SmtpSession {
    type Event = Event;

    fn receive(&mut self, data: &[u8]) {
        let core = &mut self.core;
        match core.mode {
            Mode::Closed => {}
            Mode::AwaitTls => core.cleartext_discarded = core.cleartext_discarded.saturating_add(data.len()),
            _ => {
                if core.greeting_left > 0 && !data.is_empty() && core.config.reject_early_talk {
                    core.early_talk = true;
                }
                self.reader.push(data);
            }
        }
    }

    fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.core.events.pop_front() {
                return Some(event);
            }
            if self.core.recipient_event {
                self.core.recipient_event = false;
                return Some(Event::Recipient);
            }
            if !self.step() && self.core.events.is_empty() && !self.core.recipient_event {
                return None;
            }
        }
    }

    fn output(&self) -> &[u8] {
        &self.core.out[self.core.out_start..]
    }

    fn consume_output(&mut self, n: usize) {
        let core = &mut self.core;
        let n = n.min(core.out.len() - core.out_start);
        core.greeting_left = core.greeting_left.saturating_sub(n);
        core.out_start += n;
        if core.out_start == core.out.len() {
            core.out.clear();
            core.out_start = 0;
        }
    }

    fn wants_input(&self) -> bool {
        !matches!(self.core.mode, Mode::Closed | Mode::AwaitTls)
            && self.core.pending == Pending::None
            && self.reader.buffered() < self.reader.max_line() + INPUT_SLACK
    }

    fn tls_switch(&self) -> TlsSwitch {
        if self.core.mode == Mode::AwaitTls {
            TlsSwitch::AfterOutput
        } else {
            TlsSwitch::None
        }
    }

    fn tls_established(&mut self, info: &TlsInfo) -> usize {
        let discarded = self.reader.clear() + std::mem::take(&mut self.core.cleartext_discarded);
        let core = &mut self.core;
        core.secure = true;
        core.tls_info = Some(info.clone());
        core.early_talk = false;
        if core.msg_active {
            core.push(Event::MessageAborted);
        }
        core.reset_transaction();
        core.helo = Greeted::No;
        core.helo_name.clear();
        core.login = None;
        core.login_mechanism = None;
        core.exchange = None;
        core.pending = Pending::None;
        if core.mode != Mode::Closed {
            core.mode = Mode::Command;
        }
        discarded
    }

    fn is_closed(&self) -> bool {
        self.core.mode == Mode::Closed
    }

    /// `421 4.3.2 <host> Service shutting down, closing transmission channel`
    /// (RFC 5321 §3.8) or, after the idle timeout, Postfix's
    /// `421 4.4.2 <host> Error: timeout exceeded`; a message being received
    /// is abandoned ([`Event::MessageAborted`]).
    fn farewell(&mut self, reason: Farewell) {
        let core = &mut self.core;
        if matches!(core.mode, Mode::Closed | Mode::AwaitTls) {
            return;
        }
        let host = &core.config.hostname;
        let _ = match reason {
            Farewell::Shutdown => write!(
                core.out,
                "421 4.3.2 {host} Service shutting down, closing transmission channel\r\n"
            ),
            Farewell::IdleTimeout => write!(core.out, "421 4.4.2 {host} Error: timeout exceeded\r\n"),
        };
        core.close();
    }
}

impl Core {
    /// Queue an event (after a due `Event::Recipient`, keeping the order).
    fn push(&mut self, event: Event) {
        if self.recipient_event {
            self.recipient_event = false;
            self.events.push_back(Event::Recipient);
        }
        self.events.push_back(event);
    }

    /// Append a fixed reply; 4xx/5xx count as errors (Postfix error limits).
    #[inline]
    fn reply(&mut self, r: &[u8]) {
        if matches!(r.first(), Some(b'4' | b'5')) {
            self.errors = self.errors.saturating_add(1);
        }
        self.out.extend_from_slice(r);
    }

    fn reply_owned(&mut self, r: &Reply) {
        if r.code() >= 400 {
            self.errors = self.errors.saturating_add(1);
        }
        r.write_to(&mut self.out);
    }

    /// Append without counting.
    #[inline]
    fn raw(&mut self, r: &[u8]) {
        self.out.extend_from_slice(r);
    }

    fn close(&mut self) {
        if self.msg_active {
            self.push(Event::MessageAborted);
            self.msg_active = false;
        }
        self.mode = Mode::Closed;
        self.pending = Pending::None;
        self.push(Event::Close);
    }

    fn offered(&self) -> MechanismSet {
        match self.config.auth_backend {
            None => MechanismSet::empty(),
            Some(_) if self.config.effective_tls_auth_only() && !self.secure => MechanismSet::empty(),
            Some(caps) => self.config.mechanisms.offered(caps, self.secure),
        }
    }

    fn reset_transaction(&mut self) {
        self.in_mail = false;
        self.sender.clear();
        let p = &mut self.mail_params;
        p.size = None;
        p.body = None;
        p.smtputf8 = false;
        p.ret = None;
        p.envid.clear();
        p.auth.clear();
        self.rcpt_count = 0;
        self.rcpt_attempts = 0;
        self.bdat_used = false;
        self.msg_active = false;
        self.msg_bytes = 0;
        self.refused = None;
        self.chunk.clear();
    }

    fn abort_message(&mut self) {
        if self.msg_active {
            self.push(Event::MessageAborted);
        }
        self.reset_transaction();
    }

    /// Count content appended to `chunk` since `before`; enforce the size
    /// and text line limits.
    fn account(&mut self, before: usize) {
        if self.refused.is_some() {
            self.chunk.clear();
            return;
        }
        self.msg_bytes = self.msg_bytes.saturating_add((self.chunk.len() - before) as u64);
        if self.msg_bytes > self.config.max_message_size {
            return self.refuse(reply::TOO_BIG);
        }
        if let Some(limit) = self.line_limit.as_mut() {
            if limit.check(&self.chunk[before..]) {
                self.refuse(reply::TEXT_LINE_TOO_LONG);
            }
        }
    }

    /// Abandon the current message: the caller discards what it got, the
    /// rest of the content is read and dropped, `reply` answers its end.
    fn refuse(&mut self, reply: &'static [u8]) {
        self.refused = Some(reply);
        self.chunk.clear();
        self.push(Event::MessageAborted);
        self.msg_active = false;
    }

    fn flush_chunk(&mut self) {
        if !self.chunk.is_empty() {
            let cap = self.chunk.capacity();
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(cap.min(CHUNK_TARGET * 2)));
            self.push(Event::MessageChunk(chunk));
        }
    }

    fn finish_message(&mut self, bare_lf: bool) {
        if self.refused.is_none() && self.line_limit.as_mut().is_some_and(TextLineLimit::finish) {
            // An unterminated last line (BDAT) that is too long with its CRLF.
            self.refuse(reply::TEXT_LINE_TOO_LONG);
        }
        if let Some(r) = self.refused {
            self.reply(r);
            self.reset_transaction();
        } else if bare_lf && self.config.bare_lf == BareLf::Reject {
            self.abort_message();
            self.reply(reply::BARE_LF);
        } else {
            self.flush_chunk();
            self.push(Event::MessageEnd);
            self.pending = Pending::MessageStored;
        }
    }

    fn client_state(&self) -> ClientState<'_> {
        ClientState {
            addr: self.client.addr,
            login: self.login.as_deref(),
            tls: self.secure,
        }
    }

    fn command(&mut self, line: &[u8]) {
        if line.len() > self.config.max_command_line
            && !(line.len() > 5 && line[..5].eq_ignore_ascii_case(b"AUTH "))
        {
            self.reply(reply::LINE_TOO_LONG);
            return;
        }
        let cmd = match parse_command(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                self.reply(e.reply());
                return;
            }
        };
        if self.config.tls == TlsMode::Encrypt
            && !self.secure
            && !matches!(
                cmd,
                Command::Ehlo(_)
                    | Command::Helo(_)
                    | Command::StartTls
                    | Command::Noop
                    | Command::Quit
                    | Command::Help
                    | Command::Forbidden
            )
        {
            if let Command::Bdat { size, .. } = cmd {
                self.mode = Mode::BdatSkip {
                    remaining: size,
                    reply: reply::TLS_FIRST,
                };
            } else {
                self.reply(reply::TLS_FIRST);
            }
            return;
        }
        match cmd {
            Command::Ehlo(name) => self.ehlo(name, Greeted::Ehlo),
            Command::Helo(name) => self.ehlo(name, Greeted::Helo),
            Command::Mail { path, params } => self.mail(Text::from(line, path), path, params),
            Command::Rcpt { path, params } => self.rcpt(Text::from(line, path), path, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.abort_message();
                self.raw(reply::OK);
            }
            Command::Noop => self.raw(reply::OK),
            Command::Quit => {
                self.raw(reply::BYE);
                self.close();
            }
            Command::Vrfy(arg) => {
                if self.config.vrfy_enabled {
                    self.out.extend_from_slice(b"252 2.0.0 ");
                    self.out.extend(
                        arg.iter()
                            .take(256)
                            .map(|&b| if b.is_ascii_graphic() { b } else { b'?' }),
                    );
                    self.out.extend_from_slice(b"\r\n");
                } else {
                    self.reply(reply::VRFY_DISABLED);
                }
            }
            Command::Help => self.raw(reply::HELP),
            Command::StartTls => {
                if self.secure {
                    self.reply(reply::TLS_ACTIVE);
                } else if !self.config.starttls_possible() {
                    self.reply(reply::NOT_IMPLEMENTED);
                } else {
                    self.raw(reply::TLS_GO);
                    self.mode = Mode::AwaitTls;
                    self.push(Event::StartTls);
                }
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
            Command::Forbidden => {
                self.raw(reply::BREAK_RULES);
                self.close();
            }
            Command::Unknown => self.reply(reply::UNKNOWN_COMMAND),
        }
    }

    fn ehlo(&mut self, name: &[u8], kind: Greeted) {
        self.abort_message();
        self.helo = kind;
        self.helo_name.clear();
        match std::str::from_utf8(name) {
            Ok(s) => self.helo_name.push_str(s),
            Err(_) => self.helo_name.push_str(&String::from_utf8_lossy(name)),
        }
        let host = self.config.hostname.as_bytes();
        let out = &mut self.out;
        if kind == Greeted::Helo {
            out.extend_from_slice(b"250 ");
            out.extend_from_slice(host);
            out.extend_from_slice(b"\r\n");
            return;
        }
        out.extend_from_slice(b"250-");
        out.extend_from_slice(host);
        out.extend_from_slice(b"\r\n250-PIPELINING\r\n250-SIZE ");
        push_decimal(out, self.config.max_message_size);
        out.extend_from_slice(b"\r\n");
        if self.config.vrfy_enabled {
            out.extend_from_slice(b"250-VRFY\r\n");
        }
        if !self.secure && self.config.starttls_possible() {
            out.extend_from_slice(b"250-STARTTLS\r\n");
        }
        let mechs = match self.config.auth_backend {
            None => MechanismSet::empty(),
            Some(_) if self.config.effective_tls_auth_only() && !self.secure => MechanismSet::empty(),
            Some(caps) => self.config.mechanisms.offered(caps, self.secure),
        };
        if !mechs.is_empty() {
            let _ = write!(out, "250-AUTH {mechs}\r\n");
            if self.config.broken_sasl_auth_clients {
                let _ = write!(out, "250-AUTH={mechs}\r\n");
            }
        }
        out.extend_from_slice(
            b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
        );
    }

    fn mail(&mut self, line: Text<'_>, path: &[u8], params_text: &[u8]) {
        if self.helo == Greeted::No {
            return self.reply(reply::NEED_HELO);
        }
        if self.in_mail {
            return self.reply(reply::NESTED_MAIL);
        }
        if self.config.require_auth && self.login.is_none() {
            return self.reply(reply::AUTH_REQUIRED);
        }
        let Some(path) = line.part(path) else {
            return self.reply(reply::BAD_SENDER);
        };
        if !path.is_empty() && parse_mailbox(path).is_err() {
            return self.reply(reply::BAD_SENDER);
        }
        // Parameters: checked first, then stored into the reused MailParams.
        let parsed = match mail_parameters(params_text) {
            Ok(parsed) => parsed,
            Err(ParamError::BadSize) => return self.reply(reply::BAD_SIZE),
            Err(ParamError::BadBody) => return self.reply(reply::BAD_BODY),
            Err(ParamError::Unsupported(UnsupportedParam { key, value })) => {
                return self.unsupported_option(key, value)
            }
        };
        if parsed.size.is_some_and(|n| n > self.config.max_message_size) {
            return self.reply(reply::SIZE_EXCEEDS);
        }
        if !self.config.relay.sender_restrictions.is_empty() {
            if let Verdict::Reject(r) = policy::check_sender(&self.config.relay, &self.client_state(), path) {
                return self.reply_owned(&r);
            }
        }
        let p = &mut self.mail_params;
        p.size = parsed.size;
        p.body = parsed.body;
        p.smtputf8 = parsed.smtputf8;
        p.ret = parsed.ret;
        set_text(&mut p.envid, line.part(parsed.envid));
        set_text(&mut p.auth, line.part(parsed.auth));
        self.sender.clear();
        self.sender.push_str(path);
        self.in_mail = true;
        self.rcpt_count = 0;
        self.rcpt_attempts = 0;
        self.raw(reply::MAIL_OK);
    }

    fn unsupported_option(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.errors = self.errors.saturating_add(1);
        self.out.extend_from_slice(b"555 5.5.4 Unsupported option: ");
        let clean = |b: &u8| if b.is_ascii_graphic() { *b } else { b'?' };
        self.out.extend(key.iter().take(64).map(clean));
        if let Some(v) = value {
            self.out.push(b'=');
            self.out.extend(v.iter().take(64).map(clean));
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn rcpt(&mut self, line: Text<'_>, path: &[u8], params_text: &[u8]) {
        if !self.in_mail {
            return self.reply(reply::NEED_MAIL);
        }
        if self.rcpt_count >= self.config.max_recipients {
            return self.reply(reply::TOO_MANY_RCPT);
        }
        self.rcpt_attempts += 1;
        let Some(path) = line.part(path) else {
            return self.reply(reply::BAD_RECIPIENT);
        };
        let Ok(mailbox) = parse_mailbox(path) else {
            return self.reply(reply::BAD_RECIPIENT);
        };
        // Parameters are checked before anything is stored.
        let RcptParameters { notify, orcpt } = match rcpt_parameters(params_text) {
            Ok(parsed) => parsed,
            Err(UnsupportedParam { key, value }) => return self.unsupported_option(key, value),
        };
        let (verdict, dest) = policy::check_parsed_recipient_with(
            &self.config.relay,
            &ClientState {
                addr: self.client.addr,
                login: self.login.as_deref(),
                tls: self.secure,
            },
            Some(self.trusted),
            &self.sender,
            path,
            &mailbox,
        );
        if let Verdict::Reject(r) = verdict {
            return self.reply_owned(&r);
        }
        if self.rcpts.len() == self.rcpt_count {
            self.rcpts.push(Recipient::default());
        }
        let slot = &mut self.rcpts[self.rcpt_count];
        slot.address.clear();
        slot.address.push_str(mailbox.address);
        slot.local = dest == Destination::Local;
        set_text(&mut slot.notify, line.part(notify));
        set_text(&mut slot.orcpt, line.part(orcpt));
        self.pending = Pending::Recipient;
        self.recipient_event = true;
    }

    /// The reply for DATA/BDAT when the transaction is not ready, if any.
    fn transaction_not_ready(&self) -> Option<&'static [u8]> {
        if !self.in_mail {
            Some(if self.helo == Greeted::No {
                reply::NEED_HELO
            } else {
                reply::NEED_MAIL
            })
        } else if self.rcpt_count == 0 {
            Some(if self.rcpt_attempts > 0 {
                reply::NO_VALID_RCPT
            } else {
                reply::NEED_RCPT
            })
        } else {
            None
        }
    }

    fn data(&mut self) {
        if let Some(r) = self.transaction_not_ready() {
            // Postfix answers DATA outside a transaction with "need RCPT".
            let r = if self.in_mail { r } else { reply::NEED_RCPT };
            return self.reply(r);
        }
        if self.bdat_used {
            return self.reply(reply::DATA_AFTER_BDAT);
        }
        self.pending = Pending::MessageBegin { bdat: None };
        self.push(Event::MessageBegin);
    }

    fn bdat(&mut self, size: u64, last: bool) {
        if let Some(r) = self.transaction_not_ready() {
            self.mode = Mode::BdatSkip {
                remaining: size,
                reply: r,
            };
            return;
        }
        self.bdat_used = true;
        if self.msg_active {
            self.mode = Mode::Bdat {
                remaining: size,
                size,
                last,
            };
        } else {
            self.pending = Pending::MessageBegin {
                bdat: Some((size, last)),
            };
            self.push(Event::MessageBegin);
        }
    }

    fn auth(&mut self, mechanism: &[u8], initial_response: Option<&[u8]>) {
        let offered = self.offered();
        if offered.is_empty() {
            return self.reply(reply::AUTH_NOT_ENABLED);
        }
        if self.login.is_some() {
            return self.reply(reply::AUTH_ALREADY);
        }
        if self.in_mail {
            return self.reply(reply::AUTH_IN_MAIL);
        }
        let Some(mech) = Mechanism::from_name(mechanism).filter(|m| offered.contains(*m)) else {
            return self.reply(reply::AUTH_MECH);
        };
        let ir = match initial_response.map(|ir| wire::decode_initial_response(ir, MAX_RESPONSE_LINE)) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(WireError::TooLong(_))) => return self.reply(reply::AUTH_TOO_LONG),
            Some(Err(WireError::BadBase64)) => return self.reply(reply::AUTH_BASE64),
        };
        self.exchanges += 1;
        let mut h = Sha256::new();
        h.update(self.nonce_seed);
        h.update(self.exchanges.to_be_bytes());
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&h.finalize()[..16]);
        let ctx = ExchangeContext {
            service: "smtp",
            hostname: &self.config.hostname,
            realm: &self.config.realm,
            nonce,
            allow_proxy_authorization: false,
        };
        let (exchange, step) = Exchange::start(mech, ir.as_deref(), &ctx);
        self.exchange = Some(exchange);
        self.auth_step(step);
    }

    fn auth_response(&mut self, line: &[u8]) {
        let Some(exchange) = self.exchange.as_mut() else {
            self.mode = Mode::Command;
            return;
        };
        match wire::decode_response(line, MAX_RESPONSE_LINE) {
            Ok(ClientResponse::Data(data)) => {
                let step = exchange.step(&data);
                self.auth_step(step);
            }
            Ok(ClientResponse::Abort) => {
                self.exchange = None;
                self.mode = Mode::Command;
                self.reply(reply::AUTH_ABORTED);
            }
            Err(e) => {
                self.exchange = None;
                self.mode = Mode::Command;
                self.reply(match e {
                    WireError::TooLong(_) => reply::AUTH_TOO_LONG,
                    WireError::BadBase64 => reply::AUTH_BASE64,
                });
            }
        }
    }

    fn auth_step(&mut self, step: Step) {
        let mechanism = self
            .exchange
            .as_ref()
            .map(|e| e.mechanism())
            .unwrap_or(Mechanism::Plain);
        match step {
            Step::Challenge(challenge) => {
                self.out.extend_from_slice(b"334 ");
                wire::encode_challenge(&challenge, &mut self.out);
                self.out.extend_from_slice(b"\r\n");
                self.mode = Mode::AuthResponse;
            }
            Step::Verify(request) => {
                self.mode = Mode::Command;
                self.pending = Pending::AuthVerify;
                self.push(Event::AuthVerify(Box::new(request)));
            }
            Step::Success(identity) => {
                self.mode = Mode::Command;
                self.exchange = None;
                self.login = Some(identity.authorized_user().to_owned());
                self.login_mechanism = Some(mechanism);
                self.raw(reply::AUTH_OK);
                self.push(Event::AuthSucceeded { mechanism, identity });
            }
            Step::Failure(failure) => {
                self.mode = Mode::Command;
                self.exchange = None;
                self.push(Event::AuthFailed {
                    mechanism,
                    failure: failure.clone(),
                });
                match &failure {
                    Failure::Temporary => self.reply(reply::AUTH_TEMP),
                    Failure::MechanismRefused => self.reply(reply::AUTH_MECH),
                    Failure::Malformed(text) => {
                        self.errors = self.errors.saturating_add(1);
                        let _ = write!(self.out, "501 5.5.2 Error: authentication failed: {text}\r\n");
                    }
                    f if f.counts_as_attempt() => {
                        let action = self.failures.record_failure();
                        let (FailureAction::Delay(d) | FailureAction::DelayThenClose(d)) = action;
                        self.push(Event::Delay(d));
                        self.reply(reply::AUTH_FAILED);
                        if let FailureAction::DelayThenClose(_) = action {
                            let _ = write!(
                                self.out,
                                "421 4.7.0 {} Error: too many authentication failures\r\n",
                                self.config.hostname
                            );
                            self.close();
                        }
                    }
                    _ => self.reply(reply::AUTH_FAILED),
                }
            }
        }
    }
}

/// Replace `s` with `v` (parameter values are checked ASCII: never `None`).
fn set_text(s: &mut String, v: Option<&str>) {
    s.clear();
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        s.push_str(v);
    }
}

/// The arguments of a command line, UTF-8 checked once for all their parts.
#[derive(Clone, Copy)]
struct Text<'a> {
    line: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Text<'a> {
    /// The part of `line` from `first` (a sub-slice of it) on.
    fn from(line: &'a [u8], first: &[u8]) -> Self {
        let start = (first.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
        let line = line.get(start..).unwrap_or(line);
        Text {
            line,
            text: std::str::from_utf8(line).ok(),
        }
    }

    /// `part` (a sub-slice of the line) as text, `None` if not UTF-8.
    fn part(&self, part: &'a [u8]) -> Option<&'a str> {
        if part.is_empty() {
            return Some("");
        }
        if let Some(text) = self.text {
            // Where `part` lies in the line (a part from elsewhere falls out
            // of range and is checked on its own).
            let start = (part.as_ptr() as usize).wrapping_sub(self.line.as_ptr() as usize);
            if let Some(s) = start.checked_add(part.len()).and_then(|end| text.get(start..end)) {
                return Some(s);
            }
        }
        std::str::from_utf8(part).ok()
    }
}
