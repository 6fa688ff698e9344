//! The IMAP server session: a sans-IO state machine.

use mail_proto::push_decimal;
use std::collections::VecDeque;
use std::time::Duration;

use mail_proto::{Farewell, Line, Session, TlsInfo, TlsSwitch};
use mail_sasl::wire::{self, ClientResponse, WireError};
use mail_sasl::{
    BackendCapabilities, Exchange, ExchangeContext, Failure, FailureAction, FailurePolicy, FailureTracker,
    Identity, Mechanism, MechanismPolicy, Proof, Step, VerifyOutcome, VerifyRequest,
};
use zeroize::Zeroizing;

use crate::error::ImapError;
use crate::mime::{self, Parsed};
use crate::parse::{
    Command, CommandBody, DateCmp, FetchAttr, ParseError, SearchKey, Section, SectionText, SequenceSet,
    StatusItem, StoreMode,
};
use crate::reader::{CommandReader, Frame, Limits};
use crate::reply::{astring, literal};
use crate::store::{format_internal_date, Flags, MailboxView, MessageMeta};

/// Hierarchy delimiter of mailbox names (`Sent/2024`).
pub const DELIMITER: char = '/';

/// How a session is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server host name (CRAM-MD5 challenge, DIGEST-MD5 digest-uri host).
    pub hostname: String,
    /// Implicit TLS (port 993): the channel is secure from the start; the
    /// driver calls [`Session::tls_established`] after the handshake.
    pub implicit_tls: bool,
    /// Offer STARTTLS on a cleartext channel (a TLS configuration exists).
    pub starttls: bool,
    /// Which SASL mechanisms are offered; `tls_auth_only` also governs LOGIN
    /// and LOGINDISABLED (Dovecot's `disable_plaintext_auth`).
    pub mechanisms: MechanismPolicy,
    /// What the credential backend can verify.
    pub backend: BackendCapabilities,
    /// Failure delay and attempt limit.
    pub failure_policy: FailurePolicy,
    /// Fresh random bytes from the driver; each SASL exchange derives its own nonce from it.
    pub nonce_seed: [u8; 16],
    /// Framing limits.
    pub limits: Limits,
    /// Consecutive `BAD` commands tolerated before `* BYE`.
    pub max_bad_commands: u32,
    /// DIGEST-MD5 realm; empty means the host name.
    pub realm: String,
}

impl Config {
    /// Defaults for a STARTTLS listener (port 143) with TLS-only authentication.
    pub fn new(hostname: impl Into<String>, backend: BackendCapabilities, nonce_seed: [u8; 16]) -> Self {
        Config {
            hostname: hostname.into(),
            implicit_tls: false,
            starttls: true,
            mechanisms: MechanismPolicy::default(),
            backend,
            failure_policy: FailurePolicy::default(),
            nonce_seed,
            limits: Limits::default(),
            max_bad_commands: 20,
            realm: String::new(),
        }
    }
}

/// The caller's answer to [`Event::CopyMessages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    /// Copied: the destination's UIDVALIDITY and the new UIDs, in the order
    /// of the source UIDs (for the UIDPLUS `COPYUID` code).
    Copied {
        /// UIDVALIDITY of the destination.
        uid_validity: u32,
        /// New UIDs, one per source UID.
        uids: Vec<u32>,
    },
    /// The destination does not exist (`NO [TRYCREATE]`, so clients create it).
    NoSuchMailbox,
    /// Nothing was copied; the text is sent as `NO [CANNOT] text`.
    Failed(String),
}

/// Why a mailbox is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenPurpose {
    /// SELECT (read-write).
    Select,
    /// EXAMINE (read-only).
    Examine,
    /// STATUS (counts only).
    Status,
}

/// A mailbox-level change the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxOp {
    /// CREATE
    Create(String),
    /// DELETE
    Delete(String),
    /// RENAME from to
    Rename(String, String),
}

/// What the session tells the caller. Decisions name the method that answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Check these credentials; answer with [`ImapSession::auth_verified`].
    AuthVerify(VerifyRequest),
    /// A user logged in (for logs).
    AuthSucceeded {
        /// SASL mechanism, or LOGIN for the LOGIN command.
        mechanism: Mechanism,
        /// Who.
        identity: Identity,
    },
    /// An authentication attempt failed (for logs).
    AuthFailed {
        /// SASL mechanism, or LOGIN for the LOGIN command.
        mechanism: Mechanism,
        /// Why.
        failure: Failure,
    },
    /// Wait this long before writing the pending output (failed authentication).
    Delay(Duration),
    /// Open a mailbox of the logged-in user; answer with [`ImapSession::mailbox_opened`].
    OpenMailbox {
        /// Mailbox name (`INBOX`, or `/`-separated folder names).
        name: String,
        /// SELECT, EXAMINE or STATUS.
        purpose: OpenPurpose,
    },
    /// List the user's mailboxes; answer with [`ImapSession::mailbox_list`].
    ListMailboxes,
    /// Hand over the bytes of a message of the selected mailbox; answer with
    /// [`ImapSession::message_content`].
    FetchMessage {
        /// Its UID.
        uid: u32,
    },
    /// Persist new flags of a message (STORE, or `\Seen` set by a FETCH).
    FlagsChanged {
        /// Selected mailbox.
        mailbox: String,
        /// Message UID.
        uid: u32,
        /// The complete new set of flags.
        flags: Flags,
    },
    /// Delete these messages (EXPUNGE, UID EXPUNGE, CLOSE).
    Expunged {
        /// Selected mailbox.
        mailbox: String,
        /// Their UIDs.
        uids: Vec<u32>,
    },
    /// Create, delete or rename a mailbox; answer with [`ImapSession::mailbox_op_done`].
    MailboxOp(MailboxOp),
    /// Copy messages of the selected mailbox to another one (COPY, and
    /// MOVE, which then also reports [`Event::Expunged`] for the source);
    /// answer with [`ImapSession::copy_done`].
    CopyMessages {
        /// Selected (source) mailbox.
        mailbox: String,
        /// Source UIDs, ascending.
        uids: Vec<u32>,
        /// Destination mailbox.
        destination: String,
    },
    /// Store a message (APPEND); answer with [`ImapSession::append_done`]
    /// (`CopyOutcome::Copied` with the one new UID). When the mailbox is the
    /// selected one, also report it with [`ImapSession::mailbox_new_messages`].
    AppendMessage {
        /// Destination mailbox.
        mailbox: String,
        /// Flags to set.
        flags: Flags,
        /// INTERNALDATE the client asked for (seconds since the epoch), if any.
        internal_date: Option<i64>,
        /// The message, as sent.
        message: Vec<u8>,
    },
    /// The selected mailbox was left by CLOSE or UNSELECT (after any
    /// [`Event::Expunged`] of CLOSE): release what the caller holds for it
    /// (a lock, a cached view). SELECT/EXAMINE of another mailbox report
    /// [`Event::OpenMailbox`] instead, and LOGOUT [`Event::Close`].
    MailboxClosed {
        /// The mailbox that was selected.
        mailbox: String,
    },
    /// IDLE began: report mailbox changes as they happen (`mailbox_*` methods).
    IdleStarted,
    /// IDLE ended.
    IdleEnded,
    /// The session is over (LOGOUT, too many failures or errors): flush output and close.
    Close,
}

struct SelectedMailbox {
    name: String,
    read_only: bool,
    view: MailboxView,
    /// Messages reported by the caller, announced (EXISTS) at the next opportunity.
    new_messages: Vec<MessageMeta>,
    /// UIDs expunged by someone else, announced when EXPUNGE responses are allowed.
    expunged: Vec<u32>,
    /// UIDs whose flags changed elsewhere, announced with FETCH.
    flag_updates: Vec<u32>,
}

impl SelectedMailbox {
    fn index_of(&self, uid: u32) -> Option<usize> {
        self.view.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    fn max_uid(&self) -> u32 {
        self.view.messages.last().map_or(0, |m| m.uid)
    }

    /// UIDs named by a sequence set, or `None` for message numbers out of range.
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<u32>> {
        let msgs = &self.view.messages;
        if uid {
            let max = self.max_uid();
            return Some(
                msgs.iter()
                    .filter(|m| set.contains(m.uid, max))
                    .map(|m| m.uid)
                    .collect(),
            );
        }
        let n = msgs.len() as u32;
        if set.max_explicit() > n || (set.has_star() && n == 0) {
            return None;
        }
        Some(
            msgs.iter()
                .enumerate()
                .filter(|(i, _)| set.contains(*i as u32 + 1, n))
                .map(|(_, m)| m.uid)
                .collect(),
        )
    }
}

enum State {
    NotAuthenticated,
    Authenticated,
    Selected(SelectedMailbox),
}

struct FetchJob {
    tag: Vec<u8>,
    uid: bool,
    items: Vec<FetchAttr<'static>>,
    uids: Vec<u32>,
    pos: usize,
    missing: bool,
}

struct SearchJob {
    tag: Vec<u8>,
    uid: bool,
    key: SearchKey<'static>,
    uids: Vec<u32>,
    pos: usize,
    hits: Vec<u32>,
}

enum Pending {
    None,
    /// A challenge was sent; the next line is the client's response.
    AuthResponse {
        tag: Vec<u8>,
        exchange: Exchange,
    },
    /// Waiting for [`ImapSession::auth_verified`].
    AuthVerify {
        tag: Vec<u8>,
        exchange: Exchange,
    },
    /// LOGIN waiting for [`ImapSession::auth_verified`].
    LoginVerify {
        tag: Vec<u8>,
        user: String,
    },
    Open {
        tag: Vec<u8>,
        name: String,
        purpose: OpenPurpose,
        items: Vec<StatusItem>,
    },
    List {
        tag: Vec<u8>,
        pattern: Vec<u8>,
        lsub: bool,
    },
    Fetch(FetchJob),
    Search(SearchJob),
    Copy {
        tag: Vec<u8>,
        uid: bool,
        uids: Vec<u32>,
        move_: bool,
    },
    Append {
        tag: Vec<u8>,
    },
    MailboxOp {
        tag: Vec<u8>,
    },
    Idle {
        tag: Vec<u8>,
    },
}

impl Pending {
    /// Waiting for the caller (not for client input).
    fn awaits_caller(&self) -> bool {
        !matches!(
            self,
            Pending::None | Pending::AuthResponse { .. } | Pending::Idle { .. }
        )
    }
}

struct Core {
    config: Config,
    out: Vec<u8>,
    events: VecDeque<Event>,
    state: State,
    pending: Pending,
    secure: bool,
    tls: Option<TlsInfo>,
    awaiting_tls: bool,
    discarded: usize,
    failures: FailureTracker,
    exchanges: u64,
    bad_commands: u32,
    closed: bool,
}

/// A sans-IO IMAP4rev1 server session (see the crate docs for the loop).
pub struct ImapSession {
    reader: CommandReader,
    core: Core,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("secure", &self.core.secure)
            .field(
                "authenticated",
                &!matches!(self.core.state, State::NotAuthenticated),
            )
            .field("closed", &self.core.closed)
            .finish_non_exhaustive()
    }
}

const PRIVACY_REQUIRED: &str =
    "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";
const AUTH_FAILED: &str = "NO [AUTHENTICATIONFAILED] Authentication failed.";
const MAX_LIST_PATTERN: usize = 1024;
/// The mechanism the `LOGIN` command is reported (and verified) as: a
/// plaintext password login, which Dovecot logs as `method=PLAIN`. It keeps
/// `AUTHENTICATE LOGIN` (mechanism LOGIN) apart in events and logs.
const LOGIN_COMMAND_MECHANISM: Mechanism = Mechanism::Plain;

fn mailbox_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw).into_owned();
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".into()
    } else {
        name
    }
}

/// `*` matches anything, `%` anything but the delimiter (RFC 3501 §6.3.8).
/// Dynamic programming: O(pattern × name), no backtracking blow-up.
fn list_match(pattern: &[u8], name: &[u8]) -> bool {
    let n = name.len();
    let mut dp = vec![false; n + 1];
    dp[0] = true;
    let mut next = vec![false; n + 1];
    for &p in pattern {
        match p {
            b'*' | b'%' => {
                let mut reach = false;
                for j in 0..=n {
                    if j > 0 && p == b'%' && name[j - 1] == DELIMITER as u8 {
                        reach = false;
                    }
                    reach |= dp[j];
                    next[j] = reach;
                }
            }
            _ => {
                next[0] = false;
                for j in 0..n {
                    next[j + 1] = dp[j] && name[j] == p;
                }
            }
        }
        std::mem::swap(&mut dp, &mut next);
    }
    dp[n]
}

fn list_matches(pattern: &[u8], name: &str) -> bool {
    list_match(pattern, name.as_bytes())
        || (name == "INBOX" && list_match(&pattern.to_ascii_uppercase(), name.as_bytes()))
}

impl ImapSession {
    /// A new session; the greeting is already in [`Session::output`].
    pub fn new(config: Config) -> Self {
        let secure = config.implicit_tls;
        let mut core = Core {
            failures: FailureTracker::new(config.failure_policy),
            config,
            out: Vec::with_capacity(1024),
            events: VecDeque::new(),
            state: State::NotAuthenticated,
            pending: Pending::None,
            secure,
            tls: None,
            awaiting_tls: false,
            discarded: 0,
            exchanges: 0,
            bad_commands: 0,
            closed: false,
        };
        core.greet();
        ImapSession {
            reader: CommandReader::new(core.config.limits),
            core,
        }
    }
}

impl ImapSession {
    /// Whether the channel is encrypted (implicit TLS or after STARTTLS).
    pub fn is_secure(&self) -> bool {
        self.core.secure
    }

    /// The TLS facts given to [`Session::tls_established`], if any.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.core.tls.as_ref()
    }

    /// The logged-in user's mailbox selected now, if any.
    pub fn selected_mailbox(&self) -> Option<&str> {
        match &self.core.state {
            State::Selected(s) => Some(&s.name),
            _ => None,
        }
    }

    /// Whether a user is logged in.
    pub fn is_authenticated(&self) -> bool {
        !matches!(self.core.state, State::NotAuthenticated)
    }

    /// The capability list as advertised now.
    pub fn capabilities(&self) -> String {
        self.core.capabilities()
    }

    /// Answer [`Event::AuthVerify`].
    pub fn auth_verified(&mut self, outcome: VerifyOutcome) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::AuthVerify { tag, mut exchange } => {
                let step = exchange.verified(outcome);
                self.core.auth_step(tag, exchange, step);
                Ok(())
            }
            Pending::LoginVerify { tag, user } => {
                self.core.login_outcome(tag, user, outcome);
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("auth_verified"))
            }
        }
    }

    /// Answer [`Event::OpenMailbox`]: the mailbox, or `None` when it does not exist.
    pub fn mailbox_opened(&mut self, view: Option<MailboxView>) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::Open {
                tag,
                name,
                purpose,
                items,
            } => {
                self.core.opened(tag, name, purpose, items, view);
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("mailbox_opened"))
            }
        }
    }

    /// Answer [`Event::OpenMailbox`] with a refusal because another session
    /// holds the mailbox (a POP3 session has the maildrop):
    /// `NO [INUSE]` (RFC 5530). Nothing is selected afterwards.
    pub fn mailbox_in_use(&mut self) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::Open { tag, .. } => {
                self.core.tagged(
                    &tag,
                    "NO [INUSE] Mailbox is in use by another session; try again later.",
                );
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("mailbox_in_use"))
            }
        }
    }

    /// Answer [`Event::ListMailboxes`] with every mailbox of the user
    /// (`INBOX` first is customary); the session applies the client's pattern.
    pub fn mailbox_list(&mut self, names: Vec<String>) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::List { tag, pattern, lsub } => {
                let verb = if lsub { "LSUB" } else { "LIST" };
                for name in &names {
                    if list_matches(&pattern, name) {
                        // CHILDREN (RFC 3348): say whether the hierarchy goes deeper.
                        let prefix = format!("{name}{DELIMITER}");
                        let children = names.iter().any(|n| n.starts_with(&prefix));
                        self.core.out.extend_from_slice(b"* ");
                        self.core.out.extend_from_slice(verb.as_bytes());
                        self.core.out.extend_from_slice(if children {
                            b" (\\HasChildren) \"/\" "
                        } else {
                            b" (\\HasNoChildren) \"/\" "
                        });
                        astring(&mut self.core.out, name.as_bytes());
                        self.core.out.extend_from_slice(b"\r\n");
                    }
                }
                self.core.finish(&tag, &format!("OK {verb} completed."), true);
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("mailbox_list"))
            }
        }
    }

    /// Answer [`Event::FetchMessage`] with the message's bytes, or `None` if it vanished.
    pub fn message_content(&mut self, content: Option<Vec<u8>>) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::Fetch(mut job) => {
                self.core.fetch_one(&mut job, content.as_deref());
                job.pos += 1;
                self.core.run_fetch(job);
                Ok(())
            }
            Pending::Search(mut job) => {
                self.core.search_one(&mut job, content.as_deref());
                job.pos += 1;
                self.core.run_search(job);
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("message_content"))
            }
        }
    }

    /// Answer [`Event::MailboxOp`]: `Err(text)` is sent as `NO [CANNOT] text`.
    pub fn mailbox_op_done(&mut self, result: Result<(), String>) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::MailboxOp { tag } => {
                match result {
                    Ok(()) => self.core.finish(&tag, "OK Completed.", true),
                    Err(text) => {
                        let text: String = text.chars().filter(|c| !c.is_control()).collect();
                        self.core.tagged(&tag, &format!("NO [CANNOT] {text}"));
                    }
                }
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("mailbox_op_done"))
            }
        }
    }

    /// Answer [`Event::CopyMessages`].
    pub fn copy_done(&mut self, outcome: CopyOutcome) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::Copy {
                tag,
                uid,
                uids,
                move_,
            } => {
                self.core.copied(&tag, uid, &uids, move_, outcome);
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("copy_done"))
            }
        }
    }

    /// Answer [`Event::AppendMessage`]: `Copied { uid_validity, uids: vec![uid] }`
    /// when stored (APPENDUID is reported), `NoSuchMailbox` (`NO [TRYCREATE]`)
    /// or `Failed`.
    pub fn append_done(&mut self, outcome: CopyOutcome) -> Result<(), ImapError> {
        match std::mem::replace(&mut self.core.pending, Pending::None) {
            Pending::Append { tag } => {
                match outcome {
                    CopyOutcome::Copied { uid_validity, uids } if uids.len() == 1 && uid_validity != 0 => {
                        let text = format!("OK [APPENDUID {uid_validity} {}] Append completed.", uids[0]);
                        self.core.finish(&tag, &text, true);
                    }
                    CopyOutcome::Copied { .. } => self.core.finish(&tag, "OK Append completed.", true),
                    CopyOutcome::NoSuchMailbox => {
                        self.core.tagged(&tag, "NO [TRYCREATE] Mailbox doesn't exist.")
                    }
                    CopyOutcome::Failed(text) => {
                        let text: String = text.chars().filter(|c| !c.is_control()).collect();
                        self.core.tagged(&tag, &format!("NO [CANNOT] {text}"));
                    }
                }
                Ok(())
            }
            other => {
                self.core.pending = other;
                Err(ImapError::NotExpected("append_done"))
            }
        }
    }

    /// New messages arrived in the selected mailbox (UIDs above every known one).
    /// Announced with `EXISTS` after the current command, or at once while idling.
    pub fn mailbox_new_messages(&mut self, messages: Vec<MessageMeta>) {
        if let State::Selected(sel) = &mut self.core.state {
            let mut last = sel.new_messages.last().map_or(sel.max_uid(), |m| m.uid);
            for m in messages {
                if m.uid > last {
                    last = m.uid;
                    sel.new_messages.push(m);
                }
            }
            self.core.idle_flush();
        }
    }

    /// A message of the selected mailbox was removed by someone else.
    pub fn mailbox_expunged(&mut self, uid: u32) {
        if let State::Selected(sel) = &mut self.core.state {
            if sel.index_of(uid).is_some() && !sel.expunged.contains(&uid) {
                sel.expunged.push(uid);
            }
            self.core.idle_flush();
        }
    }

    /// Flags of a message of the selected mailbox changed elsewhere.
    pub fn mailbox_flags_changed(&mut self, uid: u32, flags: Flags) {
        if let State::Selected(sel) = &mut self.core.state {
            if let Some(i) = sel.index_of(uid) {
                let m = &mut sel.view.messages[i];
                let recent = if m.flags.contains(Flags::RECENT) {
                    Flags::RECENT
                } else {
                    Flags::empty()
                };
                let new = flags.storable().union(recent);
                if m.flags != new {
                    m.flags = new;
                    if !sel.flag_updates.contains(&uid) {
                        sel.flag_updates.push(uid);
                    }
                }
            }
            self.core.idle_flush();
        }
    }
}

impl Session for ImapSession {
    type Event = Event;

    fn receive(&mut self, data: &[u8]) {
        if self.core.awaiting_tls {
            self.core.discarded = self.core.discarded.saturating_add(data.len());
        } else if !self.core.closed {
            self.reader.push(data);
        }
    }

    fn next_event(&mut self) -> Option<Event> {
        if self.core.events.is_empty() {
            self.process();
        }
        self.core.events.pop_front()
    }

    fn output(&self) -> &[u8] {
        &self.core.out
    }

    fn consume_output(&mut self, n: usize) {
        let n = n.min(self.core.out.len());
        self.core.out.drain(..n);
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.core.out)
    }

    fn wants_input(&self) -> bool {
        !self.core.closed
            && !self.core.awaiting_tls
            && self.reader.buffered() <= self.core.config.limits.max_line.max(4096)
    }

    fn tls_switch(&self) -> TlsSwitch {
        if self.core.awaiting_tls {
            TlsSwitch::AfterOutput
        } else {
            TlsSwitch::None
        }
    }

    fn tls_established(&mut self, info: &TlsInfo) -> usize {
        let discarded = self.reader.clear() + std::mem::take(&mut self.core.discarded);
        let core = &mut self.core;
        core.awaiting_tls = false;
        core.secure = true;
        core.tls = Some(info.clone());
        core.state = State::NotAuthenticated;
        core.pending = Pending::None;
        core.bad_commands = 0;
        discarded
    }

    fn is_closed(&self) -> bool {
        self.core.closed
    }

    /// `* BYE Server shutting down.` or, after the idle timeout (RFC 3501
    /// §5.4 autologout), `* BYE Disconnected for inactivity.` (Dovecot's
    /// texts), then closed.
    fn farewell(&mut self, reason: Farewell) {
        let core = &mut self.core;
        if core.closed || core.awaiting_tls {
            return;
        }
        core.untagged(match reason {
            Farewell::Shutdown => "BYE Server shutting down.",
            Farewell::IdleTimeout => "BYE Disconnected for inactivity.",
        });
        core.close();
    }
}

impl ImapSession {
    /// Parse and execute buffered input until an event is queued, a decision
    /// is awaited, or input runs out.
    fn process(&mut self) {
        let core = &mut self.core;
        while core.events.is_empty() && !core.closed && !core.awaiting_tls && !core.pending.awaits_caller() {
            match &core.pending {
                Pending::AuthResponse { .. } | Pending::Idle { .. } => {
                    let Some(line) = self.reader.next_raw_line() else {
                        return;
                    };
                    let line = match line {
                        Line::Complete(l) => Some(l),
                        Line::TooLong => None,
                    };
                    core.continuation_line(line);
                }
                _ => {
                    self.reader
                        .set_append_allowed(!matches!(core.state, State::NotAuthenticated));
                    let Some(frame) = self.reader.next_frame() else {
                        return;
                    };
                    match frame {
                        Frame::Command(Ok(cmd)) => core.execute(cmd),
                        Frame::Command(Err(e)) => core.parse_error(e),
                        Frame::Continue => core.out.extend_from_slice(b"+ Ready for literal data\r\n"),
                        Frame::LineTooLong => core.bad(None, "[TOOBIG] Line too long."),
                        Frame::TooBig { tag } => {
                            let tag = if !tag.is_empty()
                                && tag.iter().all(|&b| b > 0x20 && b < 0x7f && b != b'+')
                            {
                                tag.to_vec()
                            } else {
                                b"*".to_vec()
                            };
                            core.tagged(&tag, "NO [TOOBIG] Command or literal too large.");
                        }
                    }
                }
            }
        }
    }
}

impl Core {
    fn greet(&mut self) {
        let caps = self.capabilities();
        self.out.extend_from_slice(b"* OK [CAPABILITY ");
        self.out.extend_from_slice(caps.as_bytes());
        self.out.extend_from_slice(b"] ready\r\n");
    }

    fn offered(&self) -> mail_sasl::MechanismSet {
        self.config.mechanisms.offered(self.config.backend, self.secure)
    }

    /// LOGIN is refused (and LOGINDISABLED advertised).
    fn login_disabled(&self) -> bool {
        let m = &self.config.mechanisms;
        (!self.secure && m.tls_auth_only) || m.noplaintext || !self.config.backend.plaintext
    }

    fn capabilities(&self) -> String {
        let mut caps = String::from("IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
        if matches!(self.state, State::NotAuthenticated) {
            if self.config.starttls && !self.secure {
                caps.push_str(" STARTTLS");
            }
            if self.login_disabled() {
                caps.push_str(" LOGINDISABLED");
            }
            for m in self.offered().iter() {
                caps.push_str(" AUTH=");
                caps.push_str(m.name());
            }
        } else {
            caps.push_str(" NAMESPACE UIDPLUS UNSELECT CHILDREN MOVE");
        }
        caps
    }

    fn tagged(&mut self, tag: &[u8], text: &str) {
        self.out.extend_from_slice(tag);
        self.out.push(b' ');
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn untagged(&mut self, text: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Tagged OK after announcing pending mailbox changes.
    fn finish(&mut self, tag: &[u8], text: &str, allow_expunge: bool) {
        self.flush_updates(allow_expunge);
        self.bad_commands = 0;
        self.tagged(tag, text);
    }

    fn bad(&mut self, tag: Option<&[u8]>, text: &str) {
        self.tagged(tag.unwrap_or(b"*"), &format!("BAD {text}"));
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            self.untagged("BYE Too many invalid IMAP commands.");
            self.close();
        }
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(Event::Close);
        }
    }

    fn parse_error(&mut self, e: ParseError<'_>) {
        let text = format!("Error in IMAP command: {}", e.reason);
        self.bad(e.tag, &text);
    }

    fn next_nonce(&mut self) -> [u8; 16] {
        self.exchanges += 1;
        let mut nonce = self.config.nonce_seed;
        for (n, c) in nonce.iter_mut().zip(self.exchanges.to_le_bytes()) {
            *n ^= c;
        }
        nonce
    }

    fn execute(&mut self, cmd: Command<'_>) {
        let tag = cmd.tag;
        let authed = !matches!(self.state, State::NotAuthenticated);
        let selected = matches!(self.state, State::Selected(_));
        match cmd.body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                self.finish(tag, "OK Capability completed.", false);
            }
            CommandBody::Noop => self.finish(tag, "OK NOOP completed.", true),
            CommandBody::Check if selected => self.finish(tag, "OK Check completed.", true),
            CommandBody::Logout => {
                self.untagged("BYE Logging out");
                self.tagged(tag, "OK Logout completed.");
                self.close();
            }
            CommandBody::Id => {
                self.untagged("ID (\"name\" \"mailcrates\")");
                self.finish(tag, "OK ID completed.", false);
            }
            CommandBody::StartTls => {
                if self.secure {
                    self.bad(Some(tag), "TLS is already active.");
                } else if !self.config.starttls {
                    self.bad(Some(tag), "TLS support isn't enabled.");
                } else if authed {
                    self.bad(Some(tag), "STARTTLS is not valid after authentication.");
                } else {
                    self.tagged(tag, "OK Begin TLS negotiation now.");
                    self.awaiting_tls = true;
                }
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if authed => {
                self.bad(Some(tag), "Already authenticated.")
            }
            CommandBody::Login { username, password } => self.login(tag, &username, &password),
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(tag, mechanism, initial_response),
            _ if !authed => self.bad(Some(tag), "Command not valid in this state (log in first)."),
            CommandBody::Enable(_) => {
                // No extension of this server needs enabling.
                self.untagged("ENABLED");
                self.finish(tag, "OK Enabled.", false);
            }
            CommandBody::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.finish(tag, "OK Namespace completed.", false);
            }
            CommandBody::Select { mailbox, read_only } => {
                // Selecting deselects the current mailbox, even on failure.
                self.state = State::Authenticated;
                let name = mailbox_name(&mailbox);
                let purpose = if read_only {
                    OpenPurpose::Examine
                } else {
                    OpenPurpose::Select
                };
                self.events.push_back(Event::OpenMailbox {
                    name: name.clone(),
                    purpose,
                });
                self.pending = Pending::Open {
                    tag: tag.to_vec(),
                    name,
                    purpose,
                    items: Vec::new(),
                };
            }
            CommandBody::Status { mailbox, items } => {
                let name = mailbox_name(&mailbox);
                self.events.push_back(Event::OpenMailbox {
                    name: name.clone(),
                    purpose: OpenPurpose::Status,
                });
                self.pending = Pending::Open {
                    tag: tag.to_vec(),
                    name,
                    purpose: OpenPurpose::Status,
                    items,
                };
            }
            CommandBody::List {
                reference,
                pattern,
                lsub,
            } => {
                if pattern.is_empty() && !lsub {
                    self.untagged("LIST (\\Noselect) \"/\" \"\"");
                    self.finish(tag, "OK List completed.", true);
                } else if reference.len() + pattern.len() > MAX_LIST_PATTERN {
                    self.bad(Some(tag), "List pattern too long.");
                } else {
                    let mut full = reference.into_owned();
                    full.extend_from_slice(&pattern);
                    self.events.push_back(Event::ListMailboxes);
                    self.pending = Pending::List {
                        tag: tag.to_vec(),
                        pattern: full,
                        lsub,
                    };
                }
            }
            CommandBody::Append {
                mailbox,
                flags,
                internal_date,
                message,
            } => {
                self.events.push_back(Event::AppendMessage {
                    mailbox: mailbox_name(&mailbox),
                    flags,
                    internal_date,
                    message: message.to_vec(),
                });
                self.pending = Pending::Append { tag: tag.to_vec() };
            }
            CommandBody::Create(name) => self.mailbox_op(tag, MailboxOp::Create(mailbox_name(&name))),
            CommandBody::Delete(name) => {
                let name = mailbox_name(&name);
                if name == "INBOX" {
                    self.tagged(tag, "NO [CANNOT] INBOX can't be deleted.");
                } else {
                    self.mailbox_op(tag, MailboxOp::Delete(name));
                }
            }
            CommandBody::Rename(from, to) => {
                self.mailbox_op(tag, MailboxOp::Rename(mailbox_name(&from), mailbox_name(&to)))
            }
            CommandBody::Subscribe(_) | CommandBody::Unsubscribe(_) => {
                // Every mailbox is subscribed: LSUB lists what LIST lists.
                self.finish(tag, "OK Completed.", true)
            }
            CommandBody::Idle => {
                self.out.extend_from_slice(b"+ idling\r\n");
                self.pending = Pending::Idle { tag: tag.to_vec() };
                self.events.push_back(Event::IdleStarted);
                self.flush_updates(true);
            }
            _ if !selected => self.bad(Some(tag), "No mailbox selected."),
            CommandBody::Check => self.finish(tag, "OK Check completed.", true),
            CommandBody::Close | CommandBody::Unselect => {
                let close = matches!(cmd.body, CommandBody::Close);
                if let State::Selected(sel) = &mut self.state {
                    let mailbox = sel.name.clone();
                    if close && !sel.read_only {
                        let uids: Vec<u32> = sel
                            .view
                            .messages
                            .iter()
                            .filter(|m| m.flags.contains(Flags::DELETED))
                            .map(|m| m.uid)
                            .collect();
                        if !uids.is_empty() {
                            self.events.push_back(Event::Expunged {
                                mailbox: sel.name.clone(),
                                uids,
                            });
                        }
                    }
                    self.events.push_back(Event::MailboxClosed { mailbox });
                }
                self.state = State::Authenticated;
                self.tagged(
                    tag,
                    if close {
                        "OK Close completed."
                    } else {
                        "OK Unselect completed."
                    },
                );
            }
            CommandBody::Expunge { uids } => self.expunge(tag, uids.as_ref()),
            CommandBody::Copy {
                uid,
                set,
                mailbox,
                move_,
            } => {
                let State::Selected(sel) = &self.state else { return };
                if move_ && sel.read_only {
                    return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only.");
                }
                let Some(uids) = sel.resolve(&set, uid) else {
                    return self.bad(Some(tag), "Invalid messageset.");
                };
                if uids.is_empty() {
                    let text = if move_ {
                        "OK No messages moved."
                    } else {
                        "OK No messages copied."
                    };
                    return self.finish(tag, text, uid);
                }
                self.events.push_back(Event::CopyMessages {
                    mailbox: sel.name.clone(),
                    uids: uids.clone(),
                    destination: mailbox_name(&mailbox),
                });
                self.pending = Pending::Copy {
                    tag: tag.to_vec(),
                    uid,
                    uids,
                    move_,
                };
            }
            CommandBody::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => self.store(tag, uid, &set, mode, silent, flags),
            CommandBody::Fetch { uid, set, items } => {
                let State::Selected(sel) = &self.state else { return };
                let Some(uids) = sel.resolve(&set, uid) else {
                    return self.bad(Some(tag), "Invalid messageset.");
                };
                let job = FetchJob {
                    tag: tag.to_vec(),
                    uid,
                    items: items.into_iter().map(FetchAttr::into_owned).collect(),
                    uids,
                    pos: 0,
                    missing: false,
                };
                self.run_fetch(job);
            }
            CommandBody::Search { uid, key } => {
                let State::Selected(sel) = &self.state else { return };
                let job = SearchJob {
                    tag: tag.to_vec(),
                    uid,
                    key: key.into_owned(),
                    uids: sel.view.messages.iter().map(|m| m.uid).collect(),
                    pos: 0,
                    hits: Vec::new(),
                };
                self.run_search(job);
            }
        }
    }

    fn mailbox_op(&mut self, tag: &[u8], op: MailboxOp) {
        self.events.push_back(Event::MailboxOp(op));
        self.pending = Pending::MailboxOp { tag: tag.to_vec() };
    }

    // ---- authentication ----

    fn login(&mut self, tag: &[u8], username: &[u8], password: &[u8]) {
        if self.login_disabled() {
            let text = if !self.secure && self.config.mechanisms.tls_auth_only {
                PRIVACY_REQUIRED
            } else {
                "NO [CANNOT] LOGIN is disabled."
            };
            return self.tagged(tag, text);
        }
        let (Ok(user), Ok(pass)) = (std::str::from_utf8(username), std::str::from_utf8(password)) else {
            return self.auth_failed(
                tag,
                LOGIN_COMMAND_MECHANISM,
                Failure::Malformed("user name or password is not UTF-8"),
            );
        };
        if user.is_empty() || pass.is_empty() {
            return self.auth_failed(
                tag,
                LOGIN_COMMAND_MECHANISM,
                Failure::Malformed("empty user name or password"),
            );
        }
        self.events.push_back(Event::AuthVerify(VerifyRequest {
            mechanism: LOGIN_COMMAND_MECHANISM,
            authcid: user.to_owned(),
            authzid: None,
            proof: Proof::Password(Zeroizing::new(pass.to_owned())),
        }));
        self.pending = Pending::LoginVerify {
            tag: tag.to_vec(),
            user: user.to_owned(),
        };
    }

    fn login_outcome(&mut self, tag: Vec<u8>, user: String, outcome: VerifyOutcome) {
        match outcome {
            VerifyOutcome::Success { .. } => {
                self.authenticated(
                    &tag,
                    LOGIN_COMMAND_MECHANISM,
                    Identity {
                        authcid: user,
                        authzid: None,
                    },
                );
            }
            VerifyOutcome::Temporary => self.auth_failed(&tag, LOGIN_COMMAND_MECHANISM, Failure::Temporary),
            _ => self.auth_failed(&tag, LOGIN_COMMAND_MECHANISM, Failure::BadCredentials),
        }
    }

    fn authenticate(&mut self, tag: &[u8], mechanism: &[u8], initial_response: Option<&[u8]>) {
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.tagged(tag, "NO Unsupported authentication mechanism.");
        };
        if !self.offered().contains(mech) {
            let text = if mech.is_plaintext() && !self.secure && self.config.mechanisms.tls_auth_only {
                PRIVACY_REQUIRED
            } else {
                "NO Unsupported authentication mechanism."
            };
            return self.tagged(tag, text);
        }
        let ir = match initial_response.map(|ir| wire::decode_initial_response(ir, wire::MAX_RESPONSE_LINE)) {
            None => None,
            Some(Ok(ir)) => Some(ir),
            Some(Err(WireError::TooLong(_))) => {
                return self.bad(Some(tag), "[TOOBIG] Initial response too long.")
            }
            Some(Err(WireError::BadBase64)) => {
                return self.bad(Some(tag), "Invalid base64 data in initial response.")
            }
        };
        let nonce = self.next_nonce();
        let mut ctx = ExchangeContext::new("imap", &self.config.hostname, nonce);
        ctx.realm = &self.config.realm;
        let (exchange, step) = Exchange::start(mech, ir.as_deref(), &ctx);
        self.auth_step(tag.to_vec(), exchange, step);
    }

    fn auth_step(&mut self, tag: Vec<u8>, exchange: Exchange, step: Step) {
        let mech = exchange.mechanism();
        match step {
            Step::Challenge(challenge) => {
                self.out.extend_from_slice(b"+ ");
                wire::encode_challenge(&challenge, &mut self.out);
                self.out.extend_from_slice(b"\r\n");
                self.pending = Pending::AuthResponse { tag, exchange };
            }
            Step::Verify(request) => {
                self.events.push_back(Event::AuthVerify(request));
                self.pending = Pending::AuthVerify { tag, exchange };
            }
            Step::Success(identity) => self.authenticated(&tag, mech, identity),
            Step::Failure(failure) => self.auth_failed(&tag, mech, failure),
        }
    }

    fn authenticated(&mut self, tag: &[u8], mechanism: Mechanism, identity: Identity) {
        self.state = State::Authenticated;
        self.events
            .push_back(Event::AuthSucceeded { mechanism, identity });
        let caps = self.capabilities();
        self.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
        self.bad_commands = 0;
    }

    fn auth_failed(&mut self, tag: &[u8], mechanism: Mechanism, failure: Failure) {
        let text = match &failure {
            Failure::Temporary => "NO [UNAVAILABLE] Temporary authentication failure.".to_owned(),
            Failure::MechanismRefused => "NO Unsupported authentication mechanism.".to_owned(),
            Failure::Malformed(why) => format!("NO [AUTHENTICATIONFAILED] Authentication failed: {why}."),
            _ => AUTH_FAILED.to_owned(),
        };
        let counts = failure.counts_as_attempt() || matches!(failure, Failure::Malformed(_));
        self.events.push_back(Event::AuthFailed { mechanism, failure });
        if counts {
            match self.failures.record_failure() {
                FailureAction::Delay(d) => {
                    self.events.push_back(Event::Delay(d));
                    self.tagged(tag, &text);
                }
                FailureAction::DelayThenClose(d) => {
                    self.events.push_back(Event::Delay(d));
                    self.tagged(tag, &text);
                    self.untagged("BYE Too many invalid authentication attempts.");
                    self.close();
                }
            }
        } else {
            self.tagged(tag, &text);
        }
    }

    /// A raw line while a SASL exchange or IDLE waits for one (`None`: too long).
    fn continuation_line(&mut self, line: Option<&[u8]>) {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::AuthResponse { tag, mut exchange } => {
                let decoded = match line {
                    None => Err(WireError::TooLong(wire::MAX_RESPONSE_LINE)),
                    Some(l) => wire::decode_response(l, wire::MAX_RESPONSE_LINE),
                };
                match decoded {
                    Ok(ClientResponse::Abort) => self.bad(Some(&tag), "Authentication aborted by client."),
                    Err(WireError::TooLong(_)) => self.bad(Some(&tag), "[TOOBIG] SASL response too long."),
                    Err(WireError::BadBase64) => {
                        self.bad(Some(&tag), "Invalid base64 data in continued response.")
                    }
                    Ok(ClientResponse::Data(data)) => {
                        let step = exchange.step(&data);
                        self.auth_step(tag, exchange, step);
                    }
                }
            }
            Pending::Idle { tag } => {
                self.events.push_back(Event::IdleEnded);
                if line.is_some_and(|l| l.eq_ignore_ascii_case(b"DONE")) {
                    self.finish(&tag, "OK Idle completed.", true);
                } else {
                    self.bad(Some(&tag), "Expected DONE.");
                }
            }
            other => self.pending = other,
        }
    }

    // ---- mailboxes ----

    fn opened(
        &mut self,
        tag: Vec<u8>,
        name: String,
        purpose: OpenPurpose,
        items: Vec<StatusItem>,
        view: Option<MailboxView>,
    ) {
        let Some(mut view) = view else {
            return self.tagged(
                &tag,
                &format!("NO [NONEXISTENT] Mailbox doesn't exist: {}", name.escape_debug()),
            );
        };
        view.normalize();
        let count = |f: Flags| view.messages.iter().filter(|m| m.flags.contains(f)).count();
        let exists = view.messages.len();
        let recent = count(Flags::RECENT);
        let unseen = exists - count(Flags::SEEN);
        if purpose == OpenPurpose::Status {
            let mut line = b"* STATUS ".to_vec();
            astring(&mut line, name.as_bytes());
            line.extend_from_slice(b" (");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    line.push(b' ');
                }
                let (label, value) = match item {
                    StatusItem::Messages => ("MESSAGES ", exists as u64),
                    StatusItem::Recent => ("RECENT ", recent as u64),
                    StatusItem::UidNext => ("UIDNEXT ", u64::from(view.uid_next)),
                    StatusItem::UidValidity => ("UIDVALIDITY ", u64::from(view.uid_validity)),
                    StatusItem::Unseen => ("UNSEEN ", unseen as u64),
                };
                line.extend_from_slice(label.as_bytes());
                push_decimal(&mut line, value);
            }
            line.extend_from_slice(b")\r\n");
            self.out.extend_from_slice(&line);
            return self.finish(&tag, "OK Status completed.", true);
        }
        let read_only = purpose == OpenPurpose::Examine;
        self.untagged("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        if read_only {
            self.untagged("OK [PERMANENTFLAGS ()] Read-only mailbox.");
        } else {
            self.untagged(
                "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Flags permitted.",
            );
        }
        self.untagged(&format!("{exists} EXISTS"));
        self.untagged(&format!("{recent} RECENT"));
        if let Some(first) = view.messages.iter().position(|m| !m.flags.contains(Flags::SEEN)) {
            self.untagged(&format!("OK [UNSEEN {}] First unseen.", first + 1));
        }
        self.untagged(&format!("OK [UIDVALIDITY {}] UIDs valid", view.uid_validity));
        self.untagged(&format!("OK [UIDNEXT {}] Predicted next UID", view.uid_next));
        self.state = State::Selected(SelectedMailbox {
            name,
            read_only,
            view,
            new_messages: Vec::new(),
            expunged: Vec::new(),
            flag_updates: Vec::new(),
        });
        let text = if read_only {
            "OK [READ-ONLY] Examine completed."
        } else {
            "OK [READ-WRITE] Select completed."
        };
        self.finish(&tag, text, true);
    }

    /// Announce changes the caller reported: EXISTS and flag FETCHes always,
    /// EXPUNGE only where RFC 3501 §7.4.1 allows.
    fn flush_updates(&mut self, allow_expunge: bool) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        let mut out = Vec::new();
        if allow_expunge && !sel.expunged.is_empty() {
            let mut gone = std::mem::take(&mut sel.expunged);
            gone.sort_unstable();
            for uid in gone.iter().rev() {
                if let Some(i) = sel.index_of(*uid) {
                    sel.view.messages.remove(i);
                    out.extend_from_slice(b"* ");
                    push_decimal(&mut out, i as u64 + 1);
                    out.extend_from_slice(b" EXPUNGE\r\n");
                }
            }
        }
        if !sel.new_messages.is_empty() {
            let mut new = std::mem::take(&mut sel.new_messages);
            if let Some(last) = new.last() {
                sel.view.uid_next = sel.view.uid_next.max(last.uid.saturating_add(1));
            }
            sel.view.messages.append(&mut new);
            out.extend_from_slice(b"* ");
            push_decimal(&mut out, sel.view.messages.len() as u64);
            out.extend_from_slice(b" EXISTS\r\n");
        }
        for uid in std::mem::take(&mut sel.flag_updates) {
            if let Some(i) = sel.index_of(uid) {
                let m = sel.view.messages[i];
                out.extend_from_slice(
                    format!("* {} FETCH (UID {} FLAGS {})\r\n", i + 1, m.uid, m.flags).as_bytes(),
                );
            }
        }
        self.out.extend_from_slice(&out);
    }

    fn idle_flush(&mut self) {
        if matches!(self.pending, Pending::Idle { .. }) {
            self.flush_updates(true);
        }
    }

    fn expunge(&mut self, tag: &[u8], only: Option<&SequenceSet>) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        if sel.read_only {
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only.");
        }
        let max = sel.max_uid();
        let mut gone = Vec::new();
        let mut out = Vec::new();
        for i in (0..sel.view.messages.len()).rev() {
            let m = sel.view.messages[i];
            if m.flags.contains(Flags::DELETED) && only.is_none_or(|s| s.contains(m.uid, max)) {
                sel.view.messages.remove(i);
                gone.push(m.uid);
                out.extend_from_slice(b"* ");
                push_decimal(&mut out, i as u64 + 1);
                out.extend_from_slice(b" EXPUNGE\r\n");
            }
        }
        if !gone.is_empty() {
            gone.reverse();
            sel.expunged.retain(|u| !gone.contains(u));
            sel.flag_updates.retain(|u| !gone.contains(u));
            self.events.push_back(Event::Expunged {
                mailbox: sel.name.clone(),
                uids: gone,
            });
        }
        self.out.extend_from_slice(&out);
        self.finish(tag, "OK Expunge completed.", true);
    }

    fn copied(&mut self, tag: &[u8], uid: bool, uids: &[u32], move_: bool, outcome: CopyOutcome) {
        let (validity, new) = match outcome {
            CopyOutcome::Copied { uid_validity, uids } => (uid_validity, uids),
            CopyOutcome::NoSuchMailbox => {
                return self.tagged(tag, "NO [TRYCREATE] Mailbox doesn't exist.");
            }
            CopyOutcome::Failed(text) => {
                let text: String = text.chars().filter(|c| !c.is_control()).collect();
                return self.tagged(tag, &format!("NO [CANNOT] {text}"));
            }
        };
        let uid_list = |list: &[u32]| list.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let code = if new.len() == uids.len() && validity != 0 {
            format!("[COPYUID {validity} {} {}] ", uid_list(uids), uid_list(&new))
        } else {
            String::new()
        };
        if !move_ {
            return self.finish(tag, &format!("OK {code}Copy completed."), uid);
        }
        // MOVE: COPYUID goes in an untagged OK, then the source messages are expunged.
        self.untagged(&format!("OK {code}Moved."));
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        let mut out = Vec::new();
        for i in (0..sel.view.messages.len()).rev() {
            if uids.contains(&sel.view.messages[i].uid) {
                sel.view.messages.remove(i);
                out.extend_from_slice(b"* ");
                push_decimal(&mut out, i as u64 + 1);
                out.extend_from_slice(b" EXPUNGE\r\n");
            }
        }
        sel.expunged.retain(|u| !uids.contains(u));
        sel.flag_updates.retain(|u| !uids.contains(u));
        self.events.push_back(Event::Expunged {
            mailbox: sel.name.clone(),
            uids: uids.to_vec(),
        });
        self.out.extend_from_slice(&out);
        self.finish(tag, "OK Move completed.", true);
    }

    fn store(
        &mut self,
        tag: &[u8],
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Flags,
    ) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        if sel.read_only {
            return self.tagged(tag, "NO [READ-ONLY] Mailbox is read-only.");
        }
        let Some(uids) = sel.resolve(set, uid) else {
            return self.bad(Some(tag), "Invalid messageset.");
        };
        let mut out = Vec::new();
        for u in uids {
            let Some(i) = sel.index_of(u) else { continue };
            let m = &mut sel.view.messages[i];
            let old = m.flags;
            let recent = old.contains(Flags::RECENT);
            let base = match mode {
                StoreMode::Replace => flags,
                StoreMode::Add => old.storable().union(flags),
                StoreMode::Remove => old.storable().without(flags),
            };
            let new = if recent { base.union(Flags::RECENT) } else { base };
            if new != old {
                m.flags = new;
                self.events.push_back(Event::FlagsChanged {
                    mailbox: sel.name.clone(),
                    uid: u,
                    flags: new.storable(),
                });
            }
            if !silent {
                out.extend_from_slice(b"* ");
                push_decimal(&mut out, i as u64 + 1);
                out.extend_from_slice(b" FETCH (");
                if uid {
                    out.extend_from_slice(b"UID ");
                    push_decimal(&mut out, u64::from(u));
                    out.push(b' ');
                }
                out.extend_from_slice(format!("FLAGS {new})\r\n").as_bytes());
            }
        }
        self.out.extend_from_slice(&out);
        self.finish(tag, "OK Store completed.", uid);
    }

    // ---- FETCH ----

    fn run_fetch(&mut self, mut job: FetchJob) {
        let needs_content = job.items.iter().any(FetchAttr::needs_content);
        while job.pos < job.uids.len() {
            if needs_content {
                self.events.push_back(Event::FetchMessage {
                    uid: job.uids[job.pos],
                });
                self.pending = Pending::Fetch(job);
                return;
            }
            self.fetch_one(&mut job, None);
            job.pos += 1;
        }
        if job.missing {
            self.finish(&job.tag, "NO Some messages could not be FETCHed.", job.uid);
        } else {
            self.finish(&job.tag, "OK Fetch completed.", job.uid);
        }
    }

    fn fetch_one(&mut self, job: &mut FetchJob, content: Option<&[u8]>) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        let uid = job.uids[job.pos];
        let Some(i) = sel.index_of(uid) else { return };
        let needs_content = job.items.iter().any(FetchAttr::needs_content);
        let parsed = match content {
            Some(c) => Some(Parsed::new(c)),
            None if needs_content => {
                job.missing = true;
                return;
            }
            None => None,
        };
        // A body fetched without .PEEK sets \Seen (RFC 3501 §6.4.5); the new
        // flags are then reported even if FLAGS was not asked for.
        let sets_seen = job.items.iter().any(|item| match item {
            FetchAttr::Rfc822 | FetchAttr::Rfc822Text => true,
            FetchAttr::Section { peek, .. } => !peek,
            _ => false,
        });
        let meta = sel.view.messages[i];
        let mut flags = meta.flags;
        let mut report_flags = job.items.contains(&FetchAttr::Flags);
        if sets_seen && !sel.read_only && !flags.contains(Flags::SEEN) {
            flags = flags.union(Flags::SEEN);
            sel.view.messages[i].flags = flags;
            report_flags = true;
            self.events.push_back(Event::FlagsChanged {
                mailbox: sel.name.clone(),
                uid,
                flags: flags.storable(),
            });
        }
        let out = &mut self.out;
        out.extend_from_slice(b"* ");
        push_decimal(out, i as u64 + 1);
        out.extend_from_slice(b" FETCH (");
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b' ');
            }
            first = false;
        };
        if job.uid || job.items.contains(&FetchAttr::Uid) {
            sep(out);
            out.extend_from_slice(b"UID ");
            push_decimal(out, u64::from(uid));
        }
        for item in &job.items {
            match item {
                FetchAttr::Uid => {}
                FetchAttr::Flags => {
                    sep(out);
                    out.extend_from_slice(format!("FLAGS {flags}").as_bytes());
                }
                FetchAttr::InternalDate => {
                    sep(out);
                    out.extend_from_slice(b"INTERNALDATE ");
                    out.extend_from_slice(format_internal_date(meta.internal_date).as_bytes());
                }
                FetchAttr::Rfc822Size => {
                    sep(out);
                    out.extend_from_slice(b"RFC822.SIZE ");
                    push_decimal(out, meta.size);
                }
                FetchAttr::Envelope => {
                    let Some(p) = &parsed else { continue };
                    sep(out);
                    out.extend_from_slice(b"ENVELOPE ");
                    mime::envelope(out, p.message(), p.header());
                }
                FetchAttr::BodyStructure | FetchAttr::Body => {
                    let Some(p) = &parsed else { continue };
                    sep(out);
                    let ext = *item == FetchAttr::BodyStructure;
                    out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                    mime::body_structure(out, p, ext);
                }
                FetchAttr::Rfc822 | FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                    let Some(p) = &parsed else { continue };
                    sep(out);
                    let (name, data): (&[u8], &[u8]) = match item {
                        FetchAttr::Rfc822 => (b"RFC822 ", content.unwrap_or_default()),
                        FetchAttr::Rfc822Header => (b"RFC822.HEADER ", p.header()),
                        _ => (b"RFC822.TEXT ", p.text()),
                    };
                    out.extend_from_slice(name);
                    literal(out, data);
                }
                FetchAttr::Section { section, partial, .. } => {
                    let Some(p) = &parsed else { continue };
                    sep(out);
                    write_section_name(out, section);
                    if let Some((offset, _)) = partial {
                        out.push(b'<');
                        push_decimal(out, u64::from(*offset));
                        out.push(b'>');
                    }
                    out.push(b' ');
                    match p.section(section) {
                        None => out.extend_from_slice(b"NIL"),
                        Some(data) => {
                            let slice = match partial {
                                Some((offset, count)) => {
                                    let start = (*offset as usize).min(data.len());
                                    let end = start.saturating_add(*count as usize).min(data.len());
                                    &data[start..end]
                                }
                                None => &data[..],
                            };
                            literal(out, slice);
                        }
                    }
                }
            }
        }
        if report_flags && !job.items.contains(&FetchAttr::Flags) {
            sep(out);
            out.extend_from_slice(format!("FLAGS {flags}").as_bytes());
        }
        out.extend_from_slice(b")\r\n");
    }

    // ---- SEARCH ----

    fn run_search(&mut self, mut job: SearchJob) {
        let needs_content = job.key.needs_content();
        while job.pos < job.uids.len() {
            if needs_content {
                self.events.push_back(Event::FetchMessage {
                    uid: job.uids[job.pos],
                });
                self.pending = Pending::Search(job);
                return;
            }
            self.search_one(&mut job, None);
            job.pos += 1;
        }
        let mut line = b"* SEARCH".to_vec();
        for n in &job.hits {
            line.push(b' ');
            push_decimal(&mut line, u64::from(*n));
        }
        line.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(&line);
        self.finish(&job.tag, "OK Search completed.", job.uid);
    }

    fn search_one(&mut self, job: &mut SearchJob, content: Option<&[u8]>) {
        let State::Selected(sel) = &self.state else { return };
        let uid = job.uids[job.pos];
        let Some(i) = sel.index_of(uid) else { return };
        let parsed = content.map(Parsed::new);
        let ctx = MatchCtx {
            meta: sel.view.messages[i],
            seq: i as u32 + 1,
            exists: sel.view.messages.len() as u32,
            max_uid: sel.max_uid(),
            parsed: parsed.as_ref(),
        };
        if matches_key(&job.key, &ctx) {
            job.hits.push(if job.uid { uid } else { ctx.seq });
        }
    }
}

fn write_section_name(out: &mut Vec<u8>, section: &Section<'_>) {
    out.extend_from_slice(b"BODY[");
    for (i, p) in section.part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_decimal(out, u64::from(*p));
    }
    let dot = |out: &mut Vec<u8>| {
        if !section.part.is_empty() {
            out.push(b'.');
        }
    };
    match &section.text {
        SectionText::Full => {}
        SectionText::Header => {
            dot(out);
            out.extend_from_slice(b"HEADER");
        }
        SectionText::Text => {
            dot(out);
            out.extend_from_slice(b"TEXT");
        }
        SectionText::Mime => {
            dot(out);
            out.extend_from_slice(b"MIME");
        }
        SectionText::HeaderFields { not, fields } => {
            dot(out);
            out.extend_from_slice(if *not {
                b"HEADER.FIELDS.NOT ("
            } else {
                b"HEADER.FIELDS ("
            });
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                astring(out, f);
            }
            out.push(b')');
        }
    }
    out.push(b']');
}

struct MatchCtx<'a> {
    meta: MessageMeta,
    seq: u32,
    exists: u32,
    max_uid: u32,
    parsed: Option<&'a Parsed<'a>>,
}

fn matches_key(key: &SearchKey<'_>, c: &MatchCtx<'_>) -> bool {
    let flags = c.meta.flags;
    match key {
        SearchKey::And(keys) => keys.iter().all(|k| matches_key(k, c)),
        SearchKey::All | SearchKey::Unkeyword => true,
        SearchKey::Keyword => false,
        SearchKey::Flag(f) => flags.contains(*f),
        SearchKey::NotFlag(f) => !flags.contains(*f),
        SearchKey::New => flags.contains(Flags::RECENT) && !flags.contains(Flags::SEEN),
        SearchKey::Old => !flags.contains(Flags::RECENT),
        SearchKey::Seq(set) => set.contains(c.seq, c.exists),
        SearchKey::Uid(set) => set.contains(c.meta.uid, c.max_uid),
        SearchKey::Larger(n) => c.meta.size > *n,
        SearchKey::Smaller(n) => c.meta.size < *n,
        SearchKey::Internal(cmp, day) => date_matches(*cmp, c.meta.internal_date.div_euclid(86_400), *day),
        SearchKey::Sent(cmp, day) => c
            .parsed
            .and_then(mime::sent_day)
            .is_some_and(|d| date_matches(*cmp, d, *day)),
        SearchKey::Header(name, value) => c.parsed.is_some_and(|p| mime::header_contains(p, name, value)),
        SearchKey::Body(s) => c.parsed.is_some_and(|p| mime::body_contains(p, s)),
        SearchKey::Text(s) => c
            .parsed
            .is_some_and(|p| mime::contains_ci(p.header(), s) || mime::body_contains(p, s)),
        SearchKey::Not(k) => !matches_key(k, c),
        SearchKey::Or(a, b) => matches_key(a, c) || matches_key(b, c),
    }
}

fn date_matches(cmp: DateCmp, day: i64, wanted: i64) -> bool {
    match cmp {
        DateCmp::Before => day < wanted,
        DateCmp::On => day == wanted,
        DateCmp::Since => day >= wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use mail_sasl::MechanismSet;

    /// The decoded DIGEST-MD5 challenge of `AUTHENTICATE DIGEST-MD5` on a
    /// session with `realm` configured (host name `imap.example.test`).
    fn digest_challenge(realm: &str) -> String {
        let backend = BackendCapabilities {
            plaintext: true,
            secret_mechanisms: MechanismSet::from_slice(&[Mechanism::DigestMd5]),
        };
        let mut config = Config::new("imap.example.test", backend, [7; 16]);
        config.implicit_tls = true;
        config.mechanisms.enabled = MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::DigestMd5]);
        config.realm = realm.to_owned();
        let mut session = ImapSession::new(config);
        let greeting = String::from_utf8(session.take_output()).unwrap();
        assert!(greeting.contains("AUTH=DIGEST-MD5"), "{greeting}");
        session.receive(b"a AUTHENTICATE DIGEST-MD5\r\n");
        assert!(session.next_event().is_none());
        let out = String::from_utf8(session.take_output()).unwrap();
        let b64 = out
            .strip_prefix("+ ")
            .and_then(|s| s.strip_suffix("\r\n"))
            .unwrap_or_else(|| panic!("not a continuation: {out:?}"));
        let challenge = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        String::from_utf8(challenge).unwrap()
    }

    #[test]
    fn digest_md5_challenge_carries_the_configured_realm() {
        let challenge = digest_challenge("example.test");
        assert!(challenge.contains("realm=\"example.test\""), "{challenge}");
        assert!(!challenge.contains("imap.example.test"), "{challenge}");
    }

    #[test]
    fn digest_md5_realm_defaults_to_the_host_name() {
        let challenge = digest_challenge("");
        assert!(challenge.contains("realm=\"imap.example.test\""), "{challenge}");
    }
}
