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

/// Valid openings, so that the fuzzer reaches AUTH/CONT/OK/FAIL quickly.
const CLIENT_OPENING: &[u8] = b"VERSION\t1\t2\nCPID\t1\n";
const SERVER_OPENING: &[u8] = b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nDONE\n";

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    assert_eq!(escape::unescape(&escape::escape(rest)), rest);
    let with_opening = |opening: &[u8]| {
        let mut input = if control & 1 == 1 {
            opening.to_vec()
        } else {
            Vec::new()
        };
        input.extend_from_slice(rest);
        input
    };
    let server_input = with_opening(CLIENT_OPENING);
    let split = (control as usize >> 1) * 7 % (server_input.len() + 1);
    assert_eq!(run_server(&server_input, split), run_server(&server_input, 0));
    let client_input = with_opening(SERVER_OPENING);
    let split = (control as usize >> 1) * 7 % (client_input.len() + 1);
    assert_eq!(run_client(&client_input, split), run_client(&client_input, 0));
});
