//! Unit tests of both roles (the interop tests with real Dovecot and
//! Postfix live in `examples/tests/`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_proto::Session;
use proptest::prelude::*;

use super::*;
use crate::{Failure, Mechanism, MechanismSet, StoredSecret, VerifyOutcome};

const HANDSHAKE: &[u8] = b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n\
MECH\tCRAM-MD5\tdictionary\tactive\nSPID\t4711\nCUID\t3\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE\n";

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn server_config(tls_auth_only: bool) -> ServerConfig {
    let mut config = ServerConfig::new(
        MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]),
        "mail.example.test",
        [5; 16],
    );
    config.tls_auth_only = tls_auth_only;
    config.server_pid = 4711;
    config.connection_id = 3;
    config
}

/// A server past its handshake (output drained) with the client's VERSION in.
fn ready_server(tls_auth_only: bool) -> DovecotAuthServer {
    let mut server = DovecotAuthServer::new(server_config(tls_auth_only));
    server.take_output();
    server.receive(b"VERSION\t1\t0\nCPID\t999\n");
    assert_eq!(server.next_event(), None);
    assert_eq!(server.client_pid(), Some(999));
    server
}

/// Drain server events, answering verifications with a plain-password store.
fn drain_server(server: &mut DovecotAuthServer, events: &mut Vec<ServerEvent>) {
    while let Some(event) = server.next_event() {
        if let ServerEvent::AuthVerify(id, request) = &event {
            let outcome = if request.authcid == "ned" {
                request.verify_with(&StoredSecret::plain("secret"))
            } else if request.authcid == "tempuser" {
                VerifyOutcome::Temporary
            } else {
                StoredSecret::dummy_verify(request)
            };
            assert!(server.verified(*id, outcome));
        }
        events.push(event);
    }
}

fn plain_ir(user: &str, pass: &str) -> String {
    b64(format!("\0{user}\0{pass}").as_bytes())
}

// ---------------------------------------------------------------- server

#[test]
fn server_handshake_lists_mechanisms_with_flags() {
    let mut server = DovecotAuthServer::new(server_config(true));
    let out = server.take_output();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nMECH\tCRAM-MD5\tdictionary\tactive\nSPID\t4711\nCUID\t3\nCOOKIE\t"), "{text}");
    assert!(text.ends_with("\nDONE\n"));
    let cookie = text.lines().find_map(|l| l.strip_prefix("COOKIE\t")).unwrap();
    assert_eq!(cookie.len(), 32);
    assert!(cookie.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn server_never_advertises_anonymous() {
    let config = ServerConfig::new(MechanismSet::from_slice(&Mechanism::ALL), "h", [0; 16]);
    let mut server = DovecotAuthServer::new(config);
    let text = String::from_utf8(server.take_output()).unwrap();
    assert!(!text.contains("ANONYMOUS"), "{text}");
    assert!(text.contains("MECH\tDIGEST-MD5\tdictionary\tactive\tmutual-auth\n"));
    let mut server = ready_server(false);
    server.receive(b"AUTH\t1\tANONYMOUS\tservice=smtp\tresp=\n");
    assert!(matches!(
        server.next_event(),
        Some(ServerEvent::AuthFailed {
            id: 1,
            failure: Failure::MechanismRefused,
            ..
        })
    ));
    assert_eq!(
        server.take_output(),
        b"FAIL\t1\treason=Unsupported authentication mechanism.\n"
    );
}

#[test]
fn server_postfix_plain_request_succeeds() {
    let mut server = ready_server(true);
    // What Postfix 3.7's xsasl_dovecot_server sends for a TLS session.
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tsecured\tresp={}\n",
        plain_ir("ned", "secret")
    );
    server.receive(line.as_bytes());
    let Some(ServerEvent::AuthVerify(1, request)) = server.next_event() else {
        panic!("expected a verification")
    };
    assert_eq!(request.authcid, "ned");
    assert_eq!(request.password(), Some("secret"));
    assert!(
        server.take_output().is_empty(),
        "nothing is sent before the verification is answered"
    );
    assert!(server.verified(1, VerifyOutcome::Success { server_proof: None }));
    assert!(
        !server.verified(1, VerifyOutcome::Success { server_proof: None }),
        "answered twice"
    );
    match server.next_event() {
        Some(ServerEvent::AuthSucceeded {
            id: 1,
            mechanism: Mechanism::Plain,
            identity,
            service,
        }) => {
            assert_eq!(identity.authcid, "ned");
            assert_eq!(service, "smtp");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.take_output(), b"OK\t1\tuser=ned\n");
    assert_eq!(server.requests_in_progress(), 0);
}

#[test]
fn server_wrong_password_and_temporary_failure() {
    let mut server = ready_server(false);
    let mut events = Vec::new();
    server.receive(
        format!(
            "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
            plain_ir("ned", "wrong")
        )
        .as_bytes(),
    );
    server.receive(
        format!(
            "AUTH\t2\tPLAIN\tservice=smtp\tresp={}\n",
            plain_ir("tempuser", "x")
        )
        .as_bytes(),
    );
    drain_server(&mut server, &mut events);
    assert_eq!(
        server.take_output(),
        b"FAIL\t1\treason=authentication failure\nFAIL\t2\treason=Temporary authentication failure.\ttemp\n"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ServerEvent::AuthFailed {
            id: 1,
            failure: Failure::BadCredentials,
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        ServerEvent::AuthFailed {
            id: 2,
            failure: Failure::Temporary,
            ..
        }
    )));
}

#[test]
fn server_plaintext_needs_secured_when_tls_only() {
    let mut server = ready_server(true);
    server.receive(
        format!(
            "AUTH\t7\tPLAIN\tservice=smtp\tresp={}\n",
            plain_ir("ned", "secret")
        )
        .as_bytes(),
    );
    assert!(matches!(
        server.next_event(),
        Some(ServerEvent::AuthFailed {
            id: 7,
            failure: Failure::MechanismRefused,
            ..
        })
    ));
    assert_eq!(
        server.take_output(),
        format!("FAIL\t7\treason={PLAINTEXT_DISALLOWED}\n").as_bytes()
    );
    // CRAM-MD5 does not send the password: allowed without `secured`.
    server.receive(b"AUTH\t8\tCRAM-MD5\tservice=smtp\n");
    assert_eq!(server.next_event(), None);
    let out = String::from_utf8(server.take_output()).unwrap();
    let challenge = out.strip_prefix("CONT\t8\t").unwrap().trim_end();
    let challenge = STANDARD.decode(challenge).unwrap();
    assert!(
        challenge.starts_with(b"<") && challenge.ends_with(b">"),
        "{challenge:?}"
    );
}

#[test]
fn server_unknown_mechanism_and_bad_base64_fail_the_request_only() {
    let mut server = ready_server(false);
    server.receive(b"AUTH\t1\tXOAUTH2\tservice=smtp\n");
    server.receive(b"AUTH\t2\tPLAIN\tservice=smtp\tresp=!!!\n");
    server.receive(b"AUTH\t3\tPLAIN\tresp=AA==\n");
    let mut events = Vec::new();
    drain_server(&mut server, &mut events);
    assert_eq!(events.len(), 3);
    assert_eq!(
        String::from_utf8(server.take_output()).unwrap(),
        "FAIL\t1\treason=Unsupported authentication mechanism.\n\
         FAIL\t2\treason=Invalid base64 data in initial response.\n\
         FAIL\t3\treason=Missing service.\n"
    );
    assert!(!server.is_closed());
}

#[test]
fn server_login_flow_with_cont() {
    let mut server = ready_server(false);
    let mut events = Vec::new();
    server.receive(b"AUTH\t5\tLOGIN\tservice=smtp\n");
    drain_server(&mut server, &mut events);
    let out = String::from_utf8(server.take_output()).unwrap();
    let prompt = STANDARD
        .decode(out.strip_prefix("CONT\t5\t").unwrap().trim_end())
        .unwrap();
    assert!(prompt.to_ascii_lowercase().starts_with(b"user"), "{prompt:?}");
    server.receive(format!("CONT\t5\t{}\n", b64(b"ned")).as_bytes());
    drain_server(&mut server, &mut events);
    let out = String::from_utf8(server.take_output()).unwrap();
    let prompt = STANDARD
        .decode(out.strip_prefix("CONT\t5\t").unwrap().trim_end())
        .unwrap();
    assert!(prompt.to_ascii_lowercase().starts_with(b"pass"), "{prompt:?}");
    server.receive(format!("CONT\t5\t{}\n", b64(b"secret")).as_bytes());
    drain_server(&mut server, &mut events);
    assert_eq!(server.take_output(), b"OK\t5\tuser=ned\n");
}

#[test]
fn server_concurrent_ids_answered_out_of_order() {
    let mut server = ready_server(false);
    let both = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\nAUTH\t2\tPLAIN\tservice=imap\tresp={}\n",
        plain_ir("ned", "secret"),
        plain_ir("ned", "wrong")
    );
    server.receive(both.as_bytes());
    let Some(ServerEvent::AuthVerify(1, first)) = server.next_event() else {
        panic!()
    };
    let Some(ServerEvent::AuthVerify(2, second)) = server.next_event() else {
        panic!()
    };
    assert_eq!(server.requests_in_progress(), 2);
    assert!(server.verified(2, second.verify_with(&StoredSecret::plain("secret"))));
    assert!(server.verified(1, first.verify_with(&StoredSecret::plain("secret"))));
    assert_eq!(
        server.take_output(),
        b"FAIL\t2\treason=authentication failure\nOK\t1\tuser=ned\n"
    );
}

#[test]
fn server_protocol_errors_close() {
    for (input, what) in [
        (&b"AUTH\t1\tPLAIN\tservice=smtp\n"[..], "no VERSION first"),
        (b"VERSION\t2\t0\n", "wrong major version"),
        (b"VERSION\t1\t2\nHELLO\n", "unknown command"),
        (b"VERSION\t1\t2\nAUTH\tx\tPLAIN\n", "bad id"),
        (
            b"VERSION\t1\t2\nAUTH\t1\tLOGIN\tservice=smtp\nAUTH\t1\tLOGIN\tservice=smtp\n",
            "duplicate id",
        ),
    ] {
        let mut server = DovecotAuthServer::new(server_config(false));
        server.take_output();
        server.receive(input);
        let mut events = Vec::new();
        drain_server(&mut server, &mut events);
        assert!(
            matches!(events.last(), Some(ServerEvent::ProtocolError(_))),
            "{what}: {events:?}"
        );
        assert!(server.is_closed(), "{what}");
        assert!(!server.wants_input());
    }
}

#[test]
fn server_cont_while_verifying_is_an_error_and_cancel_is_quiet() {
    let mut server = ready_server(false);
    server.receive(
        format!(
            "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\nCANCEL\t1\n",
            plain_ir("ned", "secret")
        )
        .as_bytes(),
    );
    let Some(ServerEvent::AuthVerify(1, _)) = server.next_event() else {
        panic!()
    };
    assert_eq!(server.next_event(), None);
    assert!(server.verified(1, VerifyOutcome::Success { server_proof: None }));
    assert_eq!(server.next_event(), None);
    assert!(
        server.take_output().is_empty(),
        "a cancelled request gets no reply"
    );
    assert_eq!(server.requests_in_progress(), 0);

    server.receive(
        format!(
            "AUTH\t2\tPLAIN\tservice=smtp\tresp={}\nCONT\t2\tAA==\n",
            plain_ir("ned", "secret")
        )
        .as_bytes(),
    );
    assert!(matches!(server.next_event(), Some(ServerEvent::AuthVerify(2, _))));
    assert!(matches!(server.next_event(), Some(ServerEvent::ProtocolError(_))));
    assert!(server.is_closed());
}

#[test]
fn server_line_limit_16k() {
    let mut server = ready_server(false);
    // Exactly at the limit: a (failing) request, connection survives.
    let head = b"AUTH\t1\tXOAUTH2\tservice=smtp\tresp=";
    let mut line = head.to_vec();
    line.resize(MAX_LINE, b'A');
    line.push(b'\n');
    server.receive(&line);
    assert!(matches!(
        server.next_event(),
        Some(ServerEvent::AuthFailed { id: 1, .. })
    ));
    assert!(!server.is_closed());
    // One octet more, fed in small chunks: refused with bounded memory.
    let mut long = head.to_vec();
    long.resize(MAX_LINE + 1, b'A');
    for chunk in long.chunks(1000) {
        server.receive(chunk);
        assert_eq!(server.next_event(), None);
    }
    for _ in 0..100 {
        server.receive(&[b'A'; 1000]);
        if server.next_event().is_some() {
            break;
        }
    }
    assert!(server.is_closed());
    server.receive(&[b'A'; 100_000]);
    assert_eq!(server.next_event(), None);
}

#[test]
fn server_line_limit_error_event() {
    let mut server = ready_server(false);
    let mut long = vec![b'A'; MAX_LINE + 1];
    long.push(b'\n');
    server.receive(&long);
    assert!(
        matches!(server.next_event(), Some(ServerEvent::ProtocolError(reason)) if reason.contains("16384"))
    );
}

/// A client script exercising most paths, with verifications answered immediately.
fn server_script() -> Vec<u8> {
    let mut s = String::from("VERSION\t1\t2\nCPID\t12\n");
    s += &format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tsecured\tresp={}\n",
        plain_ir("ned", "secret")
    );
    s += "AUTH\t2\tLOGIN\tservice=smtp\n";
    s += &format!("CONT\t2\t{}\n", b64(b"ned"));
    s += &format!("CONT\t2\t{}\n", b64(b"bad"));
    s += "AUTH\t3\tXOAUTH2\tservice=smtp\n";
    s += &format!(
        "AUTH\t4\tPLAIN\tservice=smtp\tresp={}\n",
        plain_ir("tempuser", "x")
    );
    s += "AUTH\t5\tCRAM-MD5\tservice=smtp\n";
    s += "CONT\t5\tbm90IGhleA==\n";
    s += "CONT\t99\tAA==\n";
    s.into_bytes()
}

fn run_server_split(input: &[u8], cuts: &[usize]) -> (Vec<ServerEvent>, Vec<u8>) {
    let mut server = DovecotAuthServer::new(server_config(false));
    let mut events = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        server.receive(&input[last..cut]);
        drain_server(&mut server, &mut events);
        last = cut;
    }
    (events, server.take_output())
}

#[test]
fn server_every_single_split_gives_the_same_result() {
    let input = server_script();
    let whole = run_server_split(&input, &[]);
    assert!(whole
        .1
        .ends_with(b"FAIL\t99\treason=Authentication request timed out.\n"));
    assert!(String::from_utf8_lossy(&whole.1).contains("OK\t1\tuser=ned\n"));
    for cut in 0..=input.len() {
        assert_eq!(run_server_split(&input, &[cut]), whole, "split at {cut}");
    }
    let bytewise: Vec<usize> = (0..input.len()).collect();
    assert_eq!(run_server_split(&input, &bytewise), whole);
}

// ---------------------------------------------------------------- client

fn collect_client(client: &mut DovecotAuthClient) -> Vec<ClientEvent> {
    std::iter::from_fn(|| client.next_event()).collect()
}

#[test]
fn client_sends_version_and_cpid_first() {
    let client = DovecotAuthClient::new(1234);
    assert_eq!(client.output(), b"VERSION\t1\t2\nCPID\t1234\n");
}

#[test]
fn client_handshake_in_either_order() {
    // Dovecot 2.3: the handshake is already there before we write anything.
    let mut early = DovecotAuthClient::new(1);
    early.receive(HANDSHAKE);
    assert_eq!(collect_client(&mut early), vec![ClientEvent::Ready]);
    assert_eq!(early.take_output(), b"VERSION\t1\t2\nCPID\t1\n");
    // Dovecot 2.4: the server waits for our VERSION.
    let mut late = DovecotAuthClient::new(1);
    assert!(!late.take_output().is_empty());
    assert_eq!(collect_client(&mut late), vec![]);
    assert!(!late.is_ready());
    late.receive(HANDSHAKE);
    assert_eq!(collect_client(&mut late), vec![ClientEvent::Ready]);
    for c in [&early, &late] {
        assert!(c.is_ready());
        let names: Vec<&str> = c.mechanisms().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(c.mechanisms()[0].is_plaintext());
        assert!(!c.mechanisms()[2].is_plaintext());
        assert_eq!(c.server_info().0, Some((1, 2)));
        assert_eq!(c.server_info().1, Some(4711));
    }
}

fn ready_client() -> DovecotAuthClient {
    let mut client = DovecotAuthClient::new(1);
    client.receive(HANDSHAKE);
    assert_eq!(collect_client(&mut client), vec![ClientEvent::Ready]);
    client.take_output();
    client
}

#[test]
fn client_auth_line_and_ok() {
    let mut client = ready_client();
    let mut params = AuthParams::new("smtp");
    params.remote_ip = Some("192.0.2.1".parse().unwrap());
    let id = client.start_plain(None, "ned", "secret", &params).unwrap();
    assert_eq!(
        String::from_utf8(client.take_output()).unwrap(),
        format!(
            "AUTH\t{id}\tPLAIN\tservice=smtp\tsecured\tnologin\trip=192.0.2.1\tresp={}\n",
            plain_ir("ned", "secret")
        )
    );
    client.receive(format!("OK\t{id}\tuser=ned\n").as_bytes());
    assert_eq!(
        collect_client(&mut client),
        vec![ClientEvent::Success {
            id,
            user: "ned".into()
        }]
    );
}

#[test]
fn client_ok_without_user_is_a_failure() {
    let mut client = ready_client();
    let a = client
        .start_plain(None, "ned", "secret", &AuthParams::new("smtp"))
        .unwrap();
    let b = client
        .start_plain(None, "ned", "secret", &AuthParams::new("smtp"))
        .unwrap();
    client.receive(format!("OK\t{a}\nOK\t{b}\tuser=\tnologin\n").as_bytes());
    let events = collect_client(&mut client);
    assert_eq!(events.len(), 2);
    for event in events {
        assert!(
            matches!(event, ClientEvent::Failure { temporary: false, .. }),
            "{event:?}"
        );
    }
}

#[test]
fn client_fail_temp_reason_and_user() {
    let mut client = ready_client();
    let a = client
        .start_plain(None, "ned", "x", &AuthParams::new("smtp"))
        .unwrap();
    let b = client
        .start_plain(None, "ned", "x", &AuthParams::new("smtp"))
        .unwrap();
    let c = client
        .start_plain(None, "ned", "x", &AuthParams::new("smtp"))
        .unwrap();
    client.receive(
        format!("FAIL\t{a}\tuser=ned\nFAIL\t{b}\treason=Backend\x01tdown\ttemp\nFAIL\t{c}\tcode=temp_fail\n")
            .as_bytes(),
    );
    assert_eq!(
        collect_client(&mut client),
        vec![
            ClientEvent::Failure {
                id: a,
                temporary: false,
                reason: None,
                user: Some("ned".into())
            },
            ClientEvent::Failure {
                id: b,
                temporary: true,
                reason: Some("Backend\tdown".into()),
                user: None
            },
            ClientEvent::Failure {
                id: c,
                temporary: true,
                reason: None,
                user: None
            },
        ]
    );
}

#[test]
fn client_cont_flow() {
    let mut client = ready_client();
    let id = client
        .start_auth("LOGIN", None, &AuthParams::new("smtp"))
        .unwrap();
    assert_eq!(
        client.take_output(),
        format!("AUTH\t{id}\tLOGIN\tservice=smtp\tsecured\tnologin\n").as_bytes()
    );
    client.receive(format!("CONT\t{id}\tVXNlcm5hbWU6\n").as_bytes());
    assert_eq!(
        collect_client(&mut client),
        vec![ClientEvent::Challenge {
            id,
            challenge: b"Username:".to_vec()
        }]
    );
    client.respond(id, b"ned").unwrap();
    assert_eq!(client.take_output(), format!("CONT\t{id}\tbmVk\n").as_bytes());
    assert!(client.respond(id + 1, b"x").is_err());
}

#[test]
fn client_refuses_unoffered_mechanism_and_before_handshake() {
    let mut fresh = DovecotAuthClient::new(1);
    assert!(fresh
        .start_plain(None, "a", "b", &AuthParams::new("smtp"))
        .is_err());
    let mut client = ready_client();
    assert!(client
        .start_auth("DIGEST-MD5", None, &AuthParams::new("smtp"))
        .is_err());
    assert!(client.take_output().is_empty());
}

#[test]
fn client_user_input_cannot_inject_fields_or_lines() {
    let mut client = ready_client();
    let params = AuthParams::new("smtp\tsecured\nAUTH\t9\tPLAIN");
    client.start_auth("PLAIN\tX", None, &params).unwrap_err();
    client.start_auth("PLAIN", None, &params).unwrap();
    let out = client.take_output();
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
    let line = &out[..out.len() - 1];
    assert_eq!(
        line.split(|b| *b == b'\t').count(),
        6,
        "{:?}",
        String::from_utf8_lossy(line)
    );
}

#[test]
fn client_protocol_errors() {
    for (input, what) in [
        (&b"VERSION\t2\t0\n"[..], "major version"),
        (b"OK\t1\tuser=x\n", "reply before handshake"),
        (b"DONE\n", "DONE without VERSION"),
    ] {
        let mut client = DovecotAuthClient::new(1);
        client.receive(input);
        assert!(
            matches!(
                collect_client(&mut client).last(),
                Some(ClientEvent::ProtocolError(_))
            ),
            "{what}"
        );
        assert!(client.is_closed());
    }
    let mut client = ready_client();
    client.receive(b"OK\t77\tuser=root\n");
    assert!(
        matches!(collect_client(&mut client)[..], [ClientEvent::ProtocolError(_)]),
        "unknown id"
    );
    let mut client = ready_client();
    let mut long = vec![b'X'; MAX_LINE + 10];
    long.push(b'\n');
    client.receive(&long);
    assert!(
        matches!(collect_client(&mut client)[..], [ClientEvent::ProtocolError(_)]),
        "long line"
    );
}

#[test]
fn client_refuses_an_unterminated_long_line_at_once() {
    let mut client = ready_client();
    for _ in 0..16 {
        client.receive(&[b'X'; 1024]);
        assert_eq!(client.next_event(), None);
    }
    client.receive(b"XX");
    assert!(matches!(client.next_event(), Some(ClientEvent::ProtocolError(_))));
    assert!(client.is_closed());
}

#[test]
fn client_initial_response_over_the_limit_is_refused() {
    let mut client = ready_client();
    let huge = vec![b'x'; MAX_LINE];
    assert!(client
        .start_auth("PLAIN", Some(&huge), &AuthParams::new("smtp"))
        .is_err());
    assert!(client.take_output().is_empty());
}

fn client_script() -> Vec<u8> {
    let mut s = HANDSHAKE.to_vec();
    s.extend_from_slice(b"CONT\t1\tVXNlcm5hbWU6\nOK\t2\tuser=ned\nFAIL\t3\treason=no\ttemp\nOK\t1\n");
    s
}

fn run_client_split(input: &[u8], cuts: &[usize]) -> (Vec<ClientEvent>, Vec<u8>) {
    let mut client = DovecotAuthClient::new(1);
    let mut events = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        client.receive(&input[last..cut]);
        while let Some(event) = client.next_event() {
            if event == ClientEvent::Ready {
                for _ in 0..3 {
                    client
                        .start_auth("LOGIN", None, &AuthParams::new("smtp"))
                        .unwrap();
                }
            }
            if let ClientEvent::Challenge { id, .. } = event {
                client.respond(id, b"ned").unwrap();
            }
            events.push(event);
        }
        last = cut;
    }
    (events, client.take_output())
}

#[test]
fn client_every_single_split_gives_the_same_result() {
    let input = client_script();
    let whole = run_client_split(&input, &[]);
    assert_eq!(whole.0.len(), 5, "{:?}", whole.0);
    for cut in 0..=input.len() {
        assert_eq!(run_client_split(&input, &[cut]), whole, "split at {cut}");
    }
}

proptest! {
    #[test]
    fn server_any_split_same_result(mut cuts in proptest::collection::vec(0usize..2000, 0..12)) {
        let input = server_script();
        for c in &mut cuts { *c = (*c).min(input.len()); }
        cuts.sort_unstable();
        prop_assert_eq!(run_server_split(&input, &cuts), run_server_split(&input, &[]));
    }

    #[test]
    fn no_panic_on_arbitrary_input(data in proptest::collection::vec(
        prop_oneof![
            Just(b'\t'), Just(b'\n'), Just(0x01u8), Just(b'='), Just(b'1'),
            Just(b'A'), any::<u8>()
        ], 0..600),
        prefix in 0usize..4) {
        let prefixes: [&[u8]; 4] = [b"", b"VERSION\t1\t2\n", b"VERSION\t1\t2\nAUTH\t1\tLOGIN\tservice=smtp\n", HANDSHAKE];
        let mut input = prefixes[prefix].to_vec();
        input.extend_from_slice(&data);
        let mut server = DovecotAuthServer::new(server_config(prefix % 2 == 0));
        server.receive(&input);
        let mut events = Vec::new();
        drain_server(&mut server, &mut events);
        prop_assert!(server.output().len() < 1 << 20);
        let mut client = DovecotAuthClient::new(1);
        client.receive(&input);
        while let Some(event) = client.next_event() {
            if event == ClientEvent::Ready {
                let _ = client.start_plain(None, "ned", "secret", &AuthParams::new("smtp"));
            }
        }
    }

    #[test]
    fn any_user_name_round_trips_through_ok(user in "[^\u{0}]{1,40}") {
        // The server escapes `user=`; the client unescapes it.
        let mut client = ready_client();
        let id = client.start_plain(None, "ned", "secret", &AuthParams::new("smtp")).unwrap();
        let mut line = format!("OK\t{id}\tuser=").into_bytes();
        escape::escape_into(user.as_bytes(), &mut line);
        line.push(b'\n');
        client.receive(&line);
        prop_assert_eq!(collect_client(&mut client), vec![ClientEvent::Success { id, user }]);
    }
}

#[test]
fn server_cram_md5_flow_without_secured() {
    use hmac::{Hmac, Mac};
    let mut server = ready_server(true);
    server.receive(b"AUTH\t3\tCRAM-MD5\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\n");
    assert_eq!(server.next_event(), None);
    let out = String::from_utf8(server.take_output()).unwrap();
    let challenge = STANDARD
        .decode(out.strip_prefix("CONT\t3\t").unwrap().trim_end())
        .unwrap();
    let mut mac = Hmac::<md5::Md5>::new_from_slice(b"secret").unwrap();
    mac.update(&challenge);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    server.receive(format!("CONT\t3\t{}\n", b64(format!("ned {digest}").as_bytes())).as_bytes());
    let mut events = Vec::new();
    drain_server(&mut server, &mut events);
    assert!(matches!(events[0], ServerEvent::AuthVerify(3, _)), "{events:?}");
    assert!(matches!(
        events[1],
        ServerEvent::AuthSucceeded {
            id: 3,
            mechanism: Mechanism::CramMd5,
            ..
        }
    ));
    assert_eq!(server.take_output(), b"OK\t3\tuser=ned\n");
    // A second exchange gets a different challenge (nonce derived per exchange).
    server.receive(b"AUTH\t4\tCRAM-MD5\tservice=smtp\n");
    assert_eq!(server.next_event(), None);
    let out = String::from_utf8(server.take_output()).unwrap();
    let second = STANDARD
        .decode(out.strip_prefix("CONT\t4\t").unwrap().trim_end())
        .unwrap();
    assert_ne!(second, challenge);
}
