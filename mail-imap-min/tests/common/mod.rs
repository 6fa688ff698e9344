//! A test harness: an in-memory mail store answering the session's events.
#![allow(dead_code)]

use std::collections::BTreeMap;

use mail_imap_min::{
    Config, CopyOutcome, Event, Flags, ImapSession, MailboxOp, MailboxView, MessageMeta, OpenPurpose,
};
use mail_proto::Session;
use mail_sasl::{BackendCapabilities, Mechanism, MechanismSet, StoredSecret, VerifyOutcome};

pub const MSG1: &[u8] = b"From: Ned Freed <ned@example.com>\r\nTo: joe@example.org\r\nSubject: first message\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.com>\r\n\r\nHello Joe,\r\nhow are you?\r\n";
pub const MSG2: &[u8] = b"From: alice@example.net\r\nTo: ned@example.com\r\nSubject: second\r\nDate: Tue, 1 Mar 2022 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsee attachment\r\n--b1\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"x.pdf\"\r\n\r\nJVBERi0K\r\n--b1--\r\n";
pub const MSG3: &[u8] = b"From: bob@example.net\r\nSubject: third, flagged\r\n\r\nshort\r\n";

pub struct Message {
    pub meta: MessageMeta,
    pub bytes: Vec<u8>,
}

pub struct Harness {
    pub session: ImapSession,
    pub mailboxes: BTreeMap<String, (u32, u32, Vec<Message>)>,
    /// Every event, in order, as text.
    pub log: Vec<String>,
    pub password: String,
    /// Answer AuthVerify with Temporary.
    pub backend_down: bool,
    /// Mailboxes another session holds: OpenMailbox is refused `[INUSE]`.
    pub in_use: Vec<String>,
}

pub fn backend() -> BackendCapabilities {
    BackendCapabilities {
        plaintext: true,
        secret_mechanisms: MechanismSet::from_slice(&[Mechanism::CramMd5]),
    }
}

pub fn config(secure: bool) -> Config {
    let mut c = Config::new("imap.example.test", backend(), [9; 16]);
    c.implicit_tls = secure;
    c
}

fn meta(uid: u32, flags: Flags, bytes: &[u8], day: i64) -> MessageMeta {
    MessageMeta {
        uid,
        flags,
        internal_date: day * 86_400 + 3_600,
        size: bytes.len() as u64,
    }
}

impl Harness {
    pub fn new(config: Config) -> Self {
        let inbox = vec![
            Message {
                meta: meta(1, Flags::SEEN, MSG1, 8_800),
                bytes: MSG1.to_vec(),
            },
            Message {
                meta: meta(4, Flags::RECENT, MSG2, 19_052),
                bytes: MSG2.to_vec(),
            },
            Message {
                meta: meta(7, Flags::FLAGGED, MSG3, 19_500),
                bytes: MSG3.to_vec(),
            },
        ];
        let mut mailboxes = BTreeMap::new();
        mailboxes.insert("INBOX".to_string(), (1234, 8, inbox));
        mailboxes.insert("Sent".to_string(), (99, 1, Vec::new()));
        mailboxes.insert("Sent/2024".to_string(), (98, 1, Vec::new()));
        Harness {
            session: ImapSession::new(config),
            mailboxes,
            log: Vec::new(),
            password: "secret".into(),
            backend_down: false,
            in_use: Vec::new(),
        }
    }

    /// Secure (implicit TLS) session, greeting consumed.
    pub fn secure() -> Self {
        let mut h = Harness::new(config(true));
        h.session.take_output();
        h
    }

    /// Logged in over TLS with INBOX selected; output consumed.
    pub fn selected() -> Self {
        let mut h = Harness::secure();
        h.run("l LOGIN ned secret\r\ns SELECT INBOX\r\n");
        h.log.clear();
        h
    }

    pub fn view(&self, name: &str) -> Option<MailboxView> {
        self.mailboxes
            .get(name)
            .map(|(validity, next, msgs)| MailboxView {
                uid_validity: *validity,
                uid_next: *next,
                messages: msgs.iter().map(|m| m.meta).collect(),
            })
    }

    pub fn answer(&mut self, event: Event) {
        self.log.push(format!("{event:?}"));
        match event {
            Event::AuthVerify(req) => {
                let outcome = if self.backend_down {
                    VerifyOutcome::Temporary
                } else if req.authcid == "ned" {
                    req.verify_with(&StoredSecret::plain(&self.password))
                } else {
                    VerifyOutcome::Failure
                };
                self.session.auth_verified(outcome).unwrap();
            }
            Event::OpenMailbox { name, purpose } => {
                if purpose == OpenPurpose::Select && self.in_use.contains(&name) {
                    self.session.mailbox_in_use().unwrap();
                } else {
                    let v = self.view(&name);
                    self.session.mailbox_opened(v).unwrap();
                }
            }
            Event::ListMailboxes => {
                let names = self.mailboxes.keys().cloned().collect();
                self.session.mailbox_list(names).unwrap();
            }
            Event::FetchMessage { uid } => {
                let mailbox = self.session.selected_mailbox().unwrap().to_string();
                let bytes = self.mailboxes[&mailbox]
                    .2
                    .iter()
                    .find(|m| m.meta.uid == uid)
                    .map(|m| m.bytes.clone());
                self.session.message_content(bytes).unwrap();
            }
            Event::FlagsChanged { mailbox, uid, flags } => {
                let m = self
                    .mailboxes
                    .get_mut(&mailbox)
                    .unwrap()
                    .2
                    .iter_mut()
                    .find(|m| m.meta.uid == uid)
                    .unwrap();
                m.meta.flags = flags;
            }
            Event::Expunged { mailbox, uids } => {
                self.mailboxes
                    .get_mut(&mailbox)
                    .unwrap()
                    .2
                    .retain(|m| !uids.contains(&m.meta.uid));
            }
            Event::CopyMessages {
                mailbox,
                uids,
                destination,
            } => {
                let copies: Vec<Message> = self.mailboxes[&mailbox]
                    .2
                    .iter()
                    .filter(|m| uids.contains(&m.meta.uid))
                    .map(|m| Message {
                        meta: m.meta,
                        bytes: m.bytes.clone(),
                    })
                    .collect();
                let outcome = match self.mailboxes.get_mut(&destination) {
                    None => CopyOutcome::NoSuchMailbox,
                    Some((validity, next, msgs)) => {
                        let mut new = Vec::new();
                        for mut m in copies {
                            m.meta.uid = *next;
                            new.push(*next);
                            *next += 1;
                            msgs.push(m);
                        }
                        CopyOutcome::Copied {
                            uid_validity: *validity,
                            uids: new,
                        }
                    }
                };
                self.session.copy_done(outcome).unwrap();
            }
            Event::AppendMessage {
                mailbox,
                flags,
                internal_date,
                message,
            } => {
                let selected = self.session.selected_mailbox() == Some(mailbox.as_str());
                let outcome = match self.mailboxes.get_mut(&mailbox) {
                    None => CopyOutcome::NoSuchMailbox,
                    Some((validity, next, msgs)) => {
                        let meta = MessageMeta {
                            uid: *next,
                            flags,
                            internal_date: internal_date.unwrap_or(0),
                            size: message.len() as u64,
                        };
                        *next += 1;
                        msgs.push(Message { meta, bytes: message });
                        if selected {
                            self.session.mailbox_new_messages(vec![meta]);
                        }
                        CopyOutcome::Copied {
                            uid_validity: *validity,
                            uids: vec![meta.uid],
                        }
                    }
                };
                self.session.append_done(outcome).unwrap();
            }
            Event::MailboxOp(op) => {
                let result = match op {
                    MailboxOp::Create(name) => match self.mailboxes.entry(name) {
                        std::collections::btree_map::Entry::Occupied(_) => {
                            Err("Mailbox already exists".to_string())
                        }
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert((5, 1, Vec::new()));
                            Ok(())
                        }
                    },
                    MailboxOp::Delete(name) => self
                        .mailboxes
                        .remove(&name)
                        .map(|_| ())
                        .ok_or_else(|| "No such mailbox".to_string()),
                    MailboxOp::Rename(from, to) => match self.mailboxes.remove(&from) {
                        Some(v) => {
                            self.mailboxes.insert(to, v);
                            Ok(())
                        }
                        None => Err("No such mailbox".to_string()),
                    },
                };
                self.session.mailbox_op_done(result).unwrap();
            }
            _ => {}
        }
    }

    /// Feed `input` at once; answer every event; return the output.
    pub fn run(&mut self, input: &str) -> String {
        self.run_bytes(input.as_bytes())
    }

    pub fn run_bytes(&mut self, input: &[u8]) -> String {
        self.session.receive(input);
        self.drain()
    }

    pub fn drain(&mut self) -> String {
        while let Some(ev) = self.session.next_event() {
            self.answer(ev);
        }
        String::from_utf8_lossy(&self.session.take_output()).into_owned()
    }

    /// Feed in pieces of the given sizes (cycled), collecting everything.
    pub fn run_chunked(&mut self, input: &[u8], sizes: &[usize]) -> String {
        let mut out = String::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < input.len() {
            let n = sizes[i % sizes.len()].max(1).min(input.len() - pos);
            self.session.receive(&input[pos..pos + n]);
            out.push_str(&self.drain());
            pos += n;
            i += 1;
        }
        out.push_str(&self.drain());
        out
    }
}
