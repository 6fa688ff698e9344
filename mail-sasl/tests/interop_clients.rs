//! Interop with real SASL client implementations driven over stdin/stdout:
//! GNU SASL (`gsasl --client`) and Cyrus SASL (`sasl-sample-client`).
//! Each client computes its own responses (and checks our `rspauth`) against
//! our server-side exchanges, authenticated through a passwd-file.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_sasl::passwd_file::{hash_password, PasswdFile, Scheme};
use mail_sasl::{CredentialBackend, Exchange, ExchangeContext, Failure, Mechanism, Step};

const HOST: &str = "mail.example.test";

/// Like `mail_examples::testing::require_tool`: missing tool panics under CI, skips loudly otherwise.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI"
        );
        eprintln!("SKIPPED: {tool} not installed");
    }
    found
}

struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Client {
    fn spawn(program: &str, args: &[&str]) -> Client {
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn client");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            lines: rx,
            transcript: Vec::new(),
        }
    }

    fn line(&mut self) -> Option<String> {
        let line = self.lines.recv_timeout(Duration::from_secs(10)).ok()?;
        self.transcript.push(line.clone());
        Some(line)
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) -> bool {
        drop(self.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn backend(scheme: Scheme) -> PasswdFile {
    let line = format!("ned:{}\n", hash_password(scheme, "ned", "s3cret", HOST).unwrap());
    PasswdFile::parse(&line).unwrap().with_realm(HOST)
}

/// Run one exchange against `gsasl --client`; returns the final step and whether gsasl was satisfied.
fn gsasl(mech: Mechanism, password: &str, backend: &PasswdFile) -> (Step, bool) {
    gsasl_with(mech, password, backend, false)
}

/// `forge_rspauth`: replace our server proof by a wrong one.
fn gsasl_with(mech: Mechanism, password: &str, backend: &PasswdFile, forge_rspauth: bool) -> (Step, bool) {
    let ctx = ExchangeContext::new("imap", HOST, *b"interop-nonce-01");
    let mut client = Client::spawn(
        "gsasl",
        &[
            "--client",
            &format!("--mechanism={}", mech.name()),
            "--service=imap",
            &format!("--hostname={HOST}"),
            &format!("--realm={HOST}"),
            "--authentication-id=ned",
            &format!("--password={password}"),
            "--quality-of-protection=qop-auth",
            "--quiet",
        ],
    );
    assert_eq!(client.line().as_deref(), Some(mech.name()));
    let ir = STANDARD.decode(client.line().expect("initial output")).unwrap();
    let (mut ex, mut step) = Exchange::start(mech, Some(&ir), &ctx);
    for _ in 0..6 {
        step = match step {
            Step::Verify(request) => match backend.verify(&request) {
                mail_sasl::VerifyOutcome::Success {
                    server_proof: Some(_),
                } if forge_rspauth => ex.verified(mail_sasl::VerifyOutcome::Success {
                    server_proof: Some(b"rspauth=00000000000000000000000000000000".to_vec()),
                }),
                outcome => ex.verified(outcome),
            },
            Step::Challenge(c) => {
                client.send(&STANDARD.encode(&c));
                // No answer (gsasl refused the challenge and exited) must not read as empty.
                let answer = client.line().map(|l| STANDARD.decode(l).unwrap());
                ex.step(answer.as_deref().unwrap_or(b"(no answer)"))
            }
            done => {
                let ok = client.finish();
                return (done, ok);
            }
        };
    }
    panic!("exchange did not end")
}

#[test]
fn gsasl_client_every_mechanism() {
    if !have("gsasl") || !have("stdbuf") {
        return;
    }
    for (mech, scheme) in [
        (Mechanism::Plain, Scheme::Sha512Crypt),
        (Mechanism::Login, Scheme::Argon2id),
        (Mechanism::CramMd5, Scheme::CramMd5),
        (Mechanism::CramMd5, Scheme::Plain),
        (Mechanism::DigestMd5, Scheme::DigestMd5),
        (Mechanism::DigestMd5, Scheme::Plain),
    ] {
        let file = backend(scheme);
        let (step, client_ok) = gsasl(mech, "s3cret", &file);
        assert!(
            matches!(&step, Step::Success(id) if id.authcid == "ned"),
            "{mech} {scheme}: {step:?}"
        );
        // DIGEST-MD5: gsasl answers our rspauth with the empty response only
        // when it verified it (a wrong one makes it exit with an error, which
        // the loop sees as "(no answer)"). Its exit status is not used: it
        // then waits for the protocol's final OK, which this harness has not.
        let _ = client_ok;
        let (step, _) = gsasl(mech, "wrong", &file);
        assert_eq!(step, Step::Failure(Failure::BadCredentials), "{mech} {scheme}");
    }
}

#[test]
fn gsasl_refuses_a_forged_rspauth() {
    if !have("gsasl") || !have("stdbuf") {
        return;
    }
    let (step, _) = gsasl_with(Mechanism::DigestMd5, "s3cret", &backend(Scheme::Plain), true);
    assert!(matches!(step, Step::Failure(Failure::Malformed(_))), "{step:?}");
}

/// Cyrus SASL's sample client: `S: <b64>` in, `C: <b64>` out, password on stdin.
fn cyrus(mech: Mechanism, password: &str, backend: &PasswdFile) -> (Step, Vec<String>) {
    let ctx = ExchangeContext::new("imap", HOST, *b"interop-nonce-02");
    let mut client = Client::spawn(
        "sasl-sample-client",
        &[
            "-m",
            mech.name(),
            "-s",
            "imap",
            "-n",
            HOST,
            "-a",
            "ned",
            "-u",
            "ned",
            "-r",
            HOST,
        ],
    );
    let client_line = |client: &mut Client| -> Option<Vec<u8>> {
        loop {
            let line = client.line()?;
            if let Some(b64) = line.strip_prefix("C: ") {
                return Some(STANDARD.decode(b64).unwrap());
            }
            if line.starts_with("Negotiation complete") {
                return Some(Vec::new());
            }
        }
    };
    client.send(&format!("S: {}", STANDARD.encode(mech.name())));
    // First client line names the mechanism (server-first mechanisms: no initial response).
    assert_eq!(client_line(&mut client).as_deref(), Some(mech.name().as_bytes()));
    let (mut ex, mut step) = Exchange::start(mech, None, &ctx);
    let mut password_sent = false;
    for _ in 0..6 {
        step = match step {
            Step::Verify(request) => ex.verified(backend.verify(&request)),
            Step::Challenge(c) => {
                client.send(&format!("S: {}", STANDARD.encode(&c)));
                if !password_sent {
                    client.send(password);
                    password_sent = true;
                }
                let answer = client_line(&mut client).unwrap_or_else(|| b"(no answer)".to_vec());
                ex.step(&answer)
            }
            done => return (done, client.transcript.clone()),
        };
    }
    panic!("exchange did not end")
}

#[test]
fn cyrus_sample_client_cram_and_digest() {
    if !have("sasl-sample-client") || !have("stdbuf") {
        return;
    }
    for (mech, scheme) in [
        (Mechanism::CramMd5, Scheme::CramMd5),
        (Mechanism::DigestMd5, Scheme::DigestMd5),
        (Mechanism::DigestMd5, Scheme::Plain),
    ] {
        let file = backend(scheme);
        let (step, transcript) = cyrus(mech, "s3cret", &file);
        assert!(
            matches!(&step, Step::Success(id) if id.authcid == "ned"),
            "{mech} {scheme}: {step:?}\n{}",
            transcript.join("\n")
        );
        let (step, _) = cyrus(mech, "wrong", &file);
        assert_eq!(step, Step::Failure(Failure::BadCredentials), "{mech} {scheme}");
    }
}
