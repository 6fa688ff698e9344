//! The command hot path (four-letter verbs, common-shape addresses, one
//! UTF-8 check per line, the recipient event kept out of the queue) answers
//! exactly like the general path it short-cuts.

mod common;

use common::*;
use mail_proto::Session;
use mail_smtp_submit::{Event, Profile};

fn lines(out: &str) -> Vec<&str> {
    out.split("\r\n").filter(|l| !l.is_empty()).collect()
}

#[test]
fn verbs_and_keywords_in_any_case_and_spacing() {
    let mut s = session(config(Profile::Mta), "192.0.2.9");
    let t = talk(
        &mut s,
        "hElO c.example\r\nmail from:<a@c.example> size=10 body=8bitmime\r\n\
         Rcpt To:  <ned@EXAMPLE.org>  notify=success,Delay orcpt=rfc822;ned@example.org \r\n\
         rcpt to:ned@example.org.\r\nNOOP  \r\nRSET\t\r\n  QUIT\r\n",
    );
    assert_eq!(
        lines(&t.out),
        [
            "250 mx.example.org",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok",
            "250 2.0.0 Ok",
            "221 2.0.0 Bye",
        ]
    );
}

#[test]
fn repeated_dsn_parameters_are_refused() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM:<a@b.example> ENVID=x ENVID=y\r\nMAIL FROM:<a@b.example> ENVID=x\r\n\
         RCPT TO:<ned@example.org> NOTIFY=NEVER NOTIFY=SUCCESS\r\n\
         RCPT TO:<ned@example.org> ORCPT=rfc822;a ORCPT=rfc822;b\r\nRCPT TO:<ned@example.org> NOTIFY=DELAY,FAILURE\r\n",
    );
    assert_eq!(
        &lines(&t.out)[9..],
        [
            "555 5.5.4 Unsupported option: ENVID=y",
            "250 2.1.0 Ok",
            "555 5.5.4 Unsupported option: NOTIFY=SUCCESS",
            "555 5.5.4 Unsupported option: ORCPT=rfc822;b",
            "250 2.1.5 Ok",
        ]
    );
    assert_eq!(s.mail_params().envid, "x");
    assert_eq!(s.recipients().len(), 1);
    assert_eq!(s.recipients()[0].notify, "DELAY,FAILURE");
    assert_eq!(s.recipients()[0].orcpt, "");
}

#[test]
fn every_repeated_mail_parameter_is_refused() {
    // The smtp_differential fuzz target saw `BODY=8BITMIME BODY=7BIT`
    // accepted with the last value winning: now refused like ENVID.
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk(
        &mut s,
        "EHLO c\r\nMAIL FROM:<a@b.example> BODY=8BITMIME BODY=7BIT\r\n\
         MAIL FROM:<a@b.example> SIZE=10 SIZE=20\r\nMAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8\r\n\
         MAIL FROM:<a@b.example> RET=FULL RET=HDRS\r\nMAIL FROM:<a@b.example> BODY=8BITMIME SIZE=10\r\n",
    );
    assert_eq!(
        &lines(&t.out)[9..],
        [
            "555 5.5.4 Unsupported option: BODY=7BIT",
            "555 5.5.4 Unsupported option: SIZE=20",
            "555 5.5.4 Unsupported option: SMTPUTF8",
            "555 5.5.4 Unsupported option: RET=HDRS",
            "250 2.1.0 Ok",
        ]
    );
    assert_eq!(s.mail_params().size, Some(10));
}

#[test]
fn addresses_outside_the_common_shape_keep_their_verdicts() {
    let mut s = session(config(Profile::Mta), "192.0.2.9");
    let long_label = "x".repeat(64);
    let input = format!(
        "EHLO c\r\nMAIL FROM:<\"a b\"@c.example>\r\n\
         RCPT TO:<ned@example.org.>\r\nRCPT TO:<ned@exa..mple.org>\r\nRCPT TO:<ned@-example.org>\r\n\
         RCPT TO:<ned@example-.org>\r\nRCPT TO:<user%elsewhere.test@example.org>\r\n\
         RCPT TO:<ned@{long_label}.org>\r\nRCPT TO:<@example.org:ned@example.org>\r\n\
         RCPT TO:<postmaster>\r\nRCPT TO:<ned@[192.0.2.1]>\r\nRCPT TO:<n\u{e9}d@example.org>\r\n\
         RCPT TO:<ned@example.org@elsewhere.test>\r\n"
    );
    let t = talk(&mut s, &input);
    assert_eq!(
        &lines(&t.out)[9..],
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "501 5.1.3 Bad recipient address syntax",
            "501 5.1.3 Bad recipient address syntax",
            "554 5.7.1 <ned@example-.org>: Relay access denied",
            "554 5.7.1 <user%elsewhere.test@example.org>: Relay access denied",
            "501 5.1.3 Bad recipient address syntax",
            "554 5.7.1 <@example.org:ned@example.org>: Relay access denied",
            "250 2.1.5 Ok",
            "554 5.7.1 <ned@[192.0.2.1]>: Relay access denied",
            "250 2.1.5 Ok",
            "554 5.7.1 <ned@example.org@elsewhere.test>: Relay access denied",
        ]
    );
    assert_eq!(s.sender(), Some("\"a b\"@c.example"));
    let accepted: Vec<&str> = s.recipients().iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        accepted,
        ["ned@example.org.", "postmaster", "n\u{e9}d@example.org"]
    );
}

#[test]
fn invalid_utf8_in_a_parameter_does_not_hide_the_address_check() {
    let mut s = session(config(Profile::Mta), "127.0.0.1");
    let t = talk_bytes(
        &mut s,
        b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<ned@example.org> ORCPT=\xff\r\n\
          RCPT TO:<n\xffd@example.org>\r\nRCPT TO:<ned@example.org>\r\n",
    );
    assert_eq!(
        &lines(&t.out)[9..],
        [
            "250 2.1.0 Ok",
            "555 5.5.4 Unsupported option: ORCPT=?",
            "501 5.1.3 Bad recipient address syntax",
            "250 2.1.5 Ok",
        ]
    );
}

#[test]
fn recipient_event_keeps_its_place_among_other_events() {
    // Soft error limit reached: every command is preceded by a Delay event,
    // which must come out before the recipient decision it precedes.
    let mut c = config(Profile::Mta);
    c.soft_error_limit = 1;
    let mut s = session(c, "127.0.0.1");
    s.receive(b"EHLO c\r\nFOO\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<ned@example.org>\r\n");
    let mut events = Vec::new();
    while let Some(ev) = s.next_event() {
        if ev == Event::Recipient {
            // A server shutting down while the decision is pending: the
            // recipient event was already handed out, Close follows it.
            s.shutdown();
        }
        events.push(ev);
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Delay(_) => "delay",
            Event::Recipient => "recipient",
            Event::Close => "close",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["delay", "delay", "recipient", "close"]);
    assert!(s.is_closed());
}

#[test]
fn byte_at_a_time_matches_one_piece() {
    let input = b"EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\n\
        RCPT TO:<ned@example.org> NOTIFY=SUCCESS,FAILURE\r\nRCPT TO:<x@elsewhere.test>\r\n\
        RCPT TO:<unknown1@example.org>\r\nRSET\r\nVRFY ned\r\nHELP\r\nQUIT\r\n";
    let mut whole = session(config(Profile::Mta), "192.0.2.9");
    let expected = talk_bytes(&mut whole, input);
    let mut bytewise = session(config(Profile::Mta), "192.0.2.9");
    let cuts: Vec<usize> = (1..input.len()).collect();
    let got = talk_split(&mut bytewise, input, &cuts);
    assert_eq!(got.out, expected.out);
    assert_eq!(got.events, expected.events);
    assert!(expected.out.contains("550 5.1.1 <unknown1@example.org>"));
}
