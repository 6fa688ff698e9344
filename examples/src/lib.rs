//! Shared helpers of the example binaries and their interop tests.
#![forbid(unsafe_code)]

pub mod imap_store;
pub mod maildir;
pub mod server;
pub mod testing;
