//! Arbitrary client bytes into an IMAP session that is logged in with a
//! small mailbox selected, split in two: no panic, and the same output and
//! events for every split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_imap_min::{Config, CopyOutcome, Event, Flags, ImapSession, MailboxView, MessageMeta};
use mail_proto::Session;
use mail_sasl::{BackendCapabilities, Mechanism, MechanismSet, StoredSecret, VerifyOutcome};

const MESSAGES: [&[u8]; 2] = [
    b"From: a@b.example\r\nSubject: one\r\n\r\nbody\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--x--\r\n",
];

fn view() -> MailboxView {
    MailboxView {
        uid_validity: 7,
        uid_next: 10,
        messages: MESSAGES
            .iter()
            .enumerate()
            .map(|(i, m)| MessageMeta {
                uid: 3 * i as u32 + 1,
                flags: if i == 0 { Flags::SEEN } else { Flags::RECENT },
                internal_date: 1_000_000 * i as i64,
                size: m.len() as u64,
            })
            .collect(),
    }
}

fn run(pieces: &[&[u8]]) -> (Vec<u8>, Vec<String>) {
    let backend = BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5]),
    };
    let mut config = Config::new("fuzz.example", backend, [3; 16]);
    config.implicit_tls = true;
    let mut s = ImapSession::new(config);
    let mut log = Vec::new();
    let mut out = s.take_output();
    let prelude: &[u8] = b"l LOGIN ned secret\r\ns SELECT INBOX\r\n";
    for piece in std::iter::once(prelude).chain(pieces.iter().copied()) {
        s.receive(piece);
        while let Some(ev) = s.next_event() {
            log.push(format!("{ev:?}"));
            let _ = match ev {
                Event::AuthVerify(req) => s.auth_verified(req.verify_with(&StoredSecret::plain("secret"))),
                Event::OpenMailbox { name, .. } => s.mailbox_opened((name == "INBOX").then(view)),
                Event::ListMailboxes => s.mailbox_list(vec!["INBOX".into(), "a/b".into()]),
                Event::FetchMessage { uid } => {
                    let m = MESSAGES.get((uid as usize - 1) / 3).map(|m| m.to_vec());
                    s.message_content(m)
                }
                Event::MailboxOp(_) => s.mailbox_op_done(Ok(())),
                Event::AppendMessage { .. } => s.append_done(CopyOutcome::Copied {
                    uid_validity: 7,
                    uids: vec![50],
                }),
                Event::CopyMessages {
                    uids, destination, ..
                } => s.copy_done(if destination == "INBOX" {
                    CopyOutcome::Copied {
                        uid_validity: 7,
                        uids: uids.iter().map(|u| u + 100).collect(),
                    }
                } else {
                    CopyOutcome::NoSuchMailbox
                }),
                _ => Ok(()),
            };
            let _ = VerifyOutcome::Failure;
        }
        out.extend(s.take_output());
    }
    (out, log)
}

fuzz_target!(|data: &[u8]| {
    let split = if data.is_empty() {
        0
    } else {
        data[0] as usize % data.len()
    };
    let whole = run(&[data]);
    let halves = run(&[&data[..split], &data[split..]]);
    assert_eq!(whole, halves);
});
