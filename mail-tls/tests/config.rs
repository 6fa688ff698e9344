//! ServerTls against an in-process rustls client: versions, resumption, SNI,
//! ALPN, client certificates, key permissions, generated certificates.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use mail_tls::{self_signed, tls_info, CertAndKey, MailProtocol, ServerTls, TlsError};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, ClientConfig, HandshakeKind, ServerConnection};

fn cert(names: &[&str]) -> CertAndKey {
    self_signed(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>(), 30).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mail-tls-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn connect(
    tls: &ServerTls,
    config: &Arc<ClientConfig>,
    name: &str,
) -> (rustls::ClientConnection, ServerConnection, Pumped) {
    let mut client = client(config, name);
    let mut server = tls.new_connection().unwrap();
    let pumped = handshake(&mut client, &mut server);
    (client, server, pumped)
}

#[test]
fn tls13_handshake_reports_postfix_style_info() {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let (client, server, pumped) = connect(&tls, &client_config(&ck.cert_pem, "1.3", &[]), "localhost");
    assert!(
        pumped.client_error.is_none() && pumped.server_error.is_none(),
        "{pumped:?}"
    );
    assert!(!client.is_handshaking());
    let info = tls_info(&server);
    assert_eq!(
        info.to_string(),
        "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
    );
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    assert_eq!(info.alpn, None);
    assert_eq!(info.client_cert_subject, None);
}

#[test]
fn tls12_handshake_uses_ecdhe() {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Imap).unwrap();
    let (_client, server, pumped) =
        connect(&tls, &client_config(&ck.cert_pem, "1.2", &["imap"]), "localhost");
    assert!(
        pumped.client_error.is_none() && pumped.server_error.is_none(),
        "{pumped:?}"
    );
    let info = tls_info(&server);
    assert_eq!(info.protocol, "TLSv1.2");
    assert_eq!(info.cipher, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(info.bits, 256);
    assert_eq!(info.alpn.as_deref(), Some("imap"));
}

#[test]
fn every_offered_suite_has_forward_secrecy() {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let suites = &tls.config().crypto_provider().cipher_suites;
    assert!(!suites.is_empty());
    for suite in suites {
        let name = format!("{:?}", suite.suite());
        assert!(
            name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"),
            "suite without forward secrecy: {name}"
        );
        assert!(
            !name.contains("CBC") && !name.contains("RC4") && !name.contains("3DES"),
            "{name}"
        );
    }
}

/// A TLS 1.1 ClientHello: no supported_versions extension, legacy_version
/// 0x0302, the given cipher suites, null compression, and `extensions`.
fn tls11_client_hello(suites: &[u8], extensions: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    body.extend_from_slice(suites);
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(extensions);
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// Feed a ClientHello to an implicit-TLS `Secured`; return the fatal alert sent.
fn alert_for(hello: &[u8]) -> u8 {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let mut secured = mail_tls::Secured::implicit(mail_tls::echo::EchoSession::implicit("localhost"), tls);
    let err = secured.receive(hello).unwrap_err();
    assert!(matches!(err, TlsError::Protocol(_)), "{err}");
    assert!(secured.is_closed());
    let out = secured.take_output();
    // One alert record: type 21, version, length 2, level fatal (2), description.
    assert_eq!(out.len(), 7, "{out:02x?}");
    assert_eq!(
        (out[0], out[3], out[4], out[5]),
        (0x15, 0x00, 0x02, 0x02),
        "{out:02x?}"
    );
    out[6]
}

#[test]
fn tls11_client_hello_is_refused() {
    // What a real TLS 1.1 client offers (CBC suites only): handshake_failure.
    assert_eq!(
        alert_for(&tls11_client_hello(&[0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f], &[])),
        40
    );
    // Even when it offers a suite, group and signature scheme the server
    // has, the version is refused: protocol_version (70).
    let extensions = [
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, // supported_groups: x25519
        0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, // signature_algorithms: ecdsa_secp256r1_sha256
    ];
    assert_eq!(
        alert_for(&tls11_client_hello(
            &[0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x13],
            &extensions
        )),
        70
    );
}

fn resumption_case(version: &str, tickets: bool, cache: usize) -> (HandshakeKind, HandshakeKind) {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::builder(MailProtocol::Pop3)
        .cert_pem(&ck.cert_pem, &ck.key_pem)
        .unwrap()
        .session_tickets(tickets)
        .session_cache(cache)
        .build()
        .unwrap();
    // One client config = one client-side session store, as a real client has.
    let config = client_config(&ck.cert_pem, version, &["pop3"]);
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let (client, server, pumped) = connect(&tls, &config, "localhost");
        assert!(
            pumped.client_error.is_none() && pumped.server_error.is_none(),
            "{pumped:?}"
        );
        assert_eq!(client.handshake_kind(), server.handshake_kind());
        kinds.push(client.handshake_kind().unwrap());
    }
    (kinds[0], kinds[1])
}

#[test]
fn resumption_tls13_with_tickets() {
    assert_eq!(
        resumption_case("1.3", true, 256),
        (HandshakeKind::Full, HandshakeKind::Resumed)
    );
}

#[test]
fn resumption_tls13_with_session_cache_only() {
    assert_eq!(
        resumption_case("1.3", false, 256),
        (HandshakeKind::Full, HandshakeKind::Resumed)
    );
}

#[test]
fn resumption_tls12_with_tickets() {
    assert_eq!(
        resumption_case("1.2", true, 0),
        (HandshakeKind::Full, HandshakeKind::Resumed)
    );
}

#[test]
fn resumption_tls12_with_session_id_cache() {
    assert_eq!(
        resumption_case("1.2", false, 256),
        (HandshakeKind::Full, HandshakeKind::Resumed)
    );
}

#[test]
fn no_resumption_when_both_disabled() {
    assert_eq!(
        resumption_case("1.3", false, 0),
        (HandshakeKind::Full, HandshakeKind::Full)
    );
    assert_eq!(
        resumption_case("1.2", false, 0),
        (HandshakeKind::Full, HandshakeKind::Full)
    );
}

#[test]
fn client_without_resumption_store_gets_full_handshakes() {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let mut config = (*client_config(&ck.cert_pem, "1.3", &[])).clone();
    config.resumption = Resumption::disabled();
    let config = Arc::new(config);
    for _ in 0..2 {
        let (client, _, _) = connect(&tls, &config, "localhost");
        assert_eq!(client.handshake_kind(), Some(HandshakeKind::Full));
    }
}

fn sni_server() -> (ServerTls, [CertAndKey; 3]) {
    let default = cert(&["default.example"]);
    let org = cert(&["mail.example.org"]);
    let net = cert(&["*.example.net"]);
    let tls = ServerTls::builder(MailProtocol::Imap)
        .cert_pem(&default.cert_pem, &default.key_pem)
        .unwrap()
        .sni_cert_pem("Mail.Example.ORG", &org.cert_pem, &org.key_pem)
        .unwrap()
        .sni_cert_pem("*.example.net", &net.cert_pem, &net.key_pem)
        .unwrap()
        .build()
        .unwrap();
    (tls, [default, org, net])
}

fn served_cert(tls: &ServerTls, version: &str, name: &str) -> Vec<u8> {
    let (client, server, pumped) = connect(tls, &trusting_client_config(version), name);
    assert!(
        pumped.client_error.is_none() && pumped.server_error.is_none(),
        "{pumped:?}"
    );
    let expected_sni = match ServerName::try_from(name).unwrap() {
        ServerName::DnsName(_) => Some(name.to_ascii_lowercase()),
        _ => None,
    };
    assert_eq!(tls_info(&server).sni, expected_sni);
    client.peer_certificates().unwrap()[0].to_vec()
}

#[test]
fn sni_selects_certificate_by_name_with_default() {
    let (tls, [default, org, net]) = sni_server();
    let der = |ck: &CertAndKey| certs_from_pem(&ck.cert_pem)[0].to_vec();
    for version in ["1.2", "1.3"] {
        assert_eq!(
            served_cert(&tls, version, "mail.example.org"),
            der(&org),
            "{version}"
        );
        assert_eq!(
            served_cert(&tls, version, "MAIL.example.org"),
            der(&org),
            "{version}"
        );
        assert_eq!(
            served_cert(&tls, version, "imap.example.net"),
            der(&net),
            "{version}"
        );
        // A wildcard covers one label only.
        assert_eq!(
            served_cert(&tls, version, "a.b.example.net"),
            der(&default),
            "{version}"
        );
        assert_eq!(
            served_cert(&tls, version, "unknown.example"),
            der(&default),
            "{version}"
        );
        // No SNI at all (clients send none for IP addresses).
        assert_eq!(
            served_cert(&tls, version, "127.0.0.1"),
            der(&default),
            "{version}"
        );
    }
}

#[test]
fn sni_certificate_validates_with_a_verifying_client() {
    let (tls, [_, org, _]) = sni_server();
    let (_, server, pumped) = connect(
        &tls,
        &client_config(&org.cert_pem, "1.3", &["imap"]),
        "mail.example.org",
    );
    assert!(
        pumped.client_error.is_none() && pumped.server_error.is_none(),
        "{pumped:?}"
    );
    assert_eq!(tls_info(&server).alpn.as_deref(), Some("imap"));
    // The same verifying client asking for an unknown name gets the default
    // certificate, which it does not trust: the check above can fail.
    let (_, _, pumped) = connect(
        &tls,
        &client_config(&org.cert_pem, "1.3", &[]),
        "other.example.org",
    );
    assert!(pumped.client_error.is_some());
}

#[test]
fn invalid_sni_names_are_refused() {
    let ck = cert(&["a.example"]);
    for bad in ["", "*.", "bad name.example", "127.0.0.1", "a..example"] {
        let err = ServerTls::builder(MailProtocol::Smtp)
            .sni_cert_pem(bad, &ck.cert_pem, &ck.key_pem)
            .unwrap_err();
        assert!(matches!(err, TlsError::InvalidName(_)), "{bad}: {err}");
    }
}

fn alpn_case(protocol: MailProtocol, offered: &[&str], version: &str) -> Pumped {
    let ck = cert(&["localhost"]);
    let tls = ServerTls::from_cert_and_key(&ck, protocol).unwrap();
    let (_, _, pumped) = connect(&tls, &client_config(&ck.cert_pem, version, offered), "localhost");
    pumped
}

#[test]
fn alpn_foreign_protocol_only_is_refused_with_alert_120() {
    for version in ["1.2", "1.3"] {
        for (protocol, offered) in [
            (MailProtocol::Smtp, vec!["http/1.1"]),
            (MailProtocol::Smtp, vec!["h2", "http/1.1"]),
            (MailProtocol::Smtp, vec!["imap"]),
            (MailProtocol::Imap, vec!["pop3"]),
            (MailProtocol::Pop3, vec!["smtp"]),
        ] {
            let pumped = alpn_case(protocol, &offered, version);
            assert_eq!(
                pumped.server_error,
                Some(rustls::Error::NoApplicationProtocol),
                "{protocol:?} {offered:?}"
            );
            assert_eq!(
                pumped.client_error,
                Some(rustls::Error::AlertReceived(
                    AlertDescription::NoApplicationProtocol
                )),
                "{protocol:?} {offered:?}"
            );
            assert_eq!(u8::from(AlertDescription::NoApplicationProtocol), 120);
        }
    }
}

#[test]
fn alpn_own_protocol_or_none_is_accepted() {
    for version in ["1.2", "1.3"] {
        for (protocol, offered, chosen) in [
            (MailProtocol::Smtp, vec!["smtp"], Some("smtp")),
            (MailProtocol::Smtp, vec!["http/1.1", "smtp"], Some("smtp")),
            (MailProtocol::Imap, vec!["imap"], Some("imap")),
            (MailProtocol::Pop3, vec!["pop3"], Some("pop3")),
            (MailProtocol::Smtp, vec![], None),
            (MailProtocol::Imap, vec![], None),
        ] {
            let ck = cert(&["localhost"]);
            let tls = ServerTls::from_cert_and_key(&ck, protocol).unwrap();
            let (client, server, pumped) =
                connect(&tls, &client_config(&ck.cert_pem, version, &offered), "localhost");
            assert!(
                pumped.client_error.is_none() && pumped.server_error.is_none(),
                "{pumped:?}"
            );
            assert_eq!(tls_info(&server).alpn.as_deref(), chosen);
            assert_eq!(
                client.alpn_protocol().map(|p| p.to_vec()),
                chosen.map(|c| c.as_bytes().to_vec())
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn key_readable_by_group_or_other_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("perm");
    let ck = cert(&["localhost"]);
    let (cert_path, key_path) = ck.write_to(&dir, "mail").unwrap();
    for (mode, what) in [
        (0o644, "readable"),
        (0o640, "readable"),
        (0o604, "readable"),
        (0o620, "writable"),
    ] {
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = ServerTls::from_pem_files(&cert_path, &key_path, MailProtocol::Smtp).unwrap_err();
        let text = err.to_string();
        let path = key_path.display().to_string();
        assert_eq!(
            text,
            format!("private key {path} is {what} by group/other (mode {mode:04o}); run chmod 600 {path}")
        );
    }
    for mode in [0o600, 0o400] {
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(mode)).unwrap();
        ServerTls::from_pem_files(&cert_path, &key_path, MailProtocol::Smtp).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_files_and_bad_pem_give_actionable_errors() {
    let dir = temp_dir("bad");
    let ck = cert(&["localhost"]);
    let (cert_path, key_path) = ck.write_to(&dir, "mail").unwrap();
    let missing = dir.join("nope.key");
    let err = ServerTls::from_pem_files(&cert_path, &missing, MailProtocol::Smtp).unwrap_err();
    assert!(err.to_string().contains("nope.key"), "{err}");
    // Key and certificate swapped.
    let err = ServerTls::from_pem_files(&key_path, &key_path, MailProtocol::Smtp).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    // A key that does not belong to the certificate.
    let other = cert(&["localhost"]);
    let err = ServerTls::from_pem(&ck.cert_pem, &other.key_pem, MailProtocol::Smtp).unwrap_err();
    assert!(matches!(err, TlsError::CertKey { .. }), "{err}");
    let err = ServerTls::from_pem(&ck.cert_pem, "", MailProtocol::Smtp).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
    let err = ServerTls::builder(MailProtocol::Smtp).build().unwrap_err();
    assert!(matches!(err, TlsError::NoServerCertificate), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn self_signed_written_with_safe_modes_and_validated_by_rustls() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("gen");
    let names = vec![
        "mail.example.com".to_string(),
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ];
    let ck = self_signed(&names, 365).unwrap();
    // Overwriting an existing world-readable key file must not keep its mode.
    std::fs::write(dir.join("mail.key"), "old").unwrap();
    std::fs::set_permissions(dir.join("mail.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (cert_path, key_path) = ck.write_to(&dir, "mail").unwrap();
    let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&cert_path) & 0o600, 0o600);
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), ck.key_pem);

    let tls = ServerTls::from_pem_files(&cert_path, &key_path, MailProtocol::Smtp).unwrap();
    for name in ["mail.example.com", "localhost", "127.0.0.1", "::1"] {
        let (_, server, pumped) = connect(&tls, &client_config(&ck.cert_pem, "any", &["smtp"]), name);
        assert!(
            pumped.client_error.is_none() && pumped.server_error.is_none(),
            "{name}: {pumped:?}"
        );
        assert_eq!(tls_info(&server).protocol, "TLSv1.3");
    }
    // A name not in the certificate is rejected by the same client.
    let (_, _, pumped) = connect(
        &tls,
        &client_config(&ck.cert_pem, "any", &[]),
        "other.example.com",
    );
    assert!(pumped.client_error.is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn self_signed_refuses_bad_names() {
    assert!(matches!(self_signed(&[], 1), Err(TlsError::InvalidName(_))));
    assert!(matches!(
        self_signed(&["a b".into()], 1),
        Err(TlsError::InvalidName(_))
    ));
}

#[test]
fn certificate_request_is_pem() {
    let csr = mail_tls::certificate_request(&["mail.example.com".into(), "192.0.2.1".into()]).unwrap();
    assert!(csr.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert!(csr.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

/// A CA and a client certificate signed by it, CN=alice.
fn client_ca() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Mail CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example");
    params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), client.pem(), key.serialize_pem())
}

fn client_with_cert(root: &str, cert_pem: &str, key_pem: &str) -> Arc<ClientConfig> {
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .unwrap()
        .unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&versions("any"))
            .unwrap()
            .with_root_certificates(roots(&[root]))
            .with_client_auth_cert(certs_from_pem(cert_pem), key)
            .unwrap(),
    )
}

#[test]
fn optional_client_certificate_subject_is_exposed() {
    let (ca_pem, client_pem, client_key) = client_ca();
    let ck = cert(&["localhost"]);
    let tls = ServerTls::builder(MailProtocol::Smtp)
        .cert_pem(&ck.cert_pem, &ck.key_pem)
        .unwrap()
        .client_ca_pem(&ca_pem)
        .unwrap()
        .build()
        .unwrap();
    let (_, server, pumped) = connect(
        &tls,
        &client_with_cert(&ck.cert_pem, &client_pem, &client_key),
        "localhost",
    );
    assert!(
        pumped.client_error.is_none() && pumped.server_error.is_none(),
        "{pumped:?}"
    );
    assert_eq!(
        tls_info(&server).client_cert_subject.as_deref(),
        Some("O=Example, CN=alice")
    );
    // Without a certificate: still accepted, no subject.
    let (_, server, pumped) = connect(&tls, &client_config(&ck.cert_pem, "any", &[]), "localhost");
    assert!(
        pumped.client_error.is_none() && pumped.server_error.is_none(),
        "{pumped:?}"
    );
    assert_eq!(tls_info(&server).client_cert_subject, None);
    // A certificate from another CA is refused.
    let (_, other_pem, other_key) = client_ca();
    let (_, _, pumped) = connect(
        &tls,
        &client_with_cert(&ck.cert_pem, &other_pem, &other_key),
        "localhost",
    );
    assert!(pumped.server_error.is_some());
}

#[test]
fn required_client_certificate() {
    let (ca_pem, client_pem, client_key) = client_ca();
    let ck = cert(&["localhost"]);
    let tls = ServerTls::builder(MailProtocol::Imap)
        .cert_pem(&ck.cert_pem, &ck.key_pem)
        .unwrap()
        .client_ca_pem(&ca_pem)
        .unwrap()
        .require_client_cert(true)
        .build()
        .unwrap();
    let (_, _, pumped) = connect(&tls, &client_config(&ck.cert_pem, "1.3", &[]), "localhost");
    assert!(pumped.server_error.is_some(), "{pumped:?}");
    let (_, server, pumped) = connect(
        &tls,
        &client_with_cert(&ck.cert_pem, &client_pem, &client_key),
        "localhost",
    );
    assert!(pumped.server_error.is_none(), "{pumped:?}");
    assert!(tls_info(&server).client_cert_subject.is_some());
}

#[test]
fn min_version_tls13_refuses_tls12_clients() {
    let ck = cert(&["localhost"]);
    let base = ServerTls::builder(MailProtocol::Smtp)
        .cert_pem(&ck.cert_pem, &ck.key_pem)
        .unwrap();
    let strict = base
        .clone()
        .min_version("TLSv1.3".parse().unwrap())
        .build()
        .unwrap();
    let (_, _, pumped) = connect(&strict, &client_config(&ck.cert_pem, "1.2", &[]), "localhost");
    assert!(pumped.server_error.is_some(), "{pumped:?}");
    let (_, server, pumped) = connect(&strict, &client_config(&ck.cert_pem, "any", &[]), "localhost");
    assert!(pumped.server_error.is_none(), "{pumped:?}");
    assert_eq!(tls_info(&server).protocol, "TLSv1.3");
    // The default accepts 1.2; a cloned builder can serve another protocol.
    let imap = base.protocol(MailProtocol::Imap).build().unwrap();
    let (_, server, pumped) = connect(&imap, &client_config(&ck.cert_pem, "1.2", &["imap"]), "localhost");
    assert!(pumped.server_error.is_none(), "{pumped:?}");
    assert_eq!(tls_info(&server).alpn.as_deref(), Some("imap"));
    assert!(matches!(
        "1.1".parse::<mail_tls::TlsVersion>(),
        Err(TlsError::InvalidVersion(_))
    ));
    assert_eq!(
        "1.2".parse::<mail_tls::TlsVersion>().unwrap(),
        mail_tls::TlsVersion::Tls12
    );
}
