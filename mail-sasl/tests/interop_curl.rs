//! curl as a real SASL client (POP3 AUTH on loopback) against our
//! exchanges: PLAIN, LOGIN, CRAM-MD5 and DIGEST-MD5 (curl's forms: quoted
//! `nc`, the realm as `digest-uri` host, `algorithm=md5-sess` unquoted).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc::channel;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_sasl::passwd_file::{hash_password, PasswdFile, Scheme};
use mail_sasl::{CredentialBackend, Exchange, ExchangeContext, Mechanism, Step};

const REALM: &str = "mail.example.test";

fn have_curl() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "curl is required under CI"
        );
        eprintln!("SKIPPED: curl not installed");
    }
    ok
}

/// A minimal POP3 server for one connection: CAPA, AUTH, LIST, QUIT.
/// Returns the final step of the AUTH exchange.
fn serve(stream: TcpStream, mech: Mechanism, backend: &PasswdFile) -> Option<Step> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut out = stream;
    let mut result = None;
    let read_line = |reader: &mut BufReader<TcpStream>| -> Option<String> {
        let mut line = String::new();
        (reader.read_line(&mut line).ok()? > 0).then(|| line.trim_end().to_owned())
    };
    out.write_all(b"+OK mail-sasl test\r\n").ok()?;
    let ctx = ExchangeContext::new("pop", REALM, *b"curl-interop-nce");
    while let Some(line) = read_line(&mut reader) {
        let upper = line.to_ascii_uppercase();
        if upper == "CAPA" {
            out.write_all(format!("+OK\r\nSASL {}\r\n.\r\n", mech.name()).as_bytes())
                .ok()?;
        } else if let Some(rest) = upper.strip_prefix("AUTH ") {
            let mut parts = line[5..].split(' ');
            let name = parts.next()?;
            assert!(rest.starts_with(mech.name()), "curl asked for {name}");
            let ir = parts.next().map(|b64| {
                if b64 == "=" {
                    Vec::new()
                } else {
                    STANDARD.decode(b64).unwrap()
                }
            });
            let (mut ex, mut step) = Exchange::start(mech, ir.as_deref(), &ctx);
            let end = loop {
                step = match step {
                    Step::Challenge(c) => {
                        out.write_all(format!("+ {}\r\n", STANDARD.encode(&c)).as_bytes())
                            .ok()?;
                        let answer = read_line(&mut reader)?;
                        ex.step(
                            &STANDARD
                                .decode(answer)
                                .unwrap_or_else(|_| b"(bad base64)".to_vec()),
                        )
                    }
                    Step::Verify(request) => ex.verified(backend.verify(&request)),
                    done => break done,
                };
            };
            let reply: &[u8] = if matches!(end, Step::Success(_)) {
                b"+OK Logged in\r\n"
            } else {
                b"-ERR [AUTH] Authentication failed\r\n"
            };
            out.write_all(reply).ok()?;
            result = Some(end);
        } else if upper == "LIST" {
            out.write_all(b"+OK 0 messages\r\n.\r\n").ok()?;
        } else if upper == "QUIT" {
            out.write_all(b"+OK bye\r\n").ok()?;
            break;
        } else {
            out.write_all(b"-ERR unknown command\r\n").ok()?;
        }
    }
    result
}

fn run_curl(mech: Mechanism, scheme: Scheme, password: &str) -> (Option<Step>, bool) {
    let line = format!("ned:{}\n", hash_password(scheme, "ned", "s3cret", REALM).unwrap());
    let backend = PasswdFile::parse(&line).unwrap().with_realm(REALM);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let _ = tx.send(serve(stream, mech, &backend));
        }
    });
    let status = Command::new("curl")
        .args(["-s", "--max-time", "10", "--login-options"])
        .arg(format!("AUTH={}", mech.name()))
        .arg("-u")
        .arg(format!("ned:{password}"))
        .arg(format!("pop3://127.0.0.1:{port}/"))
        .output()
        .expect("run curl");
    let step = rx.recv_timeout(Duration::from_secs(15)).ok().flatten();
    (step, status.status.success())
}

#[test]
fn curl_pop3_auth_every_mechanism() {
    if !have_curl() {
        return;
    }
    for (mech, scheme) in [
        (Mechanism::Plain, Scheme::BlfCrypt),
        (Mechanism::Login, Scheme::Sha256Crypt),
        (Mechanism::CramMd5, Scheme::CramMd5),
        (Mechanism::DigestMd5, Scheme::DigestMd5),
        (Mechanism::DigestMd5, Scheme::Plain),
    ] {
        let (step, curl_ok) = run_curl(mech, scheme, "s3cret");
        assert!(
            matches!(&step, Some(Step::Success(id)) if id.authcid == "ned"),
            "{mech} {scheme}: {step:?}"
        );
        assert!(curl_ok, "curl failed after {mech} {scheme}");
        let (step, curl_ok) = run_curl(mech, scheme, "wrong");
        assert!(
            matches!(step, Some(Step::Failure(mail_sasl::Failure::BadCredentials))),
            "{mech} {scheme}: {step:?}"
        );
        assert!(!curl_ok);
    }
}
