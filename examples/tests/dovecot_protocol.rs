//! Our Dovecot auth *client* against a real Dovecot auth process
//! (`dovecot -F` with a private configuration and a passwd-file passdb).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mail_examples::testing::{require_tool, ChildGuard, TempDir};
use mail_sasl::dovecot::{AuthParams, ClientEvent, DovecotAnswer, DovecotAuthClient, DovecotSocketBackend};
use mail_sasl::passwd_file::{hash_password, Scheme};
use mail_sasl::{
    CredentialBackend, Exchange, ExchangeContext, Mechanism, MechanismPolicy, Step, VerifyOutcome,
};

/// A running Dovecot; SIGTERM then SIGKILL when dropped.
struct Dovecot {
    guard: ChildGuard,
    socket: PathBuf,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid = self.guard.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn start_dovecot() -> Option<Dovecot> {
    let dovecot = require_tool("dovecot")?;
    let dir = TempDir::new("dovecot");
    let d = dir.path();
    let socket = d.join("auth-client");
    let log = d.join("dovecot.log");
    let bob_hash = hash_password(Scheme::Sha512Crypt, "bob", "hunter2", "").expect("hash");
    std::fs::write(
        d.join("users"),
        format!("alice:{{PLAIN}}secret\nbob:{bob_hash}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("home")).unwrap();
    let config = format!(
        "base_dir = {d}/run\n\
         state_dir = {d}/state\n\
         listen = 127.0.0.1\n\
         protocols =\n\
         ssl = no\n\
         log_path = {log}\n\
         first_valid_uid = 0\n\
         default_internal_user = root\n\
         default_internal_group = root\n\
         default_login_user = root\n\
         auth_mechanisms = plain login cram-md5\n\
         auth_failure_delay = 0\n\
         passdb {{\n  driver = passwd-file\n  args = {d}/users\n}}\n\
         userdb {{\n  driver = static\n  args = uid=0 gid=0 home={d}/home\n}}\n\
         service auth {{\n  unix_listener {socket} {{\n    mode = 0666\n  }}\n}}\n",
        d = d.display(),
        log = log.display(),
        socket = socket.display(),
    );
    let conf = d.join("dovecot.conf");
    std::fs::write(&conf, config).unwrap();
    let guard = ChildGuard::spawn(
        Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    )
    .expect("start dovecot");
    let deadline = Instant::now() + Duration::from_secs(15);
    while UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "dovecot did not create {}: {}",
            socket.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Dovecot {
        guard,
        socket,
        log,
        _dir: dir,
    })
}

/// Run a real exchange of `mechanism` and return its verification request.
fn verify_request(mechanism: Mechanism, user: &str, password: &str) -> mail_sasl::VerifyRequest {
    let ctx = ExchangeContext::new("smtp", "localhost", [1; 16]);
    match mechanism {
        Mechanism::Plain => {
            let ir = format!("\0{user}\0{password}");
            let (_, step) = Exchange::start(Mechanism::Plain, Some(ir.as_bytes()), &ctx);
            let Step::Verify(request) = step else {
                panic!("PLAIN: {step:?}")
            };
            request
        }
        Mechanism::Login => {
            let (mut ex, step) = Exchange::start(Mechanism::Login, None, &ctx);
            assert!(matches!(step, Step::Challenge(_)), "{step:?}");
            assert!(matches!(ex.step(user.as_bytes()), Step::Challenge(_)));
            let Step::Verify(request) = ex.step(password.as_bytes()) else {
                panic!("LOGIN")
            };
            request
        }
        other => panic!("{other} is not a plaintext mechanism"),
    }
}

fn log_of(dovecot: &Dovecot) -> String {
    std::fs::read_to_string(&dovecot.log).unwrap_or_default()
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
