//! passwd-file backend: parsing, schemes, hash_password round trips through
//! every mechanism, unknown users, reload.

use hmac::{Hmac, Mac};
use mail_sasl::passwd_file::{hash_password, PasswdFile, ReloadingPasswdFile, Scheme};
use mail_sasl::{
    CredentialBackend, Exchange, ExchangeContext, Failure, Mechanism, Proof, SaslError, Step, StoredSecret,
    VerifyOutcome, VerifyRequest,
};

const REALM: &str = "mail.example.test";

fn ctx() -> ExchangeContext<'static> {
    ExchangeContext::new("imap", REALM, [5; 16])
}

/// Run a whole exchange of `mech` for user/password against `backend`, as a client would.
fn authenticate(backend: &dyn CredentialBackend, mech: Mechanism, user: &str, password: &str) -> Step {
    let c = ctx();
    let (mut ex, mut step) = match mech {
        Mechanism::Plain => Exchange::start(mech, Some(format!("\0{user}\0{password}").as_bytes()), &c),
        _ => Exchange::start(mech, None, &c),
    };
    for _ in 0..5 {
        step = match step {
            Step::Verify(request) => ex.verified(backend.verify(&request)),
            Step::Challenge(ch) => {
                let answer = match (mech, ch.as_slice()) {
                    (Mechanism::Login, b"Username:") => user.as_bytes().to_vec(),
                    (Mechanism::Login, b"Password:") => password.as_bytes().to_vec(),
                    (Mechanism::CramMd5, _) => {
                        let mut mac = Hmac::<md5::Md5>::new_from_slice(password.as_bytes()).unwrap();
                        mac.update(&ch);
                        let hex: String = mac
                            .finalize()
                            .into_bytes()
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        format!("{user} {hex}").into_bytes()
                    }
                    (Mechanism::DigestMd5, c) if c.starts_with(b"rspauth=") => Vec::new(),
                    (Mechanism::DigestMd5, c) => {
                        digest_client(user, password, std::str::from_utf8(c).unwrap())
                    }
                    _ => panic!("unexpected challenge {ch:?}"),
                };
                ex.step(&answer)
            }
            done => return done,
        };
    }
    panic!("exchange did not finish")
}

fn digest_client(user: &str, password: &str, challenge: &str) -> Vec<u8> {
    use md5::Digest;
    let h = |parts: &[&[u8]]| {
        let mut m = md5::Md5::new();
        for p in parts {
            m.update(p);
        }
        m.finalize()
    };
    let hexs = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let secret = h(&[format!("{user}:{REALM}:{password}").as_bytes()]);
    let a1 = hexs(&h(&[&secret, format!(":{nonce}:xyz").as_bytes()]));
    let a2 = hexs(&h(&[format!("AUTHENTICATE:imap/{REALM}").as_bytes()]));
    let resp = hexs(&h(&[format!("{a1}:{nonce}:00000001:xyz:auth:{a2}").as_bytes()]));
    format!(
        "charset=utf-8,username=\"{user}\",realm=\"{REALM}\",nonce=\"{nonce}\",nc=00000001,cnonce=\"xyz\",digest-uri=\"imap/{REALM}\",response={resp},qop=auth"
    )
    .into_bytes()
}

fn success(step: &Step) -> bool {
    matches!(step, Step::Success(id) if id.authcid == "ned")
}

#[test]
fn hash_password_round_trip_every_scheme_every_mechanism() {
    for scheme in Scheme::ALL {
        let hashed = hash_password(scheme, "ned", "s3cret pass", REALM).unwrap();
        assert!(hashed.starts_with(&format!("{{{scheme}}}")), "{hashed}");
        let file = PasswdFile::parse(&format!(
            "# test\n\nned:{hashed}:1000:1000::/home/ned:/bin/false\n"
        ))
        .unwrap()
        .with_realm(REALM);
        let caps = file.capabilities();
        assert!(caps.plaintext);
        for mech in [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::DigestMd5,
        ] {
            let served = match mech {
                Mechanism::CramMd5 => matches!(scheme, Scheme::Plain | Scheme::CramMd5),
                Mechanism::DigestMd5 => matches!(scheme, Scheme::Plain | Scheme::DigestMd5),
                _ => true,
            };
            if mech.needs_stored_secret() {
                assert_eq!(caps.secret_mechanisms.contains(mech), served, "{scheme} {mech}");
            }
            let good = authenticate(&file, mech, "ned", "s3cret pass");
            assert_eq!(success(&good), served, "{scheme} {mech}: {good:?}");
            let bad = authenticate(&file, mech, "ned", "s3cret pasS");
            assert_eq!(bad, Step::Failure(Failure::BadCredentials), "{scheme} {mech}");
            let unknown = authenticate(&file, mech, "nobody", "s3cret pass");
            assert_eq!(unknown, Step::Failure(Failure::BadCredentials), "{scheme} {mech}");
        }
    }
}

#[test]
fn hashes_from_doveadm_verify() {
    // Produced by `doveadm pw` (Dovecot 2.3) for password "x" / "tanstaaftanstaaf".
    let file = PasswdFile::parse(concat!(
        "a:{SHA512-CRYPT}$6$AX4bD8MtoC3brJC9$84/.ICo.84dP.pUbSx0oL9s5z6lZW177bNGYC76un3.WvAQovdFhlfPglUDnO95JBNNuMMgahP59ooPx.7oY/0\n",
        "b:{SHA256-CRYPT}$5$NenB28hksnKApPRp$xAJJy7QL5tkbCjngbFy/JNRoc3KtnDNc6Y9iELILj06\n",
        "c:{BLF-CRYPT}$2y$05$b1.Gd.OSpq7XKaaZFrJqGeAEDvKxtJTI2ZqJiYqjryJIPsU2VU4EW\n",
        "d:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$m0WtuPYL2f4iQcAeHx4WWg$ouwpzx3sLpuRV0031jnRN00H/85IXF+QpuzswCVheks\n",
        "tim:{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b\n",
        "e:{PLAIN}x\n",
        "f:{DIGEST-MD5}592cfae3c4b871697c6661e897fbe1de\n",
        "tim@realm.test:{DIGEST-MD5}592cfae3c4b871697c6661e897fbe1de\n",
        "g:$6$AX4bD8MtoC3brJC9$84/.ICo.84dP.pUbSx0oL9s5z6lZW177bNGYC76un3.WvAQovdFhlfPglUDnO95JBNNuMMgahP59ooPx.7oY/0\n",
    ))
    .unwrap();
    let plain = |user: &str, pw: &str| {
        file.verify(&VerifyRequest {
            mechanism: Mechanism::Plain,
            authcid: user.into(),
            authzid: None,
            proof: Proof::Password(pw.to_owned().into()),
        })
    };
    for user in ["a", "b", "c", "d", "e", "g"] {
        assert!(
            matches!(plain(user, "x"), VerifyOutcome::Success { .. }),
            "{user}"
        );
        assert_eq!(plain(user, "y"), VerifyOutcome::Failure, "{user}");
    }
    assert!(matches!(
        plain("tim", "tanstaaftanstaaf"),
        VerifyOutcome::Success { .. }
    ));
    // {DIGEST-MD5} for "tim@realm.test" is MD5(tim:realm.test:pw) (Dovecot's convention).
    assert!(matches!(
        plain("tim@realm.test", "tanstaaftanstaaf"),
        VerifyOutcome::Success { .. }
    ));
    assert_eq!(plain("f", "tanstaaftanstaaf"), VerifyOutcome::Failure);
    // With the realm configured, a bare user name is hashed with it.
    let with_realm = PasswdFile::parse("tim:{DIGEST-MD5}592cfae3c4b871697c6661e897fbe1de\n").unwrap();
    let req = VerifyRequest {
        mechanism: Mechanism::Login,
        authcid: "tim".into(),
        authzid: None,
        proof: Proof::Password("tanstaaftanstaaf".to_owned().into()),
    };
    assert_eq!(with_realm.verify(&req), VerifyOutcome::Failure);
    assert!(matches!(
        with_realm.with_realm("realm.test").verify(&req),
        VerifyOutcome::Success { .. }
    ));
    assert_eq!(file.len(), 9);
    assert_eq!(file.entry("tim").unwrap().line, 5);
}

#[test]
fn hash_password_matches_doveadm_for_deterministic_schemes() {
    assert_eq!(
        hash_password(Scheme::CramMd5, "tim", "tanstaaftanstaaf", "").unwrap(),
        "{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"
    );
    assert_eq!(
        hash_password(Scheme::DigestMd5, "tim", "tanstaaftanstaaf", "").unwrap(),
        "{DIGEST-MD5}7396b604a99fea7366609999d0b7fad4"
    );
    assert_eq!(
        hash_password(Scheme::DigestMd5, "tim@realm.test", "tanstaaftanstaaf", "").unwrap(),
        "{DIGEST-MD5}592cfae3c4b871697c6661e897fbe1de"
    );
    assert_eq!(
        hash_password(Scheme::DigestMd5, "tim", "tanstaaftanstaaf", "realm.test").unwrap(),
        "{DIGEST-MD5}592cfae3c4b871697c6661e897fbe1de"
    );
    assert_eq!(
        hash_password(Scheme::Plain, "tim", "pw", "").unwrap(),
        "{PLAIN}pw"
    );
}

#[test]
fn our_hashes_verify_with_doveadm() {
    if std::process::Command::new("doveadm")
        .arg("help")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "doveadm missing under CI"
        );
        eprintln!("SKIPPED: doveadm not installed");
        return;
    }
    for scheme in Scheme::ALL {
        let hashed = hash_password(scheme, "tim", "tanstaaftanstaaf", "").unwrap();
        for (pw, ok) in [("tanstaaftanstaaf", true), ("wrong", false)] {
            let out = std::process::Command::new("doveadm")
                .args(["pw", "-t", &hashed, "-u", "tim", "-p", pw])
                .output()
                .unwrap();
            assert_eq!(
                out.status.success(),
                ok,
                "{scheme} {pw}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn scheme_names() {
    for scheme in Scheme::ALL {
        assert_eq!(scheme.to_string().parse::<Scheme>().unwrap(), scheme);
        assert_eq!(scheme.name().to_lowercase().parse::<Scheme>().unwrap(), scheme);
    }
    assert_eq!("CLEARTEXT".parse::<Scheme>().unwrap(), Scheme::Plain);
    assert_eq!("HMAC-MD5".parse::<Scheme>().unwrap(), Scheme::CramMd5);
    let err = "MD5-CRYPT".parse::<Scheme>().unwrap_err();
    assert!(
        err.to_string().contains("MD5-CRYPT") && err.to_string().contains("SHA512-CRYPT"),
        "{err}"
    );
}

#[test]
fn hash_password_refusals() {
    assert!(hash_password(Scheme::Plain, "u", "a:b", "").is_err());
    assert!(hash_password(Scheme::Sha512Crypt, "u", "", "").is_err());
    let e = hash_password(Scheme::Sha512Crypt, "u", "a\u{7}b", "").unwrap_err();
    assert!(e.to_string().contains("SASLprep"), "{e}");
}

#[test]
fn parse_errors_name_file_and_line() {
    let cases = [
        ("ok:{PLAIN}x\n:{PLAIN}y\n", 2, "empty user name"),
        ("# c\nnopass\n", 2, "expected user:{SCHEME}hash"),
        ("a:{FOO}x\n", 1, "unknown scheme"),
        ("a:{CRAM-MD5}abcd\n", 1, "64 hex digits"),
        ("a:{DIGEST-MD5}zz\n", 1, "32 hex digits"),
        ("a:{SHA512-CRYPT}$5$x$y\n", 1, "$6$"),
        ("a:{BLF-CRYPT}$2y$05$short\n", 1, "bcrypt"),
        (
            "a:{ARGON2ID}$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\n",
            1,
            "argon2id",
        ),
        ("a:plaintext\n", 1, "no {SCHEME} prefix"),
        ("a:{PLAIN\n", 1, "'{'"),
        ("a:{PLAIN}x\n\n\na:{PLAIN}y\n", 4, "already defined on line 1"),
    ];
    for (text, line, needle) in cases {
        let err = PasswdFile::parse(text).unwrap_err();
        let SaslError::PasswdFile {
            line: l, ref path, ..
        } = err
        else {
            panic!("{err:?}")
        };
        let msg = err.to_string();
        assert_eq!(l, line, "{msg}");
        assert!(msg.starts_with(&format!("{}:{line}: ", path.display())), "{msg}");
        assert!(msg.contains(needle), "{text:?}: {msg}");
    }
    let err = PasswdFile::load("/nonexistent/dir/passwd").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dir/passwd"), "{err}");
}

#[test]
fn layout_comments_crlf_extra_fields_and_empty_password() {
    let file = PasswdFile::parse(
        "# comment\r\n   \r\nned:{PLAIN}pw:1000:1001:Ned:/home/ned:/bin/sh:userdb_quota_rule=*:storage=1G\r\nnopw::1:1::/:\n",
    )
    .unwrap();
    let e = file.entry("ned").unwrap();
    assert_eq!(
        (e.uid.as_str(), e.gid.as_str(), e.home.as_str()),
        ("1000", "1001", "/home/ned")
    );
    assert_eq!(e.extra, "userdb_quota_rule=*:storage=1G");
    assert!(matches!(file.lookup("ned"), Some(StoredSecret::Plain(_))));
    assert!(file.lookup("nopw").is_none());
    assert!(file.lookup("nobody").is_none());
    // A user without password cannot log in.
    assert_eq!(
        authenticate(&file, Mechanism::Plain, "nopw", "x"),
        Step::Failure(Failure::BadCredentials)
    );
}

#[test]
fn capabilities_follow_schemes() {
    let caps = |text: &str| PasswdFile::parse(text).unwrap().capabilities();
    let one_way = caps(&format!(
        "a:{}\n",
        hash_password(Scheme::Sha256Crypt, "a", "p", "").unwrap()
    ));
    assert!(one_way.plaintext && one_way.secret_mechanisms.is_empty());
    assert_eq!(
        caps("a:{PLAIN}p\n").secret_mechanisms.to_string(),
        "CRAM-MD5 DIGEST-MD5"
    );
    assert_eq!(
        caps("a:{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b\n")
            .secret_mechanisms
            .to_string(),
        "CRAM-MD5"
    );
    assert_eq!(
        caps("a:{DIGEST-MD5}592cfae3c4b871697c6661e897fbe1de\n")
            .secret_mechanisms
            .to_string(),
        "DIGEST-MD5"
    );
    assert!(caps("").plaintext);
}

/// The scheme and cost of a `{SHA512-CRYPT}$6$[rounds=N$]salt$hash`
/// secret: (`$6$`, rounds), 5000 rounds when the parameter is absent.
fn sha512_crypt_cost(secret: &StoredSecret) -> (String, u32) {
    let StoredSecret::Hashed(hash) = secret else {
        panic!("not a one-way hash: {secret:?}")
    };
    let data = hash.strip_prefix("{SHA512-CRYPT}").expect("SHA512-CRYPT scheme");
    let rest = data.strip_prefix("$6$").expect("$6$ prefix");
    let rounds = match rest.strip_prefix("rounds=") {
        Some(r) => r.split('$').next().unwrap().parse().unwrap(),
        None => 5000,
    };
    ("$6$".into(), rounds)
}

fn wrong_password_for(user: &str) -> VerifyRequest {
    VerifyRequest {
        mechanism: Mechanism::Plain,
        authcid: user.into(),
        authzid: None,
        proof: Proof::Password("wrong".to_owned().into()),
    }
}

/// Unknown users must cost what a wrong password costs (no user
/// enumeration by timing). Deterministic form: the request of an unknown
/// user is checked against a secret of the same scheme and cost as the
/// real entries, and exactly one hash computation runs, as for a known
/// user. (The timing itself is measured in `benches/benches/sasl.rs`,
/// group `sasl_passwd_file_sha512_crypt`.)
#[test]
fn unknown_user_does_the_same_hash_work_as_a_wrong_password() {
    let ned = hash_password(Scheme::Sha512Crypt, "ned", "pw", "").unwrap();
    let file = PasswdFile::parse(&format!("amy:{{PLAIN}}amy-pw\nned:{ned}\n")).unwrap();
    let ned_secret = file.lookup("ned").unwrap();
    let password = Proof::Password("wrong".to_owned().into());
    // The stand-in is a real entry's one-way hash, not the {PLAIN} one
    // listed first: same scheme and cost as ned's.
    let stand_in = file.unknown_user_stand_in(&password);
    assert_eq!(*stand_in, ned_secret);
    assert_eq!(sha512_crypt_cost(&stand_in), sha512_crypt_cost(&ned_secret));

    let checks = mail_sasl::passwd_file::one_way_checks_on_this_thread;
    let work = |request: &VerifyRequest| {
        let before = checks();
        let outcome = file.verify(request);
        (outcome, checks() - before)
    };
    assert_eq!(work(&wrong_password_for("ned")), (VerifyOutcome::Failure, 1));
    assert_eq!(work(&wrong_password_for("ghost")), (VerifyOutcome::Failure, 1));
    // ned's own password does not open an unknown account checked against ned's hash.
    let mut ghost_with_neds_password = wrong_password_for("ghost");
    ghost_with_neds_password.proof = Proof::Password("pw".to_owned().into());
    assert_eq!(work(&ghost_with_neds_password), (VerifyOutcome::Failure, 1));
    let mut right = wrong_password_for("ned");
    right.proof = Proof::Password("pw".to_owned().into());
    assert!(matches!(work(&right), (VerifyOutcome::Success { .. }, 1)));
    // A {PLAIN} user costs no hash computation; neither does a CRAM-MD5
    // proof for an unknown user (stand-in: amy's {PLAIN} secret).
    assert_eq!(work(&wrong_password_for("amy")), (VerifyOutcome::Failure, 0));
    let cram = Proof::CramMd5 {
        challenge: b"<1.2@h>".to_vec(),
        digest: [0; 16],
    };
    assert_eq!(*file.unknown_user_stand_in(&cram), file.lookup("amy").unwrap());

    // Higher cost in the file: the stand-in follows it.
    let slow = "{SHA512-CRYPT}$6$rounds=6000$saltsalt$".to_owned() + &"A".repeat(86);
    let file_slow = PasswdFile::parse(&format!("bob:{slow}\n")).unwrap();
    assert_eq!(
        sha512_crypt_cost(&file_slow.unknown_user_stand_in(&password)),
        ("$6$".into(), 6000)
    );

    // Without any one-way entry to copy, the fixed stand-in has the cost
    // hash_password gives, and it really is computed (a malformed dummy
    // would be refused without any hashing).
    let empty = PasswdFile::parse("").unwrap();
    let fixed = empty.unknown_user_stand_in(&password);
    assert_eq!(*fixed, StoredSecret::unknown_user_stand_in(&password));
    assert_eq!(sha512_crypt_cost(&fixed), sha512_crypt_cost(&ned_secret));
    let before = checks();
    assert_eq!(empty.verify(&wrong_password_for("ghost")), VerifyOutcome::Failure);
    assert_eq!(
        StoredSecret::dummy_verify(&wrong_password_for("ghost")),
        VerifyOutcome::Failure
    );
    assert_eq!(checks() - before, 2);
}

#[test]
fn reloading_file_picks_up_changes_and_keeps_last_good() {
    let dir = std::env::temp_dir().join(format!("mail-sasl-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("passwd");
    std::fs::write(&path, "ned:{PLAIN}one\n").unwrap();
    let backend = ReloadingPasswdFile::open(&path).unwrap();
    assert!(success(&authenticate(&backend, Mechanism::Plain, "ned", "one")));
    // New contents (different size, so the change is seen even within one mtime tick).
    std::fs::write(&path, "ned:{PLAIN}second\n").unwrap();
    assert!(success(&authenticate(
        &backend,
        Mechanism::Plain,
        "ned",
        "second"
    )));
    assert!(!success(&authenticate(&backend, Mechanism::Plain, "ned", "one")));
    // A broken file keeps the previous contents in service and reports why.
    std::fs::write(&path, "ned:{NOPE}x\n").unwrap();
    assert!(success(&authenticate(
        &backend,
        Mechanism::Plain,
        "ned",
        "second"
    )));
    let err = backend.last_error().expect("error recorded");
    assert!(err.contains("passwd:1:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_check_interval_defers_the_reload() {
    let dir = std::env::temp_dir().join(format!("mail-sasl-interval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("passwd");
    std::fs::write(&path, "ned:{PLAIN}one\n").unwrap();
    let backend = ReloadingPasswdFile::open(&path)
        .unwrap()
        .with_check_interval(std::time::Duration::from_secs(3600));
    std::fs::write(&path, "ned:{PLAIN}second\n").unwrap();
    // Within the interval the file is not looked at: the old contents serve.
    assert!(success(&authenticate(&backend, Mechanism::Plain, "ned", "one")));
    assert!(!success(&authenticate(
        &backend,
        Mechanism::Plain,
        "ned",
        "second"
    )));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mechanism_policy_from_passwd_file() {
    let file = PasswdFile::parse(&format!(
        "a:{}\n",
        hash_password(Scheme::CramMd5, "a", "p", "").unwrap()
    ))
    .unwrap();
    let policy = mail_sasl::MechanismPolicy::default();
    assert_eq!(
        policy.offered(file.capabilities(), true).to_string(),
        "PLAIN LOGIN CRAM-MD5"
    );
    assert_eq!(policy.offered(file.capabilities(), false).to_string(), "CRAM-MD5");
}

/// Fuzz regression (fuzz smoke, `passwd_file`): a `$5$`/`$6$` hash with a
/// malformed hash field made sha-crypt panic during verification.
#[test]
fn malformed_sha_crypt_hashes_fail_without_panicking() {
    // The crashing input, as found: "\t:\n\r$:$5$$(:".
    let crash = [9u8, 58, 10, 13, 36, 58, 36, 53, 36, 36, 40, 58];
    if let Ok(file) = PasswdFile::parse(std::str::from_utf8(&crash).unwrap()) {
        for entry in file.entries() {
            let _ = authenticate(&file, Mechanism::Plain, &entry.user, "x");
        }
    }
    for scheme in [Scheme::Sha512Crypt, Scheme::Sha256Crypt] {
        let good = hash_password(scheme, "ned", "pw", "").unwrap();
        let (prefix, hash) = good.split_at(good.find('$').unwrap());
        // The well-formed hash verifies (so the refusals below are meaningful).
        let file = PasswdFile::parse(&format!("ned:{good}\n")).unwrap();
        assert!(
            success(&authenticate(&file, Mechanism::Plain, "ned", "pw")),
            "{good}"
        );
        let truncated = &hash[..hash.len() - 1];
        for bad in [
            "$5$$(".to_owned(),
            "$6$salt$".to_owned(),
            "$6$rounds=$salt$x".to_owned(),
            format!("$6${}", "s".repeat(40)),
            truncated.to_owned(),
            format!("{truncated}("),
            format!("{hash}A"),
        ] {
            if let Ok(file) = PasswdFile::parse(&format!("ned:{prefix}{bad}\n")) {
                assert!(
                    !success(&authenticate(&file, Mechanism::Plain, "ned", "pw")),
                    "{prefix}{bad}"
                );
            }
        }
    }
}
