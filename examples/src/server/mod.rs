//! The reference server `mail-server`: configuration, bootstrap of the
//! embedded default, limits, PROXY protocol, and the helper subcommands
//! (`genkey`, `passwd`, `check-config`).

pub mod auth_server;
pub mod bootstrap;
pub mod config;
pub mod connection;
pub mod date;
pub mod imap;
pub mod limits;
pub mod pop3;
pub mod proxy;
pub mod runtime;
pub mod smtp;
pub mod spool;

pub use runtime::run;

use std::fmt::Write;

use config::{CleartextAuth, Config};

/// The effective listeners and policy, as `check-config` prints them.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "myhostname = {}", config.hostname());
    let _ = writeln!(out, "state_dir = {}", config.state_dir.display());
    let _ = writeln!(out, "mydestination = {}", config.mydestination.join(", "));
    let _ = writeln!(out, "relay_domains = {}", config.relay_domains.join(", "));
    let _ = writeln!(out, "mynetworks = {}", config.mynetworks.join(", "));
    let _ = writeln!(out, "message_size_limit = {}", config.message_size_limit);
    let _ = writeln!(out, "delivery = {}", config.delivery);
    let _ = writeln!(
        out,
        "auth: backend={} mechanisms={} realm={} failure_delay={}ms max_failures={}",
        config.auth.backend,
        config.auth.mechanisms.join(" "),
        config.digest_realm(),
        config.auth.failure_delay_ms,
        config.auth.max_failures_per_connection
    );
    let _ = writeln!(
        out,
        "limits: max_connections={} per_ip={} idle_timeout smtp={}s pop3={}s imap={}s",
        config.limits.max_connections,
        config.limits.max_connections_per_ip,
        config.limits.smtp_idle_timeout,
        config.limits.pop3_idle_timeout,
        config.limits.imap_idle_timeout
    );
    for l in &config.smtp {
        let profile = smtp::listener_name(l);
        let tls_auth_only = l.tls_auth_only || matches!(l.tls.as_str(), "encrypt" | "wrapper");
        let _ = writeln!(
            out,
            "smtp {} profile={profile} tls={} tls_auth_only={tls_auth_only} require_auth={} restrictions={} bare_newline={}{}",
            l.listen,
            l.tls,
            l.require_auth,
            l.recipient_restrictions.join(","),
            l.bare_newline,
            if l.proxy_protocol { " proxy_protocol" } else { "" }
        );
    }
    for (proto, listeners) in [("pop3", &config.pop3), ("imap", &config.imap)] {
        for l in listeners {
            let cleartext = match l.allow_cleartext_auth {
                CleartextAuth::Always => "allowed",
                CleartextAuth::Trusted => "mynetworks only",
                CleartextAuth::Never => "refused",
            };
            let _ = writeln!(
                out,
                "{proto} {} tls={} cleartext_auth={cleartext}{}",
                l.listen,
                l.tls,
                if l.proxy_protocol { " proxy_protocol" } else { "" }
            );
        }
    }
    out
}

/// Make a client-supplied string safe for a one-line log (no CR/LF/controls).
pub fn log_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}
