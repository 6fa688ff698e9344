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
