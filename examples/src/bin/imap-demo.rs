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

use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use mail_examples::demo::{self, DemoSettings, TlsMode};
use mail_examples::imap_mailbox::{self, UserState};
use mail_imap_min::{Config, Event, ImapSession};
use mail_sasl::CredentialBackend;
use mail_tls::{blocking, MailProtocol, Secured, SecuredEvent};

fn main() -> ExitCode {
    match demo::parse_args(
        "imap-demo",
        MailProtocol::Imap,
        "127.0.0.1:1143",
        std::env::args().skip(1),
    ) {
        Ok((listen, settings)) => demo::serve_forever("imap-demo", &listen, settings, connection),
        Err(code) => code,
    }
}

fn connection(stream: TcpStream, s: &DemoSettings) -> std::io::Result<()> {
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
