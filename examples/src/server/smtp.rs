//! One SMTP connection of `mail-server`: the session from
//! `mail-smtp-submit`, driven by `mail-tls`'s tokio driver, with local
//! delivery and the queue in [`super::spool`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mail_smtp_submit::policy::RelayPolicy;
use mail_smtp_submit::{BareLf, ClientInfo, Config, Event, Profile, Reply, SmtpSession, TlsMode};
use mail_tls::tokio::Action;

use super::config::SmtpListener;
use super::log_safe;
use super::runtime::{Accepted, Shared};
use super::spool::{Envelope, Incoming};

/// The session configuration for listener `index`.
pub fn session_config(shared: &Shared, index: usize) -> Config {
    let l = &shared.config.smtp[index];
    let profile = match (l.tls.as_str(), l.require_auth) {
        ("wrapper", _) => Profile::Submissions,
        ("encrypt", true) => Profile::Submission,
        _ => Profile::Mta,
    };
    let mut c = Config::new(profile, shared.hostname.clone());
    c.tls = match l.tls.as_str() {
        "none" => TlsMode::None,
        "encrypt" => TlsMode::Encrypt,
        "wrapper" => TlsMode::Implicit,
        _ => TlsMode::May,
    };
    c.tls_available = shared.tls.is_some() && c.tls != TlsMode::None;
    c.tls_auth_only = l.tls_auth_only;
    c.require_auth = l.require_auth;
    c.auth_backend = Some(shared.backend.capabilities());
    c.mechanisms = shared.mechanisms;
    c.mechanisms.tls_auth_only = c.effective_tls_auth_only();
    c.auth_failures = shared.failures;
    c.broken_sasl_auth_clients = l.broken_sasl_auth_clients;
    c.realm = shared.realm.clone();
    c.max_message_size = shared.config.message_size_limit;
    c.max_text_line = match shared.config.limits.smtp_max_text_line {
        0 => None,
        n => Some(n),
    };
    c.bare_lf = if l.bare_newline == "reject" {
        BareLf::Reject
    } else {
        BareLf::Normalize
    };
    c.relay = RelayPolicy {
        mynetworks: shared.mynetworks.clone(),
        mydestination: shared.config.mydestination.clone(),
        relay_domains: shared.config.relay_domains.clone(),
        recipient_restrictions: l
            .recipient_restrictions
            .iter()
            .filter_map(|r| super::config::restriction(r))
            .collect(),
        ..RelayPolicy::default()
    };
    c
}

/// The name of a listener's profile, as the logs print it
/// (`listener=submission`): `submissions` for implicit TLS (465),
/// `submission` when STARTTLS is mandatory or AUTH is required (587),
/// `smtp` otherwise (port 25 style: TLS `none`/`may`, no AUTH required).
pub fn listener_name(listener: &SmtpListener) -> &'static str {
    match (listener.tls.as_str(), listener.require_auth) {
        ("wrapper", _) => "submissions",
        ("encrypt", _) | (_, true) => "submission",
        _ => "smtp",
    }
}

/// A short random queue id (hex), as Postfix's.
fn queue_id() -> String {
    format!("{:010X}", rand::random::<u64>() & 0xff_ffff_ffff)
}

/// The message in flight on one connection.
struct Transaction {
    id: String,
    incoming: Option<Incoming>,
}

/// Serve one SMTP connection.
pub async fn handle(shared: Arc<Shared>, index: usize, accepted: Accepted) {
    let Accepted {
        stream,
        peer,
        mut initial_input,
        slot,
        ..
    } = accepted;
    let _slot = slot;
    let ip = peer.ip();
    let listener_config = &shared.config.smtp[index];
    tracing::info!(
        "smtpd: connect from [{ip}]:{} listener={}",
        peer.port(),
        listener_name(listener_config)
    );
    let configs = shared.smtp_configs.get_or_init(|| {
        (0..shared.config.smtp.len())
            .map(|i| Arc::new(session_config(&shared, i)))
            .collect()
    });
    let mut session = SmtpSession::new(Arc::clone(&configs[index]), ClientInfo::new(ip));
    session.set_nonce_seed(Shared::nonce_seed());
    let tls = shared.tls.as_ref().map(|t| t.smtp.clone());
    let mut secured = super::connection::secure(session, tls, &listener_config.tls);
    if listener_config.tls != "wrapper" {
        // Input before the greeting (SECURITY.md: pipelining before the
        // greeting) reaches the session before the greeting is written, so
        // that the session can refuse it.
        let early =
            read_before_greeting(&stream, Duration::from_millis(listener_config.greet_pause_ms)).await;
        initial_input.extend_from_slice(&early);
        if !initial_input.is_empty() {
            tracing::info!(
                "smtpd: warning: [{ip}]: {} bytes sent before the greeting",
                initial_input.len()
            );
            let _ = secured.receive(&std::mem::take(&mut initial_input));
        }
    }
    let mut tx: Option<Transaction> = None;
    let result = super::connection::serve(
        "smtpd",
        stream,
        secured,
        ip,
        super::connection::options(&shared, shared.config.limits.smtp_idle_timeout, initial_input),
        |session, event| on_event(&shared, ip, session, event, &mut tx),
    )
    .await;
    if let Some(t) = tx.take() {
        if let Some(incoming) = t.incoming {
            incoming.abort();
        }
    }
    match result {
        Ok(()) => tracing::info!("smtpd: disconnect from [{ip}]"),
        Err(e) => tracing::info!("smtpd: disconnect from [{ip}] ({e})"),
    }
}

/// What the client sent before the greeting: waits up to `pause` for it
/// (0: only what is already there), reads at most one buffer's worth.
/// Readiness can be spurious (tokio documents it), so a `WouldBlock` after
/// a wake-up goes back to waiting until the pause is over.
async fn read_before_greeting(stream: &tokio::net::TcpStream, pause: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + pause;
    // Usually nothing is there: no allocation for that.
    let mut buf = [0u8; 4096];
    loop {
        match stream.try_read(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Vec::new(),
        }
        if pause.is_zero()
            || tokio::time::timeout_at(deadline, stream.readable())
                .await
                .is_err()
        {
            return Vec::new();
        }
    }
}

fn on_event(
    shared: &Shared,
    ip: std::net::IpAddr,
    session: &mut SmtpSession,
    event: Event,
    tx: &mut Option<Transaction>,
) -> Action {
    match event {
        Event::AuthVerify(request) => {
            let outcome = tokio::task::block_in_place(|| shared.backend.verify(&request));
            let _ = session.auth_verified(outcome);
        }
        // Logged with the queue id (`client=…, sasl_method=…`), as Postfix does.
        Event::AuthSucceeded { .. } => {}
        Event::AuthFailed { mechanism, .. } => {
            tracing::info!("smtpd: warning: [{ip}]: SASL {mechanism} authentication failed");
        }
        Event::Delay(d) => return Action::Delay(d),
        Event::Recipient => {
            let verdict = match session.pending_recipient() {
                Some(r) if r.local => {
                    let user = local_user(&r.address);
                    if shared.user_exists(&user) {
                        None
                    } else {
                        Some(Reply::user_unknown(&r.address))
                    }
                }
                _ => None,
            };
            let _ = match verdict {
                None => session.accept_recipient(),
                Some(reply) => session.reject_recipient(reply),
            };
        }
        Event::MessageBegin if shared.config.delivery == "discard" => {
            let id = queue_id();
            let _ = session.message_begin(&id, &super::date::rfc5322(SystemTime::now()));
            *tx = Some(Transaction { id, incoming: None });
        }
        Event::MessageEnd if shared.config.delivery == "discard" => {
            if let Some(Transaction { id, .. }) = tx.take() {
                tracing::info!("delivery: {id}: relay=none, status=sent (discarded)");
                let _ = session.message_stored(&id);
            }
        }
        Event::MessageBegin => {
            let id = queue_id();
            // In memory until the message outgrows spool::MEMORY_LIMIT: no I/O.
            match shared.spool.begin(&id) {
                Ok(incoming) => {
                    let date = super::date::rfc5322(SystemTime::now());
                    let _ = session.message_begin(&id, &date);
                    *tx = Some(Transaction {
                        id,
                        incoming: Some(incoming),
                    });
                }
                Err(e) => {
                    tracing::info!("smtpd: warning: cannot create a queue file: {e}");
                    let _ = session.message_failed(Reply::queue_write_error());
                }
            }
        }
        Event::MessageChunk(chunk) => {
            if let Some(Transaction {
                incoming: Some(incoming),
                id,
            }) = tx.as_mut()
            {
                let written = if incoming.write_blocks(chunk.len()) {
                    tokio::task::block_in_place(|| incoming.write(&chunk, &shared.spool))
                } else {
                    incoming.write(&chunk, &shared.spool)
                };
                if let Err(e) = written {
                    tracing::info!("smtpd: warning: {id}: cannot write the queue file: {e}");
                    if let Some(i) = tx.as_mut().and_then(|t| t.incoming.take()) {
                        i.abort();
                    }
                }
            }
        }
        Event::MessageEnd => finish_message(shared, ip, session, tx),
        Event::MessageAborted => {
            if let Some(Transaction {
                incoming: Some(incoming),
                ..
            }) = tx.take()
            {
                incoming.abort();
            }
        }
        Event::Close => return Action::Close,
        // StartTls is the wrapper's business; future events need no answer.
        _ => {}
    }
    Action::Continue
}

fn finish_message(
    shared: &Shared,
    ip: std::net::IpAddr,
    session: &mut SmtpSession,
    tx: &mut Option<Transaction>,
) {
    let Some(Transaction { id, incoming }) = tx.take() else {
        let _ = session.message_failed(Reply::queue_write_error());
        return;
    };
    let Some(incoming) = incoming else {
        let _ = session.message_failed(Reply::queue_write_error());
        return;
    };
    let sender = session.sender().unwrap_or_default().to_owned();
    let mut envelope = Envelope {
        sender: sender.clone(),
        ..Envelope::default()
    };
    for r in session.recipients() {
        if r.local {
            let user = local_user(&r.address);
            if !envelope.local_users.contains(&user) {
                envelope.local_users.push(user);
            }
        } else {
            envelope.remote.push(r.address.clone());
        }
    }
    let size = incoming.size();
    let nrcpt = session.recipients().len();
    match tokio::task::block_in_place(|| incoming.commit(&shared.spool, &id, &envelope)) {
        Ok(_) => {
            let sasl = match (session.login(), session.login_mechanism()) {
                (Some(user), Some(method)) => {
                    format!(", sasl_method={method}, sasl_username={}", log_safe(user))
                }
                _ => String::new(),
            };
            tracing::info!("smtpd: {id}: client=[{ip}]{sasl}");
            tracing::info!(
                "smtpd: {id}: from=<{}>, size={size}, nrcpt={nrcpt}",
                log_safe(&sender)
            );
            for r in session.recipients() {
                let (relay, status) = if r.local {
                    ("local", "sent (delivered to maildir)")
                } else {
                    ("queue", "queued (relay)")
                };
                tracing::info!(
                    "delivery: {id}: to=<{}>, relay={relay}, status={status}",
                    log_safe(&r.address)
                );
            }
            let _ = session.message_stored(&id);
        }
        Err(e) => {
            tracing::info!("smtpd: warning: {id}: cannot store the message: {e}");
            let _ = session.message_failed(Reply::queue_write_error());
        }
    }
}

/// The local part of a local recipient, lowercased (`Ned@Localhost` → `ned`).
fn local_user(address: &str) -> String {
    let local = address.rsplit_once('@').map(|(l, _)| l).unwrap_or(address);
    local.to_ascii_lowercase()
}
