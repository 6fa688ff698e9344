//! Dovecot `passwd-file` style credential backend (`user:{SCHEME}hash[:…]`).
//!
//! One user per line, fields separated by `:` as in Dovecot:
//! `user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra_fields]`. Blank lines
//! and lines starting with `#` are ignored. Schemes (Dovecot names, case
//! insensitive): `PLAIN` (alias `CLEAR`, `CLEARTEXT`), `CRAM-MD5` (alias
//! `HMAC-MD5`; the 32-octet HMAC-MD5 context, as `doveadm pw` writes it),
//! `DIGEST-MD5` (hex H(A1)), `SHA512-CRYPT`, `SHA256-CRYPT`, `BLF-CRYPT`,
//! `ARGON2ID`. A hash without `{SCHEME}` prefix is accepted when its own
//! prefix says what it is (`$6$`, `$5$`, `$2y$`/`$2b$`/`$2a$`, `$argon2id$`).
//!
//! ```
//! use mail_sasl::passwd_file::{hash_password, PasswdFile, Scheme};
//! use mail_sasl::{CredentialBackend, Mechanism, Proof, VerifyOutcome, VerifyRequest};
//!
//! let line = format!("ned:{}", hash_password(Scheme::CramMd5, "ned", "secret", "")?);
//! let file = PasswdFile::parse(&line)?;
//! assert!(file.capabilities().secret_mechanisms.contains(Mechanism::CramMd5));
//! let request = VerifyRequest {
//!     mechanism: Mechanism::Plain,
//!     authcid: "ned".into(),
//!     authzid: None,
//!     proof: Proof::Password("secret".to_owned().into()),
//! };
//! assert!(matches!(file.verify(&request), VerifyOutcome::Success { .. }));
//! # Ok::<(), mail_sasl::SaslError>(())
//! ```

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::crypto::{self, hex, unhex};
use crate::{
    md5_state, BackendCapabilities, CredentialBackend, Mechanism, MechanismSet, Proof, SaslError,
    StoredSecret, VerifyOutcome, VerifyRequest,
};

/// bcrypt cost used by [`hash_password`] (Dovecot's default of 5 is too low today).
pub const BLF_CRYPT_COST: u32 = 10;

/// A password scheme, by its Dovecot name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `{PLAIN}`: the password itself. Serves every mechanism.
    Plain,
    /// `{CRAM-MD5}`: Dovecot's HMAC-MD5 context. Serves PLAIN, LOGIN, CRAM-MD5.
    CramMd5,
    /// `{DIGEST-MD5}`: H(A1) for one realm. Serves PLAIN, LOGIN, DIGEST-MD5.
    DigestMd5,
    /// `{SHA512-CRYPT}`: `$6$` crypt. Plaintext mechanisms only.
    Sha512Crypt,
    /// `{SHA256-CRYPT}`: `$5$` crypt. Plaintext mechanisms only.
    Sha256Crypt,
    /// `{BLF-CRYPT}`: bcrypt `$2y$`. Plaintext mechanisms only.
    BlfCrypt,
    /// `{ARGON2ID}`: `$argon2id$` PHC string. Plaintext mechanisms only.
    Argon2id,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 7] = [
        Scheme::Plain,
        Scheme::CramMd5,
        Scheme::DigestMd5,
        Scheme::Sha512Crypt,
        Scheme::Sha256Crypt,
        Scheme::BlfCrypt,
        Scheme::Argon2id,
    ];

    /// The Dovecot name, e.g. `SHA512-CRYPT`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Plain => "PLAIN",
            Scheme::CramMd5 => "CRAM-MD5",
            Scheme::DigestMd5 => "DIGEST-MD5",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Argon2id => "ARGON2ID",
        }
    }

    /// Whether the scheme is a one-way hash (serves PLAIN/LOGIN only).
    pub fn is_one_way(self) -> bool {
        matches!(
            self,
            Scheme::Sha512Crypt | Scheme::Sha256Crypt | Scheme::BlfCrypt | Scheme::Argon2id
        )
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = SaslError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        let scheme = match upper.as_str() {
            "CLEAR" | "CLEARTEXT" => Scheme::Plain,
            "HMAC-MD5" => Scheme::CramMd5,
            _ => Scheme::ALL
                .into_iter()
                .find(|sc| sc.name() == upper)
                .ok_or_else(|| SaslError::Scheme {
                    scheme: s.to_owned(),
                    reason: format!(
                        "unknown scheme; supported: {}",
                        Scheme::ALL.map(Scheme::name).join(", ")
                    ),
                })?,
        };
        Ok(scheme)
    }
}

fn scheme_error(scheme: Scheme, reason: impl Into<String>) -> SaslError {
    SaslError::Scheme {
        scheme: scheme.name().to_owned(),
        reason: reason.into(),
    }
}

/// Hash `password` for a passwd-file line: returns `{SCHEME}…` (what
/// `mail-server passwd` prints; compatible with `doveadm pw -s SCHEME`).
///
/// `user` and `realm` matter for `DIGEST-MD5` only, whose H(A1) is
/// MD5(user:realm:password): with an empty `realm`, Dovecot's convention
/// applies (`user@domain` gives `user:domain:…`, a bare user `user::…`).
/// DIGEST-MD5 clients use the server's realm (the host name unless
/// configured), so pass that realm for the hash to serve DIGEST-MD5.
///
/// The password is SASLprep'ed (RFC 4013) before one-way hashing, as PLAIN
/// and LOGIN prepare what the client sends; CRAM-MD5 and DIGEST-MD5 keys are
/// the password as typed, as those clients use it. Salts come from the OS RNG.
pub fn hash_password(scheme: Scheme, user: &str, password: &str, realm: &str) -> Result<String, SaslError> {
    if password.is_empty() {
        return Err(scheme_error(
            scheme,
            "empty password (PLAIN and LOGIN refuse empty passwords)",
        ));
    }
    let prepared = Zeroizing::new(
        crypto::saslprep(password)
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| {
                scheme_error(
            scheme,
            "the password contains characters SASLprep (RFC 4013) prohibits, such as control characters",
        )
            })?,
    );
    let hashed = match scheme {
        Scheme::Plain => {
            if password.contains([':', '\n', '\r']) {
                return Err(scheme_error(
                    scheme,
                    "a {PLAIN} password cannot contain ':' or line breaks in a passwd-file; use another scheme",
                ));
            }
            password.to_owned()
        }
        Scheme::CramMd5 => hex(&md5_state::cram_context(password.as_bytes())),
        Scheme::DigestMd5 => {
            let (user, realm) = if realm.is_empty() {
                user.split_once('@').unwrap_or((user, ""))
            } else {
                (user, realm)
            };
            hex(&crypto::digest_md5_ha1(user, realm, password))
        }
        Scheme::Sha512Crypt => sha_crypt::sha512_simple(&prepared, &sha_crypt::Sha512Params::default())
            .map_err(|e| scheme_error(scheme, format!("{e:?}")))?,
        Scheme::Sha256Crypt => sha_crypt::sha256_simple(&prepared, &sha_crypt::Sha256Params::default())
            .map_err(|e| scheme_error(scheme, format!("{e:?}")))?,
        Scheme::BlfCrypt => {
            let mut salt = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            bcrypt::hash_with_salt(prepared.as_bytes(), BLF_CRYPT_COST, salt)
                .map_err(|e| scheme_error(scheme, e.to_string()))?
                .format_for_version(bcrypt::Version::TwoY)
        }
        Scheme::Argon2id => {
            let mut salt = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(|e| scheme_error(scheme, e.to_string()))?;
            argon2::Argon2::default()
                .hash_password(prepared.as_bytes(), &salt)
                .map_err(|e| scheme_error(scheme, e.to_string()))?
                .to_string()
        }
    };
    Ok(format!("{{{}}}{}", scheme.name(), hashed))
}

/// Parse a stored password (`{SCHEME}data`, or a bare crypt/PHC hash whose
/// own prefix names it) into a [`StoredSecret`].
pub fn parse_secret(stored: &str) -> Result<StoredSecret, SaslError> {
    let (scheme, data) = split_scheme(stored)?;
    let bad = |reason: &str| scheme_error(scheme, reason);
    Ok(match scheme {
        Scheme::Plain => StoredSecret::Plain(Zeroizing::new(data.to_owned())),
        Scheme::CramMd5 => StoredSecret::CramMd5(
            unhex::<32>(data.as_bytes())
                .ok_or_else(|| bad("expected 64 hex digits (doveadm pw -s CRAM-MD5)"))?,
        ),
        Scheme::DigestMd5 => StoredSecret::DigestMd5 {
            ha1: unhex::<16>(data.as_bytes())
                .ok_or_else(|| bad("expected 32 hex digits (doveadm pw -s DIGEST-MD5)"))?,
        },
        Scheme::Sha512Crypt | Scheme::Sha256Crypt => {
            let prefix = if scheme == Scheme::Sha512Crypt {
                "$6$"
            } else {
                "$5$"
            };
            if !data.starts_with(prefix) || data.matches('$').count() < 3 {
                return Err(bad(&format!("expected a {prefix}salt$hash crypt string")));
            }
            StoredSecret::Hashed(format!("{{{}}}{}", scheme.name(), data))
        }
        Scheme::BlfCrypt => {
            if !["$2y$", "$2b$", "$2a$", "$2x$"]
                .iter()
                .any(|p| data.starts_with(p))
                || data.len() != 60
            {
                return Err(bad("expected a 60-character $2y$ bcrypt string"));
            }
            StoredSecret::Hashed(format!("{{{}}}{}", scheme.name(), data))
        }
        Scheme::Argon2id => {
            let parsed = PasswordHash::new(data).map_err(|e| bad(&format!("not a PHC string: {e}")))?;
            if parsed.algorithm.as_str() != "argon2id" {
                return Err(bad("expected a $argon2id$ PHC string"));
            }
            StoredSecret::Hashed(format!("{{{}}}{}", scheme.name(), data))
        }
    })
}

/// Split `{SCHEME}data`, inferring the scheme of a bare crypt/PHC string.
fn split_scheme(stored: &str) -> Result<(Scheme, &str), SaslError> {
    if let Some(rest) = stored.strip_prefix('{') {
        let Some((name, data)) = rest.split_once('}') else {
            return Err(SaslError::Scheme {
                scheme: rest.to_owned(),
                reason: "'{' without closing '}'".into(),
            });
        };
        return Ok((name.parse()?, data));
    }
    let inferred = if stored.starts_with("$6$") {
        Scheme::Sha512Crypt
    } else if stored.starts_with("$5$") {
        Scheme::Sha256Crypt
    } else if stored.starts_with("$2") {
        Scheme::BlfCrypt
    } else if stored.starts_with("$argon2id$") {
        Scheme::Argon2id
    } else {
        return Err(SaslError::Scheme {
            scheme: String::new(),
            reason: "the password has no {SCHEME} prefix (e.g. {SHA512-CRYPT}$6$…; see `mail-server passwd`)"
                .into(),
        });
    };
    Ok((inferred, stored))
}

/// Whether `data` is `<prefix>[rounds=N$]salt$hash` with a salt of at most
/// 16 characters and a hash of exactly `hash_len` characters of the crypt
/// base64 alphabet (`./0-9A-Za-z`).
fn well_formed_sha_crypt(data: &str, prefix: &str, hash_len: usize) -> bool {
    let Some(rest) = data.strip_prefix(prefix) else {
        return false;
    };
    let rest = match rest.strip_prefix("rounds=") {
        Some(r) => match r.split_once('$') {
            Some((n, r)) if !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()) => r,
            _ => return false,
        },
        None => rest,
    };
    let Some((salt, hash)) = rest.split_once('$') else {
        return false;
    };
    let crypt64 = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    salt.len() <= 16 && !salt.contains('$') && hash.len() == hash_len && hash.bytes().all(crypt64)
}

thread_local! {
    /// See [`one_way_checks_on_this_thread`].
    static ONE_WAY_CHECKS: Cell<u64> = const { Cell::new(0) };
}

/// How many one-way hash computations (`{SHA512-CRYPT}`, `{SHA256-CRYPT}`,
/// `{BLF-CRYPT}`, `{ARGON2ID}` checks, each at the stored hash's cost) have
/// run on the calling thread. A diagnostic for tests and audits: it shows
/// that an unknown user's request costs a real hash computation, like a
/// wrong password, rather than an early return. Malformed hashes, refused
/// before any computation, are not counted.
pub fn one_way_checks_on_this_thread() -> u64 {
    ONE_WAY_CHECKS.with(Cell::get)
}

/// Run one one-way hash `check`, counting it.
fn counted(check: impl FnOnce() -> bool) -> bool {
    ONE_WAY_CHECKS.with(|n| n.set(n.get().wrapping_add(1)));
    check()
}

/// Check a password against a one-way `{SCHEME}hash` ([`StoredSecret::Hashed`]).
pub(crate) fn verify_hashed(stored: &str, password: &str) -> bool {
    let Ok((scheme, data)) = split_scheme(stored) else {
        return false;
    };
    match scheme {
        // sha-crypt 0.5 panics on a malformed hash field: check the shape first.
        Scheme::Sha512Crypt => {
            well_formed_sha_crypt(data, "$6$", 86)
                && counted(|| sha_crypt::sha512_check(password, data).is_ok())
        }
        Scheme::Sha256Crypt => {
            well_formed_sha_crypt(data, "$5$", 43)
                && counted(|| sha_crypt::sha256_check(password, data).is_ok())
        }
        Scheme::BlfCrypt => counted(|| bcrypt::verify(password, data).unwrap_or(false)),
        Scheme::Argon2id => match PasswordHash::new(data) {
            Ok(hash) if hash.algorithm.as_str() == "argon2id" => counted(|| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            }),
            _ => false,
        },
        Scheme::Plain | Scheme::CramMd5 | Scheme::DigestMd5 => false,
    }
}

/// One line of a passwd-file.
#[derive(Debug, Clone)]
pub struct PasswdEntry {
    /// The user name (first field).
    pub user: String,
    /// The stored secret; `None` when the password field is empty (the user
    /// cannot log in with a password).
    pub secret: Option<StoredSecret>,
    /// uid field, as written (may be empty).
    pub uid: String,
    /// gid field.
    pub gid: String,
    /// GECOS field.
    pub gecos: String,
    /// Home directory field.
    pub home: String,
    /// Shell field.
    pub shell: String,
    /// Extra fields (space separated `key=value` in Dovecot).
    pub extra: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// A parsed passwd-file; a [`CredentialBackend`].
#[derive(Debug, Clone)]
pub struct PasswdFile {
    entries: Vec<PasswdEntry>,
    index: HashMap<String, usize>,
    /// Per proof kind, an entry whose secret an unknown user's request is
    /// checked against (result discarded) so it costs what a known user costs.
    dummy_password: Option<usize>,
    dummy_cram: Option<usize>,
    dummy_digest: Option<usize>,
    capabilities: BackendCapabilities,
    realm: Option<String>,
}

impl PasswdFile {
    /// Parse passwd-file text; errors name `<passwd-file>` and the line.
    pub fn parse(text: &str) -> Result<PasswdFile, SaslError> {
        Self::parse_named(text, Path::new("<passwd-file>"))
    }

    /// Read and parse the file at `path`; errors name the file and line.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswdFile, SaslError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SaslError::Io {
            context: format!("reading passwd-file {}", path.display()),
            source,
        })?;
        Self::parse_named(&text, path)
    }

    fn parse_named(text: &str, path: &Path) -> Result<PasswdFile, SaslError> {
        let error = |line: usize, reason: String| SaslError::PasswdFile {
            path: PathBuf::from(path),
            line,
            reason,
        };
        let mut entries: Vec<PasswdEntry> = Vec::new();
        let mut index = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let mut fields = line.splitn(8, ':');
            let user = fields.next().unwrap_or_default();
            let password = fields.next();
            if user.is_empty() {
                return Err(error(line_no, "empty user name".into()));
            }
            let Some(password) = password else {
                return Err(error(
                    line_no,
                    "expected user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]".into(),
                ));
            };
            let secret = if password.is_empty() {
                None
            } else {
                Some(parse_secret(password).map_err(|e| error(line_no, e.to_string()))?)
            };
            let mut next = || fields.next().unwrap_or_default().to_owned();
            let entry = PasswdEntry {
                user: user.to_owned(),
                secret,
                uid: next(),
                gid: next(),
                gecos: next(),
                home: next(),
                shell: next(),
                extra: next(),
                line: line_no,
            };
            if let Some(&first) = index.get(user) {
                let first: &PasswdEntry = &entries[first];
                return Err(error(
                    line_no,
                    format!("user {user:?} already defined on line {}", first.line),
                ));
            }
            index.insert(user.to_owned(), entries.len());
            entries.push(entry);
        }
        let first = |pred: &dyn Fn(&StoredSecret) -> bool| {
            entries.iter().position(|e| e.secret.as_ref().is_some_and(pred))
        };
        let dummy_password = first(&|s| matches!(s, StoredSecret::Hashed(_))).or_else(|| first(&|_| true));
        let dummy_cram = first(&|s| matches!(s, StoredSecret::Plain(_) | StoredSecret::CramMd5(_)));
        let dummy_digest = first(&|s| matches!(s, StoredSecret::Plain(_) | StoredSecret::DigestMd5 { .. }));
        let mut secret_mechanisms = MechanismSet::empty();
        if dummy_cram.is_some() {
            secret_mechanisms = secret_mechanisms.with(Mechanism::CramMd5);
        }
        if dummy_digest.is_some() {
            secret_mechanisms = secret_mechanisms.with(Mechanism::DigestMd5);
        }
        Ok(PasswdFile {
            entries,
            index,
            dummy_password,
            dummy_cram,
            dummy_digest,
            capabilities: BackendCapabilities {
                plaintext: true,
                secret_mechanisms,
            },
            realm: None,
        })
    }

    /// The realm `{DIGEST-MD5}` hashes of users without `@` were made for
    /// (the DIGEST-MD5 realm: the server's host name unless configured), so
    /// that PLAIN and LOGIN can check passwords against them too. Without
    /// it Dovecot's convention applies: `user@domain` hashes as
    /// `user:domain:password`, a bare `user` as `user::password`.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    fn verify_entry(&self, request: &VerifyRequest, secret: &StoredSecret) -> VerifyOutcome {
        if let (Proof::Password(password), StoredSecret::DigestMd5 { ha1 }, Some(realm)) =
            (&request.proof, secret, &self.realm)
        {
            if !request.authcid.contains('@') {
                let computed = crypto::digest_md5_ha1(&request.authcid, realm, password);
                return if crypto::ct_eq(&computed, ha1) {
                    VerifyOutcome::Success { server_proof: None }
                } else {
                    VerifyOutcome::Failure
                };
            }
        }
        request.verify_with(secret)
    }

    /// The stored secret of `user`, if the user exists and has a password.
    pub fn lookup(&self, user: &str) -> Option<StoredSecret> {
        self.entry(user).and_then(|e| e.secret.clone())
    }

    /// The whole line of `user` (home directory, uid … for callers that need them).
    pub fn entry(&self, user: &str) -> Option<&PasswdEntry> {
        self.index.get(user).map(|&i| &self.entries[i])
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[PasswdEntry] {
        &self.entries
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The secret an unknown user's `proof` is checked against (result
    /// discarded) so that it costs what a known user's does: the first
    /// entry with a one-way hash for a password (else the first entry with
    /// any secret), the first `{PLAIN}`/`{CRAM-MD5}` entry for CRAM-MD5,
    /// the first `{PLAIN}`/`{DIGEST-MD5}` entry for DIGEST-MD5; without
    /// one, [`StoredSecret::unknown_user_stand_in`] (a `{SHA512-CRYPT}`
    /// hash with the default cost for a password).
    pub fn unknown_user_stand_in(&self, proof: &Proof) -> Cow<'_, StoredSecret> {
        let stand_in = match proof {
            Proof::Password(_) => self.dummy_password,
            Proof::CramMd5 { .. } => self.dummy_cram,
            Proof::DigestMd5(_) => self.dummy_digest,
        };
        match stand_in.and_then(|i| self.entries.get(i)?.secret.as_ref()) {
            Some(secret) => Cow::Borrowed(secret),
            None => Cow::Owned(StoredSecret::unknown_user_stand_in(proof)),
        }
    }

    /// Work for an unknown user: check the request against
    /// [`Self::unknown_user_stand_in`], discard the result, fail.
    fn dummy_verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        let _ = self.verify_entry(request, &self.unknown_user_stand_in(&request.proof));
        VerifyOutcome::Failure
    }
}

impl CredentialBackend for PasswdFile {
    fn capabilities(&self) -> BackendCapabilities {
        self.capabilities
    }

    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        match self.entry(&request.authcid).and_then(|e| e.secret.as_ref()) {
            Some(secret) => self.verify_entry(request, secret),
            None => self.dummy_verify(request),
        }
    }
}

/// A passwd-file that is re-read when its modification time or size
/// changes: checked with one `stat` per use, or at most once per
/// [`Self::with_check_interval`]. A file that fails to parse keeps the
/// previous contents in service; [`Self::last_error`] says why.
#[derive(Debug)]
pub struct ReloadingPasswdFile {
    path: PathBuf,
    realm: Option<String>,
    check_interval: Duration,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    file: Arc<PasswdFile>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
    last_error: Option<String>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl ReloadingPasswdFile {
    /// Load `path` now (an error if it cannot be read or parsed).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SaslError> {
        let path = path.into();
        let stamp = stamp(&path);
        let file = PasswdFile::load(&path)?;
        Ok(Self {
            path,
            realm: None,
            check_interval: Duration::ZERO,
            state: Mutex::new(Loaded {
                file: Arc::new(file),
                stamp,
                checked: Instant::now(),
                last_error: None,
            }),
        })
    }

    /// Look at the file at most once per `interval` (default zero: at
    /// every use). A server answering thousands of lookups per second saves
    /// a `stat` per lookup; an edit is then seen within `interval`.
    pub fn with_check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// See [`PasswdFile::with_realm`]; applies to every (re)load.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        {
            let state = self
                .state
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.file = Arc::new((*state.file).clone().with_realm(realm.clone()));
        }
        self.realm = Some(realm);
        self
    }

    /// The current contents, re-reading the file if it changed.
    pub fn current(&self) -> Arc<PasswdFile> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !self.check_interval.is_zero() {
            let now = Instant::now();
            if now.duration_since(state.checked) < self.check_interval {
                return Arc::clone(&state.file);
            }
            state.checked = now;
        }
        let now = stamp(&self.path);
        if now != state.stamp {
            match PasswdFile::load(&self.path) {
                Ok(file) => {
                    let file = match &self.realm {
                        Some(realm) => file.with_realm(realm.clone()),
                        None => file,
                    };
                    state.file = Arc::new(file);
                    state.last_error = None;
                    state.stamp = now;
                }
                Err(e) => {
                    state.last_error = Some(e.to_string());
                    state.stamp = now;
                }
            }
        }
        Arc::clone(&state.file)
    }

    /// Why the last reload failed (the previous contents stay in use).
    pub fn last_error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .last_error
            .clone()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CredentialBackend for ReloadingPasswdFile {
    fn capabilities(&self) -> BackendCapabilities {
        self.current().capabilities()
    }

    fn verify(&self, request: &VerifyRequest) -> VerifyOutcome {
        self.current().verify(request)
    }
}
