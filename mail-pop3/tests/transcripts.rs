//! Transcript tests: each command in each state, exact replies.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use mail_pop3::{apop_digest, wire_size, AuthMethod, Config, Event, MessageInfo, Pop3Error, Pop3Session};
use mail_proto::{Session, TlsInfo, TlsSwitch};
use mail_sasl::{BackendCapabilities, Failure, Mechanism, MechanismSet, StoredSecret, VerifyOutcome};

const DISALLOWED: &str =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn backend() -> BackendCapabilities {
    BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5, Mechanism::DigestMd5]),
    }
}

fn config() -> Config {
    let mut c = Config::new("pop.example.test", backend(), [9; 16]);
    c.starttls = true;
    c.failure_policy.delay = Duration::from_millis(5);
    c
}

fn messages() -> Vec<Vec<u8>> {
    vec![
        b"From: a@example.test\nSubject: one\n\nline 1\n.dotted\nline 3\n".to_vec(),
        b"Subject: two\r\n\r\nbody without final newline".to_vec(),
        b"Subject: three\r\n\r\n.\r\n".to_vec(),
    ]
}

/// A driver answering every decision the way a small server would.
struct Driver {
    pop: Pop3Session,
    store: Vec<Vec<u8>>,
    in_use: bool,
    events: Vec<String>,
    committed: Option<Vec<usize>>,
    chunk: usize,
}

impl Driver {
    fn new(config: Config) -> Self {
        Self {
            pop: Pop3Session::new(config),
            store: messages(),
            in_use: false,
            events: Vec::new(),
            committed: None,
            chunk: 7,
        }
    }

    /// The greeting.
    fn greeting(&mut self) -> String {
        String::from_utf8(self.pop.take_output()).unwrap()
    }

    fn send(&mut self, input: &str) -> String {
        self.send_bytes(input.as_bytes())
    }

    fn send_bytes(&mut self, input: &[u8]) -> String {
        self.pop.receive(input);
        self.drain();
        String::from_utf8_lossy(&self.pop.take_output()).into_owned()
    }

    fn drain(&mut self) {
        while let Some(event) = self.pop.next_event() {
            self.events.push(format!("{event:?}"));
            match event {
                Event::AuthVerify(req) => {
                    let outcome = if req.authcid == "ned" {
                        req.verify_with(&StoredSecret::plain("secret"))
                    } else if req.authcid == "tempfail" {
                        VerifyOutcome::Temporary
                    } else {
                        StoredSecret::dummy_verify(&req)
                    };
                    self.pop.auth_verified(outcome).unwrap();
                }
                Event::ApopVerify(req) => {
                    let outcome = if req.user == "ned" {
                        req.verify_with(&StoredSecret::plain("secret"))
                    } else {
                        req.dummy_verify()
                    };
                    self.pop.auth_verified(outcome).unwrap();
                }
                Event::OpenMaildrop { user } => {
                    assert_eq!(user, "ned");
                    if self.in_use {
                        self.pop.maildrop_in_use().unwrap();
                    } else {
                        let list = self
                            .store
                            .iter()
                            .enumerate()
                            .map(|(i, m)| MessageInfo {
                                size: wire_size(m),
                                uid: format!("uid-{i}"),
                            })
                            .collect();
                        self.pop.maildrop_opened(list).unwrap();
                    }
                }
                Event::Retrieve { index, .. } => {
                    let msg = self.store[index].clone();
                    for c in msg.chunks(self.chunk) {
                        if !self.pop.wants_message_data() {
                            break;
                        }
                        self.pop.send_message_chunk(c).unwrap();
                    }
                    self.pop.message_done().unwrap();
                }
                Event::Update { deleted } => {
                    self.committed = Some(deleted);
                    self.pop.update_done().unwrap();
                }
                _ => {}
            }
        }
    }

    fn login(&mut self) {
        self.greeting();
        assert_eq!(
            self.send("USER ned\r\nPASS secret\r\n"),
            "+OK\r\n+OK Logged in.\r\n"
        );
    }
}

fn tls_info() -> TlsInfo {
    TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher: "TLS_AES_128_GCM_SHA256".into(),
        bits: 128,
        ..TlsInfo::default()
    }
}

fn secure_config() -> Config {
    let mut c = config();
    c.secure_from_start = true;
    c
}

fn cleartext_allowed_config() -> Config {
    let mut c = config();
    c.mechanisms.tls_auth_only = false;
    c
}

#[test]
fn greeting_and_capa_on_cleartext_hide_plaintext_auth() {
    let mut d = Driver::new(config());
    assert_eq!(d.greeting(), "+OK POP3 server ready.\r\n");
    assert_eq!(
        d.send("CAPA\r\n"),
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\nSASL CRAM-MD5\r\n.\r\n"
    );
    assert_eq!(d.send("AUTH\r\n"), "+OK\r\nCRAM-MD5\r\n.\r\n");
}

#[test]
fn cleartext_user_pass_refused_also_when_pipelined() {
    let mut d = Driver::new(config());
    d.greeting();
    assert_eq!(
        d.send("USER ned\r\nPASS secret\r\n"),
        format!("{DISALLOWED}{DISALLOWED}")
    );
    assert_eq!(d.send("PASS secret\r\n"), DISALLOWED);
    assert_eq!(
        d.send(&format!("AUTH PLAIN {}\r\n", b64(b"\0ned\0secret"))),
        DISALLOWED
    );
    assert_eq!(d.send("AUTH LOGIN\r\n"), DISALLOWED);
    assert!(
        d.events.is_empty(),
        "no credentials were ever checked: {:?}",
        d.events
    );
    assert!(!d.pop.is_authenticated());
}

#[test]
fn user_pass_allowed_when_configured_and_capa_shows_user() {
    let mut d = Driver::new(cleartext_allowed_config());
    d.greeting();
    let capa = d.send("CAPA\r\n");
    assert!(
        capa.contains("\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"),
        "{capa}"
    );
    assert_eq!(d.send("USER ned\r\nPASS secret\r\n"), "+OK\r\n+OK Logged in.\r\n");
    assert_eq!(d.pop.user(), Some("ned"));
    assert!(d.events[1].starts_with("AuthSucceeded { method: UserPass"));
}

#[test]
fn pop3s_is_secure_from_the_start() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    let capa = d.send("CAPA\r\n");
    assert!(!capa.contains("STLS"), "{capa}");
    assert!(capa.contains("USER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"), "{capa}");
    assert_eq!(d.send("STLS\r\n"), "-ERR TLS is already active.\r\n");
    assert_eq!(d.send("USER ned\r\nPASS secret\r\n"), "+OK\r\n+OK Logged in.\r\n");
}

#[test]
fn stls_discards_pipelined_commands_and_resets_state() {
    let mut d = Driver::new(config());
    d.greeting();
    // USER is refused anyway on cleartext, but APOP-free state is what matters:
    // the injected CAPA must never be answered.
    assert_eq!(d.send("STLS\r\nCAPA\r\n"), "+OK Begin TLS negotiation now.\r\n");
    assert_eq!(d.pop.tls_switch(), TlsSwitch::AfterOutput);
    assert_eq!(
        d.send("USER ned\r\nPASS secret\r\n"),
        "",
        "nothing parsed while awaiting TLS"
    );
    assert!(d.events.is_empty());
    let discarded = d.pop.tls_established(&tls_info());
    assert_eq!(discarded, "CAPA\r\n".len() + "USER ned\r\nPASS secret\r\n".len());
    assert_eq!(d.pop.tls_switch(), TlsSwitch::None);
    assert!(d.pop.is_secure());
    assert_eq!(d.pop.tls_info().unwrap().protocol, "TLSv1.3");
    let capa = d.send("CAPA\r\n");
    assert!(!capa.contains("STLS"), "{capa}");
    assert!(capa.contains("USER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"), "{capa}");
    assert_eq!(d.send("STLS\r\n"), "-ERR TLS is already active.\r\n");
    assert_eq!(d.send("USER ned\r\nPASS secret\r\n"), "+OK\r\n+OK Logged in.\r\n");
}

#[test]
fn stls_forgets_user_given_in_cleartext() {
    let mut d = Driver::new(cleartext_allowed_config());
    d.greeting();
    assert_eq!(d.send("USER ned\r\n"), "+OK\r\n");
    assert_eq!(d.send("STLS\r\n"), "+OK Begin TLS negotiation now.\r\n");
    assert_eq!(d.pop.tls_established(&tls_info()), 0);
    assert_eq!(d.send("PASS secret\r\n"), "-ERR No username given.\r\n");
}

#[test]
fn stls_unavailable_and_in_transaction() {
    let mut c = cleartext_allowed_config();
    c.starttls = false;
    let mut d = Driver::new(c);
    d.greeting();
    assert!(!d.send("CAPA\r\n").contains("STLS"));
    assert_eq!(d.send("STLS\r\n"), "-ERR TLS support isn't enabled.\r\n");
    assert_eq!(d.send("USER ned\r\nPASS secret\r\n"), "+OK\r\n+OK Logged in.\r\n");
    assert_eq!(
        d.send("STLS\r\n"),
        "-ERR STLS is only allowed in AUTHORIZATION state.\r\n"
    );
    assert_eq!(d.pop.tls_switch(), TlsSwitch::None);
}

#[test]
fn transaction_commands() {
    let mut d = Driver::new(secure_config());
    d.login();
    let sizes: Vec<u64> = messages().iter().map(|m| wire_size(m)).collect();
    let total: u64 = sizes.iter().sum();
    assert_eq!(sizes, vec![63, 44, 21]);
    assert_eq!(d.send("STAT\r\n"), format!("+OK 3 {total}\r\n"));
    assert_eq!(
        d.send("LIST\r\n"),
        format!("+OK 3 messages ({total} octets)\r\n1 63\r\n2 44\r\n3 21\r\n.\r\n")
    );
    assert_eq!(d.send("LIST 2\r\n"), "+OK 2 44\r\n");
    assert_eq!(d.send("LIST 4\r\n"), "-ERR There's no message 4.\r\n");
    assert_eq!(d.send("LIST 0\r\n"), "-ERR There's no message 0.\r\n");
    assert_eq!(
        d.send("UIDL\r\n"),
        "+OK\r\n1 uid-0\r\n2 uid-1\r\n3 uid-2\r\n.\r\n"
    );
    assert_eq!(d.send("uidl 3\r\n"), "+OK 3 uid-2\r\n");
    assert_eq!(
        d.send("RETR 1\r\n"),
        "+OK 63 octets\r\nFrom: a@example.test\r\nSubject: one\r\n\r\nline 1\r\n..dotted\r\nline 3\r\n.\r\n"
    );
    assert_eq!(
        d.send("RETR 2\r\n"),
        "+OK 44 octets\r\nSubject: two\r\n\r\nbody without final newline\r\n.\r\n"
    );
    assert_eq!(
        d.send("RETR 3\r\n"),
        "+OK 21 octets\r\nSubject: three\r\n\r\n..\r\n.\r\n"
    );
    assert_eq!(
        d.send("TOP 1 0\r\n"),
        "+OK\r\nFrom: a@example.test\r\nSubject: one\r\n\r\n.\r\n"
    );
    assert_eq!(
        d.send("TOP 1 2\r\n"),
        "+OK\r\nFrom: a@example.test\r\nSubject: one\r\n\r\nline 1\r\n..dotted\r\n.\r\n"
    );
    assert_eq!(d.send("DELE 2\r\n"), "+OK Marked to be deleted.\r\n");
    assert_eq!(d.send("DELE 2\r\n"), "-ERR Message is deleted.\r\n");
    assert_eq!(d.send("RETR 2\r\n"), "-ERR Message is deleted.\r\n");
    assert_eq!(d.send("LIST 2\r\n"), "-ERR Message is deleted.\r\n");
    assert_eq!(d.send("STAT\r\n"), format!("+OK 2 {}\r\n", 63 + 21));
    assert_eq!(
        d.send("LIST\r\n"),
        "+OK 2 messages (84 octets)\r\n1 63\r\n3 21\r\n.\r\n"
    );
    assert_eq!(d.send("UIDL\r\n"), "+OK\r\n1 uid-0\r\n3 uid-2\r\n.\r\n");
    assert_eq!(d.send("RSET\r\n"), "+OK\r\n");
    assert_eq!(d.send("STAT\r\n"), format!("+OK 3 {total}\r\n"));
    assert_eq!(d.send("NOOP\r\n"), "+OK\r\n");
    assert_eq!(
        d.send("DELE 1\r\nDELE 3\r\n"),
        "+OK Marked to be deleted.\r\n+OK Marked to be deleted.\r\n"
    );
    assert_eq!(d.send("USER ned\r\n"), "-ERR Already logged in.\r\n");
    assert_eq!(d.send("AUTH PLAIN\r\n"), "-ERR Already logged in.\r\n");
    assert!(d.committed.is_none());
    assert_eq!(d.send("QUIT\r\n"), "+OK Logging out.\r\n");
    assert_eq!(d.committed, Some(vec![0, 2]));
    assert!(d.pop.is_closed());
    assert_eq!(d.send("NOOP\r\n"), "", "nothing after QUIT");
}

#[test]
fn dropped_connection_deletes_nothing() {
    let mut d = Driver::new(secure_config());
    d.login();
    assert_eq!(d.send("DELE 1\r\n"), "+OK Marked to be deleted.\r\n");
    drop(d.pop.take_output());
    // The connection drops here: no QUIT, so no Update event was ever emitted.
    assert!(d.committed.is_none());
    assert!(!d.events.iter().any(|e| e.starts_with("Update")));
}

#[test]
fn quit_without_deletions_still_commits_nothing_but_unlocks() {
    let mut d = Driver::new(secure_config());
    d.login();
    assert_eq!(d.send("QUIT\r\n"), "+OK Logging out.\r\n");
    assert_eq!(d.committed, Some(vec![]));
}

#[test]
fn quit_in_authorization_state() {
    let mut d = Driver::new(config());
    d.greeting();
    assert_eq!(d.send("QUIT\r\n"), "+OK Logging out.\r\n");
    assert!(d.pop.is_closed());
    assert!(d.committed.is_none());
}

#[test]
fn transaction_commands_before_login_are_refused() {
    let mut d = Driver::new(config());
    d.greeting();
    for cmd in ["STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 1", "RSET"] {
        assert_eq!(
            d.send(&format!("{cmd}\r\n")),
            "-ERR Unknown command in AUTHORIZATION state; log in first.\r\n"
        );
    }
    assert_eq!(d.send("NOOP\r\n"), "+OK\r\n");
}

#[test]
fn maildrop_in_use() {
    let mut d = Driver::new(secure_config());
    d.in_use = true;
    d.greeting();
    assert_eq!(
        d.send("USER ned\r\nPASS secret\r\n"),
        "+OK\r\n-ERR [IN-USE] Maildrop is locked by another session; try again later.\r\n"
    );
    assert!(!d.pop.is_authenticated());
    assert_eq!(
        d.send("STAT\r\n"),
        "-ERR Unknown command in AUTHORIZATION state; log in first.\r\n"
    );
    d.in_use = false;
    assert_eq!(d.send("USER ned\r\nPASS secret\r\n"), "+OK\r\n+OK Logged in.\r\n");
}

#[test]
fn wrong_password_delays_then_closes_after_three() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    for i in 0..3 {
        let out = d.send("USER ned\r\nPASS wrong\r\n");
        assert_eq!(
            out, "+OK\r\n-ERR [AUTH] Authentication failed.\r\n",
            "attempt {i}"
        );
        assert_eq!(d.pop.is_closed(), i == 2);
    }
    let delays = d.events.iter().filter(|e| e.starts_with("Delay(")).count();
    assert_eq!(delays, 3);
    assert!(d
        .events
        .iter()
        .any(|e| e.starts_with("AuthFailed { method: UserPass, user: Some(\"ned\")")));
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_reply() {
    let mut a = Driver::new(secure_config());
    a.greeting();
    let mut b = Driver::new(secure_config());
    b.greeting();
    assert_eq!(
        a.send("USER ned\r\nPASS wrong\r\n"),
        b.send("USER nobody\r\nPASS wrong\r\n")
    );
}

#[test]
fn temporary_backend_failure() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(
        d.send("USER tempfail\r\nPASS x\r\n"),
        "+OK\r\n-ERR [SYS/TEMP] Temporary authentication failure.\r\n"
    );
    assert!(!d.events.iter().any(|e| e.starts_with("Delay")));
}

#[test]
fn pass_without_user_and_bad_user_names() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(d.send("PASS secret\r\n"), "-ERR No username given.\r\n");
    assert_eq!(d.send("USER a\x01b\r\n"), "-ERR Invalid user name.\r\n");
    assert_eq!(d.send("USER\r\n"), "-ERR USER needs a user name.\r\n");
}

#[test]
fn auth_plain_with_and_without_initial_response() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(
        d.send(&format!("AUTH PLAIN {}\r\n", b64(b"\0ned\0secret"))),
        "+OK Logged in.\r\n"
    );
    assert!(d
        .events
        .iter()
        .any(|e| e.starts_with("AuthSucceeded { method: Sasl(Plain)")));

    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(d.send("AUTH PLAIN\r\n"), "+ \r\n");
    assert_eq!(
        d.send(&format!("{}\r\n", b64(b"\0ned\0secret"))),
        "+OK Logged in.\r\n"
    );
}

#[test]
fn auth_login_lower_case_mechanism() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(d.send("auth login\r\n"), format!("+ {}\r\n", b64(b"Username:")));
    assert_eq!(
        d.send(&format!("{}\r\n", b64(b"ned"))),
        format!("+ {}\r\n", b64(b"Password:"))
    );
    assert_eq!(d.send(&format!("{}\r\n", b64(b"secret"))), "+OK Logged in.\r\n");
}

#[test]
fn auth_cram_md5_over_cleartext() {
    let mut d = Driver::new(config());
    d.greeting();
    let out = d.send("AUTH CRAM-MD5\r\n");
    let challenge = base64::engine::general_purpose::STANDARD
        .decode(out.strip_prefix("+ ").unwrap().trim_end())
        .unwrap();
    assert!(challenge.ends_with(b"@pop.example.test>"), "{challenge:?}");
    let mut mac = Hmac::<md5::Md5>::new_from_slice(b"secret").unwrap();
    mac.update(&challenge);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        d.send(&format!("{}\r\n", b64(format!("ned {hex}").as_bytes()))),
        "+OK Logged in.\r\n"
    );
    // A second session gets a different challenge only if the seed differs;
    // two exchanges in one session differ by the counter.
    let mut e = Driver::new(config());
    e.greeting();
    let first = e.send("AUTH CRAM-MD5\r\n");
    assert_eq!(e.send("*\r\n"), "-ERR Authentication aborted by client.\r\n");
    let second = e.send("AUTH CRAM-MD5\r\n");
    assert_ne!(first, second);
}

#[test]
fn auth_errors() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(
        d.send("AUTH XOAUTH9\r\n"),
        "-ERR Unsupported authentication mechanism.\r\n"
    );
    assert_eq!(
        d.send("AUTH ANONYMOUS\r\n"),
        "-ERR Unsupported authentication mechanism.\r\n"
    );
    assert_eq!(
        d.send("AUTH DIGEST-MD5\r\n"),
        "-ERR Unsupported authentication mechanism.\r\n",
        "not enabled by default"
    );
    assert_eq!(
        d.send("AUTH PLAIN !!!\r\n"),
        "-ERR Invalid base64 data in SASL response.\r\n"
    );
    assert_eq!(d.send("AUTH PLAIN\r\n"), "+ \r\n");
    assert_eq!(d.send("*\r\n"), "-ERR Authentication aborted by client.\r\n");
    assert_eq!(d.send("AUTH PLAIN\r\n"), "+ \r\n");
    assert_eq!(
        d.send("%%%\r\n"),
        "-ERR Invalid base64 data in SASL response.\r\n"
    );
    assert_eq!(d.send("AUTH PLAIN\r\n"), "+ \r\n");
    let long = "A".repeat(20_000);
    assert_eq!(d.send(&format!("{long}\r\n")), "-ERR SASL response too long.\r\n");
    // Malformed PLAIN (two fields) counts as a failed attempt.
    assert_eq!(
        d.send(&format!("AUTH PLAIN {}\r\n", b64(b"ned\0secret"))),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    // The session is usable afterwards.
    assert_eq!(
        d.send(&format!("AUTH PLAIN {}\r\n", b64(b"\0ned\0secret"))),
        "+OK Logged in.\r\n"
    );
}

#[test]
fn auth_plain_authzid_is_refused() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    assert_eq!(
        d.send(&format!("AUTH PLAIN {}\r\n", b64(b"root\0ned\0secret"))),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert!(d.events.iter().any(|e| e.contains("AuthorizationDenied")));
}

#[test]
fn apop_when_configured() {
    let mut c = config();
    c.apop = true;
    let mut d = Driver::new(c);
    let greeting = d.greeting();
    let ts = d.pop.apop_timestamp().unwrap().to_owned();
    assert!(ts.starts_with('<') && ts.ends_with("@pop.example.test>"));
    assert_eq!(greeting, format!("+OK POP3 server ready. {ts}\r\n"));
    let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        d.send(&format!("APOP ned {}\r\n", hex(apop_digest(&ts, "wrong")))),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        d.send("APOP ned 1234\r\n"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        d.send(&format!(
            "APOP ned {}\r\n",
            hex(apop_digest(&ts, "secret")).to_uppercase()
        )),
        "+OK Logged in.\r\n"
    );
    assert!(d
        .events
        .iter()
        .any(|e| e.starts_with("AuthSucceeded { method: Apop")));
    assert_eq!(AuthMethod::Apop.to_string(), "APOP");
}

#[test]
fn apop_not_configured() {
    let mut d = Driver::new(secure_config());
    assert!(!d.greeting().contains('<'));
    assert!(d.pop.apop_timestamp().is_none());
    assert_eq!(
        d.send("APOP ned 0123456789abcdef0123456789abcdef\r\n"),
        "-ERR APOP is not enabled.\r\n"
    );
}

#[test]
fn line_limit_is_255_and_configurable() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    // 253 octets + CRLF = 255: accepted (unknown command, but parsed).
    let ok = format!("NOOP{}", " ".repeat(249));
    assert_eq!(ok.len(), 253);
    assert_eq!(d.send(&format!("{ok}\r\n")), "+OK\r\n");
    let long = format!("NOOP{}", " ".repeat(250));
    assert_eq!(d.send(&format!("{long}\r\n")), "-ERR line too long\r\n");
    assert_eq!(d.send("NOOP\r\n"), "+OK\r\n", "connection survives");

    let mut c = secure_config();
    c.max_command_line = 10;
    let mut d = Driver::new(c);
    d.greeting();
    assert_eq!(d.send("USER ned\r\n"), "+OK\r\n");
    assert_eq!(d.send("USER nedxx\r\n"), "-ERR line too long\r\n");
}

#[test]
fn flood_without_newline_stays_bounded() {
    let mut d = Driver::new(secure_config());
    d.greeting();
    let junk = vec![b'x'; 4096];
    for _ in 0..256 {
        d.send_bytes(&junk);
        assert!(d.pop.wants_input());
    }
    assert_eq!(d.send("\r\nNOOP\r\n"), "-ERR line too long\r\n+OK\r\n");
}

#[test]
fn too_many_bad_commands_close() {
    let mut d = Driver::new(config());
    d.greeting();
    let mut out = String::new();
    for _ in 0..10 {
        out.push_str(&d.send("BOGUS\r\n"));
    }
    assert_eq!(out.matches("-ERR Unknown command.\r\n").count(), 9);
    assert!(out.ends_with("-ERR Too many bad commands.\r\n"));
    assert!(d.pop.is_closed());
}

#[test]
fn syntax_errors() {
    let mut d = Driver::new(secure_config());
    d.login();
    assert_eq!(d.send("RETR\r\n"), "-ERR Message number missing.\r\n");
    assert_eq!(d.send("RETR x\r\n"), "-ERR Invalid message number.\r\n");
    assert_eq!(
        d.send("TOP 1\r\n"),
        "-ERR TOP needs a message number and a line count.\r\n"
    );
    assert_eq!(d.send("STAT 1\r\n"), "-ERR Too many arguments.\r\n");
    assert_eq!(
        d.send("RETR 4294967296\r\n"),
        "-ERR There's no message 4294967295.\r\n"
    );
}

#[test]
fn api_misuse_is_an_error_not_a_panic() {
    let mut pop = Pop3Session::new(secure_config());
    assert!(matches!(
        pop.auth_verified(VerifyOutcome::Failure),
        Err(Pop3Error::NotPending {
            call: "auth_verified",
            ..
        })
    ));
    assert!(pop.maildrop_opened(vec![]).is_err());
    assert!(pop.maildrop_in_use().is_err());
    assert!(pop.send_message_chunk(b"x").is_err());
    assert!(pop.message_done().is_err());
    assert!(pop.message_failed().is_err());
    assert!(pop.update_done().is_err());
    assert!(!pop.is_closed(), "misuse leaves the session as it was");
    pop.receive(b"CAPA\r\n");
    assert!(pop.next_event().is_none());
    assert!(String::from_utf8(pop.take_output()).unwrap().ends_with(".\r\n"));
}

#[test]
fn invalid_or_duplicate_uids_refuse_the_login() {
    for (uids, expect) in [
        (vec!["a b"], "InvalidUid"),
        (vec![""], "InvalidUid"),
        (vec!["x", "x"], "DuplicateUid"),
    ] {
        let mut pop = Pop3Session::new(secure_config());
        pop.take_output();
        pop.receive(b"USER ned\r\nPASS secret\r\n");
        let mut err = None;
        while let Some(ev) = pop.next_event() {
            match ev {
                Event::AuthVerify(_) => pop
                    .auth_verified(VerifyOutcome::Success { server_proof: None })
                    .unwrap(),
                Event::OpenMaildrop { .. } => {
                    let list = uids
                        .iter()
                        .map(|u| MessageInfo {
                            size: 1,
                            uid: u.to_string(),
                        })
                        .collect();
                    err = pop.maildrop_opened(list).err();
                }
                _ => {}
            }
        }
        assert!(
            format!("{:?}", err.as_ref().unwrap()).starts_with(expect),
            "{err:?}"
        );
        assert_eq!(
            String::from_utf8(pop.take_output()).unwrap(),
            "+OK\r\n-ERR [SYS/TEMP] Unable to open the maildrop; try again later.\r\n"
        );
        assert!(!pop.is_authenticated());
    }
}

#[test]
fn message_read_failure() {
    let mut pop = Pop3Session::new(secure_config());
    pop.take_output();
    pop.receive(b"USER ned\r\nPASS secret\r\nRETR 1\r\nRETR 1\r\nNOOP\r\n");
    let mut retrievals = 0;
    while let Some(ev) = pop.next_event() {
        match ev {
            Event::AuthVerify(_) => pop
                .auth_verified(VerifyOutcome::Success { server_proof: None })
                .unwrap(),
            Event::OpenMaildrop { .. } => pop
                .maildrop_opened(vec![MessageInfo {
                    size: 3,
                    uid: "u".into(),
                }])
                .unwrap(),
            Event::Retrieve { .. } => {
                retrievals += 1;
                if retrievals == 1 {
                    pop.message_failed().unwrap();
                } else {
                    pop.send_message_chunk(b"a").unwrap();
                    pop.message_failed().unwrap();
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        String::from_utf8(pop.take_output()).unwrap(),
        "+OK\r\n+OK Logged in.\r\n-ERR [SYS/TEMP] Unable to read the message; try again later.\r\n+OK 3 octets\r\na"
    );
    assert!(pop.is_closed(), "a half-sent message cannot be repaired: close");
}

#[test]
fn update_failure_is_reported() {
    let mut pop = Pop3Session::new(secure_config());
    pop.take_output();
    pop.receive(b"USER ned\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n");
    while let Some(ev) = pop.next_event() {
        match ev {
            Event::AuthVerify(_) => pop
                .auth_verified(VerifyOutcome::Success { server_proof: None })
                .unwrap(),
            Event::OpenMaildrop { .. } => pop
                .maildrop_opened(vec![MessageInfo {
                    size: 3,
                    uid: "u".into(),
                }])
                .unwrap(),
            Event::Update { deleted } => {
                assert_eq!(deleted, vec![0]);
                pop.update_failed().unwrap();
            }
            _ => {}
        }
    }
    assert!(String::from_utf8(pop.take_output())
        .unwrap()
        .ends_with("-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n"));
    assert!(pop.is_closed());
}

#[test]
fn implementation_capability_and_failure_reason_types() {
    let mut c = secure_config();
    c.implementation = Some("mailcrates\r\nEVIL".into());
    let mut d = Driver::new(c);
    d.greeting();
    assert!(d
        .send("CAPA\r\n")
        .contains("\r\nIMPLEMENTATION mailcratesEVIL\r\n"));
    let _ = Failure::BadCredentials;
}

#[test]
fn capa_in_transaction_state() {
    let mut d = Driver::new(secure_config());
    d.login();
    let capa = d.send("CAPA\r\n");
    assert_eq!(
        capa,
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n.\r\n"
    );
}

#[test]
fn pending_output_limit_pauses_pipelined_commands() {
    let mut c = secure_config();
    c.max_pending_output = 50;
    let mut d = Driver::new(c);
    d.login();
    d.pop.receive(b"RETR 1\r\nRETR 3\r\n");
    let mut retrieved = Vec::new();
    while let Some(ev) = d.pop.next_event() {
        if let Event::Retrieve { index, .. } = ev {
            retrieved.push(index);
            let msg = d.store[index].clone();
            d.pop.send_message_chunk(&msg).unwrap();
            d.pop.message_done().unwrap();
        }
    }
    assert_eq!(retrieved, vec![0], "RETR 3 waits while 80 octets are unwritten");
    assert!(!d.pop.wants_input(), "no reading while output is over the limit");
    let first = d.pop.take_output();
    assert!(first.ends_with(b"line 3\r\n.\r\n"));
    assert!(d.pop.wants_input());
    assert_eq!(d.send(""), "+OK 21 octets\r\nSubject: three\r\n\r\n..\r\n.\r\n");
}

/// The server ends the connection on its own: Dovecot's texts, and no
/// UPDATE state (nothing marked deleted is removed).
#[test]
fn farewell_on_shutdown_and_idle_timeout() {
    use mail_proto::Farewell;
    let mut d = Driver::new(secure_config());
    d.login();
    assert_eq!(d.send("DELE 1\r\n"), "+OK Marked to be deleted.\r\n");
    d.pop.farewell(Farewell::Shutdown);
    assert_eq!(
        String::from_utf8(d.pop.take_output()).unwrap(),
        "-ERR [SYS/TEMP] Server shutting down.\r\n"
    );
    assert!(d.pop.is_closed());
    assert_eq!(d.send("QUIT\r\n"), "", "closed: nothing more is read");
    assert!(d.committed.is_none());
    assert!(!d.events.iter().any(|e| e.starts_with("Update")));

    let mut d = Driver::new(secure_config());
    d.greeting();
    d.pop.farewell(Farewell::IdleTimeout);
    assert_eq!(
        String::from_utf8(d.pop.take_output()).unwrap(),
        "-ERR Disconnected for inactivity.\r\n"
    );
    assert!(d.pop.is_closed());
}
