//! `PamBackend` against real PAM: a private `pam_pwdfile` service created
//! under /etc/pam.d for the test (needs root; CI runs as root).
#![cfg(feature = "pam")]

use std::process::Command;

use mail_examples::testing::{
    plaintext_verify_request, require_pam_pwdfile, require_tool, PamService, TempDir,
};
use mail_sasl::pam_backend::PamBackend;
use mail_sasl::{CredentialBackend, Mechanism, MechanismPolicy, MechanismSet, VerifyOutcome};

fn can_run() -> bool {
    require_pam_pwdfile()
}

fn verify_request(mechanism: Mechanism, user: &str, password: &str) -> mail_sasl::VerifyRequest {
    plaintext_verify_request(mechanism, user, password)
}

#[test]
fn pam_pwdfile_service() {
    if !can_run() {
        return;
    }
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = TempDir::new("pam");
    let hash = Command::new(openssl)
        .args(["passwd", "-6", "secret"])
        .output()
        .expect("openssl passwd");
    assert!(hash.status.success());
    let hash = String::from_utf8(hash.stdout).unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, format!("alice:{}\n", hash.trim())).unwrap();
    let service = PamService::pwdfile(&passwd);
    let backend = PamBackend::new(&service.name);

    // PAM checks plaintext only: CRAM-MD5 / DIGEST-MD5 are never offered with it.
    let policy = MechanismPolicy {
        enabled: MechanismSet::from_slice(&Mechanism::ALL),
        noplaintext: false,
        tls_auth_only: true,
    };
    assert_eq!(
        policy.offered(backend.capabilities(), true).to_string(),
        "PLAIN LOGIN"
    );

    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        assert_eq!(
            backend.verify(&verify_request(mechanism, "alice", "secret")),
            VerifyOutcome::Success { server_proof: None },
            "{mechanism} right password"
        );
        assert_eq!(
            backend.verify(&verify_request(mechanism, "alice", "wrong")),
            VerifyOutcome::Failure,
            "{mechanism}"
        );
        assert_eq!(
            backend.verify(&verify_request(mechanism, "bob", "secret")),
            VerifyOutcome::Failure,
            "{mechanism}"
        );
    }
    // Checks from several threads at once (one PAM handle each).
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let backend = backend.clone();
            std::thread::spawn(move || {
                let password = if i % 2 == 0 { "secret" } else { "nope" };
                backend.verify(&verify_request(Mechanism::Plain, "alice", password))
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let expected = if i % 2 == 0 {
            VerifyOutcome::Success { server_proof: None }
        } else {
            VerifyOutcome::Failure
        };
        assert_eq!(t.join().unwrap(), expected);
    }
}

#[test]
fn pam_system_error_is_temporary() {
    if !can_run() {
        return;
    }
    // A module that cannot be loaded: PAM itself fails, not the password.
    let service =
        PamService::create("auth required pam_mailtest_does_not_exist.so\naccount required pam_permit.so\n");
    let backend = PamBackend::new(&service.name);
    assert_eq!(
        backend.verify(&verify_request(Mechanism::Plain, "alice", "secret")),
        VerifyOutcome::Temporary
    );
}
