//! The reference server `mail-server` as users run it: subcommands, exit
//! codes, and mail submitted on 587 read back over POP3 and IMAP with real
//! clients (Python smtplib/poplib/imaplib, swaks, curl).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mail_examples::testing::{
    mail_server_setup, mail_server_start, require_python_module, require_tool, run_python, ChildGuard,
    MailServerPorts as Ports, TempDir, MAIL_SERVER_DEFAULT_AUTH,
};

const BIN: &str = env!("CARGO_BIN_EXE_mail-server");

/// A configuration with every listener on free loopback ports, users
/// `alice` (SHA512-CRYPT) and `bob` ({PLAIN}, so CRAM-MD5 works for him).
fn setup(dir: &Path) -> Ports {
    setup_with(dir, "")
}

/// [`setup`] with `extra` appended to the configuration.
fn setup_with(dir: &Path, extra: &str) -> Ports {
    mail_server_setup(BIN, dir, MAIL_SERVER_DEFAULT_AUTH, extra)
}

fn start(dir: &Path, ports: &Ports) -> ChildGuard {
    mail_server_start(BIN, dir, ports)
}

fn python(script: &str) -> (bool, String) {
    run_python(script)
}

#[test]
fn submission_587_is_read_back_over_pop3_and_imap_byte_for_byte() {
    if !require_python_module("ssl") {
        return;
    }
    let dir = TempDir::new("mail-server");
    let ports = setup(dir.path());
    let _server = start(dir.path(), &ports);
    let ca = dir.path().join("localhost.crt");
    let script = format!(
        r#"
import smtplib, poplib, imaplib, ssl, sys
ctx = ssl.create_default_context(cafile="{ca}")
body = "Subject: round trip\r\nFrom: alice@localhost\r\n\r\nline one\r\n.dotted line\r\n"
s = smtplib.SMTP("127.0.0.1", {sub})
s.ehlo("client.test")
assert "auth" not in s.esmtp_features, "AUTH offered before STARTTLS on 587"
code, _ = s.mail("alice@localhost")
assert code == 530, code
s.starttls(context=ctx)
s.ehlo("client.test")
s.login("alice", "wonderland")
s.sendmail("alice@localhost", ["alice@localhost"], body)
s.quit()
p = poplib.POP3("127.0.0.1", {pop3})
p.stls(context=ctx)
p.user("alice"); p.pass_("wonderland")
resp, lines, octets = p.retr(1)
popped = b"\r\n".join(lines) + b"\r\n"
p.quit()
m = imaplib.IMAP4_SSL("127.0.0.1", {imaps}, ssl_context=ctx)
m.login("alice", "wonderland")
m.select("INBOX")
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
fetched = data[0][1]
m.logout()
assert popped == fetched, (popped, fetched)
assert fetched.startswith(b"Received: from client.test"), fetched[:200]
assert b"with ESMTPSA" in fetched and b"TLSv1.3" in fetched
assert fetched.endswith(b"\r\nline one\r\n.dotted line\r\n"), fetched
print("OK")
"#,
        ca = ca.display(),
        sub = ports.submission,
        pop3 = ports.pop3,
        imaps = ports.imaps,
    );
    let (ok, out) = python(&script);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(ok, "{out}\n--- server log ---\n{log}");
    assert!(log.contains("sasl_method=PLAIN, sasl_username=alice"), "{log}");
    assert!(
        log.contains("relay=local, status=sent (delivered to maildir)"),
        "{log}"
    );
    assert!(
        log.contains("pop3-login: Login: user=<alice>, method=PLAIN"),
        "{log}"
    );
    assert!(!log.contains("wonderland"), "a password reached the log");
}

#[test]
fn port_policy_of_the_seeds() {
    let Some(swaks) = require_tool("swaks") else {
        return;
    };
    let dir = TempDir::new("mail-server-policy");
    let ports = setup(dir.path());
    let _server = start(dir.path(), &ports);
    let swaks_run = |args: &[&str]| {
        let out = Command::new(&swaks)
            .args(["--tls-verify", "--tls-ca-path"])
            .arg(dir.path().join("localhost.crt"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let p = |port: u16| format!("127.0.0.1:{port}");
    // 25 relays for mynetworks (127.0.0.1) without AUTH.
    let (rc, out) = swaks_run(&[
        "--server",
        &p(ports.smtp),
        "--to",
        "x@remote.test",
        "--from",
        "a@localhost",
    ]);
    assert_eq!(rc, Some(0), "{out}");
    // 25 accepts local mail from an outside address (127.0.0.2), but does not relay for it.
    let outside = ["--local-interface", "127.0.0.2"];
    let (rc, out) = swaks_run(
        &[
            &["--server", &p(ports.smtp), "--to", "bob@localhost"][..],
            &outside,
        ]
        .concat(),
    );
    assert_eq!(rc, Some(0), "{out}");
    let (rc, out) = swaks_run(
        &[
            &["--server", &p(ports.smtp), "--to", "x@remote.test"][..],
            &outside,
        ]
        .concat(),
    );
    assert_eq!(rc, Some(24), "{out}");
    assert!(
        out.contains("554 5.7.1 <x@remote.test>: Relay access denied"),
        "{out}"
    );
    // 25 relays for outsiders after STARTTLS + AUTH (CRAM-MD5 with a {PLAIN} user).
    let (rc, out) = swaks_run(
        &[
            &[
                "--server",
                &p(ports.smtp),
                "--to",
                "x@remote.test",
                "--tls",
                "--auth",
                "CRAM-MD5",
            ][..],
            &["--auth-user", "bob", "--auth-password", "builder"],
            &outside,
        ]
        .concat(),
    );
    assert_eq!(rc, Some(0), "{out}");
    // 587 without STARTTLS accepts no mail.
    let (rc, out) = swaks_run(&["--server", &p(ports.submission), "--to", "bob@localhost"]);
    assert_ne!(rc, Some(0), "{out}");
    assert!(
        out.contains("530 5.7.0 Must issue a STARTTLS command first"),
        "{out}"
    );
    // 587 with STARTTLS but without AUTH accepts no mail.
    let (rc, out) = swaks_run(&["--server", &p(ports.submission), "--tls", "--to", "bob@localhost"]);
    assert_ne!(rc, Some(0), "{out}");
    assert!(out.contains("530 5.7.0 Authentication required"), "{out}");
    // 465: implicit TLS + AUTH relays.
    let (rc, out) = swaks_run(&[
        "--server",
        &p(ports.submissions),
        "--tls-on-connect",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice",
        "--auth-password",
        "wonderland",
        "--to",
        "x@remote.test",
    ]);
    assert_eq!(rc, Some(0), "{out}");
    // Unknown local user.
    let (rc, out) = swaks_run(&["--server", &p(ports.smtp), "--to", "nobody@localhost"]);
    assert_ne!(rc, Some(0), "{out}");
    assert!(out.contains("550 5.1.1 <nobody@localhost>"), "{out}");
    // Relayed mail is queued durably with its envelope.
    let queue = dir.path().join("state/queue");
    let envs: Vec<_> = std::fs::read_dir(&queue)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "env"))
        .collect();
    assert_eq!(envs.len(), 3, "three relayed messages queued");
}

#[test]
fn subcommands_and_exit_codes() {
    let dir = TempDir::new("mail-server-cli");
    let ports = setup(dir.path());
    // check-config prints the effective listeners.
    let out = Command::new(BIN)
        .arg("check-config")
        .arg("--config")
        .arg(dir.path().join("mail.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "smtp 127.0.0.1:{} profile=submission tls=encrypt",
            ports.submission
        )),
        "{text}"
    );
    // A bad key names the key: exit 1.
    std::fs::write(dir.path().join("bad.toml"), "[auth]\nbackend = \"ldap\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg("--config")
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("auth.backend"),
        "{out:?}"
    );
    // A private key readable by others stops the start: exit 1, naming the file.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("localhost.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path().join("mail.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("localhost.key"),
        "{out:?}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A port already taken: exit 2.
    let _taken = std::net::TcpListener::bind(("127.0.0.1", ports.imap)).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path().join("mail.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("imap[0].listen"),
        "{out:?}"
    );
}

#[test]
fn sigterm_is_a_clean_shutdown() {
    let dir = TempDir::new("mail-server-term");
    let ports = setup(dir.path());
    let mut server = start(dir.path(), &ports);
    server.signal("-TERM");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("mail-server did not stop within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn connection_limits_and_idle_timeout() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream;
    let dir = TempDir::new("mail-server-limits");
    let ports = setup_with(
        dir.path(),
        "\n[limits]\nmax_connections_per_ip = 2\nsmtp_idle_timeout = 1\n",
    );
    let _server = start(dir.path(), &ports);
    let greeting = |stream: &TcpStream| {
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    };
    // `start` probed the port with real connections: until the server has
    // seen those close, their slots count against the limit of 2. Retry
    // (bounded) until each of our two connections is greeted.
    let greeted = || {
        for _ in 0..50 {
            let stream = TcpStream::connect(("127.0.0.1", ports.smtp)).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            if greeting(&stream).starts_with("220 ") {
                return stream;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no greeting within 5 s");
    };
    let first = greeted();
    let _second = greeted();
    // A third connection from the same address is refused, not left hanging.
    let third = TcpStream::connect(("127.0.0.1", ports.smtp)).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let refused = greeting(&third);
    assert!(
        refused.starts_with("421 4.7.0 localhost Error: too many connections"),
        "{refused:?}"
    );
    // The idle ones are closed after smtp_idle_timeout (1 s): Postfix's
    // `421 4.4.2 … timeout exceeded`, then EOF.
    let start = std::time::Instant::now();
    let mut reader = BufReader::new(&first);
    let mut rest = String::new();
    reader.read_line(&mut rest).unwrap();
    assert_eq!(rest, "421 4.4.2 localhost Error: timeout exceeded\r\n");
    rest.clear();
    assert_eq!(
        reader.read_line(&mut rest).unwrap(),
        0,
        "expected EOF, got {rest:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // Slots were released: a new connection is greeted again (once the
    // server has seen the closes, hence the bounded retry).
    let _again = greeted();
}

#[test]
fn messages_answered_250_survive_kill_9() {
    if !require_python_module("smtplib") {
        return;
    }
    let dir = TempDir::new("mail-server-crash");
    let ports = setup(dir.path());
    let mut server = start(dir.path(), &ports);
    // 8 concurrent clients each send messages until the server dies; every
    // queue id answered 250 is printed (and flushed) as soon as it is known.
    let script = format!(
        r#"
import smtplib, sys, threading
lock = threading.Lock()
def client(n):
    try:
        s = smtplib.SMTP("127.0.0.1", {port}, timeout=10)
        s.ehlo("crash.test")
        for i in range(100000):
            s.mail("alice@localhost")
            s.rcpt("bob@localhost")
            code, resp = s.data("Subject: crash %d-%d\r\n\r\n%s\r\n" % (n, i, "\r\n".join(["x" * 98] * 20)))
            if code == 250:
                with lock:
                    print(resp.decode().rsplit(" ", 1)[-1], flush=True)
    except Exception:
        pass
threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
"#,
        port = ports.smtp
    );
    let client = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    let out = client.wait_with_output().unwrap();
    let acknowledged: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        acknowledged.len() >= 8,
        "too few messages were sent before the kill: {}",
        acknowledged.len()
    );
    // Restart (it cleans the spool's incoming area) and look at bob's Maildir.
    let _server = start(dir.path(), &ports);
    let maildir = dir.path().join("state/mail/bob/Maildir");
    let mut stored = String::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            stored.push_str(&String::from_utf8_lossy(&bytes[..bytes.len().min(400)]));
            stored.push('\n');
        }
    }
    for id in &acknowledged {
        assert!(
            stored.contains(&format!(" id {id}")),
            "message {id} was answered 250 but is not in the Maildir"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("state/incoming"))
            .unwrap()
            .count(),
        0
    );
    eprintln!(
        "{} messages answered 250 before kill -9; all on disk",
        acknowledged.len()
    );
}

#[test]
fn attacks_against_the_running_server() {
    if !require_python_module("ssl") {
        return;
    }
    let dir = TempDir::new("mail-server-attacks");
    let ports = setup(dir.path());
    let _server = start(dir.path(), &ports);
    let ca = dir.path().join("localhost.crt");
    let script = format!(
        r#"
import socket, ssl, base64, time
ctx = ssl.create_default_context(cafile="{ca}")

def lines(sock, n, timeout=10):
    sock.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf

def silent(sock):
    sock.settimeout(1.0)
    try:
        data = sock.recv(4096)
        return data
    except socket.timeout:
        return b""

# 1. STARTTLS command injection, SMTP / POP3 / IMAP: the injected command is
#    never answered, neither before nor after the handshake.
for port, greet, start, probe, expect in [
    ({smtp}, 1, b"EHLO x\r\nSTARTTLS\r\nNOOP\r\n", b"EHLO y\r\n", b"250-"),
    ({pop3}, 1, b"STLS\r\nCAPA\r\n", b"NOOP\r\n", b"+OK"),
    ({imap}, 1, b"a STARTTLS\r\nb NOOP\r\n", b"c NOOP\r\n", b"c OK"),
]:
    s = socket.create_connection(("127.0.0.1", port))
    lines(s, greet)
    s.sendall(start)
    time.sleep(0.3)
    before = silent(s)
    assert b"NOOP" not in before and b"b OK" not in before and before.count(b"+OK") <= 1, (port, before)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    assert silent(t) == b"", (port, "injected command answered after TLS")
    t.sendall(probe)
    reply = lines(t, 1)
    assert reply.startswith(expect), (port, reply)
    t.close()

# 2. SMTP smuggling: none of these sequences ends the message.
s = socket.create_connection(("127.0.0.1", {smtp}))
lines(s, 1)
s.sendall(b"EHLO x\r\n")
lines(s, 1); time.sleep(0.2); silent(s)
s.sendall(b"MAIL FROM:<a@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n")
assert b"354" in lines(s, 3)
smuggled = b"".join(
    b"x" + seq + b"MAIL FROM:<evil@localhost>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\nevil\r\n"
    for seq in [b"\n.\n", b"\n.\r", b"\r.\n", b"\r.\r", b"\n.\r\n", b"\r.\r\n", b"\r\n\x00.\r\n",
                b"\r\n.\r\r\n", b"\r\r\n.\r\r\n", b"\r\n.\n", b"\r\n.\r"])
s.sendall(b"Subject: smuggle\r\n\r\n" + smuggled + b"\r\n.\r\nQUIT\r\n")
reply = lines(s, 2)
assert reply.count(b"250 2.0.0 Ok: queued as") == 1, reply
s.close()

# 3. Brute force on 587: after 3 failures (max_failures_per_connection), 421 and close.
s = socket.create_connection(("127.0.0.1", {sub}))
lines(s, 1)
s.sendall(b"EHLO x\r\n"); time.sleep(0.2); silent(s)
s.sendall(b"STARTTLS\r\n"); lines(s, 1)
t = ctx.wrap_socket(s, server_hostname="localhost")
t.sendall(b"EHLO x\r\n"); time.sleep(0.2); silent(t)
bad = base64.b64encode(b"\0alice\0nope")
replies = []
for i in range(3):
    t.sendall(b"AUTH PLAIN " + bad + b"\r\n")
    replies.append(lines(t, 1))
rest = lines(t, 5, timeout=5)
everything = b"".join(replies) + rest
assert everything.count(b"535 5.7.8 Error: authentication failed") >= 2, everything
assert b"421 4.7.0" in everything, everything
print("OK")
"#,
        ca = ca.display(),
        smtp = ports.smtp,
        pop3 = ports.pop3,
        imap = ports.imap,
        sub = ports.submission,
    );
    let (ok, out) = python(&script);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(ok, "{out}\n--- server log ---\n{log}");
    assert!(
        log.contains("smtpd: warning: [127.0.0.1]: discarded 6 bytes"),
        "{log}"
    );
    assert!(
        log.contains("pop3-login: warning: [127.0.0.1]: discarded 6 bytes"),
        "{log}"
    );
    assert!(
        log.contains("imap-login: warning: [127.0.0.1]: discarded 8 bytes"),
        "{log}"
    );
    // Exactly one message reached bob: the smuggled ones are part of its body.
    let bob = dir.path().join("state/mail/bob/Maildir/new");
    assert_eq!(std::fs::read_dir(bob).unwrap().count(), 1);
    assert!(
        !dir.path().join("state/mail/alice/Maildir/new").exists()
            || std::fs::read_dir(dir.path().join("state/mail/alice/Maildir/new"))
                .unwrap()
                .count()
                == 0
    );
}
