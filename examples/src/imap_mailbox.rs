//! The IMAP mailbox side of a Maildir-backed server: answers the
//! `mail-imap-min` session's credential and mailbox events. Shared by the
//! `imap-demo` example and `mail-server`, which differ only in where
//! passwords and Maildirs live ([`ImapHost`]) and in how they log.

use std::io;

use mail_imap_min::{CopyOutcome, Event, ImapSession, MailboxOp, OpenPurpose};
use mail_sasl::{VerifyOutcome, VerifyRequest};

use crate::imap_store::{ImapStore, OpenMailbox};
use crate::maildir::MaildirLock;

/// What a server provides to the mailbox handler.
pub trait ImapHost {
    /// Check credentials (may block).
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome;
    /// The mail store of an authenticated user.
    fn store(&self, user: &str) -> io::Result<ImapStore>;
    /// Report a problem (never a password or message content).
    fn warn(&self, message: &str);
}

/// The logged-in user's store and selected mailbox.
#[derive(Default)]
pub struct UserState {
    store: Option<ImapStore>,
    selected: Option<OpenMailbox>,
    /// The INBOX session lock, shared, held while INBOX is selected
    /// read-write (see [`crate::maildir`]: POP3 sessions are refused meanwhile).
    inbox_lock: Option<MaildirLock>,
}

impl UserState {
    /// Whether this session holds the INBOX lock (INBOX selected read-write).
    pub fn holds_inbox_lock(&self) -> bool {
        self.inbox_lock.is_some()
    }

    /// Let go of the selected mailbox and its lock once the session has
    /// left it (CLOSE, UNSELECT, a failed SELECT, or LOGOUT).
    pub fn sync_selection(&mut self, imap: &ImapSession) {
        if imap.selected_mailbox().is_none() {
            self.selected = None;
            self.inbox_lock = None;
        }
    }
}

/// Why a mailbox cannot be selected now.
enum OpenRefusal {
    /// A POP3 session holds the maildrop.
    InUse,
    /// It does not exist (or its name is not allowed).
    Missing,
}

/// Open `name` for `purpose`, taking INBOX's shared session lock for a
/// read-write SELECT of INBOX.
fn open_mailbox(
    store: &ImapStore,
    name: &str,
    purpose: OpenPurpose,
) -> io::Result<Result<(OpenMailbox, Option<MaildirLock>), OpenRefusal>> {
    let lock = if purpose == OpenPurpose::Select && name.eq_ignore_ascii_case("INBOX") {
        match store.inbox()?.lock_shared()? {
            Some(lock) => Some(lock),
            None => return Ok(Err(OpenRefusal::InUse)),
        }
    } else {
        None
    };
    Ok(match store.open(name)? {
        Some(mailbox) => Ok((mailbox, lock)),
        None => Err(OpenRefusal::Missing),
    })
}

/// Answer `event` if it is a credential or mailbox event. Events the caller
/// may want to see (logins, failures, delays, close) are handed back, after
/// any work of ours (a successful login opens the user's store first).
pub fn handle(
    imap: &mut ImapSession,
    event: Event,
    host: &impl ImapHost,
    user: &mut UserState,
) -> Option<Event> {
    let passed_on = handle_event(imap, event, host, user);
    // After the event: CLOSE reports its expunge while already deselected.
    user.sync_selection(imap);
    passed_on
}

fn handle_event(
    imap: &mut ImapSession,
    event: Event,
    host: &impl ImapHost,
    user: &mut UserState,
) -> Option<Event> {
    let result = match event {
        Event::AuthVerify(request) => imap.auth_verified(host.verify(&request)),
        Event::AuthSucceeded { mechanism, identity } => {
            let name = identity.authorized_user().to_string();
            match host.store(&name) {
                Ok(store) => user.store = Some(store),
                Err(e) => host.warn(&format!("mail store of {name}: {e}")),
            }
            return Some(Event::AuthSucceeded { mechanism, identity });
        }
        Event::OpenMailbox { name, purpose } => {
            if purpose != OpenPurpose::Status {
                // SELECT/EXAMINE leave the current mailbox, even when they fail.
                user.selected = None;
                user.inbox_lock = None;
            }
            let opened = match &user.store {
                Some(st) => open_mailbox(st, &name, purpose),
                None => Ok(Err(OpenRefusal::Missing)),
            };
            match opened {
                Ok(Ok((mailbox, lock))) => {
                    let view = mailbox.view.clone();
                    if purpose != OpenPurpose::Status {
                        user.selected = Some(mailbox);
                        user.inbox_lock = lock;
                    }
                    imap.mailbox_opened(Some(view))
                }
                Ok(Err(OpenRefusal::InUse)) => {
                    host.warn(&format!("{name} is in use by a POP3 session; SELECT refused"));
                    imap.mailbox_in_use()
                }
                Ok(Err(OpenRefusal::Missing)) => imap.mailbox_opened(None),
                Err(e) => {
                    host.warn(&format!("opening {name}: {e}"));
                    imap.mailbox_opened(None)
                }
            }
        }
        Event::MailboxClosed { .. } => {
            // CLOSE/UNSELECT: let go of the mailbox and its lock at once.
            user.selected = None;
            user.inbox_lock = None;
            Ok(())
        }
        Event::ListMailboxes => {
            let names = user
                .store
                .as_ref()
                .map(|st| st.list_mailboxes())
                .transpose()
                .unwrap_or_else(|e| {
                    host.warn(&format!("listing mailboxes: {e}"));
                    None
                });
            imap.mailbox_list(names.unwrap_or_default())
        }
        Event::FetchMessage { uid } => {
            let content = user.selected.as_ref().and_then(|m| match m.read(uid) {
                Ok(data) => Some(data),
                Err(e) => {
                    host.warn(&format!("reading UID {uid}: {e}"));
                    None
                }
            });
            imap.message_content(content)
        }
        Event::FlagsChanged { uid, flags, .. } => {
            if let Some(m) = user.selected.as_mut() {
                if let Err(e) = m.set_flags(uid, flags) {
                    host.warn(&format!("storing flags of UID {uid}: {e}"));
                }
            }
            Ok(())
        }
        Event::Expunged { uids, .. } => {
            if let Some(m) = user.selected.as_mut() {
                if let Err(e) = m.expunge(&uids) {
                    host.warn(&format!("expunging: {e}"));
                }
            }
            Ok(())
        }
        Event::MailboxOp(op) => {
            let result = match (&user.store, &op) {
                (None, _) => Err("not logged in".to_string()),
                (Some(st), MailboxOp::Create(name)) => st.create(name).map_err(|e| e.to_string()),
                (Some(st), MailboxOp::Delete(name)) => st.delete(name).map_err(|e| e.to_string()),
                (Some(st), MailboxOp::Rename(from, to)) => st.rename(from, to).map_err(|e| e.to_string()),
            };
            imap.mailbox_op_done(result)
        }
        Event::CopyMessages {
            uids, destination, ..
        } => {
            let outcome = match (&user.selected, &user.store) {
                (Some(m), Some(st)) => match m.copy_to(&uids, st, &destination) {
                    Ok(Some((uid_validity, uids))) => CopyOutcome::Copied { uid_validity, uids },
                    Ok(None) => CopyOutcome::NoSuchMailbox,
                    Err(e) => {
                        host.warn(&format!("copying to {destination}: {e}"));
                        CopyOutcome::Failed("Copy failed.".into())
                    }
                },
                _ => CopyOutcome::Failed("No mailbox selected.".into()),
            };
            imap.copy_done(outcome)
        }
        Event::AppendMessage {
            mailbox,
            flags,
            internal_date,
            message,
        } => {
            let stored = match &user.store {
                Some(st) => st.append(&mailbox, flags, internal_date, &message),
                None => Ok(None),
            };
            let outcome = match stored {
                Ok(Some((uid_validity, meta))) => {
                    if imap.selected_mailbox() == Some(mailbox.as_str()) {
                        // Our own view of the selected mailbox learns the new file too.
                        if let Some(Ok(Some(reopened))) = user.store.as_ref().map(|st| st.open(&mailbox)) {
                            user.selected = Some(reopened);
                        }
                        imap.mailbox_new_messages(vec![meta]);
                    }
                    CopyOutcome::Copied {
                        uid_validity,
                        uids: vec![meta.uid],
                    }
                }
                Ok(None) => CopyOutcome::NoSuchMailbox,
                Err(e) => {
                    host.warn(&format!("appending to {mailbox}: {e}"));
                    CopyOutcome::Failed("Append failed.".into())
                }
            };
            imap.append_done(outcome)
        }
        other => return Some(other),
    };
    if let Err(e) = result {
        host.warn(&e.to_string());
    }
    None
}
