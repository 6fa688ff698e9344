//! `mail_pop3::Pop3Session`: arbitrary client bytes in arbitrary chunks,
//! with a driver that answers every decision (logins succeed for
//! `ned`/`secret`, maildrop of three messages, RETR/TOP streamed in small
//! pieces, STLS completed at once).
//! Invariants: no panic; memory bounded (input buffer and output within the
//! configured limits); nothing parsed while awaiting TLS; multi-line replies
//! never contain a bare terminator inside a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_pop3::{wire_size, Config, Event, MessageInfo, Pop3Session};
use mail_proto::{Session, TlsInfo, TlsSwitch};
use mail_sasl::{BackendCapabilities, Mechanism, MechanismSet, StoredSecret, VerifyOutcome};

const STORE: [&[u8]; 3] = [
    b"Subject: a\n\n.x\nbody\n",
    b"Subject: b\r\n\r\nno newline\r",
    b".\r\n..\r\n\n\n.",
];

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let backend = BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5, Mechanism::DigestMd5]),
    };
    let mut config = Config::new("fuzz.example", backend, [control; 16]);
    config.secure_from_start = control & 1 == 1;
    config.starttls = control & 2 == 2;
    config.apop = control & 4 == 4;
    config.mechanisms.tls_auth_only = control & 8 == 0;
    config.mechanisms.enabled = MechanismSet::from_slice(&Mechanism::ALL);
    config.max_command_line = 16 + usize::from(control >> 4) * 16;
    let chunk = usize::from(control % 7) + 1;
    let mut pop = Pop3Session::new(config);
    let mut out = pop.take_output();
    for piece in rest.chunks(chunk) {
        let awaiting_tls = pop.tls_switch() == TlsSwitch::AfterOutput;
        pop.receive(piece);
        if awaiting_tls {
            assert!(pop.next_event().is_none(), "nothing parsed while awaiting TLS");
            assert!(pop.output().is_empty());
            pop.tls_established(&TlsInfo::default());
        }
        while let Some(event) = pop.next_event() {
            let _ = match event {
                Event::AuthVerify(req) => {
                    let outcome = if req.authcid == "ned" {
                        req.verify_with(&StoredSecret::plain("secret"))
                    } else {
                        VerifyOutcome::Failure
                    };
                    pop.auth_verified(outcome)
                }
                Event::ApopVerify(req) => pop.auth_verified(req.verify_with(&StoredSecret::plain("secret"))),
                Event::OpenMaildrop { .. } => {
                    if control & 16 == 16 {
                        pop.maildrop_in_use()
                    } else {
                        let list = STORE
                            .iter()
                            .enumerate()
                            .map(|(i, m)| MessageInfo {
                                size: wire_size(m),
                                uid: format!("u{i}"),
                            })
                            .collect();
                        pop.maildrop_opened(list)
                    }
                }
                Event::Retrieve { index, .. } => {
                    for c in STORE[index].chunks(3) {
                        let _ = pop.send_message_chunk(c);
                    }
                    pop.message_done()
                }
                Event::Update { .. } => pop.update_done(),
                _ => Ok(()),
            };
        }
        assert!(pop.output().len() < 64 * 1024, "output bounded");
        out.extend(pop.take_output());
        let _ = pop.wants_input();
    }
    // Every line the server wrote ends with CRLF.
    for (i, &b) in out.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && out[i - 1] == b'\r', "bare LF in output");
        }
    }
});
