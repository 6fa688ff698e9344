//! IMAP command grammar (RFC 3501 §9, the subset this crate serves).
//!
//! [`parse_command`] parses one complete command — its line(s) and any
//! literals already inlined as `{n}\r\n<n octets>` — without copying: atoms,
//! tags and literal contents borrow from the input; only quoted strings with
//! escapes are unescaped into an owned buffer. Framing (finding where a
//! command ends across reads, literals, continuation requests) is done by
//! [`crate::CommandReader`].

use std::borrow::Cow;

use crate::store::Flags;

/// A parsed command: its tag and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// The client's tag, echoed in the tagged reply.
    pub tag: &'a [u8],
    /// The command and its arguments.
    pub body: CommandBody<'a>,
}

/// The commands this crate understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody<'a> {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mech [initial-response]` (SASL-IR, RFC 4959).
    Authenticate {
        /// Mechanism name as sent.
        mechanism: &'a [u8],
        /// The base64 initial response (`=` for empty), undecoded.
        initial_response: Option<&'a [u8]>,
    },
    /// `LOGIN user password`
    Login {
        /// User name.
        username: Cow<'a, [u8]>,
        /// Password.
        password: Cow<'a, [u8]>,
    },
    /// `ID (...)` / `ID NIL` (RFC 2971); the client's parameters are not kept.
    Id,
    /// `ENABLE cap...` (RFC 5161).
    Enable(Vec<&'a [u8]>),
    /// `SELECT` (`read_only` false) or `EXAMINE` (true).
    Select {
        /// Mailbox name.
        mailbox: Cow<'a, [u8]>,
        /// EXAMINE.
        read_only: bool,
    },
    /// `CREATE mailbox`
    Create(Cow<'a, [u8]>),
    /// `DELETE mailbox`
    Delete(Cow<'a, [u8]>),
    /// `RENAME from to`
    Rename(Cow<'a, [u8]>, Cow<'a, [u8]>),
    /// `SUBSCRIBE mailbox`
    Subscribe(Cow<'a, [u8]>),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(Cow<'a, [u8]>),
    /// `LIST ref pattern` / `LSUB ref pattern`
    List {
        /// Reference name.
        reference: Cow<'a, [u8]>,
        /// Pattern with `*` / `%` wildcards.
        pattern: Cow<'a, [u8]>,
        /// LSUB rather than LIST.
        lsub: bool,
    },
    /// `STATUS mailbox (items)`
    Status {
        /// Mailbox name.
        mailbox: Cow<'a, [u8]>,
        /// Requested items, in order.
        items: Vec<StatusItem>,
    },
    /// `CHECK`
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set` (UIDPLUS) when `uids` is set.
    Expunge {
        /// Only these UIDs (UID EXPUNGE).
        uids: Option<SequenceSet>,
    },
    /// `[UID] SEARCH [CHARSET x] keys`
    Search {
        /// UID SEARCH.
        uid: bool,
        /// All keys, ANDed.
        key: SearchKey<'a>,
    },
    /// `[UID] FETCH set items`
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Message set.
        set: SequenceSet,
        /// Attributes asked for (macros expanded).
        items: Vec<FetchAttr<'a>>,
    },
    /// `[UID] STORE set [+-]FLAGS[.SILENT] flags`
    Store {
        /// UID STORE.
        uid: bool,
        /// Message set.
        set: SequenceSet,
        /// Replace, add or remove.
        mode: StoreMode,
        /// `.SILENT`: no untagged FETCH replies.
        silent: bool,
        /// System flags named (keywords are not kept: PERMANENTFLAGS has no `\*`).
        flags: Flags,
    },
    /// `[UID] COPY set mailbox` / `[UID] MOVE set mailbox` (RFC 6851).
    Copy {
        /// UID COPY / UID MOVE.
        uid: bool,
        /// Message set.
        set: SequenceSet,
        /// Destination mailbox.
        mailbox: Cow<'a, [u8]>,
        /// MOVE: the source messages are expunged after the copy.
        move_: bool,
    },
    /// `APPEND mailbox [flags] [date-time] literal`
    Append {
        /// Destination mailbox.
        mailbox: Cow<'a, [u8]>,
        /// Flags to set.
        flags: Flags,
        /// INTERNALDATE asked for (seconds since the epoch), if any.
        internal_date: Option<i64>,
        /// The message.
        message: &'a [u8],
    },
    /// `IDLE` (RFC 2177)
    Idle,
    /// `NAMESPACE` (RFC 2342)
    Namespace,
}

impl CommandBody<'_> {
    /// The command's name, for logs and replies.
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Id => "ID",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Select { read_only: false, .. } => "SELECT",
            CommandBody::Select { read_only: true, .. } => "EXAMINE",
            CommandBody::Create(_) => "CREATE",
            CommandBody::Delete(_) => "DELETE",
            CommandBody::Rename(..) => "RENAME",
            CommandBody::Subscribe(_) => "SUBSCRIBE",
            CommandBody::Unsubscribe(_) => "UNSUBSCRIBE",
            CommandBody::List { lsub: false, .. } => "LIST",
            CommandBody::List { lsub: true, .. } => "LSUB",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Check => "CHECK",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge { .. } => "EXPUNGE",
            CommandBody::Search { .. } => "SEARCH",
            CommandBody::Fetch { .. } => "FETCH",
            CommandBody::Store { .. } => "STORE",
            CommandBody::Copy { move_: false, .. } => "COPY",
            CommandBody::Copy { move_: true, .. } => "MOVE",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Idle => "IDLE",
            CommandBody::Namespace => "NAMESPACE",
        }
    }
}

/// STATUS data items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `RECENT`
    Recent,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

/// One number of a sequence set: a value, or `*` (the largest in use).
pub type SeqNum = u32;
/// The `*` of a sequence set (0 is never a valid nz-number).
pub const STAR: SeqNum = 0;

/// A sequence set such as `1:4,7,9:*`, as inclusive ranges (`STAR` = `*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// Whether `n` is in the set, with `*` standing for `largest`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let a = if a == STAR { largest } else { a };
            let b = if b == STAR { largest } else { b };
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            lo <= n && n <= hi
        })
    }

    /// The largest explicit number in the set (for range checks of message numbers).
    pub fn max_explicit(&self) -> u32 {
        self.0.iter().map(|&(a, b)| a.max(b)).max().unwrap_or(0)
    }

    /// Whether the set names `*` anywhere.
    pub fn has_star(&self) -> bool {
        self.0.iter().any(|&(a, b)| a == STAR || b == STAR)
    }
}

/// A body section specification: `BODY[1.2.HEADER.FIELDS (From)]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section<'a> {
    /// Part numbers (`1.2` → `[1, 2]`); empty for the whole message.
    pub part: Vec<u32>,
    /// What of that part.
    pub text: SectionText<'a>,
}

/// The text specifier of a section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SectionText<'a> {
    /// The whole part (`BODY[]`, `BODY[1]`).
    #[default]
    Full,
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (...)` / `HEADER.FIELDS.NOT (...)`
    HeaderFields {
        /// `.NOT`
        not: bool,
        /// Field names.
        fields: Vec<Cow<'a, [u8]>>,
    },
    /// `TEXT`
    Text,
    /// `MIME`
    Mime,
}

/// One FETCH attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr<'a> {
    /// `FLAGS`
    Flags,
    /// `UID`
    Uid,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `ENVELOPE`
    Envelope,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `BODY` (structure without extension data)
    Body,
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`
    Section {
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
        /// The section.
        section: Section<'a>,
        /// `<offset.count>`
        partial: Option<(u32, u32)>,
    },
    /// `RFC822` (= `BODY[]`, sets `\Seen`)
    Rfc822,
    /// `RFC822.HEADER` (= `BODY.PEEK[HEADER]`)
    Rfc822Header,
    /// `RFC822.TEXT` (= `BODY[TEXT]`)
    Rfc822Text,
}

impl FetchAttr<'_> {
    /// Whether answering needs the message's bytes.
    pub fn needs_content(&self) -> bool {
        !matches!(
            self,
            FetchAttr::Flags | FetchAttr::Uid | FetchAttr::InternalDate | FetchAttr::Rfc822Size
        )
    }
}

/// A day, for SEARCH date keys: days since 1970-01-01.
pub type Day = i64;

/// A SEARCH key (RFC 3501 §6.4.4, common keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey<'a> {
    /// All keys must match.
    And(Vec<SearchKey<'a>>),
    /// `ALL`
    All,
    /// `ANSWERED` etc.: the flag is set.
    Flag(Flags),
    /// `UNANSWERED` etc.: the flag is clear.
    NotFlag(Flags),
    /// `NEW` (recent and unseen)
    New,
    /// `OLD` (not recent)
    Old,
    /// `KEYWORD x` (never matches: keywords are not stored)
    Keyword,
    /// `UNKEYWORD x` (always matches)
    Unkeyword,
    /// A message sequence set.
    Seq(SequenceSet),
    /// `UID set`
    Uid(SequenceSet),
    /// `FROM`, `TO`, `CC`, `BCC`, `SUBJECT`, `HEADER name value`: substring of a header field.
    Header(Cow<'a, [u8]>, Cow<'a, [u8]>),
    /// `BODY s`
    Body(Cow<'a, [u8]>),
    /// `TEXT s`
    Text(Cow<'a, [u8]>),
    /// `BEFORE`/`ON`/`SINCE` on the internal date.
    Internal(DateCmp, Day),
    /// `SENTBEFORE`/`SENTON`/`SENTSINCE` on the Date: header.
    Sent(DateCmp, Day),
    /// `LARGER n`
    Larger(u64),
    /// `SMALLER n`
    Smaller(u64),
    /// `NOT key`
    Not(Box<SearchKey<'a>>),
    /// `OR a b`
    Or(Box<SearchKey<'a>>, Box<SearchKey<'a>>),
}

/// Date comparison of SEARCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateCmp {
    /// Earlier than the day.
    Before,
    /// On the day.
    On,
    /// On or after the day.
    Since,
}

impl SearchKey<'_> {
    /// Whether evaluating needs the message's bytes.
    pub fn needs_content(&self) -> bool {
        match self {
            SearchKey::And(keys) => keys.iter().any(|k| k.needs_content()),
            SearchKey::Header(..) | SearchKey::Body(_) | SearchKey::Text(_) | SearchKey::Sent(..) => true,
            SearchKey::Not(k) => k.needs_content(),
            SearchKey::Or(a, b) => a.needs_content() || b.needs_content(),
            _ => false,
        }
    }
}

fn owned_bytes(c: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
    Cow::Owned(c.into_owned())
}

impl FetchAttr<'_> {
    /// An owned copy (for commands that wait on the caller).
    pub fn into_owned(self) -> FetchAttr<'static> {
        match self {
            FetchAttr::Flags => FetchAttr::Flags,
            FetchAttr::Uid => FetchAttr::Uid,
            FetchAttr::InternalDate => FetchAttr::InternalDate,
            FetchAttr::Rfc822Size => FetchAttr::Rfc822Size,
            FetchAttr::Envelope => FetchAttr::Envelope,
            FetchAttr::BodyStructure => FetchAttr::BodyStructure,
            FetchAttr::Body => FetchAttr::Body,
            FetchAttr::Rfc822 => FetchAttr::Rfc822,
            FetchAttr::Rfc822Header => FetchAttr::Rfc822Header,
            FetchAttr::Rfc822Text => FetchAttr::Rfc822Text,
            FetchAttr::Section {
                peek,
                section,
                partial,
            } => FetchAttr::Section {
                peek,
                section: Section {
                    part: section.part,
                    text: match section.text {
                        SectionText::Full => SectionText::Full,
                        SectionText::Header => SectionText::Header,
                        SectionText::Text => SectionText::Text,
                        SectionText::Mime => SectionText::Mime,
                        SectionText::HeaderFields { not, fields } => SectionText::HeaderFields {
                            not,
                            fields: fields.into_iter().map(owned_bytes).collect(),
                        },
                    },
                },
                partial,
            },
        }
    }
}

impl SearchKey<'_> {
    /// An owned copy (for searches that wait on message contents).
    pub fn into_owned(self) -> SearchKey<'static> {
        match self {
            SearchKey::And(keys) => SearchKey::And(keys.into_iter().map(SearchKey::into_owned).collect()),
            SearchKey::All => SearchKey::All,
            SearchKey::Flag(f) => SearchKey::Flag(f),
            SearchKey::NotFlag(f) => SearchKey::NotFlag(f),
            SearchKey::New => SearchKey::New,
            SearchKey::Old => SearchKey::Old,
            SearchKey::Keyword => SearchKey::Keyword,
            SearchKey::Unkeyword => SearchKey::Unkeyword,
            SearchKey::Seq(s) => SearchKey::Seq(s),
            SearchKey::Uid(s) => SearchKey::Uid(s),
            SearchKey::Header(n, v) => SearchKey::Header(owned_bytes(n), owned_bytes(v)),
            SearchKey::Body(v) => SearchKey::Body(owned_bytes(v)),
            SearchKey::Text(v) => SearchKey::Text(owned_bytes(v)),
            SearchKey::Internal(c, d) => SearchKey::Internal(c, d),
            SearchKey::Sent(c, d) => SearchKey::Sent(c, d),
            SearchKey::Larger(n) => SearchKey::Larger(n),
            SearchKey::Smaller(n) => SearchKey::Smaller(n),
            SearchKey::Not(k) => SearchKey::Not(Box::new(k.into_owned())),
            SearchKey::Or(a, b) => SearchKey::Or(Box::new(a.into_owned()), Box::new(b.into_owned())),
        }
    }
}

/// Why a command could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError<'a> {
    /// The tag, when one could be read (a `BAD` is then tagged).
    pub tag: Option<&'a [u8]>,
    /// What is wrong, for the `BAD` text.
    pub reason: &'static str,
}

type PResult<T> = Result<T, &'static str>;

/// Nesting limit of SEARCH keys (parentheses, NOT, OR), so recursion is bounded.
const MAX_SEARCH_DEPTH: usize = 32;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

#[inline]
fn is_atom_char(b: u8) -> bool {
    // ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ]
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

#[inline]
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

#[inline]
fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

#[inline]
fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(what)
        }
    }

    #[inline]
    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "Missing argument")
    }

    #[inline]
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.buf.len() && f(self.buf[self.pos]) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err("Expected an atom")
        } else {
            Ok(a)
        }
    }

    fn number(&mut self) -> PResult<u32> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        parse_u32(digits).ok_or("Invalid number")
    }

    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err("Invalid number"),
            n => Ok(n),
        }
    }

    fn quoted(&mut self) -> PResult<Cow<'a, [u8]>> {
        self.expect(b'"', "Expected a string")?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => return Err("Unterminated quoted string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    match self.buf.get(self.pos + 1) {
                        Some(b'"') | Some(b'\\') => self.pos += 2,
                        _ => return Err("Invalid escape in quoted string"),
                    }
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = &self.buf[start..self.pos];
        self.pos += 1;
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\\' {
                i += 1;
            }
            out.push(raw[i]);
            i += 1;
        }
        Ok(Cow::Owned(out))
    }

    fn literal(&mut self) -> PResult<&'a [u8]> {
        self.expect(b'{', "Expected a literal")?;
        let n = self.number()? as usize;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}', "Invalid literal")?;
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        self.expect(b'\n', "Invalid literal")?;
        let end = self.pos.checked_add(n).ok_or("Invalid literal")?;
        if end > self.buf.len() {
            return Err("Truncated literal");
        }
        let data = &self.buf[self.pos..end];
        // literal = "{" number "}" CRLF *CHAR8, and CHAR8 excludes NUL
        // (RFC 3501): a NUL never reaches a user name, password, mailbox
        // name or stored message.
        if memchr::memchr(0, data).is_some() {
            return Err("NUL octet in a literal");
        }
        self.pos = end;
        Ok(data)
    }

    fn string(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(Cow::Borrowed),
            _ => Err("Expected a string"),
        }
    }

    fn astring(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("Expected a string")
                } else {
                    Ok(Cow::Borrowed(a))
                }
            }
        }
    }

    fn mailbox(&mut self) -> PResult<Cow<'a, [u8]>> {
        self.astring()
    }

    fn list_mailbox(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    Err("Expected a mailbox pattern")
                } else {
                    Ok(Cow::Borrowed(a))
                }
            }
        }
    }

    fn seq_number(&mut self) -> PResult<SeqNum> {
        if self.peek() == Some(b'*') {
            self.pos += 1;
            Ok(STAR)
        } else {
            self.nz_number().map_err(|_| "Invalid messageset")
        }
    }

    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.peek() == Some(b':') {
                self.pos += 1;
                self.seq_number()?
            } else {
                a
            };
            ranges.push((a, b));
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                return Ok(SequenceSet(ranges));
            }
        }
    }

    fn flag_list(&mut self) -> PResult<Flags> {
        let paren = self.peek() == Some(b'(');
        if paren {
            self.pos += 1;
        }
        let mut flags = Flags::empty();
        if paren && self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(flags);
        }
        loop {
            let backslash = self.peek() == Some(b'\\');
            if backslash {
                self.pos += 1;
            }
            let name = self.atom()?;
            if backslash {
                flags = flags.union(Flags::from_system_name(name).ok_or("Invalid system flag")?);
            }
            // Keywords are accepted and not kept.
            match self.peek() {
                Some(b' ') => self.pos += 1,
                Some(b')') if paren => {
                    self.pos += 1;
                    return Ok(flags);
                }
                None if !paren => return Ok(flags),
                _ => return Err("Invalid flag list"),
            }
        }
    }

    fn date(&mut self) -> PResult<Day> {
        let quoted = self.peek() == Some(b'"');
        if quoted {
            self.pos += 1;
        }
        let text = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
        if quoted {
            self.expect(b'"', "Invalid date")?;
        }
        parse_search_date(text).ok_or("Invalid date")
    }
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n).ok()
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Parse `d-Mon-yyyy` into days since the epoch.
pub fn parse_search_date(text: &[u8]) -> Option<Day> {
    // date-day = 1*2DIGIT, date-year = 4DIGIT (RFC 3501).
    let mut it = text.split(|&b| b == b'-');
    let day_digits = it.next()?;
    let day = parse_u32(day_digits)?;
    let mon = it.next()?;
    let year_digits = it.next()?;
    let year = parse_u32(year_digits)?;
    if it.next().is_some()
        || !(1..=2).contains(&day_digits.len())
        || year_digits.len() != 4
        || mon.len() != 3
        || !(1..=31).contains(&day)
        || !(1..=9999).contains(&year)
    {
        return None;
    }
    let lower = [
        mon[0].to_ascii_lowercase(),
        mon[1].to_ascii_lowercase(),
        mon[2].to_ascii_lowercase(),
    ];
    let month = MONTHS.iter().position(|m| **m == lower)? as u32 + 1;
    // No 30 February, 31 April or 29 February 2023.
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > days_in_month {
        return None;
    }
    Some(crate::store::days_from_civil(i64::from(year), month, day))
}

/// Parse an IMAP date-time `dd-Mon-yyyy hh:mm:ss +zzzz` into seconds
/// since the epoch.
///
/// RFC 3501 `date-day-fixed` is two digits or a space and one digit
/// (`" 7-Jul-1996"`); the time is `hh:mm:ss` in digits (a second of 60, a
/// leap second, is taken); the zone is `+hhmm`/`-hhmm` with minutes below 60.
pub fn parse_date_time(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = match text.as_bytes() {
        [b' ', d, b'-', ..] if d.is_ascii_digit() => &text[1..],
        [d1, d2, b'-', ..] if d1.is_ascii_digit() && d2.is_ascii_digit() => text,
        _ => return None,
    };
    let (date, rest) = text.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let day = parse_search_date(date.as_bytes())?;
    let two_digits = |p: &str| match p.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
        }
        _ => None,
    };
    let mut hms = time.split(':').map(two_digits);
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let zb = zone.as_bytes();
    if zb.len() != 5
        || !matches!(zb[0], b'+' | b'-')
        || !zb[1..].iter().all(u8::is_ascii_digit)
        || zb[3] > b'5'
    {
        return None;
    }
    let zh = i64::from(zb[1] - b'0') * 10 + i64::from(zb[2] - b'0');
    let zm = i64::from(zb[3] - b'0') * 10 + i64::from(zb[4] - b'0');
    let offset = (zh * 60 + zm) * 60 * if zb[0] == b'-' { -1 } else { 1 };
    Some(day * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Upper-case a command name into a small stack buffer for matching.
#[inline]
fn upper<'b, const N: usize>(word: &[u8], buf: &'b mut [u8; N]) -> &'b [u8] {
    if word.len() > buf.len() {
        return b"";
    }
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
    }
    &buf[..word.len()]
}

/// Parse one complete command. `input` holds the command line(s) without the
/// final CRLF, literals inlined as `{n}\r\n` followed by their octets.
pub fn parse_command(input: &[u8]) -> Result<Command<'_>, ParseError<'_>> {
    let mut c = Cursor { buf: input, pos: 0 };
    let tag = c.take_while(is_tag_char);
    if tag.is_empty() {
        return Err(ParseError {
            tag: None,
            reason: "Missing or invalid tag.",
        });
    }
    let fail = |reason| ParseError {
        tag: Some(tag),
        reason,
    };
    if c.sp().is_err() {
        return Err(fail("Missing command."));
    }
    let body = command_body(&mut c).map_err(fail)?;
    if !c.at_end() {
        return Err(fail("Unexpected extra arguments."));
    }
    Ok(Command { tag, body })
}

fn command_body<'a>(c: &mut Cursor<'a>) -> PResult<CommandBody<'a>> {
    let name = c.atom().map_err(|_| "Missing command.")?;
    let mut buf = [0u8; 16];
    let mut uid = false;
    let mut upper_name = upper(name, &mut buf);
    let mut buf2 = [0u8; 16];
    if upper_name == b"UID" {
        uid = true;
        c.sp()?;
        let sub = c.atom()?;
        upper_name = upper(sub, &mut buf2);
    }
    let body = match (upper_name, uid) {
        (b"FETCH", _) => {
            c.sp()?;
            let set = c.sequence_set()?;
            c.sp()?;
            let items = fetch_items(c)?;
            CommandBody::Fetch { uid, set, items }
        }
        (b"STORE", _) => {
            c.sp()?;
            let set = c.sequence_set()?;
            c.sp()?;
            let (mode, silent) = store_att(c.atom()?)?;
            c.sp()?;
            let flags = c.flag_list()?;
            CommandBody::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            }
        }
        (b"SEARCH", _) => {
            c.sp()?;
            // Optional CHARSET: US-ASCII and UTF-8 are both matched bytewise.
            let save = c.pos;
            let first = c.atom();
            if first.is_ok_and(|a| a.eq_ignore_ascii_case(b"CHARSET")) {
                c.sp()?;
                let cs = c.astring()?;
                if !cs.eq_ignore_ascii_case(b"UTF-8") && !cs.eq_ignore_ascii_case(b"US-ASCII") {
                    return Err("[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
                }
                c.sp()?;
            } else {
                c.pos = save;
            }
            let mut keys = vec![search_key(c, 0)?];
            while c.peek() == Some(b' ') {
                c.pos += 1;
                keys.push(search_key(c, 0)?);
            }
            let key = if keys.len() == 1 {
                keys.pop().unwrap_or(SearchKey::All)
            } else {
                SearchKey::And(keys)
            };
            CommandBody::Search { uid, key }
        }
        (b"EXPUNGE", true) => {
            c.sp()?;
            CommandBody::Expunge {
                uids: Some(c.sequence_set()?),
            }
        }
        (b"COPY", _) | (b"MOVE", _) => {
            c.sp()?;
            let set = c.sequence_set()?;
            c.sp()?;
            let mailbox = c.mailbox()?;
            CommandBody::Copy {
                uid,
                set,
                mailbox,
                move_: upper_name == b"MOVE",
            }
        }
        (_, true) => return Err("Unknown UID command."),
        (b"NOOP", _) => CommandBody::Noop,
        (b"CAPABILITY", _) => CommandBody::Capability,
        (b"LOGOUT", _) => CommandBody::Logout,
        (b"STARTTLS", _) => CommandBody::StartTls,
        (b"CHECK", _) => CommandBody::Check,
        (b"CLOSE", _) => CommandBody::Close,
        (b"UNSELECT", _) => CommandBody::Unselect,
        (b"EXPUNGE", _) => CommandBody::Expunge { uids: None },
        (b"IDLE", _) => CommandBody::Idle,
        (b"NAMESPACE", _) => CommandBody::Namespace,
        (b"LOGIN", _) => {
            c.sp()?;
            let username = c.astring()?;
            c.sp()?;
            let password = c.astring()?;
            CommandBody::Login { username, password }
        }
        (b"AUTHENTICATE", _) => {
            c.sp()?;
            let mechanism = c.atom()?;
            let initial_response = if c.peek() == Some(b' ') {
                c.pos += 1;
                let ir = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                if ir.is_empty() && !c.at_end() {
                    return Err("Invalid initial response");
                }
                // mutt (via GNU SASL) sends `AUTHENTICATE CRAM-MD5 ` with a
                // trailing space: no initial response.
                (!ir.is_empty()).then_some(ir)
            } else {
                None
            };
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            }
        }
        (b"SELECT", _) | (b"EXAMINE", _) => {
            c.sp()?;
            CommandBody::Select {
                mailbox: c.mailbox()?,
                read_only: upper_name == b"EXAMINE",
            }
        }
        (b"APPEND", _) => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            c.sp()?;
            let flags = if c.peek() == Some(b'(') {
                let f = c.flag_list()?;
                c.sp()?;
                f
            } else {
                Flags::empty()
            };
            let internal_date = if c.peek() == Some(b'"') {
                let text = c.quoted()?;
                let date = parse_date_time(&text).ok_or("Invalid date-time")?;
                c.sp()?;
                Some(date)
            } else {
                None
            };
            if c.peek() != Some(b'{') {
                return Err("APPEND needs the message as a literal");
            }
            let message = c.literal()?;
            CommandBody::Append {
                mailbox,
                flags,
                internal_date,
                message,
            }
        }
        (b"CREATE", _) => {
            c.sp()?;
            CommandBody::Create(c.mailbox()?)
        }
        (b"DELETE", _) => {
            c.sp()?;
            CommandBody::Delete(c.mailbox()?)
        }
        (b"RENAME", _) => {
            c.sp()?;
            let from = c.mailbox()?;
            c.sp()?;
            CommandBody::Rename(from, c.mailbox()?)
        }
        (b"SUBSCRIBE", _) => {
            c.sp()?;
            CommandBody::Subscribe(c.mailbox()?)
        }
        (b"UNSUBSCRIBE", _) => {
            c.sp()?;
            CommandBody::Unsubscribe(c.mailbox()?)
        }
        (b"LIST", _) | (b"LSUB", _) => {
            c.sp()?;
            let reference = c.mailbox()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            CommandBody::List {
                reference,
                pattern,
                lsub: upper_name == b"LSUB",
            }
        }
        (b"STATUS", _) => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            c.sp()?;
            c.expect(b'(', "Expected status items")?;
            let mut items = Vec::new();
            loop {
                let item = c.atom()?;
                let mut b = [0u8; 16];
                items.push(match upper(item, &mut b) {
                    b"MESSAGES" => StatusItem::Messages,
                    b"RECENT" => StatusItem::Recent,
                    b"UIDNEXT" => StatusItem::UidNext,
                    b"UIDVALIDITY" => StatusItem::UidValidity,
                    b"UNSEEN" => StatusItem::Unseen,
                    _ => return Err("Invalid status item"),
                });
                match c.peek() {
                    Some(b' ') => c.pos += 1,
                    Some(b')') => {
                        c.pos += 1;
                        break;
                    }
                    _ => return Err("Invalid status items"),
                }
            }
            CommandBody::Status { mailbox, items }
        }
        (b"ID", _) => {
            c.sp()?;
            id_params(c)?;
            CommandBody::Id
        }
        (b"ENABLE", _) => {
            let mut caps = Vec::new();
            while c.peek() == Some(b' ') {
                c.pos += 1;
                caps.push(c.atom()?);
            }
            if caps.is_empty() {
                return Err("Missing argument");
            }
            CommandBody::Enable(caps)
        }
        _ => return Err("Unknown command."),
    };
    Ok(body)
}

fn id_params(c: &mut Cursor<'_>) -> PResult<()> {
    if c.peek() == Some(b'(') {
        c.pos += 1;
        if c.peek() == Some(b')') {
            c.pos += 1;
            return Ok(());
        }
        loop {
            c.string()?;
            c.sp()?;
            if c.peek() != Some(b'"') && c.peek() != Some(b'{') {
                let nil = c.atom()?;
                if !nil.eq_ignore_ascii_case(b"NIL") {
                    return Err("Invalid ID parameters");
                }
            } else {
                c.string()?;
            }
            match c.peek() {
                Some(b' ') => c.pos += 1,
                Some(b')') => {
                    c.pos += 1;
                    return Ok(());
                }
                _ => return Err("Invalid ID parameters"),
            }
        }
    }
    let nil = c.atom()?;
    if nil.eq_ignore_ascii_case(b"NIL") {
        Ok(())
    } else {
        Err("Invalid ID parameters")
    }
}

fn store_att(name: &[u8]) -> PResult<(StoreMode, bool)> {
    let mut buf = [0u8; 16];
    Ok(match upper(name, &mut buf) {
        b"FLAGS" => (StoreMode::Replace, false),
        b"FLAGS.SILENT" => (StoreMode::Replace, true),
        b"+FLAGS" => (StoreMode::Add, false),
        b"+FLAGS.SILENT" => (StoreMode::Add, true),
        b"-FLAGS" => (StoreMode::Remove, false),
        b"-FLAGS.SILENT" => (StoreMode::Remove, true),
        _ => return Err("Invalid STORE data item"),
    })
}

fn fetch_items<'a>(c: &mut Cursor<'a>) -> PResult<Vec<FetchAttr<'a>>> {
    if c.peek() == Some(b'(') {
        c.pos += 1;
        let mut items = Vec::with_capacity(4);
        loop {
            items.push(fetch_att(c)?);
            match c.peek() {
                Some(b' ') => c.pos += 1,
                Some(b')') => {
                    c.pos += 1;
                    return Ok(items);
                }
                _ => return Err("Invalid fetch items"),
            }
        }
    }
    let save = c.pos;
    let word = c.take_while(|b| b.is_ascii_alphabetic());
    let mut buf = [0u8; 16];
    let macro_items = match upper(word, &mut buf) {
        b"ALL" => Some(vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ]),
        b"FAST" => Some(vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ]),
        b"FULL" => Some(vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ]),
        _ => None,
    };
    if let Some(items) = macro_items {
        if c.at_end() {
            return Ok(items);
        }
    }
    c.pos = save;
    Ok(vec![fetch_att(c)?])
}

fn fetch_att<'a>(c: &mut Cursor<'a>) -> PResult<FetchAttr<'a>> {
    let word = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
    let mut buf = [0u8; 16];
    let attr = match upper(word, &mut buf) {
        b"FLAGS" => FetchAttr::Flags,
        b"UID" => FetchAttr::Uid,
        b"INTERNALDATE" => FetchAttr::InternalDate,
        b"RFC822.SIZE" => FetchAttr::Rfc822Size,
        b"ENVELOPE" => FetchAttr::Envelope,
        b"BODYSTRUCTURE" => FetchAttr::BodyStructure,
        b"RFC822" => FetchAttr::Rfc822,
        b"RFC822.HEADER" => FetchAttr::Rfc822Header,
        b"RFC822.TEXT" => FetchAttr::Rfc822Text,
        b"BODY" | b"BODY.PEEK" => {
            let peek = word.len() == 9;
            if c.peek() != Some(b'[') {
                if peek {
                    return Err("Invalid fetch item BODY.PEEK");
                }
                return Ok(FetchAttr::Body);
            }
            c.pos += 1;
            let section = section(c)?;
            c.expect(b']', "Invalid section")?;
            let partial = if c.peek() == Some(b'<') {
                c.pos += 1;
                let offset = c.number()?;
                c.expect(b'.', "Invalid partial")?;
                let count = c.nz_number()?;
                c.expect(b'>', "Invalid partial")?;
                Some((offset, count))
            } else {
                None
            };
            FetchAttr::Section {
                peek,
                section,
                partial,
            }
        }
        _ => return Err("Invalid fetch item"),
    };
    Ok(attr)
}

fn section<'a>(c: &mut Cursor<'a>) -> PResult<Section<'a>> {
    let mut part = Vec::new();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(c.nz_number()?);
        if part.len() > 32 {
            return Err("Section too deep");
        }
        if c.peek() == Some(b'.') {
            c.pos += 1;
        } else {
            return Ok(Section {
                part,
                text: SectionText::Full,
            });
        }
    }
    if c.peek() == Some(b']') {
        if !part.is_empty() {
            return Err("Invalid section");
        }
        return Ok(Section::default());
    }
    let word = c.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
    // Room for the longest section word, HEADER.FIELDS.NOT (17 letters).
    let mut buf = [0u8; 24];
    let text = match upper(word, &mut buf) {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if !part.is_empty() => SectionText::Mime,
        b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
            let not = word.len() == 17;
            c.sp()?;
            c.expect(b'(', "Invalid header list")?;
            let mut fields = Vec::new();
            loop {
                fields.push(c.astring()?);
                match c.peek() {
                    Some(b' ') => c.pos += 1,
                    Some(b')') => {
                        c.pos += 1;
                        break;
                    }
                    _ => return Err("Invalid header list"),
                }
            }
            SectionText::HeaderFields { not, fields }
        }
        _ => return Err("Invalid section"),
    };
    Ok(Section { part, text })
}

fn search_key<'a>(c: &mut Cursor<'a>, depth: usize) -> PResult<SearchKey<'a>> {
    if depth > MAX_SEARCH_DEPTH {
        return Err("Search keys nested too deeply");
    }
    match c.peek() {
        Some(b'(') => {
            c.pos += 1;
            let mut keys = vec![search_key(c, depth + 1)?];
            loop {
                match c.peek() {
                    Some(b' ') => {
                        c.pos += 1;
                        keys.push(search_key(c, depth + 1)?);
                    }
                    Some(b')') => {
                        c.pos += 1;
                        return Ok(SearchKey::And(keys));
                    }
                    _ => return Err("Invalid search key list"),
                }
            }
        }
        Some(b'*') => return Ok(SearchKey::Seq(c.sequence_set()?)),
        Some(b) if b.is_ascii_digit() => return Ok(SearchKey::Seq(c.sequence_set()?)),
        _ => {}
    }
    let word = c.atom()?;
    let mut buf = [0u8; 16];
    let key = match upper(word, &mut buf) {
        b"ALL" => SearchKey::All,
        b"ANSWERED" => SearchKey::Flag(Flags::ANSWERED),
        b"DELETED" => SearchKey::Flag(Flags::DELETED),
        b"DRAFT" => SearchKey::Flag(Flags::DRAFT),
        b"FLAGGED" => SearchKey::Flag(Flags::FLAGGED),
        b"SEEN" => SearchKey::Flag(Flags::SEEN),
        b"RECENT" => SearchKey::Flag(Flags::RECENT),
        b"UNANSWERED" => SearchKey::NotFlag(Flags::ANSWERED),
        b"UNDELETED" => SearchKey::NotFlag(Flags::DELETED),
        b"UNDRAFT" => SearchKey::NotFlag(Flags::DRAFT),
        b"UNFLAGGED" => SearchKey::NotFlag(Flags::FLAGGED),
        b"UNSEEN" => SearchKey::NotFlag(Flags::SEEN),
        b"NEW" => SearchKey::New,
        b"OLD" => SearchKey::Old,
        b"KEYWORD" | b"UNKEYWORD" => {
            c.sp()?;
            c.atom()?;
            if word.len() == 7 {
                SearchKey::Keyword
            } else {
                SearchKey::Unkeyword
            }
        }
        b"UID" => {
            c.sp()?;
            SearchKey::Uid(c.sequence_set()?)
        }
        b"FROM" | b"TO" | b"CC" | b"BCC" | b"SUBJECT" => {
            c.sp()?;
            let value = c.astring()?;
            SearchKey::Header(Cow::Borrowed(word), value)
        }
        b"HEADER" => {
            c.sp()?;
            let name = c.astring()?;
            c.sp()?;
            SearchKey::Header(name, c.astring()?)
        }
        b"BODY" => {
            c.sp()?;
            SearchKey::Body(c.astring()?)
        }
        b"TEXT" => {
            c.sp()?;
            SearchKey::Text(c.astring()?)
        }
        b"BEFORE" | b"ON" | b"SINCE" | b"SENTBEFORE" | b"SENTON" | b"SENTSINCE" => {
            c.sp()?;
            let day = c.date()?;
            let upper_word = word.to_ascii_uppercase();
            let cmp = if upper_word.ends_with(b"BEFORE") {
                DateCmp::Before
            } else if upper_word.ends_with(b"ON") {
                DateCmp::On
            } else {
                DateCmp::Since
            };
            if upper_word.starts_with(b"SENT") {
                SearchKey::Sent(cmp, day)
            } else {
                SearchKey::Internal(cmp, day)
            }
        }
        b"LARGER" | b"SMALLER" => {
            c.sp()?;
            let n = u64::from(c.number()?);
            if word.len() == 6 {
                SearchKey::Larger(n)
            } else {
                SearchKey::Smaller(n)
            }
        }
        b"NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(search_key(c, depth + 1)?))
        }
        b"OR" => {
            c.sp()?;
            let a = search_key(c, depth + 1)?;
            c.sp()?;
            let b = search_key(c, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err("Unknown search key"),
    };
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &[u8]) -> Command<'_> {
        parse_command(input).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)))
    }

    #[test]
    fn nul_in_a_literal_is_refused() {
        // Found by the imap_differential fuzz target (CHAR8 excludes NUL).
        let e = parse_command(b"a LOGIN {5}\r\nal\0ce secret").unwrap_err();
        assert_eq!(e.reason, "NUL octet in a literal");
        assert!(parse_command(b"a CREATE {3}\r\na\0b").is_err());
        assert!(parse_command(b"a APPEND INBOX {3}\r\nx\0y").is_err());
        assert!(parse_command(b"a LOGIN {5}\r\nalice secret").is_ok());
    }

    #[test]
    fn dates_are_strict() {
        // Found by the imap_differential fuzz target: date-day = 1*2DIGIT,
        // date-year = 4DIGIT.
        for d in [
            &b"1-Jan-2"[..],
            b"1-Jan-024",
            b"2-Jan-02024",
            b"001-Jan-2024",
            b"-Jan-2024",
            b"1-Jan-2ECO",
            b"1E-Jan-2024",
        ] {
            assert!(parse_search_date(d).is_none(), "{}", String::from_utf8_lossy(d));
        }
        assert!(parse_search_date(b"1-Jan-2024").is_some());
        assert!(parse_search_date(b"01-jan-2024").is_some());
        assert!(parse_command(b"a APPEND INBOX \"1-Jan-24 10:00:00 +0000\" {1}\r\nx").is_err());
        assert!(parse_command(b"a APPEND INBOX \" 1-Jan-2024 10:00:00 +0000\" {1}\r\nx").is_ok());
    }

    #[test]
    fn fuzz_found_date_time_and_section_bugs() {
        // Found by the imap_differential fuzz target (session 3).
        // A signed hour parsed as a number: "-1:00:00".
        assert_eq!(parse_date_time(b"01-Jan-2024 -1:00:00 +0000"), None);
        assert_eq!(parse_date_time(b"01-Jan-2024 +1:00:00 +0000"), None);
        // date-day-fixed: two digits or SP DIGIT, not one bare digit.
        assert_eq!(parse_date_time(b"1-Jan-2024 10:00:00 +0000"), None);
        assert!(parse_date_time(b" 1-Jan-2024 10:00:00 +0000").is_some());
        assert_eq!(parse_date_time(b"  1-Jan-2024 10:00:00 +0000"), None);
        // Zone minutes below 60; a leap second is taken.
        assert_eq!(parse_date_time(b"01-Jan-2024 10:00:00 +0060"), None);
        assert!(parse_date_time(b"01-Jan-2024 10:00:60 +0000").is_some());
        // Days that do not exist.
        for d in [
            &b"29-Feb-2023"[..],
            b"30-Feb-2024",
            b"31-Apr-2024",
            b"31-Jun-2024",
            b"31-Sep-2024",
            b"31-Nov-2024",
        ] {
            assert_eq!(parse_search_date(d), None, "{}", String::from_utf8_lossy(d));
        }
        for d in [
            &b"29-Feb-2024"[..],
            b"29-Feb-2000",
            b"31-Dec-2024",
            b"30-Apr-2024",
        ] {
            assert!(parse_search_date(d).is_some(), "{}", String::from_utf8_lossy(d));
        }
        assert_eq!(parse_search_date(b"29-Feb-1900"), None);
        // HEADER.FIELDS.NOT (17 letters) was refused as an invalid section.
        let c = ok(b"a UID FETCH 1 (UID BODY.PEEK[HEADER.FIELDS.NOT (Received)])");
        let CommandBody::Fetch { items, .. } = &c.body else {
            panic!("{:?}", c.body)
        };
        assert!(format!("{items:?}").contains("not: true"), "{items:?}");
    }

    #[test]
    fn simple_commands_and_tags() {
        assert_eq!(ok(b"a1 NOOP").body, CommandBody::Noop);
        assert_eq!(ok(b"A001 capability").tag, b"A001");
        assert_eq!(ok(b"x logout").body, CommandBody::Logout);
        assert!(parse_command(b"+a NOOP").is_err());
        assert_eq!(parse_command(b"a FOO").unwrap_err().tag, Some(&b"a"[..]));
        assert_eq!(
            parse_command(b"a NOOP extra").unwrap_err().reason,
            "Unexpected extra arguments."
        );
        assert_eq!(parse_command(b"").unwrap_err().tag, None);
    }

    #[test]
    fn login_forms() {
        let c = ok(b"a LOGIN ned \"se\\\"cr\\\\et\"");
        assert_eq!(
            c.body,
            CommandBody::Login {
                username: Cow::Borrowed(b"ned"),
                password: Cow::Owned(b"se\"cr\\et".to_vec())
            }
        );
        let c = ok(b"a LOGIN {3}\r\nned {6+}\r\nsecret");
        assert_eq!(
            c.body,
            CommandBody::Login {
                username: Cow::Borrowed(b"ned"),
                password: Cow::Borrowed(b"secret")
            }
        );
        let c = ok(b"a LOGIN {0}\r\n \"\"");
        assert!(matches!(c.body, CommandBody::Login { ref username, .. } if username.is_empty()));
        assert!(parse_command(b"a LOGIN {10}\r\nned").is_err());
        assert!(parse_command(b"a LOGIN \"ned").is_err());
    }

    #[test]
    fn sequence_sets() {
        let c = ok(b"a UID FETCH 1:4,7,9:*,* (FLAGS)");
        let CommandBody::Fetch { uid, set, items } = c.body else {
            panic!()
        };
        assert!(uid);
        assert_eq!(set.0, vec![(1, 4), (7, 7), (9, STAR), (STAR, STAR)]);
        assert_eq!(items, vec![FetchAttr::Flags]);
        assert!(set.contains(3, 20) && set.contains(20, 20) && !set.contains(5, 20));
        assert!(parse_command(b"a FETCH 0 FLAGS").is_err());
        assert!(parse_command(b"a FETCH 1: FLAGS").is_err());
        assert!(parse_command(b"a FETCH 99999999999 FLAGS").is_err());
    }

    #[test]
    fn fetch_items_and_sections() {
        let c = ok(
            b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")] BODY[1.2.MIME] BODY[]<0.100> RFC822.SIZE)",
        );
        let CommandBody::Fetch { items, .. } = c.body else {
            panic!()
        };
        assert_eq!(
            items[0],
            FetchAttr::Section {
                peek: true,
                section: Section {
                    part: vec![],
                    text: SectionText::HeaderFields {
                        not: false,
                        fields: vec![Cow::Borrowed(b"From"), Cow::Borrowed(b"To")]
                    }
                },
                partial: None
            }
        );
        assert_eq!(
            items[1],
            FetchAttr::Section {
                peek: false,
                section: Section {
                    part: vec![1, 2],
                    text: SectionText::Mime
                },
                partial: None
            }
        );
        assert_eq!(
            items[2],
            FetchAttr::Section {
                peek: false,
                section: Section::default(),
                partial: Some((0, 100))
            }
        );
        assert_eq!(items[3], FetchAttr::Rfc822Size);
        let c = ok(b"a FETCH 1:* fast");
        assert!(matches!(c.body, CommandBody::Fetch { ref items, .. } if items.len() == 3));
        let c = ok(b"a FETCH 1 BODY[3]");
        assert!(matches!(c.body, CommandBody::Fetch { ref items, .. } if items.len() == 1));
        assert!(parse_command(b"a FETCH 1 BODY[MIME]").is_err());
        assert!(parse_command(b"a FETCH 1 (FLAGS").is_err());
        assert!(parse_command(b"a FETCH 1 BODY.PEEK").is_err());
    }

    #[test]
    fn store_and_search() {
        let c = ok(b"a UID STORE 5 +FLAGS.SILENT (\\Deleted \\Seen $Junk)");
        assert_eq!(
            c.body,
            CommandBody::Store {
                uid: true,
                set: SequenceSet(vec![(5, 5)]),
                mode: StoreMode::Add,
                silent: true,
                flags: Flags::DELETED.union(Flags::SEEN)
            }
        );
        let c = ok(b"a STORE 1 FLAGS \\Flagged");
        assert!(matches!(c.body, CommandBody::Store { flags, .. } if flags == Flags::FLAGGED));
        assert!(parse_command(b"a STORE 1 +FLAGS (\\Bogus)").is_err());
        let c = ok(b"a SEARCH CHARSET UTF-8 OR SEEN NOT FROM \"ned\" SINCE 1-Feb-1994 (LARGER 10 1:3)");
        let CommandBody::Search {
            key: SearchKey::And(keys),
            ..
        } = c.body
        else {
            panic!()
        };
        assert_eq!(keys.len(), 3);
        assert!(matches!(keys[1], SearchKey::Internal(DateCmp::Since, _)));
        assert!(parse_command(b"a SEARCH CHARSET KOI8-R ALL").is_err());
        let deep = format!("a SEARCH {}ALL", "NOT ".repeat(100));
        assert!(parse_command(deep.as_bytes()).is_err());
    }

    #[test]
    fn append_and_date_time() {
        let c = ok(b"a APPEND Sent (\\Seen) \" 7-Jul-1996 02:44:25 -0700\" {5+}\r\nhello");
        assert_eq!(
            c.body,
            CommandBody::Append {
                mailbox: Cow::Borrowed(b"Sent"),
                flags: Flags::SEEN,
                internal_date: Some(836_732_665),
                message: b"hello"
            }
        );
        let c = ok(b"a append INBOX {0}\r\n");
        assert!(matches!(
            c.body,
            CommandBody::Append {
                message: b"",
                internal_date: None,
                ..
            }
        ));
        assert!(parse_command(b"a APPEND INBOX hello").is_err());
        assert!(parse_command(b"a APPEND INBOX \"1-Jan-2000 25:00:00 +0000\" {1}\r\nx").is_err());
        assert_eq!(parse_date_time(b"01-Jan-1970 00:00:00 +0100"), Some(-3600));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_search_date(b"1-Jan-1970"), Some(0));
        assert_eq!(parse_search_date(b"02-jan-1970"), Some(1));
        assert_eq!(parse_search_date(b"1-Foo-1970"), None);
        assert_eq!(parse_search_date(b"32-Jan-1970"), None);
    }

    #[test]
    fn authenticate_list_status_id() {
        let c = ok(b"a AUTHENTICATE PLAIN AG5lZABzZWNyZXQ=");
        assert_eq!(
            c.body,
            CommandBody::Authenticate {
                mechanism: b"PLAIN",
                initial_response: Some(b"AG5lZABzZWNyZXQ=")
            }
        );
        let c = ok(b"a LIST \"\" *");
        assert!(matches!(c.body, CommandBody::List { ref pattern, lsub: false, .. } if **pattern == *b"*"));
        let c = ok(b"a STATUS INBOX (MESSAGES UNSEEN)");
        assert!(matches!(c.body, CommandBody::Status { ref items, .. } if items.len() == 2));
        assert_eq!(
            ok(b"a ID (\"name\" \"mutt\" \"version\" NIL)").body,
            CommandBody::Id
        );
        assert_eq!(ok(b"a ID NIL").body, CommandBody::Id);
        assert_eq!(
            ok(b"a UID EXPUNGE 1:3").body,
            CommandBody::Expunge {
                uids: Some(SequenceSet(vec![(1, 3)]))
            }
        );
    }
}
