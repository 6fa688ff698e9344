//! Arbitrary passwd-file text: parsing never panics; a parsed file answers
//! lookups and verifications without panicking, and never accepts a
//! password for a user it does not contain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_sasl::passwd_file::{parse_secret, PasswdFile};
use mail_sasl::{CredentialBackend, Mechanism, Proof, VerifyOutcome, VerifyRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_secret(text);
    let Ok(file) = PasswdFile::parse(text) else { return };
    let _ = file.capabilities();
    // Only cheap schemes are checked: a fuzzed $6$rounds=999999999$ hash is
    // the administrator's choice, not an input an attacker controls.
    let cheap = |e: &&mail_sasl::passwd_file::PasswdEntry| {
        !matches!(e.secret, Some(mail_sasl::StoredSecret::Hashed(_)))
    };
    for entry in file.entries().iter().filter(cheap).take(4) {
        let _ = file.lookup(&entry.user);
        let request = VerifyRequest {
            mechanism: Mechanism::Plain,
            authcid: entry.user.clone(),
            authzid: None,
            proof: Proof::Password("x".to_owned().into()),
        };
        let _ = file.verify(&request);
    }
    let ghost = VerifyRequest {
        mechanism: Mechanism::Plain,
        authcid: "\u{0}no such user\u{0}".into(),
        authzid: None,
        proof: Proof::Password("x".to_owned().into()),
    };
    if file
        .entries()
        .iter()
        .all(|e| e.secret.is_none() || matches!(e.secret, Some(mail_sasl::StoredSecret::Plain(_))))
    {
        assert_eq!(file.verify(&ghost), VerifyOutcome::Failure);
    }
});
