//! The command line and accept loop shared by the small blocking example
//! servers `pop3-demo` and `imap-demo` (std::net, one thread per
//! connection, `mail_tls::blocking::serve`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mail_sasl::passwd_file::PasswdFile;
use mail_sasl::{CredentialBackend, Mechanism, MechanismSet, StoredSecret, VerifyOutcome, VerifyRequest};
use mail_tls::{MailProtocol, ServerTls};

use crate::imap_store::ImapStore;
use crate::maildir::Maildir;

/// How a demo listener uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// STLS / STARTTLS offered.
    StartTls,
    /// Implicit TLS (POP3S, IMAPS).
    Wrapper,
    /// Cleartext only.
    None,
}

/// What a demo server was started with.
pub struct DemoSettings {
    /// The program name, prefixing its log lines.
    pub name: String,
    /// TLS mode.
    pub tls_mode: TlsMode,
    /// The certificate, unless `--tls none`.
    pub tls: Option<ServerTls>,
    /// Users and passwords.
    pub backend: Arc<PasswdFile>,
    /// Maildirs live in `<root>/<user>`.
    pub maildir_root: PathBuf,
    /// `--allow-cleartext-auth`.
    pub allow_cleartext: bool,
    /// `--apop` (POP3 only).
    pub apop: bool,
    /// `--mechanisms`.
    pub mechanisms: MechanismSet,
    /// `--hostname`.
    pub hostname: String,
    /// `--realm` (DIGEST-MD5).
    pub realm: String,
    /// `--failure-delay-ms`.
    pub failure_delay: Duration,
}

fn usage(name: &str, pop3: bool, msg: &str) -> ExitCode {
    eprintln!("{name}: {msg}");
    let extra = if pop3 { " [--apop] [--realm REALM]" } else { "" };
    eprintln!(
        "usage: {name} --listen ADDR --tls starttls|wrapper|none --passwd-file FILE --maildir-root DIR \
         [--cert FILE --key FILE] [--allow-cleartext-auth] [--mechanisms LIST] [--hostname NAME] \
         [--failure-delay-ms N]{extra}"
    );
    ExitCode::from(2)
}

/// Parse the command line of demo `name` speaking `protocol`; on error the
/// usage is printed and the exit code returned.
pub fn parse_args(
    name: &str,
    protocol: MailProtocol,
    default_listen: &str,
    args: impl IntoIterator<Item = String>,
) -> Result<(String, DemoSettings), ExitCode> {
    let pop3 = protocol == MailProtocol::Pop3;
    let usage = |msg: &str| usage(name, pop3, msg);
    let mut listen = default_listen.to_string();
    let mut tls_mode = TlsMode::StartTls;
    let (mut passwd, mut cert, mut key, mut root) = (None, None, None, None);
    let (mut allow_cleartext, mut apop) = (false, false);
    let mut mechanisms = MechanismSet::from_slice(&[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]);
    let mut hostname = "localhost".to_string();
    let mut realm = String::new();
    let mut failure_delay = Duration::from_secs(2);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--allow-cleartext-auth" => {
                allow_cleartext = true;
                continue;
            }
            "--apop" if pop3 => {
                apop = true;
                continue;
            }
            _ => {}
        }
        let Some(value) = args.next() else {
            return Err(usage(&format!("{arg} needs a value")));
        };
        match arg.as_str() {
            "--listen" => listen = value,
            "--tls" => {
                tls_mode = match value.as_str() {
                    "starttls" => TlsMode::StartTls,
                    "wrapper" => TlsMode::Wrapper,
                    "none" => TlsMode::None,
                    _ => return Err(usage("--tls is starttls, wrapper or none")),
                }
            }
            "--passwd-file" => passwd = Some(value),
            "--cert" => cert = Some(value),
            "--key" => key = Some(value),
            "--maildir-root" => root = Some(PathBuf::from(value)),
            "--hostname" => hostname = value,
            "--realm" if pop3 => realm = value,
            "--failure-delay-ms" => match value.parse() {
                Ok(ms) => failure_delay = Duration::from_millis(ms),
                Err(_) => return Err(usage("--failure-delay-ms needs a number")),
            },
            "--mechanisms" => {
                let mut set = MechanismSet::empty();
                for m in value.split([' ', ',']).filter(|s| !s.is_empty()) {
                    match Mechanism::from_name(m.as_bytes()) {
                        Some(m) => set = set.with(m),
                        None => return Err(usage(&format!("unknown mechanism {m}"))),
                    }
                }
                mechanisms = set;
            }
            _ => return Err(usage(&format!("unknown option {arg}"))),
        }
    }
    let Some(passwd) = passwd else {
        return Err(usage("--passwd-file is required"));
    };
    let Some(maildir_root) = root else {
        return Err(usage("--maildir-root is required"));
    };
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("{name}: {e}");
        ExitCode::FAILURE
    };
    let backend = Arc::new(PasswdFile::load(&passwd).map_err(|e| fail(&e))?);
    let tls = match (tls_mode, cert, key) {
        (TlsMode::None, _, _) => None,
        (_, Some(c), Some(k)) => Some(ServerTls::from_pem_files(&c, &k, protocol).map_err(|e| fail(&e))?),
        _ => return Err(usage("--tls starttls|wrapper needs --cert and --key")),
    };
    let settings = DemoSettings {
        name: name.to_owned(),
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
    };
    Ok((listen, settings))
}

/// Bind `listen`, print `<name> listening on ADDR`, and serve every
/// connection on its own thread with `connection`.
pub fn serve_forever(
    name: &str,
    listen: &str,
    settings: DemoSettings,
    connection: fn(TcpStream, &DemoSettings) -> std::io::Result<()>,
) -> ExitCode {
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{name}: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{name} listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let settings = Arc::new(settings);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let settings = Arc::clone(&settings);
        let name = name.to_owned();
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            eprintln!("{name}: connect from {peer}");
            if let Err(e) = connection(stream, &settings) {
                eprintln!("{name}: {peer}: {e}");
            }
            eprintln!("{name}: disconnect from {peer}");
        });
    }
    ExitCode::SUCCESS
}

impl crate::pop3_maildrop::Pop3Host for DemoSettings {
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
        eprintln!("{}: {message}", self.name);
    }
}

impl crate::imap_mailbox::ImapHost for DemoSettings {
    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        self.backend.verify(request)
    }

    fn store(&self, user: &str) -> std::io::Result<ImapStore> {
        ImapStore::for_user(&self.maildir_root, user)
    }

    fn warn(&self, message: &str) {
        eprintln!("{}: {message}", self.name);
    }
}
