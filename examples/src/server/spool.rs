//! Durable storage of accepted messages: local delivery to Maildir and the
//! queue of relayed mail. A message is answered `250` only after
//! [`Incoming::commit`] returned, i.e. after every copy and the directories
//! that name them were fsynced.
//!
//! On-disk format (under `state_dir`):
//! - `incoming/<QID>`: a message being received (removed on commit/abort;
//!   leftovers after a crash were never answered `250` and are deleted at start);
//! - `mail/<user>/Maildir/{tmp,new,cur}`: local delivery (a hard link of the
//!   incoming file into `new/`, the Maildir way: atomic, no partial file);
//! - `queue/<QID>.eml` + `queue/<QID>.env`: relayed mail. `.eml` holds the
//!   message (CRLF, with our `Received:` header); `.env` holds the envelope
//!   as lines `created <unix seconds>`, `from <sender>`, `to <recipient>`
//!   (one per recipient). An entry counts as queued once its `.env` exists
//!   (written to a temporary name, fsynced, renamed, directory fsynced).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::maildir::Maildir;

/// The state directory's spool areas.
#[derive(Debug, Clone)]
pub struct Spool {
    incoming: PathBuf,
    queue: PathBuf,
    mail: PathBuf,
}

/// A message being received into `incoming/`.
#[derive(Debug)]
pub struct Incoming {
    path: PathBuf,
    file: File,
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

impl Spool {
    /// Open (creating) the spool areas under `state_dir`, and drop incoming
    /// files a crash left behind (never acknowledged).
    pub fn open(state_dir: &Path) -> io::Result<Spool> {
        let spool = Spool {
            incoming: state_dir.join("incoming"),
            queue: state_dir.join("queue"),
            mail: state_dir.join("mail"),
        };
        for dir in [&spool.incoming, &spool.queue, &spool.mail] {
            fs::create_dir_all(dir)?;
        }
        for entry in fs::read_dir(&spool.incoming)? {
            let _ = fs::remove_file(entry?.path());
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
        Maildir::create(self.mail.join(user).join("Maildir"))
    }

    /// The root of the users' mail (`mail/`).
    pub fn mail_root(&self) -> &Path {
        &self.mail
    }

    /// The queue directory.
    pub fn queue_dir(&self) -> &Path {
        &self.queue
    }

    /// Start receiving message `queue_id`.
    pub fn begin(&self, queue_id: &str) -> io::Result<Incoming> {
        let path = self.incoming.join(queue_id);
        let file = OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok(Incoming { path, file, size: 0 })
    }
}

impl Incoming {
    /// Append message bytes.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk)?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Octets received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Make the message durable everywhere the envelope says, then drop the
    /// incoming copy. Returns the Maildir base names of local deliveries.
    pub fn commit(self, spool: &Spool, queue_id: &str, envelope: &Envelope) -> io::Result<Vec<String>> {
        self.file.sync_all()?;
        let mut delivered = Vec::new();
        for user in &envelope.local_users {
            delivered.push(spool.maildir(user)?.deliver_file(&self.path)?);
        }
        if !envelope.remote.is_empty() {
            let eml = spool.queue.join(format!("{queue_id}.eml"));
            fs::hard_link(&self.path, &eml).or_else(|_| fs::copy(&self.path, &eml).map(|_| ()))?;
            File::open(&eml)?.sync_all()?;
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let mut env = format!("created {created}\nfrom {}\n", envelope.sender);
            for rcpt in &envelope.remote {
                env.push_str(&format!("to {rcpt}\n"));
            }
            let tmp = spool.queue.join(format!("{queue_id}.env.tmp"));
            {
                let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
                f.write_all(env.as_bytes())?;
                f.sync_all()?;
            }
            fs::rename(&tmp, spool.queue.join(format!("{queue_id}.env")))?;
            File::open(&spool.queue)?.sync_all()?;
        }
        fs::remove_file(&self.path)?;
        Ok(delivered)
    }

    /// Forget the message (aborted transfer).
    pub fn abort(self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn commit_delivers_locally_and_queues_remote_then_cleans_incoming() {
        let dir = TempDir::new("spool");
        let spool = Spool::open(dir.path()).unwrap();
        let mut m = spool.begin("ABC123").unwrap();
        m.write(b"Subject: t\r\n\r\n").unwrap();
        m.write(b"body\r\n").unwrap();
        assert_eq!(m.size(), 20);
        let env = Envelope {
            sender: "ned@localhost".into(),
            local_users: vec!["ned".into(), "demo".into()],
            remote: vec!["x@remote.test".into()],
        };
        let bases = m.commit(&spool, "ABC123", &env).unwrap();
        assert_eq!(bases.len(), 2);
        let ned = spool.maildir("ned").unwrap();
        assert_eq!(
            ned.read(&ned.list().unwrap()[0]).unwrap(),
            b"Subject: t\r\n\r\nbody\r\n"
        );
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
    fn leftovers_of_a_crash_are_dropped_at_open() {
        let dir = TempDir::new("spool-crash");
        let spool = Spool::open(dir.path()).unwrap();
        let mut m = spool.begin("Q1").unwrap();
        m.write(b"partial").unwrap();
        std::mem::forget(m);
        Spool::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
        assert!(spool.maildir("../etc").is_err());
    }
}
