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

use mail_examples::imap_mailbox::{self, ImapHost, UserState};
use mail_examples::imap_store::ImapStore;
use mail_imap_min::{Config, Event, ImapSession};
use mail_sasl::passwd_file::PasswdFile;
use mail_sasl::{CredentialBackend, Mechanism, MechanismSet, VerifyOutcome, VerifyRequest};
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
        SecuredEvent::Session(event) => {
            if let Some(event) = imap_mailbox::handle(imap, event, s, &mut user) {
                log_event(event);
            }
        }
    })
}

impl ImapHost for Settings {
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        self.backend.verify(request)
    }

    fn store(&self, user: &str) -> std::io::Result<ImapStore> {
        ImapStore::for_user(&self.maildir_root, user)
    }

    fn warn(&self, message: &str) {
        eprintln!("imap-demo: {message}");
    }
}

/// Events the mailbox handler leaves to us: logs and the failure delay.
fn log_event(event: Event) {
    match event {
        Event::AuthSucceeded { mechanism, identity } => {
            eprintln!(
                "imap-demo: login: method={mechanism}, user={}",
                identity.authorized_user()
            )
        }
        Event::AuthFailed { mechanism, failure } => {
            eprintln!("imap-demo: login failed: method={mechanism}, reason={failure:?}")
        }
        Event::Delay(d) => std::thread::sleep(d),
        _ => {}
    }
}
