//! The POP3 server session: AUTHORIZATION, TRANSACTION and UPDATE states
//! as a sans-IO value.

use mail_proto::push_decimal;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use mail_proto::{Farewell, Line, LineReader, Session, TlsInfo, TlsSwitch};
use mail_sasl::wire::{self, ClientResponse, WireError, MAX_RESPONSE_LINE};
use mail_sasl::{
    BackendCapabilities, Exchange, ExchangeContext, Failure, FailureAction, FailurePolicy, FailureTracker,
    Identity, Mechanism, MechanismPolicy, MechanismSet, Proof, Step, VerifyOutcome, VerifyRequest,
};
use zeroize::Zeroizing;

use crate::apop::{decode_hex_digest, derive, ApopRequest};
use crate::message::Stuffer;
use crate::parse::{parse_command, Command, ParseError};
use crate::reply;
use crate::Pop3Error;

/// How a POP3 session is set up. [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server host name: APOP timestamp, CRAM-MD5 challenge, DIGEST-MD5 digest-uri host.
    pub hostname: String,
    /// Greeting text after `+OK ` (the APOP timestamp is appended when APOP is on).
    pub greeting: String,
    /// POP3S (port 995): the channel is TLS from the first byte.
    pub secure_from_start: bool,
    /// Offer STLS (a TLS configuration exists for this listener).
    pub starttls: bool,
    /// Which SASL mechanisms are enabled, and whether plaintext
    /// authentication (USER/PASS, PLAIN, LOGIN) needs TLS
    /// (`tls_auth_only`, Dovecot's `disable_plaintext_auth`).
    pub mechanisms: MechanismPolicy,
    /// What the credential backend can verify (decides the SASL list, USER/PASS).
    pub backend: BackendCapabilities,
    /// Offer APOP (needs `{PLAIN}` secrets on the server).
    pub apop: bool,
    /// Fresh random bytes from the driver (OS RNG): APOP timestamp and SASL nonces derive from it.
    pub nonce_seed: [u8; 16],
    /// Command line limit in octets, CRLF included (RFC 2449: 255).
    pub max_command_line: usize,
    /// Unknown/malformed commands tolerated before `-ERR Too many bad commands.` and close.
    pub max_bad_commands: u32,
    /// Failure delay and failures allowed per connection.
    pub failure_policy: FailurePolicy,
    /// `IMPLEMENTATION` capability text; `None` hides it.
    pub implementation: Option<String>,
    /// SASL service name for DIGEST-MD5's `digest-uri` (`pop`, as curl and Cyrus send).
    pub sasl_service: String,
    /// DIGEST-MD5 realm; empty means the host name.
    pub realm: String,
    /// Whether PLAIN/DIGEST-MD5 may request an authzid other than the authcid.
    pub allow_proxy_authorization: bool,
    /// Stop executing pipelined commands while this much output waits to
    /// be written (bounds memory when a client pipelines many RETRs).
    /// Default: no limit (`usize::MAX`). Only set a limit with a driver that
    /// calls `next_event` again after writing output and before blocking on
    /// a read — otherwise a pipelining client and the server wait for each
    /// other. (`mail_tls::blocking::serve` reads first, as of this writing.)
    pub max_pending_output: usize,
}

impl Config {
    /// Defaults: TLS-only plaintext auth, PLAIN LOGIN CRAM-MD5 enabled, no
    /// STLS (set `starttls` when a certificate is loaded), no APOP, 255-octet
    /// lines, 10 bad commands, failure delay 2 s and close after 3.
    pub fn new(hostname: impl Into<String>, backend: BackendCapabilities, nonce_seed: [u8; 16]) -> Self {
        Self {
            hostname: hostname.into(),
            greeting: "POP3 server ready.".into(),
            secure_from_start: false,
            starttls: false,
            mechanisms: MechanismPolicy::default(),
            backend,
            apop: false,
            nonce_seed,
            max_command_line: 255,
            max_bad_commands: 10,
            failure_policy: FailurePolicy::default(),
            implementation: None,
            sasl_service: "pop".into(),
            realm: String::new(),
            allow_proxy_authorization: false,
            max_pending_output: usize::MAX,
        }
    }
}

/// One message of the maildrop, as the caller describes it when opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Size on the wire (CRLF line endings, before dot-stuffing): compute it
    /// with [`crate::wire_size`] / [`crate::WireSize`] so that `LIST` agrees
    /// with what `RETR` sends.
    pub size: u64,
    /// Unique id, stable across sessions (e.g. the Maildir base name):
    /// 1–70 characters in 0x21–0x7E.
    pub uid: String,
}

/// How a user authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `USER` / `PASS`.
    UserPass,
    /// `APOP`.
    Apop,
    /// `AUTH` with a SASL mechanism.
    Sasl(Mechanism),
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::UserPass => f.write_str("USER"),
            AuthMethod::Apop => f.write_str("APOP"),
            AuthMethod::Sasl(m) => f.write_str(m.name()),
        }
    }
}

/// What the session tells its caller. Events marked "answer" wait for the
/// named method; nothing else is parsed or executed until then.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Check these credentials (USER/PASS or a SASL mechanism). Answer:
    /// [`Pop3Session::auth_verified`].
    AuthVerify(VerifyRequest),
    /// Check an APOP digest ([`ApopRequest::verify_with`] needs the `{PLAIN}`
    /// secret). Answer: [`Pop3Session::auth_verified`].
    ApopVerify(ApopRequest),
    /// For logs: a login succeeded.
    AuthSucceeded {
        /// How.
        method: AuthMethod,
        /// Who.
        identity: Identity,
    },
    /// For logs: a login failed.
    AuthFailed {
        /// How.
        method: AuthMethod,
        /// The user name, when known.
        user: Option<String>,
        /// Why.
        reason: Failure,
    },
    /// Wait this long before writing the pending output (failed login).
    Delay(Duration),
    /// Open (and lock) `user`'s maildrop. Answer: [`Pop3Session::maildrop_opened`],
    /// [`Pop3Session::maildrop_in_use`] or [`Pop3Session::maildrop_failed`].
    OpenMaildrop {
        /// The authorized user.
        user: String,
    },
    /// Send message `index` (0-based, in the list given to `maildrop_opened`).
    /// Answer: [`Pop3Session::send_message_chunk`] with the stored bytes
    /// (any chunking), then [`Pop3Session::message_done`]; or
    /// [`Pop3Session::message_failed`].
    Retrieve {
        /// 0-based message index.
        index: usize,
        /// `Some(n)` for `TOP msg n`: headers and `n` body lines.
        top_lines: Option<u32>,
    },
    /// `QUIT` in TRANSACTION: remove these messages (0-based indices) now,
    /// then unlock. The only moment deletions happen: a dropped connection
    /// deletes nothing. Answer: [`Pop3Session::update_done`] or
    /// [`Pop3Session::update_failed`].
    Update {
        /// Messages marked with `DELE`, ascending.
        deleted: Vec<usize>,
    },
}

#[derive(Debug)]
enum State {
    Authorization {
        user: Option<String>,
    },
    AwaitVerify {
        method: AuthMethod,
        user: String,
        exchange: Option<Exchange>,
    },
    SaslResponse {
        exchange: Exchange,
    },
    AwaitMaildrop,
    Transaction,
    Streaming {
        index: usize,
        stuffer: Stuffer,
        started: bool,
        top: bool,
    },
    AwaitUpdate,
    AwaitTls,
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Authorization { .. } => "AUTHORIZATION",
            State::AwaitVerify { .. } => "waiting for auth_verified",
            State::SaslResponse { .. } => "waiting for a SASL response line",
            State::AwaitMaildrop => "waiting for the maildrop",
            State::Transaction => "TRANSACTION",
            State::Streaming { .. } => "streaming a message",
            State::AwaitUpdate => "waiting for update_done",
            State::AwaitTls => "waiting for the TLS handshake",
            State::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone)]
struct Msg {
    size: u64,
    uid: String,
    deleted: bool,
}

/// A POP3 server session (RFC 1939, 2449, 2595, 5034). See the crate docs
/// for the driving loop.
#[derive(Debug)]
pub struct Pop3Session {
    reader: LineReader,
    inner: Inner,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    state: State,
    out: Vec<u8>,
    out_start: usize,
    events: VecDeque<Event>,
    secure: bool,
    tls: Option<TlsInfo>,
    tracker: FailureTracker,
    maildrop: Vec<Msg>,
    apop_timestamp: Option<String>,
    exchanges: u64,
    bad_commands: u32,
    /// The logged-in user (set when the maildrop is requested).
    user: Option<String>,
    /// Cleartext bytes received after STLS was accepted (never parsed).
    ignored_after_stls: usize,
}

impl Pop3Session {
    /// A new session; the greeting is already in [`output`](Session::output).
    pub fn new(config: Config) -> Self {
        let line_limit = config.max_command_line.saturating_sub(2).max(4);
        let apop_timestamp = config.apop.then(|| {
            let d = derive(&config.nonce_seed, b"apop", 0);
            let mut ts = String::with_capacity(40 + config.hostname.len());
            ts.push('<');
            for b in &d[..8] {
                ts.push_str(&format!("{b:02x}"));
            }
            ts.push('.');
            for b in &d[8..] {
                ts.push_str(&format!("{b:02x}"));
            }
            ts.push('@');
            ts.push_str(&config.hostname);
            ts.push('>');
            ts
        });
        let mut inner = Inner {
            secure: config.secure_from_start,
            tracker: FailureTracker::new(config.failure_policy),
            config,
            state: State::Authorization { user: None },
            out: Vec::with_capacity(512),
            out_start: 0,
            events: VecDeque::new(),
            tls: None,
            maildrop: Vec::new(),
            apop_timestamp,
            exchanges: 0,
            bad_commands: 0,
            ignored_after_stls: 0,
            user: None,
        };
        inner.out.extend_from_slice(b"+OK ");
        // Configuration text, but never let it break the reply line.
        let greeting = inner.config.greeting.bytes().filter(|b| !b.is_ascii_control());
        inner.out.extend(greeting);
        if let Some(ts) = &inner.apop_timestamp {
            inner.out.push(b' ');
            inner.out.extend_from_slice(ts.as_bytes());
        }
        inner.out.extend_from_slice(b"\r\n");
        Self {
            reader: LineReader::new(line_limit),
            inner,
        }
    }

    /// The APOP timestamp of the greeting, when APOP is offered.
    pub fn apop_timestamp(&self) -> Option<&str> {
        self.inner.apop_timestamp.as_deref()
    }

    /// Whether the channel is TLS (POP3S, or after STLS).
    pub fn is_secure(&self) -> bool {
        self.inner.secure
    }

    /// The TLS channel's facts, once established.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.inner.tls.as_ref()
    }

    /// The authenticated user, once a login succeeded.
    pub fn user(&self) -> Option<&str> {
        self.inner.user.as_deref()
    }

    /// Whether the session is in TRANSACTION state (logged in, maildrop open).
    pub fn is_authenticated(&self) -> bool {
        matches!(
            self.inner.state,
            State::Transaction | State::Streaming { .. } | State::AwaitUpdate
        )
    }

    /// The SASL mechanisms offered on this channel now.
    pub fn offered_mechanisms(&self) -> MechanismSet {
        self.inner.offered()
    }

    /// Answer [`Event::AuthVerify`] / [`Event::ApopVerify`].
    pub fn auth_verified(&mut self, outcome: VerifyOutcome) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        match std::mem::replace(&mut inner.state, State::Closed) {
            State::AwaitVerify {
                method,
                user,
                exchange: Some(mut exchange),
            } => {
                let step = exchange.verified(outcome);
                inner.handle_step(method, user, exchange, step);
            }
            State::AwaitVerify {
                method,
                user,
                exchange: None,
            } => match outcome {
                VerifyOutcome::Success { .. } => inner.auth_success(
                    method,
                    Identity {
                        authcid: user,
                        authzid: None,
                    },
                ),
                VerifyOutcome::Failure => inner.auth_failure(method, Some(user), Failure::BadCredentials),
                _ => inner.auth_failure(method, Some(user), Failure::Temporary),
            },
            other => return Err(inner.not_pending("auth_verified", other)),
        }
        self.sync_limit();
        Ok(())
    }

    /// Answer [`Event::OpenMaildrop`]: the maildrop is locked for this
    /// session and holds these messages (numbered 1.. in this order).
    ///
    /// UIDs that are not valid or not unique refuse the login with
    /// `-ERR [SYS/TEMP]` and return the error for the caller's log.
    pub fn maildrop_opened(&mut self, messages: Vec<MessageInfo>) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        if !matches!(inner.state, State::AwaitMaildrop) {
            let state = std::mem::replace(&mut inner.state, State::Closed);
            return Err(inner.not_pending("maildrop_opened", state));
        }
        if let Err(e) = check_uids(&messages) {
            inner.state = State::Authorization { user: None };
            inner.user = None;
            inner.reply(reply::MAILDROP_FAILED);
            return Err(e);
        }
        inner.maildrop = messages
            .into_iter()
            .map(|m| Msg {
                size: m.size,
                uid: m.uid,
                deleted: false,
            })
            .collect();
        inner.state = State::Transaction;
        inner.reply(reply::LOGGED_IN);
        Ok(())
    }

    /// Answer [`Event::OpenMaildrop`]: another session holds the lock
    /// (`-ERR [IN-USE]`); the client stays in AUTHORIZATION.
    pub fn maildrop_in_use(&mut self) -> Result<(), Pop3Error> {
        self.maildrop_refused("maildrop_in_use", reply::IN_USE)
    }

    /// Answer [`Event::OpenMaildrop`]: the maildrop cannot be opened now
    /// (`-ERR [SYS/TEMP]`); the client stays in AUTHORIZATION.
    pub fn maildrop_failed(&mut self) -> Result<(), Pop3Error> {
        self.maildrop_refused("maildrop_failed", reply::MAILDROP_FAILED)
    }

    fn maildrop_refused(&mut self, call: &'static str, text: &[u8]) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        if !matches!(inner.state, State::AwaitMaildrop) {
            let state = std::mem::replace(&mut inner.state, State::Closed);
            return Err(inner.not_pending(call, state));
        }
        inner.state = State::Authorization { user: None };
        inner.user = None;
        inner.reply(text);
        Ok(())
    }

    /// Answer [`Event::Retrieve`] with the next piece of the stored message
    /// (any chunk size; bare LF line endings are sent as CRLF, leading dots
    /// are stuffed). The bytes are appended to the output at once: push
    /// chunks as the output drains to keep memory bounded.
    pub fn send_message_chunk(&mut self, chunk: &[u8]) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        match &mut inner.state {
            State::Streaming {
                index,
                stuffer,
                started,
                top,
            } => {
                if !*started {
                    *started = true;
                    start_message(&mut inner.out, *top, inner.maildrop[*index].size);
                }
                stuffer.feed(chunk, &mut inner.out);
                Ok(())
            }
            _ => {
                let state = std::mem::replace(&mut inner.state, State::Closed);
                Err(inner.not_pending("send_message_chunk", state))
            }
        }
    }

    /// Whether the message being sent still needs bytes (false once TOP has
    /// sent its lines: the rest would be ignored).
    pub fn wants_message_data(&self) -> bool {
        matches!(&self.inner.state, State::Streaming { stuffer, .. } if stuffer.wants_more())
    }

    /// Answer [`Event::Retrieve`]: the whole message was pushed.
    pub fn message_done(&mut self) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        match std::mem::replace(&mut inner.state, State::Transaction) {
            State::Streaming {
                index,
                mut stuffer,
                started,
                top,
            } => {
                if !started {
                    start_message(&mut inner.out, top, inner.maildrop[index].size);
                }
                stuffer.finish(&mut inner.out);
                inner.out.extend_from_slice(b".\r\n");
                Ok(())
            }
            other => Err(inner.not_pending("message_done", other)),
        }
    }

    /// Answer [`Event::Retrieve`]: the message could not be read. Before any
    /// byte was sent the client gets `-ERR [SYS/TEMP]`; in the middle of a
    /// message nothing can repair the reply, so the connection is closed.
    pub fn message_failed(&mut self) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        match std::mem::replace(&mut inner.state, State::Transaction) {
            State::Streaming { started: false, .. } => {
                inner.reply(reply::MESSAGE_FAILED);
                Ok(())
            }
            State::Streaming { started: true, .. } => {
                inner.state = State::Closed;
                Ok(())
            }
            other => Err(inner.not_pending("message_failed", other)),
        }
    }

    /// Answer [`Event::Update`]: the deletions were committed.
    pub fn update_done(&mut self) -> Result<(), Pop3Error> {
        self.update_answer("update_done", reply::LOGGING_OUT)
    }

    /// Answer [`Event::Update`]: some deletions failed (`-ERR [SYS/TEMP]`).
    pub fn update_failed(&mut self) -> Result<(), Pop3Error> {
        self.update_answer("update_failed", reply::UPDATE_FAILED)
    }

    fn update_answer(&mut self, call: &'static str, text: &[u8]) -> Result<(), Pop3Error> {
        let inner = &mut self.inner;
        match std::mem::replace(&mut inner.state, State::Closed) {
            State::AwaitUpdate => {
                inner.reply(text);
                Ok(())
            }
            other => Err(inner.not_pending(call, other)),
        }
    }

    fn sync_limit(&mut self) {
        let limit = match self.inner.state {
            State::SaslResponse { .. } => MAX_RESPONSE_LINE,
            _ => self.inner.config.max_command_line.saturating_sub(2).max(4),
        };
        if self.reader.max_line() != limit {
            self.reader.set_max_line(limit);
        }
    }

    /// Parse and execute buffered lines until an event is queued or a
    /// decision is awaited.
    fn advance(&mut self) {
        loop {
            if !self.inner.events.is_empty()
                || self.inner.output_len() >= self.inner.config.max_pending_output
            {
                return;
            }
            let sasl = match self.inner.state {
                State::Authorization { .. } | State::Transaction => false,
                State::SaslResponse { .. } => true,
                _ => return,
            };
            let Some(line) = self.reader.next_line() else {
                return;
            };
            if sasl {
                self.inner.sasl_line(line);
            } else {
                self.inner.command_line(line);
            }
            self.sync_limit();
        }
    }
}

fn start_message(out: &mut Vec<u8>, top: bool, size: u64) {
    if top {
        out.extend_from_slice(b"+OK\r\n");
    } else {
        out.extend_from_slice(b"+OK ");
        push_decimal(out, size);
        out.extend_from_slice(b" octets\r\n");
    }
}

fn check_uids(messages: &[MessageInfo]) -> Result<(), Pop3Error> {
    for (index, m) in messages.iter().enumerate() {
        let ok = (1..=70).contains(&m.uid.len()) && m.uid.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !ok {
            return Err(Pop3Error::InvalidUid {
                index,
                uid: m.uid.clone(),
            });
        }
    }
    let mut uids: Vec<&str> = messages.iter().map(|m| m.uid.as_str()).collect();
    uids.sort_unstable();
    if let Some(w) = uids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Pop3Error::DuplicateUid { uid: w[0].to_owned() });
    }
    Ok(())
}

impl Inner {
    fn output_len(&self) -> usize {
        self.out.len() - self.out_start
    }

    fn not_pending(&mut self, call: &'static str, state: State) -> Pop3Error {
        let name = state.name();
        self.state = state;
        Pop3Error::NotPending { call, state: name }
    }

    fn reply(&mut self, line: &[u8]) {
        self.out.extend_from_slice(line);
        self.out.extend_from_slice(b"\r\n");
    }

    /// Whether USER/PASS (and PLAIN/LOGIN) may be used on this channel now.
    fn cleartext_auth_allowed(&self) -> bool {
        let p = &self.config.mechanisms;
        self.config.backend.plaintext && !p.noplaintext && (self.secure || !p.tls_auth_only)
    }

    /// Plaintext auth would be allowed if only the channel were TLS.
    fn plaintext_needs_tls(&self) -> bool {
        let p = &self.config.mechanisms;
        !self.secure && self.config.backend.plaintext && !p.noplaintext && p.tls_auth_only
    }

    fn offered(&self) -> MechanismSet {
        self.config.mechanisms.offered(self.config.backend, self.secure)
    }

    fn stls_offered(&self) -> bool {
        self.config.starttls && !self.secure
    }

    fn bad_command(&mut self, text: &[u8]) {
        self.bad_commands = self.bad_commands.saturating_add(1);
        if self.bad_commands >= self.config.max_bad_commands {
            self.reply(reply::TOO_MANY_BAD);
            self.state = State::Closed;
        } else {
            self.reply(text);
        }
    }

    fn command_line(&mut self, line: Line<'_>) {
        let line = match line {
            Line::Complete(l) => l,
            Line::TooLong => return self.bad_command(reply::LINE_TOO_LONG),
        };
        let cmd = match parse_command(line) {
            Ok(cmd) => cmd,
            Err(ParseError::Unknown) => return self.bad_command(reply::UNKNOWN),
            Err(ParseError::Syntax(text)) => {
                let mut msg = Vec::with_capacity(5 + text.len());
                msg.extend_from_slice(b"-ERR ");
                msg.extend_from_slice(text.as_bytes());
                return self.bad_command(&msg);
            }
        };
        if matches!(self.state, State::Transaction) {
            self.transaction(cmd);
        } else {
            self.authorization(cmd);
        }
    }

    fn authorization(&mut self, cmd: Command<'_>) {
        match cmd {
            Command::Capa => self.capa(),
            Command::Quit => {
                self.reply(reply::LOGGING_OUT);
                self.state = State::Closed;
            }
            Command::Noop => self.reply(b"+OK"),
            Command::Stls => {
                if self.secure {
                    self.reply(reply::TLS_ACTIVE);
                } else if !self.config.starttls {
                    self.reply(reply::TLS_DISABLED);
                } else {
                    self.reply(reply::BEGIN_TLS);
                    self.state = State::AwaitTls;
                }
            }
            Command::User(name) => {
                if !self.cleartext_auth_allowed() {
                    return self.plaintext_refused();
                }
                match valid_user(name) {
                    Some(user) => {
                        self.state = State::Authorization { user: Some(user) };
                        self.reply(b"+OK");
                    }
                    None => self.reply(reply::BAD_USER),
                }
            }
            Command::Pass(pass) => {
                if !self.cleartext_auth_allowed() {
                    return self.plaintext_refused();
                }
                let State::Authorization { user: Some(user) } =
                    std::mem::replace(&mut self.state, State::Authorization { user: None })
                else {
                    return self.reply(reply::NO_USER);
                };
                let Ok(pass) = std::str::from_utf8(pass) else {
                    return self.auth_failure(
                        AuthMethod::UserPass,
                        Some(user),
                        Failure::Malformed("password is not UTF-8"),
                    );
                };
                self.events.push_back(Event::AuthVerify(VerifyRequest {
                    mechanism: Mechanism::Plain,
                    authcid: user.clone(),
                    authzid: None,
                    proof: Proof::Password(Zeroizing::new(pass.to_owned())),
                }));
                self.state = State::AwaitVerify {
                    method: AuthMethod::UserPass,
                    user,
                    exchange: None,
                };
            }
            Command::Apop { user, digest } => {
                let Some(timestamp) = self.apop_timestamp.clone() else {
                    return self.bad_command(reply::APOP_DISABLED);
                };
                let Some(user) = valid_user(user) else {
                    return self.reply(reply::BAD_USER);
                };
                let Some(digest) = decode_hex_digest(digest) else {
                    return self.auth_failure(
                        AuthMethod::Apop,
                        Some(user),
                        Failure::Malformed("APOP digest is not 32 hex digits"),
                    );
                };
                self.events.push_back(Event::ApopVerify(ApopRequest {
                    user: user.clone(),
                    timestamp,
                    digest,
                }));
                self.state = State::AwaitVerify {
                    method: AuthMethod::Apop,
                    user,
                    exchange: None,
                };
            }
            Command::Auth { mechanism: None, .. } => {
                let offered = self.offered();
                self.out.extend_from_slice(b"+OK\r\n");
                for m in offered.iter() {
                    self.reply(m.name().as_bytes());
                }
                self.out.extend_from_slice(b".\r\n");
            }
            Command::Auth {
                mechanism: Some(name),
                initial_response,
            } => self.auth(name, initial_response),
            _ => self.bad_command(reply::NOT_AUTHENTICATED),
        }
    }

    fn plaintext_refused(&mut self) {
        self.state = State::Authorization { user: None };
        if !self.secure {
            self.reply(reply::PLAINTEXT_DISALLOWED);
        } else {
            self.reply(reply::PLAINTEXT_DISABLED);
        }
    }

    fn auth(&mut self, name: &[u8], initial_response: Option<&[u8]>) {
        self.state = State::Authorization { user: None };
        let Some(mech) = Mechanism::from_name(name) else {
            return self.reply(reply::UNSUPPORTED_MECH);
        };
        if !self.offered().contains(mech) {
            let would_be_offered = self
                .config
                .mechanisms
                .offered(self.config.backend, true)
                .contains(mech);
            if mech.is_plaintext() && would_be_offered && self.plaintext_needs_tls() {
                return self.reply(reply::PLAINTEXT_DISALLOWED);
            }
            return self.reply(reply::UNSUPPORTED_MECH);
        }
        let ir = match initial_response.map(|ir| wire::decode_initial_response(ir, MAX_RESPONSE_LINE)) {
            None => None,
            Some(Ok(ir)) => Some(ir),
            Some(Err(_)) => return self.reply(reply::BAD_BASE64),
        };
        self.exchanges = self.exchanges.wrapping_add(1);
        let nonce = derive(&self.config.nonce_seed, b"sasl", self.exchanges);
        let ctx = ExchangeContext {
            service: &self.config.sasl_service,
            hostname: &self.config.hostname,
            realm: &self.config.realm,
            nonce,
            allow_proxy_authorization: self.config.allow_proxy_authorization,
        };
        let (exchange, step) = Exchange::start(mech, ir.as_deref(), &ctx);
        self.handle_step(AuthMethod::Sasl(mech), String::new(), exchange, step);
    }

    fn handle_step(&mut self, method: AuthMethod, user: String, exchange: Exchange, step: Step) {
        match step {
            Step::Challenge(challenge) => {
                self.out.extend_from_slice(b"+ ");
                wire::encode_challenge(&challenge, &mut self.out);
                self.out.extend_from_slice(b"\r\n");
                self.state = State::SaslResponse { exchange };
            }
            Step::Verify(request) => {
                let user = request.authcid.clone();
                self.events.push_back(Event::AuthVerify(request));
                self.state = State::AwaitVerify {
                    method,
                    user,
                    exchange: Some(exchange),
                };
            }
            Step::Success(identity) => self.auth_success(method, identity),
            Step::Failure(reason) => self.auth_failure(method, (!user.is_empty()).then_some(user), reason),
        }
    }

    fn sasl_line(&mut self, line: Line<'_>) {
        let State::SaslResponse { mut exchange } =
            std::mem::replace(&mut self.state, State::Authorization { user: None })
        else {
            return;
        };
        let method = AuthMethod::Sasl(exchange.mechanism());
        let line = match line {
            Line::Complete(l) => l,
            Line::TooLong => return self.reply(reply::SASL_TOO_LONG),
        };
        match wire::decode_response(line, MAX_RESPONSE_LINE) {
            Ok(ClientResponse::Abort) => self.reply(reply::AUTH_ABORTED),
            Ok(ClientResponse::Data(data)) => {
                let step = exchange.step(&data);
                self.handle_step(method, String::new(), exchange, step);
            }
            Err(WireError::TooLong(_)) => self.reply(reply::SASL_TOO_LONG),
            Err(_) => self.reply(reply::BAD_BASE64),
        }
    }

    fn auth_success(&mut self, method: AuthMethod, identity: Identity) {
        let user = identity.authorized_user().to_owned();
        self.events.push_back(Event::AuthSucceeded { method, identity });
        self.events.push_back(Event::OpenMaildrop { user: user.clone() });
        self.user = Some(user);
        self.state = State::AwaitMaildrop;
    }

    fn auth_failure(&mut self, method: AuthMethod, user: Option<String>, reason: Failure) {
        self.state = State::Authorization { user: None };
        let text: &[u8] = match &reason {
            Failure::Temporary => reply::AUTH_TEMP,
            Failure::MechanismRefused => reply::UNSUPPORTED_MECH,
            _ => reply::AUTH_FAILED,
        };
        let counts = reason.counts_as_attempt() || matches!(reason, Failure::Malformed(_));
        self.events.push_back(Event::AuthFailed { method, user, reason });
        if counts {
            match self.tracker.record_failure() {
                FailureAction::Delay(d) => {
                    self.events.push_back(Event::Delay(d));
                    self.reply(text);
                }
                FailureAction::DelayThenClose(d) => {
                    self.events.push_back(Event::Delay(d));
                    self.reply(text);
                    self.state = State::Closed;
                }
            }
        } else {
            self.reply(text);
        }
    }

    fn capa(&mut self) {
        self.out.extend_from_slice(b"+OK Capability list follows\r\n");
        self.out
            .extend_from_slice(b"TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        if matches!(self.state, State::Authorization { .. }) && self.stls_offered() {
            self.out.extend_from_slice(b"STLS\r\n");
        }
        if self.cleartext_auth_allowed() {
            self.out.extend_from_slice(b"USER\r\n");
        }
        let offered = self.offered();
        if !offered.is_empty() {
            self.out.extend_from_slice(b"SASL");
            for m in offered.iter() {
                self.out.push(b' ');
                self.out.extend_from_slice(m.name().as_bytes());
            }
            self.out.extend_from_slice(b"\r\n");
        }
        if let Some(imp) = &self.config.implementation {
            self.out.extend_from_slice(b"IMPLEMENTATION ");
            self.out.extend(imp.bytes().filter(|b| (0x20..0x7f).contains(b)));
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b".\r\n");
    }

    /// A message number that exists and is not deleted: its index.
    fn message(&mut self, n: u32) -> Option<usize> {
        let index = (n as usize).wrapping_sub(1);
        match self.maildrop.get(index) {
            Some(m) if !m.deleted => Some(index),
            Some(_) => {
                self.reply(reply::DELETED);
                None
            }
            None => {
                self.out.extend_from_slice(b"-ERR There's no message ");
                push_decimal(&mut self.out, u64::from(n));
                self.out.extend_from_slice(b".\r\n");
                None
            }
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.maildrop
            .iter()
            .filter(|m| !m.deleted)
            .fold((0, 0), |(n, s), m| (n + 1, s + m.size))
    }

    fn transaction(&mut self, cmd: Command<'_>) {
        match cmd {
            Command::Stat => {
                let (n, size) = self.totals();
                self.out.extend_from_slice(b"+OK ");
                push_decimal(&mut self.out, n);
                self.out.push(b' ');
                push_decimal(&mut self.out, size);
                self.out.extend_from_slice(b"\r\n");
            }
            Command::List(None) => {
                let (n, size) = self.totals();
                self.out.extend_from_slice(b"+OK ");
                push_decimal(&mut self.out, n);
                self.out.extend_from_slice(b" messages (");
                push_decimal(&mut self.out, size);
                self.out.extend_from_slice(b" octets)\r\n");
                for (i, m) in self.maildrop.iter().enumerate() {
                    if !m.deleted {
                        push_decimal(&mut self.out, i as u64 + 1);
                        self.out.push(b' ');
                        push_decimal(&mut self.out, m.size);
                        self.out.extend_from_slice(b"\r\n");
                    }
                }
                self.out.extend_from_slice(b".\r\n");
            }
            Command::List(Some(n)) => {
                if let Some(i) = self.message(n) {
                    self.out.extend_from_slice(b"+OK ");
                    push_decimal(&mut self.out, u64::from(n));
                    self.out.push(b' ');
                    push_decimal(&mut self.out, self.maildrop[i].size);
                    self.out.extend_from_slice(b"\r\n");
                }
            }
            Command::Uidl(None) => {
                self.out.extend_from_slice(b"+OK\r\n");
                for (i, m) in self.maildrop.iter().enumerate() {
                    if !m.deleted {
                        push_decimal(&mut self.out, i as u64 + 1);
                        self.out.push(b' ');
                        self.out.extend_from_slice(m.uid.as_bytes());
                        self.out.extend_from_slice(b"\r\n");
                    }
                }
                self.out.extend_from_slice(b".\r\n");
            }
            Command::Uidl(Some(n)) => {
                if let Some(i) = self.message(n) {
                    self.out.extend_from_slice(b"+OK ");
                    push_decimal(&mut self.out, u64::from(n));
                    self.out.push(b' ');
                    self.out.extend_from_slice(self.maildrop[i].uid.as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                }
            }
            Command::Retr(n) => self.retrieve(n, None),
            Command::Top { msg, lines } => self.retrieve(msg, Some(lines)),
            Command::Dele(n) => {
                if let Some(i) = self.message(n) {
                    self.maildrop[i].deleted = true;
                    self.reply(reply::MARKED);
                }
            }
            Command::Noop => self.reply(b"+OK"),
            Command::Rset => {
                for m in &mut self.maildrop {
                    m.deleted = false;
                }
                self.reply(b"+OK");
            }
            Command::Capa => self.capa(),
            Command::Quit => {
                let deleted = self
                    .maildrop
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.deleted)
                    .map(|(i, _)| i)
                    .collect();
                self.events.push_back(Event::Update { deleted });
                self.state = State::AwaitUpdate;
            }
            Command::Stls => self.reply(reply::STLS_IN_TRANSACTION),
            Command::User(_) | Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. } => {
                self.reply(reply::ALREADY_AUTHENTICATED)
            }
        }
    }

    fn retrieve(&mut self, n: u32, top_lines: Option<u32>) {
        if let Some(index) = self.message(n) {
            self.events.push_back(Event::Retrieve { index, top_lines });
            self.state = State::Streaming {
                index,
                stuffer: Stuffer::new(top_lines, true),
                started: false,
                top: top_lines.is_some(),
            };
        }
    }
}

/// A user name: UTF-8, 1–255 octets, no control characters.
fn valid_user(name: &[u8]) -> Option<String> {
    if name.is_empty() || name.len() > 255 || name.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    std::str::from_utf8(name).ok().map(str::to_owned)
}

impl Session for Pop3Session {
    type Event = Event;

    fn receive(&mut self, data: &[u8]) {
        match self.inner.state {
            State::Closed => {}
            State::AwaitTls => {
                self.inner.ignored_after_stls = self.inner.ignored_after_stls.saturating_add(data.len());
            }
            _ => self.reader.push(data),
        }
    }

    fn next_event(&mut self) -> Option<Event> {
        if self.inner.events.is_empty() {
            self.advance();
        }
        self.inner.events.pop_front()
    }

    fn output(&self) -> &[u8] {
        &self.inner.out[self.inner.out_start..]
    }

    fn consume_output(&mut self, n: usize) {
        let inner = &mut self.inner;
        inner.out_start = (inner.out_start + n).min(inner.out.len());
        if inner.out_start == inner.out.len() {
            inner.out.clear();
            inner.out_start = 0;
        } else if inner.out_start > 64 * 1024 && inner.out_start > inner.out.len() / 2 {
            inner.out.drain(..inner.out_start);
            inner.out_start = 0;
        }
    }

    fn wants_input(&self) -> bool {
        !matches!(self.inner.state, State::Closed)
            && self.reader.buffered() < MAX_RESPONSE_LINE + 2 + self.inner.config.max_command_line
            && self.inner.output_len() < self.inner.config.max_pending_output
    }

    fn tls_switch(&self) -> TlsSwitch {
        if matches!(self.inner.state, State::AwaitTls) {
            TlsSwitch::AfterOutput
        } else {
            TlsSwitch::None
        }
    }

    fn tls_established(&mut self, info: &TlsInfo) -> usize {
        let inner = &mut self.inner;
        let discarded = self.reader.clear().saturating_add(inner.ignored_after_stls);
        inner.ignored_after_stls = 0;
        inner.secure = true;
        inner.tls = Some(info.clone());
        // RFC 2595 §4: forget everything learnt before TLS. Only AUTHORIZATION
        // state can precede TLS; a partial USER or SASL exchange is dropped.
        if !matches!(inner.state, State::Closed) {
            inner.state = State::Authorization { user: None };
            inner.events.retain(|e| matches!(e, Event::Delay(_)));
        }
        self.sync_limit();
        discarded
    }

    fn is_closed(&self) -> bool {
        matches!(self.inner.state, State::Closed)
    }

    /// `-ERR [SYS/TEMP] Server shutting down.` or, after the idle timeout,
    /// `-ERR Disconnected for inactivity.` (Dovecot's texts), then closed
    /// without entering UPDATE: nothing marked deleted is removed
    /// (RFC 1939 §6). While a message is being sent nothing is added to it.
    fn farewell(&mut self, reason: Farewell) {
        let inner = &mut self.inner;
        match inner.state {
            State::Closed | State::AwaitTls => return,
            State::Streaming { .. } => {}
            _ => inner.reply(match reason {
                Farewell::Shutdown => reply::SHUTTING_DOWN,
                Farewell::IdleTimeout => reply::IDLE_TIMEOUT,
            }),
        }
        inner.state = State::Closed;
    }
}
