//! One SASL authentication exchange, as a sans-IO step machine.

use crate::mech::State;
use crate::{Mechanism, VerifyOutcome, VerifyRequest};

/// What an exchange needs from its surroundings. No clock or RNG is used
/// inside the machine: the caller supplies fresh randomness per exchange.
#[derive(Debug, Clone)]
pub struct ExchangeContext<'a> {
    /// GSSAPI-style service name checked in DIGEST-MD5's `digest-uri`:
    /// `smtp`, `imap`, `pop` (what curl and Cyrus send for POP3).
    pub service: &'a str,
    /// Server host name: CRAM-MD5 challenge, DIGEST-MD5 `digest-uri` host.
    pub hostname: &'a str,
    /// DIGEST-MD5 realm; empty means "use the host name".
    pub realm: &'a str,
    /// Fresh random bytes for this exchange (CRAM-MD5 challenge, DIGEST-MD5 nonce).
    pub nonce: [u8; 16],
    /// Whether an authorization identity different from the authentication
    /// identity may be requested (PLAIN authzid, DIGEST-MD5 authzid).
    pub allow_proxy_authorization: bool,
}

impl<'a> ExchangeContext<'a> {
    /// A context for `service` on `hostname` with the given randomness;
    /// realm = host name, no proxy authorization.
    pub fn new(service: &'a str, hostname: &'a str, nonce: [u8; 16]) -> Self {
        Self {
            service,
            hostname,
            realm: "",
            nonce,
            allow_proxy_authorization: false,
        }
    }

    /// The effective realm (the host name when none is configured).
    pub fn effective_realm(&self) -> &'a str {
        if self.realm.is_empty() {
            self.hostname
        } else {
            self.realm
        }
    }
}

/// Who authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The authentication identity (whose credentials were checked).
    pub authcid: String,
    /// The authorization identity requested, when different from `authcid`.
    pub authzid: Option<String>,
}

impl Identity {
    /// The user the session acts as: the authzid if one was granted, else the authcid.
    pub fn authorized_user(&self) -> &str {
        self.authzid.as_deref().unwrap_or(&self.authcid)
    }
}

/// Why an exchange failed. Protocols map these to their replies
/// (SMTP: `501 5.5.2`, `535 5.7.8`, `454 4.7.0`, `504 5.5.4`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The client's message was not well formed (wrong field count, bad
    /// UTF-8, over-long field, unparsable directive list …). The text says what.
    Malformed(&'static str),
    /// The credentials did not verify (unknown user and wrong password alike).
    BadCredentials,
    /// The backend could not answer (PAM or Dovecot unavailable): try later.
    Temporary,
    /// The mechanism is never accepted (ANONYMOUS: `noanonymous`).
    MechanismRefused,
    /// An authorization identity other than the authentication identity was requested and is not allowed.
    AuthorizationDenied,
    /// A step arrived when the machine expected none (protocol misuse by the caller or client).
    UnexpectedStep,
}

impl Failure {
    /// Whether the client may succeed by retrying later with the same credentials.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Failure::Temporary)
    }

    /// Whether this failure counts as a failed login for brute-force limits.
    pub fn counts_as_attempt(&self) -> bool {
        matches!(self, Failure::BadCredentials | Failure::AuthorizationDenied)
    }
}

/// The result of feeding an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (raw bytes; the protocol base64-encodes it) and
    /// feed the client's answer to [`Exchange::step`].
    Challenge(Vec<u8>),
    /// Check these credentials (see [`VerifyRequest::verify_with`] and
    /// [`crate::CredentialBackend`]) and answer with [`Exchange::verified`].
    Verify(VerifyRequest),
    /// Authenticated.
    Success(Identity),
    /// Not authenticated.
    Failure(Failure),
}

/// One authentication exchange for one mechanism.
#[derive(Debug)]
pub struct Exchange {
    mechanism: Mechanism,
    state: State,
}

impl Exchange {
    /// Begin an exchange. `initial_response` is the already-decoded SASL-IR
    /// (`Some(b"")` for the `=` empty response, `None` when absent).
    #[inline(always)]
    pub fn start(
        mechanism: Mechanism,
        initial_response: Option<&[u8]>,
        ctx: &ExchangeContext<'_>,
    ) -> (Exchange, Step) {
        let mut state = State::Done;
        let step = state.begin(mechanism, initial_response, ctx);
        (Exchange { mechanism, state }, step)
    }

    /// Feed the client's (decoded) answer to the last challenge.
    #[inline]
    pub fn step(&mut self, response: &[u8]) -> Step {
        self.state.step(response)
    }

    /// Answer the last [`Step::Verify`].
    #[inline(always)]
    pub fn verified(&mut self, outcome: VerifyOutcome) -> Step {
        self.state.verified(outcome)
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }
}
