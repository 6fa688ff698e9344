//! Helpers for interop tests that drive real peers (swaks, curl, Postfix …).
//!
//! A test that needs an external tool calls [`require_tool`]. Outside CI a
//! missing tool skips the test with a loud message; under `CI=true` it fails,
//! so a missing install step can never turn into a silent green run.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
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

/// A free TCP port on 127.0.0.1 for a server a test starts later.
///
/// Ports come from 20000–32767, below Linux's ephemeral range
/// (32768–60999), so no client connection of a concurrent test can take one
/// as its local port between this check and the server's bind (that race
/// made `bind` fail with "Address already in use"). A process-wide counter
/// (starting at an offset from the process id) never hands out the same
/// port twice in one test binary; each candidate must bind now.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_768;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{FIRST}..{}", FIRST + SPAN)
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

    /// Send `signal` (`-TERM`, `-INT`, …) with kill(1); panics if kill fails.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// The exit status, if the child exits within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// Run a Python 3 script (bounded to 60 s); returns (success, stdout + stderr).
pub fn run_python(script: &str) -> (bool, String) {
    let out = run_bounded(Path::new("python3"), &["-c", script], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A passwd-file line made by `mail-server passwd --scheme SCHEME USER`
/// (`bin` is `env!("CARGO_BIN_EXE_mail-server")`).
pub fn mail_server_passwd_line(bin: &str, scheme: &str, user: &str, password: &str) -> String {
    let out = run_bounded(
        Path::new(bin),
        &["passwd", "--scheme", scheme, user],
        Some(format!("{password}\n").as_bytes()),
    );
    assert!(
        out.status.success(),
        "passwd {scheme} failed: {}",
        describe_output(&out)
    );
    String::from_utf8(out.stdout).expect("passwd prints UTF-8")
}

/// The loopback ports of a `mail-server` test configuration.
#[derive(Debug, Clone, Copy)]
pub struct MailServerPorts {
    /// `[[smtp]]` tls = "may" (port 25 profile).
    pub smtp: u16,
    /// `[[smtp]]` tls = "encrypt", require_auth (587 profile).
    pub submission: u16,
    /// `[[smtp]]` tls = "wrapper", require_auth (465 profile).
    pub submissions: u16,
    /// `[[pop3]]` STLS.
    pub pop3: u16,
    /// `[[pop3]]` implicit TLS.
    pub pop3s: u16,
    /// `[[imap]]` STARTTLS.
    pub imap: u16,
    /// `[[imap]]` implicit TLS.
    pub imaps: u16,
}

/// The `[auth]` section body of [`mail_server_setup`]'s default: the
/// passwd-file `users` with `alice` (SHA512-CRYPT, password `wonderland`)
/// and `bob` (`{PLAIN}`, password `builder`).
pub const MAIL_SERVER_DEFAULT_AUTH: &str = "passwd_file = \"users\"\nfailure_delay_ms = 100\n";

/// Write a `mail-server` configuration into `dir` (`mail.toml`): a
/// certificate for `localhost` and 127.0.0.1 (`localhost.crt`), the users
/// file `users` (alice/wonderland SHA512-CRYPT, bob/builder `{PLAIN}`), state
/// in `dir/state`, every listener on a free loopback port, `auth` as the
/// body of `[auth]` and `extra` appended at the end.
pub fn mail_server_setup(bin: &str, dir: &Path, auth: &str, extra: &str) -> MailServerPorts {
    let dir_arg = dir.to_str().expect("UTF-8 temp dir");
    let out = run_bounded(
        Path::new(bin),
        &[
            "genkey",
            "--days",
            "2",
            "--out-dir",
            dir_arg,
            "--san",
            "127.0.0.1",
            "localhost",
        ],
        None,
    );
    assert!(out.status.success(), "genkey: {}", describe_output(&out));
    let users = mail_server_passwd_line(bin, "SHA512-CRYPT", "alice", "wonderland")
        + &mail_server_passwd_line(bin, "PLAIN", "bob", "builder");
    std::fs::write(dir.join("users"), users).expect("write users");
    let p = MailServerPorts {
        smtp: free_port(),
        submission: free_port(),
        submissions: free_port(),
        pop3: free_port(),
        pop3s: free_port(),
        imap: free_port(),
        imaps: free_port(),
    };
    let config = format!(
        r#"myhostname = "localhost"
state_dir = "state"
mydestination = ["localhost"]
mynetworks = ["127.0.0.1/32"]

[tls]
cert_file = "localhost.crt"
key_file = "localhost.key"

[auth]
{auth}
{listeners}"#,
        listeners = crate::server::bootstrap::listeners_toml([
            p.smtp,
            p.submission,
            p.submissions,
            p.pop3,
            p.pop3s,
            p.imap,
            p.imaps
        ]),
    );
    std::fs::write(dir.join("mail.toml"), config + extra).expect("write mail.toml");
    p
}

/// The `server.log` of a `mail-server` started in `dir` once `ready(log)`
/// holds (the server writes its log from a batching thread, so a line can
/// lag behind the reply it goes with), or after 10 s whatever it holds.
pub fn mail_server_log_when(dir: &Path, ready: impl Fn(&str) -> bool) -> String {
    mail_server_log_within(dir, Duration::from_secs(10), ready)
}

/// [`mail_server_log_when`] with another bound than 10 s.
pub fn mail_server_log_within(dir: &Path, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        if ready(&log) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start `mail-server --config dir/mail.toml` (stderr to `dir/server.log`)
/// and wait until it listens; killed when the guard drops.
pub fn mail_server_start(bin: &str, dir: &Path, ports: &MailServerPorts) -> ChildGuard {
    let log = std::fs::File::create(dir.join("server.log")).expect("server.log");
    let child = ChildGuard::spawn(
        Command::new(bin)
            .arg("--config")
            .arg(dir.join("mail.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(log),
    )
    .expect("start mail-server");
    for port in [ports.smtp, ports.submission, ports.imaps] {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(20)),
            "mail-server did not listen on {port}: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }
    child
}

/// A private Dovecot (`dovecot -F` with its own configuration) serving only
/// its auth client socket, with a passwd-file passdb. SIGTERM on drop (then
/// the guard's SIGKILL).
pub struct DovecotAuth {
    guard: ChildGuard,
    /// The auth-client socket (`mode 0666`).
    pub socket: PathBuf,
    /// Dovecot's log file.
    pub log: PathBuf,
    _dir: TempDir,
}

impl DovecotAuth {
    /// Start Dovecot with `users` (passwd-file lines `user:{SCHEME}hash`)
    /// as its passdb and PLAIN, LOGIN and CRAM-MD5 enabled. `None` (after
    /// [`require_tool`]'s message) when Dovecot is not installed.
    pub fn start(users: &str) -> Option<DovecotAuth> {
        use std::os::unix::net::UnixStream;
        let dovecot = require_tool("dovecot")?;
        let dir = TempDir::new("dovecot");
        let d = dir.path();
        let socket = d.join("auth-client");
        let log = d.join("dovecot.log");
        std::fs::write(d.join("users"), users).expect("write dovecot users");
        std::fs::create_dir_all(d.join("home")).expect("dovecot home");
        let config = format!(
            "base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             listen = 127.0.0.1\n\
             protocols =\n\
             ssl = no\n\
             log_path = {log}\n\
             first_valid_uid = 0\n\
             default_internal_user = root\n\
             default_internal_group = root\n\
             default_login_user = root\n\
             auth_mechanisms = plain login cram-md5\n\
             auth_failure_delay = 0\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid=0 gid=0 home={d}/home\n}}\n\
             service auth {{\n  unix_listener {socket} {{\n    mode = 0666\n  }}\n}}\n",
            d = d.display(),
            log = log.display(),
            socket = socket.display(),
        );
        let conf = d.join("dovecot.conf");
        std::fs::write(&conf, config).expect("write dovecot.conf");
        let guard = ChildGuard::spawn(
            Command::new(dovecot)
                .arg("-F")
                .arg("-c")
                .arg(&conf)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit()),
        )
        .expect("start dovecot");
        let deadline = Instant::now() + Duration::from_secs(15);
        while UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not create {}: {}",
                socket.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(DovecotAuth {
            guard,
            socket,
            log,
            _dir: dir,
        })
    }

    /// Dovecot's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DovecotAuth {
    fn drop(&mut self) {
        let pid = self.guard.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A PAM service file `/etc/pam.d/mailtest-<random>`, removed when dropped.
pub struct PamService {
    /// The service name (what `pam_start` and `auth.pam_service` take).
    pub name: String,
    path: PathBuf,
}

impl PamService {
    /// Write the service file with `body`.
    pub fn create(body: &str) -> PamService {
        let name = format!("mailtest-{:016x}", rand::random::<u64>());
        let path = Path::new("/etc/pam.d").join(&name);
        std::fs::write(&path, body).expect("write /etc/pam.d service file");
        PamService { name, path }
    }

    /// A `pam_pwdfile` service checking `pwdfile` (lines `user:crypt-hash`).
    pub fn pwdfile(pwdfile: &Path) -> PamService {
        PamService::create(&format!(
            "auth    required pam_pwdfile.so pwdfile={} nodelay\naccount required pam_permit.so\n",
            pwdfile.display()
        ))
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn pam_pwdfile_installed() -> bool {
    [
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/aarch64-linux-gnu/security",
        "/usr/lib/aarch64-linux-gnu/security",
        "/lib/security",
        "/usr/lib/security",
        "/lib64/security",
    ]
    .iter()
    .any(|dir| Path::new(dir).join("pam_pwdfile.so").is_file())
}

/// Whether PAM tests can run here: root (to write /etc/pam.d) and
/// `pam_pwdfile.so` installed. Panics under CI when not; skips loudly otherwise.
pub fn require_pam_pwdfile() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let ok = root && Path::new("/etc/pam.d").is_dir() && pam_pwdfile_installed();
    if !ok {
        assert!(
            !in_ci(),
            "PAM test needs root, /etc/pam.d and libpam-pwdfile (CI=true)"
        );
        eprintln!("SKIPPED: PAM test needs root, /etc/pam.d and libpam-pwdfile");
    }
    ok
}

/// How [`fetchmail`] polls a server.
pub struct FetchmailPoll<'a> {
    /// `pop3` or `imap`.
    pub proto: &'a str,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// fetchmail's `auth` keyword: `password`, `cram-md5`, …
    pub auth: &'a str,
    /// Login name and password.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
    /// The CA file that signs the server's certificate (for `localhost`).
    pub ca: &'a Path,
    /// Keep the messages on the server (`-k`).
    pub keep: bool,
}

/// Run `fetchmail` once (`-a`, verbose, bounded to 60 s) with STLS/STARTTLS
/// required (`sslproto tls1.2+ sslcertck`), delivering to an MDA that
/// appends to a file, in a fresh `home` directory. Fetchmail's own Received
/// header is suppressed (`invisible`), so what lands in the file is what
/// the server sent, LF line ends. Returns fetchmail's output and the
/// delivered bytes.
pub fn fetchmail(fetchmail: &Path, home: &Path, poll: &FetchmailPoll<'_>) -> (std::process::Output, Vec<u8>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(home).expect("fetchmail home");
    let sink = home.join("fetched.mbox");
    let rc = home.join("fetchmailrc");
    let rc_text = format!(
        "set no bouncemail\n\
         poll 127.0.0.1 port {port} proto {proto} auth {auth}\n  \
         user \"{user}\" password \"{password}\" is \"{user}\" here\n  \
         sslproto tls1.2+ sslcertck sslcertfile \"{ca}\" sslcommonname localhost\n  \
         mda \"cat >> {sink}\"\n",
        port = poll.port,
        proto = poll.proto,
        auth = poll.auth,
        user = poll.user,
        password = poll.password,
        ca = poll.ca.display(),
        sink = sink.display()
    );
    std::fs::write(&rc, rc_text).expect("write fetchmailrc");
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).expect("chmod fetchmailrc");
    let rc_s = rc.display().to_string();
    let pid = home.join("fetchmail.pid").display().to_string();
    let out = Command::new("timeout")
        .arg("60")
        .arg(fetchmail)
        .args(["-f", &rc_s, "--nosyslog", "-v", "--invisible", "--pidfile", &pid])
        .args(if poll.keep { &["-k", "-a"][..] } else { &["-a"][..] })
        .env("HOME", home)
        .env("FETCHMAILHOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fetchmail");
    (out, std::fs::read(&sink).unwrap_or_default())
}

/// A private tmux server (`tmux -L <socket>`) with one session `main`
/// running a terminal program; the server is killed when dropped.
pub struct Tmux {
    tmux: PathBuf,
    socket: String,
}

impl Tmux {
    /// Start `command` (a shell command line) in a 160x40 session with the
    /// environment `env` (e.g. `HOME=… TERM=xterm`).
    pub fn start(tmux: &Path, socket: &str, env: &str, command: &str) -> Tmux {
        let guard = Tmux {
            tmux: tmux.to_path_buf(),
            socket: socket.to_owned(),
        };
        let status = Command::new(tmux)
            .args([
                "-L",
                socket,
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                "160",
                "-y",
                "40",
            ])
            .arg(format!("env {env} sh -c '{command}'"))
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        guard
    }

    /// The screen now.
    pub fn screen(&self) -> String {
        Command::new(&self.tmux)
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "main"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Poll the screen until it shows any of `needles` (or `timeout`
    /// passes); returns whether it did, and the last screen.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if needles.iter().any(|n| screen.contains(n)) {
                return (true, screen);
            }
            if Instant::now() >= deadline {
                return (false, screen);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Type `keys` (tmux key names: `Enter`, `q`, or literal text with `-l`).
    pub fn send_keys(&self, keys: &[&str]) {
        let _ = Command::new(&self.tmux)
            .args(["-L", &self.socket, "send-keys", "-t", "main"])
            .args(keys)
            .status();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux)
            .args(["-L", &self.socket, "kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `curl -sS -u USER:PASSWORD URL` (bounded to 60 s): log in to a POP3,
/// IMAP or SMTP server and run the URL's request. `mech` adds
/// `--login-options AUTH=<mech>`. With `ca`, TLS is required
/// (`--ssl-reqd`: STLS/STARTTLS for `pop3://`, `imap://`, `smtp://` URLs)
/// and the certificate is checked against that CA file; without it, the
/// session stays in cleartext.
pub fn curl_login(
    curl: &Path,
    url: &str,
    ca: Option<&Path>,
    user_password: &str,
    mech: Option<&str>,
) -> std::process::Output {
    let mut args: Vec<String> = vec!["-sS".into()];
    if let Some(ca) = ca {
        args.extend(["--ssl-reqd".into(), "--cacert".into(), ca.display().to_string()]);
    }
    args.extend(["-u".into(), user_password.into()]);
    if let Some(mech) = mech {
        args.extend(["--login-options".into(), format!("AUTH={mech}")]);
    }
    args.push(url.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_bounded(curl, &args, None)
}

/// `openssl s_client -starttls <proto>` (`smtp`, `pop3`, `imap`) to
/// 127.0.0.1:`port`, verifying against `ca`, feeding `input` lines (LF, sent
/// as CRLF) after the handshake; bounded to 60 s.
pub fn openssl_starttls(
    openssl: &Path,
    proto: &str,
    port: u16,
    ca: &Path,
    input: &[u8],
) -> std::process::Output {
    let connect = format!("127.0.0.1:{port}");
    let ca = ca.display().to_string();
    run_bounded(
        openssl,
        &[
            "s_client",
            "-starttls",
            proto,
            "-connect",
            &connect,
            "-CAfile",
            &ca,
            "-brief",
            "-crlf",
            "-quiet",
        ],
        Some(input),
    )
}

/// A real SASL exchange of a plaintext `mechanism` (PLAIN or LOGIN) for
/// `user`/`password`, run up to its verification request (what a backend's
/// `verify` is handed).
pub fn plaintext_verify_request(
    mechanism: mail_sasl::Mechanism,
    user: &str,
    password: &str,
) -> mail_sasl::VerifyRequest {
    use mail_sasl::{Exchange, ExchangeContext, Mechanism, Step};
    let ctx = ExchangeContext::new("smtp", "localhost", [1; 16]);
    match mechanism {
        Mechanism::Plain => {
            let ir = format!("\0{user}\0{password}");
            let (_, step) = Exchange::start(Mechanism::Plain, Some(ir.as_bytes()), &ctx);
            let Step::Verify(request) = step else {
                panic!("PLAIN: {step:?}")
            };
            request
        }
        Mechanism::Login => {
            let (mut ex, step) = Exchange::start(Mechanism::Login, None, &ctx);
            assert!(matches!(step, Step::Challenge(_)), "{step:?}");
            assert!(matches!(ex.step(user.as_bytes()), Step::Challenge(_)));
            let Step::Verify(request) = ex.step(password.as_bytes()) else {
                panic!("LOGIN")
            };
            request
        }
        other => panic!("{other} is not a plaintext mechanism"),
    }
}

/// STARTTLS command injection probe: connect in cleartext to `port`, read
/// the greeting, send `commands` (a STARTTLS/STLS command with another
/// command behind it) in one write, and return the greeting and what came
/// back within 300 ms (the ready reply only, if the server is sound).
pub fn starttls_injection_probe(port: u16, commands: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).expect("greeting");
    let greeting = buf[..n].to_vec();
    s.write_all(commands).expect("send commands");
    std::thread::sleep(Duration::from_millis(300));
    let n = s.read(&mut buf).expect("reply");
    (greeting, buf[..n].to_vec())
}

/// What a cleartext client gets from an implicit-TLS port when it sends
/// `command` (read until the server closes, at most 5 s).
pub fn cleartext_to_tls_port(port: u16, command: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(command).expect("send");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

/// What [`mutt_imap`] connects mutt to.
pub struct MuttImap<'a> {
    /// IMAP port on 127.0.0.1 (STARTTLS required).
    pub port: u16,
    /// Login name.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
    /// The CA file that signs the server's certificate.
    pub ca: &'a Path,
    /// mutt's `imap_authenticators` (e.g. `cram-md5:login`).
    pub authenticators: &'a str,
    /// More muttrc lines.
    pub extra_rc: &'a str,
}

/// Start mutt (`-n`, a private muttrc in `home`, no caches) on INBOX of an
/// IMAP server over STARTTLS, in a tmux session named after the port.
pub fn mutt_imap(tmux: &Path, mutt: &Path, home: &Path, imap: &MuttImap<'_>) -> Tmux {
    std::fs::create_dir_all(home).expect("mutt home");
    let rc = home.join("muttrc");
    let text = format!(
        "set folder=\"imap://{user}@127.0.0.1:{port}/\"\n\
         set spoolfile=\"+INBOX\"\n\
         set imap_pass=\"{password}\"\n\
         set ssl_starttls=yes\nset ssl_force_tls=yes\n\
         set certificate_file=\"{home}/certs\"\n\
         set ssl_ca_certificates_file=\"{ca}\"\n\
         set imap_authenticators=\"{auth}\"\n\
         set header_cache=\"\"\nset message_cachedir=\"\"\n\
         set mail_check_stats=no\nset timeout=5\nset confirmappend=no\n{extra}",
        user = imap.user,
        port = imap.port,
        password = imap.password,
        home = home.display(),
        ca = imap.ca.display(),
        auth = imap.authenticators,
        extra = imap.extra_rc,
    );
    std::fs::write(&rc, text).expect("write muttrc");
    Tmux::start(
        tmux,
        &format!("mutt-{}", imap.port),
        &format!("HOME={} TERM=xterm", home.display()),
        &format!("{} -n -F {} 2>/dev/null", mutt.display(), rc.display()),
    )
}
