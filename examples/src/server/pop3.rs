//! One POP3 connection of `mail-server`: the `mail-pop3` session over the
//! users' Maildirs (shared with IMAP). A session holds its user's maildrop
//! exclusively from login to QUIT (`-ERR [IN-USE]` while another POP3
//! session or an IMAP session with INBOX selected has it); see
//! [`crate::maildir`] for the locking between POP3 and IMAP.

use std::sync::Arc;

use mail_pop3::{AuthMethod, Config, Event, Pop3Session};
use mail_sasl::{StoredSecret, VerifyOutcome, VerifyRequest};
use mail_tls::tokio::Action;

use super::log_safe;
use super::runtime::{Accepted, Shared};
use crate::maildir::Maildir;
use crate::pop3_maildrop::{self, Maildrop, Pop3Host};

struct Host<'a> {
    shared: &'a Shared,
}

impl Pop3Host for Host<'_> {
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        tokio::task::block_in_place(|| self.shared.backend.verify(request))
    }

    fn apop_secret(&self, user: &str) -> Option<StoredSecret> {
        self.shared.passwd.as_ref().and_then(|p| p.current().lookup(user))
    }

    fn maildir(&self, user: &str) -> std::io::Result<Maildir> {
        self.shared.spool.maildir(user)
    }

    fn warn(&self, message: &str) {
        tracing::info!("pop3: warning: {message}");
    }
}

/// Serve one POP3 connection.
pub async fn handle(shared: Arc<Shared>, index: usize, accepted: Accepted) {
    let Accepted {
        stream,
        peer,
        local,
        initial_input,
        slot,
    } = accepted;
    let _slot = slot;
    let listener = &shared.config.pop3[index];
    let mut config = Config::new(
        shared.hostname.clone(),
        shared.backend.capabilities(),
        Shared::nonce_seed(),
    );
    let tls = shared.tls.as_ref().map(|t| t.pop3.clone());
    config.starttls = tls.is_some() && listener.tls == "starttls";
    config.secure_from_start = listener.tls == "wrapper";
    config.mechanisms = shared.mechanisms;
    config.mechanisms.tls_auth_only =
        !super::connection::cleartext_allowed(&shared, listener.allow_cleartext_auth, peer);
    config.failure_policy = shared.failures;
    config.realm = shared.realm.clone();
    config.implementation = Some("mailcrates mail-server".into());
    let session = Pop3Session::new(config);
    let secured = super::connection::secure(session, tls, &listener.tls);
    let host = Host { shared: &shared };
    let mut maildrop = Maildrop::default();
    let (rip, lip) = (peer.ip(), local.ip());
    let result = super::connection::serve(
        "pop3-login",
        stream,
        secured,
        rip,
        super::connection::options(&shared, shared.config.limits.pop3_idle_timeout, initial_input),
        |pop, event| match pop3_maildrop::handle(pop, event, &host, &mut maildrop) {
            None => Action::Continue,
            Some(event) => on_event(pop, event, rip, lip),
        },
    )
    .await;
    if let Err(e) = result {
        tracing::info!("pop3: Disconnected: rip={rip} ({e})");
    }
}

/// The `method=` of a login line, as Dovecot prints it: `USER`/`PASS`
/// is a plaintext password login, `PLAIN`; APOP and SASL keep their names.
fn method_name(method: &AuthMethod) -> String {
    match method {
        AuthMethod::UserPass => "PLAIN".into(),
        other => other.to_string(),
    }
}

fn on_event(pop: &Pop3Session, event: Event, rip: std::net::IpAddr, lip: std::net::IpAddr) -> Action {
    let tls = if pop.is_secure() { ", TLS" } else { "" };
    match event {
        Event::AuthSucceeded { method, identity } => {
            let method = method_name(&method);
            tracing::info!(
                "pop3-login: Login: user=<{}>, method={method}, rip={rip}, lip={lip}{tls}",
                log_safe(identity.authorized_user())
            );
        }
        Event::AuthFailed { method, user, .. } => {
            let method = method_name(&method);
            tracing::info!(
                "pop3-login: Aborted login (auth failed): user=<{}>, method={method}, rip={rip}, lip={lip}{tls}",
                log_safe(user.as_deref().unwrap_or(""))
            );
        }
        Event::Delay(d) => return Action::Delay(d),
        _ => {}
    }
    Action::Continue
}
