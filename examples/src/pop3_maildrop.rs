//! The POP3 maildrop side of a Maildir-backed server: answers the
//! `mail-pop3` session's credential and maildrop events. Shared by the
//! `pop3-demo` example and `mail-server`, which differ only in where
//! passwords and Maildirs live ([`Pop3Host`]) and in how they log.

use std::io::{self, Read};

use mail_pop3::{Event, MessageInfo, Pop3Error, Pop3Session, WireSize};
use mail_sasl::{StoredSecret, VerifyOutcome, VerifyRequest};

use crate::maildir::{Maildir, MaildirLock, MaildirMessage};

/// What a server provides to the maildrop handler.
pub trait Pop3Host {
    /// Check credentials (may block).
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome;
    /// The stored secret of `user` for APOP (`None`: unknown user or no plaintext-capable secret).
    fn apop_secret(&self, user: &str) -> Option<StoredSecret>;
    /// The Maildir of `user`.
    fn maildir(&self, user: &str) -> io::Result<Maildir>;
    /// Report a problem (never a password or message content).
    fn warn(&self, message: &str);
}

/// The open maildrop of one session (lock held until UPDATE or drop).
#[derive(Default)]
pub struct Maildrop {
    maildir: Option<Maildir>,
    messages: Vec<MaildirMessage>,
    lock: Option<MaildirLock>,
}

/// Answer `event` if it is a credential or maildrop event; any other event
/// (logging, delays, …) is handed back to the caller.
pub fn handle(
    pop: &mut Pop3Session,
    event: Event,
    host: &impl Pop3Host,
    state: &mut Maildrop,
) -> Option<Event> {
    let result = match event {
        Event::AuthVerify(request) => pop.auth_verified(host.verify(&request)),
        Event::ApopVerify(request) => {
            let outcome = match host.apop_secret(&request.user) {
                Some(secret) => request.verify_with(&secret),
                None => request.dummy_verify(),
            };
            pop.auth_verified(outcome)
        }
        Event::OpenMaildrop { user } => open(pop, &user, host, state),
        Event::Retrieve { index, .. } => match send_message(pop, state, index) {
            Ok(()) => pop.message_done(),
            Err(e) => {
                host.warn(&format!("reading message {index}: {e}"));
                pop.message_failed()
            }
        },
        Event::Update { deleted } => {
            let mut failed = false;
            if let Some(md) = &state.maildir {
                for msg in deleted.iter().filter_map(|&i| state.messages.get(i)) {
                    if let Err(e) = md.delete(msg) {
                        host.warn(&format!("deleting {}: {e}", msg.base));
                        failed = true;
                    }
                }
            }
            state.lock = None;
            if failed {
                pop.update_failed()
            } else {
                pop.update_done()
            }
        }
        other => return Some(other),
    };
    if let Err(e) = result {
        host.warn(&e.to_string());
    }
    None
}

fn send_message(pop: &mut Pop3Session, state: &Maildrop, index: usize) -> io::Result<()> {
    let (Some(md), Some(msg)) = (&state.maildir, state.messages.get(index)) else {
        return Err(io::Error::other("no such message"));
    };
    let mut file = md.open(msg)?;
    let mut buf = vec![0u8; 64 * 1024];
    while pop.wants_message_data() {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let _ = pop.send_message_chunk(&buf[..n]);
    }
    Ok(())
}

fn open(
    pop: &mut Pop3Session,
    user: &str,
    host: &impl Pop3Host,
    state: &mut Maildrop,
) -> Result<(), Pop3Error> {
    let md = match host.maildir(user) {
        Ok(md) => md,
        Err(e) => {
            host.warn(&format!("maildir of {user}: {e}"));
            return pop.maildrop_failed();
        }
    };
    let lock = match md.lock() {
        Ok(Some(lock)) => lock,
        Ok(None) => return pop.maildrop_in_use(),
        Err(e) => {
            host.warn(&format!("locking maildir of {user}: {e}"));
            return pop.maildrop_failed();
        }
    };
    match list(&md) {
        Ok((messages, infos)) => {
            let opened = pop.maildrop_opened(infos);
            if opened.is_ok() {
                state.maildir = Some(md);
                state.messages = messages;
                state.lock = Some(lock);
            }
            opened
        }
        Err(e) => {
            host.warn(&format!("listing maildir of {user}: {e}"));
            pop.maildrop_failed()
        }
    }
}

/// The messages and what LIST/UIDL announce for them: the size with CRLF
/// line ends (what RETR sends), the Maildir base name as UID.
fn list(md: &Maildir) -> io::Result<(Vec<MaildirMessage>, Vec<MessageInfo>)> {
    let messages = md.list()?;
    let mut infos = Vec::with_capacity(messages.len());
    let mut buf = vec![0u8; 64 * 1024];
    for m in &messages {
        let mut size = WireSize::new();
        let mut f = md.open(m)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size.update(&buf[..n]);
        }
        infos.push(MessageInfo {
            size: size.finish(),
            uid: m.base.clone(),
        });
    }
    Ok((messages, infos))
}
