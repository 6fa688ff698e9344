//! STARTTLS through mail-tls's `Secured` with a real (in-memory) rustls
//! client: commands injected after STARTTLS are never answered, before or
//! after the handshake (SECURITY.md items 1-3, 6).

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::*;
use mail_imap_min::ImapSession;
use mail_tls::{MailProtocol, Secured, SecuredEvent, ServerTls};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

fn setup() -> (ServerTls, Arc<ClientConfig>) {
    let cert = mail_tls::self_signed(&["localhost".into()], 1).unwrap();
    let tls = ServerTls::from_cert_and_key(&cert, MailProtocol::Imap).unwrap();
    let mut roots = RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tls, Arc::new(config))
}

/// Move bytes both ways until neither side has anything to say; return the
/// plaintext the client read and the server's events.
fn pump(
    client: &mut ClientConnection,
    server: &mut Secured<ImapSession>,
    h: &mut Harness,
) -> (String, Vec<String>) {
    let mut plain = Vec::new();
    let mut events = Vec::new();
    for _ in 0..50 {
        let mut progressed = false;
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        if !wire.is_empty() {
            server.receive(&wire).unwrap();
            progressed = true;
        }
        while let Some(ev) = server.next_event() {
            events.push(format!("{ev:?}"));
            if let SecuredEvent::Session(ev) = ev {
                std::mem::swap(&mut h.session, server.session_mut());
                h.answer(ev);
                std::mem::swap(&mut h.session, server.session_mut());
            }
        }
        let out = server.take_output();
        if !out.is_empty() {
            progressed = true;
            let mut slice = &out[..];
            while !slice.is_empty() {
                client.read_tls(&mut slice).unwrap();
                client.process_new_packets().unwrap();
            }
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = client.reader().read(&mut buf) {
            if n == 0 {
                break;
            }
            plain.extend_from_slice(&buf[..n]);
        }
        if !progressed {
            break;
        }
    }
    (String::from_utf8_lossy(&plain).into_owned(), events)
}

#[test]
fn injected_command_after_starttls_is_never_answered() {
    let (tls, client_config) = setup();
    // The harness answers events against its store; its own session is a placeholder
    // swapped with the one inside `Secured`.
    let mut h = Harness::new(config(false));
    let mut server = Secured::starttls(ImapSession::new(config(false)), Some(tls));
    let greeting = String::from_utf8(server.take_output()).unwrap();
    assert!(greeting.contains("STARTTLS LOGINDISABLED"), "{greeting}");

    server.receive(b"a STARTTLS\r\nb NOOP\r\n").unwrap();
    if let Some(ev) = server.next_event() {
        panic!("no event expected before the handshake: {ev:?}");
    }
    let reply = server.take_output();
    assert_eq!(reply, b"a OK Begin TLS negotiation now.\r\n");

    let mut client = ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
    let (plain, events) = pump(&mut client, &mut server, &mut h);
    assert!(!client.is_handshaking());
    assert!(
        plain.is_empty(),
        "nothing is sent after the handshake unasked: {plain:?}"
    );
    assert!(
        events.iter().any(|e| e == "InjectionDiscarded { bytes: 8 }"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.starts_with("TlsEstablished")),
        "{events:?}"
    );

    client
        .writer()
        .write_all(b"c CAPABILITY\r\nd LOGIN ned secret\r\n")
        .unwrap();
    let (plain, _) = pump(&mut client, &mut server, &mut h);
    assert!(plain.starts_with("* CAPABILITY IMAP4rev1"), "{plain}");
    assert!(
        !plain.contains("STARTTLS") && !plain.contains("LOGINDISABLED"),
        "{plain}"
    );
    assert!(
        plain.contains("c OK Capability completed.\r\nd OK [CAPABILITY"),
        "{plain}"
    );
    assert!(
        !plain.contains("\r\nb "),
        "the injected NOOP was never answered: {plain}"
    );

    client.writer().write_all(b"e STARTTLS\r\n").unwrap();
    let (plain, _) = pump(&mut client, &mut server, &mut h);
    assert_eq!(plain, "e BAD TLS is already active.\r\n");
}

#[test]
fn implicit_tls_plaintext_gets_no_plaintext_reply() {
    let (tls, _) = setup();
    let mut server = Secured::implicit(ImapSession::new(config(true)), tls);
    let greeting = server.take_output();
    assert!(greeting.is_empty(), "greeting waits for the handshake");
    let _ = server.receive(b"a CAPABILITY\r\n");
    while server.next_event().is_some() {}
    let out = server.take_output();
    assert!(!out.windows(4).any(|w| w == b"* OK" || w == b"a OK"), "{out:?}");
}
