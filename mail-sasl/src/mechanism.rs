//! Mechanism names and sets.

use std::fmt;

/// A SASL mechanism this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism (draft-murchison-sasl-login).
    Login,
    /// RFC 2195.
    CramMd5,
    /// RFC 2831 (historic per RFC 6331; off unless configured).
    DigestMd5,
    /// RFC 4505: recognised so it can be refused with a clear reason.
    Anonymous,
}

impl Mechanism {
    /// Every mechanism, in the order servers advertise them.
    pub const ALL: [Mechanism; 5] = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::DigestMd5,
        Mechanism::Anonymous,
    ];

    /// The IANA name, e.g. `CRAM-MD5`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::DigestMd5 => "DIGEST-MD5",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }

    /// Parse a mechanism name, case-insensitively (`auth plain` is common).
    pub fn from_name(name: &[u8]) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether the client sends the password itself (PLAIN, LOGIN): such
    /// mechanisms are hidden on cleartext channels when TLS-only auth is on,
    /// and are the only ones a plaintext-verifying backend (PAM, Dovecot) can serve.
    pub fn is_plaintext(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }

    /// Whether the server must know the secret itself (CRAM-MD5, DIGEST-MD5).
    pub fn needs_stored_secret(self) -> bool {
        matches!(self, Mechanism::CramMd5 | Mechanism::DigestMd5)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of mechanisms; iterates in advertising order, `Display` gives the
/// space-separated list an EHLO/CAPA/CAPABILITY line needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MechanismSet(u8);

impl MechanismSet {
    /// The empty set.
    pub const fn empty() -> Self {
        MechanismSet(0)
    }

    /// A set from a list.
    pub fn from_slice(mechanisms: &[Mechanism]) -> Self {
        mechanisms.iter().fold(Self::empty(), |s, m| s.with(*m))
    }

    /// This set plus `m`.
    pub fn with(self, m: Mechanism) -> Self {
        MechanismSet(self.0 | m.bit())
    }

    /// This set without `m`.
    pub fn without(self, m: Mechanism) -> Self {
        MechanismSet(self.0 & !m.bit())
    }

    /// Whether `m` is in the set.
    pub fn contains(self, m: Mechanism) -> bool {
        self.0 & m.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in advertising order.
    pub fn iter(self) -> impl Iterator<Item = Mechanism> {
        Mechanism::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// Keep only members for which `keep` is true.
    pub fn filter(self, keep: impl Fn(Mechanism) -> bool) -> Self {
        self.iter()
            .filter(|m| keep(*m))
            .fold(Self::empty(), |s, m| s.with(m))
    }
}

impl fmt::Display for MechanismSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(m.name())?;
        }
        Ok(())
    }
}

impl FromIterator<Mechanism> for MechanismSet {
    fn from_iter<T: IntoIterator<Item = Mechanism>>(iter: T) -> Self {
        iter.into_iter().fold(Self::empty(), |s, m| s.with(m))
    }
}
