//! Mechanism state machines: one submodule per mechanism parses and checks
//! the client's messages; this module runs the shared part of the exchange
//! (waiting for verification, DIGEST-MD5's `rspauth` round, misuse).

mod cram_md5;
mod digest_md5;
mod login;
mod plain;

pub(crate) use cram_md5::cram_md5_challenge;
pub(crate) use digest_md5::DigestMd5;

use std::borrow::Cow;

use zeroize::Zeroizing;

use crate::{ExchangeContext, Failure, Identity, Mechanism, Proof, Step, VerifyOutcome, VerifyRequest};

/// Longest user name or password accepted by PLAIN and LOGIN (RFC 4616 §2:
/// servers must accept up to and including 255 octets per field).
pub(crate) const MAX_FIELD: usize = 255;

#[derive(Debug)]
pub(crate) enum State {
    /// PLAIN without initial response: the empty challenge was sent.
    Plain { allow_proxy: bool },
    /// LOGIN, waiting for the user name or the password.
    Login(login::Login),
    /// CRAM-MD5: the challenge was sent.
    CramMd5 { challenge: Vec<u8> },
    /// DIGEST-MD5: the digest-challenge was sent.
    DigestMd5(DigestMd5),
    /// A [`Step::Verify`] was returned; waiting for [`State::verified`].
    AwaitingVerify {
        mechanism: Mechanism,
        identity: Identity,
    },
    /// DIGEST-MD5: `rspauth` was sent; waiting for the client's empty response.
    DigestRspauth { identity: Identity },
    /// Finished (success or failure): every further call is a misuse.
    Done,
}

/// What PLAIN and LOGIN extract: small (72 octets), so that the large
/// [`Step::Verify`] is built once, in place, instead of being moved
/// through `Result`s and tuples (those copies were a fifth of a PLAIN
/// exchange).
pub(crate) struct PasswordCredentials {
    pub(crate) authcid: String,
    pub(crate) authzid: Option<String>,
    pub(crate) password: Zeroizing<String>,
}

impl State {
    /// The state and first step of an exchange.
    #[cfg(test)]
    pub(crate) fn start(
        mechanism: Mechanism,
        initial_response: Option<&[u8]>,
        ctx: &ExchangeContext<'_>,
    ) -> (State, Step) {
        let mut state = State::Done;
        let step = state.begin(mechanism, initial_response, ctx);
        (state, step)
    }

    /// Begin an exchange: set the state (from [`State::Done`]) and return the first step.
    #[inline(always)]
    pub(crate) fn begin(
        &mut self,
        mechanism: Mechanism,
        initial_response: Option<&[u8]>,
        ctx: &ExchangeContext<'_>,
    ) -> Step {
        match mechanism {
            Mechanism::Plain => match initial_response {
                None => {
                    *self = State::Plain {
                        allow_proxy: ctx.allow_proxy_authorization,
                    };
                    Step::Challenge(Vec::new())
                }
                Some(message) => self.password_step(
                    Mechanism::Plain,
                    plain::parse(message, ctx.allow_proxy_authorization),
                ),
            },
            Mechanism::Login => match login::Login::start(initial_response) {
                Ok((login, challenge)) => {
                    *self = State::Login(login);
                    Step::Challenge(challenge.to_vec())
                }
                Err(failure) => self.fail(failure),
            },
            Mechanism::CramMd5 => {
                if initial_response.is_some_and(|ir| !ir.is_empty()) {
                    return self.fail(Failure::Malformed("CRAM-MD5 takes no initial response"));
                }
                let challenge = cram_md5_challenge(ctx);
                *self = State::CramMd5 {
                    challenge: challenge.clone(),
                };
                Step::Challenge(challenge)
            }
            Mechanism::DigestMd5 => {
                if initial_response.is_some_and(|ir| !ir.is_empty()) {
                    return self.fail(Failure::Malformed(
                        "DIGEST-MD5 subsequent authentication is not supported",
                    ));
                }
                let digest = DigestMd5::new(ctx);
                let challenge = digest.challenge();
                *self = State::DigestMd5(digest);
                Step::Challenge(challenge)
            }
            Mechanism::Anonymous => self.fail(Failure::MechanismRefused),
        }
    }

    #[inline]
    pub(crate) fn step(&mut self, response: &[u8]) -> Step {
        match std::mem::replace(self, State::Done) {
            State::Plain { allow_proxy } => {
                self.password_step(Mechanism::Plain, plain::parse(response, allow_proxy))
            }
            State::Login(login) => match login.step(response) {
                Ok(login::LoginStep::Challenge(next, challenge)) => {
                    *self = State::Login(next);
                    Step::Challenge(challenge.to_vec())
                }
                Ok(login::LoginStep::Verify(credentials)) => {
                    self.password_step(Mechanism::Login, Ok(credentials))
                }
                Err(failure) => self.fail(failure),
            },
            State::CramMd5 { challenge } => self.verify_step(cram_md5::parse_response(challenge, response)),
            State::DigestMd5(digest) => self.verify_step(digest.step(response)),
            State::DigestRspauth { identity } => {
                if response.is_empty() {
                    Step::Success(identity)
                } else {
                    Step::Failure(Failure::Malformed(
                        "DIGEST-MD5 expects an empty response after rspauth",
                    ))
                }
            }
            State::AwaitingVerify { .. } | State::Done => Step::Failure(Failure::UnexpectedStep),
        }
    }

    #[inline(always)]
    pub(crate) fn verified(&mut self, outcome: VerifyOutcome) -> Step {
        let State::AwaitingVerify { mechanism, identity } = std::mem::replace(self, State::Done) else {
            return Step::Failure(Failure::UnexpectedStep);
        };
        match outcome {
            VerifyOutcome::Success { server_proof } => {
                if mechanism == Mechanism::DigestMd5 {
                    match server_proof {
                        Some(proof) => {
                            *self = State::DigestRspauth { identity };
                            Step::Challenge(proof)
                        }
                        // A backend that cannot produce rspauth cannot serve DIGEST-MD5.
                        None => Step::Failure(Failure::Temporary),
                    }
                } else {
                    Step::Success(identity)
                }
            }
            VerifyOutcome::Failure => Step::Failure(Failure::BadCredentials),
            VerifyOutcome::Temporary => Step::Failure(Failure::Temporary),
        }
    }

    /// End the exchange with `failure`.
    fn fail(&mut self, failure: Failure) -> Step {
        *self = State::Done;
        Step::Failure(failure)
    }

    /// PLAIN/LOGIN: the `Verify` step for the parsed credentials (the
    /// state remembers who is being verified), or the parse failure.
    #[inline(always)]
    fn password_step(&mut self, mechanism: Mechanism, parsed: Result<PasswordCredentials, Failure>) -> Step {
        match parsed {
            Ok(PasswordCredentials {
                authcid,
                authzid,
                password,
            }) => {
                *self = State::AwaitingVerify {
                    mechanism,
                    identity: Identity {
                        authcid: authcid.clone(),
                        authzid: authzid.clone(),
                    },
                };
                Step::Verify(VerifyRequest {
                    mechanism,
                    authcid,
                    authzid,
                    proof: Proof::Password(password),
                })
            }
            Err(failure) => self.fail(failure),
        }
    }

    /// The `Verify` step for a parsed request (the state remembers who is
    /// being verified), or the parse failure.
    fn verify_step(&mut self, parsed: Result<VerifyRequest, Failure>) -> Step {
        match parsed {
            Ok(request) => {
                *self = State::AwaitingVerify {
                    mechanism: request.mechanism,
                    identity: Identity {
                        authcid: request.authcid.clone(),
                        authzid: request.authzid.clone(),
                    },
                };
                Step::Verify(request)
            }
            Err(failure) => self.fail(failure),
        }
    }
}

/// A user name or password field of PLAIN/LOGIN: at most [`MAX_FIELD`]
/// octets, UTF-8, not empty (`empty` is the error text), SASLprep'ed.
/// Borrowed when preparation changes nothing (printable ASCII): the
/// caller decides whether and when to copy.
#[inline]
fn prepared_field<'a>(bytes: &'a [u8], empty: &'static str) -> Result<Cow<'a, str>, Failure> {
    if bytes.len() > MAX_FIELD {
        return Err(Failure::Malformed("field longer than 255 octets"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Failure::Malformed("not valid UTF-8"))?;
    prepared_text(text, empty)
}

/// The second half of [`prepared_field`], for text already checked for
/// length and UTF-8: not empty (`empty` is the error text), SASLprep'ed.
#[inline(always)]
fn prepared_text<'a>(text: &'a str, empty: &'static str) -> Result<Cow<'a, str>, Failure> {
    if text.is_empty() {
        return Err(Failure::Malformed(empty));
    }
    // RFC 4616 §4 / RFC 4013: if preparation fails or gives an empty
    // string, verification fails.
    crate::crypto::saslprep(text).ok_or(Failure::BadCredentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Proof, StoredSecret};

    /// `Step` is returned by value at every exchange step: the rare, large
    /// DIGEST-MD5 proof is boxed so that moving a `Step` stays cheap.
    #[test]
    fn step_stays_small() {
        let size = std::mem::size_of::<Step>();
        eprintln!("size_of::<Step>() = {size}");
        assert!(size <= 16 * std::mem::size_of::<usize>(), "{size}");
    }

    fn rfc2831_exchange(ctx: &ExchangeContext<'_>) -> State {
        State::DigestMd5(DigestMd5::with_nonce(ctx, "OA6MG9tEQGm2hh".into()))
    }

    const RFC2831_RESPONSE: &[u8] = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7,qop=auth";

    fn elwood() -> ExchangeContext<'static> {
        ExchangeContext::new("imap", "elwood.innosoft.com", [0; 16])
    }

    #[test]
    fn rfc2831_section4_example_response_and_rspauth() {
        let ctx = elwood();
        let mut state = rfc2831_exchange(&ctx);
        let challenge = match &state {
            State::DigestMd5(d) => d.challenge(),
            _ => unreachable!(),
        };
        assert_eq!(
            challenge,
            b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",charset=utf-8,algorithm=md5-sess"
        );
        let Step::Verify(request) = state.step(RFC2831_RESPONSE) else {
            panic!("verify expected")
        };
        assert_eq!(request.authcid, "chris");
        let outcome = request.verify_with(&StoredSecret::plain("secret"));
        assert_eq!(
            outcome,
            VerifyOutcome::Success {
                server_proof: Some(b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec())
            }
        );
        // Stored H(A1) gives the same.
        let ha1 = crate::crypto::digest_md5_ha1("chris", "elwood.innosoft.com", "secret");
        assert_eq!(request.verify_with(&StoredSecret::DigestMd5 { ha1 }), outcome);
        assert_eq!(
            request.verify_with(&StoredSecret::plain("Secret")),
            VerifyOutcome::Failure
        );
        assert_eq!(
            state.verified(outcome),
            Step::Challenge(b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec())
        );
        assert_eq!(
            state.step(b""),
            Step::Success(Identity {
                authcid: "chris".into(),
                authzid: None
            })
        );
        assert_eq!(state.step(b""), Step::Failure(Failure::UnexpectedStep));
    }

    /// Replace `from` by `to` in the RFC response (tests of each check).
    fn variant(from: &str, to: &str) -> Vec<u8> {
        let s = std::str::from_utf8(RFC2831_RESPONSE).unwrap();
        assert!(s.contains(from), "{from}");
        s.replacen(from, to, 1).into_bytes()
    }

    fn digest_step(ctx: &ExchangeContext<'_>, response: &[u8]) -> Step {
        rfc2831_exchange(ctx).step(response)
    }

    #[test]
    fn digest_checks_nonce_nc_qop_uri_realm() {
        let ctx = elwood();
        let bad = |resp: Vec<u8>| match digest_step(&ctx, &resp) {
            Step::Failure(Failure::Malformed(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&resp)),
        };
        bad(variant("nonce=\"OA6MG9tEQGm2hh\"", "nonce=\"OA6MG9tEQGm2hX\""));
        bad(variant("nonce=\"OA6MG9tEQGm2hh\",", ""));
        bad(variant("nc=00000001", "nc=00000002"));
        bad(variant("nc=00000001", "nc=1"));
        bad(variant("nc=00000001,", ""));
        bad(variant("qop=auth", "qop=auth-int"));
        bad(variant("qop=auth", "qop=auth-conf"));
        bad(variant("imap/elwood", "smtp/elwood"));
        bad(variant("imap/elwood.innosoft.com", "imap/evil.example"));
        bad(variant("imap/elwood.innosoft.com", "imap"));
        bad(variant(
            "imap/elwood.innosoft.com",
            "imap/elwood.innosoft.com/evil.example",
        ));
        bad(variant("digest-uri=\"imap/elwood.innosoft.com\",", ""));
        bad(variant("realm=\"elwood.innosoft.com\"", "realm=\"other\""));
        bad(variant("cnonce=\"OA6MHXh6VqTrRk\"", "cnonce=\"\""));
        bad(variant("cnonce=\"OA6MHXh6VqTrRk\",", ""));
        bad(variant("username=\"chris\",", ""));
        bad(variant("username=\"chris\"", "username=\"\""));
        bad(variant(
            "response=d388dad90d4bbd760a152321f2143af7",
            "response=d388",
        ));
        bad(variant("response=d388dad90d4bbd760a152321f2143af7,", ""));
        bad(variant("charset=utf-8", "charset=iso-8859-1"));
        bad(variant(
            "username=\"chris\"",
            "username=\"chris\",username=\"other\"",
        ));
        bad(variant("username=\"chris\"", "username=\"ch\\\"ris"));
        bad(variant("charset=utf-8", "charset=utf-8,username=\"\u{1}x\""));
        bad(b"garbage".to_vec());
        bad(vec![b'a'; 5000]);
    }

    #[test]
    fn digest_tolerates_client_forms() {
        let ctx = elwood();
        let verifies = |resp: Vec<u8>| match digest_step(&ctx, &resp) {
            Step::Verify(r) => r.verify_with(&StoredSecret::plain("secret")),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&resp)),
        };
        let ok = |resp: Vec<u8>| {
            assert!(
                matches!(verifies(resp.clone()), VerifyOutcome::Success { .. }),
                "{:?}",
                String::from_utf8_lossy(&resp)
            )
        };
        // Quoted nc/qop (Cyrus-ish), unquoted username, spaces and empty elements.
        ok(variant("nc=00000001", "nc=\"00000001\""));
        ok(variant("qop=auth", "qop=\"auth\""));
        ok(variant("username=\"chris\"", "username=chris"));
        ok(variant("charset=utf-8,", " , charset = utf-8 ,, "));
        ok(variant(
            "response=d388dad90d4bbd760a152321f2143af7",
            "response=D388DAD90D4BBD760A152321F2143AF7",
        ));
        ok(variant("qop=auth", "qop=auth,maxbuf=65536,x-unknown=\"y\""));
        ok(variant("charset=utf-8,", ""));
        ok(variant("nonce=", "\r\n\tnonce="));
        // Realm absent: accepted, hashed as the empty realm (RFC 2831 §2.1.2).
        let r = variant("realm=\"elwood.innosoft.com\",", "");
        assert_eq!(verifies(r), VerifyOutcome::Failure);
        // curl uses the realm as digest-uri host.
        let ctx2 = ExchangeContext {
            realm: "elwood.innosoft.com",
            ..ExchangeContext::new("imap", "mail.example", [0; 16])
        };
        assert!(matches!(digest_step(&ctx2, RFC2831_RESPONSE), Step::Verify(_)));
    }

    #[test]
    fn digest_authzid_needs_proxy_permission() {
        let ctx = elwood();
        let with_authzid = variant("qop=auth", "qop=auth,authzid=\"boss\"");
        assert_eq!(
            digest_step(&ctx, &with_authzid),
            Step::Failure(Failure::AuthorizationDenied)
        );
        let same = variant("qop=auth", "qop=auth,authzid=\"chris\"");
        let Step::Verify(r) = digest_step(&ctx, &same) else {
            panic!()
        };
        assert_eq!(r.authzid, None);
        assert!(matches!(&r.proof, Proof::DigestMd5(d) if d.authzid.as_deref() == Some("chris")));
        let proxy = ExchangeContext {
            allow_proxy_authorization: true,
            ..elwood()
        };
        let Step::Verify(r) = digest_step(&proxy, &with_authzid) else {
            panic!()
        };
        assert_eq!(r.authzid.as_deref(), Some("boss"));
        // The response covers the authzid: the RFC digest no longer matches.
        assert_eq!(
            r.verify_with(&StoredSecret::plain("secret")),
            VerifyOutcome::Failure
        );
    }

    #[test]
    fn digest_nonce_is_single_use_and_differs_per_exchange() {
        let ctx = elwood();
        let mut state = rfc2831_exchange(&ctx);
        assert!(matches!(state.step(RFC2831_RESPONSE), Step::Verify(_)));
        // Replaying the same response in the same exchange.
        assert_eq!(
            state.step(RFC2831_RESPONSE),
            Step::Failure(Failure::UnexpectedStep)
        );
        // A new exchange has a new nonce: the old response is refused.
        let (_, Step::Challenge(c1)) = State::start(
            Mechanism::DigestMd5,
            None,
            &ExchangeContext::new("imap", "h", [1; 16]),
        ) else {
            panic!()
        };
        let (_, Step::Challenge(c2)) = State::start(
            Mechanism::DigestMd5,
            None,
            &ExchangeContext::new("imap", "h", [2; 16]),
        ) else {
            panic!()
        };
        assert_ne!(c1, c2);
        let (mut fresh, _) = State::start(Mechanism::DigestMd5, None, &elwood());
        assert!(matches!(
            fresh.step(RFC2831_RESPONSE),
            Step::Failure(Failure::Malformed(_))
        ));
    }

    #[test]
    fn digest_latin1_conversion_of_utf8_values() {
        // "café" sent as UTF-8 with charset=utf-8 hashes like ISO 8859-1 "caf\xe9".
        let ctx = elwood();
        let state = DigestMd5::with_nonce(&ctx, "n".into());
        let make = |user: &[u8], charset: bool| {
            let inputs = crate::crypto::DigestInputs {
                nonce: "n",
                cnonce: "c",
                nc: "00000001",
                qop: "auth",
                digest_uri: "imap/elwood.innosoft.com",
                authzid: None,
            };
            let ha1 = crate::crypto::md5(&[b"caf\xe9", b":elwood.innosoft.com:", b"p\xe4ss"]);
            let resp = crate::crypto::digest_md5_response(&ha1, &inputs, true);
            let mut m = Vec::new();
            if charset {
                m.extend_from_slice(b"charset=utf-8,");
            }
            m.extend_from_slice(b"username=\"");
            m.extend_from_slice(user);
            m.extend_from_slice(
                format!("\",realm=\"elwood.innosoft.com\",nonce=\"n\",cnonce=\"c\",nc=00000001,qop=auth,digest-uri=\"imap/elwood.innosoft.com\",response={resp}").as_bytes(),
            );
            m
        };
        for (user, charset) in [("caf\u{e9}".as_bytes(), true), (&b"caf\xe9"[..], false)] {
            let s = DigestMd5::with_nonce(&ctx, "n".into());
            let r = s.step(&make(user, charset)).expect("parses");
            assert_eq!(r.authcid, "caf\u{e9}");
            assert!(matches!(
                r.verify_with(&StoredSecret::plain("p\u{e4}ss")),
                VerifyOutcome::Success { .. }
            ));
        }
        // Invalid UTF-8 with charset=utf-8 is refused.
        assert!(state.step(&make(b"caf\xe9", true)).is_err());
    }

    #[test]
    fn digest_success_without_rspauth_is_temporary() {
        let ctx = elwood();
        let mut state = rfc2831_exchange(&ctx);
        assert!(matches!(state.step(RFC2831_RESPONSE), Step::Verify(_)));
        assert_eq!(
            state.verified(VerifyOutcome::Success { server_proof: None }),
            Step::Failure(Failure::Temporary)
        );
        let mut state = rfc2831_exchange(&ctx);
        let _ = state.step(RFC2831_RESPONSE);
        let _ = state.verified(VerifyOutcome::Success {
            server_proof: Some(b"rspauth=x".to_vec()),
        });
        assert!(matches!(
            state.step(b"junk"),
            Step::Failure(Failure::Malformed(_))
        ));
    }
}
