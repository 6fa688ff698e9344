//! `smtp-submit-demo` against real clients: Python smtplib (STARTTLS with
//! CRAM-MD5/PLAIN/LOGIN, SMTP_SSL), swaks (--tls, --tls-on-connect,
//! --pipeline, --auth), gsasl (DIGEST-MD5) and openssl s_client. The stored
//! Maildir files are checked byte for byte (Received header, body intact).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mail_examples::testing::{
    free_port, require_python_module, require_tool, wait_for_port, ChildGuard, TempDir,
};
use mail_sasl::passwd_file::{hash_password, Scheme};

struct Server {
    _guard: ChildGuard,
    port: u16,
    dir: TempDir,
    cert: PathBuf,
}

impl Server {
    fn start(profile: &str, extra: &[&str]) -> Server {
        let dir = TempDir::new("smtp-interop");
        let cert = mail_tls::self_signed(&["localhost".into(), "127.0.0.1".into()], 2).unwrap();
        let (cert_path, key_path) = cert.write_to(dir.path(), "server").unwrap();
        let passwd = format!(
            "alice:{}\nbob:{}\n",
            hash_password(Scheme::Plain, "alice", "secret", "").unwrap(),
            hash_password(Scheme::Sha512Crypt, "bob", "hunter2", "").unwrap()
        );
        fs::write(dir.path().join("passwd"), passwd).unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtp-submit-demo"));
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--profile", profile])
            .arg("--passwd-file")
            .arg(dir.path().join("passwd"))
            .arg("--cert")
            .arg(&cert_path)
            .arg("--key")
            .arg(&key_path)
            .arg("--maildir")
            .arg(dir.path().join("Maildir"))
            .args([
                "--hostname",
                "localhost",
                "--mydestination",
                "localhost,example.test",
            ])
            .args(["--mynetworks", "127.0.0.1/32", "--failure-delay-ms", "10"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let guard = ChildGuard::spawn(&mut cmd).expect("start smtp-submit-demo");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            wait_for_port(addr, Duration::from_secs(10)),
            "server did not start"
        );
        Server {
            _guard: guard,
            port,
            dir,
            cert: cert_path,
        }
    }

    fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("Maildir/new");
        let mut files: Vec<PathBuf> = fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| String::from_utf8_lossy(&fs::read(f).unwrap()).into_owned())
            .collect()
    }

    fn wait_messages(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.messages()
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("run client");
    if !out.status.success() {
        eprintln!(
            "client failed: {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn python(script: &str, port: u16, cert: &Path) -> Output {
    run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(cert))
}

const SMTPLIB_STARTTLS: &str = r#"
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
for mech in ["CRAM-MD5", "PLAIN", "LOGIN"]:
    s = smtplib.SMTP("localhost", port, local_hostname="client.test", timeout=10)
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH offered before STARTTLS"
    s.starttls(context=ctx)
    s.ehlo()
    assert "CRAM-MD5" in s.esmtp_features["auth"], s.esmtp_features
    s.user, s.password = "alice", "secret"
    code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")), initial_response_ok=(mech != "LOGIN"))
    assert code == 235, code
    body = "Subject: via %s\r\n\r\nHello over %s.\r\n.leading dot\r\n" % (mech, mech)
    refused = s.sendmail("alice@localhost", ["friend@elsewhere.test"], body)
    assert refused == {}, refused
    s.quit()
# wrong password: 535 and the connection survives
s = smtplib.SMTP("localhost", port, timeout=10)
s.starttls(context=ctx)
try:
    s.login("alice", "wrong")
    raise SystemExit("login with a wrong password succeeded")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.quit()
print("ok")
"#;

#[test]
fn python_smtplib_starttls_auth_mechanisms() {
    if require_tool("python3").is_none() {
        return;
    }
    let server = Server::start("submission", &[]);
    let out = python(SMTPLIB_STARTTLS, server.port, &server.cert);
    assert!(out.status.success());
    let msgs = server.wait_messages(3);
    assert_eq!(msgs.len(), 3);
    for (msg, mech) in msgs.iter().zip(["CRAM-MD5", "PLAIN", "LOGIN"]) {
        let msg = msgs
            .iter()
            .find(|m| m.contains(&format!("Subject: via {mech}")))
            .unwrap_or(msg);
        assert!(
            msg.starts_with(
                "Received: from client.test (unknown [127.0.0.1])\r\n\t(using TLSv1.3 with cipher "
            ),
            "{msg}"
        );
        assert!(
            msg.contains("\t(Authenticated sender: alice)\r\n\tby localhost (mailcrates) with ESMTPSA id "),
            "{msg}"
        );
        assert!(msg.contains("\tfor <friend@elsewhere.test>; "), "{msg}");
        assert!(
            msg.ends_with(&format!(
                "Subject: via {mech}\r\n\r\nHello over {mech}.\r\n.leading dot\r\n"
            )),
            "{msg:?}"
        );
    }
}

const SMTPLIB_SSL: &str = r#"
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
s = smtplib.SMTP_SSL("localhost", port, local_hostname="client.test", context=ctx, timeout=10)
s.ehlo()
try:
    s.sendmail("alice@localhost", ["bob@localhost"], "Subject: x\r\n\r\nno auth\r\n")
    raise SystemExit("mail accepted without AUTH on 465")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 530, e
s.login("bob", "hunter2")
s.sendmail("bob@localhost", ["alice@localhost"], "Subject: implicit\r\n\r\nsent on 465\r\n")
s.quit()
print("ok")
"#;

#[test]
fn python_smtplib_implicit_tls() {
    if require_tool("python3").is_none() {
        return;
    }
    let server = Server::start("submissions", &[]);
    let out = python(SMTPLIB_SSL, server.port, &server.cert);
    assert!(out.status.success());
    let msgs = server.wait_messages(1);
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].contains("with ESMTPSA id "), "{}", msgs[0]);
    assert!(msgs[0].contains("(Authenticated sender: bob)"));
    assert!(msgs[0].ends_with("Subject: implicit\r\n\r\nsent on 465\r\n"));
}

fn swaks(server: &Server, args: &[&str]) -> Output {
    run(Command::new("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &server.port.to_string(),
            "--helo",
            "client.test",
        ])
        .args(["--timeout", "10"])
        .args(args))
}

#[test]
fn swaks_tls_auth_and_pipelining() {
    if require_tool("swaks").is_none() {
        return;
    }
    let server = Server::start("submission", &[]);
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let out = swaks(
            &server,
            &[
                "--tls",
                "--auth",
                mech,
                "--auth-user",
                "alice",
                "--auth-password",
                "secret",
                "--from",
                "alice@localhost",
                "--to",
                "friend@elsewhere.test",
                "--header",
                &format!("Subject: swaks {mech}"),
                "--body",
                "swaks body",
            ],
        );
        assert!(out.status.success(), "swaks --auth {mech}");
    }
    // Wrong password: swaks exits 28.
    let out = swaks(
        &server,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "nope",
            "--to",
            "x@localhost",
        ],
    );
    assert_eq!(out.status.code(), Some(28));
    // Without TLS on 587: refused.
    let out = swaks(&server, &["--to", "alice@localhost"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("530 5.7.0 Must issue a STARTTLS command first"));
    let msgs = server.wait_messages(3);
    assert_eq!(msgs.len(), 3);
    for m in &msgs {
        assert!(m.contains("with ESMTPSA id "), "{m}");
        assert!(m.contains("\r\n\r\nswaks body\r\n"), "{m:?}");
    }

    // Port 25 profile: pipelining, local delivery without AUTH.
    let mta = Server::start("mta", &[]);
    let out = swaks(
        &mta,
        &[
            "--pipeline",
            "--from",
            "someone@elsewhere.test",
            "--to",
            "alice@localhost",
            "--body",
            "pipelined",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("250-PIPELINING"), "{text}");
    // Implicit TLS.
    let smtps = Server::start("submissions", &[]);
    let out = swaks(
        &smtps,
        &[
            "--tls-on-connect",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "secret",
            "--to",
            "bob@localhost",
        ],
    );
    assert!(out.status.success());
    assert!(mta.wait_messages(1)[0].contains("pipelined"));
    assert!(smtps.wait_messages(1)[0].contains("with ESMTPSA"));
}

#[test]
fn relay_denied_for_outside_clients_on_25() {
    if require_tool("swaks").is_none() {
        return;
    }
    let mta = Server::start("mta", &[]);
    // 127.0.0.2 is outside mynetworks (127.0.0.1/32).
    let out = swaks(
        &mta,
        &["--local-interface", "127.0.0.2", "--to", "victim@elsewhere.test"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("554 5.7.1 <victim@elsewhere.test>: Relay access denied"));
    let out = swaks(
        &mta,
        &["--local-interface", "127.0.0.2", "--to", "nosuchuser@localhost"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "550 5.1.1 <nosuchuser@localhost>: Recipient address rejected: User unknown in local recipient table"
    ));
    let out = swaks(
        &mta,
        &["--local-interface", "127.0.0.2", "--to", "alice@localhost"],
    );
    assert!(out.status.success(), "local mail from outside is accepted");
    let out = swaks(
        &mta,
        &[
            "--local-interface",
            "127.0.0.2",
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "secret",
            "--to",
            "victim@elsewhere.test",
        ],
    );
    assert!(out.status.success(), "relay after STARTTLS + AUTH");
    assert_eq!(mta.wait_messages(2).len(), 2);
}

#[test]
fn gsasl_digest_md5() {
    if require_tool("gsasl").is_none() {
        return;
    }
    let server = Server::start("submission", &["--mechanisms", "PLAIN,LOGIN,CRAM-MD5,DIGEST-MD5"]);
    // gsasl puts the host it connects to in DIGEST-MD5's digest-uri (not `-n`),
    // and the server checks it against its host name: connect to "localhost".
    for mech in ["DIGEST-MD5", "CRAM-MD5", "PLAIN"] {
        let out = run(Command::new("gsasl")
            .args(["--smtp", "--starttls"])
            .arg(format!("--x509-ca-file={}", server.cert.display()))
            .args([
                "--mechanism",
                mech,
                "-a",
                "alice",
                "-p",
                "secret",
                "-n",
                "localhost",
                "localhost",
            ])
            .arg(server.port.to_string()));
        assert!(out.status.success(), "gsasl {mech}");
    }
    let out = run(Command::new("gsasl")
        .args(["--smtp", "--starttls"])
        .arg(format!("--x509-ca-file={}", server.cert.display()))
        .args([
            "--mechanism",
            "DIGEST-MD5",
            "-a",
            "alice",
            "-p",
            "wrong",
            "-n",
            "localhost",
            "localhost",
        ])
        .arg(server.port.to_string()));
    assert!(!out.status.success(), "wrong DIGEST-MD5 password accepted");
}

#[test]
fn openssl_s_client_starttls() {
    if require_tool("openssl").is_none() {
        return;
    }
    let server = Server::start("submission", &[]);
    let mut child = Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-crlf", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{}", server.port))
        .arg("-CAfile")
        .arg(&server.cert)
        .args(["-servername", "localhost", "-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(b"EHLO client.test\nSTARTTLS\nQUIT\n").unwrap();
    }
    let guard_deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < guard_deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("250-AUTH PLAIN LOGIN CRAM-MD5"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("250-STARTTLS"), "{stdout}");
    assert!(stdout.contains("554 5.5.1 Error: TLS already active"), "{stdout}");
    assert!(stdout.contains("221 2.0.0 Bye"), "{stdout}");
}

#[test]
fn smtplib_needs_python() {
    // Keep CI honest about the Python modules the tests above use.
    assert!(require_python_module("smtplib") || !mail_examples::testing::in_ci());
}
