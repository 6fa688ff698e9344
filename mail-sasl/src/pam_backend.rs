//! PAM credential backend (feature `pam`).
//!
//! PAM checks plaintext passwords only, so only PLAIN and LOGIN can be served
//! (see [`crate::MechanismPolicy::offered`]). [`PamBackend::verify`] blocks
//! for as long as the PAM modules take (`pam_unix` sleeps about 2 s after a
//! failure): call it off the event loop.
//!
//! ```no_run
//! use mail_sasl::pam_backend::PamBackend;
//! use mail_sasl::CredentialBackend;
//!
//! let backend = PamBackend::new("smtp");
//! assert!(backend.capabilities().plaintext);
//! ```

use crate::{BackendCapabilities, CredentialBackend, MechanismSet, VerifyOutcome, VerifyRequest};
use pam::PamReturnCode;

/// Checks passwords with PAM (`pam_authenticate` + `pam_acct_mgmt`) under
/// one PAM service name (the file `/etc/pam.d/<service>`).
#[derive(Debug, Clone)]
pub struct PamBackend {
    service: String,
}

impl PamBackend {
    /// A backend using the PAM service `service` (e.g. `smtp`, `dovecot`).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    /// The PAM service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Authenticate `user` with `password`; the raw PAM return code on failure.
    fn authenticate(&self, user: &str, password: &str) -> Result<(), PamReturnCode> {
        let mut client = pam::Client::with_password(&self.service).map_err(|e| e.0)?;
        client.conversation_mut().set_credentials(user, password);
        client.authenticate().map_err(|e| e.0)
    }
}

/// Whether a PAM return code means "these credentials are not good" (as
/// opposed to "PAM could not decide").
fn is_credential_failure(code: PamReturnCode) -> bool {
    matches!(
        code,
        PamReturnCode::Auth_Err
            | PamReturnCode::User_Unknown
            | PamReturnCode::Cred_Insufficient
            | PamReturnCode::MaxTries
            | PamReturnCode::Perm_Denied
            | PamReturnCode::Acct_Expired
            | PamReturnCode::New_Authtok_Reqd
            | PamReturnCode::AuthTok_Expired
            | PamReturnCode::Cred_Expired
    )
}

impl CredentialBackend for PamBackend {
    fn capabilities(&self) -> BackendCapabilities {
        BackendCapabilities {
            plaintext: true,
            secret_mechanisms: MechanismSet::empty(),
        }
    }

    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        let Some(password) = request.password() else {
            // PAM cannot check CRAM-MD5 / DIGEST-MD5 proofs.
            return VerifyOutcome::Failure;
        };
        // PAM takes C strings: a NUL inside would truncate the value.
        if request.authcid.contains('\0') || password.contains('\0') {
            return VerifyOutcome::Failure;
        }
        if let Some(authzid) = &request.authzid {
            // PAM has no notion of proxy authorization.
            if authzid != &request.authcid {
                return VerifyOutcome::Failure;
            }
        }
        match self.authenticate(&request.authcid, password) {
            Ok(()) => VerifyOutcome::Success { server_proof: None },
            Err(code) if is_credential_failure(code) => VerifyOutcome::Failure,
            Err(_) => VerifyOutcome::Temporary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_codes_fail_and_system_codes_are_temporary() {
        assert!(is_credential_failure(PamReturnCode::Auth_Err));
        assert!(is_credential_failure(PamReturnCode::User_Unknown));
        assert!(!is_credential_failure(PamReturnCode::System_Err));
        assert!(!is_credential_failure(PamReturnCode::Authinfo_Unavail));
        assert!(!is_credential_failure(PamReturnCode::Buf_Err));
    }

    #[test]
    fn plaintext_only() {
        let caps = PamBackend::new("mailtest-none").capabilities();
        assert!(caps.plaintext);
        assert!(caps.secret_mechanisms.is_empty());
    }
}
