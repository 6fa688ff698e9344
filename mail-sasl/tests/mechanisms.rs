//! Exchange-level tests: RFC vectors, every failure path, misuse.

use hmac::{Hmac, Mac};
use mail_sasl::{
    Exchange, ExchangeContext, Failure, Identity, Mechanism, Proof, Step, StoredSecret, VerifyOutcome,
    VerifyRequest,
};

fn ctx() -> ExchangeContext<'static> {
    ExchangeContext::new("smtp", "mail.example.test", *b"0123456789abcdef")
}

fn ident(user: &str) -> Identity {
    Identity {
        authcid: user.into(),
        authzid: None,
    }
}

/// Drive a Verify step against a secret and return the final step.
fn finish(exchange: &mut Exchange, step: Step, secret: &StoredSecret) -> Step {
    let Step::Verify(request) = step else {
        panic!("expected Verify, got {step:?}")
    };
    exchange.verified(request.verify_with(secret))
}

fn hmac_md5_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<md5::Md5>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn plain_with_and_without_initial_response() {
    let secret = StoredSecret::plain("tanstaaftanstaaf");
    let (mut ex, step) = Exchange::start(Mechanism::Plain, Some(b"\0tim\0tanstaaftanstaaf"), &ctx());
    assert_eq!(finish(&mut ex, step, &secret), Step::Success(ident("tim")));

    let (mut ex, step) = Exchange::start(Mechanism::Plain, None, &ctx());
    assert_eq!(step, Step::Challenge(vec![]));
    let step = ex.step(b"tim\0tim\0tanstaaftanstaaf");
    assert_eq!(finish(&mut ex, step, &secret), Step::Success(ident("tim")));

    let (mut ex, step) = Exchange::start(Mechanism::Plain, Some(b"\0tim\0wrong"), &ctx());
    assert_eq!(
        finish(&mut ex, step, &secret),
        Step::Failure(Failure::BadCredentials)
    );
}

#[test]
fn plain_failures() {
    let c = ctx();
    for (ir, expected) in [
        (
            &b"\0tim"[..],
            Failure::Malformed("PLAIN needs exactly three NUL-separated fields"),
        ),
        (
            b"",
            Failure::Malformed("PLAIN needs exactly three NUL-separated fields"),
        ),
        (b"\0\0pw", Failure::Malformed("empty authentication identity")),
        (b"\0tim\0", Failure::Malformed("empty password")),
        (b"\0t\xffm\0pw", Failure::Malformed("not valid UTF-8")),
        (b"boss\0tim\0pw", Failure::AuthorizationDenied),
    ] {
        let (mut ex, step) = Exchange::start(Mechanism::Plain, Some(ir), &c);
        assert_eq!(step, Step::Failure(expected), "{ir:?}");
        assert_eq!(ex.step(b"\0tim\0pw"), Step::Failure(Failure::UnexpectedStep));
    }
    // Proxy authorization when allowed: the identity carries the authzid.
    let proxy = ExchangeContext {
        allow_proxy_authorization: true,
        ..ctx()
    };
    let (mut ex, step) = Exchange::start(Mechanism::Plain, Some(b"boss\0tim\0pw"), &proxy);
    let Step::Success(id) = finish(&mut ex, step, &StoredSecret::plain("pw")) else {
        panic!()
    };
    assert_eq!((id.authcid.as_str(), id.authorized_user()), ("tim", "boss"));
}

#[test]
fn plain_saslprep_on_both_sides() {
    // Stored "I\u{00AD}X" (soft hyphen) and typed "\u{2168}" (ROMAN NUMERAL NINE) both prepare to "IX".
    let (mut ex, step) = Exchange::start(Mechanism::Plain, Some("\0user\0\u{2168}".as_bytes()), &ctx());
    assert_eq!(
        finish(&mut ex, step, &StoredSecret::plain("I\u{00AD}X")),
        Step::Success(ident("user"))
    );
    let (mut ex, step) = Exchange::start(Mechanism::Plain, Some("\0user\0\u{2168}".as_bytes()), &ctx());
    assert_eq!(
        finish(&mut ex, step, &StoredSecret::plain("IY")),
        Step::Failure(Failure::BadCredentials)
    );
}

#[test]
fn login_flows() {
    let secret = StoredSecret::plain("pw");
    // Without initial response.
    let (mut ex, step) = Exchange::start(Mechanism::Login, None, &ctx());
    assert_eq!(step, Step::Challenge(b"Username:".to_vec()));
    assert_eq!(ex.step(b"ned"), Step::Challenge(b"Password:".to_vec()));
    let step = ex.step(b"pw");
    assert_eq!(finish(&mut ex, step, &secret), Step::Success(ident("ned")));
    // With the user name as initial response.
    let (mut ex, step) = Exchange::start(Mechanism::Login, Some(b"ned"), &ctx());
    assert_eq!(step, Step::Challenge(b"Password:".to_vec()));
    let step = ex.step(b"pw");
    assert_eq!(finish(&mut ex, step, &secret), Step::Success(ident("ned")));
    // Empty initial response (`AUTH LOGIN =`): still asks for the user name.
    let (mut ex, step) = Exchange::start(Mechanism::Login, Some(b""), &ctx());
    assert_eq!(step, Step::Challenge(b"Username:".to_vec()));
    // Trailing NULs some clients send are dropped.
    assert_eq!(ex.step(b"ned\0"), Step::Challenge(b"Password:".to_vec()));
    let step = ex.step(b"pw\0");
    assert_eq!(finish(&mut ex, step, &secret), Step::Success(ident("ned")));
    // Wrong password.
    let (mut ex, _) = Exchange::start(Mechanism::Login, Some(b"ned"), &ctx());
    let step = ex.step(b"nope");
    assert_eq!(
        finish(&mut ex, step, &secret),
        Step::Failure(Failure::BadCredentials)
    );
}

#[test]
fn login_failures() {
    let (mut ex, _) = Exchange::start(Mechanism::Login, None, &ctx());
    assert_eq!(ex.step(b""), Step::Failure(Failure::Malformed("empty user name")));
    assert_eq!(ex.step(b"ned"), Step::Failure(Failure::UnexpectedStep));
    let (mut ex, _) = Exchange::start(Mechanism::Login, Some(b"ned"), &ctx());
    assert_eq!(ex.step(b""), Step::Failure(Failure::Malformed("empty password")));
    let (mut ex, _) = Exchange::start(Mechanism::Login, Some(b"ned"), &ctx());
    assert_eq!(
        ex.step(&[b'p'; 256]),
        Step::Failure(Failure::Malformed("field longer than 255 octets"))
    );
    let (_, step) = Exchange::start(Mechanism::Login, Some(b"n\xffd"), &ctx());
    assert_eq!(step, Step::Failure(Failure::Malformed("not valid UTF-8")));
    let (mut ex, _) = Exchange::start(Mechanism::Login, Some(b"ned"), &ctx());
    let Step::Verify(request) = ex.step(&[b'p'; 255]) else {
        panic!("255 octets are accepted")
    };
    assert_eq!(request.password().map(str::len), Some(255));
}

#[test]
fn cram_md5_rfc2195_vector() {
    // RFC 2195 §2: tim / tanstaaftanstaaf.
    let challenge = b"<1896.697170952@postoffice.reston.mci.net>".to_vec();
    assert_eq!(
        hmac_md5_hex(b"tanstaaftanstaaf", &challenge),
        "b913a602c7eda7a495b4e6e7334d3890"
    );
    let digest: [u8; 16] = [
        0xb9, 0x13, 0xa6, 0x02, 0xc7, 0xed, 0xa7, 0xa4, 0x95, 0xb4, 0xe6, 0xe7, 0x33, 0x4d, 0x38, 0x90,
    ];
    let request = VerifyRequest {
        mechanism: Mechanism::CramMd5,
        authcid: "tim".into(),
        authzid: None,
        proof: Proof::CramMd5 { challenge, digest },
    };
    let ok = VerifyOutcome::Success { server_proof: None };
    assert_eq!(request.verify_with(&StoredSecret::plain("tanstaaftanstaaf")), ok);
    // Dovecot's stored context for the same password (`doveadm pw -s CRAM-MD5`).
    let StoredSecret::CramMd5(ctx) = mail_sasl::passwd_file::parse_secret(
        "{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(request.verify_with(&StoredSecret::CramMd5(ctx)), ok);
    assert_eq!(
        request.verify_with(&StoredSecret::plain("tanstaaftanstaaF")),
        VerifyOutcome::Failure
    );
    assert_eq!(
        request.verify_with(&StoredSecret::DigestMd5 { ha1: [0; 16] }),
        VerifyOutcome::Failure
    );
    assert_eq!(
        request.verify_with(&mail_sasl::passwd_file::parse_secret("{SHA512-CRYPT}$6$AX4bD8MtoC3brJC9$84/.ICo.84dP.pUbSx0oL9s5z6lZW177bNGYC76un3.WvAQovdFhlfPglUDnO95JBNNuMMgahP59ooPx.7oY/0").unwrap()),
        VerifyOutcome::Failure
    );
}

#[test]
fn cram_md5_exchange() {
    let c = ctx();
    let (mut ex, step) = Exchange::start(Mechanism::CramMd5, None, &c);
    let Step::Challenge(challenge) = step else {
        panic!()
    };
    let text = String::from_utf8(challenge.clone()).unwrap();
    // <digits.digits@host>, digits from the caller's nonce.
    let inner = text
        .strip_prefix('<')
        .unwrap()
        .strip_suffix("@mail.example.test>")
        .unwrap();
    let (a, b) = inner.split_once('.').unwrap();
    assert!(a.bytes().chain(b.bytes()).all(|d| d.is_ascii_digit()), "{text}");
    assert_eq!(a, u64::from_be_bytes(*b"01234567").to_string());
    let other = Exchange::start(
        Mechanism::CramMd5,
        None,
        &ExchangeContext::new("smtp", "mail.example.test", [9; 16]),
    )
    .1;
    assert_ne!(other, Step::Challenge(challenge.clone()));

    let response = format!("tim {}", hmac_md5_hex(b"tanstaaftanstaaf", &challenge));
    let step = ex.step(response.as_bytes());
    assert_eq!(
        finish(&mut ex, step, &StoredSecret::plain("tanstaaftanstaaf")),
        Step::Success(ident("tim"))
    );

    // Upper-case hex and a user name with a space are accepted.
    let (mut ex, _) = Exchange::start(Mechanism::CramMd5, None, &c);
    let response = format!("tim smith {}", hmac_md5_hex(b"pw", &challenge).to_uppercase());
    let step = ex.step(response.as_bytes());
    assert_eq!(
        finish(&mut ex, step, &StoredSecret::plain("pw")),
        Step::Success(ident("tim smith"))
    );

    // Wrong password.
    let (mut ex, _) = Exchange::start(Mechanism::CramMd5, None, &c);
    let step = ex.step(format!("tim {}", hmac_md5_hex(b"bad", &challenge)).as_bytes());
    assert_eq!(
        finish(&mut ex, step, &StoredSecret::plain("pw")),
        Step::Failure(Failure::BadCredentials)
    );
}

#[test]
fn cram_md5_failures() {
    let c = ctx();
    let (_, step) = Exchange::start(Mechanism::CramMd5, Some(b"tim"), &c);
    assert!(matches!(step, Step::Failure(Failure::Malformed(_))));
    let (_, step) = Exchange::start(Mechanism::CramMd5, Some(b""), &c);
    assert!(matches!(step, Step::Challenge(_)));
    for bad in [
        &b""[..],
        b"tim",
        b"tim b913a602c7eda7a495b4e6e7334d389",
        b"tim b913a602c7eda7a495b4e6e7334d3890a",
        b"tim b913a602c7eda7a495b4e6e7334d389g",
        b" b913a602c7eda7a495b4e6e7334d3890",
        b"t\xffm b913a602c7eda7a495b4e6e7334d3890",
        b"t\x01m b913a602c7eda7a495b4e6e7334d3890",
        &[b'a'; 400],
    ] {
        let (mut ex, _) = Exchange::start(Mechanism::CramMd5, None, &c);
        assert!(
            matches!(ex.step(bad), Step::Failure(Failure::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn digest_md5_full_exchange_with_stored_ha1() {
    let c = ExchangeContext::new("imap", "mail.example.test", [3; 16]);
    let (mut ex, step) = Exchange::start(Mechanism::DigestMd5, None, &c);
    let Step::Challenge(challenge) = step else {
        panic!()
    };
    let challenge = String::from_utf8(challenge).unwrap();
    assert!(
        challenge.starts_with("realm=\"mail.example.test\",nonce=\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("\",qop=\"auth\",charset=utf-8,algorithm=md5-sess"),
        "{challenge}"
    );
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    // Client side computed with md-5 directly (RFC 2831 §2.1.2.1).
    let h = |parts: &[&[u8]]| {
        use md5::Digest;
        let mut m = md5::Md5::new();
        for p in parts {
            m.update(p);
        }
        m.finalize()
    };
    let hexs = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let ha1_secret = h(&[b"ned:mail.example.test:pw"]);
    let a1 = hexs(&h(&[&ha1_secret, format!(":{nonce}:cn0nce").as_bytes()]));
    let a2 = hexs(&h(&[b"AUTHENTICATE:imap/mail.example.test"]));
    let resp = hexs(&h(
        &[format!("{a1}:{nonce}:00000001:cn0nce:auth:{a2}").as_bytes()],
    ));
    let msg = format!(
        "username=\"ned\",realm=\"mail.example.test\",nonce=\"{nonce}\",cnonce=\"cn0nce\",nc=00000001,qop=auth,digest-uri=\"imap/mail.example.test\",response={resp},charset=utf-8"
    );
    let step = ex.step(msg.as_bytes());
    let stored = mail_sasl::passwd_file::parse_secret(
        &mail_sasl::passwd_file::hash_password(
            mail_sasl::passwd_file::Scheme::DigestMd5,
            "ned",
            "pw",
            "mail.example.test",
        )
        .unwrap(),
    )
    .unwrap();
    let Step::Challenge(rspauth) = finish(&mut ex, step, &stored) else {
        panic!()
    };
    let a2s = hexs(&h(&[b":imap/mail.example.test"]));
    let expected = hexs(&h(&[
        format!("{a1}:{nonce}:00000001:cn0nce:auth:{a2s}").as_bytes()
    ]));
    assert_eq!(String::from_utf8(rspauth).unwrap(), format!("rspauth={expected}"));
    assert_eq!(ex.step(b""), Step::Success(ident("ned")));
}

#[test]
fn anonymous_refused() {
    for ir in [None, Some(&b""[..]), Some(&b"guest@example"[..])] {
        let (mut ex, step) = Exchange::start(Mechanism::Anonymous, ir, &ctx());
        assert_eq!(step, Step::Failure(Failure::MechanismRefused));
        assert_eq!(ex.step(b"x"), Step::Failure(Failure::UnexpectedStep));
    }
}

#[test]
fn out_of_order_calls_never_panic() {
    for mech in Mechanism::ALL {
        // verified() before any Verify step.
        let (mut ex, _) = Exchange::start(mech, None, &ctx());
        assert_eq!(
            ex.verified(VerifyOutcome::Success { server_proof: None }),
            Step::Failure(Failure::UnexpectedStep),
            "{mech}"
        );
        assert_eq!(ex.step(b"x"), Step::Failure(Failure::UnexpectedStep));
        assert_eq!(ex.mechanism(), mech);
    }
    // step() while a verification is pending, then verified() after that.
    let (mut ex, step) = Exchange::start(Mechanism::Plain, Some(b"\0a\0b"), &ctx());
    assert!(matches!(step, Step::Verify(_)));
    assert_eq!(ex.step(b"\0a\0b"), Step::Failure(Failure::UnexpectedStep));
    assert_eq!(
        ex.verified(VerifyOutcome::Success { server_proof: None }),
        Step::Failure(Failure::UnexpectedStep)
    );
    // verified() twice.
    let (mut ex, _) = Exchange::start(Mechanism::Plain, Some(b"\0a\0b"), &ctx());
    assert_eq!(
        ex.verified(VerifyOutcome::Success { server_proof: None }),
        Step::Success(ident("a"))
    );
    assert_eq!(
        ex.verified(VerifyOutcome::Failure),
        Step::Failure(Failure::UnexpectedStep)
    );
}

#[test]
fn temporary_backend_failure() {
    let (mut ex, _) = Exchange::start(Mechanism::Plain, Some(b"\0a\0b"), &ctx());
    let step = ex.verified(VerifyOutcome::Temporary);
    assert_eq!(step, Step::Failure(Failure::Temporary));
    let Step::Failure(f) = step else { panic!() };
    assert!(f.is_temporary() && !f.counts_as_attempt());
    assert!(Failure::BadCredentials.counts_as_attempt());
}

#[test]
fn dummy_verify_always_fails() {
    let reqs = [
        VerifyRequest {
            mechanism: Mechanism::Plain,
            authcid: "ghost".into(),
            authzid: None,
            proof: Proof::Password("x".to_owned().into()),
        },
        VerifyRequest {
            mechanism: Mechanism::CramMd5,
            authcid: "ghost".into(),
            authzid: None,
            proof: Proof::CramMd5 {
                challenge: b"<1.2@h>".to_vec(),
                digest: [0; 16],
            },
        },
    ];
    for r in &reqs {
        assert_eq!(StoredSecret::dummy_verify(r), VerifyOutcome::Failure);
    }
}

#[test]
fn secrets_are_not_printed() {
    let r = VerifyRequest {
        mechanism: Mechanism::Plain,
        authcid: "a".into(),
        authzid: None,
        proof: Proof::Password("hunter2".to_owned().into()),
    };
    assert!(!format!("{r:?}").contains("hunter2"));
    assert!(!format!("{:?}", StoredSecret::plain("hunter2")).contains("hunter2"));
    let (ex, _) = Exchange::start(Mechanism::Login, Some(b"a"), &ctx());
    assert!(!format!("{ex:?}").contains("hunter2"));
}
