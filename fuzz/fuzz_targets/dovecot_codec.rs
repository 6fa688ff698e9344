//! Arbitrary bytes, arbitrarily chunked, into both roles of the Dovecot auth
//! protocol: no panic, bounded output, and the same result for every split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_proto::Session;
use mail_sasl::dovecot::{
    escape, AuthParams, ClientEvent, DovecotAuthClient, DovecotAuthServer, ServerConfig, ServerEvent,
};
use mail_sasl::{Mechanism, MechanismSet, StoredSecret};

fn run_server(data: &[u8], split: usize) -> (Vec<String>, Vec<u8>) {
    let mechs = MechanismSet::from_slice(&[
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::DigestMd5,
    ]);
    let mut server = DovecotAuthServer::new(ServerConfig::new(mechs, "localhost", [1; 16]));
    let mut events = Vec::new();
    for piece in [&data[..split], &data[split..]] {
        server.receive(piece);
        while let Some(event) = server.next_event() {
            if let ServerEvent::AuthVerify(id, request) = &event {
                let outcome = request.verify_with(&StoredSecret::plain("secret"));
                server.verified(*id, outcome);
            }
            events.push(format!("{event:?}"));
        }
    }
    (events, server.take_output())
}

fn run_client(data: &[u8], split: usize) -> (Vec<ClientEvent>, Vec<u8>) {
    let mut client = DovecotAuthClient::new(1);
    let mut events = Vec::new();
    for piece in [&data[..split], &data[split..]] {
        client.receive(piece);
        while let Some(event) = client.next_event() {
            match &event {
                ClientEvent::Ready => {
                    let _ = client.start_plain(None, "ned", "secret", &AuthParams::new("smtp"));
                    let _ = client.start_auth("LOGIN", None, &AuthParams::new("smtp"));
                }
                ClientEvent::Challenge { id, .. } => {
                    let _ = client.respond(*id, b"ned");
                }
                _ => {}
            }
            events.push(event);
        }
    }
    (events, client.take_output())
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map(|b| *b as usize % (data.len() + 1)).unwrap_or(0);
    assert_eq!(escape::unescape(&escape::escape(data)), data);
    let (whole_events, whole_out) = run_server(data, 0);
    assert_eq!(run_server(data, split), (whole_events, whole_out));
    assert_eq!(run_client(data, split), run_client(data, 0));
});
