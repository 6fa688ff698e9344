//! `mail-server` against its user contract, SERVER.md "Logs" and SECURITY.md
//! item 6: the log lines of a submission (STARTTLS + AUTH PLAIN, smtplib), a
//! POP3 USER/PASS login (poplib, STLS) and an IMAP LOGIN (imaplib, STARTTLS)
//! in the documented Postfix/Dovecot shape; the `[auth] realm` in the
//! DIGEST-MD5 challenges of IMAP and POP3; and the implicit-TLS listeners
//! (submissions, pop3s, imaps) giving no plaintext reply to plaintext input.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use mail_examples::testing::{
    mail_server_log_when, mail_server_setup, mail_server_start, require_python_module, run_python,
    MailServerPorts, TempDir, MAIL_SERVER_DEFAULT_AUTH,
};

const BIN: &str = env!("CARGO_BIN_EXE_mail-server");

fn server_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// The server's log once every line of `wanted` is in it (or after 10 s).
fn log_with(dir: &Path, wanted: &[&str]) -> String {
    mail_server_log_when(dir, |log| wanted.iter().all(|w| log.lines().any(|l| l == *w)))
}

fn assert_line(log: &str, line: &str) {
    assert!(
        log.lines().any(|l| l == line),
        "missing log line\n  {line}\n--- server log ---\n{log}"
    );
}

/// The value after `key=` in a `key=value` line of the script's output.
fn script_value<'a>(out: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    out.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("the script printed no {key}=: {out}"))
}

#[test]
fn log_lines_have_the_documented_shape() {
    if !require_python_module("ssl") {
        return;
    }
    let dir = TempDir::new("mail-server-logs");
    let auth = format!(
        "{MAIL_SERVER_DEFAULT_AUTH}mechanisms = [\"PLAIN\", \"LOGIN\", \"CRAM-MD5\", \"DIGEST-MD5\"]\nrealm = \"realm.test\"\n"
    );
    let ports = mail_server_setup(BIN, dir.path(), &auth, "");
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let script = format!(
        r#"
import base64, imaplib, poplib, smtplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")

# 587: STARTTLS, a failed AUTH LOGIN, AUTH PLAIN, one message to one recipient.
s = smtplib.SMTP("127.0.0.1", {sub}, timeout=20)
print("sub_port=%d" % s.sock.getsockname()[1])
s.starttls(context=ctx)
s.ehlo("client.test")
s.user, s.password = "alice", "not-the-password"
try:
    s.auth("LOGIN", s.auth_login)
    raise SystemExit("AUTH LOGIN accepted a wrong password")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.user, s.password = "alice", "wonderland"
code, _ = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
assert code == 235, code
body = "Subject: logs\r\nFrom: alice@localhost\r\n\r\nhello\r\n"
assert s.mail("alice@localhost")[0] == 250
assert s.rcpt("alice@localhost")[0] == 250
code, resp = s.data(body)
assert code == 250, (code, resp)
print("queue_id=" + resp.decode().rsplit(" ", 1)[1])
print("size=%d" % len(body))
s.quit()

# The other two SMTP listeners, for their listener= names.
s = smtplib.SMTP("127.0.0.1", {smtp}, timeout=20)
print("smtp_port=%d" % s.sock.getsockname()[1])
s.quit()
s = smtplib.SMTP_SSL("127.0.0.1", {subs}, timeout=20, context=ctx)
print("subs_port=%d" % s.sock.getsockname()[1])
s.quit()

# POP3: STLS, then USER/PASS.
p = poplib.POP3("127.0.0.1", {pop3}, timeout=20)
p.stls(context=ctx)
p.user("alice")
p.pass_("wonderland")
p.quit()

# IMAP: STARTTLS, then LOGIN.
m = imaplib.IMAP4("127.0.0.1", {imap}, timeout=20)
m.starttls(ssl_context=ctx)
m.login("alice", "wonderland")
m.logout()

# The DIGEST-MD5 challenges carry [auth] realm (answered with "*": cancelled).
def digest_challenge(sock, command):
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(command)
    line = f.readline()
    assert line.startswith(b"+ "), line
    sock.sendall(b"*\r\n")
    f.readline()
    return base64.b64decode(line[2:].strip()).decode()
import socket
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", {imaps}), timeout=20), server_hostname="localhost") as t:
    print("imap_digest=" + digest_challenge(t, b"a AUTHENTICATE DIGEST-MD5\r\n"))
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", {pop3s}), timeout=20), server_hostname="localhost") as t:
    print("pop3_digest=" + digest_challenge(t, b"AUTH DIGEST-MD5\r\n"))
print("OK")
"#,
        ca = dir.path().join("localhost.crt").display(),
        sub = ports.submission,
        smtp = ports.smtp,
        subs = ports.submissions,
        pop3 = ports.pop3,
        pop3s = ports.pop3s,
        imap = ports.imap,
        imaps = ports.imaps,
    );
    let (ok, out) = run_python(&script);
    assert!(
        ok && out.contains("OK"),
        "{out}\n--- server log ---\n{}",
        server_log(dir.path())
    );

    for key in ["imap_digest", "pop3_digest"] {
        let challenge = script_value(&out, key);
        assert!(challenge.contains("realm=\"realm.test\""), "{key}: {challenge}");
    }

    let id = script_value(&out, "queue_id");
    let body_size: u64 = script_value(&out, "size").parse().unwrap();
    let lines = [
        format!(
            "smtpd: connect from [127.0.0.1]:{} listener=submission",
            script_value(&out, "sub_port")
        ),
        format!(
            "smtpd: connect from [127.0.0.1]:{} listener=smtp",
            script_value(&out, "smtp_port")
        ),
        format!(
            "smtpd: connect from [127.0.0.1]:{} listener=submissions",
            script_value(&out, "subs_port")
        ),
        "smtpd: warning: [127.0.0.1]: SASL LOGIN authentication failed".to_owned(),
        format!("smtpd: {id}: client=[127.0.0.1], sasl_method=PLAIN, sasl_username=alice"),
        format!("delivery: {id}: to=<alice@localhost>, relay=local, status=sent (delivered to maildir)"),
        "pop3-login: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, TLS".to_owned(),
        "imap-login: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, TLS".to_owned(),
    ];
    let wanted: Vec<&str> = lines.iter().map(String::as_str).collect();
    let log = log_with(dir.path(), &wanted);
    for line in &wanted {
        assert_line(&log, line);
    }

    // `from=<…>, size=N, nrcpt=1`: N counts the message as stored (the
    // Received header the server adds included).
    let from = format!("smtpd: {id}: from=<alice@localhost>, size=");
    let size: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix(from.as_str())?.strip_suffix(", nrcpt=1"))
        .unwrap_or_else(|| panic!("no `{from}N, nrcpt=1` line\n{log}"))
        .parse()
        .expect("size=N");
    assert!(
        (body_size..body_size + 1024).contains(&size),
        "size={size}, body {body_size}"
    );

    // Postfix's TLS line, e.g. `smtpd: TLS connection established from
    // [192.0.2.10]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`.
    let tls_lines: Vec<&str> = log
        .lines()
        .filter_map(|l| {
            l.strip_prefix("smtpd: TLS connection established from [127.0.0.1]: TLSv1.3 with cipher ")
        })
        .collect();
    assert_eq!(tls_lines.len(), 2, "587 STARTTLS and 465\n{log}");
    for rest in tls_lines {
        let (cipher, bits) = rest.split_once(' ').expect("cipher and bits");
        assert!(cipher.starts_with("TLS_") && !cipher.contains(','), "{rest}");
        let bits = bits
            .strip_prefix('(')
            .and_then(|b| b.strip_suffix(" bits)"))
            .and_then(|b| b.split_once('/'))
            .unwrap_or_else(|| panic!("not `(N/N bits)`: {rest}"));
        assert_eq!(bits.0, bits.1, "{rest}");
        assert!(["128", "256"].contains(&bits.0), "{rest}");
    }

    // Where the AUTH went: only on the queue id line (Postfix has no AUTH-time line).
    assert!(
        !log.lines().any(|l| l.starts_with("smtpd: client=")),
        "an AUTH-time line without the queue id\n{log}"
    );
    assert!(!log.contains("method=USER"), "{log}");
    assert!(
        !log.contains("wonderland") && !log.contains("not-the-password"),
        "a password reached the log"
    );
}

/// What the server sends to a plaintext client on an implicit-TLS port
/// within `timeout`, and whether it closed the connection by then.
fn plaintext_probe(port: u16, command: &[u8], timeout: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(command).expect("send");
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, false);
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return (got, false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset after the alert is a close too.
            Err(_) => return (got, true),
        }
    }
}

/// Whether `bytes` is a run of whole TLS alert records (content type 21).
fn only_tls_alerts(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        if bytes.len() < 5 || bytes[0] != 0x15 || bytes[1] != 0x03 {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        if bytes.len() < 5 + len {
            return false;
        }
        bytes = &bytes[5 + len..];
    }
    true
}

#[test]
fn implicit_tls_ports_give_no_plaintext_reply_to_plaintext() {
    if !require_python_module("ssl") {
        return;
    }
    let dir = TempDir::new("mail-server-implicit");
    let ports: MailServerPorts = mail_server_setup(BIN, dir.path(), MAIL_SERVER_DEFAULT_AUTH, "");
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let probes: [(&str, u16, &[u8], &str); 3] = [
        ("submissions", ports.submissions, b"EHLO x\r\n", "220 "),
        ("pop3s", ports.pop3s, b"CAPA\r\n", "+OK"),
        ("imaps", ports.imaps, b"a CAPABILITY\r\n", "* OK"),
    ];
    for (name, port, command, greeting) in probes {
        let (got, closed) = plaintext_probe(port, command, Duration::from_secs(5));
        assert!(
            got.is_empty() || (only_tls_alerts(&got) && closed),
            "{name}: plaintext input got {:?} (closed: {closed})",
            String::from_utf8_lossy(&got)
        );
        // The same listener speaks its protocol over TLS: the silence above
        // is the TLS layer's, not a dead port's.
        let script = format!(
            r#"
import socket, ssl
ctx = ssl.create_default_context(cafile="{ca}")
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", {port}), timeout=20), server_hostname="localhost") as t:
    print(t.makefile("rb").readline().decode())
"#,
            ca = dir.path().join("localhost.crt").display(),
        );
        let (ok, out) = run_python(&script);
        assert!(ok && out.starts_with(greeting), "{name} over TLS: {out}");
    }
}
