//! SASL over text protocols: base64 challenges and client response lines,
//! shared by SMTP (`334`), POP3 (`+ `) and IMAP (`+ `).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// RFC 4954 §4: a server must accept at least 12288 octets of response line.
pub const MAX_RESPONSE_LINE: usize = 12288;

/// A decoded client response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResponse {
    /// The decoded response (possibly empty).
    Data(Vec<u8>),
    /// The client sent `*`: abort the exchange (`501 5.7.0 Authentication aborted`).
    Abort,
}

/// Why a response line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Longer than the limit (`500 5.5.6 SASL response limit exceeded`).
    #[error("SASL response longer than {0} octets")]
    TooLong(usize),
    /// Not valid base64 (`501 5.5.2 Cannot decode response`).
    #[error("SASL response is not valid base64")]
    BadBase64,
}

/// Decode a continuation line (without CRLF): `*` aborts, an empty line or
/// `=` is an empty response, anything else must be base64.
pub fn decode_response(line: &[u8], limit: usize) -> Result<ClientResponse, WireError> {
    if line.len() > limit {
        return Err(WireError::TooLong(limit));
    }
    match line {
        b"*" => Ok(ClientResponse::Abort),
        b"" | b"=" => Ok(ClientResponse::Data(Vec::new())),
        _ => STANDARD
            .decode(line)
            .map(ClientResponse::Data)
            .map_err(|_| WireError::BadBase64),
    }
}

/// Decode an initial response argument (SASL-IR, `AUTH PLAIN <ir>`): `=`
/// means an empty initial response; `*` is not allowed here.
pub fn decode_initial_response(arg: &[u8], limit: usize) -> Result<Vec<u8>, WireError> {
    if arg.len() > limit {
        return Err(WireError::TooLong(limit));
    }
    if arg == b"=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(arg).map_err(|_| WireError::BadBase64)
}

/// Append the base64 form of a challenge to `out` (an empty challenge gives nothing,
/// so `334 ` / `+ ` stays bare as RFC 4954 and RFC 3501 want).
pub fn encode_challenge(challenge: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + base64::encoded_len(challenge.len(), true).unwrap_or(0), 0);
    let written = STANDARD.encode_slice(challenge, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_empty_and_data() {
        assert_eq!(decode_response(b"*", 100), Ok(ClientResponse::Abort));
        assert_eq!(decode_response(b"", 100), Ok(ClientResponse::Data(vec![])));
        assert_eq!(decode_response(b"=", 100), Ok(ClientResponse::Data(vec![])));
        assert_eq!(
            decode_response(b"AGZvbwBiYXI=", 100),
            Ok(ClientResponse::Data(b"\0foo\0bar".to_vec()))
        );
        assert_eq!(decode_response(b"!!", 100), Err(WireError::BadBase64));
        assert_eq!(
            decode_response(&[b'A'; 20_000], MAX_RESPONSE_LINE),
            Err(WireError::TooLong(12288))
        );
    }

    #[test]
    fn initial_response() {
        assert_eq!(decode_initial_response(b"=", 100), Ok(vec![]));
        assert_eq!(decode_initial_response(b"*", 100), Err(WireError::BadBase64));
    }

    #[test]
    fn challenge_encoding() {
        let mut out = b"334 ".to_vec();
        encode_challenge(b"<1896.697170952@postoffice.reston.mci.net>", &mut out);
        assert_eq!(
            out,
            b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
        );
        let mut empty = Vec::new();
        encode_challenge(b"", &mut empty);
        assert!(empty.is_empty());
    }
}
