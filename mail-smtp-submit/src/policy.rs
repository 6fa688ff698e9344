//! Relay policy: a pure function of who the client is and where mail goes,
//! in the shape of Postfix's restriction lists.
//!
//! ```
//! use mail_smtp_submit::policy::{check_recipient, ClientState, RelayPolicy, Verdict};
//!
//! let mut policy = RelayPolicy::default();
//! policy.mynetworks = vec!["192.0.2.0/24".parse().unwrap()];
//! policy.mydestination = vec!["example.org".into()];
//! let outsider = ClientState { addr: "198.51.100.7".parse().unwrap(), login: None, tls: false };
//! // Mail to a local domain is accepted from anyone …
//! assert_eq!(check_recipient(&policy, &outsider, "x@y.test", "ned@example.org"), Verdict::Permit);
//! // … but relaying is not.
//! assert_eq!(
//!     check_recipient(&policy, &outsider, "x@y.test", "victim@elsewhere.test").reply_text(),
//!     Some("554 5.7.1 <victim@elsewhere.test>: Relay access denied".to_owned())
//! );
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use crate::address::{parse_mailbox, Mailbox};
use crate::parse::eq_fold_runtime;
use crate::{Reply, SmtpError};

/// An IP network (`mynetworks` entry): `192.0.2.0/24`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = SmtpError;
    fn from_str(s: &str) -> Result<Self, SmtpError> {
        let err = || SmtpError::InvalidNetwork(s.to_owned());
        let t = s.trim().trim_start_matches('[');
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a.trim_end_matches(']'), Some(p.parse::<u8>().map_err(|_| err())?)),
            None => (t.trim_end_matches(']'), None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| err())?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One entry of a restriction list (Postfix names). Lists are evaluated in
/// order; the first `permit…` or `reject…` that applies decides; a list that
/// runs out permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// `permit_mynetworks`: the client address is in `mynetworks`.
    PermitMynetworks,
    /// `permit_sasl_authenticated`: the client has authenticated.
    PermitSaslAuthenticated,
    /// `reject_unauth_destination`: reject unless the recipient domain is in
    /// `mydestination` or `relay_domains` (and the address carries no
    /// sender-specified routing).
    RejectUnauthDestination,
    /// `reject_sender_login_mismatch`: the envelope sender must be owned by
    /// the login (see [`SenderOwnership`]); unauthenticated clients may not
    /// use a local sender address.
    RejectSenderLoginMismatch,
    /// `permit`.
    Permit,
    /// `reject`.
    Reject,
}

/// `(login, sender) -> owned`.
pub type OwnerCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// How `reject_sender_login_mismatch` decides that a login owns a sender address.
#[derive(Clone, Default)]
pub enum SenderOwnership {
    /// The sender must be the login itself, or `login@d` with `d` in `mydestination`
    /// (case-insensitive).
    #[default]
    LoginLocalPart,
    /// A caller-provided check `(login, sender) -> owned` (Postfix `smtpd_sender_login_maps`).
    Check(OwnerCheck),
}

impl fmt::Debug for SenderOwnership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SenderOwnership::LoginLocalPart => f.write_str("LoginLocalPart"),
            SenderOwnership::Check(_) => f.write_str("Check(..)"),
        }
    }
}

/// The relay configuration (Postfix `main.cf` names).
#[derive(Debug, Clone)]
pub struct RelayPolicy {
    /// Trusted client networks (`mynetworks`).
    pub mynetworks: Vec<Cidr>,
    /// Domains delivered locally (`mydestination`), matched exactly, case-insensitively.
    pub mydestination: Vec<String>,
    /// Domains relayed for anyone (`relay_domains`): `example.org` matches the
    /// domain and its subdomains (Postfix `parent_domain_matches_subdomains`),
    /// `.example.org` only subdomains.
    pub relay_domains: Vec<String>,
    /// Addresses whose `[literal]` domain is local (the server's own addresses).
    pub local_address_literals: Vec<IpAddr>,
    /// Checked at `MAIL FROM` (`smtpd_sender_restrictions`).
    pub sender_restrictions: Vec<Restriction>,
    /// Checked at `RCPT TO` (`smtpd_relay_restrictions` + `smtpd_recipient_restrictions`).
    pub recipient_restrictions: Vec<Restriction>,
    /// Ownership rule for [`Restriction::RejectSenderLoginMismatch`].
    pub sender_ownership: SenderOwnership,
}

impl Default for RelayPolicy {
    /// Postfix's defaults: `mynetworks = 127.0.0.0/8 [::1]/128`,
    /// `permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination`.
    fn default() -> Self {
        RelayPolicy {
            mynetworks: vec![
                Cidr {
                    addr: IpAddr::V4([127, 0, 0, 0].into()),
                    prefix: 8,
                },
                Cidr {
                    addr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
            ],
            mydestination: Vec::new(),
            relay_domains: Vec::new(),
            local_address_literals: Vec::new(),
            sender_restrictions: Vec::new(),
            recipient_restrictions: vec![
                Restriction::PermitMynetworks,
                Restriction::PermitSaslAuthenticated,
                Restriction::RejectUnauthDestination,
            ],
            sender_ownership: SenderOwnership::default(),
        }
    }
}

/// What the policy knows about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientState<'a> {
    /// The client's address.
    pub addr: IpAddr,
    /// The SASL login (authorization identity), if authenticated.
    pub login: Option<&'a str>,
    /// Whether the channel is TLS.
    pub tls: bool,
}

/// A policy decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (for a recipient: hand it to the caller's recipient check).
    Permit,
    /// Refuse with this reply.
    Reject(Reply),
}

impl Verdict {
    /// The full reply line of a rejection (`554 5.7.1 …`), for tests and logs.
    pub fn reply_text(&self) -> Option<String> {
        match self {
            Verdict::Permit => None,
            Verdict::Reject(r) => Some(r.to_string()),
        }
    }
}

/// Where an address goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A `mydestination` domain, a local address literal, or an unqualified address.
    Local,
    /// A `relay_domains` domain.
    RelayDomain,
    /// Anywhere else — including any address with sender-specified routing.
    Remote,
}

#[inline]
fn eq_domain(a: &str, b: &str) -> bool {
    eq_fold_runtime(a.as_bytes(), b.strip_suffix('.').unwrap_or(b).as_bytes())
}

#[inline]
fn is_local_domain(policy: &RelayPolicy, domain: &str) -> bool {
    policy.mydestination.iter().any(|d| eq_domain(domain, d))
}

fn is_relay_domain(policy: &RelayPolicy, domain: &str) -> bool {
    policy.relay_domains.iter().any(|entry| {
        let entry = entry.strip_suffix('.').unwrap_or(entry);
        let (parent, subdomains_only) = match entry.strip_prefix('.') {
            Some(p) => (p, true),
            None => (entry, false),
        };
        if !subdomains_only && domain.eq_ignore_ascii_case(parent) {
            return true;
        }
        domain.len() > parent.len() + 1
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
            && domain[domain.len() - parent.len()..].eq_ignore_ascii_case(parent)
    })
}

/// Classify a parsed address.
#[inline]
pub fn destination(policy: &RelayPolicy, mailbox: &Mailbox<'_>) -> Destination {
    if mailbox.routed {
        return Destination::Remote;
    }
    match (mailbox.domain, mailbox.literal) {
        (None, _) => Destination::Local,
        (Some(_), Some(ip)) => {
            if policy
                .local_address_literals
                .iter()
                .any(|a| canonical(*a) == canonical(ip))
            {
                Destination::Local
            } else {
                Destination::Remote
            }
        }
        (Some(d), None) if is_local_domain(policy, d) => Destination::Local,
        (Some(d), None) if is_relay_domain(policy, d) => Destination::RelayDomain,
        _ => Destination::Remote,
    }
}

fn in_mynetworks(policy: &RelayPolicy, ip: IpAddr) -> bool {
    policy.mynetworks.iter().any(|n| n.contains(ip))
}

fn sender_owned(policy: &RelayPolicy, login: &str, sender: &str) -> bool {
    match &policy.sender_ownership {
        SenderOwnership::Check(f) => f(login, sender),
        SenderOwnership::LoginLocalPart => {
            if sender.eq_ignore_ascii_case(login) {
                return true;
            }
            match parse_mailbox(sender) {
                Ok(m) if !m.routed => match m.domain {
                    Some(d) => m.local.eq_ignore_ascii_case(login) && is_local_domain(policy, d),
                    None => m.local.eq_ignore_ascii_case(login),
                },
                _ => false,
            }
        }
    }
}

/// `reject_sender_login_mismatch` on its own.
fn login_mismatch(policy: &RelayPolicy, client: &ClientState<'_>, sender: &str) -> Option<Reply> {
    if sender.is_empty() {
        return None;
    }
    match client.login {
        Some(login) if !sender_owned(policy, login, sender) => Some(Reply::new(
            553,
            format!("5.7.1 <{sender}>: Sender address rejected: not owned by user {login}"),
        )),
        Some(_) => None,
        None => match parse_mailbox(sender) {
            Ok(m) if destination(policy, &m) == Destination::Local => Some(Reply::new(
                553,
                format!("5.7.1 <{sender}>: Sender address rejected: not logged in"),
            )),
            _ => None,
        },
    }
}

#[derive(Clone, Copy)]
enum Subject<'a> {
    Sender(&'a str),
    /// The recipient and, if already known, its destination.
    Recipient(&'a str, Option<Destination>),
}

/// `trusted`: whether the client is in `mynetworks`, if already known.
#[inline]
fn evaluate(
    policy: &RelayPolicy,
    list: &[Restriction],
    client: &ClientState<'_>,
    trusted: Option<bool>,
    sender: &str,
    subject: Subject<'_>,
) -> Verdict {
    for r in list {
        match r {
            Restriction::PermitMynetworks
                if trusted.unwrap_or_else(|| in_mynetworks(policy, client.addr)) =>
            {
                return Verdict::Permit
            }
            Restriction::PermitSaslAuthenticated if client.login.is_some() => return Verdict::Permit,
            Restriction::RejectUnauthDestination => {
                if let Subject::Recipient(rcpt, dest) = subject {
                    let authorized = match dest {
                        Some(d) => d != Destination::Remote,
                        None => match parse_mailbox(rcpt) {
                            Ok(m) => destination(policy, &m) != Destination::Remote,
                            Err(_) => false,
                        },
                    };
                    if !authorized {
                        return Verdict::Reject(Reply::new(
                            554,
                            format!("5.7.1 <{rcpt}>: Relay access denied"),
                        ));
                    }
                }
            }
            Restriction::RejectSenderLoginMismatch => {
                if let Some(reply) = login_mismatch(policy, client, sender) {
                    return Verdict::Reject(reply);
                }
            }
            Restriction::Permit => return Verdict::Permit,
            Restriction::Reject => {
                return Verdict::Reject(match subject {
                    Subject::Recipient(r, _) => Reply::new(
                        554,
                        format!("5.7.1 <{r}>: Recipient address rejected: Access denied"),
                    ),
                    Subject::Sender(s) => Reply::new(
                        554,
                        format!("5.7.1 <{s}>: Sender address rejected: Access denied"),
                    ),
                })
            }
            _ => {}
        }
    }
    Verdict::Permit
}

/// Evaluate `sender_restrictions` at `MAIL FROM` (`sender` without brackets, empty for `<>`).
pub fn check_sender(policy: &RelayPolicy, client: &ClientState<'_>, sender: &str) -> Verdict {
    evaluate(
        policy,
        &policy.sender_restrictions,
        client,
        None,
        sender,
        Subject::Sender(sender),
    )
}

/// Evaluate `recipient_restrictions` at `RCPT TO` (addresses without brackets).
pub fn check_recipient(
    policy: &RelayPolicy,
    client: &ClientState<'_>,
    sender: &str,
    recipient: &str,
) -> Verdict {
    evaluate(
        policy,
        &policy.recipient_restrictions,
        client,
        None,
        sender,
        Subject::Recipient(recipient, None),
    )
}

/// [`check_recipient`] for an address already parsed (`recipient` is the
/// path as sent, `mailbox` its parse): the session's hot path.
pub fn check_parsed_recipient(
    policy: &RelayPolicy,
    client: &ClientState<'_>,
    sender: &str,
    recipient: &str,
    mailbox: &Mailbox<'_>,
) -> (Verdict, Destination) {
    check_parsed_recipient_with(policy, client, None, sender, recipient, mailbox)
}

/// [`check_parsed_recipient`] with the `mynetworks` membership of the
/// client already known (the session computes it once per connection).
#[inline]
pub(crate) fn check_parsed_recipient_with(
    policy: &RelayPolicy,
    client: &ClientState<'_>,
    trusted: Option<bool>,
    sender: &str,
    recipient: &str,
    mailbox: &Mailbox<'_>,
) -> (Verdict, Destination) {
    let dest = destination(policy, mailbox);
    let verdict = evaluate(
        policy,
        &policy.recipient_restrictions,
        client,
        trusted,
        sender,
        Subject::Recipient(recipient, Some(dest)),
    );
    (verdict, dest)
}

/// Whether `addr` is in `mynetworks` (`permit_mynetworks`).
pub(crate) fn is_trusted(policy: &RelayPolicy, addr: IpAddr) -> bool {
    in_mynetworks(policy, addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RelayPolicy {
        RelayPolicy {
            mynetworks: vec!["127.0.0.0/8".parse().unwrap(), "192.168.1.0/24".parse().unwrap()],
            mydestination: vec!["example.org".into(), "mail.example.org".into()],
            relay_domains: vec!["relay.test".into(), ".sub.test".into()],
            local_address_literals: vec!["192.0.2.25".parse().unwrap()],
            ..RelayPolicy::default()
        }
    }

    fn client(ip: &str, login: Option<&'static str>, tls: bool) -> ClientState<'static> {
        ClientState {
            addr: ip.parse().unwrap(),
            login,
            tls,
        }
    }

    const DENIED: &str = "Relay access denied";

    #[test]
    fn cidr_matching() {
        let n: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!("0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!("[::1]/128".parse::<Cidr>().unwrap().to_string(), "::1/128");
    }

    /// Table: (client ip, login, recipient, expected rejection substring or None).
    #[test]
    fn relay_table() {
        let p = policy();
        let table: &[(&str, Option<&'static str>, &str, Option<&str>)] = &[
            // outsiders: local and relay domains only
            ("203.0.113.9", None, "ned@example.org", None),
            ("203.0.113.9", None, "NED@EXAMPLE.ORG", None),
            ("203.0.113.9", None, "ned@Mail.Example.Org.", None),
            ("203.0.113.9", None, "postmaster", None),
            ("203.0.113.9", None, "x@relay.test", None),
            ("203.0.113.9", None, "x@deep.relay.test", None),
            ("203.0.113.9", None, "x@a.sub.test", None),
            ("203.0.113.9", None, "x@sub.test", Some(DENIED)),
            ("203.0.113.9", None, "x@notrelay.test", Some(DENIED)),
            ("203.0.113.9", None, "x@elsewhere.test", Some(DENIED)),
            ("203.0.113.9", None, "x@example.org.evil.test", Some(DENIED)),
            ("203.0.113.9", None, "x@evilexample.org", Some(DENIED)),
            ("203.0.113.9", None, "x@elsewhere.test.", Some(DENIED)),
            // classic relay tricks
            ("203.0.113.9", None, "x%elsewhere.test@example.org", Some(DENIED)),
            ("203.0.113.9", None, "elsewhere.test!x@example.org", Some(DENIED)),
            (
                "203.0.113.9",
                None,
                "\"x@elsewhere.test\"@example.org",
                Some(DENIED),
            ),
            (
                "203.0.113.9",
                None,
                "\"x%elsewhere.test\"@example.org",
                Some(DENIED),
            ),
            ("203.0.113.9", None, "@example.org:x@elsewhere.test", Some(DENIED)),
            ("203.0.113.9", None, "@elsewhere.test:x@example.org", Some(DENIED)),
            ("203.0.113.9", None, "x@elsewhere.test@example.org", Some(DENIED)),
            ("203.0.113.9", None, "x@[203.0.113.50]", Some(DENIED)),
            ("203.0.113.9", None, "x@[192.0.2.25]", None),
            ("203.0.113.9", None, "x@example.org..", Some(DENIED)),
            // trusted network and authenticated clients relay
            ("192.168.1.77", None, "x@elsewhere.test", None),
            ("127.0.0.1", None, "x@elsewhere.test", None),
            ("::ffff:192.168.1.5", None, "x@elsewhere.test", None),
            ("192.168.2.1", None, "x@elsewhere.test", Some(DENIED)),
            ("203.0.113.9", Some("ned"), "x@elsewhere.test", None),
        ];
        for (ip, login, rcpt, expect) in table {
            let v = check_recipient(&p, &client(ip, *login, true), "s@x.test", rcpt);
            match (expect, v.reply_text()) {
                (None, None) => {}
                (Some(want), Some(got)) => {
                    assert!(got.contains(want), "{ip} {login:?} {rcpt}: {got}");
                    assert!(got.starts_with("554 5.7.1 <"), "{got}");
                }
                (want, got) => panic!("{ip} {login:?} {rcpt}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn explicit_permit_and_reject() {
        let mut p = policy();
        p.recipient_restrictions = vec![Restriction::PermitSaslAuthenticated, Restriction::Reject];
        let c = client("127.0.0.1", None, true);
        assert_eq!(
            check_recipient(&p, &c, "", "ned@example.org")
                .reply_text()
                .unwrap(),
            "554 5.7.1 <ned@example.org>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            check_recipient(&p, &client("127.0.0.1", Some("ned"), true), "", "x@y.test"),
            Verdict::Permit
        );
        p.recipient_restrictions = vec![Restriction::Permit, Restriction::Reject];
        assert_eq!(check_recipient(&p, &c, "", "x@y.test"), Verdict::Permit);
    }

    #[test]
    fn sender_login_mismatch() {
        let mut p = policy();
        p.sender_restrictions = vec![Restriction::RejectSenderLoginMismatch];
        let ned = client("203.0.113.9", Some("ned"), true);
        assert_eq!(check_sender(&p, &ned, "ned@example.org"), Verdict::Permit);
        assert_eq!(check_sender(&p, &ned, "NED@Example.Org"), Verdict::Permit);
        assert_eq!(check_sender(&p, &ned, ""), Verdict::Permit);
        assert_eq!(
            check_sender(&p, &ned, "alice@example.org").reply_text().unwrap(),
            "553 5.7.1 <alice@example.org>: Sender address rejected: not owned by user ned"
        );
        assert!(check_sender(&p, &ned, "ned@elsewhere.test")
            .reply_text()
            .unwrap()
            .contains("not owned"));
        assert!(check_sender(&p, &ned, "ned%x@example.org").reply_text().is_some());
        let anon = client("203.0.113.9", None, false);
        assert!(check_sender(&p, &anon, "alice@example.org")
            .reply_text()
            .unwrap()
            .contains("not logged in"));
        assert_eq!(check_sender(&p, &anon, "someone@elsewhere.test"), Verdict::Permit);
        p.sender_ownership = SenderOwnership::Check(Arc::new(|login, sender| {
            login == "ned" && sender == "sales@x.test"
        }));
        assert_eq!(check_sender(&p, &ned, "sales@x.test"), Verdict::Permit);
        assert!(check_sender(&p, &ned, "ned@example.org").reply_text().is_some());
    }
}
