//! The seeds' port policy as a table: 25 relays for mynetworks; 25 accepts
//! local mail from anyone; 25 relays for others only after STARTTLS+AUTH;
//! 587 relays after STARTTLS+AUTH; 587 without STARTTLS or AUTH accepts no mail.

mod common;

use common::*;
use mail_proto::Session;
use mail_smtp_submit::Profile;

/// Run a conversation and return the replies to MAIL and RCPT.
fn case(profile: Profile, ip: &str, starttls: bool, auth: bool, rcpt: &str) -> (String, String) {
    let mut s = session(config(profile), ip);
    if profile == Profile::Submissions {
        s.tls_established(&tls_info());
    }
    talk(&mut s, "EHLO client.test\r\n");
    if starttls {
        assert_eq!(
            talk(&mut s, "STARTTLS\r\n").out,
            "220 2.0.0 Ready to start TLS\r\n"
        );
        s.tls_established(&tls_info());
        talk(&mut s, "EHLO client.test\r\n");
    }
    if auth {
        talk(&mut s, &format!("AUTH PLAIN {}\r\n", plain_ir("ned", "secret")));
    }
    let t = talk(
        &mut s,
        &format!("MAIL FROM:<ned@example.org>\r\nRCPT TO:<{rcpt}>\r\n"),
    );
    let mut l = t.out.split_terminator("\r\n").map(str::to_owned);
    (l.next().unwrap(), l.next().unwrap())
}

const LAN: &str = "192.168.1.20";
const OUTSIDE: &str = "203.0.113.9";
const LOCAL: &str = "ned@example.org";
const REMOTE: &str = "friend@elsewhere.test";
const OK: (&str, &str) = ("250 2.1.0 Ok", "250 2.1.5 Ok");
const DENIED: (&str, &str) = (
    "250 2.1.0 Ok",
    "554 5.7.1 <friend@elsewhere.test>: Relay access denied",
);
const TLS_FIRST: &str = "530 5.7.0 Must issue a STARTTLS command first";
const AUTH_REQUIRED: &str = "530 5.7.0 Authentication required";

/// (listener, client address, STARTTLS, AUTH, recipient, (MAIL reply, RCPT reply)).
type Case = (
    Profile,
    &'static str,
    bool,
    bool,
    &'static str,
    (&'static str, &'static str),
);

#[test]
fn port_policy_table() {
    use Profile::*;
    #[rustfmt::skip]
    let table: &[Case] = &[
        // 25 relays for mynetworks, with or without TLS.
        (Mta, LAN, false, false, REMOTE, OK),
        (Mta, LAN, true, false, REMOTE, OK),
        // 25 accepts local mail from anyone.
        (Mta, OUTSIDE, false, false, LOCAL, OK),
        (Mta, OUTSIDE, true, false, LOCAL, OK),
        // 25 relays for others only after STARTTLS + AUTH.
        (Mta, OUTSIDE, false, false, REMOTE, DENIED),
        (Mta, OUTSIDE, true, false, REMOTE, DENIED),
        (Mta, OUTSIDE, false, true, REMOTE, DENIED), // AUTH refused in cleartext
        (Mta, OUTSIDE, true, true, REMOTE, OK),
        // 587 relays after STARTTLS + AUTH.
        (Submission, OUTSIDE, true, true, REMOTE, OK),
        (Submission, OUTSIDE, true, true, LOCAL, OK),
        (Submission, LAN, true, true, REMOTE, OK),
        // 587 without STARTTLS or without AUTH accepts no mail — not even from the LAN, not even local.
        (Submission, OUTSIDE, false, false, LOCAL, (TLS_FIRST, TLS_FIRST)),
        (Submission, OUTSIDE, false, true, REMOTE, (TLS_FIRST, TLS_FIRST)),
        (Submission, LAN, false, false, REMOTE, (TLS_FIRST, TLS_FIRST)),
        (Submission, OUTSIDE, true, false, LOCAL, (AUTH_REQUIRED, "503 5.5.1 Error: need MAIL command")),
        (Submission, LAN, true, false, REMOTE, (AUTH_REQUIRED, "503 5.5.1 Error: need MAIL command")),
        // 465: implicit TLS, AUTH required.
        (Submissions, OUTSIDE, false, true, REMOTE, OK),
        (Submissions, OUTSIDE, false, false, LOCAL, (AUTH_REQUIRED, "503 5.5.1 Error: need MAIL command")),
    ];
    for (profile, ip, starttls, auth, rcpt, (mail, rcpt_reply)) in table {
        let got = case(*profile, ip, *starttls, *auth, rcpt);
        assert_eq!(
            (got.0.as_str(), got.1.as_str()),
            (*mail, *rcpt_reply),
            "{profile:?} from {ip}, starttls={starttls}, auth={auth}, rcpt={rcpt}"
        );
    }
}
