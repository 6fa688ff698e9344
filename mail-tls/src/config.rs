//! `ServerTls`: a rustls `ServerConfig` made for mail listeners.
//!
//! Policy, stated once:
//! * TLS 1.2 and TLS 1.3 only (SECURITY.md 7). rustls implements nothing
//!   older, and the version list is given explicitly anyway.
//! * Cipher suites: the `ring` provider's defaults. Every TLS 1.2 suite in it
//!   is ECDHE (forward secrecy; no static-RSA key exchange, no CBC, no RC4,
//!   no 3DES), and TLS 1.3 is always (EC)DHE. The server's order is used
//!   (`ignore_client_order`), so AES-256-GCM is preferred.
//! * Session resumption: a server-side session cache (like Postfix's
//!   `smtpd_tls_session_cache`, default 256 entries) and stateless tickets
//!   from `rustls::crypto::ring::Ticketer` (rotating keys), both on by default.
//! * SNI: several certificates chosen by server name (exact, or one
//!   `*.wildcard` label), with a default for clients that send no SNI or an
//!   unknown name.
//! * Strict ALPN (ALPACA): the listener's protocol (`smtp`, `imap`, `pop3`)
//!   is the only one configured. rustls refuses a ClientHello whose ALPN list
//!   does not contain it with alert 120 `no_application_protocol`; a client
//!   that sends no ALPN extension is accepted.
//! * Optional client certificates verified against a CA
//!   (`WebPkiClientVerifier`, unauthenticated clients allowed unless required).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::certgen::CertAndKey;
use crate::TlsError;

/// The mail protocol a listener speaks, which decides its ALPN identifier
/// (RFC 7301 registry; ALPACA mitigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailProtocol {
    /// SMTP (ALPN `smtp`).
    Smtp,
    /// POP3 (ALPN `pop3`).
    Pop3,
    /// IMAP (ALPN `imap`).
    Imap,
}

impl MailProtocol {
    /// The ALPN protocol identifier.
    pub fn alpn_id(self) -> &'static [u8] {
        match self {
            MailProtocol::Smtp => b"smtp",
            MailProtocol::Pop3 => b"pop3",
            MailProtocol::Imap => b"imap",
        }
    }
}

/// The oldest TLS version a listener accepts (`[tls] min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for TlsVersion {
    type Err = TlsError;

    /// Accepts `1.2`, `1.3`, `TLSv1.2`, `TLSv1.3` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, TlsError> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.strip_prefix("tlsv").unwrap_or(&lower) {
            "1.2" => Ok(TlsVersion::Tls12),
            "1.3" => Ok(TlsVersion::Tls13),
            _ => Err(TlsError::InvalidVersion(s.to_string())),
        }
    }
}

/// The crypto provider used everywhere in this crate: rustls + ring.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration for one mail listener (cheap to clone).
///
/// ```
/// use mail_tls::{self_signed, MailProtocol, ServerTls};
/// let cert = self_signed(&["localhost".into()], 30)?;
/// let tls = ServerTls::from_pem(&cert.cert_pem, &cert.key_pem, MailProtocol::Smtp)?;
/// assert_eq!(tls.config().alpn_protocols, vec![b"smtp".to_vec()]);
/// # Ok::<(), mail_tls::TlsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    protocol: MailProtocol,
}

impl ServerTls {
    /// Start a configuration for a listener speaking `protocol`.
    pub fn builder(protocol: MailProtocol) -> ServerTlsBuilder {
        ServerTlsBuilder::new(protocol)
    }

    /// Certificate chain and private key from PEM files (the key file must be
    /// mode 0600 or stricter), default settings otherwise.
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
        protocol: MailProtocol,
    ) -> Result<Self, TlsError> {
        Self::builder(protocol).cert_files(cert_path, key_path)?.build()
    }

    /// Certificate chain and private key from PEM text, default settings otherwise.
    pub fn from_pem(cert_pem: &str, key_pem: &str, protocol: MailProtocol) -> Result<Self, TlsError> {
        Self::builder(protocol).cert_pem(cert_pem, key_pem)?.build()
    }

    /// From a freshly generated [`CertAndKey`].
    pub fn from_cert_and_key(cert: &CertAndKey, protocol: MailProtocol) -> Result<Self, TlsError> {
        Self::from_pem(&cert.cert_pem, &cert.key_pem, protocol)
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The listener's protocol (its ALPN identifier).
    pub fn protocol(&self) -> MailProtocol {
        self.protocol
    }

    /// A new server-side rustls connection.
    pub fn new_connection(&self) -> Result<ServerConnection, TlsError> {
        ServerConnection::new(self.config.clone()).map_err(TlsError::Config)
    }
}

/// Builder of a [`ServerTls`]; see the module docs for the policy.
#[derive(Debug, Clone)]
pub struct ServerTlsBuilder {
    protocol: MailProtocol,
    default_cert: Option<Arc<CertifiedKey>>,
    sni: Vec<(String, Arc<CertifiedKey>)>,
    client_roots: Option<RootCertStore>,
    require_client_cert: bool,
    session_cache: usize,
    tickets: bool,
    min_version: TlsVersion,
}

impl ServerTlsBuilder {
    fn new(protocol: MailProtocol) -> Self {
        Self {
            protocol,
            default_cert: None,
            sni: Vec::new(),
            client_roots: None,
            require_client_cert: false,
            session_cache: 256,
            tickets: true,
            min_version: TlsVersion::Tls12,
        }
    }

    /// Change the listener protocol (ALPN), e.g. to build the IMAP listener's
    /// configuration from a clone of the SMTP one without reloading files.
    pub fn protocol(mut self, protocol: MailProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The oldest accepted version (default TLS 1.2; nothing older exists here).
    pub fn min_version(mut self, version: TlsVersion) -> Self {
        self.min_version = version;
        self
    }

    /// The default certificate from PEM files: the chain (leaf first) and the
    /// private key, which is refused if group or other may read it.
    pub fn cert_files(
        mut self,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        self.default_cert = Some(load_cert_files(cert_path.as_ref(), key_path.as_ref())?);
        Ok(self)
    }

    /// The default certificate from PEM text.
    pub fn cert_pem(mut self, cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        self.default_cert = Some(load_cert_pem(cert_pem, key_pem, "PEM string")?);
        Ok(self)
    }

    /// A certificate served when the client asks for `server_name` (SNI).
    /// `*.example.com` matches one label (`mail.example.com`).
    pub fn sni_cert_files(
        mut self,
        server_name: &str,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let name = normalize_sni_name(server_name)?;
        self.sni
            .push((name, load_cert_files(cert_path.as_ref(), key_path.as_ref())?));
        Ok(self)
    }

    /// A certificate (PEM text) served when the client asks for `server_name`.
    pub fn sni_cert_pem(
        mut self,
        server_name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Self, TlsError> {
        let name = normalize_sni_name(server_name)?;
        self.sni
            .push((name, load_cert_pem(cert_pem, key_pem, "PEM string")?));
        Ok(self)
    }

    /// Ask clients for a certificate and verify it against the CA(s) in this
    /// PEM file. Clients without a certificate are still accepted unless
    /// [`require_client_cert`](Self::require_client_cert) is set.
    pub fn client_ca_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        let text = read_file(path)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        self.client_ca_pem_named(&text, &path.display().to_string())
    }

    /// Like [`client_ca_file`](Self::client_ca_file) with PEM text.
    pub fn client_ca_pem(self, pem: &str) -> Result<Self, TlsError> {
        self.client_ca_pem_named(pem, "PEM string")
    }

    fn client_ca_pem_named(mut self, pem: &str, source_name: &str) -> Result<Self, TlsError> {
        let certs = parse_certs(pem, source_name)?;
        let roots = self.client_roots.get_or_insert_with(RootCertStore::empty);
        for cert in certs {
            roots.add(cert).map_err(|source| TlsError::CertKey {
                source_name: source_name.to_string(),
                source,
            })?;
        }
        Ok(self)
    }

    /// Refuse clients that present no valid certificate (default: optional).
    pub fn require_client_cert(mut self, required: bool) -> Self {
        self.require_client_cert = required;
        self
    }

    /// Size of the server-side session cache (0 disables it). Default 256.
    pub fn session_cache(mut self, entries: usize) -> Self {
        self.session_cache = entries;
        self
    }

    /// Whether to issue stateless session tickets. Default on.
    pub fn session_tickets(mut self, enabled: bool) -> Self {
        self.tickets = enabled;
        self
    }

    /// Build the configuration.
    pub fn build(self) -> Result<ServerTls, TlsError> {
        let default = match (&self.default_cert, self.sni.first()) {
            (Some(cert), _) => cert.clone(),
            (None, Some((_, cert))) => cert.clone(),
            (None, None) => return Err(TlsError::NoServerCertificate),
        };
        let resolver = SniResolver {
            default,
            by_name: self.sni.into_iter().collect(),
        };
        let provider = provider();
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(TlsError::Config)?;
        let builder = match self.client_roots {
            Some(roots) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if self.require_client_cert {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                builder.with_client_cert_verifier(verifier.build()?)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![self.protocol.alpn_id().to_vec()];
        config.ignore_client_order = true;
        config.session_storage = if self.session_cache > 0 {
            ServerSessionMemoryCache::new(self.session_cache)
        } else {
            Arc::new(NoServerSessionStorage {})
        };
        if self.tickets {
            config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?;
        }
        Ok(ServerTls {
            config: Arc::new(config),
            protocol: self.protocol,
        })
    }
}

/// Chooses the certificate by SNI name, falling back to the default.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl SniResolver {
    fn lookup(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(cert) = self.by_name.get(&name) {
            return Some(cert);
        }
        let (_, parent) = name.split_once('.')?;
        self.by_name.get(&format!("*.{parent}"))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = client_hello.server_name().and_then(|name| self.lookup(name));
        Some(chosen.unwrap_or(&self.default).clone())
    }
}

fn normalize_sni_name(name: &str) -> Result<String, TlsError> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let bare = lower.strip_prefix("*.").unwrap_or(&lower);
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare.parse::<IpAddr>().is_err()
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(lower)
    } else {
        Err(TlsError::InvalidName(name.to_string()))
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let io_err = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(io_err)?;
    Ok(data)
}

/// Read a private key file after checking, on the opened file itself, that
/// neither group nor other has any access to it (the guides' `chmod 600`).
pub(crate) fn read_private_key_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    let io_err = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io_err)?.permissions().mode() & 0o7777;
        let what = if mode & 0o044 != 0 {
            Some("readable")
        } else if mode & 0o033 != 0 {
            Some("writable")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(TlsError::KeyPermissions {
                path: PathBuf::from(path),
                mode,
                what,
            });
        }
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(io_err)?;
    Ok(data)
}

fn load_cert_files(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = read_private_key_file(key_path)?;
    let cert = read_file(cert_path)?;
    let chain = parse_certs(&String::from_utf8_lossy(&cert), &cert_path.display().to_string())?;
    let key = parse_key(&String::from_utf8_lossy(&key), &key_path.display().to_string())?;
    certified_key(
        chain,
        key,
        &format!("{} + {}", cert_path.display(), key_path.display()),
    )
}

fn load_cert_pem(cert_pem: &str, key_pem: &str, source_name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = parse_certs(cert_pem, source_name)?;
    let key = parse_key(key_pem, source_name)?;
    certified_key(chain, key, source_name)
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    source_name: &str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    CertifiedKey::from_der(chain, key, &provider())
        .map(Arc::new)
        .map_err(|source| TlsError::CertKey {
            source_name: source_name.to_string(),
            source,
        })
}

pub(crate) fn parse_certs(pem: &str, source_name: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut BufReader::new(pem.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            source_name: source_name.to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            source_name: source_name.to_string(),
        });
    }
    Ok(certs)
}

fn parse_key(pem: &str, source_name: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut BufReader::new(pem.as_bytes()))
        .map_err(|source| TlsError::Pem {
            source_name: source_name.to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoPrivateKey {
            source_name: source_name.to_string(),
        })
}
