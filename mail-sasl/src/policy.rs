//! Which mechanisms are offered, and what repeated failures cost.

use std::time::Duration;

use crate::{BackendCapabilities, Mechanism, MechanismSet};

/// Mechanism availability, computed rather than configured by hand
/// (Postfix `smtpd_sasl_security_options`, `smtpd_tls_auth_only`;
/// Dovecot `auth_mechanisms`, `disable_plaintext_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MechanismPolicy {
    /// Mechanisms the administrator enabled. DIGEST-MD5 is historic
    /// (RFC 6331) and is only offered when listed here.
    pub enabled: MechanismSet,
    /// `noplaintext`: never offer PLAIN/LOGIN, even over TLS.
    pub noplaintext: bool,
    /// TLS-only authentication: over cleartext, offer no plaintext mechanism.
    pub tls_auth_only: bool,
}

impl Default for MechanismPolicy {
    fn default() -> Self {
        Self {
            enabled: MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]),
            noplaintext: false,
            tls_auth_only: true,
        }
    }
}

impl MechanismPolicy {
    /// The mechanisms to advertise (and accept) on a channel, given what the
    /// backend can verify. ANONYMOUS is never offered (`noanonymous` is not optional).
    pub fn offered(&self, backend: BackendCapabilities, secure_channel: bool) -> MechanismSet {
        self.enabled.filter(|m| {
            if m == Mechanism::Anonymous {
                return false;
            }
            if m.is_plaintext() {
                backend.plaintext && !self.noplaintext && (secure_channel || !self.tls_auth_only)
            } else if m.needs_stored_secret() {
                backend.secret_mechanisms.contains(m)
            } else {
                false
            }
        })
    }
}

/// Brute-force limits: returned as data, never slept on inside a state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Delay before answering a failed attempt (default 2 s).
    pub delay: Duration,
    /// Failed attempts allowed per connection before it is closed (default 3).
    pub max_failures: u32,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            delay: Duration::from_secs(2),
            max_failures: 3,
        }
    }
}

/// What the driver must do after a failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Wait this long before writing the failure reply.
    Delay(Duration),
    /// Wait this long, write the failure reply, then close the connection
    /// (SMTP `421 4.7.0`, IMAP `BYE`, POP3 `-ERR` and close).
    DelayThenClose(Duration),
}

/// Counts failed authentications on one connection.
#[derive(Debug, Clone)]
pub struct FailureTracker {
    policy: FailurePolicy,
    failures: u32,
}

impl FailureTracker {
    /// A tracker with no failures yet.
    pub fn new(policy: FailurePolicy) -> Self {
        Self { policy, failures: 0 }
    }

    /// Record one failure and say what to do.
    pub fn record_failure(&mut self) -> FailureAction {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.policy.max_failures {
            FailureAction::DelayThenClose(self.policy.delay)
        } else {
            FailureAction::Delay(self.policy.delay)
        }
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_ONLY: BackendCapabilities = BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::empty(),
    };

    fn all_secrets() -> BackendCapabilities {
        BackendCapabilities {
            plaintext: true,
            secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5, Mechanism::DigestMd5]),
        }
    }

    #[test]
    fn plaintext_hidden_on_cleartext_with_tls_auth_only() {
        let policy = MechanismPolicy::default();
        assert_eq!(policy.offered(all_secrets(), false).to_string(), "CRAM-MD5");
        assert_eq!(
            policy.offered(all_secrets(), true).to_string(),
            "PLAIN LOGIN CRAM-MD5"
        );
    }

    #[test]
    fn pam_like_backend_gets_no_secret_mechanisms() {
        let policy = MechanismPolicy {
            enabled: MechanismSet::from_slice(&Mechanism::ALL),
            ..MechanismPolicy::default()
        };
        assert_eq!(policy.offered(PLAIN_ONLY, true).to_string(), "PLAIN LOGIN");
        assert!(policy.offered(PLAIN_ONLY, false).is_empty());
    }

    #[test]
    fn anonymous_never_offered_and_digest_only_when_enabled() {
        let all = MechanismPolicy {
            enabled: MechanismSet::from_slice(&Mechanism::ALL),
            noplaintext: false,
            tls_auth_only: false,
        };
        assert_eq!(
            all.offered(all_secrets(), false).to_string(),
            "PLAIN LOGIN CRAM-MD5 DIGEST-MD5"
        );
        assert!(!MechanismPolicy::default()
            .offered(all_secrets(), true)
            .contains(Mechanism::DigestMd5));
        let noplain = MechanismPolicy {
            noplaintext: true,
            ..all
        };
        assert_eq!(
            noplain.offered(all_secrets(), true).to_string(),
            "CRAM-MD5 DIGEST-MD5"
        );
    }

    #[test]
    fn failures_delay_then_close() {
        let mut t = FailureTracker::new(FailurePolicy::default());
        assert_eq!(t.record_failure(), FailureAction::Delay(Duration::from_secs(2)));
        assert_eq!(t.record_failure(), FailureAction::Delay(Duration::from_secs(2)));
        assert_eq!(
            t.record_failure(),
            FailureAction::DelayThenClose(Duration::from_secs(2))
        );
    }
}
