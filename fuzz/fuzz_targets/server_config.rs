//! The reference server's TOML configuration parser
//! (`mail_examples::server::config::Config::parse`): no panic on any text;
//! a configuration that parses re-parses to the same value (deterministic),
//! still validates, and every path was made absolute against the base.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mail_examples::server::config::{parse_listen, restriction, Config};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The helpers the parser uses, on the raw text too.
    let _ = parse_listen(text);
    let _ = restriction(text);
    let base = Path::new("/etc/mail-server");
    let first = Config::parse(text, base);
    let second = Config::parse(text, base);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "re-parse differs");
            assert!(a.validate().is_ok(), "a parsed config fails validate()");
            assert!(a.state_dir.is_absolute(), "state_dir not resolved");
            if let Some(tls) = &a.tls {
                assert!(tls.cert_file.is_absolute() && tls.key_file.is_absolute());
            }
            for l in &a.smtp {
                assert!(parse_listen(&l.listen).is_ok());
            }
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "error differs between two parses");
            // Errors are one line a user can act on.
            assert!(!a.0.is_empty());
        }
        _ => panic!("parse is not deterministic: {first:?} vs {second:?}"),
    }
});
