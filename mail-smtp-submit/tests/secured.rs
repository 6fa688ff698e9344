//! STARTTLS and implicit TLS through `mail_tls::Secured`, with an in-memory
//! rustls client: the injection after STARTTLS is discarded and reported,
//! the Received header carries the real TLS parameters.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::*;
use mail_smtp_submit::{ClientInfo, Event, Profile, SmtpSession};
use mail_tls::{self_signed, MailProtocol, Secured, SecuredEvent, ServerTls};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

struct Conn {
    server: Secured<SmtpSession>,
    client: ClientConnection,
    transcript: Transcript,
    tls_events: Vec<SecuredEvent<Event>>,
}

fn setup(profile: Profile) -> (Secured<SmtpSession>, ClientConnection) {
    let cert = self_signed(&["localhost".into()], 2).unwrap();
    let tls = ServerTls::from_cert_and_key(&cert, MailProtocol::Smtp).unwrap();
    let mut roots = RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cc = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = ClientConnection::new(Arc::new(cc), ServerName::try_from("localhost").unwrap()).unwrap();
    let session = SmtpSession::new(
        Arc::new(config(profile)),
        ClientInfo::new("203.0.113.9".parse().unwrap()),
    );
    let server = match profile {
        Profile::Submissions => Secured::implicit(session, tls),
        _ => Secured::starttls(session, Some(tls)),
    };
    (server, client)
}

impl Conn {
    fn drain(&mut self) {
        self.serve();
    }

    /// Dispatch events: the Secured events first, session events through the shared answerer.
    fn serve(&mut self) {
        loop {
            let mut any = false;
            while let Some(ev) = self.server.next_event() {
                any = true;
                match ev {
                    SecuredEvent::Session(e) => answer(self.server.session_mut(), e, &mut self.transcript),
                    other => self.tls_events.push(other),
                }
            }
            if !any {
                break;
            }
        }
    }

    /// Cleartext exchange before TLS: returns the server's cleartext reply.
    fn clear(&mut self, input: &[u8]) -> String {
        self.server.receive(input).unwrap();
        self.serve();
        String::from_utf8_lossy(&self.server.take_output()).into_owned()
    }

    /// Move bytes both ways until quiet; returns decrypted server output.
    fn pump(&mut self) -> String {
        let mut got = Vec::new();
        for _ in 0..50 {
            let mut wire = Vec::new();
            while self.client.wants_write() {
                self.client.write_tls(&mut wire).unwrap();
            }
            if !wire.is_empty() {
                self.server.receive(&wire).unwrap();
            }
            self.serve();
            let out = self.server.take_output();
            if !out.is_empty() {
                let mut rd = &out[..];
                while !rd.is_empty() {
                    self.client.read_tls(&mut rd).unwrap();
                    self.client.process_new_packets().unwrap();
                }
            }
            let mut buf = [0u8; 8192];
            while let Ok(n) = self.client.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if wire.is_empty() && out.is_empty() {
                break;
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    fn send(&mut self, text: &str) -> String {
        self.client.writer().write_all(text.as_bytes()).unwrap();
        self.pump()
    }
}

fn answer(s: &mut SmtpSession, ev: Event, t: &mut Transcript) {
    match &ev {
        Event::Recipient => s.accept_recipient().unwrap(),
        Event::AuthVerify(req) => {
            let outcome = req.verify_with(&mail_sasl::StoredSecret::plain("secret"));
            s.auth_verified(outcome).unwrap();
        }
        Event::MessageBegin => s.message_begin("QID9", DATE).unwrap(),
        Event::MessageChunk(c) => t.messages.last_mut().unwrap().extend_from_slice(c),
        Event::MessageEnd => s.message_stored("QID9").unwrap(),
        _ => {}
    }
    if matches!(ev, Event::MessageBegin) {
        t.messages.push(Vec::new());
    }
    t.events.push(ev);
}

#[test]
fn starttls_injection_through_secured() {
    let (server, client) = setup(Profile::Submission);
    let mut c = Conn {
        server,
        client,
        transcript: Transcript::default(),
        tls_events: Vec::new(),
    };
    let greeting = c.clear(b"");
    assert_eq!(greeting, "220 mx.example.org ESMTP\r\n");
    // One TCP read: EHLO, STARTTLS and an injected command.
    const INJECTED: &str = "MAIL FROM:<ned@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\n";
    let out = c.clear(format!("EHLO c.test\r\nSTARTTLS\r\n{INJECTED}").as_bytes());
    assert!(
        out.ends_with("250 CHUNKING\r\n220 2.0.0 Ready to start TLS\r\n"),
        "{out}"
    );
    assert!(c.server.is_tls());
    let after = c.pump();
    assert_eq!(after, "", "nothing of the injection is answered");
    c.drain();
    assert!(
        matches!(c.tls_events.first(), Some(SecuredEvent::TlsEstablished(_))),
        "{:?}",
        c.tls_events
    );
    assert!(
        c.tls_events.contains(&SecuredEvent::InjectionDiscarded {
            bytes: INJECTED.len()
        }),
        "{:?}",
        c.tls_events
    );
    // The injected MAIL was never executed: RCPT needs a new MAIL.
    let ehlo = c.send("EHLO c.test\r\n");
    assert!(
        ehlo.contains("250-AUTH PLAIN LOGIN CRAM-MD5\r\n") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    let r = c.send(&format!(
        "RCPT TO:<x@elsewhere.test>\r\nAUTH PLAIN {}\r\nSTARTTLS\r\nMAIL FROM:<ned@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\n",
        plain_ir("ned", "secret")
    ));
    assert_eq!(
        r,
        "503 5.5.1 Error: need MAIL command\r\n235 2.7.0 Authentication successful\r\n554 5.5.1 Error: TLS already active\r\n\
         250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    let r = c.send("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");
    assert_eq!(r, "250 2.0.0 Ok: queued as QID9\r\n221 2.0.0 Bye\r\n");
    let m = String::from_utf8(c.transcript.messages[0].clone()).unwrap();
    assert!(m.contains("\t(using TLSv1.3 with cipher TLS_"), "{m}");
    assert!(m.contains("with ESMTPSA id QID9"), "{m}");
    assert!(m.ends_with("Subject: hi\r\n\r\nbody\r\n"));
    assert!(c.server.is_closed());
}

#[test]
fn implicit_tls_submissions() {
    let (server, client) = setup(Profile::Submissions);
    let mut c = Conn {
        server,
        client,
        transcript: Transcript::default(),
        tls_events: Vec::new(),
    };
    let greeting = c.pump();
    assert_eq!(greeting, "220 mx.example.org ESMTP\r\n");
    let ehlo = c.send("EHLO c.test\r\n");
    assert!(
        ehlo.contains("250-AUTH PLAIN LOGIN CRAM-MD5\r\n") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    let r = c.send("MAIL FROM:<ned@example.org>\r\nSTARTTLS\r\n");
    assert_eq!(
        r,
        "530 5.7.0 Authentication required\r\n554 5.5.1 Error: TLS already active\r\n"
    );
}
