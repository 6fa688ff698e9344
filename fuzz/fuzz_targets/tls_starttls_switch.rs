//! `mail_tls::Secured` around the echo session: arbitrary client bytes in
//! arbitrary chunks, STARTTLS or implicit mode, eager or lazy output.
//! Invariants: no panic; nothing after an accepted STARTTLS is ever executed
//! (a fuzzer cannot complete a real handshake); on an implicit-TLS port the
//! cleartext greeting and replies never reach the wire.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mail_tls::echo::{EchoEvent, EchoSession};
use mail_tls::{MailProtocol, Secured, SecuredEvent, ServerTls};

fn tls() -> ServerTls {
    static TLS: OnceLock<ServerTls> = OnceLock::new();
    TLS.get_or_init(|| {
        let cert = mail_tls::self_signed(&["fuzz.example".into()], 1).expect("generate certificate");
        ServerTls::from_cert_and_key(&cert, MailProtocol::Smtp).expect("server config")
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let implicit = control & 1 == 1;
    let eager = control & 2 == 2;
    let mut secured = if implicit {
        Secured::implicit(EchoSession::implicit("fuzz.example"), tls())
    } else {
        Secured::starttls(EchoSession::new("fuzz.example", true), Some(tls()))
    };
    let mut wire = Vec::new();
    let mut starttls_accepted = false;
    // Chunk lengths come from the data itself: byte 0xff separates chunks.
    for chunk in rest.split(|&b| b == 0xff) {
        if secured.receive(chunk).is_err() {
            wire.extend(secured.take_output());
            assert!(secured.is_closed());
            break;
        }
        while let Some(event) = secured.next_event() {
            match event {
                SecuredEvent::Session(EchoEvent::StartTls) => starttls_accepted = true,
                SecuredEvent::Session(EchoEvent::Command(c)) => {
                    assert!(!starttls_accepted, "command {c:?} executed after STARTTLS");
                    assert!(!implicit, "command {c:?} executed before the TLS handshake");
                }
                SecuredEvent::TlsEstablished(_) | SecuredEvent::InjectionDiscarded { .. } => {
                    panic!("a fuzzer completed a TLS handshake")
                }
            }
        }
        if eager {
            wire.extend(secured.take_output());
        }
    }
    wire.extend(secured.take_output());
    if implicit {
        assert!(
            !wire.windows(16).any(|w| w == b"220 fuzz.example"),
            "greeting sent in clear"
        );
    }
});
