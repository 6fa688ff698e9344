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

use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use mail_examples::demo::{self, DemoSettings, TlsMode};
use mail_examples::pop3_maildrop::{self, Maildrop};
use mail_pop3::{Config, Event, Pop3Session};
use mail_sasl::CredentialBackend;
use mail_tls::{blocking, MailProtocol, Secured, SecuredEvent};

fn main() -> ExitCode {
    match demo::parse_args(
        "pop3-demo",
        MailProtocol::Pop3,
        "127.0.0.1:1110",
        std::env::args().skip(1),
    ) {
        Ok((listen, settings)) => demo::serve_forever("pop3-demo", &listen, settings, connection),
        Err(code) => code,
    }
}

fn connection(stream: TcpStream, s: &DemoSettings) -> std::io::Result<()> {
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
