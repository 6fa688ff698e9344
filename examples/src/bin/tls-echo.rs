//! `tls-echo`: a tiny TLS test server built from `mail_tls::Secured`, the
//! line-echo session `mail_tls::echo::EchoSession` and `mail_tls::blocking::serve`.
//! Used by `examples/tests/tls_interop.rs` with openssl s_client and Python ssl.
//!
//! ```text
//! tls-echo --listen 127.0.0.1:2465 --mode implicit|starttls \
//!          --cert cert.pem --key key.pem [--protocol smtp|imap|pop3] \
//!          [--sni NAME=CERT,KEY]... [--genkey DIR]
//! ```
//! `--genkey DIR` writes a self-signed `DIR/mail.crt` + `DIR/mail.key` for
//! localhost/127.0.0.1 and uses it. One thread per connection; logs to stderr.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use mail_tls::echo::EchoSession;
use mail_tls::{blocking, MailProtocol, Secured, SecuredEvent, ServerTls};

fn usage() -> ExitCode {
    eprintln!(
        "usage: tls-echo --listen ADDR --mode implicit|starttls (--cert FILE --key FILE | --genkey DIR) \
         [--protocol smtp|imap|pop3] [--sni NAME=CERT,KEY]..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:2465".to_string();
    let mut implicit = true;
    let mut cert = None;
    let mut key = None;
    let mut protocol = MailProtocol::Smtp;
    let mut sni = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(value) = args.next() else { return usage() };
        match arg.as_str() {
            "--listen" => listen = value,
            "--mode" => match value.as_str() {
                "implicit" => implicit = true,
                "starttls" => implicit = false,
                _ => return usage(),
            },
            "--cert" => cert = Some(value),
            "--key" => key = Some(value),
            "--genkey" => {
                let generated = mail_tls::self_signed(&["localhost".into(), "127.0.0.1".into()], 30)
                    .and_then(|ck| ck.write_to(&value, "mail"));
                match generated {
                    Ok((c, k)) => {
                        cert = Some(c.display().to_string());
                        key = Some(k.display().to_string());
                    }
                    Err(e) => {
                        eprintln!("tls-echo: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            "--protocol" => {
                protocol = match value.as_str() {
                    "smtp" => MailProtocol::Smtp,
                    "imap" => MailProtocol::Imap,
                    "pop3" => MailProtocol::Pop3,
                    _ => return usage(),
                }
            }
            "--sni" => {
                let Some((name, files)) = value.split_once('=') else {
                    return usage();
                };
                let Some((c, k)) = files.split_once(',') else {
                    return usage();
                };
                sni.push((name.to_string(), c.to_string(), k.to_string()));
            }
            _ => return usage(),
        }
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        return usage();
    };
    let mut builder = match ServerTls::builder(protocol).cert_files(&cert, &key) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tls-echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (name, c, k) in sni {
        builder = match builder.sni_cert_files(&name, &c, &k) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("tls-echo: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    let tls = match builder.build() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tls-echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tls-echo: bind {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "tls-echo listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(listen)
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let tls = tls.clone();
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
            let secured = if implicit {
                Secured::implicit(EchoSession::implicit("localhost"), tls)
            } else {
                Secured::starttls(EchoSession::new("localhost", true), Some(tls))
            };
            let result = blocking::serve(stream, secured, |_session, event| match event {
                SecuredEvent::TlsEstablished(info) => {
                    eprintln!(
                        "TLS connection established from {peer}: {info} sni={:?} alpn={:?}",
                        info.sni, info.alpn
                    )
                }
                SecuredEvent::InjectionDiscarded { bytes } => {
                    eprintln!("{peer}: discarded {bytes} bytes injected after STARTTLS")
                }
                SecuredEvent::Session(event) => eprintln!("{peer}: {event:?}"),
            });
            match result {
                Ok(()) => eprintln!("disconnect from {peer}"),
                Err(e) => eprintln!("disconnect from {peer}: {e}"),
            }
        });
    }
    ExitCode::SUCCESS
}
