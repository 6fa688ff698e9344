//! Differential: one IMAP command (line plus inlined literals) through our
//! parser (`mail_imap_min::parse::parse_command`, the input without the
//! final CRLF) and through imap-codec 2.0.0-alpha.10 (`CommandCodec`, the
//! input with its CRLF, which must be consumed exactly).
//!
//! Compared: whether the command is accepted, its tag and its kind, and for
//! LOGIN (user, password), SELECT/EXAMINE (mailbox, INBOX case-folded) and
//! FETCH (sequence set, UID flag) the arguments. Every disagreement must
//! belong to a class of deliberate difference returned by
//! [`deliberate_difference`] (listed in fuzz/README.md); anything else fails
//! the target. `IMAP_DIFF_LOG=1` prints unclassified disagreements instead.
#![no_main]

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody as TheirBody;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet as TheirSet};
use imap_codec::CommandCodec;
#[path = "shared/differential.rs"]
mod differential;
use libfuzzer_sys::fuzz_target;
use mail_imap_min::parse::{parse_command, CommandBody, SequenceSet, STAR};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused,
    Accepted {
        tag: Vec<u8>,
        kind: String,
        /// LOGIN user/password, SELECT mailbox, FETCH set.
        detail: Option<String>,
    },
}

fn mailbox_name(m: &[u8]) -> String {
    if m.eq_ignore_ascii_case(b"INBOX") {
        "INBOX".into()
    } else {
        format!("{:?}", String::from_utf8_lossy(m))
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

fn ours(input: &[u8]) -> Outcome {
    let Ok(cmd) = parse_command(input) else {
        return Outcome::Refused;
    };
    let (kind, detail) = match &cmd.body {
        CommandBody::Login { username, password } => (
            "LOGIN".to_string(),
            Some(format!("{:?} {:?}", &username[..], &password[..])),
        ),
        CommandBody::Select { mailbox, .. } => (cmd.body.name().to_string(), Some(mailbox_name(mailbox))),
        CommandBody::Fetch { uid, set, .. } => (uid_prefix(*uid, "FETCH"), Some(our_set(set))),
        CommandBody::Search { uid, .. } => (uid_prefix(*uid, "SEARCH"), None),
        CommandBody::Store { uid, .. } => (uid_prefix(*uid, "STORE"), None),
        CommandBody::Copy { uid, .. } => (uid_prefix(*uid, cmd.body.name()), None),
        CommandBody::Expunge { uids: Some(_) } => ("UID EXPUNGE".to_string(), None),
        other => (other.name().to_string(), None),
    };
    Outcome::Accepted {
        tag: cmd.tag.to_vec(),
        kind,
        detail,
    }
}

fn theirs(input: &[u8]) -> Outcome {
    let mut wire = input.to_vec();
    wire.extend_from_slice(b"\r\n");
    let codec = CommandCodec::default();
    let Ok((rest, cmd)) = codec.decode(&wire) else {
        return Outcome::Refused;
    };
    if !rest.is_empty() {
        return Outcome::Refused;
    }
    let (kind, detail): (String, Option<String>) = match &cmd.body {
        TheirBody::Capability => ("CAPABILITY".into(), None),
        TheirBody::Noop => ("NOOP".into(), None),
        TheirBody::Logout => ("LOGOUT".into(), None),
        TheirBody::StartTLS => ("STARTTLS".into(), None),
        TheirBody::Authenticate { .. } => ("AUTHENTICATE".into(), None),
        TheirBody::Login { username, password } => (
            "LOGIN".into(),
            Some(format!(
                "{:?} {:?}",
                username.as_ref(),
                password.declassify().as_ref()
            )),
        ),
        TheirBody::Select { mailbox, .. } => ("SELECT".into(), Some(their_mailbox(mailbox))),
        TheirBody::Examine { mailbox, .. } => ("EXAMINE".into(), Some(their_mailbox(mailbox))),
        TheirBody::Unselect => ("UNSELECT".into(), None),
        TheirBody::Create { .. } => ("CREATE".into(), None),
        TheirBody::Delete { .. } => ("DELETE".into(), None),
        TheirBody::Rename { .. } => ("RENAME".into(), None),
        TheirBody::Subscribe { .. } => ("SUBSCRIBE".into(), None),
        TheirBody::Unsubscribe { .. } => ("UNSUBSCRIBE".into(), None),
        TheirBody::List { .. } => ("LIST".into(), None),
        TheirBody::Lsub { .. } => ("LSUB".into(), None),
        TheirBody::Status { .. } => ("STATUS".into(), None),
        TheirBody::Append { .. } => ("APPEND".into(), None),
        TheirBody::Check => ("CHECK".into(), None),
        TheirBody::Close => ("CLOSE".into(), None),
        TheirBody::Expunge => ("EXPUNGE".into(), None),
        TheirBody::ExpungeUid { .. } => ("UID EXPUNGE".into(), None),
        TheirBody::Search { uid, .. } => (uid_prefix(*uid, "SEARCH"), None),
        TheirBody::Fetch {
            sequence_set, uid, ..
        } => (uid_prefix(*uid, "FETCH"), Some(their_set(sequence_set))),
        TheirBody::Store { uid, .. } => (uid_prefix(*uid, "STORE"), None),
        TheirBody::Copy { uid, .. } => (uid_prefix(*uid, "COPY"), None),
        TheirBody::Move { uid, .. } => (uid_prefix(*uid, "MOVE"), None),
        TheirBody::Idle => ("IDLE".into(), None),
        TheirBody::Enable { .. } => ("ENABLE".into(), None),
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
    let (mut quoted, mut escaped) = (false, false);
    let mut q8bit = false;
    for &b in input {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if quoted {
            q8bit |= b >= 0x80;
        }
    }
    if q8bit {
        return Some("lenient: 8-bit octets in a quoted string (UTF-8 or Latin-1 passwords and mailbox names pass through, like Dovecot; imap-codec needs UTF8=ACCEPT)");
    }
    let upper = input.to_ascii_uppercase();
    let has = |w: &[u8]| upper.windows(w.len()).any(|x| x == w);
    if kind_of(&o) == Some("AUTHENTICATE") && t == Outcome::Refused {
        return Some("initial response not decoded here: its base64 is checked by mail_sasl::wire (imap-codec decodes it)");
    }
    if o != Outcome::Refused && t == Outcome::Refused && bare_lf_literal(input) {
        return Some("lenient: `{n}` followed by a bare LF (clients on LF systems); imap-codec wants CRLF");
    }
    if o == Outcome::Refused && odd_number(input) {
        return Some("stricter: numbers with a leading zero or over 10 digits (nz-number = digit-nz *DIGIT); imap-codec accepts `0002`");
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

/// Whether a run of digits starts with `0` (and has more) or is over 10 long.
fn odd_number(input: &[u8]) -> bool {
    input
        .split(|b| !b.is_ascii_digit())
        .any(|run| (run.len() > 1 && run[0] == b'0') || run.len() > 10)
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

fuzz_target!(|input: &[u8]| {
    differential::judge(
        input,
        ours(input),
        theirs(input),
        "imap-codec",
        "IMAP_DIFF_LOG",
        deliberate_difference,
    );
});
