//! Durable storage of accepted messages: local delivery to Maildir and the
//! queue of relayed mail. A message is answered `250` only after
//! [`Incoming::commit`] returned, i.e. after every copy and the directories
//! that name them were fsynced.
//!
//! On-disk format (under `state_dir`):
//! - `mail/<user>/Maildir/{tmp,new,cur}`: local delivery, the Maildir way:
//!   the message is written to `tmp/<base>`, `fdatasync`ed, renamed into
//!   `new/<base>` and `new/` is fsynced (further local users get a hard
//!   link in their `new/`);
//! - `incoming/<QID>`: a message too large to hold in memory
//!   ([`MEMORY_LIMIT`]) while it is received; it is linked into place at
//!   commit and removed. Leftovers after a crash were never answered `250`
//!   and are deleted at start;
//! - `queue/<QID>.eml` + `queue/<QID>.env`: relayed mail. `.eml` holds the
//!   message (CRLF, with our `Received:` header); `.env` holds the envelope
//!   as lines `created <unix seconds>`, `from <sender>`, `to <recipient>`
//!   (one per recipient). An entry counts as queued once its `.env` exists
//!   (written to a temporary name, fsynced, renamed, directory fsynced).
//!
//! Speed: small messages are held in memory and written with one call at
//! commit (no per-message create/unlink in `incoming/`: on ext4 without a
//! journal, inode allocation skips recently deleted inodes, and a steady
//! create/unlink churn made every create scan thousands of them). Concurrent
//! commits share directory fsyncs ([`DirSync`]: one `fsync` of `new/` covers
//! every rename made before it started), and opened Maildirs are cached.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::maildir::Maildir;

/// Message bytes held in memory per transaction before they go to a file
/// in `incoming/` (bounds the memory of a connection).
pub const MEMORY_LIMIT: usize = 128 * 1024;

/// Opened Maildirs kept (more users than this: the cache is cleared).
const MAILDIR_CACHE: usize = 4096;

/// The state directory's spool areas.
#[derive(Debug)]
pub struct Spool {
    incoming: PathBuf,
    queue: PathBuf,
    mail: PathBuf,
    /// Host part of Maildir base names.
    host: String,
    maildirs: Mutex<HashMap<String, Maildir>>,
    dir_syncs: Mutex<HashMap<PathBuf, Arc<DirSync>>>,
}

/// A message being received: in memory while small, else in `incoming/`.
#[derive(Debug)]
pub struct Incoming {
    memory: Vec<u8>,
    file: Option<(PathBuf, File)>,
    queue_id: String,
    size: u64,
}

/// Where an accepted message goes.
#[derive(Debug, Default, Clone)]
pub struct Envelope {
    /// Reverse path (may be empty for bounces).
    pub sender: String,
    /// Local users (Maildir delivery).
    pub local_users: Vec<String>,
    /// Remote recipients (queued).
    pub remote: Vec<String>,
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

impl Spool {
    /// Open (creating) the spool areas under `state_dir`, and drop incoming
    /// files a crash left behind (never acknowledged).
    pub fn open(state_dir: &Path) -> io::Result<Spool> {
        let spool = Spool {
            incoming: state_dir.join("incoming"),
            queue: state_dir.join("queue"),
            mail: state_dir.join("mail"),
            host: fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().replace(['/', ':'], "_"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "localhost".into()),
            maildirs: Mutex::new(HashMap::new()),
            dir_syncs: Mutex::new(HashMap::new()),
        };
        for dir in [&spool.incoming, &spool.queue, &spool.mail] {
            fs::create_dir_all(dir)?;
        }
        for entry in fs::read_dir(&spool.incoming)? {
            let _ = fs::remove_file(entry?.path());
        }
        // Half-written deliveries in Maildir tmp/ (named by us, never renamed
        // into new/, so never answered 250).
        for user in fs::read_dir(&spool.mail)?.flatten() {
            let Ok(tmp) = fs::read_dir(user.path().join("Maildir").join("tmp")) else {
                continue;
            };
            for entry in tmp.flatten() {
                if entry.file_name().to_str().is_some_and(is_spool_base) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(spool)
    }

    /// The Maildir of a local user (`mail/<user>/Maildir`), created if missing.
    pub fn maildir(&self, user: &str) -> io::Result<Maildir> {
        if !crate::maildir::valid_user_dir(user) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unusable user name {user:?}"),
            ));
        }
        if let Some(md) = self.maildirs.lock().unwrap_or_else(|e| e.into_inner()).get(user) {
            return Ok(md.clone());
        }
        let md = Maildir::create(self.mail.join(user).join("Maildir"))?;
        let mut cache = self.maildirs.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAILDIR_CACHE {
            cache.clear();
        }
        cache.insert(user.to_owned(), md.clone());
        Ok(md)
    }

    /// Forget a cached Maildir (its directories vanished).
    fn forget_maildir(&self, user: &str) {
        self.maildirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }

    /// The root of the users' mail (`mail/`).
    pub fn mail_root(&self) -> &Path {
        &self.mail
    }

    /// The queue directory.
    pub fn queue_dir(&self) -> &Path {
        &self.queue
    }

    /// Start receiving message `queue_id` (nothing touches the disk until
    /// the message outgrows [`MEMORY_LIMIT`]).
    pub fn begin(&self, queue_id: &str) -> io::Result<Incoming> {
        Ok(Incoming {
            memory: Vec::new(),
            file: None,
            queue_id: queue_id.to_owned(),
            size: 0,
        })
    }

    /// Fsync directory `dir`, sharing the call with concurrent committers.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let sync = {
            let mut map = self.dir_syncs.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= MAILDIR_CACHE && !map.contains_key(dir) {
                map.retain(|_, s| Arc::strong_count(s) > 1);
            }
            Arc::clone(map.entry(dir.to_owned()).or_default())
        };
        sync.sync(dir)
    }

    /// A fresh Maildir base name (`<secs>.M<usec>P<pid>S<n>.<host>`; `S`
    /// keeps the spool's names apart from [`Maildir::deliver`]'s `Q<n>`).
    fn unique_base(&self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}S{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            self.host
        )
    }
}

/// Whether `name` is a base name made by [`Spool::unique_base`]
/// (`<digits>.M<digits>P<digits>S<digits>.<host>`).
fn is_spool_base(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some((secs, rest)) = name.split_once(".M") else {
        return false;
    };
    let Some((usec, rest)) = rest.split_once('P') else {
        return false;
    };
    let Some((pid, rest)) = rest.split_once('S') else {
        return false;
    };
    let Some((n, _host)) = rest.split_once('.') else {
        return false;
    };
    digits(secs) && digits(usec) && digits(pid) && digits(n)
}

/// Group commit of one directory's fsync: a caller whose change (rename,
/// link) is done needs one fsync that *started* after it. Syncs run one at
/// a time; whoever finds none running starts one for everybody waiting.
#[derive(Debug, Default)]
pub struct DirSync {
    state: Mutex<DirSyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct DirSyncState {
    /// Syncs started so far (the number of the latest).
    started: u64,
    /// Syncs finished so far.
    finished: u64,
    running: bool,
    /// The latest sync that failed, and how.
    failed: Option<(u64, io::ErrorKind, String)>,
}

impl DirSync {
    /// Return once an fsync of `dir` that began after this call returned.
    pub fn sync(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let needed = state.started + 1;
        loop {
            if state.finished >= needed {
                return match &state.failed {
                    // Conservative: a failure at or after ours counts as ours.
                    Some((n, kind, text)) if *n >= needed => Err(io::Error::new(*kind, text.clone())),
                    _ => Ok(()),
                };
            }
            if !state.running {
                state.running = true;
                state.started += 1;
                let number = state.started;
                drop(state);
                let result = File::open(dir).and_then(|d| d.sync_all());
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.running = false;
                state.finished = number;
                if let Err(e) = result {
                    state.failed = Some((number, e.kind(), e.to_string()));
                }
                self.done.notify_all();
                continue;
            }
            state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Incoming {
    /// Append message bytes (to memory, or to `incoming/` past [`MEMORY_LIMIT`];
    /// only the latter blocks).
    pub fn write(&mut self, chunk: &[u8], spool: &Spool) -> io::Result<()> {
        if let Some((_, file)) = self.file.as_mut() {
            file.write_all(chunk)?;
        } else if self.memory.len() + chunk.len() <= MEMORY_LIMIT {
            self.memory.extend_from_slice(chunk);
        } else {
            let path = spool.incoming.join(&self.queue_id);
            let mut file = OpenOptions::new().write(true).create_new(true).open(&path)?;
            file.write_all(&self.memory)?;
            file.write_all(chunk)?;
            self.memory = Vec::new();
            self.file = Some((path, file));
        }
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Whether [`Incoming::write`] of `len` more bytes would touch the disk.
    pub fn write_blocks(&self, len: usize) -> bool {
        self.file.is_some() || self.memory.len() + len > MEMORY_LIMIT
    }

    /// Octets received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Make the message durable everywhere the envelope says. Returns the
    /// Maildir base names of local deliveries.
    pub fn commit(self, spool: &Spool, queue_id: &str, envelope: &Envelope) -> io::Result<Vec<String>> {
        let mut delivered = Vec::new();
        // The first durable copy: a local user's new/<base>, else queue/<QID>.eml.
        let mut first: Option<PathBuf> = None;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for user in &envelope.local_users {
            let base = spool.unique_base();
            let target = match &first {
                None => match place(spool, user, &base, &self) {
                    Ok(target) => target,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // The Maildir vanished since it was cached: once more.
                        spool.forget_maildir(user);
                        place(spool, user, &base, &self)?
                    }
                    Err(e) => return Err(e),
                },
                Some(source) => {
                    let md = spool.maildir(user)?;
                    let target = md.path().join("new").join(&base);
                    link_or_copy(source, &target, &md.path().join("tmp").join(&base))?;
                    target
                }
            };
            if let Some(dir) = target.parent() {
                if !dirs.iter().any(|d| d == dir) {
                    dirs.push(dir.to_owned());
                }
            }
            first.get_or_insert(target);
            delivered.push(base);
        }
        if !envelope.remote.is_empty() {
            let eml = spool.queue.join(format!("{queue_id}.eml"));
            match &first {
                Some(source) => link_or_copy(source, &eml, &spool.queue.join(format!("{queue_id}.eml.tmp")))?,
                None => write_durably(&self, &eml)?,
            }
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let mut env = format!("created {created}\nfrom {}\n", envelope.sender);
            for rcpt in &envelope.remote {
                env.push_str("to ");
                env.push_str(rcpt);
                env.push('\n');
            }
            let tmp = spool.queue.join(format!("{queue_id}.env.tmp"));
            {
                let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
                f.write_all(env.as_bytes())?;
                f.sync_data()?;
            }
            fs::rename(&tmp, spool.queue.join(format!("{queue_id}.env")))?;
            dirs.push(spool.queue.clone());
        }
        for dir in &dirs {
            spool.sync_dir(dir)?;
        }
        if let Some((path, _)) = &self.file {
            fs::remove_file(path)?;
        }
        Ok(delivered)
    }

    /// Forget the message (aborted transfer).
    pub fn abort(self) {
        if let Some((path, _)) = &self.file {
            let _ = fs::remove_file(path);
        }
    }
}

/// Put the message into `user`'s `new/<base>` (not yet fsynced there).
fn place(spool: &Spool, user: &str, base: &str, incoming: &Incoming) -> io::Result<PathBuf> {
    let md = spool.maildir(user)?;
    let target = md.path().join("new").join(base);
    match &incoming.file {
        Some((path, file)) => {
            file.sync_data()?;
            link_or_copy(path, &target, &md.path().join("tmp").join(base))?;
        }
        None => {
            let tmp = md.path().join("tmp").join(base);
            write_durably(incoming, &tmp)?;
            fs::rename(&tmp, &target)?;
        }
    }
    Ok(target)
}

/// Write the in-memory message to a new file at `path` and `fdatasync` it
/// (or sync and link the spilled file there).
fn write_durably(incoming: &Incoming, path: &Path) -> io::Result<()> {
    match &incoming.file {
        Some((source, file)) => {
            file.sync_data()?;
            link_or_copy(source, path, &path.with_extension("copy"))
        }
        None => {
            let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
            f.write_all(&incoming.memory)?;
            f.sync_data()
        }
    }
}

/// Hard-link `source` (complete and durable) to `target`, or copy it
/// through `tmp` (fsynced, renamed) when linking is impossible.
fn link_or_copy(source: &Path, target: &Path, tmp: &Path) -> io::Result<()> {
    if fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    fs::copy(source, tmp)?;
    File::open(tmp)?.sync_data()?;
    fs::rename(tmp, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    fn deliver(spool: &Spool, id: &str, chunks: &[&[u8]], env: &Envelope) -> Vec<String> {
        let mut m = spool.begin(id).unwrap();
        for c in chunks {
            m.write(c, spool).unwrap();
        }
        m.commit(spool, id, env).unwrap()
    }

    #[test]
    fn commit_delivers_locally_and_queues_remote_then_cleans_incoming() {
        let dir = TempDir::new("spool");
        let spool = Spool::open(dir.path()).unwrap();
        let mut m = spool.begin("ABC123").unwrap();
        m.write(b"Subject: t\r\n\r\n", &spool).unwrap();
        m.write(b"body\r\n", &spool).unwrap();
        assert_eq!(m.size(), 20);
        let env = Envelope {
            sender: "ned@localhost".into(),
            local_users: vec!["ned".into(), "demo".into()],
            remote: vec!["x@remote.test".into()],
        };
        let bases = m.commit(&spool, "ABC123", &env).unwrap();
        assert_eq!(bases.len(), 2);
        for user in ["ned", "demo"] {
            let md = spool.maildir(user).unwrap();
            let list = md.list().unwrap();
            assert_eq!(list.len(), 1, "{user}");
            assert_eq!(md.read(&list[0]).unwrap(), b"Subject: t\r\n\r\nbody\r\n");
            assert_eq!(fs::read_dir(md.path().join("tmp")).unwrap().count(), 0);
        }
        assert_eq!(
            fs::read(dir.path().join("queue/ABC123.eml")).unwrap(),
            b"Subject: t\r\n\r\nbody\r\n"
        );
        let envtext = fs::read_to_string(dir.path().join("queue/ABC123.env")).unwrap();
        assert!(
            envtext.contains("from ned@localhost\nto x@remote.test\n"),
            "{envtext}"
        );
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
    }

    #[test]
    fn large_messages_spill_to_incoming_and_are_moved_at_commit() {
        let dir = TempDir::new("spool-large");
        let spool = Spool::open(dir.path()).unwrap();
        let big = vec![b'x'; MEMORY_LIMIT];
        let mut m = spool.begin("BIG1").unwrap();
        assert!(!m.write_blocks(10));
        m.write(b"Subject: big\r\n\r\n", &spool).unwrap();
        assert!(m.write_blocks(big.len()));
        m.write(&big, &spool).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 1);
        assert!(m.memory.capacity() == 0, "memory released after the spill");
        let env = Envelope {
            sender: String::new(),
            local_users: vec!["ned".into()],
            remote: vec!["y@remote.test".into()],
        };
        m.commit(&spool, "BIG1", &env).unwrap();
        let ned = spool.maildir("ned").unwrap();
        let stored = ned.read(&ned.list().unwrap()[0]).unwrap();
        assert_eq!(stored.len(), 16 + MEMORY_LIMIT);
        assert!(stored.starts_with(b"Subject: big\r\n\r\nxxx"));
        assert_eq!(fs::read(dir.path().join("queue/BIG1.eml")).unwrap(), stored);
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
        // Remote only, small: written straight into the queue.
        let env = Envelope {
            sender: "a@b".into(),
            local_users: vec![],
            remote: vec!["z@remote.test".into()],
        };
        deliver(&spool, "SMALL1", &[b"hi\r\n"], &env);
        assert_eq!(fs::read(dir.path().join("queue/SMALL1.eml")).unwrap(), b"hi\r\n");
        assert!(dir.path().join("queue/SMALL1.env").exists());
    }

    #[test]
    fn a_vanished_maildir_is_recreated() {
        let dir = TempDir::new("spool-vanished");
        let spool = Spool::open(dir.path()).unwrap();
        let env = Envelope {
            sender: "a@b".into(),
            local_users: vec!["ned".into()],
            remote: vec![],
        };
        deliver(&spool, "Q1", &[b"one\r\n"], &env);
        fs::remove_dir_all(dir.path().join("mail/ned")).unwrap();
        deliver(&spool, "Q2", &[b"two\r\n"], &env);
        let ned = spool.maildir("ned").unwrap();
        let list = ned.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(ned.read(&list[0]).unwrap(), b"two\r\n");
    }

    #[test]
    fn concurrent_commits_all_land_and_share_directory_syncs() {
        let dir = TempDir::new("spool-concurrent");
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let spool = Arc::clone(&spool);
                std::thread::spawn(move || {
                    let env = Envelope {
                        sender: "a@b".into(),
                        local_users: vec!["bob".into()],
                        remote: vec![],
                    };
                    for i in 0..20 {
                        let id = format!("T{t}M{i}");
                        let body = format!("Subject: {id}\r\n\r\n{id}\r\n");
                        deliver(&spool, &id, &[body.as_bytes()], &env);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let bob = spool.maildir("bob").unwrap();
        let list = bob.list().unwrap();
        assert_eq!(list.len(), 160);
        let mut bodies: Vec<String> = list
            .iter()
            .map(|m| String::from_utf8(bob.read(m).unwrap()).unwrap())
            .collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), 160, "every message once, none lost");
        let new_dir = bob.path().join("new");
        let sync = Arc::clone(spool.dir_syncs.lock().unwrap().get(&new_dir).unwrap());
        let state = sync.state.lock().unwrap();
        assert!(state.finished >= 1 && state.finished <= 160, "{}", state.finished);
        assert!(!state.running);
    }

    #[test]
    fn a_failed_directory_sync_is_reported_to_its_waiters() {
        let sync = DirSync::default();
        let dir = TempDir::new("spool-dirsync");
        sync.sync(dir.path()).unwrap();
        let missing = dir.path().join("missing");
        assert!(sync.sync(&missing).is_err());
        sync.sync(dir.path()).unwrap();
        assert_eq!(sync.state.lock().unwrap().finished, 3);
    }

    #[test]
    fn leftovers_of_a_crash_are_dropped_at_open() {
        let dir = TempDir::new("spool-crash");
        let spool = Spool::open(dir.path()).unwrap();
        let mut m = spool.begin("Q1").unwrap();
        m.write(&vec![b'x'; MEMORY_LIMIT + 1], &spool).unwrap();
        std::mem::forget(m);
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 1);
        let tmp = spool.maildir("ned").unwrap().path().join("tmp");
        let ours = spool.unique_base();
        assert!(is_spool_base(&ours), "{ours}");
        fs::write(tmp.join(&ours), b"half").unwrap();
        fs::write(tmp.join("1700000000.M1P2Q3.host"), b"someone else's").unwrap();
        Spool::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
        let left: Vec<_> = fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["1700000000.M1P2Q3.host"]);
        assert!(spool.maildir("../etc").is_err());
    }
}
