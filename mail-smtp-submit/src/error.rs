//! The crate's error type.

/// Errors from configuring a session or answering it out of turn.
/// Protocol errors of the *client* are never Rust errors: they are SMTP replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// A `mynetworks` entry is not an address or `address/prefix`.
    #[error("invalid network `{0}`: expected an IP address or CIDR such as 192.0.2.0/24 or 2001:db8::/32")]
    InvalidNetwork(String),
    /// The configuration contradicts itself; the text says how to fix it.
    #[error("invalid SMTP configuration: {0}")]
    InvalidConfig(&'static str),
    /// A decision method was called while the session was not waiting for
    /// that decision (e.g. `accept_recipient` without an `Event::Recipient`).
    #[error("{0} called, but the session is not waiting for that answer")]
    NotWaiting(&'static str),
}
