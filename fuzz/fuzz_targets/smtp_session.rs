//! `mail_smtp_submit::SmtpSession`: arbitrary client bytes in arbitrary
//! chunks, with a driver that answers every decision (AUTH ned/secret,
//! recipients accepted unless `unknown…`, messages stored, STARTTLS
//! completed at once). Invariants: no panic; nothing parsed while awaiting
//! TLS; buffered input and output stay bounded; a stored message never
//! holds a bare LF; the same input in one piece gives the same output.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mail_proto::{Session, TlsInfo, TlsSwitch};
use mail_sasl::{BackendCapabilities, Mechanism, MechanismSet, StoredSecret};
use mail_smtp_submit::{BareLf, ClientInfo, Config, Event, Profile, Reply, SmtpSession};

fn run(control: u8, data: &[u8], chunk: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let profile = match control % 3 {
        0 => Profile::Mta,
        1 => Profile::Submission,
        _ => Profile::Submissions,
    };
    let mut config = Config::new(profile, "mx.fuzz.example");
    config.tls_available = true;
    config.auth_backend = Some(BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5, Mechanism::DigestMd5]),
    });
    config.mechanisms.enabled = MechanismSet::from_slice(&Mechanism::ALL);
    config.relay.mydestination = vec!["example.org".into()];
    config.max_message_size = 4096;
    config.max_recipients = 8;
    config.bare_lf = if control & 8 == 8 {
        BareLf::Reject
    } else {
        BareLf::Normalize
    };
    config.vrfy_enabled = control & 16 == 16;
    config.broken_sasl_auth_clients = control & 32 == 32;
    config.nonce_seed = [control; 16];
    let mut s = SmtpSession::new(Arc::new(config), ClientInfo::new("203.0.113.9".parse().unwrap()));
    let info = TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS_AES_128_GCM_SHA256".into(),
        bits: 128,
        ..TlsInfo::default()
    };
    if profile == Profile::Submissions {
        s.tls_established(&info);
    }
    let mut out = s.take_output();
    let mut messages = Vec::new();
    let mut current = Vec::new();
    for piece in data.chunks(chunk) {
        if s.is_closed() {
            break;
        }
        let awaiting = s.tls_switch() == TlsSwitch::AfterOutput;
        s.receive(piece);
        if awaiting {
            assert_eq!(s.next_event(), None, "input parsed while awaiting TLS");
            assert!(s.output().is_empty());
        }
        while let Some(ev) = s.next_event() {
            match ev {
                Event::AuthVerify(req) => {
                    let o = if req.authcid == "ned" {
                        req.verify_with(&StoredSecret::plain("secret"))
                    } else {
                        StoredSecret::dummy_verify(&req)
                    };
                    s.auth_verified(o).unwrap();
                }
                Event::Recipient => {
                    let r = s.pending_recipient().unwrap().address.clone();
                    if r.starts_with("unknown") {
                        s.reject_recipient(Reply::user_unknown(&r)).unwrap();
                    } else {
                        s.accept_recipient().unwrap();
                    }
                }
                Event::MessageBegin => s
                    .message_begin("FUZZ1", "Mon, 1 Jan 2024 00:00:00 +0000")
                    .unwrap(),
                Event::MessageChunk(c) => current.extend_from_slice(&c),
                Event::MessageEnd => {
                    messages.push(std::mem::take(&mut current));
                    s.message_stored("FUZZ1").unwrap();
                }
                Event::MessageAborted => current.clear(),
                _ => {}
            }
        }
        assert!(s.output().len() < 1 << 20, "output grew unbounded");
        out.extend_from_slice(&s.take_output());
        if s.tls_switch() == TlsSwitch::AfterOutput {
            s.tls_established(&info);
        }
    }
    (out, messages)
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    let chunk = usize::from(control >> 6) * 7 + 1;
    let (out, messages) = run(control, data, chunk);
    for m in &messages {
        for (i, &b) in m.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && m[i - 1] == b'\r', "bare LF stored");
            }
        }
    }
    // STARTTLS discards depend on how input was split, so compare only without it.
    if !data.windows(8).any(|w| w.eq_ignore_ascii_case(b"STARTTLS")) {
        assert_eq!((out, messages), run(control, data, data.len().max(1)));
    }
});
