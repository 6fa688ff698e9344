//! `mail-server` itself with real mail clients: mail submitted on 587
//! (smtplib, STARTTLS + AUTH PLAIN) read back with fetchmail (POP3 STLS)
//! and mutt (IMAP STARTTLS, in tmux) byte for byte, Received header
//! included; and the locking between POP3 and IMAP sessions of one user
//! (see `mail_examples::maildir`): poplib and imaplib sessions side by side.

use std::path::PathBuf;
use std::time::Duration;

use mail_examples::maildir::Maildir;
use mail_examples::testing::{
    describe_output, fetchmail, mail_server_setup, mail_server_start, mutt_imap, require_python_module,
    require_tool, run_python, ChildGuard, FetchmailPoll, MailServerPorts, MuttImap, TempDir,
    MAIL_SERVER_DEFAULT_AUTH,
};

const BIN: &str = env!("CARGO_BIN_EXE_mail-server");

struct Server {
    dir: TempDir,
    ports: MailServerPorts,
    _child: ChildGuard,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = TempDir::new(name);
        let ports = mail_server_setup(BIN, dir.path(), MAIL_SERVER_DEFAULT_AUTH, "");
        let child = mail_server_start(BIN, dir.path(), &ports);
        Server {
            dir,
            ports,
            _child: child,
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("localhost.crt")
    }

    /// alice's INBOX (SERVER.md: `state_dir/mail/<user>/Maildir`).
    fn inbox(&self) -> Maildir {
        Maildir::create(self.dir.path().join("state/mail/alice/Maildir")).unwrap()
    }

    fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Submit one message for alice on 587 (STARTTLS, AUTH PLAIN) and
    /// return the file the server delivered, as stored.
    fn submit(&self, subject: &str) -> Vec<u8> {
        let script = format!(
            r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
body = "Subject: {subject}\r\nFrom: alice@localhost\r\nTo: alice@localhost\r\n\r\nfirst line\r\n.dotted line\r\n\r\nlast line\r\n"
s = smtplib.SMTP("127.0.0.1", {port}, timeout=20)
s.starttls(context=ctx)
s.login("alice", "wonderland")
s.sendmail("alice@localhost", ["alice@localhost"], body)
s.quit()
"#,
            ca = self.ca().display(),
            port = self.ports.submission
        );
        let (ok, out) = run_python(&script);
        assert!(ok, "{out}\n--- server\n{}", self.log());
        let inbox = self.inbox();
        let list = inbox.list().unwrap();
        let m = list
            .iter()
            .find(|m| {
                let data = inbox.read(m).unwrap();
                String::from_utf8_lossy(&data).contains(&format!("Subject: {subject}"))
            })
            .expect("delivered");
        inbox.read(m).unwrap()
    }

    /// Deliver `n` messages straight into alice's INBOX (`Message-ID: <i@test>`).
    fn deliver(&self, n: usize) {
        let inbox = self.inbox();
        for i in 1..=n {
            inbox
                .deliver(format!("Message-ID: <{i}@test>\nSubject: message {i}\n\nbody {i}\n").as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn python(&self, script: &str) -> String {
        let script = format!(
            "import imaplib, poplib, ssl, threading, time\n\
             ctx = ssl.create_default_context(cafile=\"{ca}\")\n\
             POP3, IMAP = {pop3}, {imap}\n\
             def pop():\n    p = poplib.POP3(\"127.0.0.1\", POP3, timeout=20)\n    p.stls(context=ctx)\n    p.user(\"alice\")\n    return p\n\
             def imap():\n    m = imaplib.IMAP4(\"127.0.0.1\", IMAP, timeout=20)\n    m.starttls(ssl_context=ctx)\n    m.login(\"alice\", \"wonderland\")\n    return m\n\
             {script}",
            ca = self.ca().display(),
            pop3 = self.ports.pop3,
            imap = self.ports.imap,
        );
        let (ok, out) = run_python(&script);
        assert!(ok, "{out}\n--- server\n{}", self.log());
        out
    }
}

/// LF line ends (fetchmail and mutt hand messages on with LF).
fn lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (i, &b) in data.iter().enumerate() {
        if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

fn assert_same_message(got: &[u8], stored: &[u8], what: &str) {
    assert!(
        stored.starts_with(b"Received: from "),
        "the server adds a Received header: {}",
        String::from_utf8_lossy(stored)
    );
    assert_eq!(
        String::from_utf8_lossy(&lf(got)),
        String::from_utf8_lossy(&lf(stored)),
        "{what} differs from the delivered file"
    );
}

#[test]
fn fetchmail_pop3_stls_reads_a_submission_byte_for_byte() {
    let Some(fetchmail_bin) = require_tool("fetchmail") else {
        return;
    };
    if !require_python_module("smtplib") {
        return;
    }
    let server = Server::start("clients-fetchmail");
    let stored = server.submit("for fetchmail");
    let home = server.dir.path().join("fetchmail-home");
    let poll = FetchmailPoll {
        proto: "pop3",
        port: server.ports.pop3,
        auth: "password",
        user: "alice",
        password: "wonderland",
        ca: &server.ca(),
        keep: true,
    };
    let (out, fetched) = fetchmail(&fetchmail_bin, &home, &poll);
    let text = describe_output(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n--- server\n{}", server.log());
    assert!(text.contains("POP3> STLS"), "fetchmail used STLS: {text}");
    assert_same_message(&fetched, &stored, "fetchmail's copy");
    assert_eq!(server.inbox().list().unwrap().len(), 1, "-k keeps the message");
    // Without -k: fetched, deleted at QUIT.
    let (out, fetched) = fetchmail(
        &fetchmail_bin,
        &home.join("again"),
        &FetchmailPoll { keep: false, ..poll },
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe_output(&out));
    assert_same_message(&fetched, &stored, "fetchmail's second copy");
    assert!(server.inbox().list().unwrap().is_empty(), "{}", server.log());
    let log = server.log();
    assert!(log.contains("pop3-login: Login: user=<alice>"), "{log}");
    assert!(!log.contains("wonderland"), "a password reached the log");
}

#[test]
fn mutt_imap_starttls_reads_a_submission_byte_for_byte() {
    let Some(tmux) = require_tool("tmux") else { return };
    let Some(mutt) = require_tool("mutt") else { return };
    if !require_python_module("smtplib") {
        return;
    }
    let server = Server::start("clients-mutt");
    let stored = server.submit("for mutt");
    let home = server.dir.path().join("mutt-home");
    let saved = home.join("piped.eml");
    // X pipes the raw message (no decoding) into a file.
    let extra_rc = format!(
        "set wait_key=no\nset pipe_decode=no\nunset pipe_split\n\
         macro index X \"<pipe-message>cat > {}<enter>\"\n",
        saved.display()
    );
    let imap = MuttImap {
        port: server.ports.imap,
        user: "alice",
        password: "wonderland",
        ca: &server.ca(),
        authenticators: "plain:login",
        extra_rc: &extra_rc,
    };
    let term = mutt_imap(&tmux, &mutt, &home, &imap);
    let (ok, screen) = term.wait_for(&["for mutt"], Duration::from_secs(20));
    assert!(
        ok,
        "mutt index shows the subject:\n{screen}\n--- server\n{}",
        server.log()
    );
    term.send_keys(&["X"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline
        && !std::fs::read(&saved).is_ok_and(|d| d.ends_with(b"last line\n"))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let piped = std::fs::read(&saved).unwrap_or_default();
    term.send_keys(&["q"]);
    // mutt's pipe-message starts with an mbox "From " line of its own.
    let piped = match piped.strip_prefix(b"From ") {
        Some(rest) => rest[rest.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1)..].to_vec(),
        None => piped,
    };
    assert_same_message(&piped, &stored, "mutt's piped message");
    let log = server.log();
    assert!(
        log.contains("imap-login: Login: user=<alice>, method=PLAIN"),
        "{log}"
    );
    assert!(log.contains(", TLS"), "{log}");
}

#[test]
fn pop3_session_and_imap_select_exclude_each_other() {
    if !require_python_module("imaplib") {
        return;
    }
    let server = Server::start("clients-locking");
    server.deliver(3);
    let out = server.python(
        r#"
# A POP3 session in TRANSACTION holds the maildrop: IMAP SELECT is refused,
# read-only EXAMINE and STATUS still work.
p = pop(); p.pass_("wonderland")
assert p.stat()[0] == 3
m = imap()
typ, data = m.select("INBOX")
assert typ == "NO" and b"[INUSE]" in data[0], (typ, data)
typ, data = m.select("INBOX", readonly=True)
assert typ == "OK" and data == [b"3"], (typ, data)
typ, data = m.status("INBOX", "(MESSAGES)")
assert typ == "OK" and b"MESSAGES 3" in data[0], data
# POP3 deletes one message and leaves: IMAP SELECT works and sees 2.
p.dele(1)
p.quit()
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"2"], (typ, data)
# Now IMAP has INBOX selected: POP3 logins are refused with [IN-USE] ...
p = pop()
try:
    p.pass_("wonderland")
    raise SystemExit("POP3 login accepted while IMAP has INBOX selected")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR [IN-USE]"), e
p.quit()
# ... also while a second IMAP session shares INBOX ...
m2 = imap()
typ, data = m2.select("INBOX")
assert typ == "OK", (typ, data)
m.logout()
p = pop()
try:
    p.pass_("wonderland")
    raise SystemExit("POP3 login accepted while IMAP has INBOX selected")
except poplib.error_proto as e:
    assert "[IN-USE]" in str(e), e
p.quit()
# ... CLOSE lets go of INBOX at once (no further command needed) ...
typ, data = m2.close()
assert typ == "OK", (typ, data)
p = pop(); p.pass_("wonderland")
p.quit()
typ, data = m2.select("INBOX")
assert typ == "OK", (typ, data)
# ... and so does selecting another mailbox (or logging out).
m2.create("Archive")
typ, data = m2.select("Archive")
assert typ == "OK", (typ, data)
p = pop(); p.pass_("wonderland")
assert p.stat()[0] == 2
p.quit()
m2.logout()
print("OK")
"#,
    );
    assert!(out.contains("OK"), "{out}");
    let log = server.log();
    assert!(log.contains("in use by a POP3 session"), "{log}");
}

#[test]
fn concurrent_imap_store_and_expunge_lose_and_duplicate_nothing() {
    if !require_python_module("imaplib") {
        return;
    }
    let server = Server::start("clients-concurrent");
    server.deliver(40);
    let out = server.python(
        r#"
import re
m = imap(); m.select("INBOX")
typ, data = m.uid("SEARCH", "ALL")
uids = [int(u) for u in data[0].split()]
assert len(uids) == 40, uids
m.logout()
# Two sessions, each owning half of the messages, at the same time: both flag
# all of their own messages one by one, read the other half (whose files the
# other session is renaming) and reselect INBOX, three rounds; then delete
# every fourth of their own and EXPUNGE.
halves = [uids[:20], uids[20:]]
errors = []
barrier = threading.Barrier(2, timeout=30)
def work(mine, theirs):
    try:
        s = imap(); s.select("INBOX")
        barrier.wait()
        for rnd, flag in enumerate(["\\Seen", "\\Flagged", "\\Answered"]):
            for i, uid in enumerate(mine):
                typ, _ = s.uid("STORE", str(uid), "+FLAGS", "(%s)" % flag)
                assert typ == "OK", typ
                other = theirs[i]
                typ, d = s.uid("FETCH", str(other), "(BODY.PEEK[])")
                assert typ == "OK" and b"body" in d[0][1], (typ, d)
            # A fresh look while the other session renames files: every
            # message, under the UID it had.
            typ, d = s.select("INBOX")
            assert typ == "OK" and d == [b"40"], (typ, d)
            typ, d = s.uid("SEARCH", "ALL")
            assert [int(u) for u in d[0].split()] == uids, d
        barrier.wait()
        for uid in mine:
            if uid % 4 == 0:
                s.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
        typ, _ = s.expunge()
        assert typ == "OK", typ
        s.logout()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=work, args=(halves[0], halves[1])),
           threading.Thread(target=work, args=(halves[1], halves[0]))]
for t in threads: t.start()
for t in threads: t.join(60)
assert not errors, errors
# A fresh session sees every surviving message exactly once, same UIDs,
# every flag of every round.
m = imap(); m.select("INBOX")
typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
seen = {}
for item in data:
    if not isinstance(item, tuple): continue
    uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
    flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()
    mid = item[1].strip()
    assert uid not in seen, uid
    seen[uid] = (mid, sorted(flags))
expected = [u for u in uids if u % 4 != 0]
assert sorted(seen) == expected, (sorted(seen), expected)
mids = [v[0] for v in seen.values()]
assert len(set(mids)) == len(mids), mids
for uid, (mid, flags) in seen.items():
    assert flags == [b"\\Answered", b"\\Flagged", b"\\Seen"], (uid, flags)
m.logout()
print("OK", len(seen))
"#,
    );
    assert!(out.contains("OK 30"), "{out}");
    // On disk: 30 files, one per message.
    let list = server.inbox().list().unwrap();
    assert_eq!(list.len(), 30, "{list:?}");
    let files = std::fs::read_dir(server.inbox().path().join("cur"))
        .unwrap()
        .count()
        + std::fs::read_dir(server.inbox().path().join("new"))
            .unwrap()
            .count();
    assert_eq!(files, 30);
}
