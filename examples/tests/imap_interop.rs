//! mail-imap-min against real IMAP clients over loopback, through the
//! `imap-demo` example server (ImapSession + mail_tls::Secured + Maildir):
//! Python `imaplib` (STARTTLS, IMAP4_SSL, LOGIN, CRAM-MD5, AUTHENTICATE
//! PLAIN, SELECT/FETCH/STORE/SEARCH/EXPUNGE), `curl` (STARTTLS and IMAPS
//! with PLAIN, LOGIN, CRAM-MD5), `mutt` (in tmux), `fetchmail` (STARTTLS +
//! CRAM-MD5 / LOGIN) and `openssl s_client -starttls imap`.

use std::process::Output;
use std::time::Duration;

use mail_examples::testing::{
    cleartext_to_tls_port, curl_login, describe_output as text, fetchmail, mutt_imap, openssl_starttls,
    require_python_module, require_tool, run_bounded as run, starttls_injection_probe, DemoServer,
    FetchmailPoll, MuttImap,
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
    assert!(log.contains("login: method=PLAIN, user=ned"), "{log}");
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
    let ca = server.ca();
    let ssl_ca = ssl_server.ca();
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let url = format!("imap://127.0.0.1:{}/INBOX;UID=1", server.port);
        let out = curl_login(&curl, &url, Some(&ca), "ned:secret", Some(mech));
        assert!(
            out.status.success(),
            "{mech} over STARTTLS: {}\n{}",
            text(&out),
            server.log()
        );
        assert_eq!(out.stdout, first, "{mech}: UID 1 bytes");

        let url = format!("imaps://127.0.0.1:{}/INBOX;UID=1", ssl_server.port);
        let out = curl_login(&curl, &url, Some(&ssl_ca), "ned:secret", Some(mech));
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
    let out = curl_login(&curl, &url, Some(&ca), "ned:secret", None);
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("INBOX"),
        "{}",
        text(&out)
    );
    // Wrong password: curl's login error (67). A one-way hash serves PLAIN.
    let out = curl_login(&curl, &url, Some(&ca), "ned:wrong", Some("PLAIN"));
    assert_eq!(out.status.code(), Some(67), "{}", text(&out));
    let out = curl_login(&curl, &url, Some(&ca), "alice:wonder land", Some("PLAIN"));
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    // Cleartext without STARTTLS: PLAIN cannot be used.
    let out = curl_login(&curl, &url, None, "ned:secret", Some("PLAIN"));
    assert!(
        !out.status.success(),
        "PLAIN over cleartext must fail: {}",
        text(&out)
    );
}

fn fetchmail_run(server: &ImapServer, auth: &str, keep: bool) -> (Output, String) {
    let fetchmail_bin = require_tool("fetchmail").expect("checked by caller");
    let home = server.dir.path().join(format!("home-{auth}-{keep}"));
    let poll = FetchmailPoll {
        proto: "imap",
        port: server.port,
        auth,
        user: "ned",
        password: "secret",
        ca: &server.ca(),
        keep,
    };
    let (out, fetched) = fetchmail(&fetchmail_bin, &home, &poll);
    (out, String::from_utf8_lossy(&fetched).into_owned())
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
    let out = openssl_starttls(
        &openssl,
        "imap",
        server.port,
        &server.ca(),
        b"a CAPABILITY\nb LOGIN ned secret\nc SELECT INBOX\nd FETCH 3 BODY[TEXT]\ne LOGOUT\n",
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
    let (greeting, reply) = starttls_injection_probe(server.port, b"a STARTTLS\r\nb NOOP\r\n");
    assert!(greeting.starts_with(b"* OK [CAPABILITY IMAP4rev1"));
    assert!(String::from_utf8_lossy(&greeting).contains("LOGINDISABLED"));
    assert_eq!(
        reply, b"a OK Begin TLS negotiation now.\r\n",
        "b NOOP never answered in clear"
    );

    let ssl = start("wrapper", &[]);
    let got = cleartext_to_tls_port(ssl.port, b"a CAPABILITY\r\n");
    assert!(
        !got.windows(4).any(|w| w == b"* OK"),
        "no plaintext reply on IMAPS: {got:?}"
    );
}

#[test]
fn mutt_reads_inbox_over_starttls() {
    let Some(tmux) = require_tool("tmux") else { return };
    let Some(mutt) = require_tool("mutt") else { return };
    let server = start("starttls", &[]);
    let home = server.dir.path().join("mutt-home");
    let imap = MuttImap {
        port: server.port,
        user: "ned",
        password: "secret",
        ca: &server.ca(),
        authenticators: "cram-md5:login",
        extra_rc: "set sort=date\n",
    };
    let term = mutt_imap(&tmux, &mutt, &home, &imap);
    let (ok, screen) = term.wait_for(&["first imap message"], Duration::from_secs(20));
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
    term.send_keys(&["Enter"]);
    let bodies = ["Hello ned.", "see attached", "short"];
    let (ok, screen) = term.wait_for(&bodies, Duration::from_secs(10));
    assert!(
        ok,
        "mutt pager shows a body:\n{screen}\n--- server\n{}",
        server.log()
    );
    term.send_keys(&["q", "q"]);
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

/// `pop3-demo` and `imap-demo` are separate processes on one Maildir root:
/// the session lock (`flock`) works across processes as within one.
#[test]
fn pop3_demo_and_imap_demo_exclude_each_other_across_processes() {
    if !require_python_module("imaplib") {
        return;
    }
    let imap = start("starttls", &[]);
    let root = imap.dir.path().join("mail").display().to_string();
    let pop3 = DemoServer::start(
        env!("CARGO_BIN_EXE_pop3-demo"),
        &[("ned", Scheme::Plain, "secret")],
        &[],
        "starttls",
        &["--maildir-root", &root],
    );
    let script = format!(
        r#"
import imaplib, poplib, ssl
# Each demo has its own self-signed certificate.
ctx = ssl.create_default_context(cafile="{ca}")
pctx = ssl.create_default_context(cafile="{pop3_ca}")
p = poplib.POP3("127.0.0.1", {pop3}, timeout=20); p.stls(context=pctx)
p.user("ned"); p.pass_("secret")
assert p.stat()[0] == 3
m = imaplib.IMAP4("127.0.0.1", {imap}, timeout=20); m.starttls(ssl_context=ctx)
m.login("ned", "secret")
typ, data = m.select("INBOX")
assert typ == "NO" and b"[INUSE]" in data[0], (typ, data)
p.quit()
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"3"], (typ, data)
p = poplib.POP3("127.0.0.1", {pop3}, timeout=20); p.stls(context=pctx)
p.user("ned")
try:
    p.pass_("secret")
    raise SystemExit("POP3 login accepted while imap-demo has INBOX selected")
except poplib.error_proto as e:
    assert "[IN-USE]" in str(e), e
# Leaving INBOX (selecting another mailbox) lets go of it at once.
m.create("Archive")
typ, data = m.select("Archive")
assert typ == "OK", (typ, data)
p.user("ned"); p.pass_("secret")
p.quit()
m.logout()
print("OK")
"#,
        ca = imap.ca().display(),
        pop3_ca = pop3.ca().display(),
        pop3 = pop3.port,
        imap = imap.port,
    );
    let (ok, out) = mail_examples::testing::run_python(&script);
    assert!(
        ok && out.contains("OK"),
        "{out}\n--- imap-demo\n{}\n--- pop3-demo\n{}",
        imap.log(),
        pop3.log()
    );
}
