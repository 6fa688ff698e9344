//! A Dovecot-protocol authentication server on a Unix socket, backed by a
//! passwd-file: point Postfix at it with
//! `smtpd_sasl_type = dovecot` and `smtpd_sasl_path = /abs/path/to/socket`.
//!
//! ```text
//! dovecot-auth-server --socket /run/mailauth/auth (--passwd-file /etc/mail/users | --pam SERVICE) \
//!     [--mechanisms PLAIN,LOGIN,CRAM-MD5,DIGEST-MD5] [--hostname mail.example.org]
//!     [--allow-plaintext-without-tls] [--failure-delay-ms 2000]
//! ```
//!
//! PLAIN/LOGIN are refused in requests that lack the `secured` flag (Postfix
//! sets it on TLS sessions) unless `--allow-plaintext-without-tls` is given,
//! like Dovecot's `disable_plaintext_auth = yes`. `--pam` (built with the
//! `pam` feature) checks passwords with PAM instead, which serves PLAIN and
//! LOGIN only. One thread per connection.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mail_proto::Session;
use mail_sasl::dovecot::{DovecotAuthServer, ServerConfig, ServerEvent};
use mail_sasl::passwd_file::ReloadingPasswdFile;
use mail_sasl::{CredentialBackend, Mechanism, MechanismPolicy, MechanismSet};

struct Options {
    socket: PathBuf,
    backend: BackendChoice,
    mechanisms: MechanismSet,
    hostname: String,
    tls_auth_only: bool,
    failure_delay: Duration,
}

enum BackendChoice {
    PasswdFile(PathBuf),
    /// A PAM service name (used only when built with the `pam` feature).
    #[cfg_attr(not(feature = "pam"), allow(dead_code))]
    Pam(String),
}

const USAGE: &str = "usage: dovecot-auth-server --socket PATH (--passwd-file FILE | --pam SERVICE) \
[--mechanisms PLAIN,LOGIN,CRAM-MD5,DIGEST-MD5] [--hostname NAME] \
[--allow-plaintext-without-tls] [--failure-delay-ms MS]";

fn parse_args() -> Result<Options, String> {
    let mut socket = None;
    let mut backend = None;
    let mut mechanisms = MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]);
    let mut hostname = "localhost".to_string();
    let mut tls_auth_only = true;
    let mut failure_delay = Duration::from_secs(2);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--socket" => socket = Some(PathBuf::from(value("--socket")?)),
            "--passwd-file" => {
                backend = Some(BackendChoice::PasswdFile(PathBuf::from(value("--passwd-file")?)))
            }
            "--pam" => backend = Some(BackendChoice::Pam(value("--pam")?)),
            "--hostname" => hostname = value("--hostname")?,
            "--mechanisms" => {
                let list = value("--mechanisms")?;
                mechanisms = MechanismSet::empty();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let m = Mechanism::from_name(name.as_bytes())
                        .ok_or_else(|| format!("unknown mechanism {name}"))?;
                    if m == Mechanism::Anonymous {
                        return Err("ANONYMOUS is never offered".into());
                    }
                    mechanisms = mechanisms.with(m);
                }
            }
            "--allow-plaintext-without-tls" => tls_auth_only = false,
            "--failure-delay-ms" => {
                let ms = value("--failure-delay-ms")?;
                failure_delay =
                    Duration::from_millis(ms.parse().map_err(|_| format!("bad --failure-delay-ms {ms}"))?);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Options {
        socket: socket.ok_or(USAGE)?,
        backend: backend.ok_or(USAGE)?,
        mechanisms,
        hostname,
        tls_auth_only,
        failure_delay,
    })
}

fn serve(
    mut stream: UnixStream,
    config: ServerConfig,
    backend: &dyn CredentialBackend,
    failure_delay: Duration,
) {
    let mut server = DovecotAuthServer::new(config);
    let mut buf = [0u8; 8192];
    loop {
        let mut delay = false;
        while let Some(event) = server.next_event() {
            match event {
                ServerEvent::AuthVerify(id, request) => {
                    let outcome = backend.verify(&request);
                    server.verified(id, outcome);
                }
                ServerEvent::AuthSucceeded {
                    mechanism,
                    identity,
                    service,
                    ..
                } => {
                    eprintln!(
                        "auth: {service}: {mechanism} login ok: user=<{}>",
                        identity.authorized_user().escape_debug()
                    );
                }
                ServerEvent::AuthFailed {
                    mechanism, failure, ..
                } => {
                    let mech = mechanism.map(|m| m.name()).unwrap_or("-");
                    eprintln!("auth: {mech} login failed: {failure:?}");
                    delay |= failure.counts_as_attempt();
                }
                ServerEvent::ProtocolError(reason) => eprintln!("auth: client protocol error: {reason}"),
                other => eprintln!("auth: {other:?}"),
            }
        }
        if delay && !failure_delay.is_zero() {
            std::thread::sleep(failure_delay);
        }
        let out = server.take_output();
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return;
        }
        if server.is_closed() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => server.receive(&buf[..n]),
        }
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (backend, backend_name): (Arc<dyn CredentialBackend>, String) = match &options.backend {
        BackendChoice::PasswdFile(path) => match ReloadingPasswdFile::open(path) {
            Ok(b) => (Arc::new(b), path.display().to_string()),
            Err(e) => {
                eprintln!("dovecot-auth-server: {e}");
                return ExitCode::FAILURE;
            }
        },
        #[cfg(feature = "pam")]
        BackendChoice::Pam(service) => (
            Arc::new(mail_sasl::pam_backend::PamBackend::new(service.clone())),
            format!("PAM service {service}"),
        ),
        #[cfg(not(feature = "pam"))]
        BackendChoice::Pam(_) => {
            eprintln!("dovecot-auth-server: built without PAM support (cargo feature `pam`)");
            return ExitCode::FAILURE;
        }
    };
    // Offer what the password file can serve; the TLS rule is applied per
    // request (the `secured` flag), not to the advertised list.
    let policy = MechanismPolicy {
        enabled: options.mechanisms,
        noplaintext: false,
        tls_auth_only: false,
    };
    let offered = policy.offered(backend.capabilities(), true);
    if offered.is_empty() {
        eprintln!("dovecot-auth-server: none of the mechanisms can be served by {backend_name}");
        return ExitCode::FAILURE;
    }
    let _ = std::fs::remove_file(&options.socket);
    let listener = match UnixListener::bind(&options.socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dovecot-auth-server: bind {}: {e}", options.socket.display());
            return ExitCode::FAILURE;
        }
    };
    // Postfix's smtpd runs unprivileged: the socket must be connectable.
    if let Err(e) = std::fs::set_permissions(&options.socket, std::fs::Permissions::from_mode(0o666)) {
        eprintln!("dovecot-auth-server: chmod {}: {e}", options.socket.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "dovecot-auth-server: listening on {} offering {offered}",
        options.socket.display()
    );
    let mut connection_id = 0u32;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        connection_id = connection_id.wrapping_add(1);
        let mut config = ServerConfig::new(offered, options.hostname.clone(), rand::random());
        config.tls_auth_only = options.tls_auth_only;
        config.server_pid = std::process::id();
        config.connection_id = connection_id;
        let backend = Arc::clone(&backend);
        let delay = options.failure_delay;
        std::thread::spawn(move || serve(stream, config, backend.as_ref(), delay));
    }
    ExitCode::SUCCESS
}
