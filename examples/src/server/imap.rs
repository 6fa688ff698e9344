//! One IMAP connection of `mail-server`: the `mail-imap-min` session over
//! the users' Maildirs (`mail/<user>/Maildir`, shared with POP3). IMAP
//! sessions share a user's INBOX among themselves while it is selected
//! read-write, and a `SELECT INBOX` is refused while a POP3 session holds
//! the maildrop; see [`crate::maildir`] for the locking between POP3 and IMAP.

use std::sync::Arc;

use mail_imap_min::{Config, Event, ImapSession};
use mail_sasl::{VerifyOutcome, VerifyRequest};
use mail_tls::tokio::Action;

use super::log_safe;
use super::runtime::{Accepted, Shared};
use crate::imap_mailbox::{self, ImapHost, UserState};
use crate::imap_store::ImapStore;

struct Host<'a> {
    shared: &'a Shared,
}

impl ImapHost for Host<'_> {
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        tokio::task::block_in_place(|| self.shared.backend.verify(request))
    }

    fn store(&self, user: &str) -> std::io::Result<ImapStore> {
        ImapStore::for_maildir(self.shared.spool.maildir(user)?)
    }

    fn warn(&self, message: &str) {
        tracing::info!("imap: warning: {message}");
    }
}

/// Serve one IMAP connection.
pub async fn handle(shared: Arc<Shared>, index: usize, accepted: Accepted) {
    let Accepted {
        stream,
        peer,
        local,
        initial_input,
        slot,
    } = accepted;
    let _slot = slot;
    let listener = &shared.config.imap[index];
    let mut config = Config::new(
        shared.hostname.clone(),
        shared.backend.capabilities(),
        Shared::nonce_seed(),
    );
    let tls = shared.tls.as_ref().map(|t| t.imap.clone());
    config.starttls = tls.is_some() && listener.tls == "starttls";
    config.implicit_tls = listener.tls == "wrapper";
    config.mechanisms = shared.mechanisms;
    config.mechanisms.tls_auth_only =
        !super::connection::cleartext_allowed(&shared, listener.allow_cleartext_auth, peer);
    config.failure_policy = shared.failures;
    config.realm = shared.realm.clone();
    let session = ImapSession::new(config);
    let secured = super::connection::secure(session, tls, &listener.tls);
    let host = Host { shared: &shared };
    let mut user = UserState::default();
    let (rip, lip) = (peer.ip(), local.ip());
    let result = super::connection::serve(
        "imap-login",
        stream,
        secured,
        rip,
        super::connection::options(&shared, shared.config.limits.imap_idle_timeout, initial_input),
        |imap, event| match imap_mailbox::handle(imap, event, &host, &mut user) {
            None => Action::Continue,
            Some(event) => on_event(imap, event, rip, lip),
        },
    )
    .await;
    if let Err(e) = result {
        tracing::info!("imap: Disconnected: rip={rip} ({e})");
    }
}

fn on_event(imap: &ImapSession, event: Event, rip: std::net::IpAddr, lip: std::net::IpAddr) -> Action {
    let tls = if imap.is_secure() { ", TLS" } else { "" };
    match event {
        Event::AuthSucceeded { mechanism, identity } => {
            let mechanism = mechanism.name();
            tracing::info!(
                "imap-login: Login: user=<{}>, method={mechanism}, rip={rip}, lip={lip}{tls}",
                log_safe(identity.authorized_user())
            );
        }
        Event::AuthFailed { mechanism, .. } => {
            let mechanism = mechanism.name();
            tracing::info!(
                "imap-login: Aborted login (auth failed): method={mechanism}, rip={rip}, lip={lip}{tls}"
            );
        }
        Event::Delay(d) => return Action::Delay(d),
        _ => {}
    }
    Action::Continue
}
