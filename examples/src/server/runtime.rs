//! The tokio runtime of `mail-server`: one accept loop per listener,
//! connection limits, PROXY protocol, TLS per protocol, graceful shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mail_sasl::{CredentialBackend, FailurePolicy, Mechanism, MechanismPolicy, MechanismSet};
use mail_smtp_submit::policy::Cidr;
use mail_tls::{MailProtocol, ServerTls, ServerTlsBuilder, TlsVersion};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::auth_server::SocketOwner;
use super::config::{one_line, Config, ConfigError};
use super::limits::{ConnectionLimits, Refusal, Slot};
use super::proxy;
use super::spool::Spool;

/// Everything the connections of one server share.
pub struct Shared {
    /// The validated configuration.
    pub config: Config,
    /// `myhostname` (or the system's name).
    pub hostname: String,
    /// The DIGEST-MD5 realm ([`Config::digest_realm`]), worked out once.
    pub realm: String,
    /// Where passwords are checked.
    pub backend: Arc<dyn CredentialBackend>,
    /// The passwd-file, when that is the backend (local user existence).
    pub passwd: Option<Arc<mail_sasl::passwd_file::ReloadingPasswdFile>>,
    /// Enabled mechanisms and TLS-only auth.
    pub mechanisms: MechanismPolicy,
    /// Failure delay and per-connection limit.
    pub failures: FailurePolicy,
    /// Trusted networks (relay, cleartext auth "trusted", PROXY sources).
    pub mynetworks: Vec<Cidr>,
    /// TLS per protocol (ALPN differs), when configured.
    pub tls: Option<TlsByProtocol>,
    /// Durable storage.
    pub spool: Spool,
    /// Total / per-IP connection limits.
    pub limits: Arc<ConnectionLimits>,
    /// The SMTP session configuration of each `[[smtp]]` listener, built once.
    pub smtp_configs: std::sync::OnceLock<Vec<Arc<mail_smtp_submit::Config>>>,
    /// Owner and group of the `[auth_server]` socket.
    pub auth_server_owner: SocketOwner,
    /// Turns `true` when the shutdown grace period is over: connections
    /// still open get their protocol's farewell (`421`, `-ERR`, `* BYE`).
    pub grace_over: watch::Sender<bool>,
}

/// What the start loads and checks before it binds anything: certificates
/// and key (with its permissions), the credential backend, the owner of the
/// auth socket. `check-config` runs exactly this ([`check`]), so a
/// configuration it passes is not refused at start with exit 1.
pub struct Checked {
    /// `myhostname` (or the system's name).
    pub hostname: String,
    /// The DIGEST-MD5 realm ([`Config::digest_realm`]), worked out once.
    pub realm: String,
    /// Trusted networks.
    pub mynetworks: Vec<Cidr>,
    /// TLS per protocol, when configured.
    pub tls: Option<TlsByProtocol>,
    /// Where passwords are checked.
    pub backend: Arc<dyn CredentialBackend>,
    /// The passwd-file, when that is the backend.
    pub passwd: Option<Arc<mail_sasl::passwd_file::ReloadingPasswdFile>>,
    /// Owner and group of the `[auth_server]` socket.
    pub auth_server_owner: SocketOwner,
}

/// Every check of the start that binds no socket and creates nothing
/// (the state directory is created at start only). Errors are
/// configuration errors (exit 1), one line naming the key.
pub fn check(config: &Config) -> Result<Checked, ConfigError> {
    let hostname = config.hostname();
    let realm = config.digest_realm();
    let mynetworks = config
        .mynetworks
        .iter()
        .enumerate()
        .map(|(i, n)| {
            n.parse::<Cidr>()
                .map_err(|e| ConfigError(format!("mynetworks[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tls = match &config.tls {
        None => None,
        Some(t) => {
            let version = if t.min_version == "1.3" {
                TlsVersion::Tls13
            } else {
                TlsVersion::Tls12
            };
            let builder: ServerTlsBuilder = ServerTls::builder(MailProtocol::Smtp)
                .cert_files(&t.cert_file, &t.key_file)
                .map_err(|e| tls_error(e, t))?
                .min_version(version);
            let build = |p: MailProtocol| builder.clone().protocol(p).build().map_err(|e| tls_error(e, t));
            Some(TlsByProtocol {
                smtp: build(MailProtocol::Smtp)?,
                pop3: build(MailProtocol::Pop3)?,
                imap: build(MailProtocol::Imap)?,
            })
        }
    };
    let (backend, passwd): Backend = match config.auth.backend.as_str() {
        "passwd-file" => {
            let path = config.auth.passwd_file.clone().ok_or_else(|| {
                ConfigError("auth.passwd_file: required when auth.backend = \"passwd-file\"".into())
            })?;
            let file = mail_sasl::passwd_file::ReloadingPasswdFile::open(&path)
                .map_err(|e| ConfigError(one_line(&format!("auth.passwd_file: {e}"))))?
                .with_realm(realm.clone())
                // One `stat` per second, not one per RCPT/AUTH lookup.
                .with_check_interval(Duration::from_secs(1));
            let file = Arc::new(file);
            (file.clone(), Some(file))
        }
        "dovecot" => {
            let socket = config.auth.dovecot_socket.clone().ok_or_else(|| {
                ConfigError("auth.dovecot_socket: required when auth.backend = \"dovecot\"".into())
            })?;
            (
                Arc::new(mail_sasl::dovecot::DovecotSocketBackend::new(socket)),
                None,
            )
        }
        "pam" => pam_backend(&config.auth.pam_service)?,
        other => return Err(ConfigError(format!("auth.backend: unknown backend {other:?}"))),
    };
    let auth_server_owner = match &config.auth_server {
        Some(section) => super::auth_server::resolve_owner(section)?,
        None => SocketOwner::default(),
    };
    Ok(Checked {
        hostname,
        realm,
        mynetworks,
        tls,
        backend,
        passwd,
        auth_server_owner,
    })
}

/// A TLS loading error as a configuration error naming the key it concerns.
fn tls_error(e: mail_tls::TlsError, section: &super::config::TlsSection) -> ConfigError {
    use mail_tls::TlsError;
    let key = match &e {
        TlsError::KeyPermissions { .. } | TlsError::NoPrivateKey { .. } => "tls.key_file",
        TlsError::Io { path, .. } if *path == section.key_file => "tls.key_file",
        TlsError::Io { path, .. } if *path == section.cert_file => "tls.cert_file",
        TlsError::NoCertificate { .. } => "tls.cert_file",
        TlsError::Pem { source_name, .. } if Path::new(source_name) == section.key_file => "tls.key_file",
        TlsError::Pem { source_name, .. } if Path::new(source_name) == section.cert_file => "tls.cert_file",
        _ => "tls",
    };
    ConfigError(one_line(&format!("{key}: {e}")))
}

/// One `ServerTls` per mail protocol (strict ALPN).
pub struct TlsByProtocol {
    /// For SMTP listeners.
    pub smtp: ServerTls,
    /// For POP3 listeners.
    pub pop3: ServerTls,
    /// For IMAP listeners.
    pub imap: ServerTls,
}

impl Shared {
    /// [`check`] the configuration, then open the spool.
    pub fn new(config: Config) -> Result<Shared, ConfigError> {
        let Checked {
            hostname,
            realm,
            mynetworks,
            tls,
            backend,
            passwd,
            auth_server_owner,
        } = check(&config)?;
        let enabled: MechanismSet = config
            .auth
            .mechanisms
            .iter()
            .filter_map(|m| Mechanism::from_name(m.as_bytes()))
            .collect();
        let mechanisms = MechanismPolicy {
            enabled,
            noplaintext: false,
            tls_auth_only: true,
        };
        let failures = FailurePolicy {
            delay: Duration::from_millis(config.auth.failure_delay_ms),
            max_failures: config.auth.max_failures_per_connection,
        };
        let spool = Spool::open(&config.state_dir)
            .map_err(|e| ConfigError(format!("state_dir: {}: {e}", config.state_dir.display())))?;
        Ok(Shared {
            hostname,
            realm,
            backend,
            passwd,
            mechanisms,
            failures,
            mynetworks,
            tls,
            spool,
            smtp_configs: std::sync::OnceLock::new(),
            auth_server_owner,
            grace_over: watch::channel(false).0,
            limits: ConnectionLimits::new(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            ),
            config,
        })
    }

    /// Whether `ip` is in `mynetworks`.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.mynetworks.iter().any(|n| n.contains(ip))
    }

    /// Whether `user` is a local user (passwd-file lookup; other backends
    /// cannot enumerate users, so every name is accepted there).
    pub fn user_exists(&self, user: &str) -> bool {
        match &self.passwd {
            Some(file) => file.current().lookup(user).is_some(),
            None => crate::maildir::valid_user_dir(user),
        }
    }

    /// A fresh 16-byte seed for a session's SASL nonces.
    pub fn nonce_seed() -> [u8; 16] {
        rand::random()
    }
}

/// A credential backend, and the passwd-file behind it when there is one.
type Backend = (
    Arc<dyn CredentialBackend>,
    Option<Arc<mail_sasl::passwd_file::ReloadingPasswdFile>>,
);

#[cfg(feature = "pam")]
fn pam_backend(service: &str) -> Result<Backend, ConfigError> {
    Ok((Arc::new(mail_sasl::pam_backend::PamBackend::new(service)), None))
}

#[cfg(not(feature = "pam"))]
fn pam_backend(_service: &str) -> Result<Backend, ConfigError> {
    Err(ConfigError(
        "auth.backend: \"pam\" needs mail-server built with --features pam".into(),
    ))
}

/// Which protocol a listener speaks, with its index in the configuration.
#[derive(Debug, Clone, Copy)]
pub enum ListenerKind {
    /// `[[smtp]]` entry.
    Smtp(usize),
    /// `[[pop3]]` entry.
    Pop3(usize),
    /// `[[imap]]` entry.
    Imap(usize),
}

/// An accepted connection, after the PROXY header (if any).
pub struct Accepted {
    /// The client's socket.
    pub stream: TcpStream,
    /// The client's address (from the PROXY header when one was used).
    pub peer: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// Bytes read after the PROXY header.
    pub initial_input: Vec<u8>,
    /// The held connection slot.
    pub slot: Slot,
}

/// Run the server until SIGINT/SIGTERM. Exit codes: 0 clean, 1 configuration, 2 bind.
pub fn run(config: Config) -> ExitCode {
    tracing_init();
    let workers = match config.limits.worker_threads {
        0 => automatic_worker_threads(),
        n => n,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mail-server: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The handlers come first: from here on SIGINT/SIGTERM mean a clean stop
    // (exit 0), also while certificates load and listeners are bound.
    let signals = {
        let _context = runtime.enter();
        StopSignals::register()
    };
    let shared = match Shared::new(config) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("mail-server: configuration error: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(serve(shared, signals));
    runtime.shutdown_timeout(Duration::from_secs(1));
    log_writer::flush();
    code
}

/// Async worker threads when `[limits] worker_threads` is 0: one per core but one. The kernel does much of a
/// mail server's work (TCP, fsync) outside the workers, storage waits in
/// blocking threads, and a worker per core made the workers wake and steal
/// from each other: on 2 cores (shared with `smtp-source`), one worker used
/// 15-25 % less CPU per message and answered 5-20 % more messages per
/// second than two (`scripts/bench-e2e.sh`).
fn automatic_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

fn tracing_init() {
    let _ = tracing_subscriber::fmt()
        .with_writer(log_writer::BatchedStderr::start())
        .with_target(false)
        .with_level(false)
        .without_time()
        .try_init();
}

async fn serve(shared: Arc<Shared>, signals: StopSignals) -> ExitCode {
    let mut bound = Vec::new();
    let config = &shared.config;
    let entries = config
        .smtp
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                ListenerKind::Smtp(i),
                &l.listen,
                l.proxy_protocol,
                format!("smtp[{i}]"),
            )
        })
        .chain(config.pop3.iter().enumerate().map(|(i, l)| {
            (
                ListenerKind::Pop3(i),
                &l.listen,
                l.proxy_protocol,
                format!("pop3[{i}]"),
            )
        }))
        .chain(config.imap.iter().enumerate().map(|(i, l)| {
            (
                ListenerKind::Imap(i),
                &l.listen,
                l.proxy_protocol,
                format!("imap[{i}]"),
            )
        }));
    for (kind, listen, proxy_protocol, key) in entries {
        match TcpListener::bind(listen.as_str()).await {
            Ok(listener) => bound.push((kind, listener, proxy_protocol)),
            Err(e) => {
                eprintln!("mail-server: cannot listen on {listen} ({key}.listen): {e}");
                return ExitCode::from(2);
            }
        }
    }
    let auth_server = match &config.auth_server {
        Some(section) => {
            match tokio::task::block_in_place(|| super::auth_server::bind(section, shared.auth_server_owner))
            {
                Ok(listener) => Some(listener),
                Err(e) => {
                    eprintln!("mail-server: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    if let Some(listener) = auth_server {
        tokio::spawn(super::auth_server::serve(Arc::clone(&shared), listener));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    for (kind, listener, proxy_protocol) in bound {
        tracing::info!(
            "master: listening on {} ({})",
            listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            kind.name()
        );
        tokio::spawn(accept_loop(
            Arc::clone(&shared),
            kind,
            listener,
            proxy_protocol,
            stop_rx.clone(),
        ));
    }
    signals.wait().await;
    tracing::info!(
        "master: stopping: no new connections; waiting up to 10 s for {} open",
        shared.limits.total()
    );
    let _ = stop_tx.send(true);
    if !all_closed_within(&shared, Duration::from_secs(10)).await {
        // Sessions still open get their protocol's last words (RFC 5321
        // §3.8: `421`), and a moment to have them written.
        tracing::info!(
            "master: grace period over: closing {} open connections",
            shared.limits.total()
        );
        shared.grace_over.send_replace(true);
        all_closed_within(&shared, Duration::from_secs(2)).await;
    }
    tracing::info!("master: stopped");
    ExitCode::SUCCESS
}

/// Wait until no connection is open, at most `limit`; says whether none is.
async fn all_closed_within(shared: &Shared, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while shared.limits.total() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shared.limits.total() == 0
}

impl ListenerKind {
    fn name(self) -> &'static str {
        match self {
            ListenerKind::Smtp(_) => "smtp",
            ListenerKind::Pop3(_) => "pop3",
            ListenerKind::Imap(_) => "imap",
        }
    }
}

/// SIGTERM and SIGINT handlers, registered before anything is bound (a
/// signal that arrives earlier than the handlers kills the process with the
/// default action instead of a clean exit 0).
struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Register both handlers; must run inside the runtime's context.
    fn register() -> StopSignals {
        use tokio::signal::unix::{signal, SignalKind};
        let register = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("mail-server: warning: cannot handle {name}: {e}");
                None
            }
        };
        StopSignals {
            term: register(SignalKind::terminate(), "SIGTERM"),
            int: register(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Wait for SIGTERM or SIGINT.
    async fn wait(mut self) {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.term) => {}
            _ = recv(&mut self.int) => {}
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    kind: ListenerKind,
    listener: TcpListener,
    proxy_protocol: bool,
    mut stop: watch::Receiver<bool>,
) {
    // Our address is the listener's unless it listens on a wildcard address
    // (saves a getsockname per connection).
    let listening = listener.local_addr().ok().filter(|a| !a.ip().is_unspecified());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::info!("master: warning: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let local = match listening {
                Some(local) => local,
                None => stream.local_addr().unwrap_or(peer),
            };
            // Behind a PROXY-protocol balancer every connection comes from
            // the balancer: the per-IP slot is taken for the client address
            // of the PROXY header; the global one at once.
            let slot = match proxy_protocol {
                true => shared.limits.acquire_unattributed(),
                false => shared.limits.acquire(peer.ip()),
            };
            let mut slot = match slot {
                Ok(slot) => slot,
                Err(refusal) => {
                    refuse(stream, kind, &shared, refusal).await;
                    return;
                }
            };
            let accepted = if proxy_protocol {
                match read_proxy_header(stream, peer, local, &shared).await {
                    Some((stream, peer, local, rest)) => {
                        if let Err(refusal) = slot.attribute(peer.ip()) {
                            refuse(stream, kind, &shared, refusal).await;
                            return;
                        }
                        Accepted {
                            stream,
                            peer,
                            local,
                            initial_input: rest,
                            slot,
                        }
                    }
                    None => return,
                }
            } else {
                Accepted {
                    stream,
                    peer,
                    local,
                    initial_input: Vec::new(),
                    slot,
                }
            };
            match kind {
                ListenerKind::Smtp(i) => super::smtp::handle(shared, i, accepted).await,
                ListenerKind::Pop3(i) => super::pop3::handle(shared, i, accepted).await,
                ListenerKind::Imap(i) => super::imap::handle(shared, i, accepted).await,
            }
        });
    }
}

/// Answer a connection over the limits with the protocol's "try later" and close.
async fn refuse(mut stream: TcpStream, kind: ListenerKind, shared: &Shared, refusal: Refusal) {
    use tokio::io::AsyncWriteExt;
    let why = match refusal {
        Refusal::TooManyConnections => "too many connections",
        Refusal::TooManyFromYou => "too many connections from your address",
    };
    let implicit_tls = match kind {
        ListenerKind::Smtp(i) => shared.config.smtp[i].tls == "wrapper",
        ListenerKind::Pop3(i) => shared.config.pop3[i].tls == "wrapper",
        ListenerKind::Imap(i) => shared.config.imap[i].tls == "wrapper",
    };
    tracing::info!("{}: warning: refusing a connection: {why}", kind.name());
    if implicit_tls {
        return; // no plaintext on a TLS port: just close
    }
    let line = match kind {
        ListenerKind::Smtp(_) => format!("421 4.7.0 {} Error: {why}\r\n", shared.hostname),
        ListenerKind::Pop3(_) => format!("-ERR [SYS/TEMP] {why}\r\n"),
        ListenerKind::Imap(_) => format!("* BYE [UNAVAILABLE] {why}\r\n"),
    };
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Read a PROXY v1/v2 header (10 s at most). Only sources in `mynetworks`
/// may send one; anyone else is disconnected.
async fn read_proxy_header(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: &Shared,
) -> Option<(TcpStream, SocketAddr, SocketAddr, Vec<u8>)> {
    if !shared.is_trusted(peer.ip()) {
        tracing::info!(
            "proxy: warning: [{}]: PROXY protocol from an untrusted address; disconnecting",
            peer.ip()
        );
        return None;
    }
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1100];
    let read = async {
        loop {
            match proxy::parse(&buf) {
                Ok(Some(header)) => return Ok(header),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed before the PROXY header".to_owned());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(header)) => {
            let rest = buf[header.len..].to_vec();
            Some((
                stream,
                header.source.unwrap_or(peer),
                header.destination.unwrap_or(local),
                rest,
            ))
        }
        Ok(Err(e)) => {
            tracing::info!("proxy: warning: [{}]: {e}", peer.ip());
            None
        }
        Err(_) => {
            tracing::info!(
                "proxy: warning: [{}]: timeout reading the PROXY header",
                peer.ip()
            );
            None
        }
    }
}

/// The log sink: log lines go to stderr in batches. One `write` per line
/// costs more than the rest of a message's handling in protocol-only mode;
/// here a line is appended to a buffer and a thread writes whatever
/// accumulated with one call, at most every 2 ms (a line reaches stderr
/// within about 2 ms); the buffer is bounded: past [`log_writer::MAX_PENDING`]
/// bytes a logging thread waits for the writer (back-pressure, nothing is
/// lost, order is kept).
mod log_writer {
    use std::io::{self, Write};
    use std::sync::{Arc, Condvar, Mutex, OnceLock};

    /// Buffered log bytes beyond which loggers wait for the writer thread.
    pub const MAX_PENDING: usize = 256 * 1024;

    /// How long the writer thread lets lines accumulate after a wake-up.
    const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

    type Output = Box<dyn Fn(&[u8]) + Send + Sync>;

    #[derive(Default)]
    struct Pending {
        bytes: Vec<u8>,
        /// The writer thread waits for bytes (it must be woken).
        idle: bool,
        /// Loggers wait for the buffer to drain.
        blocked: bool,
        /// No writer thread: loggers write themselves.
        direct: bool,
    }

    struct Sink {
        pending: Mutex<Pending>,
        ready: Condvar,
        drained: Condvar,
        output: Output,
    }

    static SINK: OnceLock<Arc<Sink>> = OnceLock::new();

    /// `MakeWriter` for `tracing_subscriber::fmt`.
    #[derive(Clone)]
    pub struct BatchedStderr(Arc<Sink>);

    impl BatchedStderr {
        /// The process's batched stderr, starting its writer thread once.
        pub fn start() -> BatchedStderr {
            let sink = SINK.get_or_init(|| {
                start_sink(Box::new(|bytes| {
                    let _ = io::stderr().lock().write_all(bytes);
                }))
            });
            BatchedStderr(Arc::clone(sink))
        }
    }

    fn start_sink(output: Output) -> Arc<Sink> {
        let sink = Arc::new(Sink {
            pending: Mutex::new(Pending::default()),
            ready: Condvar::new(),
            drained: Condvar::new(),
            output,
        });
        let worker = Arc::clone(&sink);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_loop(&worker));
        if spawned.is_err() {
            sink.pending.lock().unwrap_or_else(|e| e.into_inner()).direct = true;
        }
        sink
    }

    fn write_loop(sink: &Sink) {
        let mut batch = Vec::new();
        loop {
            {
                let mut pending = sink.pending.lock().unwrap_or_else(|e| e.into_inner());
                while pending.bytes.is_empty() {
                    pending.idle = true;
                    pending = sink.ready.wait(pending).unwrap_or_else(|e| e.into_inner());
                }
                pending.idle = false;
            }
            // Let a batch build up: at most one write per GATHER.
            std::thread::sleep(GATHER);
            {
                let mut pending = sink.pending.lock().unwrap_or_else(|e| e.into_inner());
                std::mem::swap(&mut batch, &mut pending.bytes);
                if pending.blocked {
                    pending.blocked = false;
                    sink.drained.notify_all();
                }
            }
            (sink.output)(&batch);
            batch.clear();
            if batch.capacity() > MAX_PENDING {
                batch = Vec::new();
            }
        }
    }

    /// Wait (1 s at most) until the writer thread wrote everything (at exit).
    pub fn flush() {
        let Some(sink) = SINK.get() else { return };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            {
                let pending = sink.pending.lock().unwrap_or_else(|e| e.into_inner());
                if pending.direct || (pending.idle && pending.bytes.is_empty()) {
                    return;
                }
            }
            if std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// One log line being written.
    pub struct Line<'a>(&'a Sink);

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
        type Writer = Line<'a>;

        fn make_writer(&'a self) -> Line<'a> {
            Line(&self.0)
        }
    }

    impl Write for Line<'_> {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let sink = self.0;
            let mut pending = sink.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.direct {
                (sink.output)(data);
                return Ok(data.len());
            }
            while !pending.bytes.is_empty() && pending.bytes.len() + data.len() > MAX_PENDING {
                pending.blocked = true;
                pending = sink.drained.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            pending.bytes.extend_from_slice(data);
            if pending.idle {
                pending.idle = false;
                sink.ready.notify_one();
            }
            Ok(data.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_line_arrives_in_order_with_a_bounded_buffer() {
            let out = Arc::new(Mutex::new(Vec::<u8>::new()));
            let seen = Arc::clone(&out);
            let sink = start_sink(Box::new(move |bytes| {
                std::thread::sleep(std::time::Duration::from_micros(200)); // a slow stderr
                seen.lock().unwrap().extend_from_slice(bytes);
            }));
            let mut line = Line(&sink);
            for i in 0..100_000u32 {
                writeln!(line, "line {i}").unwrap();
                assert!(sink.pending.lock().unwrap().bytes.len() <= MAX_PENDING);
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !sink.pending.lock().unwrap().bytes.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
            let numbers: Vec<u32> = text
                .lines()
                .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
                .collect();
            assert_eq!(numbers.len(), 100_000);
            assert!(
                numbers.windows(2).all(|w| w[1] == w[0] + 1),
                "lines kept in order"
            );
        }
    }
}
