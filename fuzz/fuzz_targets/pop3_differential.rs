//! Differential: one POP3 command line through our parser
//! (`mail_pop3::parse::parse_command`, the line without its CRLF) and
//! through pop3-codec 0.3 (`pop3_codec::parse::command`, the line with its
//! CRLF).
//!
//! Compared: whether the command is accepted, its verb and its arguments
//! (message numbers, TOP's line count, USER/PASS/APOP text, AUTH mechanism
//! and initial response). Every disagreement must belong to a class of
//! deliberate difference returned by [`deliberate_difference`] (listed in
//! fuzz/README.md); anything else fails the target.
//!
//! `POP3_DIFF_LOG=1` prints unclassified disagreements instead of failing
//! (to survey a new peer version).
#![no_main]

#[macro_use]
#[path = "shared/differential.rs"]
mod differential;
use mail_pop3::parse::{parse_command, Command};
use pop3_codec::types::Command as Peer;

/// What a parser made of one line, in terms both parsers can express.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused,
    Accepted { verb: &'static str, args: Vec<String> },
}

fn accepted(verb: &'static str, args: Vec<String>) -> Outcome {
    Outcome::Accepted { verb, args }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ours(line: &[u8]) -> Outcome {
    let Ok(cmd) = parse_command(line) else {
        return Outcome::Refused;
    };
    let num = |n: u32| n.to_string();
    match cmd {
        Command::User(u) => accepted("USER", vec![text(u)]),
        Command::Pass(p) => accepted("PASS", vec![text(p)]),
        Command::Apop { user, digest } => accepted("APOP", vec![text(user), text(digest)]),
        Command::Auth {
            mechanism,
            initial_response,
        } => accepted(
            "AUTH",
            mechanism.into_iter().chain(initial_response).map(text).collect(),
        ),
        Command::Capa => accepted("CAPA", vec![]),
        Command::Stls => accepted("STLS", vec![]),
        Command::Stat => accepted("STAT", vec![]),
        Command::List(m) => accepted("LIST", m.map(num).into_iter().collect()),
        Command::Retr(m) => accepted("RETR", vec![num(m)]),
        Command::Dele(m) => accepted("DELE", vec![num(m)]),
        Command::Noop => accepted("NOOP", vec![]),
        Command::Rset => accepted("RSET", vec![]),
        Command::Top { msg, lines } => accepted("TOP", vec![num(msg), num(lines)]),
        Command::Uidl(m) => accepted("UIDL", m.map(num).into_iter().collect()),
        Command::Quit => accepted("QUIT", vec![]),
    }
}

fn theirs(line: &[u8]) -> Outcome {
    let input = [line, b"\r\n"].concat();
    let Ok((rest, cmd)) = pop3_codec::parse::command(&input) else {
        return Outcome::Refused;
    };
    if !rest.is_empty() {
        return Outcome::Refused;
    }
    let num = |n: u32| n.to_string();
    match cmd {
        Peer::User(u) => accepted("USER", vec![u]),
        Peer::Pass(p) => accepted("PASS", vec![p]),
        Peer::Apop { name, digest } => accepted("APOP", vec![name, digest]),
        Peer::AuthAll => accepted("AUTH", vec![]),
        Peer::Auth {
            mechanism,
            initial_response,
        } => accepted(
            "AUTH",
            std::iter::once(mechanism).chain(initial_response).collect(),
        ),
        Peer::Capa => accepted("CAPA", vec![]),
        Peer::Stls => accepted("STLS", vec![]),
        Peer::Stat => accepted("STAT", vec![]),
        Peer::ListAll => accepted("LIST", vec![]),
        Peer::List { msg } => accepted("LIST", vec![num(msg)]),
        Peer::Retr { msg } => accepted("RETR", vec![num(msg)]),
        Peer::Dele { msg } => accepted("DELE", vec![num(msg)]),
        Peer::Noop => accepted("NOOP", vec![]),
        Peer::Rset => accepted("RSET", vec![]),
        Peer::Top { msg, n } => accepted("TOP", vec![num(msg), num(n)]),
        Peer::UidlAll => accepted("UIDL", vec![]),
        Peer::Uidl { msg } => accepted("UIDL", vec![num(msg)]),
        Peer::Quit => accepted("QUIT", vec![]),
        Peer::Utf8 => accepted("UTF8", vec![]),
        Peer::LangAll | Peer::Lang { .. } => accepted("LANG", vec![]),
    }
}

/// Keyword (upper-cased) and the rest of the line after the first space.
fn split(line: &[u8]) -> (Vec<u8>, &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(sp) => (line[..sp].to_ascii_uppercase(), &line[sp + 1..]),
        None => (line.to_ascii_uppercase(), &[][..]),
    }
}

/// Whether an argument list is spaced other than `arg SP arg` (runs of
/// spaces, a trailing space, a space before the first argument).
fn loose_spacing(rest: &[u8], had_space: bool) -> bool {
    (had_space && rest.is_empty())
        || rest.starts_with(b" ")
        || rest.ends_with(b" ")
        || rest.windows(2).any(|w| w == b"  ")
}

/// A deliberate difference between the two parsers on `line`, or `None`.
/// Each class is listed with an example in fuzz/README.md.
fn deliberate_difference(line: &[u8]) -> Option<&'static str> {
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Some("not one line: CR or LF inside the input (the line reader splits or refuses it)");
    }
    let (kw, rest) = split(line);
    let had_space = line.len() > kw.len();
    match &kw[..] {
        b"UTF8" | b"LANG" => {
            return Some("not implemented: RFC 6856 UTF8 and LANG (we answer `-ERR Unknown command.`)")
        }
        b"USER" | b"PASS" | b"APOP" if std::str::from_utf8(rest).is_err() => {
            return Some("lenient: non-UTF-8 octets in USER/PASS/APOP are passed on as octets (SASLprep and the backend decide); pop3-codec refuses them")
        }
        b"USER" if rest.is_empty() => return Some("stricter: `USER ` with an empty name is refused"),
        b"USER" | b"PASS" => return None,
        b"AUTH" => {
            // pop3-codec checks the mechanism's characters and the initial
            // response's base64 alphabet here; we take the tokens and the
            // session answers an unknown mechanism or bad base64 with -ERR.
            let tokens: Vec<&[u8]> = rest.split(|&b| b == b' ').filter(|t| !t.is_empty()).collect();
            let mech_ok = |m: &[u8]| m.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let b64_ok = |r: &[u8]| {
                r == b"="
                    || r.iter().rposition(|&b| b != b'=').map_or(false, |last| {
                        r[..=last].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
                            && r.len() - last - 1 <= 2
                    })
            };
            if tokens.first().is_some_and(|m| !mech_ok(m)) || tokens.get(1).is_some_and(|r| !b64_ok(r)) {
                return Some("checked later: AUTH mechanism name and initial-response base64 are judged by the session (`-ERR [AUTH] Unsupported mechanism.` / `-ERR Invalid base64 data.`), not the parser");
            }
        }
        _ => {}
    }
    if loose_spacing(rest, had_space) {
        return Some("lenient: runs of spaces between arguments and a trailing space are accepted (`LIST  2`, `QUIT `), as Dovecot does");
    }
    let args: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
    if matches!(&kw[..], b"LIST" | b"UIDL" | b"RETR" | b"DELE" | b"TOP")
        && args.iter().any(|a| {
            !a.is_empty()
                && a.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(a).unwrap().parse::<u32>().is_err()
        })
    {
        return Some("lenient: a message number beyond u32 reads as u32::MAX (answered `-ERR There's no message N.`); pop3-codec refuses the line");
    }
    if &kw[..] == b"APOP" && args.len() > 2 {
        return Some("stricter: APOP's digest is one token (RFC 1939: 32 hex digits); pop3-codec takes the rest of the line");
    }
    None
}

differential_target!("pop3-codec", "POP3_DIFF_LOG");
