//! `imap-demo`: a small IMAP server composed from `mail_imap_min::ImapSession`,
//! `mail_tls::Secured` + `mail_tls::blocking::serve`, a passwd-file backend
//! and Maildir storage (`mail_examples::imap_store`). One thread per connection.
//!
//! ```text
//! imap-demo --listen 127.0.0.1:1143 --tls starttls|wrapper|none \
//!           --passwd-file FILE --maildir-root DIR [--cert FILE --key FILE] \
//!           [--allow-cleartext-auth] [--mechanisms "PLAIN LOGIN CRAM-MD5 DIGEST-MD5"] \
//!           [--hostname NAME] [--failure-delay-ms N]
//! ```
//! Mail for `user` lives in `DIR/user/{new,cur}` (INBOX) and Maildir++
//! folders `DIR/user/.Name`. Flags are kept in file names (`:2,FRST`), UIDs
//! in `.mailcrates-uidlist`. Prints `imap-demo listening on ADDR` once bound;
//! logs to stderr.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mail_examples::imap_store::{ImapStore, OpenMailbox};
use mail_imap_min::{Config, CopyOutcome, Event, ImapSession, MailboxOp, OpenPurpose};
use mail_sasl::passwd_file::PasswdFile;
use mail_sasl::{CredentialBackend, Mechanism, MechanismSet};
use mail_tls::{blocking, MailProtocol, Secured, SecuredEvent, ServerTls};

#[derive(Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    StartTls,
    Wrapper,
    None,
}

struct Settings {
    tls_mode: TlsMode,
    tls: Option<ServerTls>,
    backend: Arc<PasswdFile>,
    maildir_root: PathBuf,
    allow_cleartext: bool,
    mechanisms: MechanismSet,
    hostname: String,
    failure_delay: Duration,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("imap-demo: {msg}");
    eprintln!(
        "usage: imap-demo --listen ADDR --tls starttls|wrapper|none --passwd-file FILE --maildir-root DIR \
         [--cert FILE --key FILE] [--allow-cleartext-auth] [--mechanisms LIST] [--hostname NAME] \
         [--failure-delay-ms N]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:1143".to_string();
    let mut tls_mode = TlsMode::StartTls;
    let mut passwd = None;
    let mut cert = None;
    let mut key = None;
    let mut root = None;
    let mut allow_cleartext = false;
    let mut mechanisms = MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]);
    let mut hostname = "localhost".to_string();
    let mut failure_delay = Duration::from_secs(2);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--allow-cleartext-auth" {
            allow_cleartext = true;
            continue;
        }
        let Some(value) = args.next() else {
            return usage(&format!("{arg} needs a value"));
        };
        match arg.as_str() {
            "--listen" => listen = value,
            "--tls" => {
                tls_mode = match value.as_str() {
                    "starttls" => TlsMode::StartTls,
                    "wrapper" => TlsMode::Wrapper,
                    "none" => TlsMode::None,
                    _ => return usage("--tls is starttls, wrapper or none"),
                }
            }
            "--passwd-file" => passwd = Some(value),
            "--cert" => cert = Some(value),
            "--key" => key = Some(value),
            "--maildir-root" => root = Some(PathBuf::from(value)),
            "--hostname" => hostname = value,
            "--failure-delay-ms" => match value.parse() {
                Ok(ms) => failure_delay = Duration::from_millis(ms),
                Err(_) => return usage("--failure-delay-ms needs a number"),
            },
            "--mechanisms" => {
                let mut set = MechanismSet::empty();
                for name in value.split([' ', ',']).filter(|s| !s.is_empty()) {
                    match Mechanism::from_name(name.as_bytes()) {
                        Some(m) => set = set.with(m),
                        None => return usage(&format!("unknown mechanism {name}")),
                    }
                }
                mechanisms = set;
            }
            _ => return usage(&format!("unknown option {arg}")),
        }
    }
    let Some(passwd) = passwd else {
        return usage("--passwd-file is required");
    };
    let Some(maildir_root) = root else {
        return usage("--maildir-root is required");
    };
    let backend = match PasswdFile::load(&passwd) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            eprintln!("imap-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match (tls_mode, cert, key) {
        (TlsMode::None, _, _) => None,
        (_, Some(c), Some(k)) => match ServerTls::from_pem_files(&c, &k, MailProtocol::Imap) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("imap-demo: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => return usage("--tls starttls|wrapper needs --cert and --key"),
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("imap-demo: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Arc::new(Settings {
        tls_mode,
        tls,
        backend,
        maildir_root,
        allow_cleartext,
        mechanisms,
        hostname,
        failure_delay,
    });
    println!(
        "imap-demo listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(listen)
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let settings = Arc::clone(&settings);
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            eprintln!("imap-demo: connect from {peer}");
            if let Err(e) = connection(stream, &settings) {
                eprintln!("imap-demo: {peer}: {e}");
            }
            eprintln!("imap-demo: disconnect from {peer}");
        });
    }
    ExitCode::SUCCESS
}

/// What one connection has open.
#[derive(Default)]
struct UserState {
    store: Option<ImapStore>,
    selected: Option<OpenMailbox>,
}

fn connection(stream: TcpStream, s: &Settings) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(1800)))?;
    stream.set_write_timeout(Some(Duration::from_secs(600)))?;
    let mut config = Config::new(s.hostname.clone(), s.backend.capabilities(), rand::random());
    config.starttls = s.tls_mode == TlsMode::StartTls;
    config.implicit_tls = s.tls_mode == TlsMode::Wrapper;
    config.mechanisms.enabled = s.mechanisms;
    config.mechanisms.tls_auth_only = !s.allow_cleartext;
    config.failure_policy.delay = s.failure_delay;
    let session = ImapSession::new(config);
    let secured = match (s.tls_mode, &s.tls) {
        (TlsMode::Wrapper, Some(tls)) => Secured::implicit(session, tls.clone()),
        (_, tls) => Secured::starttls(session, tls.clone()),
    };
    let mut user = UserState::default();
    blocking::serve(stream, secured, |imap, event| match event {
        SecuredEvent::TlsEstablished(info) => eprintln!("imap-demo: TLS connection established: {info}"),
        SecuredEvent::InjectionDiscarded { bytes } => {
            eprintln!(
                "imap-demo: discarded {bytes} bytes of cleartext sent after STARTTLS (injection attempt)"
            )
        }
        SecuredEvent::Session(event) => handle(imap, event, s, &mut user),
    })
}

fn handle(imap: &mut ImapSession, event: Event, s: &Settings, user: &mut UserState) {
    let result = match event {
        Event::AuthVerify(request) => imap.auth_verified(s.backend.verify(&request)),
        Event::AuthSucceeded { mechanism, identity } => {
            let name = identity.authorized_user().to_string();
            eprintln!("imap-demo: login: method={mechanism}, user={name}");
            match ImapStore::for_user(&s.maildir_root, &name) {
                Ok(store) => user.store = Some(store),
                Err(e) => eprintln!("imap-demo: maildir of {name}: {e}"),
            }
            Ok(())
        }
        Event::AuthFailed { mechanism, failure } => {
            eprintln!("imap-demo: login failed: method={mechanism}, reason={failure:?}");
            Ok(())
        }
        Event::Delay(d) => {
            std::thread::sleep(d);
            Ok(())
        }
        Event::OpenMailbox { name, purpose } => {
            let opened = user
                .store
                .as_ref()
                .map(|st| st.open(&name))
                .transpose()
                .map(Option::flatten);
            match opened {
                Ok(Some(mailbox)) => {
                    let view = mailbox.view.clone();
                    if purpose != OpenPurpose::Status {
                        user.selected = Some(mailbox);
                    }
                    imap.mailbox_opened(Some(view))
                }
                Ok(None) => imap.mailbox_opened(None),
                Err(e) => {
                    eprintln!("imap-demo: opening {name}: {e}");
                    imap.mailbox_opened(None)
                }
            }
        }
        Event::ListMailboxes => {
            let names = user
                .store
                .as_ref()
                .map(|st| st.list_mailboxes())
                .transpose()
                .unwrap_or_else(|e| {
                    eprintln!("imap-demo: listing mailboxes: {e}");
                    None
                });
            imap.mailbox_list(names.unwrap_or_default())
        }
        Event::FetchMessage { uid } => {
            let content = user.selected.as_ref().and_then(|m| match m.read(uid) {
                Ok(data) => Some(data),
                Err(e) => {
                    eprintln!("imap-demo: reading UID {uid}: {e}");
                    None
                }
            });
            imap.message_content(content)
        }
        Event::FlagsChanged { uid, flags, .. } => {
            if let Some(m) = user.selected.as_mut() {
                if let Err(e) = m.set_flags(uid, flags) {
                    eprintln!("imap-demo: storing flags of UID {uid}: {e}");
                }
            }
            Ok(())
        }
        Event::Expunged { uids, .. } => {
            if let Some(m) = user.selected.as_mut() {
                if let Err(e) = m.expunge(&uids) {
                    eprintln!("imap-demo: expunging: {e}");
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
                        eprintln!("imap-demo: copying to {destination}: {e}");
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
                    eprintln!("imap-demo: appending to {mailbox}: {e}");
                    CopyOutcome::Failed("Append failed.".into())
                }
            };
            imap.append_done(outcome)
        }
        Event::Close => Ok(()),
        _ => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("imap-demo: {e}");
    }
}
