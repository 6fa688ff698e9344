//! mail-pop3 against real POP3 clients over loopback, through the
//! `pop3-demo` example server (Pop3Session + mail_tls::Secured + Maildir):
//! Python `poplib` (STLS, POP3_SSL, USER/PASS, APOP, CAPA, LIST/UIDL/TOP/
//! RETR/DELE), `curl` (STLS and POP3S with PLAIN, LOGIN, CRAM-MD5,
//! DIGEST-MD5), `fetchmail` (STLS + CRAM-MD5) and `openssl s_client -starttls pop3`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mail_examples::testing::{
    cleartext_to_tls_port, curl_login, describe_output as text, openssl_starttls, require_tool,
    run_bounded as run, starttls_injection_probe, DemoServer,
};
use mail_sasl::passwd_file::Scheme;

/// Messages delivered to ned's Maildir: bare LF endings, a leading dot, a
/// lone dot line, no final newline, and a large one (several 64 KiB reads).
fn corpus() -> Vec<Vec<u8>> {
    let mut big = b"From: big@example.test\nSubject: big\n\n".to_vec();
    for i in 0..6000 {
        big.extend_from_slice(format!("{i:05} the quick brown fox jumps over the lazy dog\n").as_bytes());
        if i % 100 == 0 {
            big.extend_from_slice(b".leading dot line\n.\n");
        }
    }
    vec![
        b"From: a@example.test\nTo: ned@example.test\nSubject: first\n\nHello ned.\n.hidden dot\n..two dots\n".to_vec(),
        b"From: b@example.test\r\nSubject: second\r\n\r\nCRLF body\r\n.\r\nno final newline".to_vec(),
        big,
    ]
}

type Pop3Server = DemoServer;

/// Start `pop3-demo` with ned's corpus delivered.
fn start(tls: &str, extra: &[&str]) -> Pop3Server {
    DemoServer::start(
        env!("CARGO_BIN_EXE_pop3-demo"),
        &[
            ("ned", Scheme::Plain, "secret"),
            ("alice", Scheme::Sha512Crypt, "wonder land"),
            ("bob", Scheme::CramMd5, "builder"),
        ],
        &[
            ("ned", corpus()),
            ("alice", vec![b"Subject: alice\n\nhi\n".to_vec()]),
        ],
        tls,
        extra,
    )
}

/// The message as RETR puts it on the wire before dot-stuffing: CRLF line
/// ends, a final CRLF added when missing.
fn wire_form(stored: &[u8]) -> Vec<u8> {
    let lf = stored.iter().fold(Vec::new(), |mut v, &b| {
        if b == b'\n' && v.last() != Some(&b'\r') {
            v.push(b'\r');
        }
        v.push(b);
        v
    });
    let mut out = lf;
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

const POPLIB_SCRIPT: &str = r#"
import os, poplib, ssl, sys
mode, port, ca, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
if mode == "stls":
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps, caps
    try:
        p.user("ned")
        raise SystemExit("USER accepted before STLS")
    except poplib.error_proto as e:
        assert str(e) == "b'-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.'", e
    p.stls(context=ctx)
else:
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=20)
caps = p.capa()
assert "STLS" not in caps and "USER" in caps and "TOP" in caps and "UIDL" in caps, caps
assert "PLAIN" in caps["SASL"], caps
try:
    p.stls(context=ctx)
    raise SystemExit("second STLS accepted")
except poplib.error_proto as e:
    pass
p.user("ned")
p.pass_("secret")
count, total = p.stat()
resp, listing, _ = p.list()
sizes = [int(l.split()[1]) for l in listing]
assert len(sizes) == count == 3 and sum(sizes) == total, (count, total, listing)
resp, uidls, _ = p.uidl()
uids = [l.split()[1].decode() for l in uidls]
files = {}
for sub in ("new", "cur"):
    for name in os.listdir(os.path.join(maildir, sub)):
        files[name.split(":2,")[0]] = open(os.path.join(maildir, sub, name), "rb").read()
assert sorted(uids) == sorted(files), (uids, list(files))
for i, uid in enumerate(uids, 1):
    resp, lines, octets = p.retr(i)
    stored = files[uid].replace(b"\r\n", b"\n")
    got = b"\n".join(lines) + (b"\n" if stored.endswith(b"\n") else b"")
    assert got == stored, (i, got[:200], stored[:200])
    assert octets == sizes[i - 1], (i, octets, sizes[i - 1])
    assert p.uidl(i).split()[2].decode() == uid
    resp, top, _ = p.top(i, 1)
    head, _, body = stored.partition(b"\n\n")
    want = head.split(b"\n") + [b""] + body.split(b"\n")[:1]
    assert top == want, (i, top, want)
p.dele(1)
try:
    p.retr(1)
    raise SystemExit("deleted message retrieved")
except poplib.error_proto:
    pass
if mode == "drop":
    p.sock.close()  # no QUIT: nothing may be deleted
else:
    p.quit()
print("deleted", uids[0])
"#;

fn poplib(server: &Pop3Server, mode: &str) -> (Output, String) {
    let python = require_tool("python3").expect("python3");
    let maildir = server.maildir("ned").path().display().to_string();
    let port = server.port.to_string();
    let ca = server.ca().display().to_string();
    let out = run(&python, &["-c", POPLIB_SCRIPT, mode, &port, &ca, &maildir], None);
    let deleted = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("deleted ").map(str::to_owned))
        .unwrap_or_default();
    (out, deleted)
}

#[test]
fn poplib_stls_user_pass_and_every_transaction_command() {
    let Some(_) = require_tool("python3") else { return };
    let server = start("starttls", &[]);
    let (out, deleted) = poplib(&server, "stls");
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    let left: Vec<String> = server
        .maildir("ned")
        .list()
        .unwrap()
        .into_iter()
        .map(|m| m.base)
        .collect();
    assert_eq!(left.len(), 2, "DELE 1 + QUIT removed exactly one file: {left:?}");
    assert!(!left.contains(&deleted));
    assert!(server.log().contains("TLS connection established"));
}

#[test]
fn poplib_pop3s_and_dropped_connection_deletes_nothing() {
    let Some(_) = require_tool("python3") else { return };
    let server = start("wrapper", &[]);
    let (out, _) = poplib(&server, "drop");
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.maildir("ned").list().unwrap().len(),
        3,
        "no QUIT, no deletion"
    );
    // The lock is released with the connection: a new session logs in
    // once the server has seen the close (bounded wait, a loaded machine
    // can take a while to get there).
    let mut out = poplib(&server, "pop3s").0;
    for _ in 0..40 {
        if out.status.success() || !text(&out).contains("IN-USE") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        out = poplib(&server, "pop3s").0;
    }
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    assert_eq!(server.maildir("ned").list().unwrap().len(), 2);
}

#[test]
fn poplib_apop_and_in_use() {
    let Some(python) = require_tool("python3") else {
        return;
    };
    let server = start("starttls", &["--apop"]);
    let script = r#"
import poplib, sys
port = int(sys.argv[1])
p = poplib.POP3("127.0.0.1", port, timeout=20)
assert p.timestamp.search(p.getwelcome()), p.getwelcome()
try:
    p.apop("ned", "wrong")
    raise SystemExit("wrong APOP accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.apop("ned", "secret")
assert p.stat()[0] == 3
q = poplib.POP3("127.0.0.1", port, timeout=20)
try:
    q.apop("ned", "secret")
    raise SystemExit("second session got the locked maildrop")
except poplib.error_proto as e:
    assert e.args[0].startswith(b"-ERR [IN-USE]"), e
q.quit()
p.quit()
r = poplib.POP3("127.0.0.1", port, timeout=20)
r.apop("ned", "secret")
r.quit()
print("ok")
"#;
    let out = run(&python, &["-c", script, &server.port.to_string()], None);
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn curl_stls_and_pop3s_with_every_mechanism() {
    let Some(curl) = require_tool("curl") else { return };
    let server = start("starttls", &["--mechanisms", "PLAIN LOGIN CRAM-MD5 DIGEST-MD5"]);
    let ssl_server = start("wrapper", &["--mechanisms", "PLAIN LOGIN CRAM-MD5 DIGEST-MD5"]);
    let stored = server.maildir("ned").list().unwrap();
    let first = server.maildir("ned").read(&stored[0]).unwrap();
    let ca = server.ca();
    let ssl_ca = ssl_server.ca();
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"] {
        let url = format!("pop3://127.0.0.1:{}/1", server.port);
        let out = curl_login(&curl, &url, Some(&ca), "ned:secret", Some(mech));
        assert!(
            out.status.success(),
            "{mech} over STLS: {}\n{}",
            text(&out),
            server.log()
        );
        assert_eq!(out.stdout, wire_form(&first), "{mech}: RETR bytes");

        let url = format!("pop3s://127.0.0.1:{}/1", ssl_server.port);
        let out = curl_login(&curl, &url, Some(&ssl_ca), "ned:secret", Some(mech));
        assert!(
            out.status.success(),
            "{mech} over POP3S: {}\n{}",
            text(&out),
            ssl_server.log()
        );
        assert_eq!(out.stdout, wire_form(&first), "{mech}: POP3S RETR bytes");
    }
    // LIST through curl; a wrong password fails with curl's login error (67).
    let url = format!("pop3://127.0.0.1:{}/", server.port);
    let out = curl_login(&curl, &url, Some(&ca), "ned:secret", None);
    assert!(out.status.success(), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    let out = curl_login(&curl, &url, Some(&ca), "ned:wrong", Some("PLAIN"));
    assert_eq!(out.status.code(), Some(67), "{}", text(&out));
    // A one-way hash serves PLAIN but not CRAM-MD5.
    let out = curl_login(&curl, &url, Some(&ca), "alice:wonder land", Some("PLAIN"));
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    // Plain POP3 without STLS: curl cannot log in with PLAIN over cleartext.
    let out = curl_login(&curl, &url, None, "ned:secret", Some("PLAIN"));
    assert!(
        !out.status.success(),
        "PLAIN over cleartext must fail: {}",
        text(&out)
    );
}

#[test]
fn fetchmail_stls_cram_md5() {
    let Some(fetchmail) = require_tool("fetchmail") else {
        return;
    };
    let server = start("starttls", &[]);
    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let sink = home.join("fetched.mbox");
    let rc = home.join("fetchmailrc");
    let rc_text = format!(
        "set no bouncemail\n\
         poll 127.0.0.1 port {port} proto pop3 auth cram-md5 uidl\n  \
         user \"ned\" password \"secret\" is \"ned\" here\n  \
         sslproto tls1.2+ sslcertck sslcertfile \"{ca}\" sslcommonname localhost\n  \
         mda \"cat >> {sink}\"\n",
        port = server.port,
        ca = server.ca().display(),
        sink = sink.display()
    );
    std::fs::write(&rc, rc_text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let rc_s = rc.display().to_string();
    let ids = home.join("fetchids").display().to_string();
    let pid = home.join("fetchmail.pid").display().to_string();
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(&fetchmail)
        .args([
            "-f",
            &rc_s,
            "--nosyslog",
            "-v",
            "-k",
            "-i",
            &ids,
            "--pidfile",
            &pid,
        ])
        .env("HOME", &home)
        .env("FETCHMAILHOME", &home)
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    // rc 0: messages fetched.
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), server.log());
    let log = text(&out);
    eprintln!("{log}");
    assert!(log.contains("POP3> STLS"), "fetchmail used STLS: {log}");
    assert!(
        log.contains("POP3> AUTH CRAM-MD5"),
        "fetchmail used CRAM-MD5: {log}"
    );
    assert!(log.contains("POP3< +OK Logged in."), "{log}");
    let fetched = std::fs::read(&sink).unwrap();
    let fetched = String::from_utf8_lossy(&fetched);
    for subject in ["Subject: first", "Subject: second", "Subject: big"] {
        assert!(
            fetched.contains(subject),
            "{subject} missing from {}",
            &fetched[..fetched.len().min(500)]
        );
    }
    assert!(fetched.contains("00042 the quick brown fox"));
    assert!(fetched.contains("\n.hidden dot"), "dot-unstuffed by fetchmail");
    assert_eq!(
        server.maildir("ned").list().unwrap().len(),
        3,
        "-k keeps messages"
    );

    // Without -k, fetchmail deletes what it fetched (DELE + QUIT).
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(&fetchmail)
        .args(["-f", &rc_s, "--nosyslog", "-a", "-i", &ids, "--pidfile", &pid])
        .env("HOME", &home)
        .env("FETCHMAILHOME", &home)
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out), server.log());
    assert!(
        server.maildir("ned").list().unwrap().is_empty(),
        "{}",
        server.log()
    );
}

#[test]
fn openssl_s_client_starttls_pop3() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let server = start("starttls", &[]);
    let out = openssl_starttls(
        &openssl,
        "pop3",
        server.port,
        &server.ca(),
        b"CAPA\nUSER ned\nPASS secret\nSTAT\nQUIT\n",
    );
    let all = text(&out);
    assert!(
        all.contains("Protocol version: TLSv1.3") || all.contains("TLSv1.3"),
        "{all}"
    );
    assert!(
        all.contains("\nUSER\r\n") || all.contains("USER\r"),
        "USER offered after TLS: {all}"
    );
    assert!(!all.contains("STLS\r\n"), "STLS not offered after TLS: {all}");
    assert!(all.contains("+OK Logged in."), "{all}\n{}", server.log());
    assert!(all.contains("+OK 3 "), "{all}");
    assert!(all.contains("+OK Logging out."), "{all}");
}

#[test]
fn raw_stls_injection_and_pop3s_plaintext() {
    let server = start("starttls", &[]);
    let (greeting, reply) = starttls_injection_probe(server.port, b"STLS\r\nCAPA\r\n");
    assert!(greeting.starts_with(b"+OK"));
    assert_eq!(
        reply, b"+OK Begin TLS negotiation now.\r\n",
        "CAPA never answered in clear"
    );

    let ssl = start("wrapper", &[]);
    let got = cleartext_to_tls_port(ssl.port, b"CAPA\r\n");
    assert!(
        !got.windows(3).any(|w| w == b"+OK"),
        "no plaintext reply on POP3S: {got:?}"
    );
}

#[test]
fn pipelined_session_with_cleartext_auth_allowed() {
    let server = start("none", &["--allow-cleartext-auth"]);
    let stored = server.maildir("ned").list().unwrap();
    let first = wire_form(&server.maildir("ned").read(&stored[0]).unwrap());
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"CAPA\r\nUSER ned\r\nPASS secret\r\nRETR 3\r\nRETR 1\r\nUIDL 1\r\nDELE 2\r\nQUIT\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.contains("\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"), "{got}");
    assert!(!got.contains("STLS"), "no STLS without TLS: {got}");
    assert!(got.contains("+OK Logged in.\r\n"), "{got}");
    let first = String::from_utf8(first).unwrap().replace("\r\n.", "\r\n..");
    assert!(got.contains(&format!("octets\r\n{first}.\r\n")), "{got}");
    assert!(got.contains(&format!("+OK 1 {}\r\n", stored[0].base)), "{got}");
    assert!(
        got.ends_with("+OK Marked to be deleted.\r\n+OK Logging out.\r\n"),
        "{}",
        &got[got.len() - 200..]
    );
    std::thread::sleep(Duration::from_millis(200));
    let left = server.maildir("ned").list().unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        !left.iter().any(|m| m.base == stored[1].base),
        "{stored:#?}\n{left:#?}\n{got}"
    );
}
