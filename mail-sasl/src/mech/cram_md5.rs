//! CRAM-MD5 (RFC 2195): challenge `<digits.digits@host>`, response
//! `user SP hex(HMAC-MD5(password, challenge))`.

use crate::crypto::unhex;
use crate::{ExchangeContext, Failure, Mechanism, Proof, VerifyRequest};

/// Longest response accepted: a 255-octet user name, a space, 32 hex digits.
const MAX_RESPONSE: usize = 255 + 1 + 32;

/// The challenge for this exchange, from the caller's randomness: RFC 2195
/// asks for a "presumptively arbitrary string of random digits, a timestamp,
/// and the fully-qualified primary host name of the server".
pub(crate) fn cram_md5_challenge(ctx: &ExchangeContext<'_>) -> Vec<u8> {
    let mut first = [0u8; 8];
    let mut second = [0u8; 8];
    first.copy_from_slice(&ctx.nonce[..8]);
    second.copy_from_slice(&ctx.nonce[8..]);
    format!(
        "<{}.{}@{}>",
        u64::from_be_bytes(first),
        u64::from_be_bytes(second),
        ctx.hostname
    )
    .into_bytes()
}

/// Parse `user SP digest` (the user name may itself contain spaces: the
/// digest is after the last one). The hex digest is accepted in either case.
pub(super) fn parse_response(challenge: Vec<u8>, response: &[u8]) -> Result<VerifyRequest, Failure> {
    if response.len() > MAX_RESPONSE {
        return Err(Failure::Malformed("CRAM-MD5 response too long"));
    }
    let Some(space) = response.iter().rposition(|&b| b == b' ') else {
        return Err(Failure::Malformed("CRAM-MD5 response is not \"user digest\""));
    };
    let (user, digest) = (&response[..space], &response[space + 1..]);
    let digest = unhex::<16>(digest).ok_or(Failure::Malformed("CRAM-MD5 digest is not 32 hex digits"))?;
    let user = std::str::from_utf8(user).map_err(|_| Failure::Malformed("not valid UTF-8"))?;
    if user.is_empty() {
        return Err(Failure::Malformed("empty user name"));
    }
    if user.chars().any(char::is_control) {
        return Err(Failure::Malformed("control character in user name"));
    }
    Ok(VerifyRequest {
        mechanism: Mechanism::CramMd5,
        authcid: user.to_owned(),
        authzid: None,
        proof: Proof::CramMd5 { challenge, digest },
    })
}
