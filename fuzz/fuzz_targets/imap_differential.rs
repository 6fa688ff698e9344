//! Differential: one IMAP command (line plus inlined literals) through our
//! parser (`mail_imap_min::parse::parse_command`, the input without the
//! final CRLF) and through imap-codec 2.0.0-alpha.10 (`CommandCodec`, the
//! input with its CRLF, which must be consumed exactly).
//!
//! Compared: whether the command is accepted, its tag and its kind, and
//! the arguments, normalised on both sides to one canonical string: LOGIN
//! (user, password); SELECT/EXAMINE/CREATE/DELETE/SUBSCRIBE/UNSUBSCRIBE/
//! RENAME (mailboxes, INBOX case-folded); LIST/LSUB (reference, pattern);
//! STATUS (mailbox, items in order); FETCH (sequence set, UID, the data
//! items with macros expanded: `BODY[part.HEADER.FIELDS ("a")]<o.c>`,
//! `.PEEK`, RFC822.*, ...); STORE (set, `+`/`-`/replace, `.SILENT`, the
//! system flags; keywords are dropped as mail-imap-min does not keep them);
//! SEARCH (the key tree with nested ANDs flattened, FROM/TO/... as HEADER,
//! dates as `yyyy-mm-dd`, strings as escaped bytes; KEYWORD without its
//! atom); COPY/MOVE (set, mailbox); APPEND (mailbox, system flags, date-time
//! as seconds since the epoch, literal length); UID EXPUNGE (set);
//! AUTHENTICATE (mechanism, initial response decoded as the session does);
//! ENABLE (capabilities in order). Every
//! disagreement must belong to a class of deliberate difference returned by
//! [`deliberate_difference`] (listed in fuzz/README.md); anything else fails
//! the target. `IMAP_DIFF_LOG=1` prints unclassified disagreements instead.
#![no_main]

use std::fmt::Write as _;

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command as TheirCommand, CommandBody as TheirBody};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::datetime::{DateTime, NaiveDate};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItemName, Part, Section as TheirSection,
};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::search::SearchKey as TheirKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet as TheirSet};
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::CommandCodec;
#[macro_use]
#[path = "shared/differential.rs"]
mod differential;
use mail_imap_min::parse::{
    parse_command, CommandBody, DateCmp, FetchAttr, SearchKey, Section, SectionText, SequenceSet, StatusItem,
    StoreMode, STAR,
};
use mail_imap_min::store::civil_from_days;
use mail_imap_min::Flags;
use mail_sasl::wire::decode_initial_response;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused,
    Accepted {
        tag: Vec<u8>,
        kind: String,
        /// The arguments, normalised to one canonical string (`None` for
        /// commands whose arguments are not compared).
        detail: Option<String>,
    },
}

/// Bytes as a quoted, escaped string: exact, and readable in reports.
fn q(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

fn mailbox_name(m: &[u8]) -> String {
    if m.eq_ignore_ascii_case(b"INBOX") {
        "INBOX".into()
    } else {
        q(m)
    }
}

fn our_set(s: &SequenceSet) -> String {
    let n = |x: u32| if x == STAR { "*".to_string() } else { x.to_string() };
    s.0.iter()
        .map(|&(a, b)| format!("{}:{}", n(a), n(b)))
        .collect::<Vec<_>>()
        .join(",")
}

fn their_set(s: &TheirSet) -> String {
    let n = |x: &SeqOrUid| match x {
        SeqOrUid::Asterisk => "*".to_string(),
        SeqOrUid::Value(v) => v.get().to_string(),
    };
    s.0.as_ref()
        .iter()
        .map(|seq| match seq {
            Sequence::Single(a) => format!("{}:{}", n(a), n(a)),
            Sequence::Range(a, b) => format!("{}:{}", n(a), n(b)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A command kind as both sides report it: `UID FETCH` or `FETCH`.
fn uid_prefix(uid: bool, name: &str) -> String {
    if uid {
        format!("UID {name}")
    } else {
        name.to_string()
    }
}

/// The settable system flags in canonical order.
const SYSTEM_FLAGS: [(Flags, &str); 5] = [
    (Flags::ANSWERED, "\\Answered"),
    (Flags::DELETED, "\\Deleted"),
    (Flags::DRAFT, "\\Draft"),
    (Flags::FLAGGED, "\\Flagged"),
    (Flags::SEEN, "\\Seen"),
];

/// A flag list as the set of system flags named (keywords are not kept by
/// mail-imap-min, so they are dropped on both sides).
fn our_flags(f: Flags) -> String {
    let names: Vec<&str> = SYSTEM_FLAGS
        .iter()
        .filter(|(flag, _)| f.contains(*flag))
        .map(|(_, n)| *n)
        .collect();
    format!("({})", names.join(" "))
}

fn their_flags(flags: &[Flag<'_>]) -> String {
    let mut set = Flags::empty();
    let mut other = Vec::new();
    for f in flags {
        match f {
            Flag::Answered => set = set.union(Flags::ANSWERED),
            Flag::Deleted => set = set.union(Flags::DELETED),
            Flag::Draft => set = set.union(Flags::DRAFT),
            Flag::Flagged => set = set.union(Flags::FLAGGED),
            Flag::Seen => set = set.union(Flags::SEEN),
            Flag::Keyword(_) => {}
            Flag::Extension(_) => other.push(f.to_string()),
        }
    }
    let mut s = our_flags(set);
    for o in other {
        s.pop();
        if s.len() > 1 {
            s.push(' ');
        }
        s.push_str(&o);
        s.push(')');
    }
    s
}

fn fetch_name(peek: bool) -> &'static str {
    if peek {
        "BODY.PEEK"
    } else {
        "BODY"
    }
}

fn partial_text(p: Option<(u32, u32)>) -> String {
    p.map(|(o, c)| format!("<{o}.{c}>")).unwrap_or_default()
}

fn header_list<'x>(fields: impl Iterator<Item = &'x [u8]>) -> String {
    fields.map(q).collect::<Vec<_>>().join(" ")
}

/// `part.TEXT` of a section, without brackets.
fn our_section(s: &Section<'_>) -> String {
    let mut out: Vec<String> = s.part.iter().map(u32::to_string).collect();
    match &s.text {
        SectionText::Full => {}
        SectionText::Header => out.push("HEADER".into()),
        SectionText::Text => out.push("TEXT".into()),
        SectionText::Mime => out.push("MIME".into()),
        SectionText::HeaderFields { not, fields } => out.push(format!(
            "HEADER.FIELDS{} ({})",
            if *not { ".NOT" } else { "" },
            header_list(fields.iter().map(|f| &f[..]))
        )),
    }
    out.join(".")
}

fn our_fetch_attr(a: &FetchAttr<'_>) -> String {
    match a {
        FetchAttr::Flags => "FLAGS".into(),
        FetchAttr::Uid => "UID".into(),
        FetchAttr::InternalDate => "INTERNALDATE".into(),
        FetchAttr::Rfc822Size => "RFC822.SIZE".into(),
        FetchAttr::Envelope => "ENVELOPE".into(),
        FetchAttr::BodyStructure => "BODYSTRUCTURE".into(),
        FetchAttr::Body => "BODY".into(),
        FetchAttr::Rfc822 => "RFC822".into(),
        FetchAttr::Rfc822Header => "RFC822.HEADER".into(),
        FetchAttr::Rfc822Text => "RFC822.TEXT".into(),
        FetchAttr::Section {
            peek,
            section,
            partial,
        } => format!(
            "{}[{}]{}",
            fetch_name(*peek),
            our_section(section),
            partial_text(*partial)
        ),
    }
}

fn their_part(p: Option<&Part>) -> Vec<String> {
    p.map(|p| p.0.as_ref().iter().map(|n| n.get().to_string()).collect())
        .unwrap_or_default()
}

fn astrings<'x>(v: &'x [AString<'_>]) -> impl Iterator<Item = &'x [u8]> {
    v.iter().map(|a| a.as_ref())
}

fn their_section(s: Option<&TheirSection<'_>>) -> String {
    let (mut out, text) = match s {
        None => (Vec::new(), None),
        Some(TheirSection::Part(p)) => (their_part(Some(p)), None),
        Some(TheirSection::Header(p)) => (their_part(p.as_ref()), Some("HEADER".to_string())),
        Some(TheirSection::Text(p)) => (their_part(p.as_ref()), Some("TEXT".to_string())),
        Some(TheirSection::Mime(p)) => (their_part(Some(p)), Some("MIME".to_string())),
        Some(TheirSection::HeaderFields(p, f)) => (
            their_part(p.as_ref()),
            Some(format!("HEADER.FIELDS ({})", header_list(astrings(f.as_ref())))),
        ),
        Some(TheirSection::HeaderFieldsNot(p, f)) => (
            their_part(p.as_ref()),
            Some(format!(
                "HEADER.FIELDS.NOT ({})",
                header_list(astrings(f.as_ref()))
            )),
        ),
    };
    out.extend(text);
    out.join(".")
}

#[allow(unreachable_patterns)]
fn their_fetch_attr(a: &MessageDataItemName<'_>) -> String {
    match a {
        MessageDataItemName::Flags => "FLAGS".into(),
        MessageDataItemName::Uid => "UID".into(),
        MessageDataItemName::InternalDate => "INTERNALDATE".into(),
        MessageDataItemName::Rfc822Size => "RFC822.SIZE".into(),
        MessageDataItemName::Envelope => "ENVELOPE".into(),
        MessageDataItemName::BodyStructure => "BODYSTRUCTURE".into(),
        MessageDataItemName::Body => "BODY".into(),
        MessageDataItemName::Rfc822 => "RFC822".into(),
        MessageDataItemName::Rfc822Header => "RFC822.HEADER".into(),
        MessageDataItemName::Rfc822Text => "RFC822.TEXT".into(),
        MessageDataItemName::BodyExt {
            section,
            partial,
            peek,
        } => format!(
            "{}[{}]{}",
            fetch_name(*peek),
            their_section(section.as_ref()),
            partial_text(partial.map(|(o, c)| (o, c.get())))
        ),
        other => format!("EXTENSION {other:?}"),
    }
}

fn their_fetch_items(m: &MacroOrMessageDataItemNames<'_>) -> String {
    let items = match m {
        MacroOrMessageDataItemNames::Macro(m) => m.expand(),
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v.clone(),
    };
    items.iter().map(their_fetch_attr).collect::<Vec<_>>().join(" ")
}

fn store_mode(mode: &str, silent: bool) -> String {
    format!("{mode}FLAGS{}", if silent { ".SILENT" } else { "" })
}

fn day_text(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// chrono's `Debug` of a date is `yyyy-mm-dd` for years 0..=9999.
fn their_day(d: &NaiveDate) -> String {
    format!("{d:?}")
}

/// Seconds since the epoch of an IMAP date-time.
fn their_date_time(d: &DateTime) -> i64 {
    d.as_ref().timestamp()
}

/// One search key as a list of ANDed conjuncts (nested ANDs flattened).
fn our_key(k: &SearchKey<'_>) -> Vec<String> {
    let flag = |f: &Flags| {
        [
            (Flags::ANSWERED, "ANSWERED"),
            (Flags::DELETED, "DELETED"),
            (Flags::DRAFT, "DRAFT"),
            (Flags::FLAGGED, "FLAGGED"),
            (Flags::SEEN, "SEEN"),
            (Flags::RECENT, "RECENT"),
        ]
        .iter()
        .filter(|(x, _)| f.contains(*x))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("+")
    };
    let dated = |prefix: &str, cmp: &DateCmp, day: &i64| {
        let word = match cmp {
            DateCmp::Before => "BEFORE",
            DateCmp::On => "ON",
            DateCmp::Since => "SINCE",
        };
        format!("{prefix}{word} {}", day_text(*day))
    };
    vec![match k {
        SearchKey::And(keys) => return keys.iter().flat_map(our_key).collect(),
        SearchKey::All => "ALL".into(),
        SearchKey::Flag(f) => flag(f),
        SearchKey::NotFlag(f) => format!("UN{}", flag(f)),
        SearchKey::New => "NEW".into(),
        SearchKey::Old => "OLD".into(),
        SearchKey::Keyword => "KEYWORD".into(),
        SearchKey::Unkeyword => "UNKEYWORD".into(),
        SearchKey::Seq(s) => our_set(s),
        SearchKey::Uid(s) => format!("UID {}", our_set(s)),
        SearchKey::Header(n, v) => format!("HEADER {} {}", q(&n.to_ascii_uppercase()), q(v)),
        SearchKey::Body(v) => format!("BODY {}", q(v)),
        SearchKey::Text(v) => format!("TEXT {}", q(v)),
        SearchKey::Internal(cmp, day) => dated("", cmp, day),
        SearchKey::Sent(cmp, day) => dated("SENT", cmp, day),
        SearchKey::Larger(n) => format!("LARGER {n}"),
        SearchKey::Smaller(n) => format!("SMALLER {n}"),
        SearchKey::Not(k) => format!("NOT {}", group(our_key(k))),
        SearchKey::Or(a, b) => format!("OR {} {}", group(our_key(a)), group(our_key(b))),
    }]
}

/// Conjuncts as one key: itself, or a parenthesised list.
fn group(v: Vec<String>) -> String {
    if v.len() == 1 {
        v.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", v.join(" "))
    }
}

#[allow(unreachable_patterns)]
fn their_key(k: &TheirKey<'_>) -> Vec<String> {
    let header = |name: &str, v: &AString<'_>| format!("HEADER {} {}", q(name.as_bytes()), q(v.as_ref()));
    vec![match k {
        TheirKey::And(keys) => return keys.as_ref().iter().flat_map(their_key).collect(),
        TheirKey::SequenceSet(s) => their_set(s),
        TheirKey::All => "ALL".into(),
        TheirKey::Answered => "ANSWERED".into(),
        TheirKey::Deleted => "DELETED".into(),
        TheirKey::Draft => "DRAFT".into(),
        TheirKey::Flagged => "FLAGGED".into(),
        TheirKey::Seen => "SEEN".into(),
        TheirKey::Recent => "RECENT".into(),
        TheirKey::Unanswered => "UNANSWERED".into(),
        TheirKey::Undeleted => "UNDELETED".into(),
        TheirKey::Undraft => "UNDRAFT".into(),
        TheirKey::Unflagged => "UNFLAGGED".into(),
        TheirKey::Unseen => "UNSEEN".into(),
        TheirKey::New => "NEW".into(),
        TheirKey::Old => "OLD".into(),
        TheirKey::Keyword(_) => "KEYWORD".into(),
        TheirKey::Unkeyword(_) => "UNKEYWORD".into(),
        TheirKey::Uid(s) => format!("UID {}", their_set(s)),
        TheirKey::Bcc(v) => header("BCC", v),
        TheirKey::Cc(v) => header("CC", v),
        TheirKey::From(v) => header("FROM", v),
        TheirKey::Subject(v) => header("SUBJECT", v),
        TheirKey::To(v) => header("TO", v),
        TheirKey::Header(n, v) => format!("HEADER {} {}", q(&n.as_ref().to_ascii_uppercase()), q(v.as_ref())),
        TheirKey::Body(v) => format!("BODY {}", q(v.as_ref())),
        TheirKey::Text(v) => format!("TEXT {}", q(v.as_ref())),
        TheirKey::Before(d) => format!("BEFORE {}", their_day(d)),
        TheirKey::On(d) => format!("ON {}", their_day(d)),
        TheirKey::Since(d) => format!("SINCE {}", their_day(d)),
        TheirKey::SentBefore(d) => format!("SENTBEFORE {}", their_day(d)),
        TheirKey::SentOn(d) => format!("SENTON {}", their_day(d)),
        TheirKey::SentSince(d) => format!("SENTSINCE {}", their_day(d)),
        TheirKey::Larger(n) => format!("LARGER {n}"),
        TheirKey::Smaller(n) => format!("SMALLER {n}"),
        TheirKey::Not(k) => format!("NOT {}", group(their_key(k))),
        TheirKey::Or(a, b) => format!("OR {} {}", group(their_key(a)), group(their_key(b))),
        other => format!("EXTENSION {other:?}"),
    }]
}

fn our_status_item(i: &StatusItem) -> &'static str {
    match i {
        StatusItem::Messages => "MESSAGES",
        StatusItem::Recent => "RECENT",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
    }
}

#[allow(unreachable_patterns)]
fn their_status_item(i: &StatusDataItemName) -> String {
    match i {
        StatusDataItemName::Messages => "MESSAGES".into(),
        StatusDataItemName::Recent => "RECENT".into(),
        StatusDataItemName::UidNext => "UIDNEXT".into(),
        StatusDataItemName::UidValidity => "UIDVALIDITY".into(),
        StatusDataItemName::Unseen => "UNSEEN".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

fn ours(input: &[u8]) -> Outcome {
    let Ok(cmd) = parse_command(input) else {
        return Outcome::Refused;
    };
    let (kind, detail) = match &cmd.body {
        CommandBody::Login { username, password } => (
            "LOGIN".to_string(),
            Some(format!("{} {}", q(username), q(password))),
        ),
        CommandBody::Select { mailbox, .. }
        | CommandBody::Create(mailbox)
        | CommandBody::Delete(mailbox)
        | CommandBody::Subscribe(mailbox)
        | CommandBody::Unsubscribe(mailbox) => (cmd.body.name().to_string(), Some(mailbox_name(mailbox))),
        CommandBody::Rename(from, to) => (
            "RENAME".to_string(),
            Some(format!("{} {}", mailbox_name(from), mailbox_name(to))),
        ),
        CommandBody::List {
            reference, pattern, ..
        } => (
            cmd.body.name().to_string(),
            Some(format!("{} {}", mailbox_name(reference), q(pattern))),
        ),
        CommandBody::Status { mailbox, items } => (
            "STATUS".to_string(),
            Some(format!(
                "{} ({})",
                mailbox_name(mailbox),
                items.iter().map(our_status_item).collect::<Vec<_>>().join(" ")
            )),
        ),
        CommandBody::Fetch { uid, set, items } => (
            uid_prefix(*uid, "FETCH"),
            Some(format!(
                "{} ({})",
                our_set(set),
                items.iter().map(our_fetch_attr).collect::<Vec<_>>().join(" ")
            )),
        ),
        CommandBody::Search { uid, key } => (uid_prefix(*uid, "SEARCH"), Some(our_key(key).join(" "))),
        CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
        } => {
            let mode = match mode {
                StoreMode::Replace => "",
                StoreMode::Add => "+",
                StoreMode::Remove => "-",
            };
            (
                uid_prefix(*uid, "STORE"),
                Some(format!(
                    "{} {} {}",
                    our_set(set),
                    store_mode(mode, *silent),
                    our_flags(*flags)
                )),
            )
        }
        CommandBody::Copy {
            uid, set, mailbox, ..
        } => (
            uid_prefix(*uid, cmd.body.name()),
            Some(format!("{} {}", our_set(set), mailbox_name(mailbox))),
        ),
        CommandBody::Append {
            mailbox,
            flags,
            internal_date,
            message,
        } => {
            let mut d = format!("{} {}", mailbox_name(mailbox), our_flags(*flags));
            if let Some(t) = internal_date {
                let _ = write!(d, " @{t}");
            }
            let _ = write!(d, " {{{}}}", message.len());
            ("APPEND".to_string(), Some(d))
        }
        CommandBody::Expunge { uids: Some(set) } => ("UID EXPUNGE".to_string(), Some(our_set(set))),
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => {
            // The parser keeps the base64 as sent; the session decodes it
            // with mail_sasl::wire, as compared here (imap-codec decodes it
            // while parsing). Undecodable: see the AUTHENTICATE class.
            let ir = match initial_response.map(|ir| decode_initial_response(ir, usize::MAX)) {
                None => None,
                Some(Ok(bytes)) => Some(bytes),
                Some(Err(_)) => Some(b"(undecodable)".to_vec()),
            };
            (
                "AUTHENTICATE".to_string(),
                Some(authenticate_detail(
                    &String::from_utf8_lossy(mechanism),
                    ir.as_deref(),
                )),
            )
        }
        CommandBody::Enable(caps) => (
            "ENABLE".to_string(),
            Some(enable_detail(caps.iter().map(|c| String::from_utf8_lossy(c)))),
        ),
        other => (other.name().to_string(), None),
    };
    Outcome::Accepted {
        tag: cmd.tag.to_vec(),
        kind,
        detail,
    }
}

/// `AUTHENTICATE`'s arguments: the mechanism (case-insensitive) and the
/// decoded initial response in hex (`ir=` when empty, nothing when absent).
fn authenticate_detail(mechanism: &str, initial_response: Option<&[u8]>) -> String {
    let mut d = mechanism.to_ascii_uppercase();
    if let Some(ir) = initial_response {
        d.push_str(" ir=");
        for b in ir {
            let _ = write!(d, "{b:02x}");
        }
    }
    d
}

/// `ENABLE`'s capabilities, in order, case-insensitive.
fn enable_detail<S: AsRef<str>>(caps: impl Iterator<Item = S>) -> String {
    caps.map(|c| c.as_ref().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// imap-codec's reading of `input` (with CRLF appended), if it consumes it exactly.
fn their_command(input: &[u8]) -> Option<TheirCommand<'static>> {
    let mut wire = input.to_vec();
    wire.extend_from_slice(b"\r\n");
    let codec = CommandCodec::default();
    let Ok((rest, cmd)) = codec.decode(&wire) else {
        return None;
    };
    if !rest.is_empty() {
        return None;
    }
    Some(imap_codec::imap_types::IntoStatic::into_static(cmd))
}

fn theirs(input: &[u8]) -> Outcome {
    let Some(cmd) = their_command(input) else {
        return Outcome::Refused;
    };
    let mb = |name: &str, m: &Mailbox<'_>| (name.to_string(), Some(their_mailbox(m)));
    let (kind, detail): (String, Option<String>) = match &cmd.body {
        TheirBody::Capability => ("CAPABILITY".into(), None),
        TheirBody::Noop => ("NOOP".into(), None),
        TheirBody::Logout => ("LOGOUT".into(), None),
        TheirBody::StartTLS => ("STARTTLS".into(), None),
        TheirBody::Authenticate {
            mechanism,
            initial_response,
        } => (
            "AUTHENTICATE".into(),
            Some(authenticate_detail(
                mechanism.as_ref(),
                initial_response.as_ref().map(|ir| ir.declassify().as_ref()),
            )),
        ),
        TheirBody::Login { username, password } => (
            "LOGIN".into(),
            Some(format!(
                "{} {}",
                q(username.as_ref()),
                q(password.declassify().as_ref())
            )),
        ),
        TheirBody::Select { mailbox, .. } => mb("SELECT", mailbox),
        TheirBody::Examine { mailbox, .. } => mb("EXAMINE", mailbox),
        TheirBody::Unselect => ("UNSELECT".into(), None),
        TheirBody::Create { mailbox } => mb("CREATE", mailbox),
        TheirBody::Delete { mailbox } => mb("DELETE", mailbox),
        TheirBody::Rename { from, to } => (
            "RENAME".into(),
            Some(format!("{} {}", their_mailbox(from), their_mailbox(to))),
        ),
        TheirBody::Subscribe { mailbox } => mb("SUBSCRIBE", mailbox),
        TheirBody::Unsubscribe { mailbox } => mb("UNSUBSCRIBE", mailbox),
        TheirBody::List {
            reference,
            mailbox_wildcard,
        } => ("LIST".into(), Some(their_list(reference, mailbox_wildcard))),
        TheirBody::Lsub {
            reference,
            mailbox_wildcard,
        } => ("LSUB".into(), Some(their_list(reference, mailbox_wildcard))),
        TheirBody::Status { mailbox, item_names } => (
            "STATUS".into(),
            Some(format!(
                "{} ({})",
                their_mailbox(mailbox),
                item_names
                    .iter()
                    .map(their_status_item)
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        ),
        TheirBody::Append {
            mailbox,
            flags,
            date,
            message,
        } => {
            let mut d = format!("{} {}", their_mailbox(mailbox), their_flags(flags));
            if let Some(t) = date {
                let _ = write!(d, " @{}", their_date_time(t));
            }
            let len = match message {
                LiteralOrLiteral8::Literal(l) => l.data().len(),
                LiteralOrLiteral8::Literal8(l) => l.data.len(),
            };
            let _ = write!(d, " {{{len}}}");
            ("APPEND".into(), Some(d))
        }
        TheirBody::Check => ("CHECK".into(), None),
        TheirBody::Close => ("CLOSE".into(), None),
        TheirBody::Expunge => ("EXPUNGE".into(), None),
        TheirBody::ExpungeUid { sequence_set } => ("UID EXPUNGE".into(), Some(their_set(sequence_set))),
        TheirBody::Search { uid, criteria, .. } => (
            uid_prefix(*uid, "SEARCH"),
            Some(
                criteria
                    .as_ref()
                    .iter()
                    .flat_map(their_key)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ),
        TheirBody::Fetch {
            sequence_set,
            uid,
            macro_or_item_names,
            ..
        } => (
            uid_prefix(*uid, "FETCH"),
            Some(format!(
                "{} ({})",
                their_set(sequence_set),
                their_fetch_items(macro_or_item_names)
            )),
        ),
        TheirBody::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
            ..
        } => {
            let mode = match kind {
                StoreType::Replace => "",
                StoreType::Add => "+",
                StoreType::Remove => "-",
            };
            (
                uid_prefix(*uid, "STORE"),
                Some(format!(
                    "{} {} {}",
                    their_set(sequence_set),
                    store_mode(mode, matches!(response, StoreResponse::Silent)),
                    their_flags(flags)
                )),
            )
        }
        TheirBody::Copy {
            sequence_set,
            mailbox,
            uid,
        } => (
            uid_prefix(*uid, "COPY"),
            Some(format!("{} {}", their_set(sequence_set), their_mailbox(mailbox))),
        ),
        TheirBody::Move {
            sequence_set,
            mailbox,
            uid,
        } => (
            uid_prefix(*uid, "MOVE"),
            Some(format!("{} {}", their_set(sequence_set), their_mailbox(mailbox))),
        ),
        TheirBody::Idle => ("IDLE".into(), None),
        TheirBody::Enable { capabilities } => (
            "ENABLE".into(),
            Some(enable_detail(capabilities.as_ref().iter().map(|c| c.to_string()))),
        ),
        TheirBody::Id { .. } => ("ID".into(), None),
        TheirBody::Namespace => ("NAMESPACE".into(), None),
        other => (format!("EXTENSION {}", other.name()), None),
    };
    Outcome::Accepted {
        tag: cmd.tag.as_ref().as_bytes().to_vec(),
        kind,
        detail,
    }
}

fn their_mailbox(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".into(),
        Mailbox::Other(o) => mailbox_name(o.as_ref()),
    }
}

fn their_list(reference: &Mailbox<'_>, pattern: &ListMailbox<'_>) -> String {
    let p: &[u8] = match pattern {
        ListMailbox::Token(t) => t.as_ref(),
        ListMailbox::String(s) => s.as_ref(),
    };
    format!("{} {}", their_mailbox(reference), q(p))
}

fn kind_of(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Accepted { kind, .. } => Some(kind),
        Outcome::Refused => None,
    }
}

/// Why `input` is parsed differently on purpose, or `None` (then a
/// disagreement is a bug). fuzz/README.md lists each class with an example.
fn deliberate_difference(input: &[u8]) -> Option<&'static str> {
    let (o, t) = (ours(input), theirs(input));
    if o == Outcome::Refused {
        if let Some(k) = kind_of(&t) {
            if k.starts_with("EXTENSION ") {
                return Some("not implemented (out of scope): an extension imap-codec parses (SORT, THREAD, COMPRESS, QUOTA, METADATA ...)");
            }
        }
    }
    // Octets inside quoted strings.
    if differential::unquoted_octets(input).any(|(_, b, quoted)| quoted && b >= 0x80) {
        return Some("lenient: 8-bit octets in a quoted string (UTF-8 or Latin-1 passwords and mailbox names pass through, like Dovecot; imap-codec needs UTF8=ACCEPT)");
    }
    let upper = input.to_ascii_uppercase();
    let has = |w: &[u8]| upper.windows(w.len()).any(|x| x == w);
    if kind_of(&o) == Some("AUTHENTICATE") && t == Outcome::Refused {
        return Some("initial response not decoded here: its base64 is checked by mail_sasl::wire (imap-codec decodes it)");
    }
    if kind_of(&o) == Some("AUTHENTICATE") && kind_of(&t) == Some("AUTHENTICATE") && input.ends_with(b" ") {
        return Some("lenient: `AUTHENTICATE mech ` with a trailing space means no initial response (mutt through GNU SASL sends it); imap-codec reads an empty one");
    }
    if o != Outcome::Refused && t == Outcome::Refused && bare_lf_literal(input) {
        return Some("lenient: `{n}` followed by a bare LF (clients on LF systems); imap-codec wants CRLF");
    }
    if o == Outcome::Refused && odd_number(input) {
        return Some("stricter: a number written with over 10 digits (leading zeros, `000002000000000`) is refused; imap-codec reads its value");
    }
    let their_cmd = their_command(input);
    let their_body = their_cmd.as_ref().map(|c| &c.body);
    if o == Outcome::Refused
        && their_fetch_has(their_body, |i| {
            matches!(
                i,
                MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
            )
        })
    {
        return Some("not implemented: BINARY[...] / BINARY.SIZE[...] fetch items (RFC 3516)");
    }
    if o == Outcome::Refused
        && their_fetch_has(their_body, |i| match i {
            MessageDataItemName::BodyExt { section: Some(s), .. } => section_depth(s) > 32,
            _ => false,
        })
    {
        return Some("limit: a section of more than 32 part numbers (`BODY[1.2.3...33]`) is refused; imap-codec has no limit");
    }
    if t == Outcome::Refused
        && matches!(kind_of(&o), Some("SEARCH" | "UID SEARCH"))
        && our_search_depth(input) >= 9
    {
        return Some("limit: SEARCH keys nested 9 deep or more (NOT, OR, parentheses) are refused by imap-codec (search_key(9)); ours allows 32");
    }
    if let (
        Outcome::Refused,
        Some(TheirBody::Search {
            charset: Some(cs), ..
        }),
    ) = (&o, their_body)
    {
        let cs: &str = cs.as_ref();
        if !cs.eq_ignore_ascii_case("UTF-8") && !cs.eq_ignore_ascii_case("US-ASCII") {
            return Some("not implemented: SEARCH CHARSET other than US-ASCII and UTF-8 (refused with [BADCHARSET (US-ASCII UTF-8)])");
        }
    }
    if t == Outcome::Refused && matches!(kind_of(&o), Some("SEARCH" | "UID SEARCH")) && has(b"CHARSET {") {
        return Some("lenient (RFC 3501): the SEARCH CHARSET is an astring, so a literal is allowed; imap-codec follows RFC 9051 (atom or quoted)");
    }
    if let Some(class) = date_difference(input, &o, &t) {
        return Some(class);
    }
    if o == Outcome::Refused && kind_of(&t) == Some("STATUS") && extension_status_item(&upper) {
        return Some("not implemented: STATUS items beyond RFC 3501 (DELETED, SIZE, HIGHESTMODSEQ ...)");
    }
    if o == Outcome::Refused && kind_of(&t) == Some("ID") {
        return Some("stricter: ID parameters exactly as RFC 2971 (`ID ( )` is refused; imap-codec's quirk reads it as NIL)");
    }
    if o == Outcome::Refused && has(b"~{") {
        return Some("not implemented: literal8 `~{n}` (BINARY, RFC 3516)");
    }
    if o == Outcome::Refused
        && matches!(kind_of(&t), Some("STORE" | "UID STORE" | "APPEND"))
        && extension_flag(&upper)
    {
        return Some(
            "stricter: flags are the system flags or keywords; an unknown `\\Flag` extension is refused",
        );
    }
    if o == Outcome::Refused && has(b"()") {
        return Some("stricter: an empty list `()` (STATUS items, FETCH attributes) is refused (RFC 3501 needs one item); imap-codec accepts it");
    }
    None
}

/// Whether a run of digits is over 10 long but its value has at most 10
/// digits (leading zeros).
fn odd_number(input: &[u8]) -> bool {
    input.split(|b| !b.is_ascii_digit()).any(|run| {
        let value = run
            .iter()
            .position(|&d| d != b'0')
            .map_or(&run[..0], |i| &run[i..]);
        run.len() > 10 && value.len() <= 10
    })
}

/// Whether imap-codec read a FETCH with an item matching `f`.
fn their_fetch_has(body: Option<&TheirBody<'_>>, f: impl Fn(&MessageDataItemName<'_>) -> bool) -> bool {
    match body {
        Some(TheirBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(items),
            ..
        }) => items.iter().any(f),
        _ => false,
    }
}

/// How many part numbers a section names.
fn section_depth(s: &TheirSection<'_>) -> usize {
    let part = match s {
        TheirSection::Part(p) | TheirSection::Mime(p) => Some(p),
        TheirSection::Header(p) | TheirSection::Text(p) => p.as_ref(),
        TheirSection::HeaderFields(p, _) | TheirSection::HeaderFieldsNot(p, _) => p.as_ref(),
    };
    part.map_or(0, |p| p.0.as_ref().len())
}

/// The nesting depth of the SEARCH keys mail-imap-min read (NOT, OR and
/// lists each add one; the top-level AND of several keys counts too, so
/// this may be one more than imap-codec counts).
fn our_search_depth(input: &[u8]) -> usize {
    fn depth(k: &SearchKey<'_>) -> usize {
        match k {
            SearchKey::And(keys) => 1 + keys.iter().map(depth).max().unwrap_or(0),
            SearchKey::Not(k) => 1 + depth(k),
            SearchKey::Or(a, b) => 1 + depth(a).max(depth(b)),
            _ => 0,
        }
    }
    match parse_command(input) {
        Ok(cmd) => match cmd.body {
            CommandBody::Search { key, .. } => depth(&key),
            _ => 0,
        },
        Err(_) => 0,
    }
}

/// Every `d-Mon-yyyy` of the input, as (day, month, year) digit/letter runs.
fn dates(input: &[u8]) -> Vec<(&[u8], &[u8], &[u8])> {
    let mut out = Vec::new();
    for i in 0..input.len() {
        let rest = &input[i..];
        if rest.len() < 6
            || rest[0] != b'-'
            || rest[4] != b'-'
            || !rest[1..4].iter().all(u8::is_ascii_alphabetic)
        {
            continue;
        }
        let day_start = input[..i]
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |p| p + 1);
        let year_len = rest[5..].iter().take_while(|b| b.is_ascii_digit()).count();
        out.push((&input[day_start..i], &rest[1..4], &rest[5..5 + year_len]));
    }
    out
}

fn number(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The date-time of an APPEND mail-imap-min accepted: the quoted string
/// just before the message literal.
fn append_date_time(input: &[u8]) -> Option<&[u8]> {
    let Ok(cmd) = parse_command(input) else {
        return None;
    };
    let CommandBody::Append {
        internal_date: Some(_),
        message,
        ..
    } = cmd.body
    else {
        return None;
    };
    let start = (message.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    let head = &input[..start];
    let brace = head.iter().rposition(|&b| b == b'{')?;
    let close = brace.checked_sub(2)?;
    if head.get(close) != Some(&b'"') {
        return None;
    }
    let open = head[..close].iter().rposition(|&b| b == b'"')?;
    Some(&head[open + 1..close])
}

/// Whether a zone `+hhmm"` / `-hhmm"` (the end of a quoted date-time) has
/// minutes over 59.
fn zone_minutes_over_59(input: &[u8]) -> bool {
    input.windows(6).any(|w| {
        matches!(w[0], b'+' | b'-') && w[1..5].iter().all(u8::is_ascii_digit) && w[3] > b'5' && w[5] == b'"'
    })
}

/// Date classes (SEARCH dates, APPEND date-time).
fn date_difference(input: &[u8], o: &Outcome, t: &Outcome) -> Option<&'static str> {
    if o == &Outcome::Refused {
        if t != &Outcome::Refused && dates(input).iter().any(|&(_, _, y)| y == b"0000") {
            return Some(
                "stricter: the year 0000 in a date is refused (date-year = 4DIGIT; there is no year 0)",
            );
        }
        if matches!(kind_of(t), Some("APPEND")) && zone_minutes_over_59(input) {
            return Some("stricter: an APPEND zone with minutes over 59 (`+0099`) is refused; chrono reads it as an offset in minutes");
        }
        return None;
    }
    if t != &Outcome::Refused {
        return None;
    }
    let dt = append_date_time(input)?;
    let fields: Vec<&[u8]> = dt.trim_ascii().split(|&b| b == b' ').collect();
    let time = fields.get(1)?;
    if time.ends_with(b":60") {
        return Some(
            "lenient: a leap second `hh:mm:60` in APPEND's date-time (RFC 5322 allows it); chrono refuses it",
        );
    }
    let zone = fields.get(2)?;
    let minutes = |d: &[u8]| number(d).map(|n| n / 100 * 60 + n % 100);
    if zone.len() == 5 && minutes(&zone[1..]).is_some_and(|m| m >= 24 * 60) {
        return Some("lenient: an APPEND zone offset of 24 hours or more (`+2400` to `+9959`; zone = 4DIGIT); chrono's offset stops below 24 h");
    }
    None
}

/// Whether the last parenthesised list names a STATUS item we do not serve.
fn extension_status_item(upper: &[u8]) -> bool {
    const OURS: [&[u8]; 5] = [b"MESSAGES", b"RECENT", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN"];
    let Some(open) = upper.iter().rposition(|&b| b == b'(') else {
        return false;
    };
    upper[open + 1..]
        .split(|&b| b == b' ' || b == b')')
        .any(|item| !item.is_empty() && !OURS.contains(&item))
}

/// Whether a literal's `{n}` / `{n+}` is followed by LF without CR.
fn bare_lf_literal(input: &[u8]) -> bool {
    input.windows(2).enumerate().any(|(i, w)| {
        w == b"}\n"
            && (i == 0 || input[..i].ends_with(b"+") || input[..i].last().is_some_and(u8::is_ascii_digit))
    })
}

/// Whether a `\\Flag` other than the five settable system flags appears.
fn extension_flag(upper: &[u8]) -> bool {
    const SYSTEM: [&[u8]; 5] = [b"SEEN", b"ANSWERED", b"FLAGGED", b"DELETED", b"DRAFT"];
    upper.iter().enumerate().any(|(i, &b)| {
        b == b'\\' && {
            let word: Vec<u8> = upper[i + 1..]
                .iter()
                .copied()
                .take_while(|&c| c > b' ' && c < 0x7f && !b"()\\\"{".contains(&c))
                .collect();
            !SYSTEM.contains(&&word[..])
        }
    })
}

differential_target!("imap-codec", "IMAP_DIFF_LOG");
