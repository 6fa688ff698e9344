//! The server role: what Dovecot's auth process does for Postfix
//! (`smtpd_sasl_type = dovecot`), Exim's `dovecot` authenticator and others.

use std::collections::{HashMap, VecDeque};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_proto::{Session, TlsInfo, TlsSwitch};
use sha2::{Digest, Sha256};

use super::codec::{param, parse_id, split, Framer, LineBuilder, MAX_LINE, VERSION_MAJOR, VERSION_MINOR};
use super::escape::unescape;
use crate::wire::{decode_response, ClientResponse};
use crate::{
    Exchange, ExchangeContext, Failure, Identity, Mechanism, MechanismSet, Step, VerifyOutcome, VerifyRequest,
};

/// Reply text when a plaintext mechanism is used without `secured`
/// (Dovecot's `disable_plaintext_auth` wording).
pub const PLAINTEXT_DISALLOWED: &str =
    "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";
/// Reply text for an unknown or disabled mechanism.
pub const UNSUPPORTED_MECHANISM: &str = "Unsupported authentication mechanism.";

/// Configuration of one server connection.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mechanisms advertised in the handshake and accepted in `AUTH`.
    /// ANONYMOUS is never advertised or accepted.
    pub mechanisms: MechanismSet,
    /// Refuse PLAIN/LOGIN in requests without the `secured` flag (Dovecot's
    /// `disable_plaintext_auth = yes`; Postfix sends `secured` on TLS sessions).
    pub tls_auth_only: bool,
    /// Host name for CRAM-MD5 challenges and the DIGEST-MD5 `digest-uri` check.
    pub hostname: String,
    /// DIGEST-MD5 realm; empty = the host name.
    pub realm: String,
    /// Allow an authorization identity different from the authentication identity.
    pub allow_proxy_authorization: bool,
    /// Fresh random bytes from the driver; each exchange's nonce is derived
    /// from it and a counter.
    pub nonce_seed: [u8; 16],
    /// Sent as `SPID` (Dovecot: the auth process id).
    pub server_pid: u32,
    /// Sent as `CUID` (a connection number).
    pub connection_id: u32,
    /// At most this many requests in progress at once; more get `FAIL … temp`.
    pub max_requests: usize,
}

impl ServerConfig {
    /// A configuration with TLS-only plaintext authentication, no proxy
    /// authorization and 64 concurrent requests.
    pub fn new(mechanisms: MechanismSet, hostname: impl Into<String>, nonce_seed: [u8; 16]) -> Self {
        Self {
            mechanisms: mechanisms.without(Mechanism::Anonymous),
            tls_auth_only: true,
            hostname: hostname.into(),
            realm: String::new(),
            allow_proxy_authorization: false,
            nonce_seed,
            server_pid: 0,
            connection_id: 1,
            max_requests: 64,
        }
    }
}

/// Events of a [`DovecotAuthServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// Check these credentials (e.g. with a [`crate::CredentialBackend`]) and
    /// answer with [`DovecotAuthServer::verified`] for the same id.
    AuthVerify(u32, VerifyRequest),
    /// `OK` was sent for request `id` (for logs).
    AuthSucceeded {
        /// Request id.
        id: u32,
        /// Mechanism used.
        mechanism: Mechanism,
        /// Who authenticated.
        identity: Identity,
        /// The `service=` of the request (`smtp`, `imap` …).
        service: String,
    },
    /// `FAIL` was sent for request `id` (for logs).
    AuthFailed {
        /// Request id.
        id: u32,
        /// The mechanism, when it was known.
        mechanism: Option<Mechanism>,
        /// Why.
        failure: Failure,
    },
    /// The client broke the protocol (bad version, unknown command, line
    /// over 16 KiB, duplicate id …). The connection closes once output is written.
    ProtocolError(String),
}

#[derive(Debug)]
struct Request {
    exchange: Exchange,
    service: String,
    awaiting_verify: bool,
    cancelled: bool,
}

/// Sans-IO server side of the Dovecot auth protocol for one client connection.
///
/// The handshake (`VERSION`, `MECH`…, `SPID`, `CUID`, `COOKIE`, `DONE`) is in
/// [`output`](Session::output) from the start, as Dovecot 2.3 sends it; the
/// client's `VERSION` may come before or after it is read. Any number of
/// requests (distinct ids) may be in progress at once.
#[derive(Debug)]
pub struct DovecotAuthServer {
    config: ServerConfig,
    framer: Framer,
    out: Vec<u8>,
    events: VecDeque<ServerEvent>,
    requests: HashMap<u32, Request>,
    version_seen: bool,
    client_pid: Option<u32>,
    exchanges_started: u64,
    closed: bool,
}

fn mechanism_flags(m: Mechanism) -> &'static [&'static str] {
    match m {
        Mechanism::Plain | Mechanism::Login => &["plaintext"],
        Mechanism::CramMd5 => &["dictionary", "active"],
        Mechanism::DigestMd5 => &["dictionary", "active", "mutual-auth"],
        _ => &["anonymous"],
    }
}

impl DovecotAuthServer {
    /// A new connection; the handshake is queued as output.
    pub fn new(mut config: ServerConfig) -> Self {
        config.mechanisms = config.mechanisms.without(Mechanism::Anonymous);
        let mut out = Vec::new();
        LineBuilder::new("VERSION")
            .raw(&VERSION_MAJOR.to_string())
            .raw(&VERSION_MINOR.to_string())
            .finish_into(&mut out);
        for m in config.mechanisms.iter() {
            let mut line = LineBuilder::new("MECH").raw(m.name());
            for flag in mechanism_flags(m) {
                line = line.raw(flag);
            }
            line.finish_into(&mut out);
        }
        LineBuilder::new("SPID")
            .raw(&config.server_pid.to_string())
            .finish_into(&mut out);
        LineBuilder::new("CUID")
            .raw(&config.connection_id.to_string())
            .finish_into(&mut out);
        let cookie: String = Sha256::new()
            .chain_update(b"dovecot-cookie")
            .chain_update(config.nonce_seed)
            .finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        LineBuilder::new("COOKIE").raw(&cookie).finish_into(&mut out);
        LineBuilder::new("DONE").finish_into(&mut out);
        Self {
            config,
            framer: Framer::new(),
            out,
            events: VecDeque::new(),
            requests: HashMap::new(),
            version_seen: false,
            client_pid: None,
            exchanges_started: 0,
            closed: false,
        }
    }

    /// The client's `CPID`, once received.
    pub fn client_pid(&self) -> Option<u32> {
        self.client_pid
    }

    /// Number of requests in progress.
    pub fn requests_in_progress(&self) -> usize {
        self.requests.len()
    }

    /// Answer an [`ServerEvent::AuthVerify`] for request `id`. Returns false
    /// (and does nothing) if no request with that id awaits verification.
    pub fn verified(&mut self, id: u32, outcome: VerifyOutcome) -> bool {
        let Some(req) = self.requests.get_mut(&id) else {
            return false;
        };
        if !req.awaiting_verify {
            return false;
        }
        if req.cancelled {
            self.requests.remove(&id);
            return true;
        }
        req.awaiting_verify = false;
        let step = req.exchange.verified(outcome);
        self.handle_step(id, step);
        true
    }

    fn protocol_error(&mut self, reason: impl Into<String>) {
        self.closed = true;
        self.events.push_back(ServerEvent::ProtocolError(reason.into()));
    }

    /// `FAIL` for a failed exchange, with a reason text Postfix shows to the client.
    fn send_fail(&mut self, id: u32, mechanism: Option<Mechanism>, failure: Failure) {
        let reason = match &failure {
            // Postfix: `535 5.7.8 Error: authentication failed: authentication failure`,
            // the same text for unknown users and wrong passwords.
            Failure::BadCredentials => "authentication failure",
            Failure::Temporary => "Temporary authentication failure.",
            Failure::MechanismRefused => UNSUPPORTED_MECHANISM,
            Failure::AuthorizationDenied => "Authorization failed.",
            Failure::Malformed(text) => text,
            Failure::UnexpectedStep => "Unexpected authentication step.",
        };
        self.send_fail_reason(id, mechanism, reason, failure);
    }

    fn send_fail_reason(&mut self, id: u32, mechanism: Option<Mechanism>, reason: &str, failure: Failure) {
        LineBuilder::new("FAIL")
            .raw(&id.to_string())
            .param("reason", reason.as_bytes())
            .flag("temp", failure.is_temporary())
            .finish_into(&mut self.out);
        self.events.push_back(ServerEvent::AuthFailed {
            id,
            mechanism,
            failure,
        });
    }

    fn handle_step(&mut self, id: u32, step: Step) {
        match step {
            Step::Challenge(challenge) => {
                LineBuilder::new("CONT")
                    .raw(&id.to_string())
                    .raw(&STANDARD.encode(challenge))
                    .finish_into(&mut self.out);
            }
            Step::Verify(request) => {
                if let Some(req) = self.requests.get_mut(&id) {
                    req.awaiting_verify = true;
                }
                self.events.push_back(ServerEvent::AuthVerify(id, request));
            }
            Step::Success(identity) => {
                let Some(req) = self.requests.remove(&id) else {
                    return;
                };
                LineBuilder::new("OK")
                    .raw(&id.to_string())
                    .param("user", identity.authorized_user().as_bytes())
                    .finish_into(&mut self.out);
                self.events.push_back(ServerEvent::AuthSucceeded {
                    id,
                    mechanism: req.exchange.mechanism(),
                    identity,
                    service: req.service,
                });
            }
            Step::Failure(failure) => {
                let mechanism = self.requests.remove(&id).map(|r| r.exchange.mechanism());
                self.send_fail(id, mechanism, failure);
            }
        }
    }

    fn handle_line(&mut self, line: &[u8]) {
        let fields = split(line);
        let command = fields[0];
        if !self.version_seen && command != b"VERSION" {
            return self.protocol_error("the client did not start with VERSION");
        }
        match command {
            b"VERSION" => self.handle_version(&fields),
            b"CPID" => {
                self.client_pid = fields.get(1).and_then(|f| parse_id(f));
                if self.client_pid.is_none() {
                    self.protocol_error("invalid CPID");
                }
            }
            b"AUTH" => self.handle_auth(&fields),
            b"CONT" => self.handle_cont(&fields),
            b"CANCEL" => {
                let Some(id) = fields.get(1).and_then(|f| parse_id(f)) else {
                    return self.protocol_error("invalid CANCEL");
                };
                match self.requests.get_mut(&id) {
                    Some(req) if req.awaiting_verify => req.cancelled = true,
                    Some(_) => {
                        self.requests.remove(&id);
                    }
                    None => {}
                }
            }
            _ => self.protocol_error(format!(
                "unknown command {:?}",
                String::from_utf8_lossy(&command[..command.len().min(32)])
            )),
        }
    }

    fn handle_version(&mut self, fields: &[&[u8]]) {
        let major = fields.get(1).and_then(|f| parse_id(f));
        if major != Some(VERSION_MAJOR) || fields.get(2).and_then(|f| parse_id(f)).is_none() {
            return self.protocol_error("the client speaks an incompatible protocol version");
        }
        self.version_seen = true;
    }

    fn next_nonce(&mut self) -> [u8; 16] {
        self.exchanges_started += 1;
        let digest = Sha256::new()
            .chain_update(b"dovecot-nonce")
            .chain_update(self.config.nonce_seed)
            .chain_update(self.exchanges_started.to_le_bytes())
            .finalize();
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&digest[..16]);
        nonce
    }

    fn handle_auth(&mut self, fields: &[&[u8]]) {
        let (Some(id), Some(mech_field)) = (fields.get(1).and_then(|f| parse_id(f)), fields.get(2)) else {
            return self.protocol_error("broken AUTH request");
        };
        if self.requests.contains_key(&id) {
            return self.protocol_error(format!("AUTH reuses id {id} of a request in progress"));
        }
        let mut service = None;
        let mut secured = false;
        let mut initial: Option<Vec<u8>> = None;
        for field in &fields[3..] {
            let p = param(field);
            match (p.name, p.value) {
                (b"service", Some(v)) => service = Some(v),
                (b"secured", _) => secured = true,
                (b"resp", Some(v)) => initial = Some(v),
                _ => {}
            }
        }
        let mechanism = Mechanism::from_name(&unescape(mech_field))
            .filter(|m| self.config.mechanisms.contains(*m) && *m != Mechanism::Anonymous);
        let Some(mechanism) = mechanism else {
            return self.send_fail_reason(id, None, UNSUPPORTED_MECHANISM, Failure::MechanismRefused);
        };
        let Some(service) = service
            .and_then(|s| String::from_utf8(s).ok())
            .filter(|s| !s.is_empty())
        else {
            return self.send_fail_reason(
                id,
                Some(mechanism),
                "Missing service.",
                Failure::Malformed("missing service"),
            );
        };
        if mechanism.is_plaintext() && self.config.tls_auth_only && !secured {
            return self.send_fail_reason(
                id,
                Some(mechanism),
                PLAINTEXT_DISALLOWED,
                Failure::MechanismRefused,
            );
        }
        if self.requests.len() >= self.config.max_requests {
            return self.send_fail_reason(
                id,
                Some(mechanism),
                "Too many authentication requests in progress.",
                Failure::Temporary,
            );
        }
        let initial = match initial {
            None => None,
            Some(b64) if b64.is_empty() => Some(Vec::new()),
            Some(b64) => match STANDARD.decode(&b64) {
                Ok(v) => Some(v),
                Err(_) => {
                    return self.send_fail_reason(
                        id,
                        Some(mechanism),
                        "Invalid base64 data in initial response.",
                        Failure::Malformed("invalid base64 in initial response"),
                    )
                }
            },
        };
        let nonce = self.next_nonce();
        let ctx = ExchangeContext {
            service: &service,
            hostname: &self.config.hostname,
            realm: &self.config.realm,
            nonce,
            allow_proxy_authorization: self.config.allow_proxy_authorization,
        };
        let (exchange, step) = Exchange::start(mechanism, initial.as_deref(), &ctx);
        self.requests.insert(
            id,
            Request {
                exchange,
                service,
                awaiting_verify: false,
                cancelled: false,
            },
        );
        self.handle_step(id, step);
    }

    fn handle_cont(&mut self, fields: &[&[u8]]) {
        let Some(id) = fields.get(1).and_then(|f| parse_id(f)) else {
            return self.protocol_error("broken CONT request");
        };
        let data = fields.get(2).map(|f| unescape(f)).unwrap_or_default();
        let Some(req) = self.requests.get_mut(&id) else {
            return self.send_fail_reason(
                id,
                None,
                "Authentication request timed out.",
                Failure::UnexpectedStep,
            );
        };
        if req.awaiting_verify {
            return self.protocol_error(format!("CONT for request {id} while it is being verified"));
        }
        let mechanism = req.exchange.mechanism();
        let step = match decode_response(&data, MAX_LINE) {
            Ok(ClientResponse::Data(response)) => req.exchange.step(&response),
            Ok(ClientResponse::Abort) => {
                Step::Failure(Failure::Malformed("Authentication aborted by client."))
            }
            Err(_) => {
                self.requests.remove(&id);
                return self.send_fail_reason(
                    id,
                    Some(mechanism),
                    "Invalid base64 data in continued response.",
                    Failure::Malformed("invalid base64 in continued response"),
                );
            }
        };
        self.handle_step(id, step);
    }
}

impl Session for DovecotAuthServer {
    type Event = ServerEvent;

    fn receive(&mut self, data: &[u8]) {
        if !self.closed {
            self.framer.push(data);
        }
    }

    fn next_event(&mut self) -> Option<ServerEvent> {
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

    fn output(&self) -> &[u8] {
        &self.out
    }

    fn consume_output(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    fn wants_input(&self) -> bool {
        !self.closed && self.framer.buffered() <= MAX_LINE && self.events.len() < 64
    }

    fn tls_switch(&self) -> TlsSwitch {
        TlsSwitch::None
    }

    /// The auth protocol runs over a local socket without TLS: nothing to forget.
    fn tls_established(&mut self, _info: &TlsInfo) -> usize {
        0
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}
