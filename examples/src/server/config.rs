//! The TOML configuration of `mail-server` (keys mirror Postfix `main.cf`
//! and Dovecot names; see `shared/docs/SERVER.md`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mail_smtp_submit::policy::{Cidr, Restriction};
use serde::Deserialize;

/// A configuration problem: one line naming the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &str, problem: impl fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {problem}"))
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name used in greetings, `Received:` headers and certificates.
    #[serde(default)]
    pub myhostname: Option<String>,
    /// State directory: maildirs, queue, certificates of the embedded default.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Local domains (delivered to Maildir).
    #[serde(default = "default_mydestination")]
    pub mydestination: Vec<String>,
    /// Domains relayed for anyone (queued).
    #[serde(default)]
    pub relay_domains: Vec<String>,
    /// Trusted client networks (CIDR).
    #[serde(default = "default_mynetworks")]
    pub mynetworks: Vec<String>,
    /// Largest message accepted, in octets.
    #[serde(default = "default_message_size_limit")]
    pub message_size_limit: u64,
    /// `"maildir"` (default: local Maildir + durable queue) or `"discard"`
    /// (accept and drop every message, like Postfix's `discard` transport:
    /// for measuring protocol speed only).
    #[serde(default = "default_delivery")]
    pub delivery: String,
    /// Certificate and key.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// Authentication backend and mechanisms.
    #[serde(default)]
    pub auth: AuthSection,
    /// Serve the Dovecot auth protocol on a socket (for an existing Postfix).
    #[serde(default)]
    pub auth_server: Option<AuthServerSection>,
    /// SMTP listeners.
    #[serde(default)]
    pub smtp: Vec<SmtpListener>,
    /// POP3 listeners.
    #[serde(default)]
    pub pop3: Vec<RetrievalListener>,
    /// IMAP listeners.
    #[serde(default)]
    pub imap: Vec<RetrievalListener>,
    /// Connection limits and idle timeouts.
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `[limits]`: connection counts and idle timeouts (seconds).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Connections held at once, all listeners together.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections held at once from one client address
    /// (Postfix `smtpd_client_connection_count_limit`).
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// SMTP idle timeout (Postfix `smtpd_timeout`).
    #[serde(default = "default_smtp_idle")]
    pub smtp_idle_timeout: u64,
    /// POP3 idle timeout (RFC 1939: at least 600).
    #[serde(default = "default_pop3_idle")]
    pub pop3_idle_timeout: u64,
    /// IMAP idle timeout (RFC 3501: at least 1800).
    #[serde(default = "default_imap_idle")]
    pub imap_idle_timeout: u64,
    /// Async worker threads; 0 (the default) means one per core but one,
    /// at least one (the kernel and the blocking storage threads use the
    /// rest; see `scripts/bench-e2e.sh` for the measurement).
    #[serde(default)]
    pub worker_threads: usize,
    /// Longest message text line in octets, CRLF included (RFC 5321
    /// §4.5.3.1.6: 1000, the default; at least 1000); a longer one gets
    /// `500 5.5.6 Error: message line too long`. 0: no limit (Postfix stores
    /// long lines as continuation records).
    #[serde(default = "default_smtp_max_text_line")]
    pub smtp_max_text_line: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults of [limits] deserialize")
    }
}

fn default_max_connections() -> usize {
    10_000
}
fn default_max_connections_per_ip() -> usize {
    50
}
fn default_smtp_max_text_line() -> usize {
    1000
}
fn default_smtp_idle() -> u64 {
    300
}
fn default_pop3_idle() -> u64 {
    600
}
fn default_imap_idle() -> u64 {
    1800
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("mail-data")
}
fn default_mydestination() -> Vec<String> {
    vec!["localhost".into()]
}
fn default_mynetworks() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}
fn default_delivery() -> String {
    "maildir".into()
}
fn default_message_size_limit() -> u64 {
    20_480_000
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key (refused when readable by group/other).
    pub key_file: PathBuf,
    /// Lowest TLS version: "1.2" or "1.3".
    #[serde(default = "default_min_version")]
    pub min_version: String,
}

fn default_min_version() -> String {
    "1.2".into()
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// "passwd-file" | "pam" | "dovecot".
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Lines `user:{SCHEME}hash`.
    #[serde(default)]
    pub passwd_file: Option<PathBuf>,
    /// PAM service name (backend = "pam").
    #[serde(default = "default_pam_service")]
    pub pam_service: String,
    /// Dovecot auth-client socket (backend = "dovecot").
    #[serde(default)]
    pub dovecot_socket: Option<PathBuf>,
    /// Enabled mechanisms; DIGEST-MD5 only when listed, ANONYMOUS never.
    #[serde(default = "default_mechanisms")]
    pub mechanisms: Vec<String>,
    /// DIGEST-MD5 realm (default: myhostname).
    #[serde(default)]
    pub realm: Option<String>,
    /// Delay before answering a failed authentication.
    #[serde(default = "default_failure_delay_ms")]
    pub failure_delay_ms: u64,
    /// Failed authentications allowed per connection.
    #[serde(default = "default_max_failures")]
    pub max_failures_per_connection: u32,
}

impl Default for AuthSection {
    fn default() -> Self {
        toml::from_str("").expect("defaults of [auth] deserialize")
    }
}

fn default_backend() -> String {
    "passwd-file".into()
}
fn default_pam_service() -> String {
    "mail".into()
}
fn default_mechanisms() -> Vec<String> {
    vec!["PLAIN".into(), "LOGIN".into(), "CRAM-MD5".into()]
}
fn default_failure_delay_ms() -> u64 {
    2000
}
fn default_max_failures() -> u32 {
    3
}

/// `[auth_server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthServerSection {
    /// Socket path.
    pub socket: PathBuf,
    /// Octal mode, e.g. "0660".
    #[serde(default = "default_socket_mode")]
    pub mode: String,
    /// Optional owner.
    #[serde(default)]
    pub user: Option<String>,
    /// Optional group.
    #[serde(default)]
    pub group: Option<String>,
}

fn default_socket_mode() -> String {
    "0660".into()
}

/// One `[[smtp]]` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpListener {
    /// Address to bind.
    pub listen: String,
    /// "none" | "may" | "encrypt" | "wrapper".
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    /// `smtpd_tls_auth_only` (implied by encrypt/wrapper).
    #[serde(default = "default_true")]
    pub tls_auth_only: bool,
    /// Also print `250-AUTH=…`.
    #[serde(default = "default_true")]
    pub broken_sasl_auth_clients: bool,
    /// Authentication required before MAIL.
    #[serde(default)]
    pub require_auth: bool,
    /// `smtpd_recipient_restrictions`.
    #[serde(default = "default_restrictions")]
    pub recipient_restrictions: Vec<String>,
    /// "normalize" | "reject".
    #[serde(default = "default_bare_newline")]
    pub bare_newline: String,
    /// Expect a PROXY protocol header.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// Milliseconds to wait for client input before the greeting
    /// (Sendmail's `greet_pause`, postscreen's pregreet test). A client that
    /// talks first gets `554 5.5.0 Error: SMTP protocol synchronization` and
    /// is disconnected. 0 (the default): only input already there when the
    /// connection is taken is checked. Not used with `tls = "wrapper"`,
    /// where the client speaks first (its TLS ClientHello).
    #[serde(default)]
    pub greet_pause_ms: u64,
}

fn default_smtp_tls() -> String {
    "may".into()
}
fn default_true() -> bool {
    true
}
fn default_restrictions() -> Vec<String> {
    [
        "permit_mynetworks",
        "permit_sasl_authenticated",
        "reject_unauth_destination",
    ]
    .map(String::from)
    .to_vec()
}
fn default_bare_newline() -> String {
    "normalize".into()
}

/// One `[[pop3]]` or `[[imap]]` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalListener {
    /// Address to bind.
    pub listen: String,
    /// "starttls" | "wrapper" | "none".
    #[serde(default = "default_retrieval_tls")]
    pub tls: String,
    /// `false` (default), `true`, or `"trusted"` (from mynetworks only).
    #[serde(default)]
    pub allow_cleartext_auth: CleartextAuth,
    /// Expect a PROXY protocol header.
    #[serde(default)]
    pub proxy_protocol: bool,
}

fn default_retrieval_tls() -> String {
    "starttls".into()
}

/// `allow_cleartext_auth`: a boolean or `"trusted"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleartextAuth {
    /// `false` (the default): refused on cleartext channels.
    #[default]
    Never,
    /// `true`: allowed from anywhere (for tests).
    Always,
    /// `"trusted"`: allowed from mynetworks only.
    Trusted,
}

impl<'de> Deserialize<'de> for CleartextAuth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CleartextAuth;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("allow_cleartext_auth = true, false or \"trusted\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<CleartextAuth, E> {
                Ok(if v {
                    CleartextAuth::Always
                } else {
                    CleartextAuth::Never
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CleartextAuth, E> {
                match v {
                    "trusted" => Ok(CleartextAuth::Trusted),
                    _ => Err(E::custom(format!(
                        "allow_cleartext_auth = {v:?}: expected true, false or \"trusted\""
                    ))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Config {
    /// Parse and validate a configuration file; relative paths are made
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read configuration: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parse and validate configuration text; relative paths are joined to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config =
            serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                // One line: the key (when the error is about one), the problem, the line.
                let message = one_line(inner.message());
                let line = inner.span().map(|s| line_hint(text, s.start)).unwrap_or_default();
                if path == "." || path.is_empty() {
                    ConfigError(format!("{message}{line}"))
                } else {
                    ConfigError(format!("{path}: {message}{line}"))
                }
            })?;
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    /// `myhostname`, or the system's host name when it is not set: the name
    /// the server greets with (and the default DIGEST-MD5 realm).
    pub fn hostname(&self) -> String {
        self.myhostname
            .clone()
            .unwrap_or_else(super::bootstrap::system_hostname)
    }

    /// The DIGEST-MD5 realm the server checks `{DIGEST-MD5}` hashes with:
    /// `[auth] realm`, else [`Config::hostname`]. `mail-server passwd`
    /// hashes with the same realm.
    pub fn digest_realm(&self) -> String {
        self.auth.realm.clone().unwrap_or_else(|| self.hostname())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.state_dir);
        if let Some(tls) = &mut self.tls {
            join(&mut tls.cert_file);
            join(&mut tls.key_file);
        }
        if let Some(p) = &mut self.auth.passwd_file {
            join(p);
        }
        if let Some(p) = &mut self.auth.dovecot_socket {
            join(p);
        }
        if let Some(s) = &mut self.auth_server {
            join(&mut s.socket);
        }
    }

    /// Check every value whose type alone does not make it valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, net) in self.mynetworks.iter().enumerate() {
            net.parse::<Cidr>()
                .map_err(|e| err(&format!("mynetworks[{i}]"), e))?;
        }
        for (key, value) in [
            ("limits.max_connections", self.limits.max_connections as u64),
            (
                "limits.max_connections_per_ip",
                self.limits.max_connections_per_ip as u64,
            ),
            ("limits.smtp_idle_timeout", self.limits.smtp_idle_timeout),
            ("limits.pop3_idle_timeout", self.limits.pop3_idle_timeout),
            ("limits.imap_idle_timeout", self.limits.imap_idle_timeout),
        ] {
            if value == 0 {
                return Err(err(key, "must be greater than 0"));
            }
        }
        if (1..1000).contains(&self.limits.smtp_max_text_line) {
            return Err(err(
                "limits.smtp_max_text_line",
                "must be at least 1000 (RFC 5321), or 0 for no limit",
            ));
        }
        if !matches!(self.delivery.as_str(), "maildir" | "discard") {
            return Err(err(
                "delivery",
                format!("{:?} is not \"maildir\" or \"discard\"", self.delivery),
            ));
        }
        if self.message_size_limit == 0 {
            return Err(err("message_size_limit", "must be greater than 0"));
        }
        if let Some(tls) = &self.tls {
            if !matches!(tls.min_version.as_str(), "1.2" | "1.3") {
                return Err(err(
                    "tls.min_version",
                    format!("{:?} is not \"1.2\" or \"1.3\"", tls.min_version),
                ));
            }
        }
        match self.auth.backend.as_str() {
            "passwd-file" => {
                if self.auth.passwd_file.is_none() {
                    return Err(err(
                        "auth.passwd_file",
                        "required when auth.backend = \"passwd-file\"",
                    ));
                }
            }
            "pam" => {}
            "dovecot" => {
                if self.auth.dovecot_socket.is_none() {
                    return Err(err(
                        "auth.dovecot_socket",
                        "required when auth.backend = \"dovecot\"",
                    ));
                }
            }
            other => {
                return Err(err(
                    "auth.backend",
                    format!("{other:?} is not \"passwd-file\", \"pam\" or \"dovecot\""),
                ))
            }
        }
        for (i, m) in self.auth.mechanisms.iter().enumerate() {
            match mail_sasl::Mechanism::from_name(m.as_bytes()) {
                None => {
                    return Err(err(
                        &format!("auth.mechanisms[{i}]"),
                        format!("unknown mechanism {m:?}"),
                    ))
                }
                Some(mail_sasl::Mechanism::Anonymous) => {
                    return Err(err(
                        &format!("auth.mechanisms[{i}]"),
                        "ANONYMOUS is never accepted",
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(s) = &self.auth_server {
            u32::from_str_radix(s.mode.trim_start_matches("0o"), 8)
                .map_err(|_| err("auth_server.mode", format!("{:?} is not an octal mode", s.mode)))?;
        }
        let mut any_tls = false;
        for (i, l) in self.smtp.iter().enumerate() {
            let key = format!("smtp[{i}]");
            parse_listen(&l.listen).map_err(|e| err(&format!("{key}.listen"), e))?;
            if !matches!(l.tls.as_str(), "none" | "may" | "encrypt" | "wrapper") {
                return Err(err(
                    &format!("{key}.tls"),
                    format!("{:?} is not none, may, encrypt or wrapper", l.tls),
                ));
            }
            any_tls |= l.tls != "none";
            if !matches!(l.bare_newline.as_str(), "normalize" | "reject") {
                return Err(err(
                    &format!("{key}.bare_newline"),
                    format!("{:?} is not normalize or reject", l.bare_newline),
                ));
            }
            for (j, r) in l.recipient_restrictions.iter().enumerate() {
                if restriction(r).is_none() {
                    return Err(err(
                        &format!("{key}.recipient_restrictions[{j}]"),
                        format!(
                            "unknown restriction {r:?} (known: {})",
                            RESTRICTIONS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            open_relay_guard(&l.recipient_restrictions)
                .map_err(|problem| err(&format!("{key}.recipient_restrictions"), problem))?;
        }
        for (proto, listeners) in [("pop3", &self.pop3), ("imap", &self.imap)] {
            for (i, l) in listeners.iter().enumerate() {
                let key = format!("{proto}[{i}]");
                parse_listen(&l.listen).map_err(|e| err(&format!("{key}.listen"), e))?;
                if !matches!(l.tls.as_str(), "none" | "starttls" | "wrapper") {
                    return Err(err(
                        &format!("{key}.tls"),
                        format!("{:?} is not starttls, wrapper or none", l.tls),
                    ));
                }
                any_tls |= l.tls != "none";
            }
        }
        if any_tls && self.tls.is_none() {
            return Err(err(
                "tls",
                "a listener uses TLS but [tls] cert_file/key_file are not set",
            ));
        }
        Ok(())
    }
}

/// Restrictions `recipient_restrictions` understands (Postfix names).
pub const RESTRICTIONS: &[(&str, Restriction)] = &[
    ("permit_mynetworks", Restriction::PermitMynetworks),
    ("permit_sasl_authenticated", Restriction::PermitSaslAuthenticated),
    ("reject_unauth_destination", Restriction::RejectUnauthDestination),
    (
        "reject_sender_login_mismatch",
        Restriction::RejectSenderLoginMismatch,
    ),
    ("permit", Restriction::Permit),
    ("reject", Restriction::Reject),
];

/// The restriction called `name`, if known.
pub fn restriction(name: &str) -> Option<Restriction> {
    RESTRICTIONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// Postfix refuses to start when `smtpd_recipient_restrictions` cannot
/// reject a relay attempt; so do we. The list is evaluated in order and the
/// first `permit`/`reject` decides, so an unconditional `permit` before any
/// `reject_unauth_destination`/`reject` lets everyone relay as well.
fn open_relay_guard(restrictions: &[String]) -> Result<(), String> {
    for name in restrictions {
        match name.as_str() {
            "reject_unauth_destination" | "reject" => return Ok(()),
            "permit" => {
                return Err(
                    "\"permit\" comes before any \"reject_unauth_destination\" or \"reject\": \
                     this would be an open relay"
                        .into(),
                )
            }
            _ => {}
        }
    }
    Err(
        "contains neither \"reject_unauth_destination\" nor \"reject\": this would be an open relay \
         (Postfix refuses such a list too)"
            .into(),
    )
}

/// A possibly multi-line message as one line (its trimmed lines joined by
/// `; `): configuration errors are one line.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn line_hint(text: &str, offset: usize) -> String {
    let line = text[..offset.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

/// Parse `host:port` (IPv6 as `[::1]:25`).
pub fn parse_listen(listen: &str) -> Result<SocketAddr, String> {
    listen
        .parse()
        .map_err(|_| format!("{listen:?} is not an address like 127.0.0.1:25 or [::1]:25"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
myhostname = "mail.example.test"
state_dir = "/var/lib/mail-server"
mydestination = ["example.test"]
relay_domains = []
mynetworks = ["127.0.0.0/8", "::1/128"]
message_size_limit = 20480000

[tls]
cert_file = "certs/mail.example.test.crt"
key_file  = "certs/mail.example.test.key"
min_version = "1.2"

[auth]
backend = "passwd-file"
passwd_file = "users"
mechanisms = ["PLAIN", "LOGIN", "CRAM-MD5"]
realm = "example.test"
failure_delay_ms = 2000
max_failures_per_connection = 3

[auth_server]
socket = "private/auth"
mode = "0660"
user = "postfix"
group = "postfix"

[[smtp]]
listen = "127.0.0.1:25"
tls = "may"
tls_auth_only = true
broken_sasl_auth_clients = true
require_auth = false
recipient_restrictions = ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"]
bare_newline = "normalize"
proxy_protocol = false

[[smtp]]
listen = "127.0.0.1:587"
tls = "encrypt"
require_auth = true

[[pop3]]
listen = "127.0.0.1:110"
tls = "starttls"
allow_cleartext_auth = false

[[imap]]
listen = "127.0.0.1:993"
tls = "wrapper"
allow_cleartext_auth = "trusted"
"#;

    #[test]
    fn the_server_md_example_parses_with_paths_resolved() {
        let c = Config::parse(FULL, Path::new("/etc/mail")).unwrap();
        assert_eq!(c.smtp.len(), 2);
        assert_eq!(
            c.tls.unwrap().key_file,
            Path::new("/etc/mail/certs/mail.example.test.key")
        );
        assert_eq!(c.state_dir, Path::new("/var/lib/mail-server"));
        assert_eq!(c.auth.passwd_file.unwrap(), Path::new("/etc/mail/users"));
        assert_eq!(c.imap[0].allow_cleartext_auth, CleartextAuth::Trusted);
        assert_eq!(c.pop3[0].allow_cleartext_auth, CleartextAuth::Never);
        assert!(c.smtp[1].broken_sasl_auth_clients, "defaults apply per listener");
    }

    fn problem(text: &str) -> String {
        Config::parse(text, Path::new("/x")).unwrap_err().0
    }

    #[test]
    fn errors_name_the_key() {
        assert!(
            problem("mynetworks = [\"10.0.0.0/33\"]\n[auth]\npasswd_file=\"u\"")
                .starts_with("mynetworks[0]:")
        );
        assert!(problem("[auth]\nbackend = \"ldap\"").starts_with("auth.backend:"));
        assert!(problem("[auth]\npasswd_file=\"u\"\nmechanisms=[\"ANONYMOUS\"]")
            .starts_with("auth.mechanisms[0]:"));
        assert!(
            problem("[auth]\npasswd_file=\"u\"\n[[smtp]]\nlisten=\"nowhere\"\ntls=\"none\"")
                .starts_with("smtp[0].listen:")
        );
        assert!(problem("[auth]\npasswd_file=\"u\"\n[[smtp]]\nlisten=\"127.0.0.1:25\"").starts_with("tls:"));
        let unknown = problem("bogus_key = 1");
        assert!(
            unknown.contains("bogus_key") && unknown.contains("line 1"),
            "{unknown}"
        );
        assert!(problem("[auth]\npasswd_file=\"u\"\n[[imap]]\nlisten=\"127.0.0.1:1\"\ntls=\"none\"\nallow_cleartext_auth=\"sometimes\"").contains("allow_cleartext_auth"));
    }

    const SMTP_NONE: &str = "[auth]\npasswd_file=\"u\"\n[[smtp]]\nlisten=\"127.0.0.1:25\"\ntls=\"none\"\n";

    #[test]
    fn a_type_error_is_one_line_naming_the_key() {
        let p = problem(&format!("{SMTP_NONE}tls_auth_only = \"yes\"\n"));
        assert!(p.starts_with("smtp[0].tls_auth_only: "), "{p}");
        assert!(p.contains("expected a boolean") && p.contains("(line 6)"), "{p}");
        assert!(!p.contains('\n'), "{p:?}");
        let p = problem("[limits]\nmax_connections = \"many\"\n");
        assert!(p.starts_with("limits.max_connections: "), "{p}");
        assert!(!p.contains('\n'), "{p:?}");
    }

    #[test]
    fn text_line_limit_is_1000_by_default_at_least_1000_or_off() {
        let c = Config::parse(SMTP_NONE, Path::new("/x")).unwrap();
        assert_eq!(c.limits.smtp_max_text_line, 1000);
        for (value, ok) in [(0, true), (1000, true), (4096, true), (999, false), (1, false)] {
            let text = format!("[limits]\nsmtp_max_text_line = {value}\n{SMTP_NONE}");
            match Config::parse(&text, Path::new("/x")) {
                Ok(c) => assert!(ok && c.limits.smtp_max_text_line == value, "{value}"),
                Err(e) => assert!(
                    !ok && e.0.starts_with("limits.smtp_max_text_line: "),
                    "{value}: {}",
                    e.0
                ),
            }
        }
    }

    #[test]
    fn a_syntax_error_is_one_line_with_its_line_number() {
        for text in [
            "myhostname = \"unterminated\n[auth]\npasswd_file=\"u\"\n",
            "[auth\npasswd_file=\"u\"\n",
            "myhostname = \n",
            "[auth]\npasswd_file=\"u\"\npasswd_file=\"v\"\n",
        ] {
            let p = problem(text);
            assert!(!p.contains('\n'), "{text:?} gave {p:?}");
            assert!(p.contains("(line "), "{text:?} gave {p:?}");
        }
        let p = problem("[auth]\npasswd_file=\"u\"\npasswd_file=\"v\"\n");
        assert!(p.contains("(line 3)"), "{p}");
    }

    #[test]
    fn recipient_restrictions_that_cannot_refuse_relaying_are_refused() {
        for list in [
            "[]",
            "[\"permit_mynetworks\"]",
            "[\"permit_mynetworks\", \"permit_sasl_authenticated\"]",
            "[\"permit\", \"reject_unauth_destination\"]",
            "[\"permit_sasl_authenticated\", \"permit\", \"reject\"]",
        ] {
            let p = problem(&format!("{SMTP_NONE}recipient_restrictions = {list}\n"));
            assert!(
                p.starts_with("smtp[0].recipient_restrictions: ") && p.contains("open relay"),
                "{list}: {p}"
            );
        }
        let second = problem(&format!(
            "{SMTP_NONE}[[smtp]]\nlisten=\"127.0.0.1:26\"\ntls=\"none\"\nrecipient_restrictions=[\"permit_mynetworks\"]\n"
        ));
        assert!(second.starts_with("smtp[1].recipient_restrictions: "), "{second}");
        for list in [
            "[\"permit_mynetworks\", \"reject_unauth_destination\"]",
            "[\"permit_sasl_authenticated\", \"reject\"]",
            "[\"reject_unauth_destination\", \"permit\"]",
            "[\"reject_sender_login_mismatch\", \"permit_mynetworks\", \"permit_sasl_authenticated\", \"reject_unauth_destination\"]",
        ] {
            let text = format!("{SMTP_NONE}recipient_restrictions = {list}\n");
            assert!(Config::parse(&text, Path::new("/x")).is_ok(), "{list}");
        }
        // The default list passes.
        assert!(Config::parse(SMTP_NONE, Path::new("/x")).is_ok());
    }

    #[test]
    fn the_realm_is_the_configured_one_else_myhostname() {
        let c = Config::parse(FULL, Path::new("/x")).unwrap();
        assert_eq!(c.digest_realm(), "example.test");
        let c = Config::parse(
            "myhostname = \"mx.example.test\"\n[auth]\npasswd_file=\"u\"\n",
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(c.digest_realm(), "mx.example.test");
        let c = Config::parse("[auth]\npasswd_file=\"u\"\n", Path::new("/x")).unwrap();
        assert_eq!(c.digest_realm(), crate::server::bootstrap::system_hostname());
    }
}
