//! STLS through `mail_tls::Secured` with a real rustls client: the injected
//! `CAPA` after `STLS` is never answered, neither before nor after the
//! handshake; POP3S gives no plaintext reply to plaintext input.

use std::io::{Read, Write};
use std::sync::Arc;

use mail_pop3::{Config, Event, Pop3Session};
use mail_sasl::{BackendCapabilities, MechanismSet};
use mail_tls::{self_signed, MailProtocol, Secured, SecuredEvent, ServerTls};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

fn config(secure: bool) -> Config {
    let backend = BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::empty(),
    };
    let mut c = Config::new("localhost", backend, [1; 16]);
    c.starttls = !secure;
    c.secure_from_start = secure;
    c
}

fn tls_pair() -> (ServerTls, ClientConnection) {
    let cert = self_signed(&["localhost".into()], 2).unwrap();
    let server = ServerTls::from_cert_and_key(&cert, MailProtocol::Pop3).unwrap();
    let mut roots = RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let client_config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = ClientConnection::new(
        Arc::new(client_config),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    (server, client)
}

/// Shuttle records until both sides are idle; collect server events and
/// the plaintext the client read.
fn pump(
    server: &mut Secured<Pop3Session>,
    client: &mut ClientConnection,
    events: &mut Vec<SecuredEvent<Event>>,
) -> Vec<u8> {
    let mut plain = Vec::new();
    for _ in 0..50 {
        let mut to_server = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut to_server).unwrap();
        }
        if !to_server.is_empty() {
            server.receive(&to_server).unwrap();
        }
        while let Some(ev) = server.next_event() {
            events.push(ev);
        }
        let to_client = server.take_output();
        if !to_client.is_empty() {
            let mut rd = &to_client[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
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
        if to_server.is_empty() && to_client.is_empty() && !client.wants_write() {
            break;
        }
    }
    plain
}

#[test]
fn stls_capa_injection_is_discarded() {
    let (tls, mut client) = tls_pair();
    let mut server = Secured::starttls(Pop3Session::new(config(false)), Some(tls));
    assert_eq!(server.take_output(), b"+OK POP3 server ready.\r\n");
    // One TCP write: STLS and an injected CAPA.
    server.receive(b"STLS\r\nCAPA\r\n").unwrap();
    assert!(server.next_event().is_none());
    assert_eq!(
        server.take_output(),
        b"+OK Begin TLS negotiation now.\r\n",
        "CAPA not answered in clear"
    );
    assert!(server.is_tls());

    let mut events = Vec::new();
    let plain = pump(&mut server, &mut client, &mut events);
    assert!(
        plain.is_empty(),
        "nothing answered after the handshake either: {plain:?}"
    );
    assert!(
        matches!(events.first(), Some(SecuredEvent::TlsEstablished(_))),
        "{events:?}"
    );
    assert!(
        events.contains(&SecuredEvent::InjectionDiscarded { bytes: 6 }),
        "the 6 bytes of CAPA\\r\\n are reported: {events:?}"
    );
    assert!(server.session().is_secure());

    client.writer().write_all(b"CAPA\r\n").unwrap();
    let capa = String::from_utf8(pump(&mut server, &mut client, &mut events)).unwrap();
    assert!(capa.starts_with("+OK Capability list follows\r\n"), "{capa}");
    assert!(!capa.contains("STLS"), "{capa}");
    assert!(capa.contains("\r\nUSER\r\nSASL PLAIN LOGIN\r\n"), "{capa}");

    client.writer().write_all(b"STLS\r\n").unwrap();
    let again = String::from_utf8(pump(&mut server, &mut client, &mut events)).unwrap();
    assert_eq!(again, "-ERR TLS is already active.\r\n");
}

#[test]
fn pop3s_plaintext_gets_no_plaintext_reply() {
    let (tls, _client) = tls_pair();
    let mut server = Secured::implicit(Pop3Session::new(config(true)), tls);
    assert!(
        server.take_output().is_empty(),
        "greeting waits for the handshake"
    );
    let result = server.receive(b"CAPA\r\n");
    assert!(result.is_err());
    let out = server.take_output();
    assert!(!out.windows(3).any(|w| w == b"+OK"), "{out:?}");
    assert!(server.is_closed());
}

#[test]
fn pop3s_greeting_after_handshake() {
    let (tls, mut client) = tls_pair();
    let mut server = Secured::implicit(Pop3Session::new(config(true)), tls);
    let mut events = Vec::new();
    let plain = String::from_utf8(pump(&mut server, &mut client, &mut events)).unwrap();
    assert_eq!(plain, "+OK POP3 server ready.\r\n");
    client.writer().write_all(b"CAPA\r\n").unwrap();
    let capa = String::from_utf8(pump(&mut server, &mut client, &mut events)).unwrap();
    assert!(capa.contains("USER\r\n") && !capa.contains("STLS"), "{capa}");
}
