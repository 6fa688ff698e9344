//! SASL hot paths side by side with peers:
//! - a whole PLAIN exchange (parse, SASLprep, verify against a `{PLAIN}`
//!   secret, success) vs rsasl's PLAIN server exchange with a callback doing
//!   the same plaintext comparison;
//! - CRAM-MD5 verification (from a plaintext secret and from Dovecot's stored
//!   HMAC context) vs raw RustCrypto `hmac` + `md-5`.
use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use mail_sasl::passwd_file::parse_secret;
use mail_sasl::{Exchange, ExchangeContext, Mechanism, Proof, Step, StoredSecret, VerifyRequest};
use rsasl::callback::{Context, SessionCallback, SessionData};
use rsasl::mechname::Mechname;
use rsasl::prelude::{SASLConfig, SASLServer, State};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};

const PLAIN_MESSAGE: &[u8] = b"\0tim\0tanstaaftanstaaf";
const CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

struct Check;
impl Validation for Check {
    type Value = bool;
}

struct PlainCallback {
    password: &'static [u8],
}

impl SessionCallback for PlainCallback {
    fn validate(
        &self,
        _session_data: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let ok = context.get_ref::<AuthzId>().map_or(true, str::is_empty)
            && context.get_ref::<AuthId>() == Some("tim")
            && context.get_ref::<Password>() == Some(self.password);
        validate.with::<Check, _>(|| Ok(ok))?;
        Ok(())
    }
}

fn ours_plain(secret: &StoredSecret, ctx: &ExchangeContext<'_>) -> bool {
    let (mut exchange, step) = Exchange::start(Mechanism::Plain, Some(black_box(PLAIN_MESSAGE)), ctx);
    let Step::Verify(request) = step else { return false };
    matches!(exchange.verified(request.verify_with(secret)), Step::Success(_))
}

fn rsasl_plain(config: &Arc<SASLConfig>) -> bool {
    let server = SASLServer::<Check>::new(config.clone());
    let Ok(mut session) = server.start_suggested(Mechname::parse(b"PLAIN").expect("mechanism name")) else {
        return false;
    };
    let mut out = Cursor::new(Vec::new());
    matches!(
        session.step(Some(black_box(PLAIN_MESSAGE)), &mut out),
        Ok(State::Finished(_))
    ) && session.validation() == Some(true)
}

fn plain_exchange(c: &mut Criterion) {
    let secret = StoredSecret::plain("tanstaaftanstaaf");
    let ctx = ExchangeContext::new("smtp", "mail.example.test", [7; 16]);
    assert!(ours_plain(&secret, &ctx));
    let config = SASLConfig::builder()
        .with_defaults()
        .with_callback(PlainCallback {
            password: b"tanstaaftanstaaf",
        })
        .expect("rsasl config");
    {
        let server = SASLServer::<Check>::new(config.clone());
        let session = server.start_suggested(Mechname::parse(b"PLAIN").expect("mechanism name"));
        let mut session = session.expect("rsasl offers PLAIN");
        let mut out = Cursor::new(Vec::new());
        let state = session.step(Some(PLAIN_MESSAGE), &mut out);
        assert!(matches!(state, Ok(State::Finished(_))), "rsasl step: {state:?}");
        assert_eq!(session.validation(), Some(true));
    }
    assert!(rsasl_plain(&config));
    let mut group = c.benchmark_group("sasl_plain_exchange");
    group.bench_function("mail-sasl", |b| b.iter(|| ours_plain(&secret, &ctx)));
    group.bench_function("rsasl", |b| b.iter(|| rsasl_plain(&config)));
    group.finish();
}

fn cram_md5_verify(c: &mut Criterion) {
    let digest: [u8; 16] = [
        0xb9, 0x13, 0xa6, 0x02, 0xc7, 0xed, 0xa7, 0xa4, 0x95, 0xb4, 0xe6, 0xe7, 0x33, 0x4d, 0x38, 0x90,
    ];
    let request = VerifyRequest {
        mechanism: Mechanism::CramMd5,
        authcid: "tim".into(),
        authzid: None,
        proof: Proof::CramMd5 {
            challenge: CHALLENGE.to_vec(),
            digest,
        },
    };
    let plain = StoredSecret::plain("tanstaaftanstaaf");
    let context =
        parse_secret("{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b").unwrap();
    let ok = |o| matches!(o, mail_sasl::VerifyOutcome::Success { .. });
    assert!(ok(request.verify_with(&plain)) && ok(request.verify_with(&context)));
    let raw = || {
        let mut mac = Hmac::<md5::Md5>::new_from_slice(black_box(b"tanstaaftanstaaf")).unwrap();
        mac.update(black_box(CHALLENGE));
        mac.verify_slice(black_box(&digest)).is_ok()
    };
    assert!(raw());
    let mut group = c.benchmark_group("sasl_cram_md5_verify");
    group.bench_function("mail-sasl/plain-secret", |b| {
        b.iter(|| ok(black_box(&request).verify_with(&plain)))
    });
    group.bench_function("mail-sasl/dovecot-context", |b| {
        b.iter(|| ok(black_box(&request).verify_with(&context)))
    });
    group.bench_function("hmac+md-5", |b| b.iter(raw));
    group.finish();
}

criterion_group!(benches, plain_exchange, cram_md5_verify);
criterion_main!(benches);
