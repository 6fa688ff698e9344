//! `mail_smtp_submit::parse` and `address`: any line parses without a panic;
//! arguments borrow from the line; address parsing of MAIL/RCPT paths and
//! the relay policy never panic, and a routed address is never a local or
//! relay destination.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_smtp_submit::address::parse_mailbox;
use mail_smtp_submit::parse::{params, parse_command, Command};
use mail_smtp_submit::policy::{self, ClientState, Destination, RelayPolicy};

fuzz_target!(|line: &[u8]| {
    let Ok(cmd) = parse_command(line) else { return };
    let within = |s: &[u8]| {
        let (a, b) = (line.as_ptr() as usize, s.as_ptr() as usize);
        s.is_empty() || (b >= a && b + s.len() <= a + line.len())
    };
    if let Command::Mail { path, params: p } | Command::Rcpt { path, params: p } = cmd {
        assert!(within(path) && within(p));
        for (k, v) in params(p) {
            assert!(!k.contains(&b' ') && v.is_none_or(|v| !v.contains(&b' ')));
        }
        if let Ok(path) = std::str::from_utf8(path) {
            if let Ok(m) = parse_mailbox(path) {
                let relay = RelayPolicy {
                    mydestination: vec!["example.org".into()],
                    relay_domains: vec!["relay.test".into()],
                    ..RelayPolicy::default()
                };
                if m.routed {
                    assert_eq!(policy::destination(&relay, &m), Destination::Remote);
                }
                let outsider = ClientState {
                    addr: "203.0.113.9".parse().unwrap(),
                    login: None,
                    tls: false,
                };
                let _ = policy::check_recipient(&relay, &outsider, "", path);
                let _ = policy::check_sender(&relay, &outsider, path);
            }
        }
    }
});
