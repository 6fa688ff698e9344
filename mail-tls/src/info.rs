//! Filling [`TlsInfo`] from an established rustls connection.

use mail_proto::TlsInfo;
use rustls::{CipherSuite, ProtocolVersion, ServerConnection};

/// The facts logs and `Received:` headers need about an established connection.
pub fn tls_info(conn: &ServerConnection) -> TlsInfo {
    let protocol = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let (cipher, bits) = match conn.negotiated_cipher_suite() {
        Some(suite) => cipher_name_and_bits(suite.suite()),
        None => (String::new(), 0),
    };
    TlsInfo {
        protocol,
        cipher,
        bits,
        sni: conn.server_name().map(str::to_string),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        client_cert_subject: conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| certificate_subject(cert.as_ref())),
    }
}

/// IANA name (rustls spells TLS 1.3 suites `TLS13_…`; IANA and OpenSSL say
/// `TLS_…`) and symmetric key bits.
fn cipher_name_and_bits(suite: CipherSuite) -> (String, u16) {
    let raw = suite
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{suite:?}"));
    let name = match raw.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => raw,
    };
    let bits = if name.contains("AES_128") {
        128
    } else if name.contains("AES_256") || name.contains("CHACHA20") {
        256
    } else {
        0
    };
    (name, bits)
}

/// The subject of a DER certificate as an RFC 4514-style string, most
/// significant RDN first as OpenSSL prints it (`C=DE, O=Example, CN=alice`).
/// `None` if the certificate cannot be parsed. Bounded: no recursion, no
/// allocation beyond the output.
pub(crate) fn certificate_subject(der: &[u8]) -> Option<String> {
    let (cert, _) = der_element(der, 0x30)?;
    let (tbs, _) = der_element(cert, 0x30)?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest, 0xa0)?.1;
    }
    rest = der_element(rest, 0x02)?.1; // serialNumber
    rest = der_element(rest, 0x30)?.1; // signature AlgorithmIdentifier
    rest = der_element(rest, 0x30)?.1; // issuer
    rest = der_element(rest, 0x30)?.1; // validity
    let (subject, _) = der_element(rest, 0x30)?;
    let mut parts = Vec::new();
    let mut rdns = subject;
    while !rdns.is_empty() {
        let (set, after) = der_element(rdns, 0x31)?;
        rdns = after;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, after) = der_element(atvs, 0x30)?;
            atvs = after;
            let (oid, value_rest) = der_element(atv, 0x06)?;
            let (tag, value, _) = der_any(value_rest)?;
            let text = match tag {
                // UTF8String, PrintableString, IA5String, TeletexString (as Latin-1-ish)
                0x0c | 0x13 | 0x16 | 0x14 => String::from_utf8_lossy(value).into_owned(),
                // BMPString
                0x1e => {
                    let units: Vec<u16> = value
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16_lossy(&units)
                }
                _ => continue,
            };
            parts.push(format!("{}={}", oid_name(oid), escape_dn_value(&text)));
        }
    }
    Some(parts.join(", "))
}

fn escape_dn_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect::<String>()
        .replace('\\', "\\\\")
        .replace(',', "\\,")
}

fn oid_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x55, 0x04, 0x05] => "serialNumber".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID".into(),
        other => {
            let hex: Vec<String> = other.iter().map(|b| format!("{b:02x}")).collect();
            format!("OID#{}", hex.join(""))
        }
    }
}

/// One DER element with the expected tag: (contents, rest).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = der_any(input)?;
    (found == tag).then_some((contents, rest))
}

/// One DER element: (tag, contents, rest). Definite lengths up to 4 octets.
fn der_any(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_follow_iana() {
        assert_eq!(
            cipher_name_and_bits(CipherSuite::TLS13_AES_256_GCM_SHA384),
            ("TLS_AES_256_GCM_SHA384".to_string(), 256)
        );
        assert_eq!(
            cipher_name_and_bits(CipherSuite::TLS13_AES_128_GCM_SHA256),
            ("TLS_AES_128_GCM_SHA256".to_string(), 128)
        );
        assert_eq!(
            cipher_name_and_bits(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
            ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_string(), 256)
        );
    }

    #[test]
    fn subject_of_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["alice.example".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CountryName, "DE");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example, Inc.");
        params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_subject(cert.der()).as_deref(),
            Some("C=DE, O=Example\\, Inc., CN=alice")
        );
    }

    #[test]
    fn subject_parser_survives_garbage_and_truncation() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        for cut in 0..der.len() {
            // Truncated certificates never parse (the outer length no longer fits).
            assert_eq!(certificate_subject(&der[..cut]), None);
        }
        assert_eq!(certificate_subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(certificate_subject(&[]), None);
    }
}
