//! Load against the running `mail-server`: Postfix's `smtp-source` with 20
//! sessions × 20 000 messages (durable local delivery, zero errors), and
//! 5 000 idle connections that must not stop a new client from being greeted.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mail_examples::testing::{
    free_port, require_python_module, require_tool, wait_for_port, ChildGuard, TempDir,
};

/// An SMTP listener (`tls` = "none" or "wrapper") with limits high enough for load.
fn start_server(dir: &Path, tls: &str) -> (ChildGuard, u16) {
    let port = free_port();
    std::fs::write(dir.join("users"), "bob:{PLAIN}builder\n").unwrap();
    let cert = mail_tls::self_signed(&["localhost".into()], 2).unwrap();
    cert.write_to(dir, "mail").unwrap();
    std::fs::write(
        dir.join("mail.toml"),
        format!(
            "myhostname = \"localhost\"\nstate_dir = \"state\"\nmydestination = [\"localhost\"]\n\
             [tls]\ncert_file = \"mail.crt\"\nkey_file = \"mail.key\"\n\
             [auth]\npasswd_file = \"users\"\n\
             [limits]\nmax_connections = 20000\nmax_connections_per_ip = 20000\n\
             [[smtp]]\nlisten = \"127.0.0.1:{port}\"\ntls = \"{tls}\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    // Raise the descriptor limit of the server (up to the hard limit).
    let child = ChildGuard::spawn(
        Command::new("sh")
            .args(["-c", "ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" --config \"$1\""])
            .arg(env!("CARGO_BIN_EXE_mail-server"))
            .arg(dir.join("mail.toml"))
            .stdout(Stdio::null())
            .stderr(log),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_for_port(addr, Duration::from_secs(20)),
        "mail-server did not listen"
    );
    (child, port)
}

#[test]
fn smtp_source_20_sessions_20000_messages_without_errors() {
    let Some(smtp_source) = require_tool("smtp-source") else {
        return;
    };
    let dir = TempDir::new("load-source");
    let (_server, port) = start_server(dir.path(), "none");
    let started = std::time::Instant::now();
    let out = Command::new(smtp_source)
        .args([
            "-s",
            "20",
            "-m",
            "20000",
            "-f",
            "s@localhost",
            "-t",
            "bob@localhost",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "smtp-source failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "smtp-source reported errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let delivered = std::fs::read_dir(dir.path().join("state/mail/bob/Maildir/new"))
        .unwrap()
        .count();
    assert_eq!(
        delivered, 20_000,
        "every message answered 250 must be in the Maildir"
    );
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        !log.contains("warning"),
        "{}",
        log.lines()
            .filter(|l| l.contains("warning"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "smtp-source 20 x 20000: {:.0} msg/s (durable Maildir delivery, this build's profile)",
        20_000.0 / elapsed.as_secs_f64()
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Hold `count` idle connections (greeting read; over TLS when `tls`), then
/// check that one more client is greeted; returns the server's RSS growth
/// per held connection in KiB.
fn idle_connections(count: usize, tls: bool) -> f64 {
    let dir = TempDir::new("load-idle");
    let (server, port) = start_server(dir.path(), if tls { "wrapper" } else { "none" });
    // `sh -c … exec` keeps the pid: this is mail-server itself.
    let pid = server.0.id();
    let before = rss_kib(pid);
    let ca = dir.path().join("mail.crt");
    let script = format!(
        r#"
import resource, socket, ssl, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
ctx = ssl.create_default_context(cafile="{ca}")
def connect():
    s = socket.create_connection(("127.0.0.1", {port}), timeout=30)
    return ctx.wrap_socket(s, server_hostname="localhost") if {tls} else s
held = []
for i in range({count}):
    s = connect()
    assert s.recv(100).startswith(b"220 "), "idle connection not greeted"
    held.append(s)
print("HELD", flush=True)
sys.stdin.readline()
t = time.time()
s = connect()
greeting = s.recv(100)
assert greeting.startswith(b"220 "), greeting
print("NEW %.3f" % (time.time() - t), flush=True)
"#,
        ca = ca.display(),
        tls = if tls { "True" } else { "False" },
    );
    let mut holder = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{BufRead, BufReader, Write};
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let held = lines.next().and_then(Result::ok);
    let during = rss_kib(pid);
    holder.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let new_client = lines.next().and_then(Result::ok);
    let status = holder.wait_with_output().unwrap();
    assert_eq!(
        held.as_deref(),
        Some("HELD"),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let new_client = new_client.unwrap_or_default();
    assert!(
        new_client.starts_with("NEW "),
        "a new client was not greeted: {new_client:?} {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let per_connection = during.saturating_sub(before) as f64 / count as f64;
    eprintln!(
        "{count} idle {} SMTP connections: RSS {before} KiB -> {during} KiB, {per_connection:.1} KiB per connection; new client greeted ({new_client})",
        if tls { "TLS" } else { "plaintext" }
    );
    per_connection
}

#[test]
fn five_thousand_idle_connections_do_not_starve_a_new_client() {
    if !require_python_module("resource") {
        return;
    }
    let per_connection = idle_connections(5000, false);
    // Issue #7's figure is <= 16 KiB (measured 14.6-15.0 KiB, quoted in
    // benches/README.md); this guard catches a regression without failing
    // on allocator noise.
    assert!(
        per_connection <= 20.0,
        "{per_connection:.1} KiB per idle plaintext connection"
    );
}

#[test]
fn idle_tls_connections_do_not_starve_a_new_client() {
    if !require_python_module("ssl") {
        return;
    }
    let per_connection = idle_connections(5000, true);
    assert!(
        per_connection <= 64.0,
        "{per_connection:.1} KiB per idle TLS connection (target <= 64 KiB)"
    );
}
