//! Property tests: arbitrary input never panics and never authenticates
//! without the right secret.

use mail_sasl::passwd_file::{parse_secret, PasswdFile};
use mail_sasl::{CredentialBackend, Exchange, ExchangeContext, Mechanism, Step, StoredSecret, VerifyOutcome};
use proptest::prelude::*;

fn mechanism() -> impl Strategy<Value = Mechanism> {
    prop::sample::select(Mechanism::ALL.to_vec())
}

#[derive(Debug, Clone)]
enum Action {
    Step(Vec<u8>),
    Verified(u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Action::Step),
        1 => any::<u8>().prop_map(Action::Verified),
        // Structured-looking input so the parsers get past their first checks.
        2 => "[a-z]{0,5}(\u{0}[a-z]{0,5}){0,3}".prop_map(|s| Action::Step(s.into_bytes())),
        2 => "(username|realm|nonce|cnonce|nc|qop|digest-uri|response|charset|authzid)=\"?[a-zA-Z0-9/.]{0,12}\"?(,[ ]?(nc|qop|nonce)=[0-9a-z]{0,8}){0,4}"
            .prop_map(|s| Action::Step(s.into_bytes())),
    ]
}

fn outcome(n: u8) -> VerifyOutcome {
    match n % 4 {
        0 => VerifyOutcome::Failure,
        1 => VerifyOutcome::Temporary,
        2 => VerifyOutcome::Success { server_proof: None },
        _ => VerifyOutcome::Success {
            server_proof: Some(b"rspauth=00".to_vec()),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary call sequences (including misuse) never panic, and answering
    /// every Verify honestly against a secret nobody guessed never succeeds.
    #[test]
    fn arbitrary_sequences_never_panic_or_succeed(
        mech in mechanism(),
        ir in prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
        nonce in any::<[u8; 16]>(),
        proxy in any::<bool>(),
        actions in prop::collection::vec(action(), 0..6),
    ) {
        let ctx = ExchangeContext { allow_proxy_authorization: proxy, ..ExchangeContext::new("imap", "h.example", nonce) };
        let secret = StoredSecret::plain("correct horse battery staple");
        let (mut ex, mut step) = Exchange::start(mech, ir.as_deref(), &ctx);
        for a in actions {
            prop_assert!(!matches!(step, Step::Success(_)), "success without the secret: {step:?}");
            step = match (&step, a) {
                (Step::Verify(request), _) => ex.verified(request.verify_with(&secret)),
                (_, Action::Step(bytes)) => ex.step(&bytes),
                (_, Action::Verified(n)) => ex.verified(outcome(n)),
            };
        }
        prop_assert!(!matches!(step, Step::Success(_)), "success without the secret: {step:?}");
    }

    /// Dishonest caller answers (random outcomes) never panic either.
    #[test]
    fn random_outcomes_never_panic(
        mech in mechanism(),
        ir in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
        actions in prop::collection::vec(action(), 0..8),
    ) {
        let ctx = ExchangeContext::new("smtp", "h.example", [1; 16]);
        let (mut ex, _) = Exchange::start(mech, ir.as_deref(), &ctx);
        for a in actions {
            let _ = match a {
                Action::Step(bytes) => ex.step(&bytes),
                Action::Verified(n) => ex.verified(outcome(n)),
            };
        }
    }

    /// PLAIN succeeds exactly when the password is right.
    #[test]
    fn plain_succeeds_iff_password_matches(
        user in "[a-zA-Z0-9@.]{1,40}",
        stored in "[ -~]{1,40}",
        typed in "[ -~]{1,40}",
    ) {
        let ctx = ExchangeContext::new("smtp", "h.example", [0; 16]);
        let msg = format!("\0{user}\0{typed}");
        let (mut ex, step) = Exchange::start(Mechanism::Plain, Some(msg.as_bytes()), &ctx);
        let Step::Verify(request) = step else { panic!("{step:?}") };
        let end = ex.verified(request.verify_with(&StoredSecret::plain(&stored)));
        prop_assert_eq!(matches!(end, Step::Success(_)), stored == typed);
    }

    /// Arbitrary passwd-file text and stored secrets never panic.
    #[test]
    fn passwd_file_parse_never_panics(text in "(([a-z]{0,4}|#)(:[{}A-Z0-9$a-z./-]{0,20}){0,8}\r?\n){0,6}", raw in ".{0,80}") {
        if let Ok(file) = PasswdFile::parse(&text) {
            let _ = file.capabilities();
        }
        let _ = PasswdFile::parse(&raw);
        let _ = parse_secret(&raw);
    }
}
