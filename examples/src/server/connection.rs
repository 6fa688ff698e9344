//! What every connection of `mail-server` does alike, whatever its
//! protocol: pick plaintext/STARTTLS/implicit TLS, log TLS facts and
//! STARTTLS injection attempts, run the tokio driver with an idle timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_proto::Session;
use mail_tls::tokio::{Action, ServeOptions};
use mail_tls::{Secured, SecuredEvent, ServerTls};
use tokio::net::TcpStream;

use super::config::CleartextAuth;
use super::runtime::Shared;

/// Wrap `session` for a listener whose `tls` setting is `mode`: `wrapper`
/// is implicit TLS; `may`, `encrypt` and `starttls` offer STARTTLS when a
/// certificate is configured; `none` never does.
pub fn secure<S: Session>(session: S, tls: Option<ServerTls>, mode: &str) -> Secured<S> {
    match (tls, mode) {
        (Some(tls), "wrapper") => Secured::implicit(session, tls),
        (Some(tls), "may" | "encrypt" | "starttls") => Secured::starttls(session, Some(tls)),
        _ => Secured::starttls(session, None),
    }
}

/// The driver's options for a connection of `shared`'s server: the idle
/// timeout (seconds), input read before the session started (after a PROXY
/// header), and the end of the shutdown grace period.
pub fn options(shared: &Shared, idle_timeout_secs: u64, initial_input: Vec<u8>) -> ServeOptions {
    ServeOptions {
        idle_timeout: Some(Duration::from_secs(idle_timeout_secs)),
        initial_input,
        shutdown: Some(shared.grace_over.subscribe()),
    }
}

/// Serve one connection to its end. `service` prefixes the log lines
/// (`smtpd`, `pop3-login`, `imap-login`); `on_event` answers the session's
/// own events. Returns the driver's result (an idle timeout is `TimedOut`).
pub async fn serve<S: Session>(
    service: &str,
    stream: TcpStream,
    secured: Secured<S>,
    client: IpAddr,
    options: ServeOptions,
    mut on_event: impl FnMut(&mut S, S::Event) -> Action,
) -> std::io::Result<()> {
    mail_tls::tokio::serve_with(stream, secured, options, |session, event| match event {
        SecuredEvent::TlsEstablished(info) => {
            tracing::info!("{service}: TLS connection established from [{client}]: {info}");
            Action::Continue
        }
        SecuredEvent::InjectionDiscarded { bytes } => {
            tracing::info!(
                "{service}: warning: [{client}]: discarded {bytes} bytes of cleartext received after STARTTLS (command injection attempt?)"
            );
            Action::Continue
        }
        SecuredEvent::Session(event) => on_event(session, event),
    })
    .await
}

/// Whether cleartext authentication (POP3 USER/PASS, IMAP LOGIN, PLAIN/LOGIN
/// before TLS) is allowed for a client at `peer` on a listener set to `allow`.
pub fn cleartext_allowed(shared: &Shared, allow: CleartextAuth, peer: SocketAddr) -> bool {
    match allow {
        CleartextAuth::Always => true,
        CleartextAuth::Trusted => shared.is_trusted(peer.ip()),
        CleartextAuth::Never => false,
    }
}
