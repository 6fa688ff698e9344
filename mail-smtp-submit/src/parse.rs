//! Command-line parsing: borrows from the line, allocates nothing.

/// One SMTP command, borrowing its arguments from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `EHLO name`.
    Ehlo(&'a [u8]),
    /// `HELO name`.
    Helo(&'a [u8]),
    /// `MAIL FROM:<path> params`: `path` without the angle brackets.
    Mail {
        /// The reverse-path, without `<` `>` (empty for the null sender).
        path: &'a [u8],
        /// ESMTP parameters (iterate with [`params`]).
        params: &'a [u8],
    },
    /// `RCPT TO:<path> params`.
    Rcpt {
        /// The forward-path, without `<` `>`.
        path: &'a [u8],
        /// ESMTP parameters (iterate with [`params`]).
        params: &'a [u8],
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030).
    Bdat {
        /// Octets of the chunk that follow the command line.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [anything]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(&'a [u8]),
    /// `HELP [topic]`.
    Help,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH mechanism [initial-response]`.
    Auth {
        /// The mechanism name as sent.
        mechanism: &'a [u8],
        /// The base64 initial response (`=` for an empty one), if sent.
        initial_response: Option<&'a [u8]>,
    },
    /// An HTTP verb (`GET`, `POST`, `CONNECT`), a header-like line (`Host:`)
    /// or a line that does not start with a letter: the peer is not an SMTP
    /// client (Postfix `smtpd_forbidden_commands`).
    Forbidden,
    /// A verb this server does not know (`EXPN`, `ETRN`, `TURN` …).
    Unknown,
}

/// Why a command line was refused; `reply()` is the SMTP reply to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError(&'static [u8]);

impl SyntaxError {
    /// The reply line, CRLF included.
    pub fn reply(&self) -> &'static [u8] {
        self.0
    }
}

const EMPTY: SyntaxError = SyntaxError(crate::reply::BAD_SYNTAX);
const MAIL_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
const RCPT_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: RCPT TO:<address>\r\n");
const EHLO_SYNTAX: SyntaxError = SyntaxError(b"501 Syntax: EHLO hostname\r\n");
const HELO_SYNTAX: SyntaxError = SyntaxError(b"501 Syntax: HELO hostname\r\n");
const DATA_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: DATA\r\n");
const RSET_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: RSET\r\n");
const QUIT_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: QUIT\r\n");
const STARTTLS_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: STARTTLS\r\n");
const BDAT_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: BDAT count [LAST]\r\n");
const AUTH_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: AUTH mechanism\r\n");
const VRFY_SYNTAX: SyntaxError = SyntaxError(b"501 5.5.4 Syntax: VRFY address\r\n");

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parse one command line (terminator already removed).
#[inline]
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, SyntaxError> {
    // Fast path: a four-letter verb at the start, then a space or the end.
    if let [a, b, c, d, rest @ ..] = line {
        if matches!(rest.first(), None | Some(b' ')) {
            let key = u64::from(u32::from_be_bytes([*a, *b, *c, *d]) & 0xDFDF_DFDF);
            if matches!(
                key,
                MAIL | RCPT | EHLO | HELO | DATA | BDAT | RSET | NOOP | QUIT | VRFY | HELP | AUTH | POST
            ) {
                return dispatch(key, &line[..4], trim(rest));
            }
        }
    }
    parse_general(line)
}

/// Any command line: the reference the fast path above must agree with.
#[inline(never)]
fn parse_general(line: &[u8]) -> Result<Command<'_>, SyntaxError> {
    let line = trim(line);
    if line.is_empty() {
        return Err(EMPTY);
    }
    if !line[0].is_ascii_alphabetic() {
        return Ok(Command::Forbidden);
    }
    let (verb, args) = match memchr::memchr2(b' ', b'\t', line) {
        Some(i) => (&line[..i], trim(&line[i + 1..])),
        None => (line, &line[line.len()..]),
    };
    if verb.len() > 8 {
        return Ok(if verb.ends_with(b":") {
            Command::Forbidden
        } else {
            Command::Unknown
        });
    }
    dispatch(verb_key(verb), verb, args)
}

/// The command for a verb (`key` = [`verb_key`]`(verb)`) and its trimmed arguments.
#[inline(always)]
fn dispatch<'a>(key: u64, verb: &'a [u8], args: &'a [u8]) -> Result<Command<'a>, SyntaxError> {
    let no_args = |cmd: Command<'static>, err: SyntaxError| if args.is_empty() { Ok(cmd) } else { Err(err) };
    Ok(match key {
        MAIL => {
            let (path, params) = path_and_params(args, FROM, 4).ok_or(MAIL_SYNTAX)?;
            Command::Mail { path, params }
        }
        RCPT => {
            let (path, params) = path_and_params(args, TO, 2).ok_or(RCPT_SYNTAX)?;
            Command::Rcpt { path, params }
        }
        EHLO => {
            if args.is_empty() {
                return Err(EHLO_SYNTAX);
            }
            Command::Ehlo(args)
        }
        HELO => {
            if args.is_empty() {
                return Err(HELO_SYNTAX);
            }
            Command::Helo(args)
        }
        DATA => return no_args(Command::Data, DATA_SYNTAX),
        BDAT => parse_bdat(args)?,
        RSET => return no_args(Command::Rset, RSET_SYNTAX),
        NOOP => Command::Noop,
        QUIT => return no_args(Command::Quit, QUIT_SYNTAX),
        VRFY => {
            if args.is_empty() {
                return Err(VRFY_SYNTAX);
            }
            Command::Vrfy(args)
        }
        HELP => Command::Help,
        AUTH => parse_auth(args)?,
        STARTTLS => return no_args(Command::StartTls, STARTTLS_SYNTAX),
        GET | POST | CONNECT => Command::Forbidden,
        _ if verb.ends_with(b":") => Command::Forbidden,
        _ => Command::Unknown,
    })
}

/// A verb (at most 8 octets) folded to upper case into one integer. `b & 0xDF`
/// equals an upper-case letter only for that letter in either case, so keys
/// of letter-only verbs never collide with other input.
const fn verb_key(verb: &[u8]) -> u64 {
    let mut k = 0u64;
    let mut i = 0;
    while i < verb.len() {
        k = (k << 8) | (verb[i] & 0xDF) as u64;
        i += 1;
    }
    k
}

const MAIL: u64 = verb_key(b"MAIL");
const RCPT: u64 = verb_key(b"RCPT");
const EHLO: u64 = verb_key(b"EHLO");
const HELO: u64 = verb_key(b"HELO");
const DATA: u64 = verb_key(b"DATA");
const BDAT: u64 = verb_key(b"BDAT");
const RSET: u64 = verb_key(b"RSET");
const NOOP: u64 = verb_key(b"NOOP");
const QUIT: u64 = verb_key(b"QUIT");
const VRFY: u64 = verb_key(b"VRFY");
const HELP: u64 = verb_key(b"HELP");
const AUTH: u64 = verb_key(b"AUTH");
const STARTTLS: u64 = verb_key(b"STARTTLS");
const GET: u64 = verb_key(b"GET");
const POST: u64 = verb_key(b"POST");
const CONNECT: u64 = verb_key(b"CONNECT");
/// The `FROM` / `TO` of `FROM:` / `TO:`, folded like verbs.
const FROM: u64 = verb_key(b"FROM");
const TO: u64 = verb_key(b"TO");

fn parse_bdat(args: &[u8]) -> Result<Command<'static>, SyntaxError> {
    let (count, rest) = match memchr::memchr2(b' ', b'\t', args) {
        Some(i) => (&args[..i], trim(&args[i + 1..])),
        None => (args, &args[args.len()..]),
    };
    let size = parse_u64(count).ok_or(BDAT_SYNTAX)?;
    let last = match rest {
        b"" => false,
        r if r.eq_ignore_ascii_case(b"LAST") => true,
        _ => return Err(BDAT_SYNTAX),
    };
    Ok(Command::Bdat { size, last })
}

fn parse_auth(args: &[u8]) -> Result<Command<'_>, SyntaxError> {
    if args.is_empty() {
        return Err(AUTH_SYNTAX);
    }
    let (mechanism, initial_response) = match memchr::memchr2(b' ', b'\t', args) {
        Some(i) => {
            let ir = trim(&args[i + 1..]);
            if memchr::memchr2(b' ', b'\t', ir).is_some() {
                return Err(AUTH_SYNTAX);
            }
            (&args[..i], Some(ir))
        }
        None => (args, None),
    };
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

/// Decimal digits only, no sign, no overflow (at most 19 digits).
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// `FROM:<path> params` / `TO:<path> params`, lenient like Postfix: spaces
/// after the colon and a path without angle brackets are accepted.
/// `keyword` is [`verb_key`] of the `len`-letter keyword before the colon.
#[inline]
fn path_and_params(args: &[u8], keyword: u64, len: usize) -> Option<(&[u8], &[u8])> {
    if args.len() <= len || verb_key(&args[..len]) != keyword || args[len] != b':' {
        return None;
    }
    let mut rest = &args[len + 1..];
    while let [b' ' | b'\t', r @ ..] = rest {
        rest = r;
    }
    match rest {
        [] => None,
        [b'<', inner @ ..] => {
            let end = closing_bracket(inner)?;
            let after = &inner[end + 1..];
            if !after.is_empty() && after[0] != b' ' && after[0] != b'\t' {
                return None;
            }
            Some((&inner[..end], trim(after)))
        }
        _ => {
            let rest = trim(rest);
            let end = memchr::memchr2(b' ', b'\t', rest).unwrap_or(rest.len());
            let path = &rest[..end];
            if path.contains(&b'>') {
                return None;
            }
            Some((path, trim(&rest[end..])))
        }
    }
}

/// Index in `s` (what follows a `<`) of the `>` closing the path, skipping
/// quoted strings; `None` if a bare `<` or the end comes first.
#[inline]
fn closing_bracket(s: &[u8]) -> Option<usize> {
    // Common case: no quotes.
    let i = find3(s, b'>', b'"', b'<')?;
    if s[i] == b'>' {
        return Some(i);
    }
    closing_bracket_quoted(s)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each octet of `w` equal to `b` (exact up to the first
/// match, which is all the callers use).
#[inline(always)]
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

/// ASCII case-insensitive equality, eight octets at a time (command
/// keywords, parameter names, domains are short).
#[inline]
pub(crate) fn eq_fold(a: &[u8], b: &[u8]) -> bool {
    eq_fold_with(a, b, word)
}

/// The loop of [`eq_fold`] and [`eq_fold_runtime`]: whole words, then the
/// remainders read by `tail`.
#[inline(always)]
fn eq_fold_with(a: &[u8], b: &[u8], tail: impl Fn(&[u8]) -> u64) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut wa = a.chunks_exact(8);
    let mut wb = b.chunks_exact(8);
    for (x, y) in (&mut wa).zip(&mut wb) {
        if !eq_fold8(word(x), word(y)) {
            return false;
        }
    }
    eq_fold8(tail(wa.remainder()), tail(wb.remainder()))
}

/// Octets of `a` and `b` equal, or the same letter in either case. Only
/// `b` is classified, so a constant `b` leaves one `or` and one compare.
#[inline(always)]
fn eq_fold8(a: u64, b: u64) -> bool {
    let case = LO * 0x20;
    let h = (b | case) & !HI;
    let ge_a = h + LO * u64::from(0x80 - b'a');
    let gt_z = h + LO * u64::from(0x80 - b'z' - 1);
    let letters = (ge_a & !gt_z & !b & HI) >> 2;
    a | letters == b | letters
}

/// [`eq_fold`] for two runtime strings (domains): the remainders are read
/// with overlapping loads rather than octet by octet.
#[inline]
pub(crate) fn eq_fold_runtime(a: &[u8], b: &[u8]) -> bool {
    eq_fold_with(a, b, short_word)
}

/// Up to eight octets as a little-endian word (missing octets are zero),
/// from at most two overlapping loads.
#[inline(always)]
fn short_word(s: &[u8]) -> u64 {
    let n = s.len();
    if n >= 8 {
        word(&s[..8])
    } else if n >= 4 {
        let lo = u32::from_le_bytes(<[u8; 4]>::try_from(&s[..4]).unwrap_or([0; 4]));
        let hi = u32::from_le_bytes(<[u8; 4]>::try_from(&s[n - 4..]).unwrap_or([0; 4]));
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else if n >= 2 {
        let lo = u16::from_le_bytes([s[0], s[1]]);
        let hi = u16::from_le_bytes([s[n - 2], s[n - 1]]);
        u64::from(lo) | u64::from(hi) << (8 * (n - 2))
    } else if n == 1 {
        u64::from(s[0])
    } else {
        0
    }
}

/// Up to eight octets as a little-endian word (missing octets are zero).
#[inline(always)]
fn word(s: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(s) {
        Ok(w) => u64::from_le_bytes(w),
        Err(_) => s
            .iter()
            .enumerate()
            .fold(0, |w, (i, &b)| w | u64::from(b) << (8 * i)),
    }
}

/// First index of `a`, `b` or `c` in `s`: eight octets at a time, which
/// beats a SIMD search on the short fields of a command line.
#[inline]
pub(crate) fn find3(s: &[u8], a: u8, b: u8, c: u8) -> Option<usize> {
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = eq_mask(w, a) | eq_mask(w, b) | eq_mask(w, c);
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|i| base + i)
}

#[cold]
fn closing_bracket_quoted(s: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(i),
            b'<' if !quoted => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// How the message body is declared (`BODY=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `BODY=7BIT`.
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// DSN `RET=` (RFC 3461).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `RET=FULL`.
    Full,
    /// `RET=HDRS`.
    Hdrs,
}

/// `MAIL FROM` parameters as the session accepts them: RFC 1870 `SIZE`,
/// RFC 6152 `BODY` (7BIT, 8BITMIME), RFC 6531 `SMTPUTF8`, RFC 3461 `RET`
/// and `ENVID`, RFC 4954 `AUTH`. Values borrow from the line; xtext is kept
/// as sent. The size limit is the session's business (`552`), not this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParameters<'a> {
    /// `SIZE=`.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Option<Body>,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
    /// `RET=`.
    pub ret: Option<Ret>,
    /// `ENVID=` (xtext as sent; empty if absent).
    pub envid: &'a [u8],
    /// `AUTH=` (xtext or `<>` as sent; empty if absent).
    pub auth: &'a [u8],
}

/// `RCPT TO` parameters as the session accepts them: RFC 3461 `NOTIFY` and
/// `ORCPT`, as sent (empty if absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RcptParameters<'a> {
    /// `NOTIFY=`: `NEVER` or a comma-separated list of SUCCESS, FAILURE, DELAY.
    pub notify: &'a [u8],
    /// `ORCPT=` (`addr-type;xtext`, as sent).
    pub orcpt: &'a [u8],
}

/// A parameter that is unknown, repeated, or has a malformed value
/// (answered `555 5.5.4 Unsupported option`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedParam<'a> {
    /// The key as sent.
    pub key: &'a [u8],
    /// The value as sent, if any.
    pub value: Option<&'a [u8]>,
}

/// Why [`mail_parameters`] refused the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError<'a> {
    /// `SIZE=` is not 1–19 decimal digits (`501 5.5.4`).
    BadSize,
    /// `BODY=` is neither 7BIT nor 8BITMIME (`501 5.5.4`).
    BadBody,
    /// Unknown, repeated or malformed (`555 5.5.4`).
    Unsupported(UnsupportedParam<'a>),
}

/// Check `MAIL FROM` parameters (the text after the path). Any repeated
/// parameter is refused like a bad one.
pub fn mail_parameters(s: &[u8]) -> Result<MailParameters<'_>, ParamError<'_>> {
    let mut p = MailParameters::default();
    for (key, value) in params(s) {
        let is = |k: &[u8]| eq_fold(key, k);
        match value {
            Some(v) if is(b"SIZE") && p.size.is_none() => {
                p.size = Some(parse_u64(v).ok_or(ParamError::BadSize)?)
            }
            Some(v) if is(b"BODY") && p.body.is_none() => {
                p.body = Some(if eq_fold(v, b"7BIT") {
                    Body::SevenBit
                } else if eq_fold(v, b"8BITMIME") {
                    Body::EightBitMime
                } else {
                    return Err(ParamError::BadBody);
                })
            }
            None if is(b"SMTPUTF8") && !p.smtputf8 => p.smtputf8 = true,
            Some(v) if is(b"RET") && p.ret.is_none() && eq_fold(v, b"FULL") => p.ret = Some(Ret::Full),
            Some(v) if is(b"RET") && p.ret.is_none() && eq_fold(v, b"HDRS") => p.ret = Some(Ret::Hdrs),
            // RFC 3461 §4.4: at most 100 characters (decoded, as Postfix counts).
            Some(v) if is(b"ENVID") && p.envid.is_empty() && is_xtext(v) && xtext_decoded_len(v) <= 100 => {
                p.envid = v
            }
            Some(v) if is(b"AUTH") && p.auth.is_empty() && (v == b"<>" || is_xtext(v)) => p.auth = v,
            _ => return Err(ParamError::Unsupported(UnsupportedParam { key, value })),
        }
    }
    Ok(p)
}

/// Check `RCPT TO` parameters (the text after the path). A repeated
/// NOTIFY or ORCPT is refused like a bad one.
pub fn rcpt_parameters(s: &[u8]) -> Result<RcptParameters<'_>, UnsupportedParam<'_>> {
    let mut p = RcptParameters::default();
    for (key, value) in params(s) {
        match value {
            Some(v) if eq_fold(key, b"NOTIFY") && p.notify.is_empty() && is_notify(v) => p.notify = v,
            Some(v) if eq_fold(key, b"ORCPT") && p.orcpt.is_empty() && is_orcpt(v) => p.orcpt = v,
            _ => return Err(UnsupportedParam { key, value }),
        }
    }
    Ok(p)
}

/// RFC 3461 §4 xtext, 1–500 octets: printable ASCII other than `+` and
/// `=`, or `+` and two hex digits (`+2B`); kept as sent, not decoded.
/// Hex digits of either case are taken (the RFC writes upper case; Postfix
/// takes both).
fn is_xtext(v: &[u8]) -> bool {
    if v.is_empty() || v.len() > 500 {
        return false;
    }
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' if v.len() > i + 2 && v[i + 1].is_ascii_hexdigit() && v[i + 2].is_ascii_hexdigit() => i += 3,
            b'+' | b'=' => return false,
            0x21..=0x7e => i += 1,
            _ => return false,
        }
    }
    true
}

/// Length of valid xtext once its `+XX` escapes are decoded.
fn xtext_decoded_len(v: &[u8]) -> usize {
    v.len() - 2 * v.iter().filter(|&&b| b == b'+').count()
}

/// RFC 3461 §4.2 `ORCPT=addr-type;xtext`: `addr-type` is an atom
/// (`rfc822`, `utf-8` of RFC 6533, …).
fn is_orcpt(v: &[u8]) -> bool {
    let Some(semi) = v.iter().position(|&b| b == b';') else {
        return false;
    };
    let atext = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(b);
    semi > 0 && v[..semi].iter().all(atext) && is_xtext(&v[semi + 1..])
}

/// `NEVER`, or a comma-separated list of `SUCCESS` / `FAILURE` / `DELAY`.
fn is_notify(v: &[u8]) -> bool {
    if eq_fold(v, b"NEVER") {
        return true;
    }
    let mut rest = v;
    loop {
        let word = match rest.first().map(|b| b & 0xDF) {
            Some(b'S') => b"SUCCESS".as_slice(),
            Some(b'F') => b"FAILURE",
            Some(b'D') => b"DELAY",
            _ => return false,
        };
        if rest.len() < word.len() || !eq_fold(&rest[..word.len()], word) {
            return false;
        }
        match &rest[word.len()..] {
            [] => return true,
            [b',', more @ ..] => rest = more,
            _ => return false,
        }
    }
}

/// Iterate over ESMTP parameters `KEY[=VALUE]` separated by spaces.
pub fn params(s: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    Params { rest: s }
}

/// One pass over the parameter text: each octet is looked at once.
struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let mut s = self.rest;
        while let [b' ' | b'\t', r @ ..] = s {
            s = r;
        }
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        // The key ends at the first '=' or separator; the value at the next separator.
        let k = find3(s, b'=', b' ', b'\t').unwrap_or(s.len());
        if k < s.len() && s[k] == b'=' {
            let v = &s[k + 1..];
            let end = find3(v, b' ', b'\t', b'\t').unwrap_or(v.len());
            self.rest = &v[end..];
            Some((&s[..k], Some(&v[..end])))
        } else {
            self.rest = &s[k..];
            Some((&s[..k], None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_parameters_as_the_session_takes_them() {
        let p = mail_parameters(b"SIZE=100 body=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B1 AUTH=<>").unwrap();
        assert_eq!(p.size, Some(100));
        assert_eq!(p.body, Some(Body::EightBitMime));
        assert!(p.smtputf8);
        assert_eq!(p.ret, Some(Ret::Hdrs));
        assert_eq!((p.envid, p.auth), (&b"QQ+2B1"[..], &b"<>"[..]));
        assert_eq!(mail_parameters(b""), Ok(MailParameters::default()));
        assert_eq!(mail_parameters(b"SIZE=1x"), Err(ParamError::BadSize));
        assert_eq!(mail_parameters(b"BODY=BINARYMIME"), Err(ParamError::BadBody));
        let unsupported = |key: &'static [u8], value: Option<&'static [u8]>| {
            Err(ParamError::Unsupported(UnsupportedParam { key, value }))
        };
        assert_eq!(
            mail_parameters(b"SIZE=1 SIZE=2"),
            unsupported(b"SIZE", Some(b"2"))
        );
        assert_eq!(mail_parameters(b"RET=ALL"), unsupported(b"RET", Some(b"ALL")));
        assert_eq!(
            mail_parameters(b"SMTPUTF8=yes"),
            unsupported(b"SMTPUTF8", Some(b"yes"))
        );
        assert_eq!(mail_parameters(b"XFOO"), unsupported(b"XFOO", None));
        // xtext: '+' must start a two-digit hex escape; '=' never appears.
        for bad in [
            &b"ENVID=a+"[..],
            b"ENVID=a+2",
            b"ENVID=a+zz",
            b"ENVID=a=b",
            b"ENVID=\xff",
        ] {
            assert!(mail_parameters(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(mail_parameters(&[b"ENVID=".as_slice(), &[b'x'; 501]].concat()).is_err());
        assert!(mail_parameters(b"ENVID=a+2b+3D").is_ok());
        // ENVID: at most 100 characters once decoded (RFC 3461 §4.4).
        assert!(mail_parameters(&[b"ENVID=".as_slice(), &[b'x'; 100]].concat()).is_ok());
        assert!(mail_parameters(&[b"ENVID=".as_slice(), &[b'x'; 101]].concat()).is_err());
        assert!(mail_parameters(&[b"ENVID=".as_slice(), &b"+2B".repeat(100)].concat()).is_ok());
    }

    #[test]
    fn rcpt_parameters_as_the_session_takes_them() {
        let p = rcpt_parameters(b"NOTIFY=SUCCESS,delay ORCPT=rfc822;ned+40example.org").unwrap();
        assert_eq!(
            (p.notify, p.orcpt),
            (&b"SUCCESS,delay"[..], &b"rfc822;ned+40example.org"[..])
        );
        assert!(rcpt_parameters(b"ORCPT=utf-8;ned@example.org").is_ok());
        for bad in [
            &b"NOTIFY=NEVER,SUCCESS"[..],
            b"NOTIFY=",
            b"NOTIFY=SUCCESS,",
            b"NOTIFY=SOMETIMES",
            b"ORCPT=ned@example.org",
            b"ORCPT=;ned@example.org",
            b"ORCPT=rfc822;",
            b"ORCPT=rfc 822;a",
            b"ORCPT=rfc822;a+4",
            b"NOTIFY=NEVER NOTIFY=NEVER",
            b"SIZE=1",
        ] {
            assert!(rcpt_parameters(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn verbs_case_insensitive() {
        assert_eq!(
            parse_command(b"ehlo client.example"),
            Ok(Command::Ehlo(b"client.example"))
        );
        assert_eq!(parse_command(b"NoOp whatever"), Ok(Command::Noop));
        assert_eq!(parse_command(b"quit"), Ok(Command::Quit));
        assert_eq!(parse_command(b"starttls"), Ok(Command::StartTls));
        assert_eq!(parse_command(b"EXPN list"), Ok(Command::Unknown));
    }

    #[test]
    fn mail_and_rcpt_paths() {
        assert_eq!(
            parse_command(b"MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME"),
            Ok(Command::Mail {
                path: b"a@b.example",
                params: b"SIZE=100 BODY=8BITMIME"
            })
        );
        assert_eq!(
            parse_command(b"mail from:<>"),
            Ok(Command::Mail {
                path: b"",
                params: b""
            })
        );
        assert_eq!(
            parse_command(b"MAIL FROM: <a@b>"),
            Ok(Command::Mail {
                path: b"a@b",
                params: b""
            })
        );
        assert_eq!(
            parse_command(b"MAIL FROM:a@b"),
            Ok(Command::Mail {
                path: b"a@b",
                params: b""
            })
        );
        assert_eq!(
            parse_command(b"RCPT TO:<\"x>y\"@b> NOTIFY=NEVER"),
            Ok(Command::Rcpt {
                path: b"\"x>y\"@b",
                params: b"NOTIFY=NEVER"
            })
        );
        assert_eq!(parse_command(b"MAIL TO:<a@b>"), Err(MAIL_SYNTAX));
        assert_eq!(parse_command(b"MAIL FROM:<a@b"), Err(MAIL_SYNTAX));
        assert_eq!(parse_command(b"MAIL FROM:<a@b>x"), Err(MAIL_SYNTAX));
        assert_eq!(parse_command(b"RCPT TO:"), Err(RCPT_SYNTAX));
    }

    #[test]
    fn bdat_and_auth() {
        assert_eq!(
            parse_command(b"BDAT 100 LAST"),
            Ok(Command::Bdat {
                size: 100,
                last: true
            })
        );
        assert_eq!(
            parse_command(b"BDAT 0"),
            Ok(Command::Bdat { size: 0, last: false })
        );
        assert_eq!(parse_command(b"BDAT -1"), Err(BDAT_SYNTAX));
        assert_eq!(parse_command(b"BDAT 99999999999999999999"), Err(BDAT_SYNTAX));
        assert_eq!(parse_command(b"BDAT 1 FIRST"), Err(BDAT_SYNTAX));
        assert_eq!(
            parse_command(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth {
                mechanism: b"PLAIN",
                initial_response: Some(b"AGEAYg==")
            })
        );
        assert_eq!(
            parse_command(b"AUTH LOGIN"),
            Ok(Command::Auth {
                mechanism: b"LOGIN",
                initial_response: None
            })
        );
        assert_eq!(parse_command(b"AUTH"), Err(AUTH_SYNTAX));
    }

    #[test]
    fn forbidden_and_syntax() {
        assert_eq!(parse_command(b"GET / HTTP/1.1"), Ok(Command::Forbidden));
        assert_eq!(parse_command(b"Host: example"), Ok(Command::Forbidden));
        assert_eq!(parse_command(b"\x16\x03\x01"), Ok(Command::Forbidden));
        assert_eq!(parse_command(b""), Err(EMPTY));
        assert_eq!(parse_command(b"DATA x"), Err(DATA_SYNTAX));
        assert_eq!(parse_command(b"EHLO"), Err(EHLO_SYNTAX));
    }

    proptest::proptest! {
        #[test]
        fn fast_path_agrees_with_general_parser(
            verb in proptest::sample::select(vec![
                "MAIL", "mail", "RCPT", "rcpt", "EHLO", "HELO", "DATA", "BDAT", "RSET", "NOOP",
                "QUIT", "VRFY", "HELP", "AUTH", "POST", "GET ", "MA L", "M\u{1}IL", "EXPN", "X:YZ",
            ]),
            sep in proptest::sample::select(vec!["", " ", "  ", "\t", " \t", ":"]),
            args in proptest::collection::vec(proptest::prop_oneof![
                proptest::sample::select(b"FROM:TO<>\" @\\.=,\tLAST".to_vec()),
                proptest::prelude::any::<u8>(),
            ], 0..40),
        ) {
            let mut line = verb.as_bytes().to_vec();
            line.extend_from_slice(sep.as_bytes());
            line.extend_from_slice(&args);
            proptest::prop_assert_eq!(parse_command(&line), parse_general(&line));
        }

        #[test]
        fn params_match_split_definition(text in proptest::collection::vec(
            proptest::sample::select(b"ab= \t=x".to_vec()), 0..40)) {
            let reference: Vec<_> = text
                .split(|b| *b == b' ' || *b == b'\t')
                .filter(|p| !p.is_empty())
                .map(|p| match p.iter().position(|b| *b == b'=') {
                    Some(i) => (&p[..i], Some(&p[i + 1..])),
                    None => (p, None),
                })
                .collect();
            proptest::prop_assert_eq!(params(&text).collect::<Vec<_>>(), reference);
        }
    }

    #[test]
    fn words_of_every_length() {
        let s = b"0123456789";
        for n in 0..=8 {
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(&s[..n]);
            assert_eq!(word(&s[..n]), u64::from_le_bytes(w), "{n}");
            assert_eq!(short_word(&s[..n]), u64::from_le_bytes(w), "{n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn find3_is_position(s in proptest::collection::vec(
            proptest::sample::select(b"ab<>\"xyz".to_vec()), 0..70)) {
            proptest::prop_assert_eq!(
                find3(&s, b'<', b'>', b'"'),
                s.iter().position(|b| matches!(b, b'<' | b'>' | b'"'))
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn eq_fold_is_eq_ignore_ascii_case(
            a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            flips in proptest::collection::vec(proptest::prelude::any::<bool>(), 20),
        ) {
            let b: Vec<u8> = a.iter().zip(&flips).map(|(c, f)| if *f { c ^ 0x20 } else { *c }).collect();
            proptest::prop_assert_eq!(eq_fold(&a, &b), a.eq_ignore_ascii_case(&b));
            proptest::prop_assert_eq!(eq_fold_runtime(&a, &b), a.eq_ignore_ascii_case(&b));
            proptest::prop_assert!(eq_fold(&a, &a.to_ascii_uppercase()));
        }
    }

    #[test]
    fn colon_is_not_folded() {
        assert_eq!(parse_command(b"MAIL FROM\x1a<a@b>"), Err(MAIL_SYNTAX));
        assert_eq!(parse_command(b"RCPT to\x1a<a@b>"), Err(RCPT_SYNTAX));
        assert_eq!(
            parse_command(b"rcpt to:  <a@b>  "),
            Ok(Command::Rcpt {
                path: b"a@b",
                params: b""
            })
        );
    }

    #[test]
    fn param_iteration() {
        let p: Vec<_> = params(b"SIZE=10  SMTPUTF8 BODY=").collect();
        assert_eq!(
            p,
            vec![
                (&b"SIZE"[..], Some(&b"10"[..])),
                (b"SMTPUTF8", None),
                (b"BODY", Some(b""))
            ]
        );
    }
}
