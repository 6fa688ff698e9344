//! `mail-server` configuration as users meet it: `passwd` hashes DIGEST-MD5
//! for the realm the server checks with, `check-config` runs the start's own
//! checks, a bad socket owner or an open-relay restriction list is a
//! configuration error (exit 1, one line naming the key), and the per-IP
//! limit behind a PROXY-protocol balancer counts the real clients; message
//! text lines over `[limits] smtp_max_text_line` (1000 octets) are refused
//! with `500 5.5.6`, and 0 lifts the limit; with `greet_pause_ms`, a client
//! that talks before the greeting is refused (`554 5.5.0`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use mail_examples::testing::{
    describe_output, free_port, mail_server_log_when, mail_server_setup, mail_server_start,
    require_python_module, run_bounded, run_python, TempDir, MAIL_SERVER_DEFAULT_AUTH,
};

const BIN: &str = env!("CARGO_BIN_EXE_mail-server");

/// `mail-server ARGS` (bounded to 60 s: a server that starts instead of
/// refusing its configuration fails the test instead of hanging it).
fn mail_server(args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_bounded(Path::new(BIN), args, stdin)
}

fn config_arg(dir: &Path) -> String {
    dir.join("mail.toml").to_str().expect("UTF-8 temp dir").to_owned()
}

fn check_config(dir: &Path) -> Output {
    mail_server(&["check-config", "--config", &config_arg(dir)], None)
}

fn start_attempt(dir: &Path) -> Output {
    mail_server(&["--config", &config_arg(dir)], None)
}

/// Exit 1 and exactly one line on stderr that contains every one of `needles`.
fn assert_config_error(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "{}", describe_output(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {stderr:?}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing in {stderr:?}");
    }
}

/// `mail-server passwd --config <dir>/mail.toml --scheme DIGEST-MD5 USER`
/// with `password` on stdin: the passwd-file line it prints.
fn passwd_digest_md5(dir: &Path, user: &str, password: &str) -> String {
    let stdin = format!("{password}\n");
    let out = mail_server(
        &[
            "passwd",
            "--config",
            &config_arg(dir),
            "--scheme",
            "DIGEST-MD5",
            user,
        ],
        Some(stdin.as_bytes()),
    );
    assert!(out.status.success(), "{}", describe_output(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn passwd_digest_md5_hashes_for_the_realm_the_server_checks() {
    if !require_python_module("ssl") {
        return;
    }
    let dir = TempDir::new("mail-server-digest");
    let auth = format!("{MAIL_SERVER_DEFAULT_AUTH}mechanisms = [\"PLAIN\", \"LOGIN\", \"DIGEST-MD5\"]\n");
    let ports = mail_server_setup(BIN, dir.path(), &auth, "");
    // As documented: no --realm. With --config, the realm is that file's
    // (here myhostname = "localhost", no [auth] realm).
    let line = passwd_digest_md5(dir.path(), "carol", "digest secret");
    let expected = mail_sasl::passwd_file::hash_password(
        mail_sasl::passwd_file::Scheme::DigestMd5,
        "carol",
        "digest secret",
        "localhost",
    )
    .unwrap();
    assert_eq!(line.trim_end(), format!("carol:{expected}"));
    // user@domain keeps Dovecot's convention (user:domain:password), which
    // is how the server checks such a user.
    let erin = passwd_digest_md5(dir.path(), "erin@localhost", "erin secret");
    let mut users = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("users"))
        .unwrap();
    users.write_all(line.as_bytes()).unwrap();
    users.write_all(erin.as_bytes()).unwrap();
    drop(users);

    // Without --config: the embedded default's realm, the system host name;
    // nothing is created in the current directory.
    let cwd = TempDir::new("mail-server-digest-cwd");
    let out = std::process::Command::new(BIN)
        .args(["passwd", "--scheme", "DIGEST-MD5", "dave"])
        .current_dir(cwd.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"pw\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", describe_output(&out));
    let host = mail_examples::server::bootstrap::system_hostname();
    let with = |realm: &str| {
        mail_sasl::passwd_file::hash_password(mail_sasl::passwd_file::Scheme::DigestMd5, "dave", "pw", realm)
            .unwrap()
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        format!("dave:{}", with(&host))
    );
    assert_ne!(with(&host), with(""), "the old default realm \"\" must differ");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);

    // The server accepts carol's password (PLAIN over STARTTLS on 587).
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
s = smtplib.SMTP("127.0.0.1", {sub}, timeout=20)
s.starttls(context=ctx)
s.ehlo("client.test")
assert "DIGEST-MD5" in s.esmtp_features["auth"], s.esmtp_features
try:
    s.login("carol", "wrong")
    raise SystemExit("a wrong password was accepted")
except smtplib.SMTPAuthenticationError:
    pass
s.close()
s = smtplib.SMTP("127.0.0.1", {sub}, timeout=20)
s.starttls(context=ctx)
s.ehlo("client.test")
s.user, s.password = "carol", "digest secret"
code, resp = s.auth("PLAIN", s.auth_plain)
assert code == 235, (code, resp)
s.quit()
s = smtplib.SMTP("127.0.0.1", {sub}, timeout=20)
s.starttls(context=ctx)
s.ehlo("client.test")
s.user, s.password = "erin@localhost", "erin secret"
code, resp = s.auth("PLAIN", s.auth_plain)
assert code == 235, (code, resp)
s.quit()
print("OK")
"#,
        ca = dir.path().join("localhost.crt").display(),
        sub = ports.submission,
    );
    let (ok, out) = run_python(&script);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(ok, "{out}\n--- server log ---\n{log}");
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn check_config_runs_the_checks_of_the_start_without_binding() {
    let dir = TempDir::new("mail-server-check");
    let ports = mail_server_setup(BIN, dir.path(), MAIL_SERVER_DEFAULT_AUTH, "");
    // A good configuration passes although a listener's port is taken
    // (nothing is bound) and creates no state directory.
    let taken = std::net::TcpListener::bind(("127.0.0.1", ports.imap)).unwrap();
    let out = check_config(dir.path());
    assert!(out.status.success(), "{}", describe_output(&out));
    assert!(
        !dir.path().join("state").exists(),
        "check-config created the state directory"
    );
    drop(taken);

    // A group-readable key: what the start refuses, check-config refuses.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("localhost.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let key_name = key.to_str().unwrap();
    assert_config_error(
        &check_config(dir.path()),
        &["tls.key_file", key_name, "chmod 600"],
    );
    assert_config_error(&start_attempt(dir.path()), &["tls.key_file", key_name]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A missing passwd_file.
    let config = std::fs::read_to_string(dir.path().join("mail.toml")).unwrap();
    let missing = config.replace("passwd_file = \"users\"", "passwd_file = \"no-such-users\"");
    assert_ne!(config, missing);
    std::fs::write(dir.path().join("mail.toml"), &missing).unwrap();
    assert_config_error(&check_config(dir.path()), &["auth.passwd_file", "no-such-users"]);
    assert_config_error(&start_attempt(dir.path()), &["auth.passwd_file"]);

    // backend = "pam" in a build without the `pam` feature.
    if !cfg!(feature = "pam") {
        let pam = config.replace("passwd_file = \"users\"", "backend = \"pam\"");
        std::fs::write(dir.path().join("mail.toml"), pam).unwrap();
        assert_config_error(&check_config(dir.path()), &["auth.backend", "pam"]);
    }
}

#[test]
fn an_unknown_auth_server_user_is_a_configuration_error() {
    let dir = TempDir::new("mail-server-owner");
    mail_server_setup(
        BIN,
        dir.path(),
        MAIL_SERVER_DEFAULT_AUTH,
        "\n[auth_server]\nsocket = \"auth.sock\"\nuser = \"no-such-user-mailcrates\"\n",
    );
    assert_config_error(
        &check_config(dir.path()),
        &["auth_server.user", "no-such-user-mailcrates"],
    );
    let out = start_attempt(dir.path());
    assert_config_error(&out, &["auth_server.user", "no-such-user-mailcrates"]);
    assert!(!dir.path().join("auth.sock").exists(), "the socket was bound");
}

#[test]
fn restrictions_that_make_an_open_relay_are_refused() {
    let dir = TempDir::new("mail-server-relay");
    let port = free_port();
    mail_server_setup(
        BIN,
        dir.path(),
        MAIL_SERVER_DEFAULT_AUTH,
        &format!(
            "\n[[smtp]]\nlisten = \"127.0.0.1:{port}\"\ntls = \"none\"\n\
             recipient_restrictions = [\"permit_mynetworks\", \"permit_sasl_authenticated\"]\n"
        ),
    );
    // The fourth [[smtp]] (after the 25/587/465 profiles).
    let needles = ["smtp[3].recipient_restrictions", "open relay"];
    assert_config_error(&check_config(dir.path()), &needles);
    assert_config_error(&start_attempt(dir.path()), &needles);
}

/// Connect to `port`, send a PROXY v1 header for `client`, and read the first line.
fn proxied_greeting(port: u16, client: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "PROXY TCP4 {client} 127.0.0.1 40000 25\r\n").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    (stream, line)
}

#[test]
fn behind_a_proxy_the_per_ip_limit_counts_the_clients_not_the_balancer() {
    let dir = TempDir::new("mail-server-proxy-limit");
    let port = free_port();
    let ports = mail_server_setup(
        BIN,
        dir.path(),
        MAIL_SERVER_DEFAULT_AUTH,
        &format!(
            "\n[[smtp]]\nlisten = \"127.0.0.1:{port}\"\ntls = \"none\"\nproxy_protocol = true\n\
             \n[limits]\nmax_connections_per_ip = 2\n"
        ),
    );
    let _server = mail_server_start(BIN, dir.path(), &ports);
    // Three clients behind one balancer (127.0.0.1): all greeted.
    let mut held = Vec::new();
    for client in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let (stream, line) = proxied_greeting(port, client);
        assert!(line.starts_with("220 "), "{client}: {line:?}");
        held.push(stream);
    }
    // A second connection of 192.0.2.1 is still within its limit of 2 ...
    let (stream, line) = proxied_greeting(port, "192.0.2.1");
    assert!(line.starts_with("220 "), "{line:?}");
    held.push(stream);
    // ... a third is refused with the per-client reply.
    let (_refused, line) = proxied_greeting(port, "192.0.2.1");
    assert!(
        line.starts_with("421 4.7.0 localhost Error: too many connections from your address"),
        "{line:?}"
    );
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn sigterm_while_the_configuration_loads_is_a_clean_exit() {
    let dir = TempDir::new("mail-server-early-term");
    mail_server_setup(BIN, dir.path(), MAIL_SERVER_DEFAULT_AUTH, "");
    // The users file becomes a FIFO: the start blocks reading it until we
    // write, which holds the server in its loading phase, before any bind.
    let users = dir.path().join("users");
    let content = std::fs::read(&users).unwrap();
    std::fs::remove_file(&users).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&users).status().unwrap();
    assert!(made.success());
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut server = mail_examples::testing::ChildGuard::spawn(
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(dir.path().join("mail.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(log),
    )
    .unwrap();
    // Opening the FIFO for writing returns once the server opened it for reading.
    let (tx, rx) = std::sync::mpsc::channel();
    let fifo = users.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::OpenOptions::new().write(true).open(fifo));
    });
    let mut writer = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server never opened its users file")
        .unwrap();
    server.signal("-TERM");
    std::thread::sleep(Duration::from_millis(300));
    // Killed by the default action if no handler was registered yet; the
    // write then fails (EPIPE) or the exit status has no code.
    let _ = writer.write_all(&content);
    drop(writer);
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("mail-server did not stop after SIGTERM");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{status:?}\n{log}");
    assert!(log.contains("master: stopped"), "{log}");
}

/// Send three messages to bob on the port-25 listener with Python smtplib:
/// lines of 1000 octets (CRLF included), 1001 and 5000. Prints one
/// `code` per message (smtplib raises on 5xx; the code is caught).
fn line_limit_transcript(port: u16) -> String {
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, timeout=10)
s.ehlo("lines.test")
for width in (998, 999, 4998):
    body = "Subject: width %d\r\n\r\nshort line\r\n%s\r\nlast\r\n" % (width, "x" * width)
    try:
        s.sendmail("alice@localhost", ["bob@localhost"], body)
        print("%d 250" % (width + 2))
    except smtplib.SMTPDataError as e:
        print("%d %d %s" % (width + 2, e.smtp_code, e.smtp_error.decode()))
s.quit()
"#
    );
    let (ok, out) = run_python(&script);
    assert!(ok, "{out}");
    out
}

#[test]
fn text_lines_over_the_limit_are_refused_and_the_limit_can_be_lifted() {
    if !require_python_module("smtplib") {
        return;
    }
    let dir = TempDir::new("mail-server-line-limit");
    let ports = mail_server_setup(BIN, dir.path(), MAIL_SERVER_DEFAULT_AUTH, "");
    let server = mail_server_start(BIN, dir.path(), &ports);
    let out = line_limit_transcript(ports.smtp);
    assert!(out.contains("1000 250"), "{out}");
    assert!(
        out.contains("1001 500 5.5.6 Error: message line too long"),
        "{out}"
    );
    assert!(
        out.contains("5000 500 5.5.6 Error: message line too long"),
        "{out}"
    );
    assert_eq!(
        delivered_in(dir.path()),
        1,
        "only the 1000-octet message is stored"
    );
    drop(server);

    // `smtp_max_text_line = 0`: Postfix's behaviour, every line passes.
    let dir = TempDir::new("mail-server-no-line-limit");
    let ports = mail_server_setup(
        BIN,
        dir.path(),
        MAIL_SERVER_DEFAULT_AUTH,
        "\n[limits]\nsmtp_max_text_line = 0\n",
    );
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let out = line_limit_transcript(ports.smtp);
    for width in ["1000 250", "1001 250", "5000 250"] {
        assert!(out.contains(width), "{width}: {out}");
    }
    assert_eq!(delivered_in(dir.path()), 3);
}

fn delivered_in(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("state/mail/bob/Maildir/new")).map_or(0, |d| d.count())
}

/// Read until the server closes (or 10 s pass).
fn read_to_close(stream: &mut TcpStream) -> String {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn a_client_talking_before_the_greeting_is_refused() {
    let dir = TempDir::new("mail-server-pregreet");
    let port = free_port();
    // A pause of 3 s leaves room for a loaded machine to stall this thread
    // between its connect and its write (the server starts the pause at
    // accept).
    let ports = mail_server_setup(
        BIN,
        dir.path(),
        MAIL_SERVER_DEFAULT_AUTH,
        &format!("\n[[smtp]]\nlisten = \"127.0.0.1:{port}\"\ntls = \"none\"\ngreet_pause_ms = 3000\n"),
    );
    let server = mail_server_start(BIN, dir.path(), &ports);
    // SECURITY.md 22: pipelining before the greeting.
    let mut early = TcpStream::connect(("127.0.0.1", port)).unwrap();
    early
        .write_all(b"EHLO early.test\r\nMAIL FROM:<a@b.example>\r\n")
        .unwrap();
    let transcript = read_to_close(&mut early);
    assert!(
        transcript.contains("554 5.5.0 Error: SMTP protocol synchronization\r\n"),
        "{transcript:?}"
    );
    assert!(!transcript.contains("250"), "no command ran: {transcript:?}");
    // A client that waits for the greeting is served.
    let polite = TcpStream::connect(("127.0.0.1", port)).unwrap();
    polite.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(polite.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line:?}");
    (&polite).write_all(b"EHLO polite.test\r\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("250-"), "{line:?}");
    let log = mail_server_log_when(dir.path(), |log| log.contains("bytes sent before the greeting"));
    drop(server);
    assert!(log.contains("bytes sent before the greeting"), "{log}");
}
