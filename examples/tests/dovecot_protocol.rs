//! Our Dovecot auth *client* against a real Dovecot auth process
//! (`dovecot -F` with a private configuration and a passwd-file passdb).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use mail_examples::testing::{plaintext_verify_request, DovecotAuth as Dovecot, TempDir};
use mail_sasl::dovecot::{AuthParams, ClientEvent, DovecotAnswer, DovecotAuthClient, DovecotSocketBackend};
use mail_sasl::passwd_file::{hash_password, Scheme};
use mail_sasl::{CredentialBackend, Mechanism, MechanismPolicy, VerifyOutcome};

fn start_dovecot() -> Option<Dovecot> {
    let bob_hash = hash_password(Scheme::Sha512Crypt, "bob", "hunter2", "").expect("hash");
    Dovecot::start(&format!("alice:{{PLAIN}}secret\nbob:{bob_hash}\n"))
}

fn verify_request(mechanism: Mechanism, user: &str, password: &str) -> mail_sasl::VerifyRequest {
    plaintext_verify_request(mechanism, user, password)
}

fn log_of(dovecot: &Dovecot) -> String {
    dovecot.log_text()
}

#[test]
fn socket_backend_against_real_dovecot() {
    let Some(dovecot) = start_dovecot() else { return };
    let backend = DovecotSocketBackend::new(&dovecot.socket).with_timeout(Duration::from_secs(10));

    // What this backend can serve: plaintext mechanisms only.
    let offered = MechanismPolicy {
        enabled: mail_sasl::MechanismSet::from_slice(&Mechanism::ALL),
        noplaintext: false,
        tls_auth_only: true,
    }
    .offered(backend.capabilities(), true);
    assert_eq!(offered.to_string(), "PLAIN LOGIN");

    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let ok = backend.verify(&verify_request(mechanism, "alice", "secret"));
        assert_eq!(
            ok,
            VerifyOutcome::Success { server_proof: None },
            "{mechanism} alice; log:\n{}",
            log_of(&dovecot)
        );
        let wrong = backend.verify(&verify_request(mechanism, "alice", "wrong"));
        assert_eq!(wrong, VerifyOutcome::Failure, "{mechanism} wrong password");
        let unknown = backend.verify(&verify_request(mechanism, "mallory", "secret"));
        assert_eq!(unknown, VerifyOutcome::Failure, "{mechanism} unknown user");
    }
    // Our SHA512-CRYPT hash, checked by Dovecot itself.
    assert_eq!(
        backend.authenticate(None, "bob", "hunter2").unwrap(),
        DovecotAnswer::Success("bob".into()),
        "log:\n{}",
        log_of(&dovecot)
    );
    assert!(matches!(
        backend.authenticate(None, "bob", "Hunter2").unwrap(),
        DovecotAnswer::Failure { temporary: false, .. }
    ));
    // TAB / LF in the user name cannot inject fields: still one failed request.
    assert!(matches!(
        backend
            .authenticate(None, "alice\tuser=root\nAUTH\t2", "secret")
            .unwrap(),
        DovecotAnswer::Failure { temporary: false, .. }
    ));
    // Many checks in a row (one connection each) keep working.
    for _ in 0..20 {
        assert_eq!(
            backend.authenticate(None, "alice", "secret").unwrap(),
            DovecotAnswer::Success("alice".into())
        );
    }
}

#[test]
fn socket_backend_unavailable_is_temporary() {
    let dir = TempDir::new("dovecot-missing");
    let backend = DovecotSocketBackend::new(dir.path().join("no-such-socket"));
    let outcome = backend.verify(&verify_request(Mechanism::Plain, "alice", "secret"));
    assert_eq!(outcome, VerifyOutcome::Temporary);
    let err = backend.authenticate(None, "alice", "secret").unwrap_err();
    assert!(err.to_string().contains("no-such-socket"), "{err}");
}

/// Drive the sans-IO client by hand: handshake, then a LOGIN exchange with CONT.
fn run_client(socket: &Path, script: impl Fn(&mut DovecotAuthClient, ClientEvent) -> Option<bool>) -> bool {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut client = DovecotAuthClient::new(std::process::id());
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        while let Some(event) = client.next_event() {
            if let Some(done) = script(&mut client, event) {
                return done;
            }
        }
        stream.write_all(&client.take_output()).unwrap();
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "dovecot closed the connection");
        client.receive(&buf[..n]);
    }
    panic!("no result after 100 reads");
}

#[test]
fn sans_io_client_handshake_and_login_cont_flow() {
    let Some(dovecot) = start_dovecot() else { return };
    for (password, expect) in [("secret", true), ("wrong", false)] {
        let result = run_client(&dovecot.socket, |client, event| {
            match event {
                ClientEvent::Ready => {
                    let names: Vec<&str> = client.mechanisms().iter().map(|m| m.name.as_str()).collect();
                    assert!(
                        names.contains(&"PLAIN") && names.contains(&"CRAM-MD5"),
                        "{names:?}"
                    );
                    assert!(client
                        .mechanisms()
                        .iter()
                        .find(|m| m.name == "PLAIN")
                        .unwrap()
                        .is_plaintext());
                    assert!(client.server_info().2.is_some(), "COOKIE received");
                    client
                        .start_auth("LOGIN", None, &AuthParams::new("smtp"))
                        .unwrap();
                }
                ClientEvent::Challenge { id, challenge } => {
                    let answer = if challenge.starts_with(b"Username") {
                        "alice"
                    } else {
                        password
                    };
                    client.respond(id, answer.as_bytes()).unwrap();
                }
                ClientEvent::Success { user, .. } => {
                    assert_eq!(user, "alice");
                    return Some(true);
                }
                ClientEvent::Failure { temporary, .. } => {
                    assert!(!temporary);
                    return Some(false);
                }
                other => panic!("unexpected {other:?}"),
            }
            None
        });
        assert_eq!(result, expect, "password {password}; log:\n{}", log_of(&dovecot));
    }
}
