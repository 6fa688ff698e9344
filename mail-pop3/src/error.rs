//! The crate's error type: misuse of the session API by the caller.
//!
//! Bad client input is never an error: it gets a `-ERR` reply.

/// An answer method was called when the session did not ask for it, or the
/// caller's data cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Pop3Error {
    /// The method answers an event the session has not emitted (or that was
    /// already answered).
    #[error("`{call}` called, but the session is not waiting for it (state: {state}); answer only the event just emitted")]
    NotPending {
        /// The method called.
        call: &'static str,
        /// What the session was doing.
        state: &'static str,
    },
    /// A UID given to `maildrop_opened` is not 1–70 characters in 0x21–0x7E
    /// (RFC 1939 §7). The client got `-ERR [SYS/TEMP]`.
    #[error("message {index}: UID {uid:?} must be 1-70 printable ASCII characters without spaces (RFC 1939); the login was refused with [SYS/TEMP]")]
    InvalidUid {
        /// 0-based index in the list given.
        index: usize,
        /// The offending UID.
        uid: String,
    },
    /// Two messages share a UID. The client got `-ERR [SYS/TEMP]`.
    #[error("UID {uid:?} appears twice in the maildrop; UIDs must be unique (use the Maildir base name); the login was refused with [SYS/TEMP]")]
    DuplicateUid {
        /// The duplicated UID.
        uid: String,
    },
}
