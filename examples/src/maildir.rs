//! A small Maildir reader/writer shared by the example POP3 and IMAP servers.
//!
//! Layout (the one Dovecot, Postfix and mutt use): `<dir>/tmp`, `<dir>/new`,
//! `<dir>/cur`. A message file is named `<base>` in `new/` and
//! `<base>:2,<flags>` in `cur/`; the base name is unique and stable, so it
//! serves as POP3 UID (and a stable sort key for IMAP UIDs).
//!
//! ```
//! use mail_examples::maildir::Maildir;
//! # let root = std::env::temp_dir().join(format!("maildir-doc-{}", std::process::id()));
//! let md = Maildir::create(root.join("ned"))?;
//! let base = md.deliver(b"Subject: hi\n\nhello\n")?;
//! let list = md.list()?;
//! assert_eq!(list.len(), 1);
//! assert_eq!(list[0].base, base);
//! assert_eq!(md.read(&list[0])?, b"Subject: hi\n\nhello\n");
//! md.set_flags(&list[0], "S")?; // moves new/ -> cur/<base>:2,S
//! let list = md.list()?;
//! assert_eq!((list[0].base.as_str(), list[0].flags.as_str()), (base.as_str(), "S"));
//! {
//!     let _lock = md.lock()?.expect("not locked yet");
//!     assert!(md.lock()?.is_none(), "a second session finds it locked");
//! } // dropped: unlocked
//! md.delete(&list[0])?;
//! assert!(md.list()?.is_empty());
//! # std::fs::remove_dir_all(&root).ok();
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One Maildir (one user's mailbox).
#[derive(Debug, Clone)]
pub struct Maildir {
    dir: PathBuf,
}

/// A message found by [`Maildir::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirMessage {
    /// The unique base name (file name without `:2,flags`): POP3 UID.
    pub base: String,
    /// Current path (`new/<base>` or `cur/<base>:2,<flags>`).
    pub path: PathBuf,
    /// Flags from the `:2,` suffix (`D`raft `F`lagged `P`assed `R`eplied
    /// `S`een `T`rashed), sorted; empty for `new/`.
    pub flags: String,
    /// Whether the message is in `new/` (not yet seen by any client).
    pub is_new: bool,
    /// File size in bytes (as stored, usually bare-LF line endings).
    pub file_size: u64,
}

/// Holds a Maildir's lock file; removes it when dropped.
#[derive(Debug)]
pub struct MaildirLock {
    path: PathBuf,
}

impl Drop for MaildirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// Whether `user` is safe as one path component under a Maildir root.
pub fn valid_user_dir(user: &str) -> bool {
    !user.is_empty()
        && user != "."
        && user != ".."
        && user.len() <= 255
        && !user
            .bytes()
            .any(|b| b == b'/' || b == b'\\' || b == 0 || b.is_ascii_control())
}

impl Maildir {
    /// Open `dir`, creating `tmp/`, `new/` and `cur/` if missing.
    pub fn create(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Self { dir })
    }

    /// `<root>/<user>` (created if missing). Refuses user names that are not
    /// a single safe path component.
    pub fn for_user(root: &Path, user: &str) -> io::Result<Self> {
        if !valid_user_dir(user) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("user name {user:?} cannot name a Maildir directory"),
            ));
        }
        Self::create(root.join(user))
    }

    /// The Maildir directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A fresh unique base name (`<secs>.M<usec>P<pid>Q<n>.<host>`).
    fn unique_base() -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
        let host = hostname().replace(['/', ':'], "_");
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            host
        )
    }

    /// Store a message durably: write `tmp/<base>`, fsync, rename into
    /// `new/`, fsync the directory. Returns the base name.
    pub fn deliver(&self, message: &[u8]) -> io::Result<String> {
        let base = Self::unique_base();
        let tmp = self.dir.join("tmp").join(&base);
        {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(message)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join("new").join(&base))?;
        File::open(self.dir.join("new"))?.sync_all()?;
        Ok(base)
    }

    /// Deliver a file that is already complete and fsynced (a spool file):
    /// hard-link it into `new/` (atomic: readers never see a partial
    /// message), falling back to a copy through `tmp/` across file systems;
    /// then fsync the directory. Returns the base name.
    pub fn deliver_file(&self, source: &Path) -> io::Result<String> {
        let base = Self::unique_base();
        let target = self.dir.join("new").join(&base);
        if fs::hard_link(source, &target).is_err() {
            let tmp = self.dir.join("tmp").join(&base);
            fs::copy(source, &tmp)?;
            File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &target)?;
        }
        File::open(self.dir.join("new"))?.sync_all()?;
        Ok(base)
    }

    /// Every message in `new/` and `cur/`, oldest first (by base name, whose
    /// leading field is the delivery time), ties broken by base name.
    pub fn list(&self) -> io::Result<Vec<MaildirMessage>> {
        let mut out = Vec::new();
        for (sub, is_new) in [("new", true), ("cur", false)] {
            for entry in fs::read_dir(self.dir.join(sub))? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with('.') {
                    continue;
                }
                let meta = entry.metadata()?;
                if !meta.is_file() {
                    continue;
                }
                let (base, flags) = match name.split_once(":2,") {
                    Some((b, f)) => (b, f),
                    None => (name, ""),
                };
                out.push(MaildirMessage {
                    base: base.to_owned(),
                    path: entry.path(),
                    flags: flags.to_owned(),
                    is_new,
                    file_size: meta.len(),
                });
            }
        }
        out.sort_by(|a, b| {
            time_key(&a.base)
                .cmp(&time_key(&b.base))
                .then_with(|| a.base.cmp(&b.base))
        });
        Ok(out)
    }

    /// The message's bytes.
    pub fn read(&self, msg: &MaildirMessage) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(msg.file_size as usize);
        self.open(msg)?.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Open the message for streaming. If another client renamed it
    /// meanwhile (flags changed), it is found again by base name.
    pub fn open(&self, msg: &MaildirMessage) -> io::Result<File> {
        match File::open(&msg.path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let found = self.list()?.into_iter().find(|m| m.base == msg.base);
                match found {
                    Some(m) => File::open(m.path),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Remove the message (a message already gone counts as removed).
    pub fn delete(&self, msg: &MaildirMessage) -> io::Result<()> {
        match fs::remove_file(&msg.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match self.list()?.into_iter().find(|m| m.base == msg.base) {
                    Some(m) => fs::remove_file(m.path),
                    None => Ok(()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Move the message to `cur/<base>:2,<flags>` (flags are sorted and
    /// deduplicated as the Maildir spec requires). Returns the new path.
    pub fn set_flags(&self, msg: &MaildirMessage, flags: &str) -> io::Result<PathBuf> {
        let mut f: Vec<char> = flags.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        f.sort_unstable();
        f.dedup();
        let name: String = format!("{}:2,{}", msg.base, f.into_iter().collect::<String>());
        let to = self.dir.join("cur").join(name);
        if to != msg.path {
            fs::rename(&msg.path, &to)?;
        }
        Ok(to)
    }

    /// Take this Maildir's exclusive session lock (`<dir>/.mailcrates.lock`,
    /// created with `O_EXCL`, holding the owner's pid). `Ok(None)`: another
    /// live session holds it (POP3 `[IN-USE]`). A lock left by a dead process
    /// is taken over.
    pub fn lock(&self) -> io::Result<Option<MaildirLock>> {
        let path = self.dir.join(".mailcrates.lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(Some(MaildirLock { path }));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&path).unwrap_or_default();
                    let alive = match owner.trim().parse::<u32>() {
                        Ok(pid) => Path::new(&format!("/proc/{pid}")).exists(),
                        // Being written right now by its creator.
                        Err(_) => true,
                    };
                    if alive {
                        return Ok(None);
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// (seconds, microseconds) from a `secs.M<micros>P…` base name; names of
/// another shape sort last.
fn time_key(base: &str) -> (u64, u64) {
    let mut parts = base.split('.');
    let secs = parts.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    let micros = parts
        .next()
        .and_then(|p| p.strip_prefix('M'))
        .map(|p| {
            p.bytes().take_while(u8::is_ascii_digit).fold(0u64, |n, d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            })
        })
        .unwrap_or(0);
    (secs, micros)
}

fn hostname() -> String {
    fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
