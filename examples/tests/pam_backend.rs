//! `PamBackend` against real PAM: a private `pam_pwdfile` service created
//! under /etc/pam.d for the test (needs root; CI runs as root).
#![cfg(feature = "pam")]

use std::path::{Path, PathBuf};
use std::process::Command;

use mail_examples::testing::{in_ci, require_tool, TempDir};
use mail_sasl::pam_backend::PamBackend;
use mail_sasl::{
    CredentialBackend, Exchange, ExchangeContext, Mechanism, MechanismPolicy, MechanismSet, Step,
    VerifyOutcome, VerifyRequest,
};

/// A PAM service file, removed when dropped.
struct PamService {
    name: String,
    path: PathBuf,
}

impl PamService {
    fn create(body: &str) -> PamService {
        let name = format!("mailtest-{:016x}", rand::random::<u64>());
        let path = Path::new("/etc/pam.d").join(&name);
        std::fs::write(&path, body).expect("write /etc/pam.d service file");
        PamService { name, path }
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn pam_pwdfile_installed() -> bool {
    [
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/security",
        "/usr/lib/security",
        "/lib64/security",
    ]
    .iter()
    .chain(
        [
            "/lib/aarch64-linux-gnu/security",
            "/usr/lib/aarch64-linux-gnu/security",
        ]
        .iter(),
    )
    .any(|dir| Path::new(dir).join("pam_pwdfile.so").is_file())
}

/// Root, /etc/pam.d and pam_pwdfile are needed; CI has them all.
fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let ok = root && Path::new("/etc/pam.d").is_dir() && pam_pwdfile_installed();
    if !ok {
        assert!(
            !in_ci(),
            "PAM test needs root, /etc/pam.d and libpam-pwdfile (CI=true)"
        );
        eprintln!("SKIPPED: PAM test needs root, /etc/pam.d and libpam-pwdfile");
    }
    ok
}

fn verify_request(mechanism: Mechanism, user: &str, password: &str) -> VerifyRequest {
    let ctx = ExchangeContext::new("smtp", "localhost", [3; 16]);
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
            let (mut ex, _) = Exchange::start(Mechanism::Login, None, &ctx);
            assert!(matches!(ex.step(user.as_bytes()), Step::Challenge(_)));
            let Step::Verify(request) = ex.step(password.as_bytes()) else {
                panic!("LOGIN")
            };
            request
        }
        other => panic!("{other} is not a plaintext mechanism"),
    }
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
    let service = PamService::create(&format!(
        "auth    required pam_pwdfile.so pwdfile={} nodelay\naccount required pam_permit.so\n",
        passwd.display()
    ));
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
