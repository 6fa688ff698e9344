//! The crate's error type.

/// Misuse of the session API by the caller (answering a decision that was not asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImapError {
    /// A decision method was called while the session was not waiting for it.
    #[error("{0} called while the session was not waiting for that answer")]
    NotExpected(&'static str),
}
