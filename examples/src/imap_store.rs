//! IMAP-specific store code for the example IMAP server, on top of
//! [`crate::maildir`]: Maildir++ folders, persistent UIDs (UIDVALIDITY,
//! UIDNEXT and a UID per message, kept in `<maildir>/.mailcrates-uidlist`),
//! flags mapped to Maildir info letters, and CRLF line ends for the wire.
//!
//! ```
//! use mail_examples::imap_store::ImapStore;
//! use mail_imap_min::Flags;
//! # let root = std::env::temp_dir().join(format!("imap-store-doc-{}", std::process::id()));
//! let store = ImapStore::for_user(&root, "ned")?;
//! store.inbox()?.deliver(b"Subject: hi\n\nhello\n")?;
//! let mut inbox = store.open("INBOX")?.expect("INBOX exists");
//! assert_eq!(inbox.view.messages.len(), 1);
//! let uid = inbox.view.messages[0].uid;
//! assert_eq!(inbox.read(uid)?, b"Subject: hi\r\n\r\nhello\r\n"); // CRLF on the wire
//! assert_eq!(inbox.view.messages[0].size, 22);
//! inbox.set_flags(uid, Flags::SEEN)?;
//! // UIDs and flags survive a reopen.
//! let again = store.open("INBOX")?.unwrap();
//! assert_eq!((again.view.messages[0].uid, again.view.messages[0].flags), (uid, Flags::SEEN));
//! store.create("Sent/2024")?;
//! assert_eq!(store.list_mailboxes()?, vec!["INBOX", "Sent", "Sent/2024"]);
//! # std::fs::remove_dir_all(&root).ok();
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mail_imap_min::{Flags, MailboxView, MessageMeta};

use crate::maildir::{valid_user_dir, Maildir, MaildirMessage};

const UIDLIST: &str = ".mailcrates-uidlist";
/// `flock(2)`ed exclusively (blocking, briefly) around every read-modify-write
/// of the uidlist, by every session of every process on this Maildir.
const UIDLIST_LOCK: &str = ".mailcrates-uidlist.lock";

/// Hold the uidlist lock of the mailbox in `dir` until dropped.
fn lock_uidlist(dir: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(UIDLIST_LOCK))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

/// One user's mailboxes: INBOX is the Maildir at `<root>/<user>`, folder
/// `a/b` is the Maildir++ folder `<root>/<user>/.a.b`.
#[derive(Debug, Clone)]
pub struct ImapStore {
    dir: PathBuf,
}

/// An opened (selected) mailbox.
#[derive(Debug)]
pub struct OpenMailbox {
    /// The Maildir.
    pub maildir: Maildir,
    /// What the session is told.
    pub view: MailboxView,
    files: BTreeMap<u32, MaildirMessage>,
}

/// Convert bare LF line ends to CRLF (IMAP sends CRLF; Maildir files
/// written by Postfix's local(8) use bare LF).
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl ImapStore {
    /// The store of `user` under `maildir_root` (INBOX created if missing).
    pub fn for_user(maildir_root: &Path, user: &str) -> io::Result<Self> {
        let md = Maildir::for_user(maildir_root, user)?;
        Ok(ImapStore {
            dir: md.path().to_path_buf(),
        })
    }

    /// The store whose INBOX is `inbox` (e.g. `mail/<user>/Maildir` of the
    /// reference server); folders are Maildir++ subdirectories of it.
    pub fn for_maildir(inbox: Maildir) -> io::Result<Self> {
        Ok(ImapStore {
            dir: inbox.path().to_path_buf(),
        })
    }

    /// The INBOX Maildir.
    pub fn inbox(&self) -> io::Result<Maildir> {
        Maildir::create(&self.dir)
    }

    fn folder_dir(&self, name: &str) -> io::Result<PathBuf> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(self.dir.clone());
        }
        let parts: Vec<&str> = name.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || p.contains('.') || !valid_user_dir(p))
        {
            return Err(invalid(format!("mailbox name {name:?} is not allowed")));
        }
        Ok(self.dir.join(format!(".{}", parts.join("."))))
    }

    /// INBOX and every Maildir++ folder, sorted.
    pub fn list_mailboxes(&self) -> io::Result<Vec<String>> {
        let mut names = vec!["INBOX".to_string()];
        let mut folders = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some(folder) = name.strip_prefix('.') else {
                continue;
            };
            if folder.is_empty() || folder.starts_with('.') || !entry.path().join("cur").is_dir() {
                continue;
            }
            folders.push(folder.replace('.', "/"));
        }
        folders.sort();
        names.extend(folders);
        Ok(names)
    }

    /// Open a mailbox; `None` if it does not exist.
    pub fn open(&self, name: &str) -> io::Result<Option<OpenMailbox>> {
        let Ok(dir) = self.folder_dir(name) else {
            return Ok(None);
        };
        if !dir.join("cur").is_dir() {
            return Ok(None);
        }
        let maildir = Maildir::create(&dir)?;
        // List under the lock: a listing taken before another session's
        // update would drop (and later renumber) the messages it added.
        let guard = lock_uidlist(&dir)?;
        let (mut validity, mut next, mut uids) = read_uidlist(&dir);
        let mut listed = maildir.list()?;
        // A directory read racing another session's flag rename can miss a
        // file; dropping its UID would renumber (duplicate) the message at
        // the next open. Known messages missing from the listing are
        // looked for again (up to 3 more listings) before they count as expunged.
        let mut seen: std::collections::HashSet<String> = listed.iter().map(|m| m.base.clone()).collect();
        for _ in 0..3 {
            if uids.keys().all(|b| seen.contains(b)) {
                break;
            }
            for m in maildir.list()? {
                if seen.insert(m.base.clone()) {
                    listed.push(m);
                }
            }
        }
        if validity == 0 {
            validity = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() as u32)
                .max(1);
        }
        let mut files = BTreeMap::new();
        let mut changed = false;
        let mut by_base: BTreeMap<String, u32> = BTreeMap::new();
        for m in listed {
            let uid = match uids.get(&m.base) {
                Some(&uid) => uid,
                None => {
                    let uid = next;
                    next += 1;
                    changed = true;
                    uid
                }
            };
            by_base.insert(m.base.clone(), uid);
            files.insert(uid, m);
        }
        if by_base.len() != uids.len() {
            changed = true;
        }
        uids = by_base;
        if changed {
            write_uidlist(&dir, validity, next, &uids)?;
        }
        drop(guard);
        let mut messages = Vec::with_capacity(files.len());
        for (&uid, m) in &files {
            let data = maildir.read(m).unwrap_or_default();
            let size = to_crlf(&data).len() as u64;
            let mtime = fs::metadata(&m.path)
                .and_then(|md| md.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            let mut flags = Flags::from_maildir(&m.flags);
            if m.is_new {
                flags = flags.union(Flags::RECENT);
            }
            messages.push(MessageMeta {
                uid,
                flags,
                internal_date: mtime,
                size,
            });
        }
        Ok(Some(OpenMailbox {
            maildir,
            view: MailboxView {
                uid_validity: validity,
                uid_next: next,
                messages,
            },
            files,
        }))
    }

    /// APPEND: store `message` (CRLF or LF line ends) in mailbox `name` with
    /// `flags` and, if given, `internal_date` as the file's mtime. Returns the
    /// mailbox's UIDVALIDITY and the new UID and metadata, or `Ok(None)` when
    /// the mailbox does not exist.
    pub fn append(
        &self,
        name: &str,
        flags: Flags,
        internal_date: Option<i64>,
        message: &[u8],
    ) -> io::Result<Option<(u32, MessageMeta)>> {
        let Some(target) = self.open(name)? else {
            return Ok(None);
        };
        let base = target.maildir.deliver(message)?;
        let mut delivered = target
            .maildir
            .list()?
            .into_iter()
            .find(|d| d.base == base)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "appended message vanished"))?;
        if !flags.storable().to_maildir().is_empty() {
            delivered.path = target
                .maildir
                .set_flags(&delivered, &flags.storable().to_maildir())?;
        }
        if let Some(secs) = internal_date.and_then(|s| u64::try_from(s).ok()) {
            let when = UNIX_EPOCH + std::time::Duration::from_secs(secs);
            fs::File::options()
                .write(true)
                .open(&delivered.path)?
                .set_modified(when)?;
        }
        let Some(reopened) = self.open(name)? else {
            return Ok(None);
        };
        let meta = reopened
            .files
            .iter()
            .find(|(_, m)| m.base == base)
            .and_then(|(uid, _)| reopened.view.messages.iter().find(|m| m.uid == *uid).copied())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "appended message vanished"))?;
        Ok(Some((reopened.view.uid_validity, meta)))
    }

    /// CREATE
    pub fn create(&self, name: &str) -> io::Result<()> {
        let dir = self.folder_dir(name)?;
        if name.eq_ignore_ascii_case("INBOX") || dir.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "Mailbox already exists",
            ));
        }
        // Parents of a/b/c exist as folders too (Maildir++ has no real hierarchy).
        let parts: Vec<&str> = name.split('/').collect();
        for i in 1..parts.len() {
            let parent = self.folder_dir(&parts[..i].join("/"))?;
            if !parent.exists() {
                Maildir::create(parent)?;
            }
        }
        Maildir::create(dir).map(|_| ())
    }

    /// DELETE
    pub fn delete(&self, name: &str) -> io::Result<()> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(invalid("INBOX can't be deleted".into()));
        }
        let dir = self.folder_dir(name)?;
        if !dir.exists() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "Mailbox doesn't exist"));
        }
        fs::remove_dir_all(dir)
    }

    /// RENAME
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        if from.eq_ignore_ascii_case("INBOX") {
            return Err(invalid("renaming INBOX is not supported".into()));
        }
        let (a, b) = (self.folder_dir(from)?, self.folder_dir(to)?);
        if !a.exists() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "Mailbox doesn't exist"));
        }
        if b.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "Mailbox already exists",
            ));
        }
        fs::rename(a, b)
    }
}

impl OpenMailbox {
    /// A message's bytes with CRLF line ends (what RFC822.SIZE counted).
    pub fn read(&self, uid: u32) -> io::Result<Vec<u8>> {
        let m = self
            .files
            .get(&uid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such UID"))?;
        self.maildir.read(m).map(|d| to_crlf(&d))
    }

    /// Persist new flags in the file name (`cur/<base>:2,<letters>`), keeping
    /// letters IMAP does not know (`P`assed, Dovecot keywords).
    pub fn set_flags(&mut self, uid: u32, flags: Flags) -> io::Result<()> {
        let m = self
            .files
            .get_mut(&uid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such UID"))?;
        let mut letters: String = m.flags.chars().filter(|c| !"DFRST".contains(*c)).collect();
        letters.push_str(&flags.storable().to_maildir());
        let path = self.maildir.set_flags(m, &letters)?;
        let mut sorted: Vec<char> = letters.chars().collect();
        sorted.sort_unstable();
        sorted.dedup();
        m.flags = sorted.into_iter().collect();
        m.path = path;
        m.is_new = false;
        Ok(())
    }

    /// Copy messages (with their flags) into `dest` of the same user.
    /// Returns the destination's UIDVALIDITY and the new UIDs in source
    /// order, or `Ok(None)` when `dest` does not exist.
    pub fn copy_to(
        &self,
        uids: &[u32],
        store: &ImapStore,
        dest: &str,
    ) -> io::Result<Option<(u32, Vec<u32>)>> {
        let Some(target) = store.open(dest)? else {
            return Ok(None);
        };
        let mut bases = Vec::with_capacity(uids.len());
        for uid in uids {
            let m = self
                .files
                .get(uid)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such UID"))?;
            let data = self.maildir.read(m)?;
            let base = target.maildir.deliver(&data)?;
            if !m.flags.is_empty() {
                let delivered = target
                    .maildir
                    .list()?
                    .into_iter()
                    .find(|d| d.base == base)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "copied message vanished"))?;
                target.maildir.set_flags(&delivered, &m.flags)?;
            }
            bases.push(base);
        }
        // Reopening assigns (and persists) UIDs for the new files.
        let Some(target) = store.open(dest)? else {
            return Ok(None);
        };
        let new = bases
            .iter()
            .map(|b| {
                target
                    .files
                    .iter()
                    .find(|(_, m)| &m.base == b)
                    .map(|(uid, _)| *uid)
                    .unwrap_or(0)
            })
            .collect();
        Ok(Some((target.view.uid_validity, new)))
    }

    /// Delete messages (EXPUNGE).
    pub fn expunge(&mut self, uids: &[u32]) -> io::Result<()> {
        for uid in uids {
            if let Some(m) = self.files.remove(uid) {
                self.maildir.delete(&m)?;
            }
        }
        Ok(())
    }
}

fn read_uidlist(dir: &Path) -> (u32, u32, BTreeMap<String, u32>) {
    let Ok(text) = fs::read_to_string(dir.join(UIDLIST)) else {
        return (0, 1, BTreeMap::new());
    };
    let mut lines = text.lines();
    let mut validity = 0;
    let mut next = 1;
    if let Some(head) = lines.next() {
        for field in head.split_whitespace() {
            if let Some(v) = field.strip_prefix('V') {
                validity = v.parse().unwrap_or(0);
            } else if let Some(n) = field.strip_prefix('N') {
                next = n.parse().unwrap_or(1);
            }
        }
    }
    let mut uids = BTreeMap::new();
    for line in lines {
        if let Some((uid, base)) = line.split_once(' ') {
            if let Ok(uid) = uid.parse::<u32>() {
                if uid > 0 {
                    next = next.max(uid + 1);
                    uids.insert(base.to_string(), uid);
                }
            }
        }
    }
    (validity, next.max(1), uids)
}

fn write_uidlist(dir: &Path, validity: u32, next: u32, uids: &BTreeMap<String, u32>) -> io::Result<()> {
    let tmp = dir.join(format!("{UIDLIST}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        writeln!(f, "V{validity} N{next}")?;
        let mut by_uid: Vec<(&u32, &String)> = uids.iter().map(|(b, u)| (u, b)).collect();
        by_uid.sort();
        for (uid, base) in by_uid {
            writeln!(f, "{uid} {base}")?;
        }
        f.sync_all()?;
    }
    fs::rename(tmp, dir.join(UIDLIST))
}
