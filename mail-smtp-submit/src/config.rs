//! Session configuration: listener profiles and limits.

use std::net::IpAddr;
use std::time::Duration;

use mail_sasl::{BackendCapabilities, FailurePolicy, MechanismPolicy};

use crate::policy::{RelayPolicy, Restriction};
use crate::SmtpError;

/// The three listeners of a mail server (Postfix `master.cf` conventions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Port 25: TLS offered (`may`), AUTH only after TLS, relay for
    /// `mynetworks` and authenticated clients, local mail from anyone.
    Mta,
    /// Port 587: STARTTLS required (`encrypt`), AUTH required before MAIL.
    Submission,
    /// Port 465: implicit TLS (`smtpd_tls_wrappermode`), AUTH required.
    Submissions,
}

/// How the listener uses TLS (Postfix `smtpd_tls_security_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS: STARTTLS is not offered.
    None,
    /// STARTTLS offered, not required.
    May,
    /// STARTTLS required: before it, every command but
    /// EHLO/HELO/STARTTLS/NOOP/QUIT/HELP gets `530 5.7.0 Must issue a STARTTLS command first`.
    Encrypt,
    /// The connection is TLS from the first byte (465): the wrapper calls
    /// `tls_established` after the handshake; STARTTLS is never offered.
    Implicit,
}

/// What to do with bare `<LF>` line endings in message content
/// (Postfix `smtpd_forbid_bare_newline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareLf {
    /// Store them as `<CR><LF>` (default).
    Normalize,
    /// Refuse the message after its end: `550 5.5.2 Error: bare <LF> received`.
    Reject,
}

/// Who the client is (from the accepted connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The peer address.
    pub addr: IpAddr,
    /// Its verified reverse DNS name, if the driver looked one up (`unknown` otherwise).
    pub hostname: Option<String>,
}

impl ClientInfo {
    /// A client known only by address.
    pub fn new(addr: IpAddr) -> Self {
        ClientInfo { addr, hostname: None }
    }
}

/// Everything a session needs to know; share one between connections with `Arc`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's name (`myhostname`): greeting, EHLO, Received, 421 texts.
    pub hostname: String,
    /// Greeting text after the host name (`220 host ESMTP`).
    pub banner: String,
    /// Product name in the Received header's `by host (…)` comment.
    pub software: String,
    /// TLS usage.
    pub tls: TlsMode,
    /// Whether a certificate is configured, i.e. STARTTLS can really be done.
    pub tls_available: bool,
    /// `smtpd_tls_auth_only`: no AUTH at all before TLS. Forced on by `Encrypt`.
    pub tls_auth_only: bool,
    /// MAIL requires AUTH (`530 5.7.0 Authentication required`).
    pub require_auth: bool,
    /// What the credential backend can verify; `None` disables AUTH.
    pub auth_backend: Option<BackendCapabilities>,
    /// Which mechanisms to offer.
    pub mechanisms: MechanismPolicy,
    /// Failed-authentication delay and limit.
    pub auth_failures: FailurePolicy,
    /// Also advertise `AUTH=PLAIN LOGIN` for old Outlook (`broken_sasl_auth_clients`).
    pub broken_sasl_auth_clients: bool,
    /// DIGEST-MD5 realm (empty: the host name).
    pub realm: String,
    /// Fresh random bytes from the driver (OS RNG), per connection: the
    /// session derives each exchange's nonce from it with a counter.
    pub nonce_seed: [u8; 16],
    /// Relay restrictions.
    pub relay: RelayPolicy,
    /// Command line limit in octets, CRLF excluded (RFC 5321: 512).
    pub max_command_line: usize,
    /// `message_size_limit` (octets of client content); `SIZE` is advertised with it.
    pub max_message_size: u64,
    /// Text line limit in octets, `<CR><LF>` included (RFC 5321 §4.5.3.1.6:
    /// 1000, the default), measured on the stored message (`DATA` after
    /// unstuffing, `BDAT` alike, bare `<LF>` counted as `<CR><LF>`). A message
    /// with a longer line is read to its end, not delivered, and answered
    /// `500 5.5.6 Error: message line too long`; the connection stays usable.
    /// `None`: no limit (Postfix stores long lines as continuation records and
    /// only `message_size_limit` bounds them). Values below 1000 are refused
    /// by [`validate`](Self::validate).
    pub max_text_line: Option<usize>,
    /// `smtpd_recipient_limit`.
    pub max_recipients: usize,
    /// `smtpd_soft_error_limit`: from this many errors on, each command is delayed.
    pub soft_error_limit: u32,
    /// `smtpd_hard_error_limit`: `421 4.7.0 <host> Error: too many errors` and close.
    pub hard_error_limit: u32,
    /// `smtpd_error_sleep_time`: the delay after the soft limit.
    pub error_delay: Duration,
    /// Bare `<LF>` handling.
    pub bare_lf: BareLf,
    /// Answer VRFY with `252` instead of `502 5.5.1 VRFY command is disabled`.
    pub vrfy_enabled: bool,
    /// Prepend a `Received:` header to each message.
    pub received_header: bool,
    /// Name the SASL login in it (`smtpd_sasl_authenticated_header`).
    pub received_auth_sender: bool,
    /// Refuse clients that talk before the greeting was written
    /// (`554 5.5.0 Error: SMTP protocol synchronization`, then close).
    pub reject_early_talk: bool,
}

impl Config {
    /// A configuration for `profile` with Postfix's defaults.
    ///
    /// * `Mta`: `TlsMode::May`, `tls_auth_only`, restrictions
    ///   `permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination`.
    /// * `Submission`: `TlsMode::Encrypt` (⇒ `tls_auth_only`), `require_auth`,
    ///   restrictions `permit_sasl_authenticated, reject`.
    /// * `Submissions`: `TlsMode::Implicit`, `require_auth`, same restrictions.
    ///
    /// AUTH is off until [`auth_backend`](Self::auth_backend) is set; STARTTLS
    /// until [`tls_available`](Self::tls_available) is true.
    pub fn new(profile: Profile, hostname: impl Into<String>) -> Self {
        let mut relay = RelayPolicy::default();
        let (tls, require_auth) = match profile {
            Profile::Mta => (TlsMode::May, false),
            Profile::Submission => (TlsMode::Encrypt, true),
            Profile::Submissions => (TlsMode::Implicit, true),
        };
        if profile != Profile::Mta {
            relay.recipient_restrictions = vec![Restriction::PermitSaslAuthenticated, Restriction::Reject];
        }
        Config {
            hostname: hostname.into(),
            banner: "ESMTP".into(),
            software: "mailcrates".into(),
            tls,
            tls_available: false,
            tls_auth_only: true,
            require_auth,
            auth_backend: None,
            mechanisms: MechanismPolicy::default(),
            auth_failures: FailurePolicy::default(),
            broken_sasl_auth_clients: false,
            realm: String::new(),
            nonce_seed: [0; 16],
            relay,
            max_command_line: 512,
            max_message_size: 10_240_000,
            max_text_line: Some(1000),
            max_recipients: 1000,
            soft_error_limit: 10,
            hard_error_limit: 20,
            error_delay: Duration::from_secs(1),
            bare_lf: BareLf::Normalize,
            vrfy_enabled: false,
            received_header: true,
            received_auth_sender: false,
            reject_early_talk: true,
        }
    }

    /// Check that the settings make sense together.
    pub fn validate(&self) -> Result<(), SmtpError> {
        if self.tls == TlsMode::Encrypt && !self.tls_available {
            return Err(SmtpError::InvalidConfig(
                "TLS mode `encrypt` needs a certificate: set tls_available (and give the wrapper a ServerTls)",
            ));
        }
        if self.require_auth && self.auth_backend.is_none() {
            return Err(SmtpError::InvalidConfig(
                "require_auth is set but AUTH is disabled: set auth_backend to the backend's capabilities",
            ));
        }
        if self.max_command_line < 512 {
            return Err(SmtpError::InvalidConfig(
                "max_command_line below 512 octets breaks RFC 5321 clients",
            ));
        }
        if self.max_text_line.is_some_and(|n| n < 1000) {
            return Err(SmtpError::InvalidConfig(
                "max_text_line below 1000 octets breaks RFC 5321 clients (None means no limit)",
            ));
        }
        if self.hostname.is_empty() || self.hostname.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(SmtpError::InvalidConfig(
                "hostname must be a non-empty printable ASCII name",
            ));
        }
        Ok(())
    }

    /// `smtpd_tls_auth_only`, with Postfix's derivation: `encrypt` and implicit TLS imply it.
    pub fn effective_tls_auth_only(&self) -> bool {
        self.tls_auth_only || matches!(self.tls, TlsMode::Encrypt | TlsMode::Implicit)
    }

    pub(crate) fn starttls_possible(&self) -> bool {
        self.tls_available && matches!(self.tls, TlsMode::May | TlsMode::Encrypt)
    }
}
