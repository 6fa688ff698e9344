//! The one IO part of this crate: a blocking [`CredentialBackend`] that asks
//! a Dovecot auth socket (`service auth { unix_listener auth-client }`),
//! driving the sans-IO [`DovecotAuthClient`] over a Unix stream socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::client::{AuthParams, ClientEvent, DovecotAuthClient};
use crate::{BackendCapabilities, CredentialBackend, MechanismSet, SaslError, VerifyOutcome, VerifyRequest};

/// The result of [`DovecotSocketBackend::authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DovecotAnswer {
    /// `OK` with this `user=`.
    Success(String),
    /// `FAIL` (or `OK` without `user=`).
    Failure {
        /// `temp` was set.
        temporary: bool,
        /// `reason=`, if any.
        reason: Option<String>,
    },
}

/// Checks plaintext passwords against a Dovecot auth socket, one short
/// connection per check. Plaintext only: PLAIN and LOGIN can be served.
#[derive(Debug, Clone)]
pub struct DovecotSocketBackend {
    path: PathBuf,
    params: AuthParams,
    timeout: Duration,
}

impl DovecotSocketBackend {
    /// A backend for the socket at `path`, `service=smtp`, `secured`,
    /// `no-penalty`, 10 s timeout.
    ///
    /// `secured` is sent because the caller's [`crate::MechanismPolicy`] has
    /// already decided that plaintext mechanisms are allowed on this channel;
    /// `no-penalty` because the caller applies its own failure delays
    /// ([`crate::FailureTracker`]) and no client address is known here, so
    /// Dovecot's penalty would slow down every user alike. Use
    /// [`with_params`](Self::with_params) to pass the real channel facts
    /// (then Dovecot's penalty applies per `rip=`).
    pub fn new(path: impl AsRef<Path>) -> Self {
        let mut params = AuthParams::new("smtp");
        params.no_penalty = true;
        Self {
            path: path.as_ref().to_path_buf(),
            params,
            timeout: Duration::from_secs(10),
        }
    }

    /// Use these `AUTH` parameters (service, secured, addresses).
    pub fn with_params(mut self, params: AuthParams) -> Self {
        self.params = params;
        self
    }

    /// Give up (temporary failure) after this long per check.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Authenticate with PLAIN. `Err` means the socket could not be used
    /// (not there, timeout, protocol error, PLAIN not offered).
    pub fn authenticate(
        &self,
        authzid: Option<&str>,
        user: &str,
        password: &str,
    ) -> Result<DovecotAnswer, SaslError> {
        let io_err = |source: std::io::Error| SaslError::Io {
            context: format!("Dovecot auth socket {}", self.path.display()),
            source,
        };
        let deadline = Instant::now() + self.timeout;
        let mut stream = UnixStream::connect(&self.path).map_err(io_err)?;
        let mut client = DovecotAuthClient::new(std::process::id());
        let mut request = None;
        let mut buf = [0u8; 4096];
        loop {
            while let Some(event) = client.next_event() {
                match event {
                    ClientEvent::Ready => {
                        if !client.offers("PLAIN") {
                            return Err(SaslError::Protocol("the auth server does not offer PLAIN".into()));
                        }
                        request = Some(client.start_plain(authzid, user, password, &self.params)?);
                    }
                    ClientEvent::Success { id, user } if Some(id) == request => {
                        return Ok(DovecotAnswer::Success(user));
                    }
                    ClientEvent::Failure {
                        id,
                        temporary,
                        reason,
                        ..
                    } if Some(id) == request => {
                        return Ok(DovecotAnswer::Failure { temporary, reason });
                    }
                    ClientEvent::Challenge { .. } => {
                        return Err(SaslError::Protocol(
                            "unexpected CONT for PLAIN with initial response".into(),
                        ));
                    }
                    ClientEvent::ProtocolError(reason) => return Err(SaslError::Protocol(reason)),
                    _ => {}
                }
            }
            let out = client.take_output();
            if !out.is_empty() {
                stream
                    .set_write_timeout(Some(remaining(deadline)?))
                    .map_err(io_err)?;
                stream.write_all(&out).map_err(io_err)?;
            }
            stream
                .set_read_timeout(Some(remaining(deadline)?))
                .map_err(io_err)?;
            let n = stream.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                return Err(SaslError::Protocol(
                    "the auth server closed the connection".into(),
                ));
            }
            client.receive(&buf[..n]);
        }
    }
}

fn remaining(deadline: Instant) -> Result<Duration, SaslError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(SaslError::Io {
            context: "Dovecot auth socket".into(),
            source: std::io::ErrorKind::TimedOut.into(),
        });
    }
    Ok(left)
}

impl CredentialBackend for DovecotSocketBackend {
    fn capabilities(&self) -> BackendCapabilities {
        BackendCapabilities {
            plaintext: true,
            secret_mechanisms: MechanismSet::empty(),
        }
    }

    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        let Some(password) = request.password() else {
            return VerifyOutcome::Failure;
        };
        match self.authenticate(request.authzid.as_deref(), &request.authcid, password) {
            Ok(DovecotAnswer::Success(_)) => VerifyOutcome::Success { server_proof: None },
            Ok(DovecotAnswer::Failure { temporary: true, .. }) => VerifyOutcome::Temporary,
            Ok(DovecotAnswer::Failure { temporary: false, .. }) => VerifyOutcome::Failure,
            Err(_) => VerifyOutcome::Temporary,
        }
    }
}
