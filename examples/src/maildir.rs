//! A small Maildir reader/writer shared by the example POP3 and IMAP servers.
//!
//! Layout (the one Dovecot, Postfix and mutt use): `<dir>/tmp`, `<dir>/new`,
//! `<dir>/cur`. A message file is named `<base>` in `new/` and
//! `<base>:2,<flags>` in `cur/`; the base name is unique and stable, so it
//! serves as POP3 UID (and a stable sort key for IMAP UIDs).
//!
//! # Sessions of one user (POP3 and IMAP on the same Maildir)
//!
//! Delivery never locks (Maildir's `tmp/` → `new/` rename is atomic). What
//! is locked is a *session*, with `flock(2)` on `<dir>/.mailcrates-session.lock`
//! (a file that is never removed; the kernel drops the lock when the holder
//! exits or crashes, so no lock is ever stale):
//!
//! - a POP3 session holds it **exclusively** from the moment its maildrop is
//!   opened (PASS/APOP/AUTH) until it ends (UPDATE or disconnect), as
//!   RFC 1939 §8 asks; a second POP3 session or an IMAP `SELECT INBOX` is
//!   refused meanwhile (POP3 `-ERR [IN-USE]`, RFC 2449);
//! - an IMAP session holds it **shared** while INBOX is selected read-write:
//!   any number of IMAP sessions work side by side, and a POP3 login is
//!   refused with `-ERR [IN-USE]` until they leave INBOX (SELECT/EXAMINE of
//!   another mailbox, CLOSE, UNSELECT, LOGOUT or disconnect release it at
//!   once). A `SELECT INBOX` while a POP3 session holds the maildrop is
//!   answered `NO [INUSE]` (RFC 5530; the session stays authenticated);
//! - read-only access (IMAP `EXAMINE`, `STATUS`, other folders) takes no
//!   lock, and every reader tolerates a file that another session renamed
//!   (flags changed: it is found again by its base name) or removed
//!   (expunged/deleted: treated as gone, never as an error that loses state).
//!
//! Flag changes and expunges of IMAP sessions sharing INBOX are plain
//! renames and unlinks of one file each, so they cannot lose or duplicate a
//! message; the IMAP UID list is updated under its own short exclusive
//! lock (see [`crate::imap_store`]).
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
//!     let _pop3 = md.lock()?.expect("not locked yet");
//!     assert!(md.lock()?.is_none(), "a second POP3 session finds it locked");
//!     assert!(md.lock_shared()?.is_none(), "an IMAP session too");
//! } // dropped: unlocked
//! {
//!     let _imap1 = md.lock_shared()?.expect("not locked");
//!     let _imap2 = md.lock_shared()?.expect("IMAP sessions share the lock");
//!     assert!(md.lock()?.is_none(), "POP3 is refused while IMAP has it");
//! }
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

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

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

/// A held session lock of a Maildir (see the module docs); released when
/// dropped (or when the process exits).
#[derive(Debug)]
pub struct MaildirLock {
    _file: File,
    exclusive: bool,
}

impl MaildirLock {
    /// Whether this is the exclusive (POP3) lock rather than a shared (IMAP) one.
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

/// The session lock file's name inside a Maildir.
pub const SESSION_LOCK_FILE: &str = ".mailcrates-session.lock";

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
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    // Renamed (flags) or removed by another session meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
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
        // A file renamed while the directories were read can be seen twice
        // (new/ then cur/, or two names in cur/): one message, listed once.
        out.dedup_by(|later, first| later.base == first.base);
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
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.locate(&msg.base)? {
                Some(found) => File::open(found),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Where the message with base name `base` is now (`new/<base>` or
    /// `cur/<base>:2,…`), or `None` if it is gone. A directory read that
    /// races a rename by another session can miss the file, so a miss is
    /// confirmed by a second look.
    pub fn locate(&self, base: &str) -> io::Result<Option<PathBuf>> {
        let flagged = format!("{base}:2,");
        for _ in 0..2 {
            for sub in ["new", "cur"] {
                for entry in fs::read_dir(self.dir.join(sub))? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name == base || name.starts_with(&flagged) {
                        return Ok(Some(entry.path()));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Remove the message (a message already gone counts as removed; one
    /// renamed by another session is found again by base name).
    pub fn delete(&self, msg: &MaildirMessage) -> io::Result<()> {
        let mut path = msg.path.clone();
        // Bounded: each retry follows a rename by another session.
        for _ in 0..8 {
            match fs::remove_file(&path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match self.locate(&msg.base)? {
                    Some(found) => path = found,
                    None => return Ok(()),
                },
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("{} keeps being renamed", msg.base)))
    }

    /// Move the message to `cur/<base>:2,<flags>` (flags are sorted and
    /// deduplicated as the Maildir spec requires). Returns the new path. If
    /// another session renamed the file meanwhile, it is found again by base
    /// name; if it was removed, the error is `NotFound`.
    pub fn set_flags(&self, msg: &MaildirMessage, flags: &str) -> io::Result<PathBuf> {
        let mut f: Vec<char> = flags.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        f.sort_unstable();
        f.dedup();
        let name: String = format!("{}:2,{}", msg.base, f.into_iter().collect::<String>());
        let to = self.dir.join("cur").join(name);
        if to == msg.path {
            return Ok(to);
        }
        match fs::rename(&msg.path, &to) {
            Ok(()) => Ok(to),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Bounded: each retry follows a rename by another session.
                for _ in 0..8 {
                    let Some(current) = self.locate(&msg.base)? else {
                        return Err(e);
                    };
                    if current == to {
                        return Ok(to);
                    }
                    match fs::rename(&current, &to) {
                        Ok(()) => return Ok(to),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Take this Maildir's session lock exclusively (a POP3 session).
    /// `Ok(None)`: another session holds it, exclusively or shared (POP3
    /// answers `[IN-USE]`). Never blocks.
    pub fn lock(&self) -> io::Result<Option<MaildirLock>> {
        self.try_session_lock(true)
    }

    /// Take this Maildir's session lock shared (an IMAP session with INBOX
    /// selected). `Ok(None)`: a POP3 session holds it. Never blocks.
    pub fn lock_shared(&self) -> io::Result<Option<MaildirLock>> {
        self.try_session_lock(false)
    }

    fn try_session_lock(&self, exclusive: bool) -> io::Result<Option<MaildirLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(SESSION_LOCK_FILE))?;
        let operation = if exclusive {
            FlockOperation::NonBlockingLockExclusive
        } else {
            FlockOperation::NonBlockingLockShared
        };
        match flock(&file, operation) {
            Ok(()) => Ok(Some(MaildirLock {
                _file: file,
                exclusive,
            })),
            Err(e) if e == Errno::WOULDBLOCK => Ok(None),
            Err(e) => Err(e.into()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> Maildir {
        let dir = std::env::temp_dir().join(format!("maildir-{name}-{:016x}", rand::random::<u64>()));
        Maildir::create(dir).unwrap()
    }

    #[test]
    fn another_sessions_rename_or_removal_is_tolerated() {
        let md = scratch("races");
        md.deliver(b"Subject: a\n\na\n").unwrap();
        md.deliver(b"Subject: b\n\nb\n").unwrap();
        let stale = md.list().unwrap();
        // Another session flags both, then removes the second.
        md.set_flags(&stale[0], "S").unwrap();
        md.set_flags(&stale[1], "F").unwrap();
        let current = md.list().unwrap();
        md.delete(&current[1]).unwrap();
        // Our stale view still reads, re-flags and deletes by base name.
        assert_eq!(md.read(&stale[0]).unwrap(), b"Subject: a\n\na\n");
        let moved = md.set_flags(&stale[0], "RS").unwrap();
        assert!(moved.ends_with(format!("{}:2,RS", stale[0].base)), "{moved:?}");
        assert_eq!(md.locate(&stale[0].base).unwrap(), Some(moved));
        let err = md.set_flags(&stale[1], "S").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        md.delete(&stale[1]).unwrap(); // already gone: fine
        md.delete(&stale[0]).unwrap(); // renamed since: found and removed
        assert!(md.list().unwrap().is_empty());
        assert_eq!(md.locate(&stale[0].base).unwrap(), None);
        fs::remove_dir_all(md.path()).ok();
    }

    #[test]
    fn session_lock_is_released_on_drop_and_not_left_behind() {
        let md = scratch("lock");
        let pop3 = md.lock().unwrap().expect("free");
        assert!(pop3.is_exclusive());
        assert!(md.lock_shared().unwrap().is_none());
        drop(pop3);
        let imap = md.lock_shared().unwrap().expect("free again");
        assert!(!imap.is_exclusive());
        assert!(md.lock().unwrap().is_none());
        drop(imap);
        assert!(md.lock().unwrap().is_some());
        // The lock file stays (never unlinked: no race on re-creation) and is
        // not a message.
        assert!(md.path().join(SESSION_LOCK_FILE).is_file());
        assert!(md.list().unwrap().is_empty());
        fs::remove_dir_all(md.path()).ok();
    }
}
