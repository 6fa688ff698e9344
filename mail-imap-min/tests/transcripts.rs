//! Transcript tests: one per command family, against an in-memory store.

mod common;

use common::*;
use mail_imap_min::{Event, Flags, MessageMeta};
use mail_proto::{Session, TlsInfo, TlsSwitch};

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn tls_info() -> TlsInfo {
    TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS_AES_256_GCM_SHA384".into(),
        bits: 256,
        ..TlsInfo::default()
    }
}

#[test]
fn cleartext_greeting_hides_plaintext_auth() {
    let mut h = Harness::new(config(false));
    let greeting = h.drain();
    assert_eq!(
        greeting,
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE STARTTLS LOGINDISABLED AUTH=CRAM-MD5] ready\r\n"
    );
    let out =
        h.run("a LOGIN ned secret\r\nb AUTHENTICATE PLAIN AG5lZABzZWNyZXQ=\r\nc AUTHENTICATE LOGIN\r\n");
    assert_eq!(
        out,
        "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n\
         b NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n\
         c NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
    );
    assert!(h.log.is_empty(), "no credentials were checked: {:?}", h.log);
    let out = h.run("d AUTHENTICATE ANONYMOUS\r\ne AUTHENTICATE X-FOO\r\nf SELECT INBOX\r\n");
    assert_eq!(
        out,
        "d NO Unsupported authentication mechanism.\r\ne NO Unsupported authentication mechanism.\r\n\
         f BAD Command not valid in this state (log in first).\r\n"
    );
}

#[test]
fn cleartext_auth_when_allowed() {
    let mut c = config(false);
    c.mechanisms.tls_auth_only = false;
    c.starttls = false;
    let mut h = Harness::new(c);
    let greeting = h.drain();
    assert!(
        !greeting.contains("LOGINDISABLED") && !greeting.contains("STARTTLS"),
        "{greeting}"
    );
    assert!(
        greeting.contains("AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5"),
        "{greeting}"
    );
    let out = h.run("a LOGIN ned secret\r\n");
    assert!(out.starts_with("a OK [CAPABILITY IMAP4rev1"), "{out}");
    let out = h.run("b STARTTLS\r\n");
    assert_eq!(out, "b BAD TLS support isn't enabled.\r\n");
}

#[test]
fn starttls_discards_injected_commands() {
    let mut h = Harness::new(config(false));
    h.drain();
    let out = h.run("a STARTTLS\r\nb NOOP\r\n");
    assert_eq!(out, "a OK Begin TLS negotiation now.\r\n");
    assert_eq!(h.session.tls_switch(), TlsSwitch::AfterOutput);
    // More bytes before the handshake completes are never parsed either.
    h.session.receive(b"c LOGIN ned secret\r\n");
    assert!(h.session.next_event().is_none());
    assert!(h.session.output().is_empty());
    let discarded = h.session.tls_established(&tls_info());
    assert_eq!(discarded, "b NOOP\r\n".len() + "c LOGIN ned secret\r\n".len());
    assert_eq!(h.session.tls_switch(), TlsSwitch::None);
    assert!(h.session.is_secure());
    assert_eq!(h.session.tls_info().unwrap().protocol, "TLSv1.3");
    let out = h.run("d CAPABILITY\r\n");
    assert_eq!(
        out,
        "* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5\r\n\
         d OK Capability completed.\r\n"
    );
    let out = h.run("e STARTTLS\r\n");
    assert_eq!(out, "e BAD TLS is already active.\r\n");
    assert!(h.log.is_empty(), "{:?}", h.log);
}

#[test]
fn login_success_failure_delay_and_close() {
    let mut h = Harness::secure();
    let out = h.run("a LOGIN ned wrong\r\n");
    assert_eq!(out, "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    assert!(h.log.iter().any(|e| e.starts_with("Delay(2s)")), "{:?}", h.log);
    // Unknown user: the same reply.
    let out = h.run("b LOGIN mallory secret\r\n");
    assert_eq!(out, "b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    let out = h.run("c LOGIN ned wrong\r\nd NOOP\r\n");
    assert_eq!(
        out,
        "c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n* BYE Too many invalid authentication attempts.\r\n"
    );
    assert!(h.session.is_closed());
    assert!(h.log.last().unwrap().starts_with("Close"));

    let mut h = Harness::secure();
    let out = h.run("a LOGIN \"ned\" {6}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run("secret\r\nb LOGIN ned secret\r\n");
    assert_eq!(
        out,
        "a OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN MOVE] Logged in\r\n\
         b BAD Already authenticated.\r\n"
    );
    assert!(h
        .log
        .iter()
        .any(|e| e.contains("AuthSucceeded") && e.contains("\"ned\"")));
    h.backend_down = true;
    let mut h2 = Harness::secure();
    h2.backend_down = true;
    let out = h2.run("a LOGIN ned secret\r\n");
    assert_eq!(out, "a NO [UNAVAILABLE] Temporary authentication failure.\r\n");
}

#[test]
fn authenticate_plain_forms() {
    let mut h = Harness::secure();
    let ir = b64(b"\0ned\0secret");
    let out = h.run(&format!("a AUTHENTICATE PLAIN {ir}\r\n"));
    assert!(out.starts_with("a OK [CAPABILITY IMAP4rev1"), "{out}");

    let mut h = Harness::secure();
    let out = h.run("a AUTHENTICATE PLAIN\r\n");
    assert_eq!(out, "+ \r\n");
    let out = h.run(&format!("{}\r\n", b64(b"\0ned\0wrong")));
    assert_eq!(out, "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    let out = h.run("b AUTHENTICATE PLAIN\r\n*\r\n");
    assert_eq!(out, "+ \r\nb BAD Authentication aborted by client.\r\n");
    let out = h.run("c AUTHENTICATE PLAIN\r\n!!!\r\n");
    assert_eq!(out, "+ \r\nc BAD Invalid base64 data in continued response.\r\n");
    let out = h.run("d AUTHENTICATE PLAIN !!!\r\n");
    assert_eq!(out, "d BAD Error in IMAP command: Invalid initial response\r\n");
    let long = "A".repeat(20_000);
    let out = h.run(&format!("e AUTHENTICATE PLAIN\r\n{long}\r\nf NOOP\r\n"));
    assert_eq!(
        out,
        "+ \r\ne BAD [TOOBIG] SASL response too long.\r\nf NOOP completed.\r\n"
            .replace("f NOOP", "f OK NOOP")
    );
}

#[test]
fn authenticate_login_and_cram_md5() {
    use hmac::{Hmac, Mac};
    let mut h = Harness::secure();
    let out = h.run("a AUTHENTICATE LOGIN\r\n");
    assert_eq!(out, format!("+ {}\r\n", b64(b"Username:")));
    let out = h.run(&format!("{}\r\n", b64(b"ned")));
    assert_eq!(out, format!("+ {}\r\n", b64(b"Password:")));
    let out = h.run(&format!("{}\r\n", b64(b"secret")));
    assert!(out.starts_with("a OK [CAPABILITY"), "{out}");

    let mut h = Harness::new(config(false));
    h.drain();
    // mutt (GNU SASL) sends a trailing space after the mechanism name.
    let first = h.run("z AUTHENTICATE CRAM-MD5 \r\n*\r\n");
    assert!(
        first.starts_with("+ ") && first.ends_with("z BAD Authentication aborted by client.\r\n"),
        "{first}"
    );
    let out = h.run("a AUTHENTICATE CRAM-MD5\r\n");
    // Each exchange gets a fresh challenge.
    assert_ne!(first.lines().next(), out.lines().next());
    let challenge_b64 = out.strip_prefix("+ ").unwrap().trim_end();
    use base64::Engine;
    let challenge = base64::engine::general_purpose::STANDARD
        .decode(challenge_b64)
        .unwrap();
    assert!(
        challenge.ends_with(b"@imap.example.test>"),
        "{:?}",
        String::from_utf8_lossy(&challenge)
    );
    let mut mac = Hmac::<md5::Md5>::new_from_slice(b"secret").unwrap();
    mac.update(&challenge);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = h.run(&format!("{}\r\n", b64(format!("ned {digest}").as_bytes())));
    assert!(out.starts_with("a OK [CAPABILITY"), "{out}");
}

#[test]
fn select_examine_status() {
    let mut h = Harness::secure();
    h.run("l LOGIN ned secret\r\n");
    let out = h.run("s SELECT inbox\r\n");
    assert_eq!(
        out,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Flags permitted.\r\n\
         * 3 EXISTS\r\n* 1 RECENT\r\n* OK [UNSEEN 2] First unseen.\r\n\
         * OK [UIDVALIDITY 1234] UIDs valid\r\n* OK [UIDNEXT 8] Predicted next UID\r\n\
         s OK [READ-WRITE] Select completed.\r\n"
    );
    assert_eq!(h.session.selected_mailbox(), Some("INBOX"));
    let out = h.run("e EXAMINE Sent\r\n");
    assert!(
        out.contains("* 0 EXISTS\r\n") && out.contains("[PERMANENTFLAGS ()]"),
        "{out}"
    );
    assert!(out.ends_with("e OK [READ-ONLY] Examine completed.\r\n"));
    let out = h.run("f STORE 1 +FLAGS \\Seen\r\n");
    assert_eq!(out, "f NO [READ-ONLY] Mailbox is read-only.\r\n");
    let out = h.run("g SELECT Nope\r\nh FETCH 1 FLAGS\r\n");
    assert_eq!(
        out,
        "g NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\nh BAD No mailbox selected.\r\n"
    );
    let out = h.run("i STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)\r\n");
    assert_eq!(
        out,
        "* STATUS INBOX (MESSAGES 3 RECENT 1 UIDNEXT 8 UIDVALIDITY 1234 UNSEEN 2)\r\ni OK Status completed.\r\n"
    );
}

#[test]
fn fetch_metadata_and_bodies() {
    let mut h = Harness::selected();
    let out = h.run("a FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)\r\n");
    assert_eq!(
        out,
        format!(
            "* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE {} INTERNALDATE \"04-Feb-1994 01:00:00 +0000\")\r\n\
             * 2 FETCH (UID 4 FLAGS (\\Recent) RFC822.SIZE {} INTERNALDATE \"01-Mar-2022 01:00:00 +0000\")\r\n\
             * 3 FETCH (UID 7 FLAGS (\\Flagged) RFC822.SIZE {} INTERNALDATE \"23-May-2023 01:00:00 +0000\")\r\n\
             a OK Fetch completed.\r\n",
            MSG1.len(),
            MSG2.len(),
            MSG3.len()
        )
    );
    assert!(h.log.is_empty(), "metadata needs no message bytes: {:?}", h.log);

    // BODY.PEEK does not set \Seen; the bytes are the stored bytes.
    let out = h.run("b UID FETCH 7 BODY.PEEK[]\r\n");
    assert_eq!(
        out,
        format!(
            "* 3 FETCH (UID 7 BODY[] {{{}}}\r\n{})\r\nb OK Fetch completed.\r\n",
            MSG3.len(),
            String::from_utf8_lossy(MSG3)
        )
    );
    assert_eq!(h.log, vec!["FetchMessage { uid: 7 }"]);
    h.log.clear();
    // BODY[TEXT] sets \Seen, reports FLAGS and asks the caller to persist it.
    let out = h.run("c FETCH 3 BODY[TEXT]\r\n");
    assert_eq!(
        out,
        "* 3 FETCH (BODY[TEXT] {7}\r\nshort\r\n FLAGS (\\Seen \\Flagged))\r\nc OK Fetch completed.\r\n"
    );
    assert!(
        h.log
            .iter()
            .any(|e| e.contains("FlagsChanged") && e.contains("uid: 7")),
        "{:?}",
        h.log
    );
    assert_eq!(
        h.mailboxes["INBOX"].2[2].meta.flags,
        Flags::SEEN.union(Flags::FLAGGED)
    );
    // Partial, header fields, RFC822.* forms.
    let out = h.run("d FETCH 1 (BODY.PEEK[TEXT]<0.5> BODY.PEEK[HEADER.FIELDS (Subject)] RFC822.HEADER)\r\n");
    assert!(out.starts_with("* 1 FETCH (BODY[TEXT]<0> {5}\r\nHello BODY[HEADER.FIELDS (Subject)] {26}\r\nSubject: first message\r\n\r\n RFC822.HEADER {"), "{out}");
    // HEADER.FIELDS.NOT: every header field but the named ones (refused as
    // an invalid section before session 3: found by imap_differential).
    let out = h.run("d2 FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (Subject To)]\r\n");
    assert!(
        out.starts_with("* 1 FETCH (BODY[HEADER.FIELDS.NOT (Subject To)] {"),
        "{out}"
    );
    assert!(out.contains("From: Ned") && !out.contains("Subject:"), "{out}");
    assert!(out.ends_with("d2 OK Fetch completed.\r\n"), "{out}");
    let out = h.run("e FETCH 1 BODY.PEEK[TEXT]<100.5>\r\n");
    assert_eq!(
        out,
        "* 1 FETCH (BODY[TEXT]<100> {0}\r\n)\r\ne OK Fetch completed.\r\n"
    );
    let out = h.run("f UID FETCH 1 RFC822\r\n");
    assert!(
        out.starts_with(&format!(
            "* 1 FETCH (UID 1 RFC822 {{{}}}\r\nFrom: Ned",
            MSG1.len()
        )),
        "{out}"
    );
}

#[test]
fn fetch_structure() {
    let mut h = Harness::selected();
    let out = h.run("a FETCH 2 (ENVELOPE BODYSTRUCTURE)\r\n");
    assert_eq!(
        out,
        "* 2 FETCH (ENVELOPE (\"Tue, 1 Mar 2022 10:00:00 +0000\" \"second\" ((NIL NIL \"alice\" \"example.net\")) \
         ((NIL NIL \"alice\" \"example.net\")) ((NIL NIL \"alice\" \"example.net\")) ((NIL NIL \"ned\" \"example.com\")) \
         NIL NIL NIL NIL) BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 1 NIL NIL NIL NIL)\
         (\"APPLICATION\" \"PDF\" (\"NAME\" \"x.pdf\") NIL NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"x.pdf\")) NIL NIL) \
         \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL))\r\na OK Fetch completed.\r\n"
    );
    let out = h.run("b FETCH 2 (BODY BODY.PEEK[2] BODY.PEEK[2.MIME] BODY.PEEK[3])\r\n");
    assert!(
        out.contains(" \"MIXED\") BODY[2] {8}\r\nJVBERi0K BODY[2.MIME] {"),
        "{out}"
    );
    assert!(out.contains(" BODY[3] NIL)"), "{out}");
    let out = h.run("c FETCH 1 ALL\r\n");
    assert!(
        out.starts_with("* 1 FETCH (FLAGS (\\Seen) INTERNALDATE "),
        "{out}"
    );
    assert!(out.contains("ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"first message\" ((\"Ned Freed\" NIL \"ned\" \"example.com\"))"), "{out}");
    let out = h.run("d FETCH 4 FLAGS\r\ne FETCH 0:1 FLAGS\r\nf FETCH 1 (FLAGS\r\n");
    assert_eq!(
        out,
        "d BAD Invalid messageset.\r\ne BAD Error in IMAP command: Invalid messageset\r\n\
         f BAD Error in IMAP command: Invalid fetch items\r\n"
    );
    // UID ranges: 5:* includes the last message even when * < 5 ordering flips.
    let out = h.run("g UID FETCH 5:* UID\r\nh UID FETCH 100:* UID\r\n");
    assert_eq!(
        out,
        "* 3 FETCH (UID 7)\r\ng OK Fetch completed.\r\n* 3 FETCH (UID 7)\r\nh OK Fetch completed.\r\n"
    );
}

#[test]
fn store_expunge_close() {
    let mut h = Harness::selected();
    let out = h.run("a STORE 1:2 +FLAGS (\\Deleted)\r\n");
    assert_eq!(
        out,
        "* 1 FETCH (FLAGS (\\Seen \\Deleted))\r\n* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\na OK Store completed.\r\n"
    );
    assert_eq!(h.log.iter().filter(|e| e.starts_with("FlagsChanged")).count(), 2);
    let out = h.run("b UID STORE 4 -FLAGS.SILENT (\\Deleted)\r\nc UID STORE 7 FLAGS (\\Answered)\r\n");
    assert_eq!(
        out,
        "b OK Store completed.\r\n* 3 FETCH (UID 7 FLAGS (\\Answered))\r\nc OK Store completed.\r\n"
    );
    assert_eq!(h.mailboxes["INBOX"].2[2].meta.flags, Flags::ANSWERED);
    h.run("d STORE 2:3 +FLAGS.SILENT (\\Deleted)\r\n");
    h.log.clear();
    // UID EXPUNGE only removes the named UIDs.
    let out = h.run("e UID EXPUNGE 7\r\n");
    assert_eq!(out, "* 3 EXPUNGE\r\ne OK Expunge completed.\r\n");
    assert_eq!(h.log, vec!["Expunged { mailbox: \"INBOX\", uids: [7] }"]);
    let out = h.run("f EXPUNGE\r\n");
    assert_eq!(out, "* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nf OK Expunge completed.\r\n");
    assert!(h.mailboxes["INBOX"].2.is_empty());
    let out = h.run("g FETCH 1:* FLAGS\r\n");
    assert_eq!(out, "g BAD Invalid messageset.\r\n");

    let mut h = Harness::selected();
    h.run("a STORE 3 +FLAGS.SILENT \\Deleted\r\n");
    h.log.clear();
    let out = h.run("b CLOSE\r\nc NOOP\r\n");
    assert_eq!(out, "b OK Close completed.\r\nc OK NOOP completed.\r\n");
    assert_eq!(
        h.log,
        vec![
            "Expunged { mailbox: \"INBOX\", uids: [7] }",
            "MailboxClosed { mailbox: \"INBOX\" }"
        ]
    );
    assert_eq!(h.session.selected_mailbox(), None);

    let mut h = Harness::selected();
    h.run("a EXAMINE INBOX\r\n");
    let out = h.run("b STORE 1 +FLAGS \\Deleted\r\nc EXPUNGE\r\nd FETCH 2 BODY[]\r\n");
    assert!(out.starts_with("b NO [READ-ONLY] Mailbox is read-only.\r\nc NO [READ-ONLY] Mailbox is read-only.\r\n* 2 FETCH (BODY[] {"), "{out}");
    assert!(
        !h.log.iter().any(|e| e.starts_with("FlagsChanged")),
        "EXAMINE never changes flags"
    );
    let out = h.run("e UNSELECT\r\n");
    assert_eq!(out, "e OK Unselect completed.\r\n");
}

#[test]
fn search_keys() {
    let mut h = Harness::selected();
    let cases = [
        ("ALL", "1 2 3"),
        ("UNSEEN", "2 3"),
        ("SEEN", "1"),
        ("FLAGGED", "3"),
        ("NOT FLAGGED", "1 2"),
        ("OR SEEN FLAGGED", "1 3"),
        ("RECENT", "2"),
        ("NEW", "2"),
        ("UID 4:*", "2 3"),
        ("2:3 UNFLAGGED", "2"),
        ("LARGER 200", "2"),
        ("SMALLER 100", "3"),
        ("SINCE 1-Mar-2022", "2 3"),
        ("BEFORE 1-Mar-2022", "1"),
        ("ON 01-Mar-2022", "2"),
        ("FROM ned@example.com", "1"),
        ("FROM \"NED FREED\"", "1"),
        ("TO ned", "2"),
        ("SUBJECT flagged", "3"),
        ("HEADER Message-ID <1@", "1"),
        ("BODY attachment", "2"),
        ("TEXT alice", "2"),
        ("SENTBEFORE 1-Jan-2000", "1"),
        ("CHARSET UTF-8 (SUBJECT first SEEN)", "1"),
        ("KEYWORD $Junk", ""),
        ("DELETED", ""),
    ];
    for (key, expected) in cases {
        let out = h.run(&format!("s SEARCH {key}\r\n"));
        let want = if expected.is_empty() {
            String::new()
        } else {
            format!(" {expected}")
        };
        assert_eq!(
            out,
            format!("* SEARCH{want}\r\ns OK Search completed.\r\n"),
            "SEARCH {key}"
        );
    }
    let out = h.run("u UID SEARCH UNSEEN\r\n");
    assert_eq!(out, "* SEARCH 4 7\r\nu OK Search completed.\r\n");
    let out = h.run("v SEARCH FOO\r\n");
    assert_eq!(out, "v BAD Error in IMAP command: Unknown search key\r\n");
}

#[test]
fn list_lsub_and_mailbox_ops() {
    let mut h = Harness::secure();
    h.run("l LOGIN ned secret\r\n");
    let out = h.run("a LIST \"\" \"\"\r\n");
    assert_eq!(out, "* LIST (\\Noselect) \"/\" \"\"\r\na OK List completed.\r\n");
    let out = h.run("b LIST \"\" *\r\n");
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST (\\HasChildren) \"/\" Sent\r\n\
         * LIST (\\HasNoChildren) \"/\" Sent/2024\r\nb OK LIST completed.\r\n"
    );
    let out = h.run("c LIST \"\" %\r\n");
    assert_eq!(
        out,
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST (\\HasChildren) \"/\" Sent\r\nc OK LIST completed.\r\n"
    );
    let out = h.run("d LSUB \"Sent/\" %\r\ne LIST \"\" inbox\r\n");
    assert_eq!(
        out,
        "* LSUB (\\HasNoChildren) \"/\" Sent/2024\r\nd OK LSUB completed.\r\n\
         * LIST (\\HasNoChildren) \"/\" INBOX\r\ne OK LIST completed.\r\n"
    );
    let out = h.run("f CREATE Drafts\r\ng CREATE Drafts\r\nh RENAME Drafts Old\r\ni DELETE Old\r\nj DELETE INBOX\r\nk SUBSCRIBE Sent\r\n");
    assert_eq!(
        out,
        "f OK Completed.\r\ng NO [CANNOT] Mailbox already exists\r\nh OK Completed.\r\ni OK Completed.\r\n\
         j NO [CANNOT] INBOX can't be deleted.\r\nk OK Completed.\r\n"
    );
    let out = h.run("m NAMESPACE\r\nn ID (\"name\" \"test\")\r\no ENABLE CONDSTORE\r\n");
    assert_eq!(
        out,
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nm OK Namespace completed.\r\n* ID (\"name\" \"mailcrates\")\r\n\
         n OK ID completed.\r\n* ENABLED\r\no OK Enabled.\r\n"
    );
}

#[test]
fn idle_and_caller_reported_changes() {
    let mut h = Harness::selected();
    let out = h.run("a IDLE\r\n");
    assert_eq!(out, "+ idling\r\n");
    assert_eq!(h.log, vec!["IdleStarted"]);
    h.session.mailbox_new_messages(vec![MessageMeta {
        uid: 9,
        flags: Flags::RECENT,
        internal_date: 0,
        size: 10,
    }]);
    assert_eq!(h.drain(), "* 4 EXISTS\r\n");
    h.session
        .mailbox_flags_changed(1, Flags::SEEN.union(Flags::ANSWERED));
    assert_eq!(h.drain(), "* 1 FETCH (UID 1 FLAGS (\\Seen \\Answered))\r\n");
    h.session.mailbox_expunged(4);
    assert_eq!(h.drain(), "* 2 EXPUNGE\r\n");
    let out = h.run("done\r\n");
    assert_eq!(out, "a OK Idle completed.\r\n");
    // Outside IDLE: expunges wait for a command that allows them (not FETCH).
    h.session.mailbox_expunged(1);
    h.session.mailbox_new_messages(vec![MessageMeta {
        uid: 10,
        flags: Flags::empty(),
        internal_date: 0,
        size: 10,
    }]);
    assert_eq!(h.drain(), "");
    let out = h.run("b FETCH 1 UID\r\n");
    assert_eq!(
        out,
        "* 1 FETCH (UID 1)\r\n* 4 EXISTS\r\nb OK Fetch completed.\r\n"
    );
    let out = h.run("c NOOP\r\n");
    assert_eq!(out, "* 1 EXPUNGE\r\nc OK NOOP completed.\r\n");
    let out = h.run("d IDLE\r\nnope\r\n");
    assert_eq!(out, "+ idling\r\nd BAD Expected DONE.\r\n");
}

#[test]
fn literals_and_limits() {
    let mut h = Harness::secure();
    let out = h.run("a LOGIN {3+}\r\nned {0}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run("\r\n");
    assert_eq!(
        out,
        "a NO [AUTHENTICATIONFAILED] Authentication failed: empty user name or password.\r\n"
    );
    let out = h.run("b LOGIN {3}\r\nned {6+}\r\nsecret\r\n");
    assert!(
        out.starts_with("+ Ready for literal data\r\nb OK [CAPABILITY"),
        "{out}"
    );
    // Oversized literals: refused, the connection stays usable.
    let out = h.run("c SELECT {100000}\r\nd NOOP\r\n");
    assert_eq!(
        out,
        "c NO [TOOBIG] Command or literal too large.\r\nd OK NOOP completed.\r\n"
    );
    let big = "x".repeat(100_000);
    let out = h.run(&format!("e SELECT {{100000+}}\r\n{big}\r\nf NOOP\r\n"));
    assert_eq!(
        out,
        "e NO [TOOBIG] Command or literal too large.\r\nf OK NOOP completed.\r\n"
    );
    let out = h.run(&format!("g NOOP {big}\r\nh NOOP\r\n"));
    assert_eq!(out, "* BAD [TOOBIG] Line too long.\r\nh OK NOOP completed.\r\n");
    let out = h.run("i SELECT {0}\r\n\r\n");
    assert_eq!(
        out,
        "+ Ready for literal data\r\ni NO [NONEXISTENT] Mailbox doesn't exist: \r\n"
    );
}

#[test]
fn bad_commands_and_logout() {
    let mut h = Harness::secure();
    let out = h.run("a FROB\r\n\r\n+x NOOP\r\n");
    assert_eq!(
        out,
        "a BAD Error in IMAP command: Unknown command.\r\n* BAD Error in IMAP command: Missing or invalid tag.\r\n\
         * BAD Error in IMAP command: Missing or invalid tag.\r\n"
    );
    let mut flood = String::new();
    for i in 0..30 {
        flood.push_str(&format!("t{i} FROB\r\n"));
    }
    let out = h.run(&flood);
    assert!(
        out.ends_with("* BYE Too many invalid IMAP commands.\r\n"),
        "{out}"
    );
    assert_eq!(out.matches(" BAD ").count(), 17);
    assert!(h.session.is_closed());

    let mut h = Harness::secure();
    let out = h.run("a LOGOUT\r\nb NOOP\r\n");
    assert_eq!(out, "* BYE Logging out\r\na OK Logout completed.\r\n");
    assert!(h.session.is_closed());
    assert_eq!(h.log, vec!["Close"]);
}

#[test]
fn answering_unasked_decisions_is_an_error() {
    let mut h = Harness::secure();
    assert!(h.session.mailbox_opened(None).is_err());
    assert!(h.session.message_content(None).is_err());
    assert!(h.session.mailbox_list(vec![]).is_err());
    assert!(h.session.mailbox_op_done(Ok(())).is_err());
    assert!(h
        .session
        .auth_verified(mail_sasl::VerifyOutcome::Success { server_proof: None })
        .is_err());
    assert!(!h.session.is_authenticated());
    let _ = Event::Close;
}

#[test]
fn vanished_message_gives_no() {
    let mut h = Harness::selected();
    h.mailboxes
        .get_mut("INBOX")
        .unwrap()
        .2
        .retain(|m| m.meta.uid != 4);
    let out = h.run("a FETCH 1:3 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\r\n");
    assert!(
        out.contains("* 1 FETCH") && out.contains("* 3 FETCH") && !out.contains("* 2 FETCH"),
        "{out}"
    );
    assert!(
        out.ends_with("a NO Some messages could not be FETCHed.\r\n"),
        "{out}"
    );
}

#[test]
fn copy_and_move_with_copyuid() {
    let mut h = Harness::selected();
    let out = h.run("a COPY 1:2 Sent\r\n");
    assert_eq!(out, "a OK [COPYUID 99 1,4 1,2] Copy completed.\r\n");
    assert_eq!(h.mailboxes["Sent"].2.len(), 2);
    assert_eq!(h.mailboxes["Sent"].2[1].bytes, MSG2);
    let out = h.run("b UID COPY 7 Trash\r\n");
    assert_eq!(out, "b NO [TRYCREATE] Mailbox doesn't exist.\r\n");
    let out = h.run("c UID MOVE 4 Sent\r\n");
    assert_eq!(
        out,
        "* OK [COPYUID 99 4 3] Moved.\r\n* 2 EXPUNGE\r\nc OK Move completed.\r\n"
    );
    assert!(
        h.log
            .iter()
            .any(|e| e == "Expunged { mailbox: \"INBOX\", uids: [4] }"),
        "{:?}",
        h.log
    );
    assert_eq!(h.mailboxes["INBOX"].2.len(), 2);
    let out = h.run("d FETCH 1:* UID\r\ne UID COPY 100:200 Sent\r\n");
    assert_eq!(
        out,
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 7)\r\nd OK Fetch completed.\r\ne OK No messages copied.\r\n"
    );
    h.run("f EXAMINE INBOX\r\n");
    let out = h.run("g MOVE 1 Sent\r\n");
    assert_eq!(out, "g NO [READ-ONLY] Mailbox is read-only.\r\n");
}

/// The command sequence Thunderbird sends (lower-case verbs, SASL-IR, ID,
/// header-field prefetch, partial body, keyword STORE, MOVE to a Trash that
/// must be created first): nothing is refused with BAD.
#[test]
fn thunderbird_like_session() {
    let mut h = Harness::secure();
    let script = [
        "1 capability",
        "2 authenticate PLAIN AG5lZABzZWNyZXQ=",
        "3 namespace",
        "4 id (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")",
        "5 lsub \"\" \"*\"",
        "6 list \"\" \"INBOX\"",
        "7 select \"INBOX\"",
        "8 UID fetch 1:* (FLAGS)",
        "9 UID fetch 4 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID \
         Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        "10 UID fetch 4 (UID RFC822.SIZE BODY.PEEK[]<0.10240>)",
        "11 UID fetch 4 (UID RFC822.SIZE BODYSTRUCTURE)",
        "12 UID fetch 4 (UID BODY.PEEK[1.MIME] BODY.PEEK[1])",
        "13 UID store 4 +Flags (\\Seen)",
        "14 UID store 1 +FLAGS ($Forwarded)",
        "15 UID MOVE 1 \"Trash\"",
        "16 create \"Trash\"",
        "17 subscribe \"Trash\"",
        "18 UID MOVE 1 \"Trash\"",
        "19 STATUS \"Trash\" (UIDNEXT MESSAGES UNSEEN RECENT)",
        "20 noop",
        "21 IDLE",
        "DONE",
        "22 logout",
    ];
    let mut out = String::new();
    for line in script {
        out.push_str(&h.run(&format!("{line}\r\n")));
    }
    assert!(!out.contains(" BAD "), "{out}");
    for tag in 1..=22 {
        if tag == 15 {
            assert!(out.contains("\r\n15 NO [TRYCREATE]"), "{out}");
            continue;
        }
        assert!(
            out.contains(&format!("\r\n{tag} OK ")),
            "tag {tag} not OK:\n{out}"
        );
    }
    assert!(out.contains("BODY[]<0> {"), "{out}");
    assert!(
        out.contains("* STATUS Trash (UIDNEXT 2 MESSAGES 1 UNSEEN 0 RECENT 0)"),
        "{out}"
    );
    assert_eq!(h.mailboxes["INBOX"].2.len(), 2);
}

#[test]
fn append_with_flags_date_and_limits() {
    let mut h = Harness::secure();
    // Before login APPEND literals get the small command limit.
    let out = h.run("a APPEND INBOX {100000}\r\n");
    assert_eq!(out, "a NO [TOOBIG] Command or literal too large.\r\n");
    h.run("l LOGIN ned secret\r\ns SELECT INBOX\r\n");
    let msg = "Subject: appended\r\n\r\nhi\r\n";
    let out = h.run(&format!(
        "b APPEND INBOX (\\Seen \\Draft) \"07-Jul-1996 02:44:25 -0700\" {{{}}}\r\n",
        msg.len()
    ));
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run(&format!("{msg}\r\n"));
    assert_eq!(out, "* 4 EXISTS\r\nb OK [APPENDUID 1234 8] Append completed.\r\n");
    let stored = &h.mailboxes["INBOX"].2[3];
    assert_eq!(stored.bytes, msg.as_bytes());
    assert_eq!(
        (stored.meta.flags, stored.meta.internal_date),
        (Flags::SEEN.union(Flags::DRAFT), 836_732_665)
    );
    let out = h.run("c FETCH 4 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (Subject)])\r\n");
    assert!(
        out.starts_with("* 4 FETCH (FLAGS (\\Seen \\Draft) INTERNALDATE \"07-Jul-1996 09:44:25 +0000\""),
        "{out}"
    );
    // A 100 kB message now fits (LITERAL+), a missing mailbox asks the client to create it.
    let big = "x".repeat(100_000);
    let out = h.run(&format!(
        "d APPEND Sent {{100000+}}\r\n{big}\r\ne APPEND Nope {{1+}}\r\nx\r\n"
    ));
    assert_eq!(
        out,
        "d OK [APPENDUID 99 1] Append completed.\r\ne NO [TRYCREATE] Mailbox doesn't exist.\r\n"
    );
    assert_eq!(h.mailboxes["Sent"].2[0].bytes.len(), 100_000);
}

#[test]
fn select_of_a_mailbox_in_use_is_refused_and_nothing_stays_selected() {
    let mut h = Harness::secure();
    h.run("l LOGIN ned secret\r\n");
    assert!(h
        .run("s SELECT INBOX\r\n")
        .ends_with("s OK [READ-WRITE] Select completed.\r\n"));
    h.in_use.push("INBOX".into());
    let out = h.run("t SELECT INBOX\r\nu FETCH 1 FLAGS\r\n");
    assert_eq!(
        out,
        "t NO [INUSE] Mailbox is in use by another session; try again later.\r\n\
         u BAD No mailbox selected.\r\n"
    );
    assert_eq!(h.session.selected_mailbox(), None);
    // EXAMINE is not refused by the harness: only SELECT takes the lock.
    assert!(h
        .run("e EXAMINE INBOX\r\n")
        .ends_with("e OK [READ-ONLY] Examine completed.\r\n"));
    // Answering in_use without a pending open is a caller error.
    assert!(h.session.mailbox_in_use().is_err());
}

#[test]
fn close_and_unselect_report_the_mailbox_left() {
    let mut h = Harness::secure();
    h.run("l LOGIN ned secret\r\n");
    h.run("s SELECT INBOX\r\n");
    h.log.clear();
    assert_eq!(h.run("c CLOSE\r\n"), "c OK Close completed.\r\n");
    assert_eq!(
        h.log.last().map(String::as_str),
        Some("MailboxClosed { mailbox: \"INBOX\" }")
    );
    h.run("s SELECT INBOX\r\n");
    h.log.clear();
    assert_eq!(h.run("u UNSELECT\r\n"), "u OK Unselect completed.\r\n");
    assert_eq!(h.log, vec!["MailboxClosed { mailbox: \"INBOX\" }".to_string()]);
    // Without a selected mailbox CLOSE is refused and reports nothing.
    h.log.clear();
    assert_eq!(h.run("c CLOSE\r\n"), "c BAD No mailbox selected.\r\n");
    assert!(h.log.is_empty());
}

/// The server ends the connection on its own: an untagged BYE (RFC 3501
/// §7.1.5), Dovecot's texts.
#[test]
fn farewell_on_shutdown_and_idle_timeout() {
    use mail_proto::Farewell;
    for (reason, text) in [
        (Farewell::Shutdown, "* BYE Server shutting down.\r\n"),
        (Farewell::IdleTimeout, "* BYE Disconnected for inactivity.\r\n"),
    ] {
        let mut h = Harness::secure();
        h.run("a NOOP\r\n");
        h.session.farewell(reason);
        assert_eq!(String::from_utf8(h.session.take_output()).unwrap(), text);
        assert!(h.session.is_closed());
        h.session.farewell(reason);
        assert!(h.session.take_output().is_empty(), "said once");
    }
}
