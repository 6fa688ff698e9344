//! Arbitrary client messages into every SASL mechanism, with arbitrary
//! (including out-of-order) verification answers: no panic, and no success
//! unless a verification answered by the real secret said so.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mail_sasl::{Exchange, ExchangeContext, Mechanism, Step, StoredSecret, VerifyOutcome};

#[derive(Debug, Arbitrary)]
enum Action {
    Step(Vec<u8>),
    /// Answer a pending Verify honestly against the secret.
    Honest,
    /// Answer with an arbitrary outcome (caller misuse included).
    Verified(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    mechanism: u8,
    initial_response: Option<Vec<u8>>,
    nonce: [u8; 16],
    allow_proxy: bool,
    actions: Vec<Action>,
}

fuzz_target!(|input: Input| {
    let mechanism = Mechanism::ALL[usize::from(input.mechanism) % Mechanism::ALL.len()];
    let ctx = ExchangeContext {
        allow_proxy_authorization: input.allow_proxy,
        ..ExchangeContext::new("imap", "mail.example.test", input.nonce)
    };
    let secret = StoredSecret::plain("fuzz-secret-never-guessed-0123456789");
    let (mut exchange, mut step) = Exchange::start(mechanism, input.initial_response.as_deref(), &ctx);
    let mut dishonest = false;
    for action in input.actions.into_iter().take(16) {
        if let Step::Success(_) = step {
            assert!(dishonest, "success without a verification saying so");
        }
        step = match (&step, action) {
            (Step::Verify(request), Action::Honest) => exchange.verified(request.verify_with(&secret)),
            (_, Action::Honest) => exchange.verified(VerifyOutcome::Failure),
            (_, Action::Step(bytes)) => exchange.step(&bytes),
            (_, Action::Verified(n)) => {
                let outcome = match n % 4 {
                    0 => VerifyOutcome::Failure,
                    1 => VerifyOutcome::Temporary,
                    2 => VerifyOutcome::Success { server_proof: None },
                    _ => VerifyOutcome::Success {
                        server_proof: Some(b"rspauth=0".to_vec()),
                    },
                };
                dishonest |= matches!(outcome, VerifyOutcome::Success { .. });
                exchange.verified(outcome)
            }
        };
    }
    if let Step::Success(_) = step {
        assert!(dishonest, "success without a verification saying so");
    }
});
