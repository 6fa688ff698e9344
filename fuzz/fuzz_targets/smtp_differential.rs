//! Differential: one SMTP command line through our parser
//! (`mail_smtp_submit::parse::parse_command`, plus `address::parse_mailbox`
//! and the SIZE/BODY/SMTPUTF8 parameter checks the session applies) and
//! through smtp-proto 0.2 (`Request::parse`, the line with its CRLF).
//!
//! Compared: whether the command is accepted, its verb, and where both
//! accept: the reverse-/forward-path address (source route dropped, quotes
//! removed), the EHLO/HELO domain, SIZE, BODY, SMTPUTF8 and BDAT's size and
//! LAST. Every disagreement must belong to a class of deliberate difference
//! returned by [`deliberate_difference`] (listed in fuzz/README.md);
//! anything else fails the target.
//!
//! `SMTP_DIFF_LOG=1` prints unclassified disagreements instead of failing
//! (to survey a new peer version).
#![no_main]

use std::borrow::Cow;

#[macro_use]
#[path = "shared/differential.rs"]
mod differential;
use mail_smtp_submit::address::parse_mailbox;
use mail_smtp_submit::parse::{mail_parameters, params, parse_command, rcpt_parameters, Command};
use mail_smtp_submit::{Body, Ret};
use smtp_proto::{
    Request, MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_RET_FULL, MAIL_RET_HDRS,
    MAIL_SMTPUTF8, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS,
};

/// What a parser made of one line, in terms both parsers can express.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused,
    Accepted {
        verb: &'static str,
        /// Address (MAIL/RCPT), domain (EHLO/HELO), `size LAST` (BDAT).
        arg: Option<String>,
        size: u64,
        body: Option<&'static str>,
        smtputf8: bool,
        /// MAIL: RET, ENVID and AUTH (xtext decoded); RCPT: NOTIFY (as a
        /// sorted set) and ORCPT (rfc822 address decoded).
        dsn: String,
    },
}

fn accepted(verb: &'static str, arg: Option<String>) -> Outcome {
    Outcome::Accepted {
        verb,
        arg,
        size: 0,
        body: None,
        smtputf8: false,
        dsn: String::new(),
    }
}

/// Remove quoting (`"a b"@x` → `a b@x`, `"a\"b"@x` → `a"b@x`), as
/// smtp-proto returns addresses.
fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut quoted, mut escaped) = (false, false);
    for ch in s.chars() {
        if escaped {
            out.push(ch);
            escaped = false;
        } else if quoted && ch == '\\' {
            escaped = true;
        } else if ch == '"' {
            quoted = !quoted;
        } else {
            out.push(ch);
        }
    }
    out
}

/// Our verdict on a MAIL/RCPT path and its parameters, as the session
/// decides it (parameter values other than SIZE/BODY/SMTPUTF8 are not
/// compared: such lines are classified before comparison).
fn ours_path(verb: &'static str, path: &[u8], param_text: &[u8]) -> Outcome {
    let Ok(path) = std::str::from_utf8(path) else {
        return Outcome::Refused;
    };
    let address = if path.is_empty() {
        if verb == "RCPT" {
            return Outcome::Refused;
        }
        String::new()
    } else {
        match parse_mailbox(path) {
            Ok(m) => unquote(m.address),
            Err(_) => return Outcome::Refused,
        }
    };
    if verb == "RCPT" {
        let Ok(p) = rcpt_parameters(param_text) else {
            return Outcome::Refused;
        };
        let notify: Vec<&str> = if p.notify.is_empty() {
            vec![]
        } else {
            let mut words: Vec<&str> = ["SUCCESS", "FAILURE", "DELAY", "NEVER"]
                .into_iter()
                .filter(|w| {
                    p.notify
                        .split(|&b| b == b',')
                        .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
                })
                .collect();
            words.sort_unstable();
            words
        };
        let orcpt = match p.orcpt.iter().position(|&b| b == b';') {
            Some(semi) => xtext_decode(&p.orcpt[semi + 1..]),
            None => String::new(),
        };
        return Outcome::Accepted {
            verb,
            arg: Some(address),
            size: 0,
            body: None,
            smtputf8: false,
            dsn: format!("NOTIFY={} ORCPT={orcpt}", notify.join(",")),
        };
    }
    let Ok(p) = mail_parameters(param_text) else {
        return Outcome::Refused;
    };
    let ret = match p.ret {
        Some(Ret::Full) => "FULL",
        Some(Ret::Hdrs) => "HDRS",
        None => "",
    };
    Outcome::Accepted {
        verb,
        arg: Some(address),
        size: p.size.unwrap_or(0),
        body: p.body.map(|b| match b {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
        }),
        smtputf8: p.smtputf8,
        dsn: format!(
            "RET={ret} ENVID={} AUTH={}",
            xtext_decode(p.envid),
            xtext_decode(p.auth)
        ),
    }
}

/// RFC 3461 xtext decoding (`+2B` → `+`); input already validated.
fn xtext_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'+' && i + 2 < v.len() {
            let hex = std::str::from_utf8(&v[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    // Escaped 8-bit octets as Latin-1 characters, as smtp-proto reads them.
    out.iter().map(|&b| char::from(b)).collect()
}

fn ours(line: &[u8]) -> Outcome {
    let text = |s: &[u8]| Some(String::from_utf8_lossy(s).into_owned());
    match parse_command(line) {
        Err(_) | Ok(Command::Forbidden | Command::Unknown) => Outcome::Refused,
        Ok(Command::Ehlo(d)) => accepted("EHLO", text(d)),
        Ok(Command::Helo(d)) => accepted("HELO", text(d)),
        Ok(Command::Mail { path, params }) => ours_path("MAIL", path, params),
        Ok(Command::Rcpt { path, params }) => ours_path("RCPT", path, params),
        Ok(Command::Data) => accepted("DATA", None),
        Ok(Command::Bdat { size, last }) => accepted("BDAT", Some(format!("{size} {last}"))),
        Ok(Command::Rset) => accepted("RSET", None),
        Ok(Command::Noop) => accepted("NOOP", None),
        Ok(Command::Quit) => accepted("QUIT", None),
        Ok(Command::Vrfy(_)) => accepted("VRFY", None),
        Ok(Command::Help) => accepted("HELP", None),
        Ok(Command::StartTls) => accepted("STARTTLS", None),
        Ok(Command::Auth { .. }) => accepted("AUTH", None),
    }
}

fn theirs(line: &[u8]) -> Outcome {
    let mut wire = line.to_vec();
    wire.extend_from_slice(b"\r\n");
    let mut it = wire.iter();
    let text = |s: Cow<'_, str>| Some(s.into_owned());
    match Request::parse(&mut it) {
        Err(_) => Outcome::Refused,
        Ok(req) => match req {
            Request::Ehlo { host } => accepted("EHLO", text(host)),
            Request::Helo { host } => accepted("HELO", text(host)),
            Request::Mail { from } => Outcome::Accepted {
                verb: "MAIL",
                arg: text(from.address),
                size: from.size as u64,
                body: if from.flags & MAIL_BODY_8BITMIME != 0 {
                    Some("8BITMIME")
                } else if from.flags & MAIL_BODY_7BIT != 0 {
                    Some("7BIT")
                } else if from.flags & MAIL_BODY_BINARYMIME != 0 {
                    Some("BINARYMIME")
                } else {
                    None
                },
                smtputf8: from.flags & MAIL_SMTPUTF8 != 0,
                dsn: format!(
                    "RET={} ENVID={} AUTH={}",
                    if from.flags & MAIL_RET_FULL != 0 {
                        "FULL"
                    } else if from.flags & MAIL_RET_HDRS != 0 {
                        "HDRS"
                    } else {
                        ""
                    },
                    from.env_id.unwrap_or_default(),
                    from.auth.unwrap_or_default(),
                ),
            },
            Request::Rcpt { to } => {
                let mut notify: Vec<&str> = [
                    (RCPT_NOTIFY_SUCCESS, "SUCCESS"),
                    (RCPT_NOTIFY_FAILURE, "FAILURE"),
                    (RCPT_NOTIFY_DELAY, "DELAY"),
                    (RCPT_NOTIFY_NEVER, "NEVER"),
                ]
                .into_iter()
                .filter(|(flag, _)| to.flags & flag != 0)
                .map(|(_, word)| word)
                .collect();
                notify.sort_unstable();
                Outcome::Accepted {
                    verb: "RCPT",
                    arg: text(to.address),
                    size: 0,
                    body: None,
                    smtputf8: false,
                    dsn: format!(
                        "NOTIFY={} ORCPT={}",
                        notify.join(","),
                        to.orcpt.unwrap_or_default()
                    ),
                }
            }
            Request::Bdat { chunk_size, is_last } => {
                accepted("BDAT", Some(format!("{chunk_size} {is_last}")))
            }
            other => accepted(other.name(), None),
        },
    }
}

fn verb_of(o: &Outcome) -> Option<&'static str> {
    match o {
        Outcome::Accepted { verb, .. } => Some(verb),
        Outcome::Refused => None,
    }
}

/// The first word of the line, upper-cased (what both parsers dispatch on).
fn verb_word(line: &[u8]) -> Vec<u8> {
    let line = trim(line);
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    line[..end].to_ascii_uppercase()
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The text after the verb (trimmed).
fn args(line: &[u8]) -> &[u8] {
    let line = trim(line);
    match line.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => trim(&line[i + 1..]),
        None => &[],
    }
}

/// Why `line` is parsed differently on purpose, or `None` if it is not
/// (then a disagreement is a bug in one of the parsers). One class per
/// reason; fuzz/README.md lists them with an example each.
fn deliberate_difference(line: &[u8]) -> Option<&'static str> {
    let (o, t) = (ours(line), theirs(line));
    let verb = verb_word(line);
    let a = args(line);

    // --- Framing and octets ---
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Some("framing: CR or LF inside a command line is the line reader's business");
    }
    if line.contains(&b'\t') {
        return Some("HT as separator: we accept tabs like Postfix, smtp-proto only SP");
    }
    if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Some(
            "control octets (NUL, FF, VT, ESC, DEL ...): smtp-proto splits words on FF/VT and skips CR, we only split on SP/HT",
        );
    }
    let spaced = normalise_spaces(line);
    if spaced != line
        && ours(&spaced) == o
        && (theirs(&spaced) == o || deliberate_difference(&spaced).is_some())
    {
        return Some("lenient: runs of spaces and trailing spaces are separators (Postfix); smtp-proto reads an empty word");
    }

    // --- Verbs ---
    if o == Outcome::Refused && matches!(verb_of(&t), Some("EXPN" | "ETRN" | "ATRN" | "BURL" | "LHLO")) {
        return Some("not implemented: EXPN, ETRN, ATRN, BURL, LHLO");
    }
    if o == Outcome::Refused
        && !a.is_empty()
        && matches!(&verb[..], b"DATA" | b"RSET" | b"QUIT" | b"STARTTLS")
    {
        return Some("stricter: DATA, RSET, QUIT and STARTTLS take no argument");
    }
    if &verb[..] == b"BDAT" && o == Outcome::Refused {
        return Some("stricter: BDAT is exactly `count [LAST]`");
    }
    if matches!(&verb[..], b"VRFY" | b"AUTH" | b"NOOP" | b"HELP") {
        return Some("argument not parsed here: VRFY, AUTH (mechanism, initial response), NOOP, HELP arguments are checked by the session");
    }
    if matches!(&verb[..], b"EHLO" | b"HELO") {
        if a.contains(&b' ') {
            return Some("lenient: EHLO/HELO keeps every word of its argument (Postfix)");
        }
        if String::from_utf8_lossy(a).len() > 255 {
            return Some("lenient: EHLO/HELO argument of any length (the line limit bounds it; smtp-proto counts invalid UTF-8 as 3 octets each)");
        }
    }

    // --- MAIL / RCPT ---
    if matches!(&verb[..], b"MAIL" | b"RCPT") {
        let keyword: &[u8] = if &verb[..] == b"MAIL" { b"FROM:" } else { b"TO:" };
        let kw_ok = a.len() >= keyword.len() && a[..keyword.len()].eq_ignore_ascii_case(keyword);
        if !kw_ok {
            return Some("stricter: `FROM:`/`TO:` must follow the verb, no space before the colon");
        }
        let rest = trim(&a[keyword.len()..]);
        if !rest.starts_with(b"<") {
            return Some("lenient: path without angle brackets (Postfix)");
        }
        if o == Outcome::Refused && parse_command(line).is_err() {
            return Some(
                "stricter: `>` must be followed by SP or the end of the line (`<a@b>SIZE=1` refused)",
            );
        }
        if let Ok(Command::Mail { path, params: p } | Command::Rcpt { path, params: p }) = parse_command(line)
        {
            if let Some(reason) = path_difference(&verb, path) {
                return Some(reason);
            }
            let keys: Vec<Vec<u8>> = params(p).map(|(k, _)| k.to_ascii_uppercase()).collect();
            if (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
                return Some("stricter: a repeated ESMTP parameter is refused by the session (555 5.5.4); smtp-proto ORs BODY flags");
            }
            for (key, value) in params(p) {
                let key = key.to_ascii_uppercase();
                let ours_knows = if &verb[..] == b"MAIL" {
                    matches!(
                        &key[..],
                        b"SIZE" | b"BODY" | b"SMTPUTF8" | b"RET" | b"ENVID" | b"AUTH"
                    )
                } else {
                    matches!(&key[..], b"NOTIFY" | b"ORCPT")
                };
                if !ours_knows {
                    return Some("not implemented: ESMTP parameters other than SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH (MAIL) and NOTIFY, ORCPT (RCPT); smtp-proto parses HOLDFOR, MT-PRIORITY, REQUIRETLS, RRVS, BY …");
                }
                if &key[..] == b"SIZE"
                    && value.is_some_and(|v| v.len() > 19 && v.iter().all(u8::is_ascii_digit))
                {
                    return Some(
                        "stricter: SIZE of at most 19 digits, leading zeros included (smtp-proto saturates)",
                    );
                }
                if &key[..] == b"BODY" && value.is_some_and(|v| v.eq_ignore_ascii_case(b"BINARYMIME")) {
                    return Some("not implemented: BODY=BINARYMIME");
                }
                let Some(value) = value else { continue };
                if &key[..] == b"NOTIFY"
                    && value.contains(&b',')
                    && value
                        .split(|&b| b == b',')
                        .any(|w| w.eq_ignore_ascii_case(b"NEVER"))
                {
                    return Some("stricter: NOTIFY=NEVER stands alone (RFC 3461 §4.1); smtp-proto accepts `NEVER,SUCCESS`");
                }
                let xtext = match &key[..] {
                    b"ENVID" | b"AUTH" => value,
                    b"ORCPT" => match value.iter().position(|&b| b == b';') {
                        Some(semi) => {
                            if !value[..semi].eq_ignore_ascii_case(b"rfc822") && o != Outcome::Refused {
                                return Some("lenient: ORCPT address types other than rfc822 (`utf-8;…`, RFC 6533) are kept; smtp-proto only reads rfc822");
                            }
                            &value[semi + 1..]
                        }
                        None => continue,
                    },
                    _ => continue,
                };
                let bad_escape = xtext.iter().enumerate().any(|(i, &b)| {
                    b == b'+'
                        && !(xtext.len() > i + 2
                            && xtext[i + 1].is_ascii_hexdigit()
                            && xtext[i + 2].is_ascii_hexdigit())
                });
                if bad_escape || xtext.iter().any(|&b| !(0x21..0x7f).contains(&b) || b == b'=') {
                    return Some("stricter: xtext (ENVID, AUTH, ORCPT) is printable ASCII without `=`, `+` only before two hex digits (RFC 3461 §4); smtp-proto takes other octets and skips bad escapes");
                }
                // smtp-proto measures the decoded text in UTF-8 (an escaped
                // 8-bit octet counts 2).
                if matches!(&key[..], b"AUTH" | b"ORCPT")
                    && xtext_decode(xtext).len() > 256
                    && o != Outcome::Refused
                {
                    return Some("length: AUTH= and ORCPT= up to 500 octets as sent (RFC 3461 §4.2); smtp-proto 256 decoded (UTF-8)");
                }
                if &key[..] == b"ENVID" && xtext_decode(xtext).len() > 100 && o != Outcome::Refused {
                    return Some("length: ENVID up to 100 octets decoded (RFC 3461 §4.4); smtp-proto counts an escaped 8-bit octet (`+AA`) as 2, its UTF-8 length");
                }
            }
        }
    }
    let _ = (o, t);
    None
}

/// Collapse runs of SP into one and trim: the line as smtp-proto expects it.
fn normalise_spaces(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    for &b in trim(line) {
        if b == b' ' && out.last() == Some(&b' ') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Index of the last `@` outside a quoted string.
fn last_unquoted_at(s: &[u8]) -> Option<usize> {
    differential::unquoted_octets(s)
        .filter(|&(_, b, quoted)| b == b'@' && !quoted)
        .map(|(i, _, _)| i)
        .last()
}

/// Deliberate differences in a `<path>`'s content.
fn path_difference(verb: &[u8], path: &[u8]) -> Option<&'static str> {
    if path.is_empty() {
        return (verb == b"RCPT").then_some("stricter: RCPT TO:<> (null forward-path) is refused");
    }
    if path.first() == Some(&b'@') && std::str::from_utf8(path).map_or(true, |p| parse_mailbox(p).is_err()) {
        return Some("stricter: malformed source route (`<@:>`, `<@x:>`, `<@:a@b>`); smtp-proto reads `<@:>` as the null path");
    }
    if path.contains(&b' ') && !path.contains(&b'"') {
        return Some(
            "stricter: SP inside `< >` outside a quoted string (`< >`, `<a b@x>`); smtp-proto skips it",
        );
    }
    if path.contains(&b'"') && std::str::from_utf8(path).map_or(true, |p| parse_mailbox(p).is_err()) {
        return Some(
            "stricter: a quoted local part is one quoted-string (`\"a\"\"b\"@x`, `\"a\"b@x` refused)",
        );
    }
    // Past a source route, `local@domain` as both parsers split it.
    let mailbox = match (path.first(), path.iter().position(|&b| b == b':')) {
        (Some(b'@'), Some(colon)) => &path[colon + 1..],
        _ => path,
    };
    if let Some(at) = last_unquoted_at(mailbox) {
        let (local, domain) = (&mailbox[..at], &mailbox[at + 1..]);
        let probe = [b"x@", domain].concat();
        if !domain.starts_with(b"[")
            && std::str::from_utf8(&probe).map_or(true, |p| parse_mailbox(p).is_err())
        {
            return Some("stricter: domain syntax (empty domain or label, leading hyphen, octets other than letters, digits, `-`, `_`); smtp-proto takes any atext");
        }
        if local == b"\"\"" {
            return Some("lenient: empty quoted local part `\"\"@x` (RFC 5321 Quoted-string allows it; smtp-proto refuses)");
        }
        if local.starts_with(b"\"") {
            let inner = &local[1..];
            let closing = inner.iter().position(|&b| b == b'"');
            if closing.is_none_or(|c| c + 1 != inner.len()) || local.len() < 2 {
                return Some(
                    "stricter: a quoted local part is one quoted-string (`\"a\"\"b\"@x`, `\"a\"b@x` refused)",
                );
            }
        } else if local.contains(&b'"') {
            return Some(
                "stricter: a quoted local part is one quoted-string (`\"a\"\"b\"@x`, `\"a\"b@x` refused)",
            );
        }
        if !local.starts_with(b"\"")
            && (local.starts_with(b".") || local.ends_with(b".") || local.windows(2).any(|w| w == b".."))
        {
            return Some("lenient: dot-atom with empty atoms (`.a@x`, `a..b@x`, `a.@x`), like Postfix");
        }
    }
    if path.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
        return Some("8-bit or control octets in an address (UTF-8 needs SMTPUTF8; checked by the session)");
    }
    let Ok(text) = std::str::from_utf8(path) else {
        return Some("8-bit or control octets in an address (UTF-8 needs SMTPUTF8; checked by the session)");
    };
    if let Ok(m) = parse_mailbox(text) {
        if m.routed {
            return Some("routed address (`%`, `!`, several `@`, source route): parsed, flagged, refused by the relay policy");
        }
        if m.domain.is_none() {
            return Some("lenient: unqualified address (`<postmaster>`, `<user>`)");
        }
        if m.literal.is_some() {
            return Some("lenient: address literal `[192.0.2.1]` / `[IPv6:...]` (smtp-proto refuses them)");
        }
    }
    if path.len() > 256 {
        return Some("length: address over 256 octets (we allow 512, local part 256, domain 255)");
    }
    None
}

differential_target!("smtp-proto", "SMTP_DIFF_LOG");
