//! The one error type of `mail-tls`.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while configuring TLS or running a
/// [`Secured`](crate::Secured) connection. Messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate, key or CA file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A private key file may be read (or changed) by users other than its owner.
    #[error(
        "private key {path} is {what} by group/other (mode {mode:04o}); run chmod 600 {path}",
        path = path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// "readable" or "writable".
        what: &'static str,
    },

    /// No certificate was found in a PEM source.
    #[error("no certificate (-----BEGIN CERTIFICATE-----) found in {source_name}")]
    NoCertificate {
        /// File name or "PEM string".
        source_name: String,
    },

    /// No private key was found in a PEM source.
    #[error("no private key (PKCS#8, PKCS#1 or SEC1 PEM block) found in {source_name}")]
    NoPrivateKey {
        /// File name or "PEM string".
        source_name: String,
    },

    /// A PEM block could not be decoded.
    #[error("malformed PEM in {source_name}: {source}")]
    Pem {
        /// File name or "PEM string".
        source_name: String,
        /// The decoder's complaint.
        source: io::Error,
    },

    /// The private key is unusable or does not belong to the certificate.
    #[error("certificate/key {source_name}: {source}")]
    CertKey {
        /// File name(s) or "PEM string".
        source_name: String,
        /// What rustls said.
        source: rustls::Error,
    },

    /// [`ServerTlsBuilder::build`](crate::ServerTlsBuilder::build) without any certificate.
    #[error(
        "no server certificate configured: give a default certificate (and optionally SNI certificates)"
    )]
    NoServerCertificate,

    /// An SNI or certificate name is not a valid DNS name or IP address.
    #[error("invalid server name {0:?}: expected a DNS name (optionally *.wildcard) or an IP address")]
    InvalidName(String),

    /// A TLS version name that is not `1.2` or `1.3`.
    #[error("unsupported TLS version {0:?}: use \"1.2\" or \"1.3\" (older versions are never accepted)")]
    InvalidVersion(String),

    /// The client-certificate CA list could not be turned into a verifier.
    #[error("client certificate CA: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),

    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    CertGen(#[from] rcgen::Error),

    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),

    /// The peer broke the TLS protocol (bad record, alert, failed handshake).
    /// The alert for the peer is in [`Secured::take_output`](crate::Secured::take_output);
    /// write it, then close the connection.
    #[error("TLS error: {0}")]
    Protocol(rustls::Error),

    /// A client sent plaintext where a TLS ClientHello was expected (an
    /// implicit-TLS port such as 465/993/995, or bytes injected right after
    /// STARTTLS). It gets no plaintext reply.
    #[error("client sent plaintext where a TLS handshake was expected (first byte 0x{first_byte:02x}); close the connection")]
    PlaintextOnTlsPort {
        /// The first byte received.
        first_byte: u8,
    },

    /// The session accepted STARTTLS but the wrapper has no TLS configuration:
    /// configure the session so that it does not offer STARTTLS, or give
    /// [`Secured::starttls`](crate::Secured::starttls) a [`ServerTls`](crate::ServerTls).
    #[error("the session accepted STARTTLS but no TLS certificate is configured")]
    StartTlsUnavailable,
}
