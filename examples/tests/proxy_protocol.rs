//! PROXY protocol v1 and v2 from a real HAProxy in front of `mail-server`:
//! the server sees (and applies its relay policy to) the original client
//! address; a connection without the header, or from an untrusted address,
//! is dropped without a greeting.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use mail_examples::testing::{free_port, require_tool, wait_for_port, ChildGuard, TempDir};

/// Run a small SMTP dialogue from `source` through `port` with Python and
/// return the server's replies.
fn smtp_from(source: &str, port: u16, rcpt: &str) -> String {
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP(timeout=10, source_address=("{source}", 0))
print(s.connect("127.0.0.1", {port}))
print(s.ehlo("outside.test")[0])
print(s.mail("someone@outside.test"))
print(s.rcpt("{rcpt}"))
s.quit()
"#
    );
    let out = Command::new("python3").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn haproxy_v1_and_v2_carry_the_client_address() {
    let Some(haproxy) = require_tool("haproxy") else {
        return;
    };
    let dir = TempDir::new("proxy");
    let d = dir.path();
    let (front_v1, front_v2, back_v1, back_v2) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(d.join("users"), "alice:{PLAIN}secret\n").unwrap();
    std::fs::write(
        d.join("mail.toml"),
        format!(
            r#"myhostname = "localhost"
state_dir = "state"
mydestination = ["localhost"]
mynetworks = ["127.0.0.1/32"]
[auth]
passwd_file = "users"
[[smtp]]
listen = "127.0.0.1:{back_v1}"
tls = "none"
proxy_protocol = true
[[smtp]]
listen = "127.0.0.1:{back_v2}"
tls = "none"
proxy_protocol = true
"#
        ),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("server.log")).unwrap();
    let _server = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_mail-server"))
            .arg("--config")
            .arg(d.join("mail.toml"))
            .stdout(Stdio::null())
            .stderr(log),
    )
    .unwrap();
    std::fs::write(
        d.join("haproxy.cfg"),
        format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend v1\n  bind 127.0.0.1:{front_v1}\n  default_backend v1\n\
             backend v1\n  server s 127.0.0.1:{back_v1} send-proxy\n\
             frontend v2\n  bind 127.0.0.1:{front_v2}\n  default_backend v2\n\
             backend v2\n  server s 127.0.0.1:{back_v2} send-proxy-v2\n"
        ),
    )
    .unwrap();
    let _haproxy = ChildGuard::spawn(
        Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(d.join("haproxy.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    for port in [back_v1, back_v2, front_v1, front_v2] {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            wait_for_port(addr, Duration::from_secs(20)),
            "nothing listens on {port}"
        );
    }
    let server_log = || std::fs::read_to_string(d.join("server.log")).unwrap_or_default();

    for front in [front_v1, front_v2] {
        // From 127.0.0.2 (outside mynetworks), through HAProxy: local mail is
        // accepted, relaying is refused — the policy saw 127.0.0.2, not HAProxy's 127.0.0.1.
        let out = smtp_from("127.0.0.2", front, "alice@localhost");
        assert!(out.contains("(250, b'2.1.5 Ok')"), "{out}\n{}", server_log());
        let out = smtp_from("127.0.0.2", front, "x@remote.test");
        assert!(
            out.contains("554, b'5.7.1 <x@remote.test>: Relay access denied'"),
            "{out}\n{}",
            server_log()
        );
        // From 127.0.0.1 (in mynetworks), through HAProxy: relaying is allowed.
        let out = smtp_from("127.0.0.1", front, "x@remote.test");
        assert!(out.contains("(250, b'2.1.5 Ok')"), "{out}\n{}", server_log());
    }
    let log = server_log();
    assert!(log.contains("smtpd: connect from [127.0.0.2]"), "{log}");

    // A trusted peer that sends no header, and an untrusted one that talks
    // directly to the PROXY listener, are both dropped without a greeting.
    for source in ["127.0.0.1", "127.0.0.2"] {
        let out = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import socket\ns = socket.create_connection(('127.0.0.1', {back_v1}), 10, ('{source}', 0))\n\
                     s.sendall(b'EHLO x\\r\\n')\ns.settimeout(12)\nprint(repr(s.recv(100)))"
                ),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.trim() == "b''" || String::from_utf8_lossy(&out.stderr).contains("reset"),
            "{source}: {text}"
        );
    }
}
