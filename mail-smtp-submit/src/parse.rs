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
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, SyntaxError> {
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
    let no_args = |cmd: Command<'static>, err: SyntaxError| if args.is_empty() { Ok(cmd) } else { Err(err) };
    if verb.len() > 8 {
        return Ok(if verb.ends_with(b":") {
            Command::Forbidden
        } else {
            Command::Unknown
        });
    }
    Ok(match verb_key(verb) {
        MAIL => {
            let (path, params) = path_and_params(args, b"FROM:").ok_or(MAIL_SYNTAX)?;
            Command::Mail { path, params }
        }
        RCPT => {
            let (path, params) = path_and_params(args, b"TO:").ok_or(RCPT_SYNTAX)?;
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
fn path_and_params<'a>(args: &'a [u8], keyword: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if args.len() < keyword.len() || !args[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = trim(&args[keyword.len()..]);
    if rest.is_empty() {
        return None;
    }
    if rest[0] == b'<' {
        let end = closing_bracket(rest)?;
        let after = &rest[end + 1..];
        if !after.is_empty() && after[0] != b' ' && after[0] != b'\t' {
            return None;
        }
        Some((&rest[1..end], trim(after)))
    } else {
        let end = memchr::memchr2(b' ', b'\t', rest).unwrap_or(rest.len());
        let path = &rest[..end];
        if path.contains(&b'>') {
            return None;
        }
        Some((path, trim(&rest[end..])))
    }
}

/// Index of the `>` closing a path that starts with `<`, skipping quoted strings.
fn closing_bracket(s: &[u8]) -> Option<usize> {
    if let Some(i) = memchr::memchr3(b'>', b'"', b'<', &s[1..]) {
        if s[1 + i] == b'>' {
            return Some(1 + i);
        }
    }
    let mut quoted = false;
    let mut i = 1;
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

/// Iterate over ESMTP parameters `KEY[=VALUE]` separated by spaces.
pub fn params(s: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    s.split(|b| *b == b' ' || *b == b'\t')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
