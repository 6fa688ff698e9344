//! Shared helpers of the example binaries and their interop tests.
#![forbid(unsafe_code)]

pub mod testing;
