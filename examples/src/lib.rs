//! Shared helpers of the example binaries and their interop tests.
#![forbid(unsafe_code)]

pub mod demo;
pub mod imap_mailbox;
pub mod imap_store;
pub mod maildir;
pub mod pop3_maildrop;
pub mod server;
pub mod testing;
