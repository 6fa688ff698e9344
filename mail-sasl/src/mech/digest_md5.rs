//! DIGEST-MD5 (RFC 2831), qop=auth only. Historic (RFC 6331): implemented
//! for old clients, offered only when the administrator enables it.
//!
//! Tolerance: directive values are accepted quoted or unquoted, with
//! linear white space around `=` and `,`, and empty list elements (`,,`),
//! as curl, Cyrus SASL and GNU SASL send them. Strictness: the nonce must be
//! this exchange's own (so it is used once), `nc` must be `00000001`, qop
//! must be `auth`, the realm must be ours (or absent), the `digest-uri`
//! must name our service and our host name or realm, and known directives
//! may not repeat.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::crypto::unhex;
use crate::{DigestMd5Proof, ExchangeContext, Failure, Mechanism, Proof, VerifyRequest};

/// RFC 2831 §2.1.2: a digest-response is less than 4096 octets.
const MAX_RESPONSE: usize = 4096;
/// Directives accepted in one response (known ones are about a dozen).
const MAX_DIRECTIVES: usize = 32;

/// The server side of one DIGEST-MD5 exchange, after its challenge was sent.
#[derive(Debug)]
pub(crate) struct DigestMd5 {
    nonce: String,
    realm: String,
    service: String,
    hostname: String,
    allow_proxy: bool,
}

impl DigestMd5 {
    /// A fresh exchange; the nonce is derived from `ctx.nonce`.
    pub(crate) fn new(ctx: &ExchangeContext<'_>) -> Self {
        Self::with_nonce(ctx, URL_SAFE_NO_PAD.encode(ctx.nonce))
    }

    /// An exchange with a given nonce string (tests: the RFC 2831 example).
    pub(crate) fn with_nonce(ctx: &ExchangeContext<'_>, nonce: String) -> Self {
        Self {
            nonce,
            realm: ctx.effective_realm().to_owned(),
            service: ctx.service.to_owned(),
            hostname: ctx.hostname.to_owned(),
            allow_proxy: ctx.allow_proxy_authorization,
        }
    }

    /// The digest-challenge. `algorithm` stays unquoted: curl refuses a quoted one.
    pub(crate) fn challenge(&self) -> Vec<u8> {
        format!(
            "realm=\"{}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            quote(&self.realm),
            quote(&self.nonce)
        )
        .into_bytes()
    }

    /// Check the digest-response and build the verification request.
    pub(crate) fn step(self, response: &[u8]) -> Result<VerifyRequest, Failure> {
        if response.len() > MAX_RESPONSE {
            return Err(Failure::Malformed("DIGEST-MD5 response longer than 4096 octets"));
        }
        let directives = parse_directives(response).map_err(Failure::Malformed)?;
        let mut fields = Fields::default();
        for (name, value) in directives {
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => &mut fields.username,
                "realm" => &mut fields.realm,
                "nonce" => &mut fields.nonce,
                "cnonce" => &mut fields.cnonce,
                "nc" => &mut fields.nc,
                "qop" => &mut fields.qop,
                "digest-uri" => &mut fields.digest_uri,
                "response" => &mut fields.response,
                "charset" => &mut fields.charset,
                "authzid" => &mut fields.authzid,
                "maxbuf" => &mut fields.maxbuf,
                "cipher" => &mut fields.cipher,
                // RFC 2831: unknown directives are ignored.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(Failure::Malformed("DIGEST-MD5 directive repeated"));
            }
        }
        let utf8 = match &fields.charset {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return Err(Failure::Malformed("DIGEST-MD5 charset must be utf-8")),
        };
        let text = |v: Vec<u8>| decode(v, utf8);
        let username = text(
            fields
                .username
                .ok_or(Failure::Malformed("DIGEST-MD5 username missing"))?,
        )?;
        if username.is_empty() {
            return Err(Failure::Malformed("empty user name"));
        }
        if username.chars().any(char::is_control) {
            return Err(Failure::Malformed("control character in user name"));
        }
        let nonce = ascii(
            fields
                .nonce
                .ok_or(Failure::Malformed("DIGEST-MD5 nonce missing"))?,
        )?;
        if nonce != self.nonce {
            return Err(Failure::Malformed("DIGEST-MD5 nonce is not this exchange's"));
        }
        // RFC 2831 §2.1.2: a missing realm counts as the empty string in A1.
        let realm = match fields.realm {
            Some(r) => {
                let r = text(r)?;
                if r != self.realm {
                    return Err(Failure::Malformed("DIGEST-MD5 realm is not ours"));
                }
                r
            }
            None => String::new(),
        };
        let cnonce = ascii(
            fields
                .cnonce
                .ok_or(Failure::Malformed("DIGEST-MD5 cnonce missing"))?,
        )?;
        if cnonce.is_empty() {
            return Err(Failure::Malformed("DIGEST-MD5 cnonce empty"));
        }
        let nc = ascii(fields.nc.ok_or(Failure::Malformed("DIGEST-MD5 nc missing"))?)?;
        if nc != "00000001" {
            return Err(Failure::Malformed("DIGEST-MD5 nc must be 00000001"));
        }
        let qop = match fields.qop {
            None => "auth".to_owned(),
            Some(q) => {
                let q = ascii(q)?;
                if !q.eq_ignore_ascii_case("auth") {
                    return Err(Failure::Malformed("DIGEST-MD5 qop must be auth"));
                }
                q
            }
        };
        let digest_uri = ascii(
            fields
                .digest_uri
                .ok_or(Failure::Malformed("DIGEST-MD5 digest-uri missing"))?,
        )?;
        self.check_digest_uri(&digest_uri)?;
        let response = fields
            .response
            .ok_or(Failure::Malformed("DIGEST-MD5 response missing"))?;
        if unhex::<16>(&response).is_none() {
            return Err(Failure::Malformed("DIGEST-MD5 response is not 32 hex digits"));
        }
        let response = ascii(response)?.to_ascii_lowercase();
        let authzid_directive = fields.authzid.map(text).transpose()?;
        let authzid = match &authzid_directive {
            Some(a) if !a.is_empty() && *a != username => {
                if !self.allow_proxy {
                    return Err(Failure::AuthorizationDenied);
                }
                Some(a.clone())
            }
            _ => None,
        };
        Ok(VerifyRequest {
            mechanism: Mechanism::DigestMd5,
            authcid: username,
            authzid,
            proof: Proof::DigestMd5(Box::new(DigestMd5Proof {
                realm,
                nonce,
                cnonce,
                nc,
                qop,
                digest_uri,
                authzid: authzid_directive,
                response,
            })),
        })
    }

    /// `digest-uri = serv-type "/" host [ "/" serv-name ]`: the service must
    /// be ours; the host our host name or realm (curl sends the realm).
    fn check_digest_uri(&self, uri: &str) -> Result<(), Failure> {
        let mut parts = uri.split('/');
        let (Some(service), Some(host), serv_name, None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Failure::Malformed("DIGEST-MD5 digest-uri is not service/host"));
        };
        let ours = |h: &str| h.eq_ignore_ascii_case(&self.hostname) || h.eq_ignore_ascii_case(&self.realm);
        if !service.eq_ignore_ascii_case(&self.service) {
            return Err(Failure::Malformed("DIGEST-MD5 digest-uri names another service"));
        }
        if !ours(host) || serv_name.is_some_and(|s| !ours(s)) {
            return Err(Failure::Malformed("DIGEST-MD5 digest-uri names another host"));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Fields {
    username: Option<Vec<u8>>,
    realm: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
    cnonce: Option<Vec<u8>>,
    nc: Option<Vec<u8>>,
    qop: Option<Vec<u8>>,
    digest_uri: Option<Vec<u8>>,
    response: Option<Vec<u8>>,
    charset: Option<Vec<u8>>,
    authzid: Option<Vec<u8>>,
    maxbuf: Option<Vec<u8>>,
    cipher: Option<Vec<u8>>,
}

/// Escape `"` and `\` for a quoted-string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value with `charset=utf-8` is UTF-8; without it, ISO 8859-1.
fn decode(value: Vec<u8>, utf8: bool) -> Result<String, Failure> {
    if utf8 {
        String::from_utf8(value).map_err(|_| Failure::Malformed("not valid UTF-8"))
    } else {
        Ok(value.into_iter().map(char::from).collect())
    }
}

/// Protocol values (nonce, nc, qop, digest-uri …) must be printable ASCII.
fn ascii(value: Vec<u8>) -> Result<String, Failure> {
    if value.iter().all(|b| (0x20..0x7f).contains(b)) {
        // All ASCII: always valid UTF-8.
        String::from_utf8(value).map_err(|_| Failure::Malformed("not valid UTF-8"))
    } else {
        Err(Failure::Malformed("DIGEST-MD5 value is not printable ASCII"))
    }
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Parse `name=value` directives (RFC 2831 §7.1 `#rule` list): values
/// quoted (with `\` escapes) or not, LWS around separators, empty elements.
pub(crate) fn parse_directives(input: &[u8]) -> Result<Vec<(String, Vec<u8>)>, &'static str> {
    let mut out = Vec::new();
    let mut i = 0;
    let skip_lws = |mut i: usize| {
        while i < input.len() && is_lws(input[i]) {
            i += 1;
        }
        i
    };
    loop {
        i = skip_lws(i);
        let Some(&b) = input.get(i) else { break };
        if b == b',' {
            i += 1;
            continue;
        }
        let start = i;
        while i < input.len() && is_name_char(input[i]) {
            i += 1;
        }
        if i == start {
            return Err("DIGEST-MD5 directive name expected");
        }
        let name = String::from_utf8_lossy(&input[start..i]).into_owned();
        i = skip_lws(i);
        if input.get(i) != Some(&b'=') {
            return Err("DIGEST-MD5 directive without '='");
        }
        i = skip_lws(i + 1);
        let mut value = Vec::new();
        if input.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match input.get(i) {
                    None => return Err("DIGEST-MD5 quoted value not terminated"),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&escaped) = input.get(i + 1) else {
                            return Err("DIGEST-MD5 quoted value not terminated");
                        };
                        value.push(escaped);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            let start = i;
            while i < input.len()
                && input[i] != b','
                && !is_lws(input[i])
                && input[i] != b'"'
                && input[i] >= 0x20
            {
                i += 1;
            }
            if i == start {
                return Err("DIGEST-MD5 directive value missing");
            }
            value.extend_from_slice(&input[start..i]);
        }
        i = skip_lws(i);
        match input.get(i) {
            None => {}
            Some(b',') => i += 1,
            Some(_) => return Err("DIGEST-MD5 directives must be separated by ','"),
        }
        if out.len() == MAX_DIRECTIVES {
            return Err("DIGEST-MD5 response has too many directives");
        }
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_quoted_unquoted_whitespace_and_empty_elements() {
        let d = parse_directives(b" ,a=1 , b = \"x\\\"y\" ,, c=\"\",\td=tok\r\n").unwrap();
        assert_eq!(
            d,
            vec![
                ("a".into(), b"1".to_vec()),
                ("b".into(), b"x\"y".to_vec()),
                ("c".into(), b"".to_vec()),
                ("d".into(), b"tok".to_vec()),
            ]
        );
        assert_eq!(parse_directives(b"").unwrap(), vec![]);
        assert_eq!(parse_directives(b",,,").unwrap(), vec![]);
    }

    #[test]
    fn malformed_directive_lists() {
        for bad in [
            &b"a"[..],
            b"a=",
            b"=1",
            b"a=\"unterminated",
            b"a=\"x\\",
            b"a=1 b=2",
            b"a=\"x\"y",
            b"a=\x01",
        ] {
            assert!(
                parse_directives(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = "a=1,".repeat(MAX_DIRECTIVES + 1);
        assert!(parse_directives(many.as_bytes()).is_err());
        assert!(parse_directives("a=1,".repeat(MAX_DIRECTIVES).as_bytes()).is_ok());
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
