//! Credential backends.

use crate::{MechanismSet, VerifyOutcome, VerifyRequest};

/// What a backend can verify, which decides what mechanisms are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendCapabilities {
    /// Can check a plaintext password (PLAIN, LOGIN).
    pub plaintext: bool,
    /// Mechanisms needing a stored secret that this backend can serve
    /// (CRAM-MD5 needs `{PLAIN}` or `{CRAM-MD5}`, DIGEST-MD5 `{PLAIN}` or `{DIGEST-MD5}`).
    pub secret_mechanisms: MechanismSet,
}

/// A place passwords are checked: a passwd-file, PAM, a Dovecot auth socket.
///
/// `verify` may block (PAM, a socket round trip): drivers call it off the
/// event loop (e.g. `tokio::task::spawn_blocking`) and hand the outcome to
/// [`crate::Exchange::verified`].
pub trait CredentialBackend: Send + Sync {
    /// What this backend can verify.
    fn capabilities(&self) -> BackendCapabilities;

    /// Check a request. Unknown users and wrong passwords give the same
    /// [`VerifyOutcome::Failure`] after the same work.
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome;
}
