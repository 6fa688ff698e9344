//! mail-imap-min against real IMAP clients over loopback, through the
//! `imap-demo` example server (ImapSession + mail_tls::Secured + Maildir):
//! Python `imaplib` (STARTTLS, IMAP4_SSL, LOGIN, CRAM-MD5, AUTHENTICATE
//! PLAIN, SELECT/FETCH/STORE/SEARCH/EXPUNGE), `curl` (STARTTLS and IMAPS
//! with PLAIN, LOGIN, CRAM-MD5), `mutt` (in tmux), `fetchmail` (STARTTLS +
//! CRAM-MD5 / LOGIN) and `openssl s_client -starttls imap`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mail_examples::testing::{
    describe_output as text, require_python_module, require_tool, run_bounded as run, DemoServer,
};
use mail_sasl::passwd_file::Scheme;

/// ned's INBOX: CRLF files (IMAP's wire form), one with an attachment.
fn corpus() -> Vec<Vec<u8>> {
    vec![
        b"From: Alice <alice@example.test>\r\nTo: ned@example.test\r\nSubject: first imap message\r\nDate: Mon, 7 Feb 2022 21:52:25 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello ned.\r\nSecond line.\r\n".to_vec(),
        b"From: bob@example.test\r\nTo: ned@example.test\r\nSubject: with attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--zz--\r\n".to_vec(),
        b"From: carol@example.test\r\nSubject: third\r\n\r\nshort\r\n".to_vec(),
    ]
}

type ImapServer = DemoServer;

/// Start `imap-demo` with ned's corpus delivered.
fn start(tls: &str, extra: &[&str]) -> ImapServer {
    DemoServer::start(
        env!("CARGO_BIN_EXE_imap-demo"),
        &[
            ("ned", Scheme::Plain, "secret"),
            ("alice", Scheme::Sha512Crypt, "wonder land"),
        ],
        &[("ned", corpus())],
        tls,
        extra,
    )
}

const IMAPLIB_SCRIPT: &str = r#"
import imaplib, os, ssl, sys
mode, port, ca, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)

def files():
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(maildir, sub)):
            base, _, flags = name.partition(":2,")
            out[base] = (open(os.path.join(maildir, sub, name), "rb").read(), flags, sub)
    return out

if mode == "starttls":
    m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    assert "STARTTLS" in m.capabilities and "LOGINDISABLED" in m.capabilities, m.capabilities
    assert "AUTH=PLAIN" not in m.capabilities, m.capabilities
    try:
        m.login("ned", "secret")
        raise SystemExit("LOGIN accepted before STARTTLS")
    except imaplib.IMAP4.error as e:
        assert "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections." in str(e), e
    m.starttls(ssl_context=ctx)
    assert "STARTTLS" not in m.capabilities and "LOGINDISABLED" not in m.capabilities, m.capabilities
    assert "AUTH=PLAIN" in m.capabilities, m.capabilities
    typ, data = m.login("ned", "secret")
elif mode == "ssl-cram":
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=20)
    typ, data = m.login_cram_md5("ned", "secret")
else:
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=20)
    typ, data = m.authenticate("PLAIN", lambda _: b"\0ned\0secret")
assert typ == "OK", (typ, data)

typ, boxes = m.list()
assert typ == "OK" and any(b'INBOX' in b for b in boxes), boxes
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"3"], (typ, data)

stored = files()
typ, data = m.uid("SEARCH", None, "ALL")
uids = data[0].split()
assert len(uids) == 3, data
by_uid = {}
for uid in uids:
    typ, data = m.uid("FETCH", uid, "(RFC822.SIZE FLAGS BODY.PEEK[])")
    assert typ == "OK", data
    body = data[0][1]
    matches = [b for b, (content, _, _) in stored.items() if content == body]
    assert len(matches) == 1, ("fetched bytes equal one Maildir file", body[:100])
    assert b"RFC822.SIZE %d" % len(body) in data[0][0], data[0][0]
    by_uid[uid] = matches[0]

typ, data = m.search(None, "UNSEEN")
assert data == [b"1 2 3"], data
typ, data = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
assert b'"first imap message"' in data[0] and b'"alice" "example.test"' in data[0], data
typ, data = m.fetch("2", "(BODYSTRUCTURE BODY.PEEK[2])")
assert b'"MIXED"' in data[0][0] and data[0][1] == b"AAECAwQ=", data

# FETCH BODY[] sets \Seen; STORE sets more flags: all persist in file names.
typ, data = m.fetch("1", "(BODY[TEXT])")
assert data[0][1] == b"Hello ned.\r\nSecond line.\r\n", data
typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
assert typ == "OK" and b"\\Seen" in data[0] and b"\\Flagged" in data[0], data
typ, data = m.uid("STORE", uids[1], "+FLAGS.SILENT", "(\\Answered)")
assert typ == "OK", data
now = files()
assert now[by_uid[uids[0]]][1] == "FS", now[by_uid[uids[0]]][1:]
assert now[by_uid[uids[1]]][1] == "R", now[by_uid[uids[1]]][1:]
typ, data = m.search(None, "SEEN")
assert data == [b"1"], data
typ, data = m.search(None, 'FROM "bob"')
assert data == [b"2"], data
typ, data = m.search(None, "OR", "ANSWERED", "FLAGGED")
assert data == [b"1 2"], data

# COPY into a new folder (Maildir++ .Trash), flags kept; COPYUID reported.
typ, data = m.create("Trash")
assert typ == "OK", data
typ, data = m.copy("2", "Trash")
assert typ == "OK" and b"[COPYUID " in data[0], data
trash = [n for sub in ("new", "cur") for n in os.listdir(os.path.join(maildir, ".Trash", sub))]
assert len(trash) == 1 and trash[0].endswith(":2,R"), trash
typ, data = m.list()
assert any(b'"/" Trash' in b for b in data), data

# APPEND (what Thunderbird does for Sent): flags land in the file name.
sent = b"From: ned@example.test\r\nSubject: sent by imaplib\r\n\r\nappended body\r\n"
typ, data = m.append("Sent", "(\\Seen)", None, sent)
assert typ == "NO" and b"TRYCREATE" in data[0], data
m.create("Sent")
typ, data = m.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(1700000000), sent)
assert typ == "OK" and b"[APPENDUID " in data[0], data
sent_files = [(sub, n) for sub in ("new", "cur") for n in os.listdir(os.path.join(maildir, ".Sent", sub))]
assert len(sent_files) == 1 and sent_files[0][1].endswith(":2,S"), sent_files
path = os.path.join(maildir, ".Sent", *sent_files[0])
assert open(path, "rb").read() == sent and int(os.stat(path).st_mtime) == 1700000000

# Delete the third message; UIDs and flags survive a new session.
typ, data = m.store("3", "+FLAGS", "(\\Deleted)")
typ, data = m.expunge()
assert typ == "OK" and data == [b"3"], data
assert len(files()) == 2 and by_uid[uids[2]] not in files()
m.close()
m.logout()

m = imaplib.IMAP4_SSL("127.0.0.1", port + 0, ssl_context=ctx, timeout=20) if mode != "starttls" else None
if m is None:
    m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    m.starttls(ssl_context=ctx)
m.login("ned", "secret")
typ, data = m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)")
assert b"MESSAGES 2" in data[0] and b"UNSEEN 1" in data[0], data
m.select("INBOX", readonly=True)
typ, data = m.uid("SEARCH", None, "ALL")
assert data[0].split() == uids[:2], (data, uids)
typ, data = m.fetch("1:*", "(FLAGS)")
assert b"\\Flagged" in data[0] and b"\\Answered" in data[1], data
m.logout()
print("IMAPLIB-OK")
"#;

fn imaplib(server: &ImapServer, mode: &str) {
    if !require_python_module("imaplib") {
        return;
    }
    let Some(python) = require_tool("python3") else {
        return;
    };
    let out = run(
        &python,
        &[
            "-c",
            IMAPLIB_SCRIPT,
            mode,
            &server.port.to_string(),
            &server.ca().display().to_string(),
            &server.maildir_path("ned").display().to_string(),
        ],
        None,
    );
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IMAPLIB-OK"),
        "{}\n--- server\n{}",
        text(&out),
        server.log()
    );
}

#[test]
fn imaplib_starttls_login_select_fetch_store_search_expunge() {
    let server = start("starttls", &[]);
    imaplib(&server, "starttls");
    let log = server.log();
    assert!(log.contains("TLS connection established"), "{log}");
    assert!(log.contains("login: method=LOGIN, user=ned"), "{log}");
}

#[test]
fn imaplib_imaps_cram_md5() {
    let server = start("wrapper", &[]);
    imaplib(&server, "ssl-cram");
    assert!(server.log().contains("method=CRAM-MD5"), "{}", server.log());
}

#[test]
fn imaplib_imaps_authenticate_plain() {
    let server = start("wrapper", &[]);
    imaplib(&server, "ssl-plain");
    assert!(server.log().contains("method=PLAIN"), "{}", server.log());
}

#[test]
fn curl_starttls_and_imaps_with_every_mechanism() {
    let Some(curl) = require_tool("curl") else { return };
    let server = start("starttls", &[]);
    let ssl_server = start("wrapper", &[]);
    let first = corpus().remove(0);
    let ca = server.ca().display().to_string();
    let ssl_ca = ssl_server.ca().display().to_string();
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let opt = format!("AUTH={mech}");
        let url = format!("imap://127.0.0.1:{}/INBOX;UID=1", server.port);
        let out = run(
            &curl,
            &[
                "-sS",
                "--ssl-reqd",
                "--cacert",
                &ca,
                "-u",
                "ned:secret",
                "--login-options",
                &opt,
                &url,
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{mech} over STARTTLS: {}\n{}",
            text(&out),
            server.log()
        );
        assert_eq!(out.stdout, first, "{mech}: UID 1 bytes");

        let url = format!("imaps://127.0.0.1:{}/INBOX;UID=1", ssl_server.port);
        let out = run(
            &curl,
            &[
                "-sS",
                "--cacert",
                &ssl_ca,
                "-u",
                "ned:secret",
                "--login-options",
                &opt,
                &url,
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{mech} over IMAPS: {}\n{}",
            text(&out),
            ssl_server.log()
        );
        assert_eq!(out.stdout, first, "{mech}: IMAPS UID 1 bytes");
    }
    // Without a mechanism option curl uses LOGIN/AUTHENTICATE by itself; listing works.
    let url = format!("imap://127.0.0.1:{}/", server.port);
    let out = run(
        &curl,
        &["-sS", "--ssl-reqd", "--cacert", &ca, "-u", "ned:secret", &url],
        None,
    );
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("INBOX"),
        "{}",
        text(&out)
    );
    // Wrong password: curl's login error (67). A one-way hash serves PLAIN.
    let out = run(
        &curl,
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-u",
            "ned:wrong",
            "--login-options",
            "AUTH=PLAIN",
            &url,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(67), "{}", text(&out));
    let out = run(
        &curl,
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &ca,
            "-u",
            "alice:wonder land",
            "--login-options",
            "AUTH=PLAIN",
            &url,
        ],
        None,
    );
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    // Cleartext without STARTTLS: PLAIN cannot be used.
    let out = run(
        &curl,
        &["-sS", "-u", "ned:secret", "--login-options", "AUTH=PLAIN", &url],
        None,
    );
    assert!(
        !out.status.success(),
        "PLAIN over cleartext must fail: {}",
        text(&out)
    );
}

fn fetchmail_run(server: &ImapServer, auth: &str, keep: bool) -> (Output, String) {
    let fetchmail = require_tool("fetchmail").expect("checked by caller");
    let home = server.dir.path().join(format!("home-{auth}-{keep}"));
    std::fs::create_dir_all(&home).unwrap();
    let sink = home.join("fetched.mbox");
    let rc = home.join("fetchmailrc");
    let rc_text = format!(
        "set no bouncemail\n\
         poll 127.0.0.1 port {port} proto imap auth {auth}\n  \
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
    let pid = home.join("fetchmail.pid").display().to_string();
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(&fetchmail)
        .args(["-f", &rc_s, "--nosyslog", "-v", "--pidfile", &pid])
        .args(if keep { &["-k", "-a"][..] } else { &["-a"][..] })
        .env("HOME", &home)
        .env("FETCHMAILHOME", &home)
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let fetched = String::from_utf8_lossy(&std::fs::read(&sink).unwrap_or_default()).into_owned();
    (out, fetched)
}

#[test]
fn fetchmail_imap_starttls_cram_md5_and_login() {
    if require_tool("fetchmail").is_none() {
        return;
    }
    let server = start("starttls", &[]);
    let (out, fetched) = fetchmail_run(&server, "cram-md5", true);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}\n{}", server.log());
    assert!(
        log.contains("IMAP> A0002 STARTTLS") || log.contains("STARTTLS"),
        "fetchmail used STARTTLS: {log}"
    );
    assert!(
        log.contains("AUTHENTICATE CRAM-MD5"),
        "fetchmail used CRAM-MD5: {log}"
    );
    for subject in [
        "Subject: first imap message",
        "Subject: with attachment",
        "Subject: third",
    ] {
        assert!(fetched.contains(subject), "{subject} missing from {fetched}");
    }
    assert_eq!(
        server.maildir("ned").list().unwrap().len(),
        3,
        "-k keeps messages"
    );
    // LOGIN (after STARTTLS), without -k: fetched messages are flagged \Deleted and expunged.
    let (out, fetched) = fetchmail_run(&server, "password", false);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}\n{}", server.log());
    assert!(log.contains("LOGIN") || log.contains("AUTHENTICATE"), "{log}");
    assert!(fetched.contains("Subject: third"), "{fetched}");
    assert!(
        server.maildir("ned").list().unwrap().is_empty(),
        "{log}\n{}",
        server.log()
    );
}

#[test]
fn openssl_s_client_starttls_imap() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let server = start("starttls", &[]);
    let connect = format!("127.0.0.1:{}", server.port);
    let ca = server.ca().display().to_string();
    let out = run(
        &openssl,
        &[
            "s_client",
            "-starttls",
            "imap",
            "-connect",
            &connect,
            "-CAfile",
            &ca,
            "-brief",
            "-crlf",
            "-quiet",
        ],
        Some(b"a CAPABILITY\nb LOGIN ned secret\nc SELECT INBOX\nd FETCH 3 BODY[TEXT]\ne LOGOUT\n"),
    );
    let all = text(&out);
    assert!(all.contains("TLSv1.3") || all.contains("TLSv1.2"), "{all}");
    assert!(
        all.contains("AUTH=PLAIN") && !all.contains("LOGINDISABLED"),
        "after TLS: {all}"
    );
    assert!(all.contains("b OK [CAPABILITY"), "{all}\n{}", server.log());
    assert!(all.contains("* 3 EXISTS"), "{all}");
    assert!(all.contains("BODY[TEXT] {7}\r\nshort\r\n"), "{all}");
    assert!(all.contains("e OK Logout completed."), "{all}");
}

#[test]
fn raw_starttls_injection_and_imaps_plaintext() {
    let server = start("starttls", &[]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"* OK [CAPABILITY IMAP4rev1"));
    assert!(String::from_utf8_lossy(&buf[..n]).contains("LOGINDISABLED"));
    s.write_all(b"a STARTTLS\r\nb NOOP\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let n = s.read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"a OK Begin TLS negotiation now.\r\n",
        "b NOOP never answered in clear"
    );
    drop(s);

    let ssl = start("wrapper", &[]);
    let mut s = TcpStream::connect(("127.0.0.1", ssl.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"a CAPABILITY\r\n").unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(
        !got.windows(4).any(|w| w == b"* OK"),
        "no plaintext reply on IMAPS: {got:?}"
    );
}

/// Poll a tmux pane until it shows `needle` (or time runs out).
fn tmux_wait(tmux: &Path, socket: &str, needle: &str, timeout: Duration) -> (bool, String) {
    let deadline = Instant::now() + timeout;
    let mut screen = String::new();
    while Instant::now() < deadline {
        let out = Command::new(tmux)
            .args(["-L", socket, "capture-pane", "-p", "-t", "mutt"])
            .output();
        if let Ok(out) = out {
            screen = String::from_utf8_lossy(&out.stdout).into_owned();
            if screen.contains(needle) {
                return (true, screen);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (false, screen)
}

struct TmuxGuard(PathBuf, String);

impl Drop for TmuxGuard {
    fn drop(&mut self) {
        let _ = Command::new(&self.0)
            .args(["-L", &self.1, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn mutt_reads_inbox_over_starttls() {
    let Some(tmux) = require_tool("tmux") else { return };
    let Some(mutt) = require_tool("mutt") else { return };
    let server = start("starttls", &[]);
    let home = server.dir.path().join("mutt-home");
    std::fs::create_dir_all(&home).unwrap();
    let rc = home.join("muttrc");
    std::fs::write(
        &rc,
        format!(
            "set folder=\"imap://ned@127.0.0.1:{port}/\"\n\
             set spoolfile=\"+INBOX\"\n\
             set imap_pass=\"secret\"\n\
             set ssl_starttls=yes\nset ssl_force_tls=yes\n\
             set certificate_file=\"{home}/certs\"\n\
             set ssl_ca_certificates_file=\"{ca}\"\n\
             set imap_authenticators=\"cram-md5:login\"\n\
             set header_cache=\"\"\nset message_cachedir=\"\"\n\
             set mail_check_stats=no\nset sort=date\nset timeout=5\nset confirmappend=no\n",
            port = server.port,
            home = home.display(),
            ca = server.ca().display()
        ),
    )
    .unwrap();
    let socket = format!("mutt-{}", server.port);
    let _guard = TmuxGuard(tmux.clone(), socket.clone());
    let cmdline = format!("{} -n -F {} -d 2 2>/dev/null", mutt.display(), rc.display());
    let status = Command::new(&tmux)
        .args([
            "-L",
            &socket,
            "new-session",
            "-d",
            "-s",
            "mutt",
            "-x",
            "160",
            "-y",
            "40",
        ])
        .arg(format!(
            "env HOME={} TERM=xterm sh -c '{cmdline}'",
            home.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let (ok, screen) = tmux_wait(&tmux, &socket, "first imap message", Duration::from_secs(20));
    assert!(
        ok,
        "mutt index shows the subject:\n{screen}\n--- server\n{}",
        server.log()
    );
    assert!(
        screen.contains("with attachment") && screen.contains("third"),
        "{screen}"
    );
    // Open the first message, then quit; mutt marks it seen on the server.
    let _ = Command::new(&tmux)
        .args(["-L", &socket, "send-keys", "-t", "mutt", "Enter"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut screen = String::new();
    while Instant::now() < deadline {
        let (_, s) = tmux_wait(&tmux, &socket, "", Duration::from_secs(1));
        screen = s;
        if ["Hello ned.", "see attached", "short"]
            .iter()
            .any(|b| screen.contains(b))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ["Hello ned.", "see attached", "short"]
            .iter()
            .any(|b| screen.contains(b)),
        "mutt pager shows a body:\n{screen}\n--- server\n{}",
        server.log()
    );
    let _ = Command::new(&tmux)
        .args(["-L", &socket, "send-keys", "-t", "mutt", "q", "q"])
        .status();
    std::thread::sleep(Duration::from_millis(1500));
    let log = server.log();
    assert!(
        log.contains("TLS connection established"),
        "mutt used STARTTLS: {log}"
    );
    assert!(log.contains("login: method=CRAM-MD5, user=ned"), "{log}");
    let flags: Vec<String> = server
        .maildir("ned")
        .list()
        .unwrap()
        .into_iter()
        .map(|m| m.flags)
        .collect();
    assert!(
        flags.iter().any(|f| f.contains('S')),
        "a message was marked seen: {flags:?}\n{log}"
    );
}

#[test]
fn gsasl_and_pure_sasl_every_mechanism_including_digest_md5() {
    // gsasl and pure-sasl put the connection's host into digest-uri (`imap/127.0.0.1`).
    let server = start(
        "starttls",
        &[
            "--mechanisms",
            "PLAIN LOGIN CRAM-MD5 DIGEST-MD5",
            "--hostname",
            "127.0.0.1",
        ],
    );
    if let Some(gsasl) = require_tool("gsasl") {
        let ca = format!("--x509-ca-file={}", server.ca().display());
        for mech in ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5"] {
            let out = run(
                &gsasl,
                &[
                    "--imap",
                    "--starttls",
                    &ca,
                    "--mechanism",
                    mech,
                    "-a",
                    "ned",
                    "-p",
                    "secret",
                    "-n",
                    "localhost",
                    "127.0.0.1",
                    &server.port.to_string(),
                ],
                Some(b""),
            );
            assert!(
                out.status.success(),
                "gsasl {mech}: {}\n{}",
                text(&out),
                server.log()
            );
        }
        let out = run(
            &gsasl,
            &[
                "--imap",
                "--starttls",
                &ca,
                "--mechanism",
                "DIGEST-MD5",
                "-a",
                "ned",
                "-p",
                "wrong",
                "-n",
                "localhost",
                "127.0.0.1",
                &server.port.to_string(),
            ],
            Some(b""),
        );
        assert!(
            !out.status.success(),
            "wrong DIGEST-MD5 password accepted: {}",
            text(&out)
        );
        assert!(
            server.log().contains("method=DIGEST-MD5, user=ned"),
            "{}",
            server.log()
        );
    }
    if require_python_module("puresasl") {
        let script = r#"
import imaplib, ssl, sys
from puresasl.client import SASLClient
port, ca = int(sys.argv[1]), sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
m.starttls(ssl_context=ssl.create_default_context(cafile=ca))
sc = SASLClient("127.0.0.1", "imap", mechanism="DIGEST-MD5", username="ned", password="secret")
typ, data = m.authenticate("DIGEST-MD5", lambda ch: sc.process(ch) or b"")
assert typ == "OK", (typ, data)
typ, data = m.select("INBOX")
assert data == [b"3"], data
print("PURESASL-OK")
"#;
        let python = require_tool("python3").unwrap();
        let out = run(
            &python,
            &[
                "-c",
                script,
                &server.port.to_string(),
                &server.ca().display().to_string(),
            ],
            None,
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("PURESASL-OK"),
            "{}\n{}",
            text(&out),
            server.log()
        );
    }
}
