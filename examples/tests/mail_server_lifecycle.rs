//! The reference server `mail-server`'s lifecycle on the wire (SERVER.md):
//! exit 0 on SIGINT/SIGTERM; at shutdown it stops accepting and lets open
//! sessions finish within a grace period (10 s, `runtime.rs`), after which
//! those still open get their protocol's farewell (`421 4.3.2`, `-ERR`); and the total
//! and per-IP connection limits answer POP3 and IMAP clients with their
//! protocol's "try later" line instead of a hang.
//!
//! Every wait is bounded; servers are killed when their guard drops.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use mail_examples::testing::{
    mail_server_log_when, mail_server_log_within, mail_server_setup, mail_server_start, ChildGuard,
    MailServerPorts as Ports, TempDir, MAIL_SERVER_DEFAULT_AUTH,
};

const BIN: &str = env!("CARGO_BIN_EXE_mail-server");

/// How long any single read waits before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The shutdown grace period of `runtime.rs` (`serve`: "waiting up to 10 s").
const GRACE: Duration = Duration::from_secs(10);

const LOCALHOST: [u8; 4] = [127, 0, 0, 1];

fn setup(dir: &Path, extra: &str) -> Ports {
    mail_server_setup(BIN, dir, MAIL_SERVER_DEFAULT_AUTH, extra)
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// The log of a running server once it holds every one of `needles` (or
/// after 10 s).
fn log_with(dir: &Path, needles: &[&str]) -> String {
    mail_server_log_when(dir, |log| needles.iter().all(|n| log.contains(n)))
}

/// SIGTERM to the server, then wait (at most 5 s) until it logs that it is
/// stopping; the time of the signal.
fn sigterm_until_stopping(server: &ChildGuard, dir: &Path) -> Instant {
    server.signal("-TERM");
    let signalled_at = Instant::now();
    let log = mail_server_log_within(dir, Duration::from_secs(5), |log| {
        log.contains("master: stopping")
    });
    assert!(log.contains("master: stopping"), "{log}");
    signalled_at
}

/// A connection to 127.0.0.1:`port` from `source` (any loopback address).
fn connect_from(source: IpAddr, port: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(source, 0)).expect("bind source");
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            socket.connect(SocketAddr::from((LOCALHOST, port))),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        stream.into_std().expect("into_std")
    });
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(READ_TIMEOUT)).expect("read timeout");
    stream
}

fn connect(port: u16) -> TcpStream {
    connect_from(IpAddr::from(LOCALHOST), port)
}

/// One line (up to and including LF), read octet by octet so that nothing
/// after it is consumed; `""` at EOF.
fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' || line.len() > 4096 {
                    break;
                }
            }
            Err(e) => panic!("read after {:?}: {e}", String::from_utf8_lossy(&line)),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// A whole SMTP reply (continuation lines included).
fn read_reply(stream: &mut TcpStream) -> String {
    let mut reply = String::new();
    loop {
        let line = read_line(stream);
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return reply;
        }
    }
}

fn send(stream: &mut TcpStream, text: &str) {
    stream.write_all(text.as_bytes()).expect("write");
}

/// Everything the server sends on a new connection until it closes it.
fn read_until_close(mut stream: TcpStream) -> String {
    let mut all = Vec::new();
    match stream.read_to_end(&mut all) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read {:?}: {e}", String::from_utf8_lossy(&all)),
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// A connection from `source` to `port` whose first line starts with
/// `greeting`. `mail_server_start` probed the ports with real connections:
/// until the server has seen those close, their slots count against the
/// limits, so this retries (5 s at most).
fn greeted(source: IpAddr, port: u16, greeting: &str) -> TcpStream {
    let mut last = String::new();
    for _ in 0..50 {
        let mut stream = connect_from(source, port);
        last = read_line(&mut stream);
        if last.starts_with(greeting) {
            return stream;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {greeting:?} greeting on {port} from {source} within 5 s; last: {last:?}");
}

/// Wait (5 s at most) until a new connection to `port` is refused by the
/// kernel (the listener is closed), then check that it stays so.
fn assert_listener_closed(port: u16) {
    let addr = SocketAddr::from((LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            other => assert!(
                Instant::now() < deadline,
                "port {port} still accepts connections after the stop: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        let e = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .expect_err("a listener reopened after the stop");
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "port {port}: {e}");
    }
}

#[test]
fn sigint_exits_0() {
    let dir = TempDir::new("mail-server-sigint");
    let ports = setup(dir.path(), "");
    let mut server = mail_server_start(BIN, dir.path(), &ports);
    server.signal("-INT");
    let status = server.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| {
        panic!(
            "mail-server did not stop within 20 s of SIGINT: {}",
            log(dir.path())
        )
    });
    assert_eq!(status.code(), Some(0), "{status:?}: {}", log(dir.path()));
    let log = log(dir.path());
    assert!(log.contains("master: stopping"), "{log}");
    assert!(log.contains("master: stopped"), "{log}");
}

#[test]
fn sigterm_lets_an_open_session_finish_its_message() {
    let dir = TempDir::new("mail-server-grace");
    let ports = setup(dir.path(), "");
    let mut server = mail_server_start(BIN, dir.path(), &ports);
    let mut smtp = greeted(IpAddr::from(LOCALHOST), ports.smtp, "220 ");
    send(&mut smtp, "HELO grace.test\r\n");
    assert_eq!(read_reply(&mut smtp), "250 localhost\r\n");

    let stopped_at = sigterm_until_stopping(&server, dir.path());
    // No new connections, on any listener.
    for port in [ports.smtp, ports.submission, ports.pop3, ports.imap, ports.imaps] {
        assert_listener_closed(port);
    }
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "exited with a session open"
    );
    // The open session is still served: a whole transaction, answered 250
    // only once stored.
    send(&mut smtp, "NOOP\r\n");
    assert_eq!(read_reply(&mut smtp), "250 2.0.0 Ok\r\n");
    send(
        &mut smtp,
        "MAIL FROM:<alice@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n",
    );
    assert_eq!(read_reply(&mut smtp), "250 2.1.0 Ok\r\n");
    assert_eq!(read_reply(&mut smtp), "250 2.1.5 Ok\r\n");
    assert_eq!(read_reply(&mut smtp), "354 End data with <CR><LF>.<CR><LF>\r\n");
    send(&mut smtp, "Subject: during grace\r\n\r\nstill here\r\n.\r\n");
    let queued = read_reply(&mut smtp);
    let id = queued
        .strip_prefix("250 2.0.0 Ok: queued as ")
        .and_then(|r| r.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("{queued:?}"))
        .to_owned();
    send(&mut smtp, "QUIT\r\n");
    assert_eq!(read_reply(&mut smtp), "221 2.0.0 Bye\r\n");
    // The last session is over: the server exits 0 at once, well before
    // the end of the grace period.
    let quit_at = Instant::now();
    let status = server
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no exit within 5 s of the last QUIT: {}", log(dir.path())));
    assert_eq!(status.code(), Some(0), "{status:?}: {}", log(dir.path()));
    assert!(
        quit_at.elapsed() < Duration::from_secs(3),
        "exit took {:?} after the last session ended",
        quit_at.elapsed()
    );
    assert!(stopped_at.elapsed() < GRACE, "{:?}", stopped_at.elapsed());
    // The message answered 250 during the grace period is in bob's Maildir.
    let new = dir.path().join("state/mail/bob/Maildir/new");
    let stored: Vec<String> = std::fs::read_dir(&new)
        .unwrap_or_else(|e| panic!("{}: {e}", new.display()))
        .map(|entry| String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned())
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].contains(&format!(" id {id}")), "{}", stored[0]);
    assert!(
        stored[0].ends_with("Subject: during grace\r\n\r\nstill here\r\n"),
        "{}",
        stored[0]
    );
}

#[test]
fn sigterm_aborts_a_session_still_open_after_the_grace_period() {
    let dir = TempDir::new("mail-server-grace-end");
    let ports = setup(dir.path(), "");
    let mut server = mail_server_start(BIN, dir.path(), &ports);
    let mut smtp = greeted(IpAddr::from(LOCALHOST), ports.smtp, "220 ");
    let mut pop3 = greeted(IpAddr::from(LOCALHOST), ports.pop3, "+OK ");

    let stopped_at = sigterm_until_stopping(&server, dir.path());
    assert_listener_closed(ports.smtp);
    // Open sessions are not cut at the signal.
    send(&mut smtp, "NOOP\r\n");
    assert_eq!(read_reply(&mut smtp), "250 2.0.0 Ok\r\n");
    send(&mut pop3, "NOOP\r\n");
    assert_eq!(read_line(&mut pop3), "+OK\r\n");
    // They stay idle: the server exits 0 at the end of the grace period.
    let status = server
        .wait_exit(GRACE + Duration::from_secs(6))
        .unwrap_or_else(|| {
            panic!(
                "no exit within {:?} of SIGTERM: {}",
                GRACE + Duration::from_secs(6),
                log(dir.path())
            )
        });
    let waited = stopped_at.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}: {}", log(dir.path()));
    assert!(
        waited >= GRACE - Duration::from_millis(500),
        "exited after {waited:?}, before the grace period was over"
    );
    // The sessions were closed with their protocol's last words (RFC 5321
    // §3.8 for SMTP), then EOF.
    let rest = read_until_close(smtp);
    assert_eq!(
        rest, "421 4.3.2 localhost Service shutting down, closing transmission channel\r\n",
        "SMTP after the grace period"
    );
    let rest = read_until_close(pop3);
    assert_eq!(
        rest, "-ERR [SYS/TEMP] Server shutting down.\r\n",
        "POP3 after the grace period"
    );
    assert!(log(dir.path()).contains("master: stopped"));
}

#[test]
fn total_connection_limit_refuses_pop3_and_imap_with_their_lines() {
    let dir = TempDir::new("mail-server-max-conn");
    let ports = setup(dir.path(), "\n[limits]\nmax_connections = 2\n");
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let local = IpAddr::from(LOCALHOST);
    let _smtp = greeted(local, ports.smtp, "220 ");
    let imap = greeted(local, ports.imap, "* OK");
    // Two held: a third is refused, whatever the protocol, with its line.
    assert_eq!(
        read_until_close(connect(ports.pop3)),
        "-ERR [SYS/TEMP] too many connections\r\n"
    );
    assert_eq!(
        read_until_close(connect(ports.imap)),
        "* BYE [UNAVAILABLE] too many connections\r\n"
    );
    assert_eq!(
        read_until_close(connect(ports.smtp)),
        "421 4.7.0 localhost Error: too many connections\r\n"
    );
    // Implicit-TLS ports get no plaintext: the connection is just closed.
    assert_eq!(read_until_close(connect(ports.pop3s)), "");
    assert_eq!(read_until_close(connect(ports.imaps)), "");
    // The slot is released with its connection.
    drop(imap);
    let _pop3 = greeted(local, ports.pop3, "+OK ");
    assert_eq!(
        read_until_close(connect(ports.imap)),
        "* BYE [UNAVAILABLE] too many connections\r\n"
    );
    let wanted = [
        "pop3: warning: refusing a connection: too many connections",
        "imap: warning: refusing a connection: too many connections",
    ];
    let log = log_with(dir.path(), &wanted);
    for line in wanted {
        assert!(log.contains(line), "{line:?} missing in\n{log}");
    }
}

#[test]
fn per_ip_connection_limit_refuses_pop3_and_imap_with_their_lines() {
    let dir = TempDir::new("mail-server-per-ip");
    let ports = setup(
        dir.path(),
        "\n[limits]\nmax_connections = 3\nmax_connections_per_ip = 1\n",
    );
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let ip = |last: u8| IpAddr::from([127, 0, 0, last]);
    // 127.0.0.1 holds its one connection.
    let _smtp = greeted(ip(1), ports.smtp, "220 ");
    const FROM_YOU: &str = "too many connections from your address";
    assert_eq!(
        read_until_close(connect_from(ip(1), ports.pop3)),
        format!("-ERR [SYS/TEMP] {FROM_YOU}\r\n")
    );
    assert_eq!(
        read_until_close(connect_from(ip(1), ports.imap)),
        format!("* BYE [UNAVAILABLE] {FROM_YOU}\r\n")
    );
    assert_eq!(
        read_until_close(connect_from(ip(1), ports.smtp)),
        format!("421 4.7.0 localhost Error: {FROM_YOU}\r\n")
    );
    // Other addresses are served, each once...
    let _pop3 = greeted(ip(2), ports.pop3, "+OK ");
    assert_eq!(
        read_until_close(connect_from(ip(2), ports.imap)),
        format!("* BYE [UNAVAILABLE] {FROM_YOU}\r\n")
    );
    let imap = greeted(ip(3), ports.imap, "* OK");
    // ... until the total (3) is reached: then the total's line.
    assert_eq!(
        read_until_close(connect_from(ip(4), ports.pop3)),
        "-ERR [SYS/TEMP] too many connections\r\n"
    );
    assert_eq!(
        read_until_close(connect_from(ip(4), ports.imap)),
        "* BYE [UNAVAILABLE] too many connections\r\n"
    );
    // Released on close: 127.0.0.3 may connect again.
    drop(imap);
    let _again = greeted(ip(3), ports.imap, "* OK");
}
