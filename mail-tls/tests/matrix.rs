//! The handshake matrix through `Secured` (implicit TLS) with a verifying
//! in-process rustls client: TLS 1.2/1.3 × full/resumed × SNI default/named
//! × ALPN none/smtp/http/1.1 (24 cells).

mod common;

use std::sync::Arc;

use common::*;
use mail_tls::echo::EchoSession;
use mail_tls::{self_signed, MailProtocol, Secured, SecuredEvent, ServerTls};
use rustls::{AlertDescription, ClientConfig, HandshakeKind};

#[test]
fn handshake_matrix() {
    let default = self_signed(&["localhost".into()], 1).unwrap();
    let named = self_signed(&["mail.example.org".into()], 1).unwrap();
    let tls = ServerTls::builder(MailProtocol::Smtp)
        .cert_pem(&default.cert_pem, &default.key_pem)
        .unwrap()
        .sni_cert_pem("mail.example.org", &named.cert_pem, &named.key_pem)
        .unwrap()
        .build()
        .unwrap();
    let mut cells = 0;
    for version in ["1.2", "1.3"] {
        for alpn in [None, Some("smtp"), Some("http/1.1")] {
            let mut config = ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&versions(version))
                .unwrap()
                .with_root_certificates(roots(&[&default.cert_pem, &named.cert_pem]))
                .with_no_client_auth();
            config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
            let config = Arc::new(config);
            for (name, served) in [("localhost", &default), ("mail.example.org", &named)] {
                for round in [HandshakeKind::Full, HandshakeKind::Resumed] {
                    cells += 1;
                    let cell = format!("TLS{version} alpn={alpn:?} sni={name} {round:?}");
                    let mut server = Secured::implicit(EchoSession::implicit("localhost"), tls.clone());
                    let mut client = client(&config, name);
                    let mut ex = Exchange::default();
                    pump_secured(&mut client, &mut server, b"NOOP\r\n", &mut ex);
                    if alpn == Some("http/1.1") {
                        assert!(
                            ex.server_error
                                .unwrap()
                                .contains("peer doesn't support any known protocol"),
                            "{cell}"
                        );
                        assert_eq!(
                            ex.client_error,
                            Some(rustls::Error::AlertReceived(
                                AlertDescription::NoApplicationProtocol
                            )),
                            "{cell}"
                        );
                        assert!(ex.events.is_empty(), "{cell}");
                        continue;
                    }
                    assert_eq!((&ex.server_error, &ex.client_error), (&None, &None), "{cell}");
                    let Some(SecuredEvent::TlsEstablished(info)) = ex.events.first() else {
                        panic!("{cell}: {:?}", ex.events)
                    };
                    assert_eq!(info.protocol, format!("TLSv{version}"), "{cell}");
                    assert_eq!(info.sni.as_deref(), Some(name), "{cell}");
                    assert_eq!(info.alpn.as_deref(), alpn, "{cell}");
                    assert_eq!(info.bits, 256, "{cell}");
                    assert_eq!(client.handshake_kind(), Some(round), "{cell}");
                    assert_eq!(
                        server.connection().unwrap().handshake_kind(),
                        Some(round),
                        "{cell}"
                    );
                    assert_eq!(
                        client.peer_certificates().unwrap()[0].as_ref(),
                        certs_from_pem(&served.cert_pem)[0].as_ref(),
                        "{cell}"
                    );
                    assert_eq!(
                        ex.client_text(),
                        "220 localhost ESMTP echo\r\n250 2.0.0 Ok\r\n",
                        "{cell}"
                    );
                }
            }
        }
    }
    assert_eq!(cells, 24);
}
