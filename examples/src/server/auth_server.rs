//! `[auth_server]`: serve the Dovecot authentication protocol on a Unix
//! socket, so that an existing Postfix (`smtpd_sasl_type = dovecot`,
//! `smtpd_sasl_path = <socket>`) authenticates its users against this
//! server's backend — what Dovecot's `service auth { unix_listener … }` does.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use mail_sasl::dovecot::{DovecotAuthServer, ServerConfig, ServerEvent};
use mail_sasl::MechanismPolicy;
use mail_tls::tokio::{Action, ServeOptions};
use mail_tls::{Secured, SecuredEvent};
use tokio::net::UnixListener;

use super::config::{AuthServerSection, ConfigError};
use super::runtime::Shared;

/// The socket's owner and group, resolved from `[auth_server] user`/`group`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOwner {
    /// Numeric id of `user`, when set.
    pub uid: Option<u32>,
    /// Numeric id of `group`, when set.
    pub gid: Option<u32>,
}

/// Resolve `user`/`group` to ids: a configuration check (exit 1), done by
/// `check-config` and before anything is bound.
pub fn resolve_owner(section: &AuthServerSection) -> Result<SocketOwner, ConfigError> {
    let id = |key: &str, file: &str, name: &Option<String>| {
        name.as_ref()
            .map(|name| {
                lookup_id(file, name).ok_or_else(|| {
                    ConfigError(format!(
                        "auth_server.{key}: no such {key} {name:?} (not in {file})"
                    ))
                })
            })
            .transpose()
    };
    Ok(SocketOwner {
        uid: id("user", "/etc/passwd", &section.user)?,
        gid: id("group", "/etc/group", &section.group)?,
    })
}

/// Bind the socket with the configured mode and `owner` (from [`resolve_owner`]).
pub fn bind(section: &AuthServerSection, owner: SocketOwner) -> Result<UnixListener, ConfigError> {
    let path = &section.socket;
    let err = |what: &str, e: &dyn std::fmt::Display| {
        ConfigError(format!("auth_server.socket: {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err("cannot create the directory of", &e))?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| err("cannot listen on", &e))?;
    let mode =
        u32::from_str_radix(section.mode.trim_start_matches("0o"), 8).map_err(|e| err("bad mode for", &e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| err("cannot chmod", &e))?;
    if owner.uid.is_some() || owner.gid.is_some() {
        std::os::unix::fs::chown(path, owner.uid, owner.gid).map_err(|e| err("cannot chown", &e))?;
    }
    Ok(listener)
}

/// Serve connections on `listener` until the server stops.
pub async fn serve(shared: Arc<Shared>, listener: UnixListener) {
    // Plaintext mechanisms are offered; whether they may be used on the
    // client's channel is decided per request from Postfix's `secured` flag.
    let policy = MechanismPolicy {
        tls_auth_only: false,
        ..shared.mechanisms
    };
    let offered = policy.offered(shared.backend.capabilities(), true);
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.display().to_string()));
    tracing::info!(
        "auth: listening on {} offering {offered}",
        path.unwrap_or_default()
    );
    let mut connection_id = 0u32;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        connection_id = connection_id.wrapping_add(1);
        let mut config = ServerConfig::new(offered, shared.hostname.clone(), Shared::nonce_seed());
        config.tls_auth_only = true;
        config.realm = shared.realm.clone();
        config.server_pid = std::process::id();
        config.connection_id = connection_id;
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let secured = Secured::starttls(DovecotAuthServer::new(config), None);
            let _ = mail_tls::tokio::serve_with(stream, secured, ServeOptions::default(), |server, event| {
                let SecuredEvent::Session(event) = event else {
                    return Action::Continue;
                };
                on_event(&shared, server, event)
            })
            .await;
        });
    }
}

fn on_event(shared: &Shared, server: &mut DovecotAuthServer, event: ServerEvent) -> Action {
    match event {
        ServerEvent::AuthVerify(id, request) => {
            let outcome = tokio::task::block_in_place(|| shared.backend.verify(&request));
            server.verified(id, outcome);
        }
        ServerEvent::AuthSucceeded {
            mechanism,
            identity,
            service,
            ..
        } => {
            tracing::info!(
                "auth: {service}: {mechanism} login ok: user=<{}>",
                super::log_safe(identity.authorized_user())
            );
        }
        ServerEvent::AuthFailed {
            mechanism, failure, ..
        } => {
            let mech = mechanism.map(|m| m.name()).unwrap_or("-");
            tracing::info!("auth: warning: {mech} authentication failed");
            if failure.counts_as_attempt() {
                return Action::Delay(shared.failures.delay);
            }
        }
        ServerEvent::ProtocolError(reason) => {
            tracing::info!(
                "auth: warning: client protocol error: {}",
                super::log_safe(&reason)
            )
        }
        _ => {}
    }
    Action::Continue
}

/// The numeric id of `name` in `/etc/passwd` or `/etc/group` (third field).
fn lookup_id(file: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(Path::new(file)).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then(|| fields.nth(1)?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_zero() {
        assert_eq!(super::lookup_id("/etc/passwd", "root"), Some(0));
        assert_eq!(super::lookup_id("/etc/group", "root"), Some(0));
        assert_eq!(super::lookup_id("/etc/passwd", "no-such-user-here"), None);
    }

    #[test]
    fn unknown_owner_is_a_configuration_error_naming_the_key() {
        let section = |user: Option<&str>, group: Option<&str>| crate::server::config::AuthServerSection {
            socket: "/nonexistent/auth".into(),
            mode: "0660".into(),
            user: user.map(String::from),
            group: group.map(String::from),
        };
        let e = super::resolve_owner(&section(Some("no-such-user-here"), None)).unwrap_err();
        assert!(e.0.starts_with("auth_server.user: "), "{e}");
        let e = super::resolve_owner(&section(None, Some("no-such-group-here"))).unwrap_err();
        assert!(e.0.starts_with("auth_server.group: "), "{e}");
        let ok = super::resolve_owner(&section(Some("root"), Some("root"))).unwrap();
        assert_eq!((ok.uid, ok.gid), (Some(0), Some(0)));
    }
}
