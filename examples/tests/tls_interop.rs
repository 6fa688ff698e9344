//! mail-tls against real TLS clients over loopback: `openssl s_client`
//! (implicit TLS and `-starttls smtp`) and Python's `ssl`/`smtplib`, talking
//! to the `tls-echo` example server (`Secured` + `EchoSession` + `blocking::serve`).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mail_examples::testing::{free_port, require_tool, wait_for_port, ChildGuard, TempDir};

struct EchoServer {
    _child: ChildGuard,
    port: u16,
    dir: TempDir,
}

impl EchoServer {
    /// Start `tls-echo` in `mode` ("implicit" / "starttls") with a fresh
    /// self-signed certificate for localhost/127.0.0.1 in its temp dir.
    fn start(mode: &str, extra: &[String]) -> Self {
        let dir = TempDir::new("tls-echo");
        let cert = mail_tls::self_signed(&["localhost".into(), "127.0.0.1".into()], 30).unwrap();
        let (cert_path, key_path) = cert.write_to(dir.path(), "mail").unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tls-echo"));
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--mode", mode])
            .arg("--cert")
            .arg(&cert_path)
            .arg("--key")
            .arg(&key_path)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log);
        let child = ChildGuard::spawn(&mut cmd).expect("start tls-echo");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            wait_for_port(addr, Duration::from_secs(10)),
            "tls-echo did not listen"
        );
        EchoServer {
            _child: child,
            port,
            dir,
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("mail.crt")
    }

    fn log(&self) -> String {
        // The server logs a connection's end right after it closes the socket.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

/// Run `program args`, feeding `steps` (text, then a pause) on stdin, then
/// closing it; at most 15 s. Returns (success, stdout+stderr).
fn run_with_input(program: &Path, args: &[String], steps: &[(&str, u64)]) -> (bool, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(&mut cmd).expect("spawn client");
    let mut stdin = guard.0.stdin.take().unwrap();
    for (text, pause_ms) in steps {
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(*pause_ms));
    }
    drop(stdin);
    let mut stdout = guard.0.stdout.take().unwrap();
    let mut stderr = guard.0.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = guard.wait_exit(Duration::from_secs(15));
    drop(guard); // kills the client if it hung
    let output = format!("{}{}", out_reader.join().unwrap(), err_reader.join().unwrap());
    (status.map(|s| s.success()).unwrap_or(false), output)
}

fn s_client(server: &EchoServer, extra: &[&str], steps: &[(&str, u64)]) -> Option<(bool, String)> {
    let openssl = require_tool("openssl")?;
    let mut args: Vec<String> = vec![
        "s_client".into(),
        "-connect".into(),
        format!("127.0.0.1:{}", server.port),
        "-CAfile".into(),
        server.ca_file().display().to_string(),
        "-verify_return_error".into(),
        "-nocommands".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Some(run_with_input(&openssl, &args, steps))
}

const EHLO_QUIT: &[(&str, u64)] = &[("", 400), ("EHLO client\r\n", 400), ("QUIT\r\n", 400)];

#[test]
fn openssl_implicit_tls13_default() {
    let server = EchoServer::start("implicit", &[]);
    let Some((ok, out)) = s_client(&server, &["-brief", "-servername", "localhost"], EHLO_QUIT) else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Protocol version: TLSv1.3"), "{out}");
    assert!(out.contains("Ciphersuite: TLS_AES_256_GCM_SHA384"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(out.contains("220 localhost ESMTP echo"), "{out}");
    assert!(out.contains("250-localhost"), "{out}");
    assert!(out.contains("221 2.0.0 Bye"), "{out}");
    let log = server.log();
    assert!(
        log.contains(
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) sni=Some(\"localhost\") alpn=None"
        ),
        "{log}"
    );
}

#[test]
fn openssl_implicit_tls12() {
    let server = EchoServer::start("implicit", &[]);
    let Some((ok, out)) = s_client(&server, &["-brief", "-tls1_2"], EHLO_QUIT) else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Protocol version: TLSv1.2"), "{out}");
    assert!(
        out.contains("Ciphersuite: ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{out}"
    );
    assert!(out.contains("220 localhost ESMTP echo"), "{out}");
    assert!(server
        .log()
        .contains("TLSv1.2 with cipher TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"));
}

#[test]
fn openssl_tls11_and_tls10_are_refused() {
    let server = EchoServer::start("implicit", &[]);
    for flag in ["-tls1_1", "-tls1"] {
        // SECLEVEL=0 so that the local OpenSSL really sends the old hello.
        let Some((ok, out)) = s_client(
            &server,
            &["-brief", flag, "-cipher", "DEFAULT@SECLEVEL=0"],
            &[("", 300)],
        ) else {
            return;
        };
        assert!(!ok, "{flag}: {out}");
        assert!(!out.contains("CONNECTION ESTABLISHED"), "{flag}: {out}");
        assert!(!out.contains("220 localhost"), "{flag}: {out}");
        assert!(
            out.contains("alert"),
            "{flag}: the server should answer with an alert: {out}"
        );
    }
    let log = server.log();
    assert_eq!(log.matches("TLS error").count(), 2, "{log}");
    assert!(!log.contains("TLS connection established"), "{log}");
}

#[test]
fn openssl_alpn_foreign_protocol_refused_with_alert_120() {
    let server = EchoServer::start("implicit", &[]);
    let Some((ok, out)) = s_client(&server, &["-brief", "-alpn", "http/1.1"], &[("", 300)]) else {
        return;
    };
    assert!(!ok, "{out}");
    assert!(out.contains("no application protocol"), "{out}");
    assert!(out.contains("alert number 120"), "{out}");
    assert!(!out.contains("220 localhost"), "{out}");
    assert!(server.log().contains("peer doesn't support any known protocol"));
}

#[test]
fn openssl_alpn_smtp_accepted() {
    let server = EchoServer::start("implicit", &[]);
    let Some((ok, out)) = s_client(&server, &["-alpn", "smtp"], EHLO_QUIT) else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("ALPN protocol: smtp"), "{out}");
    assert!(out.contains("220 localhost ESMTP echo"), "{out}");
    assert!(server.log().contains("alpn=Some(\"smtp\")"));
}

#[test]
fn openssl_starttls_smtp() {
    let server = EchoServer::start("starttls", &[]);
    let steps = &[
        ("", 500),
        ("NOOP\r\n", 300),
        ("EHLO again\r\n", 300),
        ("QUIT\r\n", 300),
    ];
    let Some((ok, out)) = s_client(&server, &["-starttls", "smtp", "-brief"], steps) else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Protocol version: TLSv1.3"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(out.contains("250 2.0.0 Ok"), "{out}");
    // After TLS, EHLO no longer offers STARTTLS.
    assert!(out.contains("250-localhost"), "{out}");
    assert!(!out.contains("STARTTLS"), "{out}");
    let log = server.log();
    assert!(log.contains("Command(\"EHLO"), "{log}");
    assert!(log.contains("StartTls"), "{log}");
    assert!(log.contains("TLS connection established"), "{log}");
    assert!(!log.contains("discarded"), "{log}");
}

#[test]
fn openssl_starttls_smtp_tls12() {
    let server = EchoServer::start("starttls", &[]);
    let Some((ok, out)) = s_client(
        &server,
        &["-starttls", "smtp", "-brief", "-tls1_2"],
        &[("", 400), ("QUIT\r\n", 300)],
    ) else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Protocol version: TLSv1.2"), "{out}");
    assert!(out.contains("221 2.0.0 Bye"), "{out}");
}

#[test]
fn openssl_sni_selects_second_certificate() {
    let other_dir = TempDir::new("tls-echo-sni");
    let other = mail_tls::self_signed(&["mail.example.org".into()], 30).unwrap();
    let (c, k) = other.write_to(other_dir.path(), "org").unwrap();
    let sni = format!("mail.example.org={},{}", c.display(), k.display());
    let server = EchoServer::start("implicit", &["--sni".into(), sni]);
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let base = |name: &str, ca: &Path| -> Vec<String> {
        vec![
            "s_client".into(),
            "-connect".into(),
            format!("127.0.0.1:{}", server.port),
            "-brief".into(),
            "-servername".into(),
            name.into(),
            "-CAfile".into(),
            ca.display().to_string(),
            "-verify_return_error".into(),
            "-verify_hostname".into(),
            name.into(),
        ]
    };
    let (ok, out) = run_with_input(&openssl, &base("mail.example.org", &c), &[("", 300)]);
    assert!(ok, "{out}");
    assert!(out.contains("Peer certificate: CN = mail.example.org"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
    let (ok, out) = run_with_input(&openssl, &base("localhost", &server.ca_file()), &[("", 300)]);
    assert!(ok, "{out}");
    assert!(out.contains("Peer certificate: CN = localhost"), "{out}");
    // Unknown name: the default certificate, which fails hostname verification.
    let (ok, out) = run_with_input(
        &openssl,
        &base("unknown.example", &server.ca_file()),
        &[("", 300)],
    );
    assert!(!ok, "{out}");
}

#[test]
fn openssl_session_resumption_tls12_and_tls13() {
    let server = EchoServer::start("implicit", &[]);
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    for version in ["-tls1_2", "-tls1_3"] {
        let sess = server.dir.path().join(format!("sess{version}.pem"));
        let args = |flag: &str| -> Vec<String> {
            vec![
                "s_client".into(),
                "-connect".into(),
                format!("127.0.0.1:{}", server.port),
                "-CAfile".into(),
                server.ca_file().display().to_string(),
                version.into(),
                "-nocommands".into(),
                flag.into(),
                sess.display().to_string(),
            ]
        };
        // Wait for the greeting so that TLS 1.3 tickets (sent after the handshake) arrive.
        let (ok, first) = run_with_input(&openssl, &args("-sess_out"), &[("", 500), ("QUIT\r\n", 300)]);
        assert!(ok, "{first}");
        assert!(first.contains("New, TLSv1."), "{version}: {first}");
        let (ok, second) = run_with_input(&openssl, &args("-sess_in"), &[("", 500), ("QUIT\r\n", 300)]);
        assert!(ok, "{second}");
        assert!(
            second.contains("Reused, TLSv1."),
            "{version}: second connection not resumed: {second}"
        );
        assert!(second.contains("220 localhost ESMTP echo"), "{second}");
    }
}

const PY_IMPLICIT: &str = r#"
import socket, ssl, sys
port, cafile, host, maxv = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
if maxv == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as s:
        greeting = s.recv(1024).decode()
        s.sendall(b"EHLO py\r\n")
        ehlo = b""
        while not ehlo.endswith(b"250 8BITMIME\r\n"):
            ehlo += s.recv(1024)
        print(s.version(), s.cipher()[0], repr(greeting), repr(ehlo.decode()))
"#;

#[test]
fn python_ssl_validates_self_signed_certificate() {
    let Some(python) = require_tool("python3") else {
        return;
    };
    let server = EchoServer::start("implicit", &[]);
    let ca = server.ca_file().display().to_string();
    for (host, maxv, expect) in [
        ("localhost", "any", "TLSv1.3 TLS_AES_256_GCM_SHA384"),
        ("127.0.0.1", "any", "TLSv1.3"),
        ("localhost", "1.2", "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"),
    ] {
        let args = vec![
            "-c".to_string(),
            PY_IMPLICIT.to_string(),
            server.port.to_string(),
            ca.clone(),
            host.to_string(),
            maxv.to_string(),
        ];
        let (ok, out) = run_with_input(&python, &args, &[]);
        assert!(ok, "{host} {maxv}: {out}");
        assert!(out.starts_with(expect), "{host} {maxv}: {out}");
        assert!(out.contains("220 localhost ESMTP echo"), "{out}");
    }
    // The name check is real: a name not in the certificate fails.
    let args = vec![
        "-c".to_string(),
        PY_IMPLICIT.to_string(),
        server.port.to_string(),
        ca,
        "mail.invalid".into(),
        "any".into(),
    ];
    let (ok, out) = run_with_input(&python, &args, &[]);
    assert!(!ok && out.contains("CERTIFICATE_VERIFY_FAILED"), "{out}");
}

const PY_SMTPLIB: &str = r#"
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
s = smtplib.SMTP("127.0.0.1", port, local_hostname="py", timeout=10)
code, _ = s.ehlo()
assert code == 250 and s.has_extn("starttls"), s.esmtp_features
code, msg = s.starttls(context=ctx)
assert code == 220, (code, msg)
code, _ = s.ehlo()
assert code == 250 and not s.has_extn("starttls"), s.esmtp_features
print("noop", s.noop()[0], s.sock.version())
s.quit()
"#;

#[test]
fn python_smtplib_starttls() {
    let Some(python) = require_tool("python3") else {
        return;
    };
    let server = EchoServer::start("starttls", &[]);
    // smtplib verifies the name "127.0.0.1" against the certificate's IP SAN.
    let args = vec![
        "-c".to_string(),
        PY_SMTPLIB.to_string(),
        server.port.to_string(),
        server.ca_file().display().to_string(),
    ];
    let (ok, out) = run_with_input(&python, &args, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("noop 250 TLSv1.3"), "{out}");
    let log = server.log();
    assert!(log.contains("TLS connection established"), "{log}");
}

#[test]
fn starttls_injection_over_a_real_socket() {
    use std::net::TcpStream;
    let server = EchoServer::start("starttls", &[]);
    let mut sock = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1024];
    let n = sock.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"220 "));
    // One write: the NOOP must never be executed.
    sock.write_all(b"EHLO x\r\nSTARTTLS\r\nNOOP\r\n").unwrap();
    let mut clear = Vec::new();
    while !clear.ends_with(b"220 2.0.0 Ready to start TLS\r\n") {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&clear));
        clear.extend_from_slice(&buf[..n]);
    }
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read_to_string(server.ca_file()).unwrap();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"QUIT\r\n").unwrap();
    let mut reply = String::new();
    let _ = tls.read_to_string(&mut reply);
    assert_eq!(reply, "221 2.0.0 Bye\r\n", "the injected NOOP was answered");
    assert!(!String::from_utf8_lossy(&clear).contains("250 2.0.0 Ok"));
    let log = server.log();
    assert!(log.contains("discarded 6 bytes injected after STARTTLS"), "{log}");
    assert!(!log.contains("NOOP"), "{log}");
}

/// PEM certificates without pulling rustls-pemfile into this crate's deps.
fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}
