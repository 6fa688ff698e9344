//! Property tests: any split of the input gives the same events and output;
//! arbitrary input never panics and memory stays bounded; LIST sizes match
//! what RETR sends.

use mail_pop3::{wire_size, Config, Event, MessageInfo, Pop3Session};
use mail_proto::Session;
use mail_sasl::{BackendCapabilities, Mechanism, MechanismSet, StoredSecret, VerifyOutcome};
use proptest::prelude::*;

fn config() -> Config {
    let backend = BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5]),
    };
    let mut c = Config::new("pop.example.test", backend, [3; 16]);
    c.mechanisms.tls_auth_only = false;
    c.apop = true;
    c.max_bad_commands = 1000;
    c
}

fn store() -> Vec<Vec<u8>> {
    vec![
        b"Subject: a\n\n.x\nbody\n".to_vec(),
        b"Subject: b\r\n\r\nno newline".to_vec(),
        b".\r\n..\r\n".to_vec(),
    ]
}

/// Feed `input` in the given pieces; return (output, events).
fn run(pieces: &[&[u8]], message_chunk: usize) -> (Vec<u8>, Vec<String>) {
    let store = store();
    let mut pop = Pop3Session::new(config());
    let mut out = pop.take_output();
    let mut events = Vec::new();
    for piece in pieces {
        pop.receive(piece);
        while let Some(ev) = pop.next_event() {
            events.push(format!("{ev:?}"));
            match ev {
                Event::AuthVerify(req) => {
                    let outcome = if req.authcid == "ned" {
                        req.verify_with(&StoredSecret::plain("secret"))
                    } else {
                        VerifyOutcome::Failure
                    };
                    pop.auth_verified(outcome).unwrap();
                }
                Event::ApopVerify(req) => {
                    let outcome = req.verify_with(&StoredSecret::plain("secret"));
                    pop.auth_verified(outcome).unwrap();
                }
                Event::OpenMaildrop { .. } => {
                    let list = store
                        .iter()
                        .enumerate()
                        .map(|(i, m)| MessageInfo {
                            size: wire_size(m),
                            uid: format!("u{i}"),
                        })
                        .collect();
                    pop.maildrop_opened(list).unwrap();
                }
                Event::Retrieve { index, .. } => {
                    for c in store[index].chunks(message_chunk) {
                        pop.send_message_chunk(c).unwrap();
                    }
                    pop.message_done().unwrap();
                }
                Event::Update { .. } => pop.update_done().unwrap(),
                _ => {}
            }
        }
        out.extend(pop.take_output());
        assert!(pop.output().is_empty());
    }
    (out, events)
}

const SCRIPT: &[&str] = &[
    "CAPA\r\n",
    "USER ned\r\n",
    "PASS secret\r\n",
    "PASS wrong\r\n",
    "STAT\r\n",
    "LIST\r\n",
    "LIST 2\r\n",
    "UIDL\r\n",
    "UIDL 9\r\n",
    "RETR 1\r\n",
    "RETR 3\r\n",
    "TOP 2 0\r\n",
    "TOP 1 1\r\n",
    "DELE 1\r\n",
    "RSET\r\n",
    "NOOP\r\n",
    "AUTH\r\n",
    "AUTH PLAIN\r\n",
    "AGZvbwBiYXI=\r\n",
    "AUTH PLAIN AG5lZABzZWNyZXQ=\r\n",
    "*\r\n",
    "BOGUS\r\n",
    "list\n",
    "\r\n",
    "APOP ned 0123456789abcdef0123456789abcdef\r\n",
    "QUIT\r\n",
];

fn cut(data: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.iter_mut().for_each(|c| *c = (*c).min(data.len()));
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain(std::iter::once(data.len())) {
        pieces.push(&data[last..c]);
        last = c;
    }
    pieces
}

#[test]
fn scripted_session_whole_vs_byte_by_byte() {
    let input: Vec<u8> = SCRIPT.concat().into_bytes();
    let (whole_out, whole_events) = run(&[&input], 1 << 20);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let (out, events) = run(&bytes, 1);
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&whole_out));
    assert_eq!(events, whole_events);
    let text = String::from_utf8_lossy(&whole_out);
    assert!(text.contains("+OK Logged in.\r\n"), "{text}");
    assert!(text.ends_with("+OK Logging out.\r\n"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_split_same_result(
        lines in proptest::collection::vec(0usize..SCRIPT.len(), 1..40),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
        chunk in 1usize..30,
    ) {
        let input: Vec<u8> = lines.iter().flat_map(|&i| SCRIPT[i].bytes()).collect();
        let (whole_out, whole_events) = run(&[&input], 1 << 20);
        let (out, events) = run(&cut(&input, cuts), chunk);
        prop_assert_eq!(out, whole_out);
        prop_assert_eq!(events, whole_events);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'.'), any::<u8>(), Just(b'U'), Just(b'A')],
            0..1500),
        cuts in proptest::collection::vec(0usize..1500, 0..8),
    ) {
        let (whole_out, whole_events) = run(&[&data], 64);
        let (out, events) = run(&cut(&data, cuts), 64);
        prop_assert_eq!(out, whole_out);
        prop_assert_eq!(events, whole_events);
    }

    #[test]
    fn retr_body_matches_list_size(msg in proptest::collection::vec(
        prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), Just(b'a'), Just(b' ')], 0..300)) {
        let size = wire_size(&msg);
        let sent = mail_pop3::stuff_message(&msg, None);
        let stuffed = sent.split(|&b| b == b'\n').filter(|l| l.first() == Some(&b'.')).count() as u64;
        prop_assert_eq!(sent.len() as u64 - stuffed, size);
    }
}
