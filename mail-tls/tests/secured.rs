//! `Secured<EchoSession>` against an in-process rustls client: the STARTTLS
//! switch at the exact byte, injection discard, implicit TLS, close, errors.

mod common;

use std::io::Write;

use common::*;
use mail_proto::Session;
use mail_tls::echo::{EchoEvent, EchoSession};
use mail_tls::{self_signed, CertAndKey, MailProtocol, Secured, SecuredEvent, ServerTls, TlsError};
use proptest::prelude::*;

fn setup() -> (CertAndKey, ServerTls) {
    let ck = self_signed(&["mail.example.com".into()], 30).unwrap();
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    (ck, tls)
}

fn starttls_server(tls: &ServerTls) -> Secured<EchoSession> {
    Secured::starttls(EchoSession::new("mail.example.com", true), Some(tls.clone()))
}

/// Feed cleartext `chunks`; after each chunk drain events, and take output
/// when `eager`. Returns the cleartext the client saw (if the server did not
/// fail) and the exchange so far.
fn cleartext_phase(
    server: &mut Secured<EchoSession>,
    chunks: &[&[u8]],
    eager: bool,
    ex: &mut Exchange,
) -> Vec<u8> {
    let mut clear = server.take_output(); // greeting
    for chunk in chunks {
        if let Err(e) = server.receive(chunk) {
            ex.server_error = Some(e.to_string());
            clear.extend(server.take_output());
            return clear;
        }
        drain_events(server, ex);
        if eager {
            clear.extend(server.take_output());
        }
    }
    clear.extend(server.take_output());
    clear
}

const SCRIPT: &[u8] = b"EHLO a\r\nSTARTTLS\r\nNOOP\r\n";

#[test]
fn starttls_injection_is_discarded_and_reported() {
    let (ck, tls) = setup();
    let mut server = starttls_server(&tls);
    let mut ex = Exchange::default();
    let clear = cleartext_phase(&mut server, &[SCRIPT], false, &mut ex);
    let clear = String::from_utf8(clear).unwrap();
    assert!(
        clear.starts_with("220 mail.example.com ESMTP echo\r\n"),
        "{clear}"
    );
    assert!(clear.contains("250-STARTTLS\r\n"));
    assert!(clear.ends_with("220 2.0.0 Ready to start TLS\r\n"), "{clear}");
    assert!(
        !clear.contains("250 2.0.0 Ok"),
        "NOOP answered in cleartext: {clear}"
    );
    assert!(server.is_tls());

    let mut client = client(&client_config(&ck.cert_pem, "1.3", &[]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"EHLO b\r\nNOOP\r\n", &mut ex);
    assert_eq!(ex.server_error, None);
    assert_eq!(ex.client_error, None);
    let established = ex
        .events
        .iter()
        .position(|e| matches!(e, SecuredEvent::TlsEstablished(_)));
    let discarded = ex
        .events
        .iter()
        .position(|e| *e == SecuredEvent::InjectionDiscarded { bytes: 6 });
    let (Some(established), Some(discarded)) = (established, discarded) else {
        panic!("missing TLS events: {:?}", ex.events)
    };
    assert!(established < discarded);
    // Commands: EHLO a (cleartext), then EHLO b and the *encrypted* NOOP.
    assert_eq!(ex.commands(), ["EHLO a", "EHLO b", "NOOP"]);
    let first_tls_command = ex
        .events
        .iter()
        .position(|e| *e == SecuredEvent::Session(EchoEvent::Command("EHLO b".into())))
        .unwrap();
    assert!(discarded < first_tls_command);
    // Exactly one NOOP reply, to the encrypted one; no STARTTLS after TLS.
    let text = ex.client_text();
    assert_eq!(text.matches("250 2.0.0 Ok").count(), 1, "{text}");
    assert!(!text.contains("STARTTLS"), "{text}");
    assert!(server.session().is_secure());
    let info = server.tls_info().unwrap();
    assert_eq!(info.protocol, "TLSv1.3");
    assert_eq!(server.session().tls_info(), Some(info));
}

#[test]
fn injection_after_reply_was_written_fails_the_handshake() {
    let (_, tls) = setup();
    let mut server = starttls_server(&tls);
    let mut ex = Exchange::default();
    // The server writes "220 Ready" before the injected bytes arrive: they
    // reach rustls as the "ClientHello" and the connection fails.
    let clear = cleartext_phase(&mut server, &[b"STARTTLS\r\n", b"NOOP\r\n"], true, &mut ex);
    assert_eq!(
        ex.server_error.as_deref(),
        Some(
            TlsError::PlaintextOnTlsPort { first_byte: b'N' }
                .to_string()
                .as_str()
        )
    );
    assert_eq!(ex.commands(), Vec::<String>::new());
    assert!(server.is_closed());
    assert!(!String::from_utf8_lossy(&clear).contains("250"), "{clear:?}");
    assert_eq!(server.next_event(), None);
}

/// Run SCRIPT split into `chunks` (cleartext), then a real handshake and one
/// encrypted command. Invariants: NOOP is never executed or answered in
/// cleartext; outcome is either "InjectionDiscarded{6} + working TLS" or a
/// TLS error (when the NOOP bytes arrived after the 220 was taken).
fn run_split(chunks: &[&[u8]], eager: bool) -> (Vec<String>, Option<usize>, bool, String) {
    let (ck, tls) = setup();
    let mut server = starttls_server(&tls);
    let mut ex = Exchange::default();
    let clear = cleartext_phase(&mut server, chunks, eager, &mut ex);
    let clear = String::from_utf8_lossy(&clear).into_owned();
    let mut tls_ok = false;
    if ex.server_error.is_none() {
        let mut client = client(&client_config(&ck.cert_pem, "any", &["smtp"]), "mail.example.com");
        pump_secured(&mut client, &mut server, b"QUIT\r\n", &mut ex);
        tls_ok = ex.server_error.is_none()
            && ex.client_error.is_none()
            && ex.client_text().contains("221 2.0.0 Bye");
    }
    let discarded = ex.events.iter().find_map(|e| match e {
        SecuredEvent::InjectionDiscarded { bytes } => Some(*bytes),
        _ => None,
    });
    (ex.commands(), discarded, tls_ok, clear)
}

#[test]
fn every_single_split_of_the_cleartext_gives_the_same_outcome() {
    let reference = run_split(&[SCRIPT], false);
    assert_eq!(reference.0, ["EHLO a", "QUIT"]);
    assert_eq!(reference.1, Some(6));
    assert!(reference.2);
    for cut in 0..=SCRIPT.len() {
        let (a, b) = SCRIPT.split_at(cut);
        // A server that reads everything before writing: identical outcome.
        assert_eq!(run_split(&[a, b], false), reference, "lazy split at {cut}");
        // A server that writes after every read: NOOP never executed either.
        let (commands, discarded, tls_ok, clear) = run_split(&[a, b], true);
        assert!(
            !commands.iter().any(|c| c == "NOOP"),
            "eager split at {cut}: {commands:?}"
        );
        assert!(!clear.contains("250 2.0.0 Ok"), "eager split at {cut}: {clear}");
        let starttls_end = b"EHLO a\r\nSTARTTLS\r\n".len();
        if cut >= starttls_end {
            // NOOP arrived after the reply was taken: TLS refuses it,
            // unless it was not there at all (cut == len).
            if cut < SCRIPT.len() {
                assert_eq!((discarded, tls_ok), (None, false), "eager split at {cut}");
            } else {
                assert_eq!((discarded, tls_ok), (Some(6), true), "eager split at {cut}");
            }
        } else {
            assert_eq!((discarded, tls_ok), (Some(6), true), "eager split at {cut}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_chunking_never_executes_the_injected_command(
        cuts in proptest::collection::vec(0usize..=SCRIPT.len(), 0..6),
        eager in any::<bool>(),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for cut in cuts.into_iter().chain(std::iter::once(SCRIPT.len())) {
            chunks.push(&SCRIPT[last..cut]);
            last = cut;
        }
        let (commands, discarded, tls_ok, clear) = run_split(&chunks, eager);
        prop_assert!(!commands.iter().any(|c| c == "NOOP"));
        prop_assert!(!clear.contains("250 2.0.0 Ok"));
        prop_assert!(discarded == Some(6) && tls_ok || discarded.is_none() && !tls_ok);
        if !eager {
            prop_assert_eq!(commands, vec!["EHLO a".to_string(), "QUIT".to_string()]);
            prop_assert_eq!(discarded, Some(6));
        }
    }
}

#[test]
fn implicit_tls_greeting_is_only_sent_encrypted() {
    let (ck, tls) = setup();
    let mut server = Secured::implicit(EchoSession::implicit("mail.example.com"), tls);
    assert!(server.is_tls());
    assert!(
        server.take_output().is_empty(),
        "greeting leaked before the handshake"
    );
    assert!(server.wants_input());
    let mut ex = Exchange::default();
    let mut client = client(&client_config(&ck.cert_pem, "1.2", &["smtp"]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"EHLO c\r\n", &mut ex);
    assert_eq!(ex.server_error, None);
    assert!(
        matches!(&ex.events[0], SecuredEvent::TlsEstablished(info) if info.protocol == "TLSv1.2" && info.alpn.as_deref() == Some("smtp"))
    );
    assert!(!ex
        .events
        .iter()
        .any(|e| matches!(e, SecuredEvent::InjectionDiscarded { .. })));
    let text = ex.client_text();
    assert!(
        text.starts_with("220 mail.example.com ESMTP echo\r\n250-mail.example.com\r\n"),
        "{text}"
    );
    assert!(!text.contains("STARTTLS"));
    assert_eq!(ex.commands(), ["EHLO c"]);
}

#[test]
fn implicit_tls_plaintext_gets_no_plaintext_reply() {
    let (_, tls) = setup();
    for input in [&b"EHLO x\r\n"[..], b"GET / HTTP/1.0\r\n\r\n", b"\r\n", b"a"] {
        let mut server = Secured::implicit(EchoSession::implicit("mail.example.com"), tls.clone());
        let err = server.receive(input).unwrap_err();
        assert!(
            matches!(err, TlsError::PlaintextOnTlsPort { first_byte } if first_byte == input[0]),
            "{err}"
        );
        let out = server.take_output();
        // Nothing but (at most) one TLS alert record.
        assert!(out.is_empty() || (out[0] == 0x15 && out.len() == 7), "{out:02x?}");
        assert!(!out.windows(3).any(|w| w == b"220"));
        assert!(server.is_closed());
        assert_eq!(server.next_event(), None);
        // Later input is ignored, nothing more is written.
        assert!(server.receive(b"NOOP\r\n").is_ok());
        assert!(server.take_output().is_empty());
    }
}

#[test]
fn garbage_record_after_handshake_is_fatal_with_alert() {
    let (ck, tls) = setup();
    let mut server = Secured::implicit(EchoSession::implicit("mail.example.com"), tls);
    let mut ex = Exchange::default();
    let mut client = client(&client_config(&ck.cert_pem, "1.3", &[]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"", &mut ex);
    assert!(server.tls_info().is_some());
    // An application-data record that does not decrypt.
    let err = server
        .receive(&[
            0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
            20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
        ])
        .unwrap_err();
    assert!(
        matches!(err, TlsError::Protocol(rustls::Error::DecryptError)),
        "{err}"
    );
    let out = server.take_output();
    assert!(!out.is_empty(), "alert expected");
    assert!(server.is_closed());
    assert!(!server.wants_input());
}

#[test]
fn client_close_notify_is_answered_and_closes() {
    let (ck, tls) = setup();
    let mut server = Secured::implicit(EchoSession::implicit("mail.example.com"), tls);
    let mut ex = Exchange::default();
    let mut client = client(&client_config(&ck.cert_pem, "1.3", &[]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"", &mut ex);
    assert!(!server.is_closed());
    client.send_close_notify();
    pump_secured(&mut client, &mut server, b"", &mut ex);
    assert!(server.is_closed());
    assert!(!server.wants_input());
    let state = client.process_new_packets().unwrap();
    assert!(state.peer_has_closed(), "server did not answer close_notify");
}

#[test]
fn quit_over_tls_sends_reply_then_close_notify() {
    let (ck, tls) = setup();
    let mut server = Secured::implicit(EchoSession::implicit("mail.example.com"), tls);
    let mut ex = Exchange::default();
    let mut client = client(&client_config(&ck.cert_pem, "1.3", &[]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"QUIT\r\nNOOP\r\n", &mut ex);
    assert!(server.is_closed());
    let text = ex.client_text();
    assert!(text.ends_with("221 2.0.0 Bye\r\n"), "{text}");
    assert!(client.process_new_packets().unwrap().peer_has_closed());
    assert_eq!(ex.commands(), ["QUIT"]);
}

#[test]
fn second_starttls_after_tls_is_refused_by_the_session() {
    let (ck, tls) = setup();
    let mut server = starttls_server(&tls);
    let mut ex = Exchange::default();
    cleartext_phase(&mut server, &[b"STARTTLS\r\n"], false, &mut ex);
    let mut client = client(&client_config(&ck.cert_pem, "1.3", &[]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"STARTTLS\r\nNOOP\r\n", &mut ex);
    let text = ex.client_text();
    assert!(
        text.starts_with("554 5.5.1 Error: TLS already active\r\n250 2.0.0 Ok\r\n"),
        "{text}"
    );
    assert!(!ex
        .events
        .iter()
        .any(|e| matches!(e, SecuredEvent::InjectionDiscarded { .. })));
}

#[test]
fn starttls_without_certificate_fails_cleanly() {
    let mut server = Secured::starttls(EchoSession::new("mail.example.com", true), None);
    server.take_output();
    server.receive(b"STARTTLS\r\n").unwrap();
    while server.next_event().is_some() {}
    let out = server.take_output();
    assert!(out.ends_with(b"220 2.0.0 Ready to start TLS\r\n"));
    assert!(server.is_closed());
    assert!(matches!(
        server.receive(b"\x16\x03\x01"),
        Err(TlsError::StartTlsUnavailable)
    ));
}

#[test]
fn cleartext_only_connection_without_tls() {
    let mut server = Secured::starttls(EchoSession::new("mail.example.com", false), None);
    server.receive(b"EHLO x\r\nSTARTTLS\r\nQUIT\r\n").unwrap();
    let mut events = Vec::new();
    while let Some(e) = server.next_event() {
        events.push(e);
    }
    assert_eq!(events.len(), 3);
    let out = String::from_utf8(server.take_output()).unwrap();
    assert!(!out.contains("STARTTLS"));
    assert!(out.contains("502 5.5.1"));
    assert!(out.ends_with("221 2.0.0 Bye\r\n"));
    assert!(!server.is_tls());
    assert!(server.is_closed());
}

#[test]
fn backpressure_and_large_output_over_tls() {
    let (ck, tls) = setup();
    let mut server = Secured::implicit(EchoSession::implicit("mail.example.com"), tls);
    let mut ex = Exchange::default();
    let mut client = client(&client_config(&ck.cert_pem, "1.3", &[]), "mail.example.com");
    pump_secured(&mut client, &mut server, b"", &mut ex);
    // 2000 lines (~200 kB) in one go, without draining events in between.
    let line = format!("ECHO {}\r\n", "x".repeat(95));
    let mut flood = Vec::new();
    for _ in 0..2000 {
        flood.extend_from_slice(line.as_bytes());
    }
    let mut wire = Vec::new();
    for piece in flood.chunks(16 * 1024) {
        client.writer().write_all(piece).unwrap();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
    }
    assert!(server.wants_input());
    server.receive(&wire).unwrap();
    assert!(
        !server.wants_input(),
        "session holds >8 KiB unprocessed: should refuse more input"
    );
    let mut n = 0;
    while let Some(event) = server.next_event() {
        assert!(matches!(event, SecuredEvent::Session(EchoEvent::Command(_))));
        n += 1;
    }
    assert_eq!(n, 2000);
    assert!(server.wants_input());
    // All replies, in order, through one take_output (more than rustls's
    // 64 KiB send buffer).
    let out = server.take_output();
    assert!(out.len() > 200_000);
    let mut rd = &out[..];
    let mut plain = Vec::new();
    while !rd.is_empty() {
        client.read_tls(&mut rd).unwrap();
        client.process_new_packets().unwrap();
        let mut buf = [0u8; 8192];
        while let Ok(k) = std::io::Read::read(&mut client.reader(), &mut buf) {
            if k == 0 {
                break;
            }
            plain.extend_from_slice(&buf[..k]);
        }
    }
    let expected = format!("250 ECHO {}\r\n", "x".repeat(95)).repeat(2000);
    assert_eq!(String::from_utf8(plain).unwrap(), expected);
}

#[test]
fn echo_session_contract() {
    // The test session itself follows the mail_proto STARTTLS contract.
    let mut s = EchoSession::new("h", true);
    s.receive(b"EHLO a\r\nSTARTTLS\r\nNOOP\r\n");
    assert_eq!(s.next_event(), Some(EchoEvent::Command("EHLO a".into())));
    assert_eq!(s.next_event(), Some(EchoEvent::StartTls));
    assert_eq!(s.next_event(), None);
    s.receive(b"MORE\r\n");
    assert_eq!(s.next_event(), None);
    assert!(s.ehlo_seen());
    assert_eq!(s.tls_established(&mail_tls::TlsInfo::default()), 12);
    assert!(!s.ehlo_seen());
    assert!(s.is_secure());
}
