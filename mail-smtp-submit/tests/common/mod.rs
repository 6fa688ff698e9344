//! Shared test driver: feeds input, answers decisions like a small server.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use mail_proto::{Session, TlsInfo};
use mail_sasl::{BackendCapabilities, Mechanism, MechanismSet, StoredSecret};
use mail_smtp_submit::{ClientInfo, Config, Event, Profile, Reply, SmtpSession};

pub const HOST: &str = "mx.example.org";
pub const DATE: &str = "Sun, 22 Nov 2026 22:43:20 +0000";

pub fn tls_info() -> TlsInfo {
    TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS_AES_256_GCM_SHA384".into(),
        bits: 256,
        ..TlsInfo::default()
    }
}

pub fn caps() -> BackendCapabilities {
    BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5, Mechanism::DigestMd5]),
    }
}

/// A config with TLS available, AUTH on, local domain example.org,
/// mynetworks 127.0.0.0/8 and 192.168.1.0/24.
pub fn config(profile: Profile) -> Config {
    let mut c = Config::new(profile, HOST);
    c.tls_available = true;
    c.auth_backend = Some(caps());
    c.relay.mydestination = vec!["example.org".into()];
    c.relay.mynetworks = vec!["127.0.0.0/8".parse().unwrap(), "192.168.1.0/24".parse().unwrap()];
    c.nonce_seed = [9; 16];
    c.validate().unwrap();
    c
}

pub fn session(config: Config, ip: &str) -> SmtpSession {
    let mut s = SmtpSession::new(Arc::new(config), ClientInfo::new(ip.parse().unwrap()));
    let greeting = s.take_output();
    assert_eq!(greeting, format!("220 {HOST} ESMTP\r\n").as_bytes());
    s
}

/// What a conversation produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub out: String,
    /// Message content per stored message.
    pub messages: Vec<Vec<u8>>,
    /// Non-chunk events, in order.
    pub events: Vec<Event>,
    pub delays: Vec<Duration>,
    current: Vec<u8>,
}

impl Transcript {
    pub fn message_text(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.messages[i]).into_owned()
    }
}

/// Answer every decision like a server whose only user is ned/secret and
/// whose unknown local users are named `unknown…`.
pub fn drain(s: &mut SmtpSession, t: &mut Transcript) {
    while let Some(ev) = s.next_event() {
        match &ev {
            Event::Recipient => {
                let r = s.pending_recipient().expect("pending recipient").clone();
                if r.local && r.address.starts_with("unknown") {
                    s.reject_recipient(Reply::user_unknown(&r.address)).unwrap();
                } else {
                    s.accept_recipient().unwrap();
                }
            }
            Event::AuthVerify(req) => {
                let outcome = if req.authcid == "ned" {
                    req.verify_with(&StoredSecret::plain("secret"))
                } else {
                    StoredSecret::dummy_verify(req)
                };
                s.auth_verified(outcome).unwrap();
            }
            Event::MessageBegin => s.message_begin("QID1", DATE).unwrap(),
            Event::MessageChunk(c) => t.current.extend_from_slice(c),
            Event::MessageEnd => {
                t.messages.push(std::mem::take(&mut t.current));
                s.message_stored("QID1").unwrap();
            }
            Event::MessageAborted => t.current.clear(),
            Event::Delay(d) => t.delays.push(*d),
            _ => {}
        }
        if !matches!(ev, Event::MessageChunk(_)) {
            t.events.push(ev);
        }
    }
    t.out.push_str(&String::from_utf8_lossy(&s.take_output()));
}

/// Feed `input` in one piece and drain.
pub fn talk(s: &mut SmtpSession, input: &str) -> Transcript {
    talk_bytes(s, input.as_bytes())
}

pub fn talk_bytes(s: &mut SmtpSession, input: &[u8]) -> Transcript {
    let mut t = Transcript::default();
    s.receive(input);
    drain(s, &mut t);
    t
}

/// Feed `input` split at `cuts`, draining after each piece.
pub fn talk_split(s: &mut SmtpSession, input: &[u8], cuts: &[usize]) -> Transcript {
    let mut t = Transcript::default();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(last, input.len());
        s.receive(&input[last..cut]);
        drain(s, &mut t);
        last = cut;
    }
    t
}

pub fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn plain_ir(user: &str, pass: &str) -> String {
    b64(format!("\0{user}\0{pass}").as_bytes())
}
