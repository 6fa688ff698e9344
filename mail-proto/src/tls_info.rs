//! Facts about an established TLS channel.

use std::fmt;

/// What logs and `Received:` headers say about a TLS channel.
///
/// `Display` gives Postfix's wording:
/// `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Protocol version, e.g. `TLSv1.3`.
    pub protocol: String,
    /// IANA cipher suite name, e.g. `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// Symmetric key strength in bits.
    pub bits: u16,
    /// Server name the client asked for (SNI), if any.
    pub sni: Option<String>,
    /// Negotiated ALPN protocol, if any.
    pub alpn: Option<String>,
    /// Subject of a verified client certificate, if one was presented.
    pub client_cert_subject: Option<String>,
}

impl fmt::Display for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} with cipher {} ({}/{} bits)",
            self.protocol, self.cipher, self.bits, self.bits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_wording() {
        let info = TlsInfo {
            protocol: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            bits: 256,
            ..TlsInfo::default()
        };
        assert_eq!(
            info.to_string(),
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        );
    }
}
