//! SASL hot paths side by side with peers:
//! - a whole PLAIN server exchange vs rsasl's PLAIN server exchange, both
//!   doing the same steps on the same decoded message (see
//!   `benches/README.md`, section SASL, for exactly what each side does);
//! - CRAM-MD5 verification (from a plaintext secret and from Dovecot's stored
//!   HMAC context) vs raw RustCrypto `hmac` + `md-5`;
//! - a passwd-file SHA512-CRYPT check for an unknown user vs a wrong
//!   password (they should cost the same: no user enumeration by timing).
use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use mail_sasl::passwd_file::{hash_password, parse_secret, PasswdFile, Scheme};
use mail_sasl::{
    CredentialBackend, Exchange, ExchangeContext, Identity, Mechanism, Proof, Step, StoredSecret,
    VerifyOutcome, VerifyRequest,
};
use rsasl::callback::{Context, SessionCallback, SessionData};
use rsasl::mechname::Mechname;
use rsasl::prelude::{SASLConfig, SASLServer, State};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};

/// RFC 4616 §4 example, already base64-decoded (both sides get raw bytes).
const PLAIN_MESSAGE: &[u8] = b"\0tim\0tanstaaftanstaaf";
const USER: &str = "tim";
/// The stored password, already SASLprep'ed (printable ASCII: unchanged).
const PASSWORD: &str = "tanstaaftanstaaf";
const CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

/// rsasl validation result: the authenticated user, as our `Identity` carries it.
struct AuthorizedUser;
impl Validation for AuthorizedUser {
    type Value = String;
}

/// Constant-time equality of equal-length byte strings: XOR/OR fold, one
/// optimisation barrier (what a careful rsasl user would write).
fn ct_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && black_box(a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y))) == 0
}

/// The rsasl callback doing what `mail-sasl` does after parsing: authzid
/// empty or equal to the authcid, user lookup, constant-time password
/// comparison, an owned identity on success.
struct PlainCallback {
    user: &'static str,
    password: &'static [u8],
}

impl SessionCallback for PlainCallback {
    fn validate(
        &self,
        _session_data: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let Some(authcid) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        let authzid_ok = context
            .get_ref::<AuthzId>()
            .is_none_or(|z| z.is_empty() || z == authcid);
        let stored = (authcid == self.user).then_some(self.password);
        let password_ok = match (stored, context.get_ref::<Password>()) {
            (Some(stored), Some(given)) => ct_equal(given, stored),
            _ => false,
        };
        if authzid_ok && password_ok {
            validate.with::<AuthorizedUser, _>(|| Ok(authcid.to_owned()))?;
        }
        Ok(())
    }
}

/// The callback the first version of this bench used: `==` on the
/// password, a `bool` result, no identity kept. Reported for reference only.
struct BareCallback;
struct Check;
impl Validation for Check {
    type Value = bool;
}

impl SessionCallback for BareCallback {
    fn validate(
        &self,
        _session_data: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let ok = context.get_ref::<AuthzId>().is_none_or(str::is_empty)
            && context.get_ref::<AuthId>() == Some(USER)
            && context.get_ref::<Password>() == Some(PASSWORD.as_bytes());
        validate.with::<Check, _>(|| Ok(ok))?;
        Ok(())
    }
}

/// Ours: parse + SASLprep (both sides) + lookup + constant-time compare +
/// the owned identity out of `Step::Success`.
fn ours_plain(secret: &StoredSecret, ctx: &ExchangeContext<'_>) -> Option<Identity> {
    let (mut exchange, step) = Exchange::start(Mechanism::Plain, Some(black_box(PLAIN_MESSAGE)), ctx);
    let Step::Verify(request) = step else { return None };
    let outcome = if request.authcid == USER {
        request.verify_with(secret)
    } else {
        VerifyOutcome::Failure
    };
    match exchange.verified(outcome) {
        Step::Success(identity) => Some(identity),
        _ => None,
    }
}

fn rsasl_plain(config: &Arc<SASLConfig>) -> Option<String> {
    let server = SASLServer::<AuthorizedUser>::new(config.clone());
    let mut session = server
        .start_suggested(Mechname::parse(b"PLAIN").expect("mechanism name"))
        .ok()?;
    let mut out = Cursor::new(Vec::new());
    match session.step(Some(black_box(PLAIN_MESSAGE)), &mut out) {
        Ok(State::Finished(_)) => session.validation(),
        _ => None,
    }
}

fn rsasl_bare(config: &Arc<SASLConfig>) -> bool {
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
    let secret = StoredSecret::plain(PASSWORD);
    let ctx = ExchangeContext::new("smtp", "mail.example.test", [7; 16]);
    let config = SASLConfig::builder()
        .with_defaults()
        .with_callback(PlainCallback {
            user: USER,
            password: PASSWORD.as_bytes(),
        })
        .expect("rsasl config");
    let bare = SASLConfig::builder()
        .with_defaults()
        .with_callback(BareCallback)
        .expect("rsasl config");
    // Both succeed with the same identity, and both refuse a wrong password.
    assert_eq!(
        ours_plain(&secret, &ctx).map(|id| id.authcid).as_deref(),
        Some(USER)
    );
    assert_eq!(rsasl_plain(&config).as_deref(), Some(USER));
    assert!(rsasl_bare(&bare));
    assert_eq!(ours_plain(&StoredSecret::plain("tanstaaftanstaag"), &ctx), None);
    let wrong = SASLConfig::builder()
        .with_defaults()
        .with_callback(PlainCallback {
            user: USER,
            password: b"tanstaaftanstaag",
        })
        .expect("rsasl config");
    assert_eq!(rsasl_plain(&wrong), None);

    let mut group = c.benchmark_group("sasl_plain_exchange");
    group.bench_function("mail-sasl", |b| b.iter(|| ours_plain(&secret, &ctx)));
    group.bench_function("rsasl", |b| b.iter(|| rsasl_plain(&config)));
    group.bench_function("rsasl/bare-callback", |b| b.iter(|| rsasl_bare(&bare)));
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
    let ok = |o| matches!(o, VerifyOutcome::Success { .. });
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

/// A passwd-file with SHA512-CRYPT entries (default 5000 rounds): a wrong
/// password for a known user and any password for an unknown user each
/// cost one SHA512-CRYPT computation, so the two figures should agree.
fn unknown_user(c: &mut Criterion) {
    let line = |user: &str, password: &str| {
        let hash = hash_password(Scheme::Sha512Crypt, user, password, "").expect("hash");
        format!("{user}:{hash}\n")
    };
    let text = line("ned", "correct horse") + &line("amy", "battery staple");
    let file = PasswdFile::parse(&text).expect("passwd-file");
    let request = |user: &str| VerifyRequest {
        mechanism: Mechanism::Plain,
        authcid: user.into(),
        authzid: None,
        proof: Proof::Password("wrong".to_owned().into()),
    };
    let (known, unknown) = (request("ned"), request("ghost"));
    // What an unknown user costs where no entry can stand in (an empty
    // file, other backends): the fixed SHA512-CRYPT stand-in.
    let fixed = StoredSecret::unknown_user_stand_in(&unknown.proof);
    for (backend, request) in [(&file, &known), (&file, &unknown)] {
        assert_eq!(backend.verify(request), VerifyOutcome::Failure);
    }
    assert_eq!(StoredSecret::dummy_verify(&unknown), VerifyOutcome::Failure);
    let mut group = c.benchmark_group("sasl_passwd_file_sha512_crypt");
    group.sample_size(20);
    group.bench_function("wrong_password", |b| b.iter(|| file.verify(black_box(&known))));
    group.bench_function("unknown_user", |b| b.iter(|| file.verify(black_box(&unknown))));
    group.bench_function("unknown_user/fixed-stand-in", |b| {
        b.iter(|| black_box(&unknown).verify_with(&fixed))
    });
    group.finish();
}

criterion_group!(benches, plain_exchange, cram_md5_verify, unknown_user);
criterion_main!(benches);
