//! Helpers for interop tests that drive real peers (swaks, curl, Postfix …).
//!
//! A test that needs an external tool calls [`require_tool`]. Outside CI a
//! missing tool skips the test with a loud message; under `CI=true` it fails,
//! so a missing install step can never turn into a silent green run.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Whether we run under CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Find `tool` on PATH (or in /usr/sbin, /usr/lib/postfix/sbin …).
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/lib/postfix/sbin", "/usr/local/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file());
    found
}

/// Returns the tool's path, or `None` after printing why the test is skipped.
/// Panics under CI, where every tool must be installed by `.ci/run`.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    match find_tool(tool) {
        Some(p) => Some(p),
        None if in_ci() => panic!("required tool `{tool}` is not installed (CI=true): fix .ci/run"),
        None => {
            eprintln!(
                "SKIPPED: `{tool}` not installed; install it (see scripts/install-deps.sh) to run this test"
            );
            None
        }
    }
}

/// Whether a Python module can be imported; panics under CI if not.
pub fn require_python_module(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if in_ci() {
            panic!("required Python module `{module}` is not installed (CI=true): fix .ci/run");
        }
        eprintln!("SKIPPED: Python module `{module}` not installed");
    }
    ok
}

/// A free TCP port on 127.0.0.1 (bind to port 0, read it back, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Wait until something accepts connections on `addr` (at most `timeout`).
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process killed (and reaped) when dropped, so a failing test
/// never leaves a server running.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawn `cmd` and guard it.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        cmd.spawn().map(ChildGuard)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh temporary directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Create `…/mailcrates-<prefix>-<random>`.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mailcrates-{prefix}-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `program` with `args` (bounded to 60 s by coreutils `timeout`),
/// feeding `stdin` if given, and collect its output.
pub fn run_bounded(program: &Path, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(data) = stdin {
        input.write_all(data).expect("write client stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait for client")
}

/// A process's status, stdout and stderr, for assertion messages.
pub fn describe_output(out: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One of the retrieval example servers (`pop3-demo`, `imap-demo`) running
/// in a fresh directory: a self-signed certificate (`mail.crt`/`mail.key`
/// for `localhost` and 127.0.0.1), a passwd-file, Maildirs under `mail/`,
/// and the server's stderr in `server.log`. Killed on drop.
pub struct DemoServer {
    _child: ChildGuard,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its directory.
    pub dir: TempDir,
}

/// A user of a [`DemoServer`]: name, password scheme, password.
pub type DemoUser<'a> = (&'a str, mail_sasl::passwd_file::Scheme, &'a str);

impl DemoServer {
    /// Start `binary` (`env!("CARGO_BIN_EXE_…")`) with `--tls tls` and
    /// `extra` flags; `mail` lists (user, messages) delivered beforehand, in order.
    pub fn start(
        binary: &str,
        users: &[DemoUser<'_>],
        mail: &[(&str, Vec<Vec<u8>>)],
        tls: &str,
        extra: &[&str],
    ) -> Self {
        let name = Path::new(binary)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("demo")
            .to_owned();
        let dir = TempDir::new(&name);
        let cert = mail_tls::self_signed(&["localhost".into(), "127.0.0.1".into()], 30).expect("certificate");
        cert.write_to(dir.path(), "mail").expect("write certificate");
        let passwd: String = users
            .iter()
            .map(|(user, scheme, password)| {
                let hash = mail_sasl::passwd_file::hash_password(*scheme, user, password, "").expect("hash");
                format!("{user}:{hash}\n")
            })
            .collect();
        std::fs::write(dir.path().join("passwd"), passwd).expect("write passwd");
        let root = dir.path().join("mail");
        for (user, messages) in mail {
            let md = crate::maildir::Maildir::for_user(&root, user).expect("maildir");
            for m in messages {
                md.deliver(m).expect("deliver");
                // Distinct delivery times keep the Maildir order stable.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut cmd = Command::new(binary);
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--tls", tls])
            .arg("--passwd-file")
            .arg(dir.path().join("passwd"))
            .arg("--maildir-root")
            .arg(&root)
            .arg("--cert")
            .arg(dir.path().join("mail.crt"))
            .arg("--key")
            .arg(dir.path().join("mail.key"))
            .args(["--failure-delay-ms", "50"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(log);
        let child = ChildGuard::spawn(&mut cmd).unwrap_or_else(|e| panic!("start {name}: {e}"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        assert!(
            wait_for_port(addr, Duration::from_secs(10)),
            "{name} did not listen"
        );
        DemoServer {
            _child: child,
            port,
            dir,
        }
    }

    /// The CA file clients trust (the self-signed certificate).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("mail.crt")
    }

    /// The Maildir directory of `user`.
    pub fn maildir_path(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }

    /// The Maildir of `user`.
    pub fn maildir(&self, user: &str) -> crate::maildir::Maildir {
        crate::maildir::Maildir::for_user(&self.dir.path().join("mail"), user).expect("maildir")
    }

    /// The server's log so far (after a short pause for it to be written).
    pub fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}
