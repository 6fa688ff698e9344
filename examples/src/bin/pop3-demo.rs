//! `pop3-demo`: a small POP3 server composed from `mail_pop3::Pop3Session`,
//! `mail_tls::Secured` + `mail_tls::blocking::serve`, a passwd-file backend
//! and the Maildir in `mail_examples::maildir`. One thread per connection.
//!
//! ```text
//! pop3-demo --listen 127.0.0.1:1110 --tls starttls|wrapper|none \
//!           --passwd-file FILE --maildir-root DIR [--cert FILE --key FILE] \
//!           [--allow-cleartext-auth] [--apop] [--mechanisms "PLAIN LOGIN CRAM-MD5 DIGEST-MD5"] \
//!           [--hostname NAME] [--realm REALM] [--failure-delay-ms N]
//! ```
//! Mail for `user` is read from `DIR/user/{new,cur}`; messages marked with
//! DELE are removed at QUIT only. A second session for the same user gets
//! `-ERR [IN-USE]`. Prints `pop3-demo listening on ADDR` once bound; logs
//! to stderr.
//!
//! This driver hands each message to the session in one go (the blocking
//! driver writes output only between reads), so a message is held in memory
//! while it is sent; an async driver would push chunks as the socket drains.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mail_examples::maildir::Maildir;
use mail_examples::pop3_maildrop::{self, Maildrop, Pop3Host};
use mail_pop3::{Config, Event, Pop3Session};
use mail_sasl::passwd_file::PasswdFile;
use mail_sasl::{CredentialBackend, Mechanism, MechanismSet, StoredSecret, VerifyOutcome, VerifyRequest};
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
    apop: bool,
    mechanisms: MechanismSet,
    hostname: String,
    realm: String,
    failure_delay: Duration,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("pop3-demo: {msg}");
    eprintln!(
        "usage: pop3-demo --listen ADDR --tls starttls|wrapper|none --passwd-file FILE --maildir-root DIR \
         [--cert FILE --key FILE] [--allow-cleartext-auth] [--apop] [--mechanisms LIST] \
         [--hostname NAME] [--realm REALM] [--failure-delay-ms N]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:1110".to_string();
    let mut tls_mode = TlsMode::StartTls;
    let mut passwd = None;
    let mut cert = None;
    let mut key = None;
    let mut root = None;
    let mut allow_cleartext = false;
    let mut apop = false;
    let mut mechanisms = MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]);
    let mut hostname = "localhost".to_string();
    let mut realm = String::new();
    let mut failure_delay = Duration::from_secs(2);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--allow-cleartext-auth" => {
                allow_cleartext = true;
                continue;
            }
            "--apop" => {
                apop = true;
                continue;
            }
            _ => {}
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
            "--realm" => realm = value,
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
            eprintln!("pop3-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match (tls_mode, cert, key) {
        (TlsMode::None, _, _) => None,
        (_, Some(c), Some(k)) => match ServerTls::from_pem_files(&c, &k, MailProtocol::Pop3) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("pop3-demo: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => return usage("--tls starttls|wrapper needs --cert and --key"),
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pop3-demo: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Arc::new(Settings {
        tls_mode,
        tls,
        backend,
        maildir_root,
        allow_cleartext,
        apop,
        mechanisms,
        hostname,
        realm,
        failure_delay,
    });
    println!(
        "pop3-demo listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(listen)
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let settings = Arc::clone(&settings);
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            if let Err(e) = connection(stream, &settings) {
                eprintln!("pop3-demo: {peer}: {e}");
            }
            eprintln!("pop3-demo: disconnect from {peer}");
        });
    }
    ExitCode::SUCCESS
}

/// The open maildrop of one session.
fn connection(stream: TcpStream, s: &Settings) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    stream.set_write_timeout(Some(Duration::from_secs(600)))?;
    let mut config = Config::new(s.hostname.clone(), s.backend.capabilities(), rand::random());
    config.starttls = s.tls_mode == TlsMode::StartTls;
    config.secure_from_start = s.tls_mode == TlsMode::Wrapper;
    config.mechanisms.enabled = s.mechanisms;
    config.mechanisms.tls_auth_only = !s.allow_cleartext;
    config.apop = s.apop;
    config.realm = s.realm.clone();
    config.failure_policy.delay = s.failure_delay;
    config.implementation = Some("mailcrates pop3-demo".into());
    let session = Pop3Session::new(config);
    let secured = match (s.tls_mode, &s.tls) {
        (TlsMode::Wrapper, Some(tls)) => Secured::implicit(session, tls.clone()),
        (_, tls) => Secured::starttls(session, tls.clone()),
    };
    let mut maildrop = Maildrop::default();
    blocking::serve(stream, secured, |pop, event| match event {
        SecuredEvent::TlsEstablished(info) => eprintln!("pop3-demo: TLS connection established: {info}"),
        SecuredEvent::InjectionDiscarded { bytes } => {
            eprintln!("pop3-demo: discarded {bytes} bytes of cleartext sent after STLS (injection attempt)")
        }
        SecuredEvent::Session(event) => {
            if let Some(event) = pop3_maildrop::handle(pop, event, s, &mut maildrop) {
                log_event(event);
            }
        }
    })
}

impl Pop3Host for Settings {
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        self.backend.verify(request)
    }

    fn apop_secret(&self, user: &str) -> Option<StoredSecret> {
        self.backend.lookup(user)
    }

    fn maildir(&self, user: &str) -> std::io::Result<Maildir> {
        Maildir::for_user(&self.maildir_root, user)
    }

    fn warn(&self, message: &str) {
        eprintln!("pop3-demo: {message}");
    }
}

/// Events the maildrop handler leaves to us: logs and the failure delay.
fn log_event(event: Event) {
    match event {
        Event::AuthSucceeded { method, identity } => {
            eprintln!(
                "pop3-demo: login: method={method}, user={}",
                identity.authorized_user()
            )
        }
        Event::AuthFailed { method, user, reason } => {
            eprintln!("pop3-demo: login failed: method={method}, user={user:?}, reason={reason:?}")
        }
        Event::Delay(d) => std::thread::sleep(d),
        _ => {}
    }
}
