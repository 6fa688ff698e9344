//! The client role: asking an existing Dovecot auth socket to check
//! credentials (what Postfix's `smtpd_sasl_type = dovecot` does).

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::codec::{param, parse_id, split, Framer, LineBuilder, MAX_LINE, VERSION_MAJOR, VERSION_MINOR};
use super::escape::unescape;
use crate::SaslError;

/// A mechanism the server announced with `MECH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMechanism {
    /// Mechanism name as sent (`PLAIN`, `CRAM-MD5` …).
    pub name: String,
    /// Security flags (`plaintext`, `dictionary`, `active`, `anonymous` …).
    pub flags: Vec<String>,
}

impl ServerMechanism {
    /// Whether the server marked the mechanism `plaintext`.
    pub fn is_plaintext(&self) -> bool {
        self.flags.iter().any(|f| f == "plaintext")
    }
}

/// Parameters of one `AUTH` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// `service=`: `smtp`, `imap`, `pop3` …
    pub service: String,
    /// `secured`: the end user's connection is TLS (or trusted local).
    pub secured: bool,
    /// `nologin`: only check the credentials, no login follows.
    pub no_login: bool,
    /// `no-penalty`: Dovecot skips its failure penalty (anvil) for this
    /// request. Dovecot keys the penalty by `rip=`; without an address every
    /// user shares one penalty, so set this when the caller does its own
    /// failure delays ([`crate::FailureTracker`]).
    pub no_penalty: bool,
    /// `lip=`: local address of the end user's connection.
    pub local_ip: Option<IpAddr>,
    /// `rip=`: remote address of the end user's connection.
    pub remote_ip: Option<IpAddr>,
}

impl AuthParams {
    /// `service=<service>`, secured, nologin, penalty on, no addresses.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            secured: true,
            no_login: true,
            no_penalty: false,
            local_ip: None,
            remote_ip: None,
        }
    }
}

/// Events of a [`DovecotAuthClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server's handshake is complete (`DONE`): mechanisms are known and
    /// requests may be started.
    Ready,
    /// `CONT`: the decoded server challenge for request `id`; answer with
    /// [`DovecotAuthClient::respond`].
    Challenge {
        /// Request id.
        id: u32,
        /// Decoded challenge.
        challenge: Vec<u8>,
    },
    /// `OK` with a `user=`: authenticated.
    Success {
        /// Request id.
        id: u32,
        /// The user name the server settled on.
        user: String,
    },
    /// `FAIL` (or an `OK` without `user=`, which is never accepted).
    Failure {
        /// Request id.
        id: u32,
        /// `temp`: the server could not decide; try later.
        temporary: bool,
        /// `reason=` text, if any.
        reason: Option<String>,
        /// `user=`, if the server named one.
        user: Option<String>,
    },
    /// The server broke the protocol; the connection is unusable.
    ProtocolError(String),
}

/// Sans-IO client side of the Dovecot auth protocol for one connection.
///
/// `VERSION` and `CPID` are in the output from the start. The server's
/// handshake is accepted whether it arrives before that output was written
/// (Dovecot 2.3) or only after (Dovecot 2.4).
#[derive(Debug)]
pub struct DovecotAuthClient {
    framer: Framer,
    out: Vec<u8>,
    events: VecDeque<ClientEvent>,
    mechanisms: Vec<ServerMechanism>,
    server_version: Option<(u32, u32)>,
    server_pid: Option<u32>,
    cookie: Option<String>,
    ready: bool,
    pending: HashSet<u32>,
    next_id: u32,
    closed: bool,
}

/// Most `MECH` lines accepted in a handshake (bounded memory).
const MAX_MECHANISMS: usize = 64;

impl DovecotAuthClient {
    /// A new connection from a process with id `pid` (sent as `CPID`).
    pub fn new(pid: u32) -> Self {
        let mut out = Vec::new();
        LineBuilder::new("VERSION")
            .raw(&VERSION_MAJOR.to_string())
            .raw(&VERSION_MINOR.to_string())
            .finish_into(&mut out);
        LineBuilder::new("CPID")
            .raw(&pid.to_string())
            .finish_into(&mut out);
        Self {
            framer: Framer::new(),
            out,
            events: VecDeque::new(),
            mechanisms: Vec::new(),
            server_version: None,
            server_pid: None,
            cookie: None,
            ready: false,
            pending: HashSet::new(),
            next_id: 1,
            closed: false,
        }
    }

    /// Push bytes received from the server.
    pub fn receive(&mut self, data: &[u8]) {
        if !self.closed {
            self.framer.push(data);
        }
    }

    /// Bytes to write to the server.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Mark `n` bytes of output as written.
    pub fn consume_output(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// Take all pending output.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the handshake is complete.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Whether the connection is unusable (protocol error).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Mechanisms the server announced.
    pub fn mechanisms(&self) -> &[ServerMechanism] {
        &self.mechanisms
    }

    /// Whether the server announced `name` (case-insensitive).
    pub fn offers(&self, name: &str) -> bool {
        self.mechanisms.iter().any(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// The server's `VERSION`, `SPID` and `COOKIE`, once received.
    pub fn server_info(&self) -> (Option<(u32, u32)>, Option<u32>, Option<&str>) {
        (self.server_version, self.server_pid, self.cookie.as_deref())
    }

    /// Start an `AUTH` request and return its id. `initial_response` is raw
    /// (it is base64-encoded here). Fails if the handshake is not complete,
    /// the server does not offer `mechanism`, or the line would exceed 16 KiB.
    pub fn start_auth(
        &mut self,
        mechanism: &str,
        initial_response: Option<&[u8]>,
        params: &AuthParams,
    ) -> Result<u32, SaslError> {
        if self.closed {
            return Err(SaslError::Protocol("the connection had a protocol error".into()));
        }
        if !self.ready {
            return Err(SaslError::Protocol(
                "the server's handshake is not complete".into(),
            ));
        }
        if !self.offers(mechanism) {
            return Err(SaslError::Protocol(format!(
                "the server does not offer {mechanism}"
            )));
        }
        let id = self.next_id;
        let mut line = LineBuilder::new("AUTH")
            .raw(&id.to_string())
            .field(mechanism.as_bytes())
            .param("service", params.service.as_bytes())
            .flag("secured", params.secured)
            .flag("nologin", params.no_login)
            .flag("no-penalty", params.no_penalty);
        if let Some(ip) = params.local_ip {
            line = line.param("lip", ip.to_string().as_bytes());
        }
        if let Some(ip) = params.remote_ip {
            line = line.param("rip", ip.to_string().as_bytes());
        }
        if let Some(ir) = initial_response {
            // `resp=` must be the last parameter.
            line = line.param("resp", STANDARD.encode(ir).as_bytes());
        }
        if line.len() > MAX_LINE {
            return Err(SaslError::Protocol(format!(
                "AUTH line longer than {MAX_LINE} octets"
            )));
        }
        line.finish_into(&mut self.out);
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.pending.insert(id);
        Ok(id)
    }

    /// Start a PLAIN request for `user` with `password` (and an optional
    /// authorization identity).
    pub fn start_plain(
        &mut self,
        authzid: Option<&str>,
        user: &str,
        password: &str,
        params: &AuthParams,
    ) -> Result<u32, SaslError> {
        let mut ir = Vec::with_capacity(user.len() + password.len() + 2);
        ir.extend_from_slice(authzid.unwrap_or("").as_bytes());
        ir.push(0);
        ir.extend_from_slice(user.as_bytes());
        ir.push(0);
        ir.extend_from_slice(password.as_bytes());
        let result = self.start_auth("PLAIN", Some(&ir), params);
        zeroize::Zeroize::zeroize(&mut ir);
        result
    }

    /// Answer a [`ClientEvent::Challenge`] of request `id` with raw bytes.
    pub fn respond(&mut self, id: u32, response: &[u8]) -> Result<(), SaslError> {
        if !self.pending.contains(&id) {
            return Err(SaslError::Protocol(format!("no request {id} in progress")));
        }
        let line = LineBuilder::new("CONT")
            .raw(&id.to_string())
            .raw(&STANDARD.encode(response));
        if line.len() > MAX_LINE {
            return Err(SaslError::Protocol(format!(
                "CONT line longer than {MAX_LINE} octets"
            )));
        }
        line.finish_into(&mut self.out);
        Ok(())
    }

    /// Abandon request `id` (`CANCEL`, understood by Dovecot 2.4; older
    /// servers close the connection, so only use it when closing anyway).
    pub fn cancel(&mut self, id: u32) {
        if self.pending.remove(&id) {
            LineBuilder::new("CANCEL")
                .raw(&id.to_string())
                .finish_into(&mut self.out);
        }
    }

    /// The next event, processing buffered input as far as possible.
    pub fn next_event(&mut self) -> Option<ClientEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if self.closed {
                return None;
            }
            let line = match self.framer.next_line()? {
                Ok(line) => line,
                Err(reason) => {
                    self.protocol_error(reason);
                    continue;
                }
            };
            self.handle_line(&line);
        }
    }

    fn protocol_error(&mut self, reason: impl Into<String>) {
        self.closed = true;
        self.events.push_back(ClientEvent::ProtocolError(reason.into()));
    }

    fn handle_line(&mut self, line: &[u8]) {
        let fields = split(line);
        if !self.ready {
            return self.handle_handshake(&fields);
        }
        match fields[0] {
            b"OK" | b"CONT" | b"FAIL" => {}
            // Unknown commands after the handshake are ignored (forward compatibility).
            _ => return,
        }
        let Some(id) = fields.get(1).and_then(|f| parse_id(f)) else {
            return self.protocol_error("reply without a valid request id");
        };
        if !self.pending.contains(&id) {
            return self.protocol_error(format!("reply for unknown request {id}"));
        }
        match fields[0] {
            b"CONT" => {
                let data = fields.get(2).map(|f| unescape(f)).unwrap_or_default();
                match STANDARD.decode(&data) {
                    Ok(challenge) => self.events.push_back(ClientEvent::Challenge { id, challenge }),
                    Err(_) => self.protocol_error("CONT with invalid base64"),
                }
            }
            b"OK" => {
                self.pending.remove(&id);
                let user = fields[2..]
                    .iter()
                    .map(|f| param(f))
                    .find(|p| p.name == b"user")
                    .and_then(|p| p.value)
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .filter(|u| !u.is_empty());
                self.events.push_back(match user {
                    Some(user) => ClientEvent::Success { id, user },
                    None => ClientEvent::Failure {
                        id,
                        temporary: false,
                        reason: Some("the server answered OK without user=".into()),
                        user: None,
                    },
                });
            }
            _ => {
                self.pending.remove(&id);
                let mut temporary = false;
                let mut reason = None;
                let mut user = None;
                for p in fields[2..].iter().map(|f| param(f)) {
                    let text = p.value.map(|v| String::from_utf8_lossy(&v).into_owned());
                    match p.name {
                        b"temp" => temporary = true,
                        b"code" if text.as_deref() == Some("temp_fail") => temporary = true,
                        b"reason" => reason = text,
                        b"user" => user = text,
                        _ => {}
                    }
                }
                self.events.push_back(ClientEvent::Failure {
                    id,
                    temporary,
                    reason,
                    user,
                });
            }
        }
    }

    fn handle_handshake(&mut self, fields: &[&[u8]]) {
        match fields[0] {
            b"VERSION" => {
                let major = fields.get(1).and_then(|f| parse_id(f));
                let minor = fields.get(2).and_then(|f| parse_id(f));
                match (major, minor) {
                    (Some(VERSION_MAJOR), Some(minor)) => self.server_version = Some((VERSION_MAJOR, minor)),
                    _ => self.protocol_error("the server speaks an incompatible protocol version"),
                }
            }
            b"MECH" => {
                let Some(name) = fields.get(1).filter(|n| !n.is_empty()) else {
                    return self.protocol_error("MECH without a name");
                };
                if self.mechanisms.len() >= MAX_MECHANISMS {
                    return self.protocol_error("too many MECH lines");
                }
                let text = |f: &[u8]| String::from_utf8_lossy(&unescape(f)).into_owned();
                self.mechanisms.push(ServerMechanism {
                    name: text(name),
                    flags: fields[2..].iter().map(|f| text(f)).collect(),
                });
            }
            b"SPID" => self.server_pid = fields.get(1).and_then(|f| parse_id(f)),
            b"COOKIE" => {
                self.cookie = fields.get(1).map(|f| String::from_utf8_lossy(f).into_owned());
            }
            b"DONE" => {
                if self.server_version.is_none() {
                    return self.protocol_error("handshake DONE without VERSION");
                }
                self.ready = true;
                self.events.push_back(ClientEvent::Ready);
            }
            b"OK" | b"CONT" | b"FAIL" => self.protocol_error("reply before the handshake was complete"),
            // CUID and anything newer are informational.
            _ => {}
        }
    }
}
