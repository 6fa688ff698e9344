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

#[test]
fn long_text_lines_pass_through() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let long = "y".repeat(5000);
    let t = talk(
        &mut s,
        &format!("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n{long}\r\n.\r\n"),
    );
    assert!(t.out.ends_with("queued as QID1\r\n"));
    assert!(t.message_text(0).ends_with(&format!("\r\n{long}\r\n")));
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
    assert_eq!(
        after_ehlo,
        [
            "250 2.0.0 Ok",
            "250 2.0.0 Ok",
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            "530 5.7.0 Must issue a STARTTLS command first",
            "530 5.7.0 Must issue a STARTTLS command first",
            "530 5.7.0 Must issue a STARTTLS command first",
            "530 5.7.0 Must issue a STARTTLS command first",
            "530 5.7.0 Must issue a STARTTLS command first",
            "530 5.7.0 Must issue a STARTTLS command first",
            "220 2.0.0 Ready to start TLS",
        ]
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
