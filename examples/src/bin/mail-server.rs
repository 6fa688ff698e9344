//! `mail-server`: the reference server composed from the mailcrates.
//!
//! ```text
//! mail-server                                   # embedded default in ./mail-data
//! mail-server --config mail.toml
//! mail-server genkey [--days 365] [--out-dir DIR] HOSTNAME
//! mail-server passwd [--scheme SHA512-CRYPT|ARGON2ID|CRAM-MD5|DIGEST-MD5|PLAIN] USER   # password on stdin
//! mail-server check-config --config mail.toml
//! ```
//! Exit codes: 0 clean shutdown, 1 bad configuration, 2 a listener could not bind.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mail_examples::server::bootstrap;
use mail_examples::server::config::Config;

#[derive(Parser)]
#[command(
    name = "mail-server",
    version,
    about = "SMTP submission, POP3 and IMAP with TLS and SASL"
)]
struct Cli {
    /// Configuration file (TOML). Without it: the embedded default in ./mail-data.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a self-signed certificate and key (key mode 0600).
    Genkey {
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Directory to write HOSTNAME.crt and HOSTNAME.key into.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// Host name (and subject alternative name).
        hostname: String,
        /// More names or IP addresses for the certificate.
        #[arg(long = "san")]
        extra_names: Vec<String>,
    },
    /// Print a passwd-file line for USER; the password is read from stdin.
    Passwd {
        /// Scheme: SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, ARGON2ID, CRAM-MD5, DIGEST-MD5, PLAIN.
        #[arg(long, default_value = "SHA512-CRYPT")]
        scheme: String,
        /// DIGEST-MD5 realm (H(A1) depends on it). Default: the realm the
        /// server checks with: `[auth] realm` (else `myhostname`) of
        /// `--config FILE`, else the system host name (the embedded
        /// default's); for USER@DOMAIN, DOMAIN (Dovecot's convention).
        #[arg(long)]
        realm: Option<String>,
        /// User name.
        user: String,
    },
    /// Validate the configuration and print the effective listeners and policy.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Genkey {
            days,
            out_dir,
            hostname,
            extra_names,
        }) => genkey(days, &out_dir, hostname, extra_names),
        Some(Command::Passwd { scheme, realm, user }) => passwd(&scheme, realm, &user, cli.config),
        Some(Command::CheckConfig) => check_config(cli.config),
        None => run(cli.config),
    }
}

fn genkey(days: u32, out_dir: &std::path::Path, hostname: String, extra: Vec<String>) -> ExitCode {
    let mut names = vec![hostname.clone()];
    names.extend(extra);
    let generated = match mail_tls::self_signed(&names, days) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("mail-server genkey: {e}");
            return ExitCode::from(1);
        }
    };
    match generated.write_to(out_dir, &hostname) {
        Ok((cert, key)) => {
            println!("certificate: {}", cert.display());
            println!("private key: {} (mode 0600)", key.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mail-server genkey: {e}");
            ExitCode::from(1)
        }
    }
}

fn passwd(scheme: &str, realm: Option<String>, user: &str, config: Option<PathBuf>) -> ExitCode {
    use mail_sasl::passwd_file::Scheme;
    let scheme: Scheme = match scheme.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mail-server passwd: {e}");
            return ExitCode::from(1);
        }
    };
    // Only DIGEST-MD5 hashes depend on the realm: the other schemes need no
    // configuration. The server checks a password against the hash of a
    // user without '@' with its realm, and `user@domain` as user:domain
    // (Dovecot's convention, what `hash_password` does with realm "").
    let realm = match (realm, scheme) {
        (Some(realm), _) => realm,
        (None, Scheme::DigestMd5) if !user.contains('@') => match server_realm(config) {
            Ok(realm) => realm,
            Err(e) => {
                eprintln!("mail-server passwd: configuration error: {e}");
                return ExitCode::from(1);
            }
        },
        (None, _) => String::new(),
    };
    let mut password = String::new();
    if std::io::stdin().lock().read_line(&mut password).is_err() {
        eprintln!("mail-server passwd: cannot read the password from stdin");
        return ExitCode::from(1);
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("mail-server passwd: empty password on stdin");
        return ExitCode::from(1);
    }
    match mail_sasl::passwd_file::hash_password(scheme, user, password, &realm) {
        Ok(hash) => {
            println!("{user}:{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mail-server passwd: {e}");
            ExitCode::from(1)
        }
    }
}

/// The DIGEST-MD5 realm the server would check with: that of `config`, or
/// of the embedded default (whose `myhostname` is the system host name).
fn server_realm(config: Option<PathBuf>) -> Result<String, mail_examples::server::config::ConfigError> {
    let config = match config {
        Some(path) => Config::load(&path)?,
        None => {
            let state_dir = std::path::Path::new("mail-data");
            let text = bootstrap::default_config_text(state_dir, &bootstrap::system_hostname());
            Config::parse(&text, state_dir)?
        }
    };
    Ok(config.digest_realm())
}

fn load(config: Option<PathBuf>) -> Result<(Config, bootstrap::FirstStart), ExitCode> {
    let result = match config {
        Some(path) => Config::load(&path).map(|c| (c, bootstrap::FirstStart::default())),
        None => bootstrap::embedded_default(std::path::Path::new("mail-data")),
    };
    result.map_err(|e| {
        eprintln!("mail-server: configuration error: {e}");
        ExitCode::from(1)
    })
}

fn check_config(config: Option<PathBuf>) -> ExitCode {
    let Some(path) = config else {
        eprintln!("mail-server check-config: --config FILE is required");
        return ExitCode::from(1);
    };
    let config = match load(Some(path)) {
        Ok((c, _)) => c,
        Err(code) => return code,
    };
    // The same checks as the start (certificate, key permissions, passwd
    // file, backend, socket owner), without binding or creating anything.
    if let Err(e) = mail_examples::server::runtime::check(&config) {
        eprintln!("mail-server: configuration error: {e}");
        return ExitCode::from(1);
    }
    print!("{}", mail_examples::server::describe(&config));
    ExitCode::SUCCESS
}

fn run(config: Option<PathBuf>) -> ExitCode {
    let (config, first) = match load(config) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(cert) = &first.created_certificate {
        eprintln!(
            "mail-server: created a self-signed certificate {}",
            cert.display()
        );
    }
    if let Some(password) = &first.demo_password {
        println!("mail-server: created user `demo` with password {password} (printed once; stored hashed)");
    }
    mail_examples::server::run(config)
}
