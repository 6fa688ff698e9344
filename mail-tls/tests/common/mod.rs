//! In-process rustls clients pumped through memory (no sockets).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::Arc;

use mail_tls::echo::{EchoEvent, EchoSession};
use mail_tls::{Secured, SecuredEvent, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConnection, SignatureScheme,
};

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn certs_from_pem(pem: &str) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

pub fn roots(pems: &[&str]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for pem in pems {
        for cert in certs_from_pem(pem) {
            roots.add(cert).unwrap();
        }
    }
    roots
}

pub fn versions(v: &str) -> Vec<&'static rustls::SupportedProtocolVersion> {
    match v {
        "1.2" => vec![&rustls::version::TLS12],
        "1.3" => vec![&rustls::version::TLS13],
        _ => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    }
}

/// A client trusting `root_pem`, speaking `version` ("1.2", "1.3", "any"), offering `alpn`.
pub fn client_config(root_pem: &str, version: &str, alpn: &[&str]) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(version))
        .unwrap()
        .with_root_certificates(roots(&[root_pem]))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// A client that accepts any server certificate (to observe SNI selection).
pub fn trusting_client_config(version: &str) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions(version))
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider())))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn client(config: &Arc<ClientConfig>, name: &str) -> ClientConnection {
    let name = ServerName::try_from(name.to_string()).unwrap();
    ClientConnection::new(config.clone(), name).unwrap()
}

/// Outcome of pumping a client against a bare rustls server connection.
#[derive(Debug)]
pub struct Pumped {
    pub client_error: Option<rustls::Error>,
    pub server_error: Option<rustls::Error>,
}

/// Pump records both ways until both handshakes finish or one side fails.
pub fn handshake(client: &mut ClientConnection, server: &mut ServerConnection) -> Pumped {
    let mut result = Pumped {
        client_error: None,
        server_error: None,
    };
    for _ in 0..50 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut progress = !buf.is_empty();
        if !buf.is_empty() {
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                if let Err(e) = server.process_new_packets() {
                    result.server_error = Some(e);
                    break;
                }
            }
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        progress |= !buf.is_empty();
        if !buf.is_empty() {
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                if let Err(e) = client.process_new_packets() {
                    result.client_error = Some(e);
                    break;
                }
            }
        }
        if result.server_error.is_some() || result.client_error.is_some() {
            return result;
        }
        if !progress && !client.is_handshaking() && !server.is_handshaking() {
            return result;
        }
    }
    panic!("handshake did not settle in 50 rounds");
}

/// What a client saw from a `Secured` server, and what the server reported.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Decrypted bytes the client received.
    pub client_plain: Vec<u8>,
    pub events: Vec<SecuredEvent<EchoEvent>>,
    pub server_error: Option<String>,
    pub client_error: Option<rustls::Error>,
}

impl Exchange {
    pub fn commands(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SecuredEvent::Session(EchoEvent::Command(c)) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }
    pub fn client_text(&self) -> String {
        String::from_utf8_lossy(&self.client_plain).into_owned()
    }
}

pub fn drain_events(server: &mut Secured<EchoSession>, exchange: &mut Exchange) {
    while let Some(event) = server.next_event() {
        exchange.events.push(event);
    }
}

/// Run TLS between `client` (sending `to_send` once its handshake is done,
/// if not empty) and `server` until nothing moves.
pub fn pump_secured(
    client: &mut ClientConnection,
    server: &mut Secured<EchoSession>,
    to_send: &[u8],
    exchange: &mut Exchange,
) {
    let mut sent = to_send.is_empty();
    for _ in 0..200 {
        let mut progress = false;
        if !sent && !client.is_handshaking() {
            client.writer().write_all(to_send).unwrap();
            sent = true;
        }
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            progress = true;
            if let Err(e) = server.receive(&buf) {
                exchange.server_error = Some(e.to_string());
            }
        }
        drain_events(server, exchange);
        let out = server.take_output();
        if !out.is_empty() {
            progress = true;
            let mut rd = &out[..];
            while !rd.is_empty() {
                match client.read_tls(&mut rd) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
                if let Err(e) = client.process_new_packets() {
                    exchange.client_error = Some(e);
                    return;
                }
            }
            let mut plain = [0u8; 4096];
            loop {
                match client.reader().read(&mut plain) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => exchange.client_plain.extend_from_slice(&plain[..n]),
                }
            }
        }
        if exchange.server_error.is_some() {
            return;
        }
        if !progress && sent {
            return;
        }
    }
    panic!("exchange did not settle in 200 rounds");
}

pub fn err_string(r: Result<(), TlsError>) -> Option<String> {
    r.err().map(|e| e.to_string())
}
