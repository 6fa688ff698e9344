//! A small blocking SMTP submission server built from `mail-smtp-submit`,
//! `mail-tls` and `mail-sasl`: one thread per connection, messages stored in
//! a Maildir (`tmp/` → fsync → `new/`) before the `250` is written.
//!
//! ```text
//! smtp-submit-demo --listen 127.0.0.1:2587 --profile submission \
//!     --passwd-file users --cert cert.pem --key key.pem --maildir ./Maildir \
//!     [--hostname mx.example.test] [--mydestination example.test,localhost] \
//!     [--mynetworks 127.0.0.0/8] [--mechanisms PLAIN,LOGIN,CRAM-MD5,DIGEST-MD5] \
//!     [--realm R] [--failure-delay-ms 2000] [--max-message-size N] [--bare-lf reject]
//! ```
//!
//! Logs go to stderr in Postfix's shape. The listening address is printed
//! on stdout (`listening on 127.0.0.1:2587`) once the socket is bound.

use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_sasl::passwd_file::PasswdFile;
use mail_sasl::{CredentialBackend, Mechanism, MechanismSet};
use mail_smtp_submit::{BareLf, ClientInfo, Config, Event, Profile, Reply, SmtpSession};
use mail_tls::{MailProtocol, Secured, SecuredEvent, ServerTls};

struct Options {
    listen: SocketAddr,
    profile: Profile,
    passwd_file: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    maildir: PathBuf,
    hostname: String,
    mydestination: Vec<String>,
    mynetworks: Vec<String>,
    mechanisms: Option<String>,
    realm: String,
    failure_delay_ms: u64,
    max_message_size: Option<u64>,
    bare_lf_reject: bool,
}

fn usage() -> &'static str {
    "usage: smtp-submit-demo --listen ADDR --profile mta|submission|submissions --maildir DIR \
     [--passwd-file F] [--cert F --key F] [--hostname H] [--mydestination a,b] [--mynetworks cidr,…] \
     [--mechanisms PLAIN,LOGIN,CRAM-MD5,DIGEST-MD5] [--realm R] [--failure-delay-ms N] \
     [--max-message-size N] [--bare-lf normalize|reject]"
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        listen: "127.0.0.1:2587".parse().map_err(|e| format!("{e}"))?,
        profile: Profile::Submission,
        passwd_file: None,
        cert: None,
        key: None,
        maildir: PathBuf::from("Maildir"),
        hostname: "localhost".into(),
        mydestination: vec!["localhost".into()],
        mynetworks: vec!["127.0.0.0/8".into(), "::1/128".into()],
        mechanisms: None,
        realm: String::new(),
        failure_delay_ms: 2000,
        max_message_size: None,
        bare_lf_reject: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        match flag.as_str() {
            "--listen" => o.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--profile" => {
                o.profile = match value()?.as_str() {
                    "mta" => Profile::Mta,
                    "submission" => Profile::Submission,
                    "submissions" => Profile::Submissions,
                    other => return Err(format!("unknown profile {other:?}\n{}", usage())),
                }
            }
            "--passwd-file" => o.passwd_file = Some(value()?.into()),
            "--cert" => o.cert = Some(value()?.into()),
            "--key" => o.key = Some(value()?.into()),
            "--maildir" => o.maildir = value()?.into(),
            "--hostname" => o.hostname = value()?,
            "--mydestination" => o.mydestination = split_list(&value()?),
            "--mynetworks" => o.mynetworks = split_list(&value()?),
            "--mechanisms" => o.mechanisms = Some(value()?),
            "--realm" => o.realm = value()?,
            "--failure-delay-ms" => {
                o.failure_delay_ms = value()?.parse().map_err(|e| format!("{flag}: {e}"))?
            }
            "--max-message-size" => {
                o.max_message_size = Some(value()?.parse().map_err(|e| format!("{flag}: {e}"))?)
            }
            "--bare-lf" => o.bare_lf_reject = value()? == "reject",
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    Ok(o)
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

struct Server {
    config: Arc<Config>,
    tls: Option<ServerTls>,
    backend: Option<Arc<PasswdFile>>,
    maildir: PathBuf,
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smtp-submit-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: Options) -> Result<(), String> {
    let tls = match (&o.cert, &o.key) {
        (Some(cert), Some(key)) => {
            Some(ServerTls::from_pem_files(cert, key, MailProtocol::Smtp).map_err(|e| e.to_string())?)
        }
        (None, None) => None,
        _ => return Err("--cert and --key go together".into()),
    };
    let backend = match &o.passwd_file {
        Some(path) => {
            let file = PasswdFile::load(path).map_err(|e| e.to_string())?;
            Some(Arc::new(if o.realm.is_empty() {
                file
            } else {
                file.with_realm(o.realm.clone())
            }))
        }
        None => None,
    };
    let mut config = Config::new(o.profile, o.hostname.clone());
    config.tls_available = tls.is_some();
    config.auth_backend = backend.as_ref().map(|b| b.capabilities());
    if let Some(list) = &o.mechanisms {
        let mut set = MechanismSet::empty();
        for name in split_list(list) {
            let m =
                Mechanism::from_name(name.as_bytes()).ok_or_else(|| format!("unknown mechanism {name}"))?;
            set = set.with(m);
        }
        config.mechanisms.enabled = set;
    }
    config.realm = o.realm.clone();
    config.auth_failures.delay = Duration::from_millis(o.failure_delay_ms);
    config.relay.mydestination = o.mydestination.clone();
    config.relay.mynetworks = o
        .mynetworks
        .iter()
        .map(|n| n.parse())
        .collect::<Result<_, _>>()
        .map_err(|e: mail_smtp_submit::SmtpError| e.to_string())?;
    config.received_auth_sender = true;
    if let Some(n) = o.max_message_size {
        config.max_message_size = n;
    }
    if o.bare_lf_reject {
        config.bare_lf = BareLf::Reject;
    }
    if config.tls == mail_smtp_submit::TlsMode::Implicit && tls.is_none() {
        return Err("profile submissions needs --cert and --key".into());
    }
    config.validate().map_err(|e| e.to_string())?;
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(o.maildir.join(sub))
            .map_err(|e| format!("creating {}: {e}", o.maildir.display()))?;
    }
    let listener = TcpListener::bind(o.listen).map_err(|e| format!("bind {}: {e}", o.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {local}");
    let _ = std::io::stdout().flush();
    let server = Arc::new(Server {
        config: Arc::new(config),
        tls,
        backend,
        maildir: o.maildir,
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let server = server.clone();
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            if let Err(e) = serve(&server, stream) {
                eprintln!("smtpd: lost connection from {peer}: {e}");
            }
        });
    }
    Ok(())
}

/// One message being written to `tmp/`.
struct Pending {
    id: String,
    path: PathBuf,
    file: File,
}

fn serve(server: &Server, stream: TcpStream) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    stream.set_write_timeout(Some(Duration::from_secs(300)))?;
    eprintln!("smtpd: connect from unknown[{}]", peer.ip());
    let mut session = SmtpSession::new(server.config.clone(), ClientInfo::new(peer.ip()));
    session.set_nonce_seed(rand::random());
    let secured = match (server.config.tls, &server.tls) {
        (mail_smtp_submit::TlsMode::Implicit, Some(tls)) => Secured::implicit(session, tls.clone()),
        (_, tls) => Secured::starttls(session, tls.clone()),
    };
    let mut message: Option<Pending> = None;
    let result = mail_tls::blocking::serve(stream, secured, |s: &mut SmtpSession, event| match event {
        SecuredEvent::TlsEstablished(info) => {
            eprintln!(
                "smtpd: TLS connection established from unknown[{}]: {info}",
                peer.ip()
            )
        }
        SecuredEvent::InjectionDiscarded { bytes } => {
            eprintln!(
                "smtpd: warning: unknown[{}]: {bytes} bytes of cleartext injection after STARTTLS discarded",
                peer.ip()
            )
        }
        SecuredEvent::Session(ev) => handle(server, s, ev, &mut message, peer),
    });
    if let Some(p) = message.take() {
        let _ = fs::remove_file(&p.path);
    }
    eprintln!("smtpd: disconnect from unknown[{}]", peer.ip());
    result
}

fn handle(server: &Server, s: &mut SmtpSession, ev: Event, message: &mut Option<Pending>, peer: SocketAddr) {
    let answered = match ev {
        Event::AuthVerify(request) => {
            let outcome = match &server.backend {
                Some(b) => b.verify(&request),
                None => mail_sasl::VerifyOutcome::Temporary,
            };
            s.auth_verified(outcome)
        }
        Event::AuthSucceeded { mechanism, identity } => {
            eprintln!(
                "smtpd: client=unknown[{}], sasl_method={mechanism}, sasl_username={}",
                peer.ip(),
                identity.authorized_user()
            );
            Ok(())
        }
        Event::AuthFailed { mechanism, failure } => {
            eprintln!(
                "smtpd: warning: unknown[{}]: SASL {mechanism} authentication failed: {failure:?}",
                peer.ip()
            );
            Ok(())
        }
        Event::Delay(d) => {
            std::thread::sleep(d);
            Ok(())
        }
        Event::Recipient => {
            let Some(rcpt) = s.pending_recipient().cloned() else {
                return;
            };
            let local_part = rcpt
                .address
                .rsplit_once('@')
                .map(|(l, _)| l)
                .unwrap_or(&rcpt.address);
            let known = !rcpt.local
                || server
                    .backend
                    .as_ref()
                    .is_none_or(|b| b.entry(local_part).is_some() || b.entry(&rcpt.address).is_some())
                || local_part.eq_ignore_ascii_case("postmaster");
            if known {
                s.accept_recipient()
            } else {
                s.reject_recipient(Reply::user_unknown(&rcpt.address))
            }
        }
        Event::MessageBegin => {
            let id = queue_id();
            let path = server.maildir.join("tmp").join(&id);
            match File::create(&path) {
                Ok(file) => {
                    *message = Some(Pending {
                        id: id.clone(),
                        path,
                        file,
                    });
                    s.message_begin(&id, &rfc5322_date(SystemTime::now()))
                }
                Err(e) => {
                    eprintln!("smtpd: error: creating {}: {e}", path.display());
                    s.shutdown();
                    Ok(())
                }
            }
        }
        Event::MessageChunk(bytes) => {
            if let Some(p) = message.as_mut() {
                if let Err(e) = p.file.write_all(&bytes) {
                    eprintln!("smtpd: error: writing {}: {e}", p.path.display());
                }
            }
            Ok(())
        }
        Event::MessageEnd => match message.take() {
            Some(p) => match store(server, &p) {
                Ok(()) => {
                    eprintln!(
                        "smtpd: {}: client=unknown[{}], from=<{}>, nrcpt={}",
                        p.id,
                        peer.ip(),
                        s.sender().unwrap_or(""),
                        s.recipients().len()
                    );
                    s.message_stored(&p.id)
                }
                Err(e) => {
                    eprintln!("smtpd: error: storing {}: {e}", p.id);
                    let _ = fs::remove_file(&p.path);
                    s.message_failed(Reply::queue_write_error())
                }
            },
            None => s.message_failed(Reply::queue_write_error()),
        },
        Event::MessageAborted => {
            if let Some(p) = message.take() {
                let _ = fs::remove_file(&p.path);
            }
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(e) = answered {
        eprintln!("smtpd: internal error: {e}");
    }
}

/// fsync the file, move it to `new/`, fsync the directory: only then is it ours.
fn store(server: &Server, p: &Pending) -> std::io::Result<()> {
    p.file.sync_all()?;
    let dest = server
        .maildir
        .join("new")
        .join(format!("{}.{}", p.id, "smtp-submit-demo"));
    fs::rename(&p.path, &dest)?;
    sync_dir(&server.maildir.join("new"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn queue_id() -> String {
    let n: u64 = rand::random();
    format!("{n:016X}")
}

/// `Sun, 22 Nov 2026 22:43:20 +0000` (UTC).
fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days.rem_euclid(7)) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_387_400);
        assert_eq!(rfc5322_date(t), "Sun, 22 Nov 2026 22:43:20 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
    }
}
