//! The blocking and tokio drivers over real loopback sockets, with a rustls
//! client (`StreamOwned`) on the other end.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use mail_tls::echo::{EchoEvent, EchoSession};
use mail_tls::{blocking, self_signed, MailProtocol, Secured, SecuredEvent, ServerTls};

type Log = Vec<String>;
type Outcome = (Result<(), String>, Log);

fn describe(event: &SecuredEvent<EchoEvent>) -> String {
    match event {
        SecuredEvent::Session(EchoEvent::Command(c)) => format!("cmd {c}"),
        SecuredEvent::Session(EchoEvent::StartTls) => "starttls".into(),
        SecuredEvent::TlsEstablished(info) => format!("tls {}", info.protocol),
        SecuredEvent::InjectionDiscarded { bytes } => format!("discarded {bytes}"),
    }
}

/// One connection served by `blocking::serve` on a thread; returns the port
/// and a receiver for (result, event log).
fn blocking_server(implicit: bool, tls: ServerTls) -> (u16, mpsc::Receiver<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let secured = if implicit {
            Secured::implicit(EchoSession::implicit("localhost"), tls)
        } else {
            Secured::starttls(EchoSession::new("localhost", true), Some(tls))
        };
        let mut log = Vec::new();
        let result = blocking::serve(stream, secured, |_, event| log.push(describe(&event)));
        let _ = tx.send((result.map_err(|e| e.to_string()), log));
    });
    (port, rx)
}

fn tls_client(ca_pem: &str, sock: TcpStream) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let conn = client(&client_config(ca_pem, "any", &["smtp"]), "localhost");
    rustls::StreamOwned::new(conn, sock)
}

fn read_reply<R: BufRead>(reader: &mut R) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            return all;
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

#[test]
fn blocking_starttls_with_injection() {
    let ck = self_signed(&["localhost".into()], 1).unwrap();
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let (port, done) = blocking_server(false, tls);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    assert!(read_reply(&mut reader).starts_with("220 localhost"));
    sock.write_all(b"EHLO x\r\nSTARTTLS\r\nNOOP\r\n").unwrap();
    assert!(read_reply(&mut reader).contains("250-STARTTLS"));
    assert_eq!(read_reply(&mut reader), "220 2.0.0 Ready to start TLS\r\n");
    assert!(reader.buffer().is_empty());
    let mut tls = tls_client(&ck.cert_pem, sock);
    tls.write_all(b"EHLO y\r\nQUIT\r\n").unwrap();
    let mut rest = String::new();
    tls.read_to_string(&mut rest).unwrap(); // ends with close_notify: clean EOF
    assert_eq!(rest, "250-localhost\r\n250 8BITMIME\r\n221 2.0.0 Bye\r\n");
    let (result, log) = done.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(
        log,
        [
            "cmd EHLO x",
            "starttls",
            "tls TLSv1.3",
            "discarded 6",
            "cmd EHLO y",
            "cmd QUIT"
        ]
    );
}

#[test]
fn blocking_implicit_plaintext_client_gets_no_reply() {
    let ck = self_signed(&["localhost".into()], 1).unwrap();
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let (port, done) = blocking_server(true, tls);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sock.write_all(b"EHLO plain\r\n").unwrap();
    let mut got = Vec::new();
    let _ = sock.read_to_end(&mut got);
    assert!(
        got.is_empty() || got[0] == 0x15,
        "plaintext reply on an implicit-TLS port: {got:02x?}"
    );
    assert!(!got.windows(3).any(|w| w == b"220"));
    let (result, log) = done.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(result.unwrap_err().contains("plaintext"));
    assert!(log.is_empty(), "{log:?}");
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_implicit_with_delay_action() {
    use mail_tls::tokio::Action;
    let ck = self_signed(&["localhost".into()], 1).unwrap();
    let tls = ServerTls::from_cert_and_key(&ck, MailProtocol::Smtp).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        runtime.block_on(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let secured = Secured::implicit(EchoSession::implicit("localhost"), tls);
            let mut log = Vec::new();
            let result = mail_tls::tokio::serve(stream, secured, |_, event| {
                let action = match &event {
                    SecuredEvent::Session(EchoEvent::Command(c)) if c == "SLOW" => {
                        Action::Delay(Duration::from_millis(300))
                    }
                    SecuredEvent::Session(EchoEvent::Command(c)) if c == "BYE" => Action::Close,
                    _ => Action::Continue,
                };
                log.push(describe(&event));
                action
            })
            .await;
            (result.map_err(|e| e.to_string()), log)
        })
    });
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = BufReader::new(tls_client(&ck.cert_pem, sock));
    assert_eq!(read_reply(&mut tls), "220 localhost ESMTP echo\r\n");
    let start = std::time::Instant::now();
    tls.get_mut().write_all(b"SLOW\r\nNOOP\r\n").unwrap();
    assert_eq!(read_reply(&mut tls), "250 SLOW\r\n");
    assert_eq!(read_reply(&mut tls), "250 2.0.0 Ok\r\n");
    assert!(start.elapsed() >= Duration::from_millis(300), "no delay");
    tls.get_mut().write_all(b"BYE\r\n").unwrap();
    assert_eq!(read_reply(&mut tls), "250 BYE\r\n");
    let (result, log) = server.join().unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(log, ["tls TLSv1.3", "cmd SLOW", "cmd NOOP", "cmd BYE"]);
}

/// What a served connection ended with: the driver's result and the
/// events it saw.
#[cfg(feature = "tokio")]
type Served = (Result<(), std::io::ErrorKind>, Vec<String>);

/// One plaintext `EchoSession` connection served by the tokio driver with
/// `options` on a thread of its own: the port, and the thread.
#[cfg(feature = "tokio")]
fn tokio_serve_one(options: mail_tls::tokio::ServeOptions) -> (u16, std::thread::JoinHandle<Served>) {
    use mail_tls::tokio::Action;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        runtime.block_on(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let secured = Secured::starttls(EchoSession::new("localhost", false), None);
            let mut log = Vec::new();
            let result = mail_tls::tokio::serve_with(stream, secured, options, |_, event| {
                log.push(describe(&event));
                Action::Continue
            })
            .await;
            (result.map_err(|e| e.kind()), log)
        })
    });
    (port, server)
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_serve_with_initial_input_and_idle_timeout() {
    let (port, server) = tokio_serve_one(mail_tls::tokio::ServeOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        // As if a PROXY header had been followed by this in the same read.
        initial_input: b"EARLY\r\n".to_vec(),
        // A shutdown signal whose sender is gone: no shutdown ever comes.
        shutdown: Some(tokio::sync::watch::channel(false).1),
    });
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(sock);
    assert_eq!(read_reply(&mut reader), "220 localhost ESMTP echo\r\n");
    assert_eq!(read_reply(&mut reader), "250 EARLY\r\n");
    // Say nothing more: the idle timeout closes the connection, after the
    // session's farewell.
    let start = std::time::Instant::now();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(String::from_utf8_lossy(&rest), "421 idle timeout\r\n");
    assert!(start.elapsed() >= Duration::from_millis(250), "closed too early");
    let (result, log) = server.join().unwrap();
    assert_eq!(result, Err(std::io::ErrorKind::TimedOut));
    assert_eq!(log, ["cmd EARLY"]);
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_serve_with_shutdown_signal_says_farewell_and_ends_cleanly() {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (port, server) = tokio_serve_one(mail_tls::tokio::ServeOptions {
        idle_timeout: Some(Duration::from_secs(30)),
        initial_input: Vec::new(),
        shutdown: Some(stop_rx),
    });
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = sock.try_clone().unwrap();
    let mut reader = BufReader::new(sock);
    assert_eq!(read_reply(&mut reader), "220 localhost ESMTP echo\r\n");
    writer.write_all(b"hello\r\n").unwrap();
    assert_eq!(read_reply(&mut reader), "250 hello\r\n");
    // The grace period is over while the session waits for input.
    stop_tx.send_replace(true);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(String::from_utf8_lossy(&rest), "421 shutting down\r\n");
    assert_eq!(server.join().unwrap().0, Ok(()));
}
