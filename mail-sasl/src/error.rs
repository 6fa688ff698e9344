//! The crate's error type.

use std::path::PathBuf;

/// Errors from configuring or running a credential backend or the Dovecot
/// auth protocol. Authentication *failures* are not errors: they are
/// [`crate::Failure`] / [`crate::VerifyOutcome`] values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A passwd-file line could not be parsed.
    #[error("{path}:{line}: {reason}")]
    PasswdFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A password scheme is unknown or its hash is malformed.
    #[error("password scheme {scheme}: {reason}")]
    Scheme {
        /// The scheme name, e.g. `SHA512-CRYPT`.
        scheme: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading a file or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or socket.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A Dovecot auth protocol peer sent something this side cannot accept.
    #[error("Dovecot auth protocol: {0}")]
    Protocol(String),
    /// PAM could not be initialised or answered with a system error.
    #[error("PAM: {0}")]
    Pam(String),
}
