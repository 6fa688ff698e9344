//! Our Dovecot-protocol auth *server* (`dovecot-auth-server`) as the SASL
//! backend of a real Postfix (`smtpd_sasl_type = dovecot`), exercised with
//! swaks and gsasl over SMTP, with and without STARTTLS.

use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mail_examples::testing::{free_port, require_tool, wait_for_port, ChildGuard, TempDir};

const SWAKS_AUTH_FAILED: i32 = 28;

/// A private Postfix instance, stopped (`postfix -c DIR stop`) when dropped.
struct Postfix {
    postfix: PathBuf,
    dir: PathBuf,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let master_pid = std::fs::read_to_string(self.dir.join("queue/pid/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let _ = Command::new(&self.postfix)
            .arg("-c")
            .arg(&self.dir)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Make sure the master is gone before the directory is removed.
        if let Some(pid) = master_pid {
            let proc_dir = PathBuf::from(format!("/proc/{pid}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while proc_dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if proc_dir.exists() {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

/// Fields drop in order: Postfix is stopped and the auth server killed
/// before the directory holding their configuration is removed.
struct Setup {
    port: u16,
    _postfix: Postfix,
    _auth: ChildGuard,
    dir: TempDir,
}

impl Setup {
    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
    fn auth_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("auth.log")).unwrap_or_default()
    }
    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run command")
}

/// Which credential backend the auth server uses.
enum Backend {
    /// A passwd-file with `alice:{PLAIN}secret`.
    PasswdFile,
    /// This PAM service.
    #[cfg_attr(not(feature = "pam"), allow(dead_code))]
    Pam(String),
    /// `mail-server` with an `[auth_server]` section and the same passwd-file.
    MailServer,
}

fn start(backend: Backend) -> Option<Setup> {
    let postfix = require_tool("postfix")?;
    require_tool("swaks")?;
    require_tool("gsasl")?;
    let openssl = require_tool("openssl")?;
    let dir = TempDir::new("postfix-auth");
    let d = dir.path();

    // Users: {PLAIN} serves every mechanism, so CRAM-MD5 and DIGEST-MD5 pass through Postfix too.
    std::fs::write(d.join("users"), "alice:{PLAIN}secret\n").unwrap();
    let socket = d.join("auth");
    let auth_log = std::fs::File::create(d.join("auth.log")).unwrap();
    let backend_args: Vec<std::ffi::OsString> = match backend {
        Backend::PasswdFile => vec!["--passwd-file".into(), d.join("users").into()],
        Backend::Pam(service) => vec!["--pam".into(), service.into()],
        Backend::MailServer => Vec::new(),
    };
    let mut command = if backend_args.is_empty() {
        // The reference server, serving only the auth socket.
        std::fs::write(
            d.join("mail.toml"),
            "myhostname = \"127.0.0.1\"\nstate_dir = \"state\"\n\
             [auth]\npasswd_file = \"users\"\nfailure_delay_ms = 0\n\
             mechanisms = [\"PLAIN\", \"LOGIN\", \"CRAM-MD5\", \"DIGEST-MD5\"]\n\
             [auth_server]\nsocket = \"auth\"\nmode = \"0666\"\n",
        )
        .unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_mail-server"));
        c.arg("--config").arg(d.join("mail.toml"));
        c
    } else {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dovecot-auth-server"));
        c.arg("--socket")
            .arg(&socket)
            .args(&backend_args)
            .args(["--mechanisms", "PLAIN,LOGIN,CRAM-MD5,DIGEST-MD5"])
            // swaks and gsasl name the server 127.0.0.1 in DIGEST-MD5's digest-uri.
            .args(["--hostname", "127.0.0.1", "--failure-delay-ms", "0"]);
        c
    };
    let auth =
        ChildGuard::spawn(command.stdin(Stdio::null()).stderr(auth_log)).expect("start the auth server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "dovecot-auth-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }

    let cert = run(Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(d.join("cert.pem")));
    assert!(
        cert.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&cert.stderr)
    );

    let port = free_port();
    std::fs::create_dir_all(d.join("queue")).unwrap();
    std::fs::create_dir_all(d.join("data")).unwrap();
    // Postfix wants its data directory owned by mail_owner.
    let chown = run(Command::new("chown").arg("postfix").arg(d.join("data")));
    assert!(
        chown.status.success(),
        "chown postfix: {}",
        String::from_utf8_lossy(&chown.stderr)
    );
    let main_cf = format!(
        "compatibility_level = 3.6\n\
         queue_directory = {d}/queue\n\
         data_directory = {d}/data\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         myhostname = mail.example.test\n\
         mydestination =\n\
         smtpd_peername_lookup = no\n\
         maillog_file = {d}/maillog\n\
         maillog_file_prefixes = {d}\n\
         smtpd_sasl_type = dovecot\n\
         smtpd_sasl_path = {socket}\n\
         smtpd_sasl_auth_enable = yes\n\
         smtpd_tls_security_level = may\n\
         smtpd_tls_cert_file = {d}/cert.pem\n\
         smtpd_tls_key_file = {d}/key.pem\n\
         smtpd_tls_auth_only = no\n",
        d = d.display(),
        socket = socket.display(),
    );
    std::fs::write(d.join("main.cf"), main_cf).unwrap();
    let master_cf = format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n\
         pickup unix n - n 60 1 pickup\n\
         cleanup unix n - n - 0 cleanup\n\
         qmgr unix n - n 300 1 qmgr\n\
         tlsmgr unix - - n 1000? 1 tlsmgr\n\
         rewrite unix - - n - - trivial-rewrite\n\
         bounce unix - - n - 0 bounce\n\
         defer unix - - n - 0 bounce\n\
         trace unix - - n - 0 bounce\n\
         verify unix - - n - 1 verify\n\
         flush unix n - n 1000? 0 flush\n\
         proxymap unix - - n - - proxymap\n\
         anvil unix - - n - 1 anvil\n\
         scache unix - - n - 1 scache\n\
         error unix - - n - - error\n\
         retry unix - - n - - error\n\
         discard unix - - n - - discard\n\
         postlog unix-dgram n - n - 1 postlogd\n"
    );
    std::fs::write(d.join("master.cf"), master_cf).unwrap();
    let guard = Postfix {
        postfix: postfix.clone(),
        dir: d.to_path_buf(),
    };
    let started = run(Command::new(&postfix).arg("-c").arg(d).arg("start"));
    assert!(
        started.status.success(),
        "postfix start: {}{}\n{}",
        String::from_utf8_lossy(&started.stdout),
        String::from_utf8_lossy(&started.stderr),
        std::fs::read_to_string(d.join("maillog")).unwrap_or_default()
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_for_port(addr, Duration::from_secs(30)),
        "postfix did not listen on {addr}:\n{}",
        std::fs::read_to_string(d.join("maillog")).unwrap_or_default()
    );
    Some(Setup {
        port,
        _postfix: guard,
        _auth: auth,
        dir,
    })
}

fn swaks(setup: &Setup, tls: bool, mechanism: &str, user: &str, password: &str) -> (i32, String) {
    let mut cmd = Command::new("swaks");
    cmd.args(["--server", &format!("127.0.0.1:{}", setup.port)])
        .args([
            "--auth",
            mechanism,
            "--auth-user",
            user,
            "--auth-password",
            password,
        ])
        .args(["--quit-after", "AUTH", "--timeout", "20"]);
    if tls {
        cmd.arg("--tls");
    }
    let out = run(&mut cmd);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn gsasl(setup: &Setup, cert: &Path, mechanism: &str, user: &str, password: &str) -> (bool, String) {
    let out = run(Command::new("gsasl")
        .args(["--smtp", "--starttls"])
        .arg(format!("--x509-ca-file={}", cert.display()))
        .args(["--mechanism", mechanism, "-a", user, "-p", password])
        .args(["127.0.0.1", &setup.port.to_string()]));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn postfix_uses_our_dovecot_auth_server() {
    let Some(setup) = start(Backend::PasswdFile) else {
        return;
    };
    let context = |what: &str, out: &str| {
        format!(
            "{what}\n--- client\n{out}\n--- auth server\n{}\n--- maillog\n{}",
            setup.auth_log(),
            setup.maillog()
        )
    };

    // Postfix advertises exactly what our handshake offered.
    let (_, ehlo) = swaks(&setup, true, "PLAIN", "alice", "secret");
    assert!(
        ehlo.contains("250-AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5"),
        "{}",
        context("EHLO", &ehlo)
    );

    for mechanism in ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"] {
        // Over STARTTLS (Postfix sends `secured`): every mechanism works.
        let (rc, out) = swaks(&setup, true, mechanism, "alice", "secret");
        assert_eq!(
            rc,
            0,
            "{}",
            context(&format!("swaks {mechanism} right password"), &out)
        );
        assert!(
            out.contains("235 2.7.0 Authentication successful"),
            "{}",
            context(mechanism, &out)
        );
        let (rc, out) = swaks(&setup, true, mechanism, "alice", "wrong");
        assert_eq!(
            rc,
            SWAKS_AUTH_FAILED,
            "{}",
            context(&format!("swaks {mechanism} wrong password"), &out)
        );
        assert!(out.contains("535 5.7.8"), "{}", context(mechanism, &out));
        let (rc, out) = swaks(&setup, true, mechanism, "mallory", "secret");
        assert_eq!(
            rc,
            SWAKS_AUTH_FAILED,
            "{}",
            context(&format!("swaks {mechanism} unknown user"), &out)
        );

        let (ok, out) = gsasl(&setup, &setup.cert(), mechanism, "alice", "secret");
        assert!(
            ok,
            "{}",
            context(&format!("gsasl {mechanism} right password"), &out)
        );
        let (ok, out) = gsasl(&setup, &setup.cert(), mechanism, "alice", "wrong");
        assert!(
            !ok,
            "{}",
            context(&format!("gsasl {mechanism} wrong password"), &out)
        );
    }

    // Without TLS Postfix does not send `secured`: our server refuses the
    // plaintext mechanisms (disable_plaintext_auth) but not CRAM-MD5.
    for mechanism in ["PLAIN", "LOGIN"] {
        let (rc, out) = swaks(&setup, false, mechanism, "alice", "secret");
        assert_eq!(
            rc,
            SWAKS_AUTH_FAILED,
            "{}",
            context(&format!("cleartext {mechanism}"), &out)
        );
        assert!(
            out.contains("Plaintext authentication disallowed"),
            "{}",
            context(mechanism, &out)
        );
    }
    let (rc, out) = swaks(&setup, false, "CRAM-MD5", "alice", "secret");
    assert_eq!(rc, 0, "{}", context("cleartext CRAM-MD5", &out));

    // The auth server saw the logins Postfix forwarded.
    let log = setup.auth_log();
    for mechanism in ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"] {
        assert!(
            log.contains(&format!("smtp: {mechanism} login ok: user=<alice>")),
            "{log}"
        );
    }
    // Postfix logged the failures it got from us, named by method.
    assert!(
        setup.maillog().contains("SASL PLAIN authentication failed"),
        "{}",
        setup.maillog()
    );
}

/// The same through PAM (`pam_pwdfile`): only PLAIN and LOGIN can be
/// served, so Postfix advertises only those.
#[test]
fn postfix_uses_mail_server_auth_socket() {
    let Some(setup) = start(Backend::MailServer) else {
        return;
    };
    let context = |what: &str, out: &str| {
        format!(
            "{what}\n--- client\n{out}\n--- mail-server\n{}\n--- maillog\n{}",
            setup.auth_log(),
            setup.maillog()
        )
    };
    let (_, ehlo) = swaks(&setup, true, "PLAIN", "alice", "secret");
    assert!(
        ehlo.contains("250-AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5"),
        "{}",
        context("EHLO", &ehlo)
    );
    for mechanism in ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"] {
        let (rc, out) = swaks(&setup, true, mechanism, "alice", "secret");
        assert_eq!(
            rc,
            0,
            "{}",
            context(&format!("swaks {mechanism} right password"), &out)
        );
        let (rc, out) = swaks(&setup, true, mechanism, "alice", "wrong");
        assert_eq!(
            rc,
            SWAKS_AUTH_FAILED,
            "{}",
            context(&format!("swaks {mechanism} wrong password"), &out)
        );
    }
    // Without TLS, Postfix does not send `secured`: plaintext mechanisms are refused.
    let (rc, out) = swaks(&setup, false, "PLAIN", "alice", "secret");
    assert_eq!(rc, SWAKS_AUTH_FAILED, "{}", context("PLAIN without TLS", &out));
    assert!(
        setup
            .auth_log()
            .contains("auth: smtp: PLAIN login ok: user=<alice>"),
        "{}",
        setup.auth_log()
    );
}

#[cfg(feature = "pam")]
#[test]
fn postfix_uses_our_dovecot_auth_server_with_pam() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        assert!(
            !mail_examples::testing::in_ci(),
            "the PAM test needs root (CI=true)"
        );
        eprintln!("SKIPPED: the PAM test needs root");
        return;
    }
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let pwdir = TempDir::new("postfix-pam");
    let hash = run(Command::new(openssl).args(["passwd", "-6", "secret"]));
    assert!(hash.status.success());
    let passwd = pwdir.path().join("passwd");
    std::fs::write(
        &passwd,
        format!("alice:{}\n", String::from_utf8_lossy(&hash.stdout).trim()),
    )
    .unwrap();
    let service = PamServiceFile::create(&format!(
        "auth    required pam_pwdfile.so pwdfile={} nodelay\naccount required pam_permit.so\n",
        passwd.display()
    ));
    let Some(setup) = start(Backend::Pam(service.name.clone())) else {
        return;
    };
    let context = |what: &str, out: &str| {
        format!(
            "{what}\n--- client\n{out}\n--- auth server\n{}\n--- maillog\n{}",
            setup.auth_log(),
            setup.maillog()
        )
    };
    let (_, ehlo) = swaks(&setup, true, "PLAIN", "alice", "secret");
    assert!(
        ehlo.contains("250-AUTH PLAIN LOGIN\n") || ehlo.contains("250-AUTH PLAIN LOGIN\r\n"),
        "{}",
        context("EHLO", &ehlo)
    );
    for mechanism in ["PLAIN", "LOGIN"] {
        let (rc, out) = swaks(&setup, true, mechanism, "alice", "secret");
        assert_eq!(
            rc,
            0,
            "{}",
            context(&format!("PAM {mechanism} right password"), &out)
        );
        let (rc, out) = swaks(&setup, true, mechanism, "alice", "wrong");
        assert_eq!(
            rc,
            SWAKS_AUTH_FAILED,
            "{}",
            context(&format!("PAM {mechanism} wrong password"), &out)
        );
        let (ok, out) = gsasl(&setup, &setup.cert(), mechanism, "alice", "secret");
        assert!(ok, "{}", context(&format!("gsasl PAM {mechanism}"), &out));
    }
    let (rc, out) = swaks(&setup, true, "CRAM-MD5", "alice", "secret");
    assert_ne!(rc, 0, "{}", context("CRAM-MD5 is not offered with PAM", &out));
}

/// A PAM service file under /etc/pam.d, removed when dropped.
#[cfg(feature = "pam")]
struct PamServiceFile {
    name: String,
    path: PathBuf,
}

#[cfg(feature = "pam")]
impl PamServiceFile {
    fn create(body: &str) -> Self {
        let name = format!("mailtest-{:016x}", rand::random::<u64>());
        let path = Path::new("/etc/pam.d").join(&name);
        std::fs::write(&path, body).expect("write /etc/pam.d service file");
        Self { name, path }
    }
}

#[cfg(feature = "pam")]
impl Drop for PamServiceFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
