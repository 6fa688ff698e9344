//! Transcript tests: every reply of SECURITY.md's table and the session's
//! limits, with the exact Postfix texts.

mod common;

use common::*;
use mail_proto::{Session, TlsSwitch};
use mail_smtp_submit::policy::Restriction;
use mail_smtp_submit::{BareLf, Event, Profile};

fn lines(out: &str) -> Vec<&str> {
    out.split_terminator("\r\n").collect()
}

#[test]
fn ehlo_keywords_before_and_after_tls() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(&mut s, "EHLO client.test\r\n");
    assert_eq!(
        lines(&t.out),
        [
            "250-mx.example.org",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-STARTTLS",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250-DSN",
            "250-SMTPUTF8",
            "250 CHUNKING"
        ]
    );
    let t = talk(&mut s, "STARTTLS\r\n");
    assert_eq!(t.out, "220 2.0.0 Ready to start TLS\r\n");
    assert_eq!(s.tls_switch(), TlsSwitch::AfterOutput);
    assert_eq!(s.tls_established(&tls_info()), 0);
    let t = talk(&mut s, "EHLO client.test\r\n");
    assert!(!t.out.contains("STARTTLS"), "{}", t.out);
    assert!(t.out.contains("250-AUTH PLAIN LOGIN CRAM-MD5\r\n"), "{}", t.out);
    assert!(!t.out.contains("AUTH="));
    // broken_sasl_auth_clients adds the AUTH= line.
    let mut c = config(Profile::Submissions);
    c.broken_sasl_auth_clients = true;
    let mut s = session(c, "203.0.113.9");
    s.tls_established(&tls_info());
    let t = talk(&mut s, "EHLO client.test\r\n");
    assert!(
        t.out
            .contains("250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-AUTH=PLAIN LOGIN CRAM-MD5\r\n"),
        "{}",
        t.out
    );
}

#[test]
fn helo_and_basic_commands() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(
        &mut s,
        "HELO client.test\r\nNOOP\r\nRSET\r\nHELP\r\nVRFY ned\r\nEXPN list\r\nFOO\r\n\r\n",
    );
    assert_eq!(
        lines(&t.out),
        [
            "250 mx.example.org",
            "250 2.0.0 Ok",
            "250 2.0.0 Ok",
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            "502 5.5.1 VRFY command is disabled",
            "502 5.5.2 Error: command not recognized",
            "502 5.5.2 Error: command not recognized",
            "500 5.5.2 Error: bad syntax",
        ]
    );
    let mut c = config(Profile::Mta);
    c.vrfy_enabled = true;
    let mut s = session(c, "203.0.113.9");
    assert_eq!(talk(&mut s, "VRFY ned\r\n").out, "252 2.0.0 ned\r\n");
    let t = talk(&mut s, "QUIT\r\nNOOP\r\n");
    assert_eq!(t.out, "221 2.0.0 Bye\r\n");
    assert!(s.is_closed());
    assert!(t.events.contains(&Event::Close));
}

#[test]
fn pipelined_transaction_replies_in_order() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(
        &mut s,
        "EHLO c.test\r\nMAIL FROM:<a@c.test> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<ned@example.org>\r\n\
         RCPT TO:<unknown1@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    );
    let l = lines(&t.out);
    assert_eq!(
        &l[9..],
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "550 5.1.1 <unknown1@example.org>: Recipient address rejected: User unknown in local recipient table",
            "554 5.7.1 <x@elsewhere.test>: Relay access denied",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as QID1",
            "221 2.0.0 Bye",
        ]
    );
    assert_eq!(t.messages.len(), 1);
    let m = t.message_text(0);
    assert!(m.starts_with(
        "Received: from c.test (unknown [203.0.113.9])\r\n\tby mx.example.org (mailcrates) with ESMTP id QID1\r\n\tfor <ned@example.org>; Sun, 22 Nov 2026 22:43:20 +0000\r\n"
    ), "{m}");
    assert!(m.ends_with("\r\nSubject: hi\r\n\r\nbody\r\n"));
}

#[test]
fn decisions_pause_pipelined_processing() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    s.receive(b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<ned@example.org>\r\nNOOP\r\n");
    assert_eq!(s.next_event(), Some(Event::Recipient));
    assert!(!s.wants_input());
    // Nothing after RCPT has been answered yet.
    assert!(String::from_utf8_lossy(s.output()).ends_with("250 2.1.0 Ok\r\n"));
    assert_eq!(s.next_event(), None);
    assert!(s.accept_recipient().is_ok());
    assert!(
        s.accept_recipient().is_err(),
        "answering twice is an error, not a panic"
    );
    assert_eq!(s.next_event(), None);
    assert!(String::from_utf8_lossy(s.output()).ends_with("250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"));
    assert_eq!(s.recipients().len(), 1);
    assert!(s.recipients()[0].local);
}

#[test]
fn sequence_errors() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(
        &mut s,
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<ned@example.org>\r\nDATA\r\n",
    );
    assert_eq!(
        lines(&t.out),
        [
            "503 5.5.1 Error: send HELO/EHLO first",
            "503 5.5.1 Error: need MAIL command",
            "503 5.5.1 Error: need RCPT command"
        ]
    );
    let t = talk(&mut s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\nDATA\r\nRCPT TO:<unknown@example.org>\r\nDATA\r\n");
    assert_eq!(
        &lines(&t.out)[10..],
        [
            "503 5.5.1 Error: nested MAIL command",
            "503 5.5.1 Error: need RCPT command",
            "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown in local recipient table",
            "554 5.5.1 Error: no valid recipients"
        ]
    );
}

#[test]
fn syntax_errors_and_parameters() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM a@b\r\nMAIL FROM:<a b@c>\r\nMAIL FROM:<a@b> SIZE=99999999999\r\nMAIL FROM:<a@b> SIZE=x\r\n\
         MAIL FROM:<a@b> BODY=BINARYMIME\r\nMAIL FROM:<a@b> FOO=bar\r\nEHLO\r\n\
         MAIL FROM:<> RET=HDRS ENVID=abc AUTH=<> SMTPUTF8\r\nRCPT TO:<>\r\nRCPT TO:<ned@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;ned@example.org\r\n\
         RCPT TO:<x@y.test> NOTIFY=SOMETIMES\r\n",
    );
    assert_eq!(
        &lines(&t.out)[9..],
        [
            "501 5.5.4 Syntax: MAIL FROM:<address>",
            "501 5.1.7 Bad sender address syntax",
            "552 5.3.4 Message size exceeds fixed limit",
            "501 5.5.4 Bad message size syntax",
            "501 5.5.4 Bad BODY keyword syntax",
            "555 5.5.4 Unsupported option: FOO=bar",
            "501 Syntax: EHLO hostname",
            "250 2.1.0 Ok",
            "501 5.1.3 Bad recipient address syntax",
            "250 2.1.5 Ok",
            "555 5.5.4 Unsupported option: NOTIFY=SOMETIMES",
        ]
    );
    assert_eq!(s.sender(), Some(""));
    assert_eq!(s.mail_params().envid, "abc");
    assert_eq!(s.mail_params().auth, "<>");
    assert!(s.mail_params().smtputf8);
    assert_eq!(s.recipients()[0].notify, "SUCCESS,FAILURE");
    assert_eq!(s.recipients()[0].orcpt, "rfc822;ned@example.org");
}

#[test]
fn command_line_limit_keeps_connection() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(600));
    let t = talk(&mut s, &long);
    assert_eq!(
        lines(&t.out),
        ["500 5.5.6 Error: command line too long", "250 2.0.0 Ok"]
    );
    // Far beyond the reader's limit: skipped with bounded memory.
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    for _ in 0..100 {
        s.receive(&[b'A'; 1000]);
        while s.next_event().is_some() {}
    }
    let t = talk(&mut s, "\r\nNOOP\r\n");
    assert_eq!(
        lines(&t.out),
        ["500 5.5.6 Error: command line too long", "250 2.0.0 Ok"]
    );
    assert!(!s.is_closed());
    // A configurable limit.
    let mut c = config(Profile::Mta);
    c.max_command_line = 1000;
    let mut s = session(c, "127.0.0.1");
    assert_eq!(
        talk(&mut s, &format!("NOOP {}\r\n", "x".repeat(900))).out,
        "250 2.0.0 Ok\r\n"
    );
}

#[test]
fn http_and_header_lines_disconnect() {
    for first in [
        "GET / HTTP/1.1",
        "POST /x HTTP/1.0",
        "CONNECT a:25 HTTP/1.1",
        "Host: mx.example.org",
        "User-Agent: x",
    ] {
        let mut s = session(config(Profile::Mta), "203.0.113.9");
        let t = talk(&mut s, &format!("{first}\r\nEHLO c\r\n"));
        assert_eq!(
            t.out, "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n",
            "{first}"
        );
        assert!(s.is_closed());
    }
}

#[test]
fn talking_before_the_greeting_is_refused() {
    let mut s = mail_smtp_submit::SmtpSession::new(
        std::sync::Arc::new(config(Profile::Mta)),
        mail_smtp_submit::ClientInfo::new("203.0.113.9".parse().unwrap()),
    );
    // The greeting has not been taken (written) yet.
    s.receive(b"EHLO c\r\nMAIL FROM:<a@b>\r\n");
    let mut t = Transcript::default();
    drain(&mut s, &mut t);
    assert_eq!(
        t.out,
        "220 mx.example.org ESMTP\r\n554 5.5.0 Error: SMTP protocol synchronization\r\n"
    );
    assert!(s.is_closed());
}

#[test]
fn error_limits() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(&mut s, &"FOO\r\n".repeat(25));
    let l = lines(&t.out);
    assert_eq!(l.len(), 21);
    assert!(l[..20]
        .iter()
        .all(|l| *l == "502 5.5.2 Error: command not recognized"));
    assert_eq!(l[20], "421 4.7.0 mx.example.org Error: too many errors");
    assert!(s.is_closed());
    // Errors 11..20 are each delayed (soft limit 10).
    assert_eq!(t.delays.len(), 10);
    assert!(t.delays.iter().all(|d| d.as_secs() == 1));
}

#[test]
fn recipient_limit() {
    let mut c = config(Profile::Mta);
    c.max_recipients = 2;
    let mut s = session(c, "127.0.0.1");
    let t = talk(&mut s, "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n");
    assert_eq!(lines(&t.out)[4], "452 4.5.3 Error: too many recipients");
}

#[test]
fn size_limit_enforced_while_streaming() {
    let mut c = config(Profile::Mta);
    c.max_message_size = 1000;
    c.received_header = false;
    let mut s = session(c, "127.0.0.1");
    let t = talk(
        &mut s,
        "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n",
    );
    assert!(t.out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"));
    let mut t = Transcript::default();
    let line = [b'x'; 98];
    for i in 0..10_000 {
        s.receive(&line);
        s.receive(b"\r\n");
        drain(&mut s, &mut t);
        if i == 20 {
            assert!(
                t.events.contains(&Event::MessageAborted),
                "aborted as soon as the limit is passed"
            );
        }
    }
    s.receive(b".\r\nNOOP\r\n");
    drain(&mut s, &mut t);
    assert_eq!(
        lines(&t.out),
        ["552 5.3.4 Error: message file too big", "250 2.0.0 Ok"]
    );
    assert!(t.messages.is_empty());
    assert!(!t.events.contains(&Event::MessageEnd));
}

#[test]
fn bare_lf_policies() {
    let body = "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\nline one\nline two\r\n.\r\n";
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(&mut s, body);
    assert!(t.out.ends_with("250 2.0.0 Ok: queued as QID1\r\n"));
    assert!(t.message_text(0).ends_with("line one\r\nline two\r\n"));
    let mut c = config(Profile::Mta);
    c.bare_lf = BareLf::Reject;
    let mut s = session(c, "127.0.0.1");
    let t = talk(&mut s, body);
    assert!(
        t.out
            .ends_with("354 End data with <CR><LF>.<CR><LF>\r\n550 5.5.2 Error: bare <LF> received\r\n"),
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());
    assert!(t.events.contains(&Event::MessageAborted));
}

#[test]
fn smuggling_sequences_never_split_a_message() {
    for seq in [
        &b"\n.\n"[..],
        b"\n.\r",
        b"\r.\n",
        b"\r.\r",
        b"\n.\r\n",
        b"\r.\r\n",
        b"\r\n\x00.\r\n",
        b"\r\n.\r\r\n",
        b"\r\r\n.\r\r\n",
        b"\r\n.\n",
        b"\r\n.\r",
    ] {
        let mut input = b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<ned@example.org>\r\nDATA\r\nSubject: one\r\n\r\nbody".to_vec();
        input.extend_from_slice(seq);
        input.extend_from_slice(b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<victim@elsewhere.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n");
        let mut s = session(config(Profile::Mta), "203.0.113.9");
        let t = talk_bytes(&mut s, &input);
        assert_eq!(t.messages.len(), 1, "{seq:?}");
        assert!(t.message_text(0).contains("Subject: smuggled"), "{seq:?}");
        assert_eq!(t.out.matches("queued as").count(), 1, "{seq:?}: {}", t.out);
        assert!(
            !t.out.contains("Relay access denied"),
            "{seq:?}: the smuggled RCPT was parsed"
        );
        assert!(
            t.out
                .ends_with("250 2.0.0 Ok: queued as QID1\r\n221 2.0.0 Bye\r\n"),
            "{seq:?}"
        );
    }
}

const TXN: &str = "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\n";

#[test]
fn long_text_lines_are_refused_and_the_connection_survives() {
    let mut c = config(Profile::Mta);
    c.received_header = false;
    // Exactly 1000 octets with CRLF: stored as sent.
    let mut s = session(c.clone(), "127.0.0.1");
    let ok = "y".repeat(998);
    let t = talk(&mut s, &format!("{TXN}DATA\r\nSubject: a\r\n\r\n{ok}\r\n.\r\n"));
    assert!(
        t.out
            .ends_with("354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as QID1\r\n"),
        "{}",
        t.out
    );
    assert_eq!(t.message_text(0), format!("Subject: a\r\n\r\n{ok}\r\n"));

    // 1001 octets: the rest of the message is read and discarded (its
    // command-like lines are never executed), one reply at its end, no
    // message handed over, and the next transaction works.
    let mut s = session(c.clone(), "127.0.0.1");
    let long = "y".repeat(999);
    let t = talk(
        &mut s,
        &format!("{TXN}DATA\r\nSubject: a\r\n\r\n{long}\r\nMAIL FROM:<x@y>\r\nRSET\r\nmore text\r\n.\r\nNOOP\r\n{TXN}DATA\r\nfine\r\n.\r\n"),
    );
    let l = lines(&t.out);
    assert_eq!(
        l[3..],
        [
            "354 End data with <CR><LF>.<CR><LF>",
            "500 5.5.6 Error: message line too long",
            "250 2.0.0 Ok",
            "250 mx.example.org",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as QID1",
        ],
        "{}",
        t.out
    );
    assert_eq!(t.messages.len(), 1, "only the second message is stored");
    assert_eq!(t.message_text(0), "fine\r\n");
    let aborted = t
        .events
        .iter()
        .position(|e| *e == Event::MessageAborted)
        .expect("aborted");
    let ended = t
        .events
        .iter()
        .position(|e| *e == Event::MessageEnd)
        .expect("second message");
    assert!(aborted < ended);
    assert_eq!(t.events.iter().filter(|e| **e == Event::MessageEnd).count(), 1);
    assert!(!s.is_closed());

    // Measured on the stored line: a dot-stuffed 1001-octet wire line is
    // 1000 stored octets; a 999-octet line ended by a bare LF is stored
    // with CRLF, 1001 octets.
    let mut s = session(c.clone(), "127.0.0.1");
    let t = talk(&mut s, &format!("{TXN}DATA\r\n..{}\r\n.\r\n", "z".repeat(997)));
    assert!(t.out.ends_with("queued as QID1\r\n"), "{}", t.out);
    assert_eq!(t.message_text(0).len(), 1000);
    let mut s = session(c.clone(), "127.0.0.1");
    let t = talk(&mut s, &format!("{TXN}DATA\r\n{}\nx\r\n.\r\n", "z".repeat(999)));
    assert!(
        t.out.ends_with("500 5.5.6 Error: message line too long\r\n"),
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());

    // Streamed: a long line split over many reads, refused when complete.
    let mut s = session(c.clone(), "127.0.0.1");
    let mut t = talk(&mut s, &format!("{TXN}DATA\r\nSubject: a\r\n\r\n"));
    for _ in 0..200 {
        s.receive(b"0123456789");
        drain(&mut s, &mut t);
    }
    assert!(
        t.events.contains(&Event::MessageAborted),
        "refused before the end of the message"
    );
    s.receive(b"\r\n.\r\n");
    drain(&mut s, &mut t);
    assert!(
        t.out
            .ends_with("354 End data with <CR><LF>.<CR><LF>\r\n500 5.5.6 Error: message line too long\r\n"),
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());

    // None: no limit (Postfix), only the size limit bounds lines.
    c.max_text_line = None;
    let mut s = session(c, "127.0.0.1");
    let long = "y".repeat(5000);
    let t = talk(&mut s, &format!("{TXN}DATA\r\n{long}\r\n.\r\n"));
    assert!(t.out.ends_with("queued as QID1\r\n"));
    assert_eq!(t.message_text(0), format!("{long}\r\n"));
}

#[test]
fn long_text_lines_in_bdat_chunks() {
    let mut c = config(Profile::Mta);
    c.received_header = false;
    // A 1000-octet line across two chunks is fine.
    let mut s = session(c.clone(), "127.0.0.1");
    let (a, b) = ("x".repeat(500), format!("{}\r\n", "x".repeat(498)));
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT 500\r\n{a}BDAT {} LAST\r\n{b}", b.len()),
    );
    assert!(
        t.out
            .ends_with("250 2.0.0 Ok: 500 bytes\r\n250 2.0.0 Ok: queued as QID1\r\n"),
        "{}",
        t.out
    );
    assert_eq!(t.messages[0].len(), 1000);
    // 1001 octets across two chunks: refused at the end of the chunk that
    // made it too long; the transaction is over, the connection is not.
    let mut s = session(c.clone(), "127.0.0.1");
    let b = format!("{}\r\n", "x".repeat(499));
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT 500\r\n{a}BDAT {} LAST\r\n{b}NOOP\r\n", b.len()),
    );
    assert!(
        t.out.ends_with(
            "250 2.0.0 Ok: 500 bytes\r\n500 5.5.6 Error: message line too long\r\n250 2.0.0 Ok\r\n"
        ),
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());
    assert!(t.events.contains(&Event::MessageAborted));
    assert!(!t.events.contains(&Event::MessageEnd));
    // An unterminated last line counts with the CRLF it lacks: 998 fit, 999 do not.
    for (n, ok) in [(998, true), (999, false)] {
        let mut s = session(c.clone(), "127.0.0.1");
        let t = talk(&mut s, &format!("{TXN}BDAT {n} LAST\r\n{}", "x".repeat(n)));
        assert_eq!(t.out.ends_with("queued as QID1\r\n"), ok, "{n}: {}", t.out);
        assert_eq!(
            t.out.ends_with("500 5.5.6 Error: message line too long\r\n"),
            !ok,
            "{n}: {}",
            t.out
        );
    }
    // Bare LF in BDAT is stored as CRLF, and measured so.
    let mut s = session(c, "127.0.0.1");
    let body = format!("{}\n", "x".repeat(999));
    let t = talk(&mut s, &format!("{TXN}BDAT {} LAST\r\n{body}", body.len()));
    assert!(
        t.out.ends_with("500 5.5.6 Error: message line too long\r\n"),
        "{}",
        t.out
    );
}

#[test]
fn text_line_limit_below_rfc_is_refused() {
    let mut c = config(Profile::Mta);
    c.max_text_line = Some(999);
    assert!(c.validate().unwrap_err().to_string().contains("max_text_line"));
    c.max_text_line = Some(1000);
    c.validate().unwrap();
    c.max_text_line = None;
    c.validate().unwrap();
}

#[test]
fn bdat_chunking() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<ned@example.org>\r\nBDAT 12\r\nSubject: x\r\nBDAT 9 LAST\r\n\r\n.body\r\nNOOP\r\n",
    );
    assert!(
        t.out.ends_with(
            "250 2.1.5 Ok\r\n250 2.0.0 Ok: 12 bytes\r\n250 2.0.0 Ok: queued as QID1\r\n250 2.0.0 Ok\r\n"
        ),
        "{}",
        t.out
    );
    assert!(t.message_text(0).ends_with("ESMTP id QID1\r\n\tfor <ned@example.org>; Sun, 22 Nov 2026 22:43:20 +0000\r\nSubject: x\r\n\r\n.body\r\n"));
    // BDAT without a transaction: the chunk is skipped, not parsed as commands.
    let t = talk(&mut s, "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(t.out, "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
    // DATA after BDAT, BDAT 0 LAST.
    let t = talk(
        &mut s,
        "MAIL FROM:<>\r\nRCPT TO:<ned@example.org>\r\nBDAT 3\r\nabcDATA\r\nBDAT 0 LAST\r\n",
    );
    assert!(t.out.ends_with("250 2.0.0 Ok: 3 bytes\r\n503 5.5.1 Error: DATA and BDAT cannot be mixed\r\n250 2.0.0 Ok: queued as QID1\r\n"), "{}", t.out);
    assert!(t.message_text(0).ends_with("abc"));
}

#[test]
fn rset_aborts_a_bdat_message() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<ned@example.org>\r\nBDAT 3\r\nabcRSET\r\nDATA\r\n",
    );
    assert!(t.events.contains(&Event::MessageAborted));
    assert!(
        t.out
            .ends_with("250 2.0.0 Ok: 3 bytes\r\n250 2.0.0 Ok\r\n503 5.5.1 Error: need RCPT command\r\n"),
        "{}",
        t.out
    );
}

#[test]
fn message_failure_answer() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    s.receive(b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\nx\r\n.\r\n");
    let mut saw_end = false;
    while let Some(ev) = s.next_event() {
        match ev {
            Event::Recipient => s.accept_recipient().unwrap(),
            Event::MessageBegin => s.message_begin("Q", DATE).unwrap(),
            Event::MessageEnd => {
                saw_end = true;
                assert!(
                    !String::from_utf8_lossy(s.output()).contains("queued"),
                    "no 250 before the answer"
                );
                s.message_failed(mail_smtp_submit::Reply::queue_write_error())
                    .unwrap();
            }
            _ => {}
        }
    }
    assert!(saw_end);
    assert!(String::from_utf8_lossy(&s.take_output())
        .ends_with("354 End data with <CR><LF>.<CR><LF>\r\n451 4.3.0 Error: queue file write error\r\n"));
    assert_eq!(s.sender(), None, "the transaction is over");
}

// ---- STARTTLS ----

#[test]
fn starttls_injection_is_discarded_and_state_reset() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM:<a@c.test>\r\nSTARTTLS\r\nRCPT TO:<x@elsewhere.test>\r\nNOOP\r\n",
    );
    assert!(
        t.out
            .ends_with("250 2.1.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n"),
        "{}",
        t.out
    );
    assert!(t.events.contains(&Event::StartTls));
    // More cleartext arrives before the handshake: counted, never parsed.
    s.receive(b"QUIT\r\n");
    assert_eq!(s.next_event(), None);
    assert!(s.output().is_empty());
    let injected = "RCPT TO:<x@elsewhere.test>\r\nNOOP\r\n".len() + 6;
    assert_eq!(s.tls_established(&tls_info()), injected);
    assert!(s.is_secure());
    // Everything learnt in cleartext is forgotten: EHLO and the transaction.
    let t = talk(
        &mut s,
        "MAIL FROM:<a@c.test>\r\nEHLO c\r\nRCPT TO:<ned@example.org>\r\nSTARTTLS\r\n",
    );
    assert_eq!(lines(&t.out)[..1], ["503 5.5.1 Error: send HELO/EHLO first"]);
    assert!(
        t.out.ends_with(
            "250 CHUNKING\r\n503 5.5.1 Error: need MAIL command\r\n554 5.5.1 Error: TLS already active\r\n"
        ),
        "{}",
        t.out
    );
}

#[test]
fn starttls_not_offered_without_certificate() {
    let mut c = config(Profile::Mta);
    c.tls_available = false;
    let mut s = session(c, "203.0.113.9");
    let t = talk(&mut s, "EHLO c\r\nSTARTTLS\r\n");
    assert!(!t.out.contains("STARTTLS"));
    assert!(t.out.ends_with("502 5.5.1 Error: command not implemented\r\n"));
}

#[test]
fn submission_requires_starttls_first() {
    let mut s = session(config(Profile::Submission), "203.0.113.9");
    let t = talk(
        &mut s,
        &format!(
            "EHLO c\r\nNOOP\r\nRSET\r\nHELP\r\nMAIL FROM:<ned@example.org>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nAUTH PLAIN {}\r\nVRFY x\r\nBDAT 4\r\nNOOPSTARTTLS\r\n",
            plain_ir("ned", "secret")
        ),
    );
    let l = lines(&t.out);
    assert!(
        !t.out.contains("250-AUTH"),
        "no AUTH before TLS on 587: {}",
        t.out
    );
    let after_ehlo: Vec<_> = l
        .into_iter()
        .skip_while(|l| !l.starts_with("250 CHUNKING"))
        .skip(1)
        .collect();
    const TLS_FIRST: &str = "530 5.7.0 Must issue a STARTTLS command first";
    // One reply per command, in order (BDAT's 4 octets are skipped, not parsed).
    let expected = [
        ("NOOP", "250 2.0.0 Ok"),
        ("RSET", TLS_FIRST),
        (
            "HELP",
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        ),
        ("MAIL", TLS_FIRST),
        ("RCPT", TLS_FIRST),
        ("DATA", TLS_FIRST),
        ("AUTH", TLS_FIRST),
        ("VRFY", TLS_FIRST),
        ("BDAT", TLS_FIRST),
        ("STARTTLS", "220 2.0.0 Ready to start TLS"),
    ];
    assert_eq!(after_ehlo.len(), expected.len(), "{}", t.out);
    for (got, (cmd, want)) in after_ehlo.iter().zip(expected) {
        assert_eq!(*got, want, "reply to {cmd} before STARTTLS on 587");
    }
    // HELO and QUIT are allowed too.
    let mut s = session(config(Profile::Submission), "203.0.113.9");
    let t = talk(&mut s, "HELO c\r\nRSET\r\nQUIT\r\n");
    assert_eq!(
        lines(&t.out),
        [&format!("250 {HOST}")[..], TLS_FIRST, "221 2.0.0 Bye"]
    );
}

// ---- AUTH ----

fn secure_submission() -> mail_smtp_submit::SmtpSession {
    let mut s = session(config(Profile::Submission), "203.0.113.9");
    assert_eq!(
        talk(&mut s, "STARTTLS\r\n").out,
        "220 2.0.0 Ready to start TLS\r\n"
    );
    s.tls_established(&tls_info());
    talk(&mut s, "EHLO c\r\n");
    s
}

#[test]
fn auth_plain_success_and_received_header() {
    let mut c = config(Profile::Submission);
    c.received_auth_sender = true;
    let mut s = session(c, "203.0.113.9");
    talk(&mut s, "STARTTLS\r\n");
    s.tls_established(&tls_info());
    let t = talk(
        &mut s,
        &format!(
            "EHLO c.test\r\nMAIL FROM:<ned@example.org>\r\nAUTH PLAIN {}\r\nAUTH PLAIN {0}\r\nMAIL FROM:<ned@example.org>\r\nAUTH LOGIN\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\nhi\r\n.\r\n",
            plain_ir("ned", "secret")
        ),
    );
    let l = lines(&t.out);
    let after: Vec<_> = l
        .into_iter()
        .skip_while(|l| !l.starts_with("250 CHUNKING"))
        .skip(1)
        .collect();
    assert_eq!(
        after,
        [
            "530 5.7.0 Authentication required",
            "235 2.7.0 Authentication successful",
            "503 5.5.1 Error: already authenticated",
            "250 2.1.0 Ok",
            "503 5.5.1 Error: already authenticated",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as QID1",
        ]
    );
    assert!(t
        .events
        .iter()
        .any(|e| matches!(e, Event::AuthSucceeded { identity, .. } if identity.authcid == "ned")));
    let m = t.message_text(0);
    assert!(
        m.starts_with(
            "Received: from c.test (unknown [203.0.113.9])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n\t(Authenticated sender: ned)\r\n\tby mx.example.org (mailcrates) with ESMTPSA id QID1\r\n"
        ),
        "{m}"
    );
}

#[test]
fn auth_in_transaction_is_refused() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    talk(&mut s, "STARTTLS\r\n");
    s.tls_established(&tls_info());
    let t = talk(
        &mut s,
        &format!(
            "EHLO c\r\nMAIL FROM:<>\r\nAUTH PLAIN {}\r\n",
            plain_ir("ned", "secret")
        ),
    );
    assert!(t
        .out
        .ends_with("250 2.1.0 Ok\r\n503 5.5.1 Error: MAIL transaction in progress\r\n"));
}

#[test]
fn auth_login_and_cram_md5_exchanges() {
    let mut s = secure_submission();
    let t = talk(&mut s, "AUTH LOGIN\r\n");
    assert_eq!(t.out, "334 VXNlcm5hbWU6\r\n");
    let t = talk(&mut s, &format!("{}\r\n{}\r\n", b64(b"ned"), b64(b"secret")));
    assert_eq!(
        t.out,
        "334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(s.login(), Some("ned"));

    let mut s = secure_submission();
    let t = talk(&mut s, "AUTH CRAM-MD5\r\n");
    assert!(t.out.starts_with("334 ") && t.out.len() > 10, "{}", t.out);
    // The challenge differs per exchange (nonce derived from the seed and a counter).
    let t2 = talk(&mut s, "*\r\nAUTH CRAM-MD5\r\n");
    assert!(t2.out.starts_with("501 5.7.0 Authentication aborted\r\n334 "));
    assert_ne!(t.out, t2.out[t2.out.find("334").unwrap()..]);
}

#[test]
fn auth_failures_replies() {
    let mut s = secure_submission();
    let t = talk(
        &mut s,
        &format!(
            "AUTH FOO\r\nAUTH ANONYMOUS\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n*\r\nAUTH LOGIN\r\n{}\r\nAUTH PLAIN {}\r\n",
            "A".repeat(20_000),
            plain_ir("ned", "wrong")
        ),
    );
    assert_eq!(
        lines(&t.out),
        [
            "504 5.5.4 Unsupported authentication mechanism",
            "504 5.5.4 Unsupported authentication mechanism",
            "501 5.5.2 Cannot decode response",
            "334 VXNlcm5hbWU6",
            "501 5.7.0 Authentication aborted",
            "334 VXNlcm5hbWU6",
            "500 5.5.6 SASL response limit exceeded",
            "535 5.7.8 Error: authentication failed: authentication failure",
        ]
    );
    assert_eq!(t.delays, [std::time::Duration::from_secs(2)]);
    assert!(t.events.iter().any(|e| matches!(e, Event::AuthFailed { .. })));
}

#[test]
fn unknown_user_and_wrong_password_look_alike() {
    let mut s = secure_submission();
    let a = talk(&mut s, &format!("AUTH PLAIN {}\r\n", plain_ir("ned", "wrong")));
    let mut s = secure_submission();
    let b = talk(&mut s, &format!("AUTH PLAIN {}\r\n", plain_ir("nobody", "wrong")));
    assert_eq!(a.out, b.out);
    assert_eq!(a.delays, b.delays);
}

#[test]
fn temporary_auth_failure() {
    let mut s = secure_submission();
    s.receive(format!("AUTH PLAIN {}\r\n", plain_ir("ned", "secret")).as_bytes());
    let Some(Event::AuthVerify(_)) = s.next_event() else {
        panic!("expected AuthVerify")
    };
    s.auth_verified(mail_sasl::VerifyOutcome::Temporary).unwrap();
    while s.next_event().is_some() {}
    assert_eq!(s.take_output(), b"454 4.7.0 Temporary authentication failure\r\n");
    assert_eq!(s.login(), None);
}

#[test]
fn brute_force_closes_after_three_failures() {
    let mut s = secure_submission();
    let bad = format!("AUTH PLAIN {}\r\n", plain_ir("ned", "wrong"));
    let t = talk(&mut s, &bad.repeat(4));
    assert_eq!(
        lines(&t.out),
        [
            "535 5.7.8 Error: authentication failed: authentication failure",
            "535 5.7.8 Error: authentication failed: authentication failure",
            "535 5.7.8 Error: authentication failed: authentication failure",
            "421 4.7.0 mx.example.org Error: too many authentication failures",
        ]
    );
    assert_eq!(t.delays.len(), 3);
    assert!(s.is_closed());
}

#[test]
fn auth_not_enabled_in_cleartext() {
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(
        &mut s,
        &format!(
            "EHLO c\r\nAUTH PLAIN {}\r\nAUTH CRAM-MD5\r\n",
            plain_ir("ned", "secret")
        ),
    );
    assert!(!t.out.contains("AUTH "), "{}", t.out);
    assert!(t.out.ends_with(
        "503 5.5.1 Error: authentication not enabled\r\n503 5.5.1 Error: authentication not enabled\r\n"
    ));
    // With tls_auth_only off, cleartext offers only non-plaintext mechanisms.
    let mut c = config(Profile::Mta);
    c.tls_auth_only = false;
    let mut s = session(c, "203.0.113.9");
    let t = talk(
        &mut s,
        &format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain_ir("ned", "secret")),
    );
    assert!(t.out.contains("250-AUTH CRAM-MD5\r\n"), "{}", t.out);
    assert!(t
        .out
        .ends_with("504 5.5.4 Unsupported authentication mechanism\r\n"));
}

#[test]
fn sender_login_mismatch_reply() {
    let mut c = config(Profile::Submission);
    c.relay.sender_restrictions = vec![Restriction::RejectSenderLoginMismatch];
    let mut s = session(c, "203.0.113.9");
    talk(&mut s, "STARTTLS\r\n");
    s.tls_established(&tls_info());
    let t = talk(
        &mut s,
        &format!(
            "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<alice@example.org>\r\nMAIL FROM:<ned@example.org>\r\n",
            plain_ir("ned", "secret")
        ),
    );
    assert!(t.out.ends_with(
        "235 2.7.0 Authentication successful\r\n553 5.7.1 <alice@example.org>: Sender address rejected: not owned by user ned\r\n250 2.1.0 Ok\r\n"
    ), "{}", t.out);
}

#[test]
fn helo_received_and_ehlo_resets_transaction() {
    let mut s = session(config(Profile::Mta), "2001:db8::25");
    let t = talk(
        &mut s,
        "HELO old.client\r\nMAIL FROM:<>\r\nEHLO new.client\r\nRCPT TO:<a@example.org>\r\nHELO old.client\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nx\r\n.\r\n",
    );
    assert!(
        t.out
            .contains("250 CHUNKING\r\n503 5.5.1 Error: need MAIL command\r\n"),
        "{}",
        t.out
    );
    let m = t.message_text(0);
    assert!(
        m.starts_with(
            "Received: from old.client (unknown [IPv6:2001:db8::25])\r\n\tby mx.example.org (mailcrates) with SMTP id QID1;\r\n\tSun, 22 Nov 2026 22:43:20 +0000\r\n"
        ),
        "{m}"
    );
}

#[test]
fn cleartext_auth_is_forgotten_after_starttls() {
    // tls_auth_only off: PLAIN is offered and accepted in cleartext.
    let mut c = config(Profile::Mta);
    c.tls_auth_only = false;
    c.mechanisms.tls_auth_only = false;
    c.require_auth = true;
    c.validate().unwrap();
    let mut s = session(c.clone(), "203.0.113.9");
    let t = talk(
        &mut s,
        &format!(
            "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<ned@example.org>\r\nRSET\r\nSTARTTLS\r\n",
            plain_ir("ned", "secret")
        ),
    );
    assert!(t.out.contains("250-AUTH PLAIN LOGIN CRAM-MD5\r\n"), "{}", t.out);
    assert!(
        t.out.ends_with(
            "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n"
        ),
        "{}",
        t.out
    );
    assert_eq!(s.login(), Some("ned"));
    assert_eq!(s.login_mechanism(), Some(mail_sasl::Mechanism::Plain));
    s.tls_established(&tls_info());
    assert_eq!(s.login(), None, "the cleartext login is forgotten");
    assert_eq!(s.login_mechanism(), None, "with its mechanism");
    // MAIL needs AUTH again, and AUTH is allowed again (not "already authenticated").
    let t = talk(
        &mut s,
        &format!(
            "EHLO c\r\nMAIL FROM:<ned@example.org>\r\nAUTH PLAIN {}\r\nMAIL FROM:<ned@example.org>\r\n",
            plain_ir("ned", "secret")
        ),
    );
    assert!(
        t.out.ends_with(
            "250 CHUNKING\r\n530 5.7.0 Authentication required\r\n235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n"
        ),
        "{}",
        t.out
    );
    assert_eq!(s.login(), Some("ned"));

    // Without require_auth: a message after TLS is not marked authenticated.
    c.require_auth = false;
    let mut s = session(c, "203.0.113.9");
    talk(
        &mut s,
        &format!(
            "EHLO c\r\nAUTH PLAIN {}\r\nSTARTTLS\r\n",
            plain_ir("ned", "secret")
        ),
    );
    s.tls_established(&tls_info());
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<ned@example.org>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert!(t.out.ends_with("queued as QID1\r\n"), "{}", t.out);
    let m = t.message_text(0);
    assert!(m.contains(" with ESMTPS id QID1"), "{m}");
    assert!(!m.contains("ESMTPSA"), "{m}");
}

#[test]
fn plain_malformed_and_authzid_replies() {
    let mut s = secure_submission();
    let two_fields = b64(b"ned\0secret");
    let empty_password = b64(b"\0ned\0");
    let long_field = b64(format!("\0{}\0secret", "n".repeat(256)).as_bytes());
    let t = talk(
        &mut s,
        &format!("AUTH PLAIN {two_fields}\r\nAUTH PLAIN {empty_password}\r\nAUTH PLAIN {long_field}\r\n"),
    );
    assert_eq!(
        lines(&t.out),
        [
            "501 5.5.2 Error: authentication failed: PLAIN needs exactly three NUL-separated fields",
            "501 5.5.2 Error: authentication failed: empty password",
            "501 5.5.2 Error: authentication failed: field longer than 255 octets",
        ]
    );
    assert!(t.delays.is_empty(), "malformed input is not a password guess");
    assert_eq!(s.login(), None);
    // authzid ≠ authcid: refused (no proxy authorization), counted as a
    // failed attempt, even with the right password.
    let t = talk(
        &mut s,
        &format!("AUTH PLAIN {}\r\nNOOP\r\n", b64(b"postmaster\0ned\0secret")),
    );
    assert_eq!(
        lines(&t.out),
        [
            "535 5.7.8 Error: authentication failed: authentication failure",
            "250 2.0.0 Ok"
        ]
    );
    assert_eq!(t.delays, [std::time::Duration::from_secs(2)]);
    assert!(t.events.iter().any(|e| matches!(
        e,
        Event::AuthFailed {
            failure: mail_sasl::Failure::AuthorizationDenied,
            ..
        }
    )));
    assert_eq!(s.login(), None);
    // An authzid equal to the authcid asks for nothing more.
    let t = talk(&mut s, &format!("AUTH PLAIN {}\r\n", b64(b"ned\0ned\0secret")));
    assert_eq!(t.out, "235 2.7.0 Authentication successful\r\n");
    assert_eq!(s.login(), Some("ned"));
}

#[test]
fn auth_response_line_limit_is_12288_octets() {
    // A 12288-octet line (RFC 4954 §4) is read and decoded: the mechanism
    // sees it (a 9216-octet PLAIN message with an over-long field).
    let message = format!("\0ned\0{}", "x".repeat(9216 - 5));
    let at_limit = b64(message.as_bytes());
    assert_eq!(at_limit.len(), 12288);
    let decoded_reply = "501 5.5.2 Error: authentication failed: field longer than 255 octets";
    let too_long = "500 5.5.6 SASL response limit exceeded";
    // As a continuation line.
    let mut s = secure_submission();
    let t = talk(
        &mut s,
        &format!(
            "AUTH PLAIN\r\n{at_limit}\r\nAUTH PLAIN\r\n{at_limit}A\r\nAUTH PLAIN\r\n{}\r\nNOOP\r\n",
            "A".repeat(20_000)
        ),
    );
    assert_eq!(
        lines(&t.out),
        [
            "334 ",
            decoded_reply,
            "334 ",
            too_long,
            "334 ",
            too_long,
            "250 2.0.0 Ok"
        ]
    );
    // As an initial response on the AUTH command line.
    let mut s = secure_submission();
    let t = talk(
        &mut s,
        &format!("AUTH PLAIN {at_limit}\r\nAUTH PLAIN {at_limit}A\r\nNOOP\r\n"),
    );
    assert_eq!(lines(&t.out), [decoded_reply, too_long, "250 2.0.0 Ok"]);
    assert!(!s.is_closed());
}

// ---- BDAT: size limit and bare LF ----

const TOO_BIG: &str = "552 5.3.4 Error: message file too big";

/// An Mta config with `max_message_size` and no `Received:` header (so the
/// counted size is exactly the chunks' octets).
fn bdat_config(max_message_size: u64) -> mail_smtp_submit::Config {
    let mut c = config(Profile::Mta);
    c.max_message_size = max_message_size;
    c.received_header = false;
    c.validate().unwrap();
    c
}

/// `n` octets of 100-octet text lines (`n` a multiple of 100).
fn text_lines(n: usize) -> String {
    assert_eq!(n % 100, 0);
    format!("{}\r\n", "x".repeat(98)).repeat(n / 100)
}

#[test]
fn bdat_last_chunk_over_the_size_limit_is_refused_and_skipped() {
    // At the limit: accepted.
    let mut s = session(bdat_config(1000), "127.0.0.1");
    let body = text_lines(1000);
    let t = talk(&mut s, &format!("{TXN}BDAT 1000 LAST\r\n{body}"));
    assert!(
        t.out
            .ends_with("250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as QID1\r\n"),
        "{}",
        t.out
    );
    assert_eq!(t.messages, [body.into_bytes()]);

    // One octet more: refused after the whole chunk is read. Its octets
    // (command-like lines included) are content, never commands; the next
    // command is parsed normally and the connection survives.
    let mut s = session(bdat_config(1000), "127.0.0.1");
    let body = format!("{}QUIT\r\nRSET\r\n.\r\n", text_lines(900));
    let body = format!("{body}{}", "y".repeat(1001 - body.len()));
    assert_eq!(body.len(), 1001);
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT 1001 LAST\r\n{body}NOOP\r\n{TXN}BDAT 4 LAST\r\nhi\r\n"),
    );
    assert_eq!(
        lines(&t.out)[3..],
        [
            TOO_BIG,
            "250 2.0.0 Ok",
            "250 mx.example.org",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok: queued as QID1",
        ],
        "{}",
        t.out
    );
    assert_eq!(
        t.messages,
        [b"hi\r\n".to_vec()],
        "only the small message is delivered"
    );
    let aborted: Vec<_> = t
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == Event::MessageAborted)
        .map(|(i, _)| i)
        .collect();
    let ended: Vec<_> = t
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == Event::MessageEnd)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(aborted.len(), 1, "{:?}", t.events);
    assert_eq!(ended.len(), 1, "{:?}", t.events);
    assert!(
        aborted[0] < ended[0],
        "the big message never ends: {:?}",
        t.events
    );
    assert!(!s.is_closed());
    assert!(!t.events.contains(&Event::Close));
}

#[test]
fn bdat_over_the_size_limit_is_aborted_while_streaming() {
    // A large chunk fed in pieces: abandoned as soon as the limit is passed
    // (the driver discards what it got), answered once, at the chunk's end.
    let mut s = session(bdat_config(1000), "127.0.0.1");
    let total = 100_000;
    let mut t = talk(&mut s, &format!("{TXN}BDAT {total} LAST\r\n"));
    let piece = text_lines(500);
    let mut fed = 0;
    while fed < total {
        s.receive(piece.as_bytes());
        fed += piece.len();
        drain(&mut s, &mut t);
        if fed == 1500 {
            assert!(
                t.events.contains(&Event::MessageAborted),
                "aborted once 1001 octets are in: {:?}",
                t.events
            );
        }
        if fed < total {
            assert!(
                !t.out.contains("552"),
                "answered before the chunk's end: {}",
                t.out
            );
        }
    }
    s.receive(b"NOOP\r\n");
    drain(&mut s, &mut t);
    assert!(
        t.out
            .ends_with(&format!("250 2.1.5 Ok\r\n{TOO_BIG}\r\n250 2.0.0 Ok\r\n")),
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());
    assert!(!t.events.contains(&Event::MessageEnd));
    assert_eq!(
        t.events.iter().filter(|e| **e == Event::MessageAborted).count(),
        1
    );
}

#[test]
fn bdat_chunks_over_the_size_limit_together_are_refused() {
    // 600 + 600 > 1000: the first chunk is acknowledged, the LAST one refused.
    let mut s = session(bdat_config(1000), "127.0.0.1");
    let (a, b) = (text_lines(600), text_lines(600));
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT 600\r\n{a}BDAT 600 LAST\r\n{b}NOOP\r\n{TXN}BDAT 3\r\nab\nBDAT 0 LAST\r\n"),
    );
    assert_eq!(
        lines(&t.out)[3..],
        [
            "250 2.0.0 Ok: 600 bytes",
            TOO_BIG,
            "250 2.0.0 Ok",
            "250 mx.example.org",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok: 3 bytes",
            "250 2.0.0 Ok: queued as QID1",
        ],
        "{}",
        t.out
    );
    assert_eq!(
        t.messages,
        [b"ab\r\n".to_vec()],
        "bare LF normalised, small message delivered"
    );
    assert_eq!(
        t.events.iter().filter(|e| **e == Event::MessageAborted).count(),
        1
    );
    assert_eq!(t.events.iter().filter(|e| **e == Event::MessageEnd).count(), 1);

    // Over the limit in a chunk that is not LAST: refused at that chunk's
    // end; the transaction is over, so a further chunk (which RFC 3030
    // says the client must not send) is skipped, not parsed, and answered
    // as outside a transaction.
    let mut s = session(bdat_config(1000), "127.0.0.1");
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT 600\r\n{a}BDAT 600\r\n{b}BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"),
    );
    assert_eq!(
        lines(&t.out)[3..],
        [
            "250 2.0.0 Ok: 600 bytes",
            TOO_BIG,
            "503 5.5.1 Error: need MAIL command",
            "250 2.0.0 Ok",
        ],
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());
    assert!(t.events.contains(&Event::MessageAborted));
    assert!(!t.events.contains(&Event::MessageEnd));
    assert!(
        !s.is_closed(),
        "the QUIT inside the skipped chunk was not executed"
    );
    assert_eq!(s.sender(), None);
}

#[test]
fn bdat_bare_lf_rejected_when_configured() {
    let mut c = config(Profile::Mta);
    c.bare_lf = BareLf::Reject;
    c.received_header = false;
    const BARE_LF: &str = "550 5.5.2 Error: bare <LF> received";
    // In a single LAST chunk.
    let mut s = session(c.clone(), "127.0.0.1");
    let body = "line one\nline two\r\n";
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT {} LAST\r\n{body}NOOP\r\n", body.len()),
    );
    assert!(
        t.out
            .ends_with(&format!("250 2.1.5 Ok\r\n{BARE_LF}\r\n250 2.0.0 Ok\r\n")),
        "{}",
        t.out
    );
    assert!(t.messages.is_empty());
    assert!(t.events.contains(&Event::MessageAborted));
    assert!(!t.events.contains(&Event::MessageEnd));
    assert_eq!(s.sender(), None, "the transaction is over");

    // In an earlier chunk: that chunk is acknowledged, the LAST one refused;
    // then a clean message on the same connection is delivered.
    let mut s = session(c.clone(), "127.0.0.1");
    let t = talk(
        &mut s,
        &format!("{TXN}BDAT 9\r\nline one\nBDAT 10 LAST\r\nline two\r\n{TXN}BDAT 5 LAST\r\nok\r\n\r"),
    );
    assert_eq!(
        lines(&t.out)[3..],
        [
            "250 2.0.0 Ok: 9 bytes",
            BARE_LF,
            "250 mx.example.org",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok: queued as QID1",
        ],
        "{}",
        t.out
    );
    assert_eq!(t.messages, [b"ok\r\n\r".to_vec()]);
    assert_eq!(
        t.events.iter().filter(|e| **e == Event::MessageAborted).count(),
        1
    );

    // A CRLF split between two chunks is not a bare LF.
    let mut s = session(c, "127.0.0.1");
    let t = talk(&mut s, &format!("{TXN}BDAT 9\r\nline one\rBDAT 1 LAST\r\n\n"));
    assert!(
        t.out
            .ends_with("250 2.0.0 Ok: 9 bytes\r\n250 2.0.0 Ok: queued as QID1\r\n"),
        "{}",
        t.out
    );
    assert_eq!(t.messages, [b"line one\r\n".to_vec()]);
}

/// The server ends the connection on its own: RFC 5321 §3.8's `421`, a
/// message in progress abandoned, nothing while a TLS switch is pending.
#[test]
fn farewell_on_shutdown_and_idle_timeout() {
    use mail_proto::Farewell;
    let mut s = session(config(Profile::Mta), "203.0.113.9");
    talk(
        &mut s,
        "EHLO client.test\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\npart of a message\r\n",
    );
    s.farewell(Farewell::Shutdown);
    let mut t = Transcript::default();
    drain(&mut s, &mut t);
    assert_eq!(
        t.out,
        "421 4.3.2 mx.example.org Service shutting down, closing transmission channel\r\n"
    );
    assert!(t.events.contains(&Event::MessageAborted) && !t.events.contains(&Event::MessageEnd));
    assert!(s.is_closed());
    s.farewell(Farewell::Shutdown);
    assert!(s.take_output().is_empty(), "said once");

    let mut s = session(config(Profile::Mta), "203.0.113.9");
    talk(&mut s, "EHLO client.test\r\n");
    s.farewell(Farewell::IdleTimeout);
    assert_eq!(
        String::from_utf8(s.take_output()).unwrap(),
        "421 4.4.2 mx.example.org Error: timeout exceeded\r\n"
    );
    assert!(s.is_closed());

    let mut s = session(config(Profile::Mta), "203.0.113.9");
    let t = talk(&mut s, "EHLO client.test\r\nSTARTTLS\r\n");
    assert!(t.out.ends_with("220 2.0.0 Ready to start TLS\r\n"));
    s.farewell(Farewell::Shutdown);
    assert!(
        s.take_output().is_empty(),
        "no cleartext word once STARTTLS was accepted"
    );
}
