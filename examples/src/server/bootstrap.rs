//! The embedded default: run `mail-server` with no configuration and get a
//! working loopback installation in `./mail-data`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::config::{Config, ConfigError};

/// Ports of the embedded default, all on 127.0.0.1.
pub const DEFAULT_PORTS: [(&str, u16); 7] = [
    ("smtp", 2525),
    ("submission", 2587),
    ("submissions", 2465),
    ("pop3", 2110),
    ("pop3s", 2995),
    ("imap", 2143),
    ("imaps", 2993),
];

/// The system's host name (`/proc/sys/kernel/hostname`, `/etc/hostname`),
/// or `localhost`.
pub fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The embedded default configuration text for a state directory.
pub fn default_config_text(state_dir: &Path, hostname: &str) -> String {
    let ports = DEFAULT_PORTS.map(|(_, port)| port);
    format!(
        r#"myhostname = "{hostname}"
state_dir = "{state}"
mydestination = ["localhost"]

[tls]
cert_file = "{state}/certs/server.crt"
key_file = "{state}/certs/server.key"

[auth]
backend = "passwd-file"
passwd_file = "{state}/users"

{listeners}"#,
        state = state_dir.display(),
        listeners = listeners_toml(ports),
    )
}

/// The seven loopback listeners of the embedded default (`[[smtp]]` 25,
/// 587 and 465 profiles, `[[pop3]]` STLS and POP3S, `[[imap]]` STARTTLS
/// and IMAPS) on `ports`, in the order of [`DEFAULT_PORTS`].
pub fn listeners_toml(ports: [u16; 7]) -> String {
    format!(
        r#"[[smtp]]
listen = "127.0.0.1:{}"
tls = "may"

[[smtp]]
listen = "127.0.0.1:{}"
tls = "encrypt"
require_auth = true

[[smtp]]
listen = "127.0.0.1:{}"
tls = "wrapper"
require_auth = true

[[pop3]]
listen = "127.0.0.1:{}"
tls = "starttls"

[[pop3]]
listen = "127.0.0.1:{}"
tls = "wrapper"

[[imap]]
listen = "127.0.0.1:{}"
tls = "starttls"

[[imap]]
listen = "127.0.0.1:{}"
tls = "wrapper"
"#,
        ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6],
    )
}

/// What the first start created (printed once).
#[derive(Debug, Default)]
pub struct FirstStart {
    /// The generated password of user `demo`, when the user was created now.
    pub demo_password: Option<String>,
    /// The certificate, when it was created now.
    pub created_certificate: Option<PathBuf>,
}

/// Build the embedded default under `state_dir`: create the directory, a
/// self-signed certificate and the `demo` user when missing.
pub fn embedded_default(state_dir: &Path) -> Result<(Config, FirstStart), ConfigError> {
    let state_dir = if state_dir.is_relative() {
        std::env::current_dir()
            .map_err(|e| ConfigError(format!("state_dir: cannot resolve the current directory: {e}")))?
            .join(state_dir)
    } else {
        state_dir.to_owned()
    };
    let hostname = system_hostname();
    let io = |what: &str, e: std::io::Error| ConfigError(format!("state_dir: {what}: {e}"));
    std::fs::create_dir_all(state_dir.join("certs")).map_err(|e| io("cannot create certs directory", e))?;
    let mut first = FirstStart::default();

    let cert = state_dir.join("certs/server.crt");
    if !cert.exists() {
        let names = vec![hostname.clone(), "localhost".to_owned(), "127.0.0.1".to_owned()];
        let generated = mail_tls::self_signed(&names, 365)
            .map_err(|e| ConfigError(format!("tls: cannot create a self-signed certificate: {e}")))?;
        generated
            .write_to(state_dir.join("certs"), "server")
            .map_err(|e| ConfigError(format!("tls: cannot write the certificate: {e}")))?;
        first.created_certificate = Some(cert);
    }

    let users = state_dir.join("users");
    if !users.exists() {
        let password = random_password();
        let line = mail_sasl::passwd_file::hash_password(
            mail_sasl::passwd_file::Scheme::Sha512Crypt,
            "demo",
            &password,
            &hostname,
        )
        .map_err(|e| ConfigError(format!("auth.passwd_file: cannot hash the demo password: {e}")))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&users)
            .map_err(|e| io("cannot create the users file", e))?;
        writeln!(file, "demo:{line}").map_err(|e| io("cannot write the users file", e))?;
        file.sync_all().map_err(|e| io("cannot sync the users file", e))?;
        first.demo_password = Some(password);
    }

    let config = Config::parse(&default_config_text(&state_dir, &hostname), &state_dir)?;
    Ok((config, first))
}

/// 16 characters from an unambiguous alphabet (~90 bits), from the OS RNG.
pub fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_listens_on_loopback_high_ports() {
        let text = default_config_text(Path::new("/tmp/x"), "host.test");
        let config = Config::parse(&text, Path::new("/tmp/x")).unwrap();
        assert_eq!(config.smtp.len() + config.pop3.len() + config.imap.len(), 7);
        for listen in config
            .smtp
            .iter()
            .map(|l| &l.listen)
            .chain(config.pop3.iter().map(|l| &l.listen))
        {
            assert!(listen.starts_with("127.0.0.1:2"), "{listen}");
        }
        assert_eq!(config.smtp[1].tls, "encrypt");
        assert!(config.smtp[1].require_auth);
    }

    #[test]
    fn passwords_are_random() {
        let a = random_password();
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_password());
    }
}
