//! POP3 command lines (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
//!
//! [`parse_command`] takes one line without its CRLF and borrows its
//! arguments from it: no allocation, no copying.

/// A parsed command line. Arguments borrow from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `USER name` (the rest of the line is the name).
    User(&'a [u8]),
    /// `PASS secret` (the rest of the line, spaces included, is the password).
    Pass(&'a [u8]),
    /// `APOP name digest`.
    Apop {
        /// The mailbox name.
        user: &'a [u8],
        /// The 32 hex digits of MD5(timestamp + secret), not yet decoded.
        digest: &'a [u8],
    },
    /// `AUTH [mechanism [initial-response]]` (RFC 5034; no argument lists mechanisms).
    Auth {
        /// The mechanism name as sent.
        mechanism: Option<&'a [u8]>,
        /// The base64 initial response (`=` for an empty one), not yet decoded.
        initial_response: Option<&'a [u8]>,
    },
    /// `CAPA`.
    Capa,
    /// `STLS`.
    Stls,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `DELE msg`.
    Dele(u32),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `TOP msg n`.
    Top {
        /// Message number (1-based).
        msg: u32,
        /// Body lines wanted.
        lines: u32,
    },
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
    /// `QUIT`.
    Quit,
}

/// Why a command line was refused. `Display` is the text after `-ERR `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a POP3 command this server knows.
    #[error("Unknown command.")]
    Unknown,
    /// A known command with missing, extra or malformed arguments.
    #[error("{0}")]
    Syntax(&'static str),
}

const fn key(k: &[u8]) -> u32 {
    let mut v = 0u32;
    let mut i = 0;
    while i < k.len() {
        v = (v << 8) | k[i] as u32;
        i += 1;
    }
    v
}

const USER: u32 = key(b"USER");
const PASS: u32 = key(b"PASS");
const APOP: u32 = key(b"APOP");
const AUTH: u32 = key(b"AUTH");
const CAPA: u32 = key(b"CAPA");
const STLS: u32 = key(b"STLS");
const STAT: u32 = key(b"STAT");
const LIST: u32 = key(b"LIST");
const RETR: u32 = key(b"RETR");
const DELE: u32 = key(b"DELE");
const NOOP: u32 = key(b"NOOP");
const RSET: u32 = key(b"RSET");
const TOP: u32 = key(b"TOP");
const UIDL: u32 = key(b"UIDL");
const QUIT: u32 = key(b"QUIT");

/// Parse one command line (CRLF already removed).
///
/// Keywords are case-insensitive. Arguments are separated by spaces;
/// `USER` and `PASS` take the rest of the line verbatim (passwords may hold
/// spaces). Message numbers are decimal; one too large for `u32` becomes
/// `u32::MAX`, which no maildrop holds, so it gets "no such message".
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, ParseError> {
    let (kw, rest) = match memchr::memchr(b' ', line) {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (line, &[][..]),
    };
    if kw.len() < 3 || kw.len() > 4 {
        return Err(ParseError::Unknown);
    }
    let mut k = 0u32;
    for &b in kw {
        // Letters only: a NUL (or any other octet) must not fold into a
        // shorter keyword ("\0TOP" is not TOP).
        if !b.is_ascii_alphabetic() {
            return Err(ParseError::Unknown);
        }
        k = (k << 8) | b.to_ascii_uppercase() as u32;
    }
    match k {
        USER => rest_arg(rest, "USER needs a user name.").map(Command::User),
        PASS => {
            // The password is the rest of the line, spaces included; it may be empty
            // only if the client sent "PASS " (some clients do for empty passwords).
            if line.len() == kw.len() {
                return Err(ParseError::Syntax("PASS needs a password."));
            }
            Ok(Command::Pass(rest))
        }
        APOP => {
            let mut args = Args(rest);
            let user = args
                .next()
                .ok_or(ParseError::Syntax("APOP needs a name and a digest."))?;
            let digest = args
                .next()
                .ok_or(ParseError::Syntax("APOP needs a name and a digest."))?;
            args.end()?;
            Ok(Command::Apop { user, digest })
        }
        AUTH => {
            let mut args = Args(rest);
            let mechanism = args.next();
            let initial_response = args.next();
            args.end()?;
            Ok(Command::Auth {
                mechanism,
                initial_response,
            })
        }
        CAPA => no_args(rest, Command::Capa),
        STLS => no_args(rest, Command::Stls),
        STAT => no_args(rest, Command::Stat),
        NOOP => no_args(rest, Command::Noop),
        RSET => no_args(rest, Command::Rset),
        QUIT => no_args(rest, Command::Quit),
        LIST => opt_msg(rest).map(Command::List),
        UIDL => opt_msg(rest).map(Command::Uidl),
        RETR => one_msg(rest).map(Command::Retr),
        DELE => one_msg(rest).map(Command::Dele),
        TOP => {
            let mut args = Args(rest);
            let msg = args
                .next()
                .ok_or(ParseError::Syntax("TOP needs a message number and a line count."))?;
            let lines = args
                .next()
                .ok_or(ParseError::Syntax("TOP needs a message number and a line count."))?;
            args.end()?;
            Ok(Command::Top {
                msg: number(msg)?,
                lines: number(lines).map_err(|_| ParseError::Syntax("Invalid line count."))?,
            })
        }
        _ => Err(ParseError::Unknown),
    }
}

/// Space-separated arguments (runs of spaces count as one separator).
struct Args<'a>(&'a [u8]);

impl<'a> Args<'a> {
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.0.iter().position(|&b| b != b' ')?;
        let s = &self.0[start..];
        let end = memchr::memchr(b' ', s).unwrap_or(s.len());
        self.0 = &s[end..];
        Some(&s[..end])
    }

    fn end(&mut self) -> Result<(), ParseError> {
        match self.next() {
            None => Ok(()),
            Some(_) => Err(ParseError::Syntax("Too many arguments.")),
        }
    }
}

fn rest_arg<'a>(rest: &'a [u8], missing: &'static str) -> Result<&'a [u8], ParseError> {
    if rest.is_empty() {
        Err(ParseError::Syntax(missing))
    } else {
        Ok(rest)
    }
}

fn no_args<'a>(rest: &[u8], cmd: Command<'a>) -> Result<Command<'a>, ParseError> {
    Args(rest).end().map(|()| cmd)
}

fn opt_msg(rest: &[u8]) -> Result<Option<u32>, ParseError> {
    let mut args = Args(rest);
    let msg = args.next().map(number).transpose()?;
    args.end()?;
    Ok(msg)
}

fn one_msg(rest: &[u8]) -> Result<u32, ParseError> {
    opt_msg(rest)?.ok_or(ParseError::Syntax("Message number missing."))
}

fn number(arg: &[u8]) -> Result<u32, ParseError> {
    if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Syntax("Invalid message number."));
    }
    let mut n = 0u32;
    for &d in arg {
        n = match n.checked_mul(10).and_then(|n| n.checked_add(u32::from(d - b'0'))) {
            Some(n) => n,
            None => return Ok(u32::MAX),
        };
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_letters_only() {
        // Found by the pop3_differential fuzz target: a leading NUL added
        // nothing to the folded keyword, so "\0TOP" parsed as TOP.
        assert_eq!(parse_command(b"\0TOP 1 2"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"\0\0\0\0"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"ST4T"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"tOp 1 2"), Ok(Command::Top { msg: 1, lines: 2 }));
    }

    #[test]
    fn commands_and_arguments() {
        assert_eq!(parse_command(b"user ned"), Ok(Command::User(b"ned")));
        assert_eq!(
            parse_command(b"PASS two words "),
            Ok(Command::Pass(b"two words "))
        );
        assert_eq!(parse_command(b"PASS "), Ok(Command::Pass(b"")));
        assert_eq!(
            parse_command(b"PASS"),
            Err(ParseError::Syntax("PASS needs a password."))
        );
        assert_eq!(parse_command(b"LIST"), Ok(Command::List(None)));
        assert_eq!(parse_command(b"list  2"), Ok(Command::List(Some(2))));
        assert_eq!(parse_command(b"TOP 1 10"), Ok(Command::Top { msg: 1, lines: 10 }));
        assert_eq!(parse_command(b"RETR 99999999999"), Ok(Command::Retr(u32::MAX)));
        assert_eq!(
            parse_command(b"RETR"),
            Err(ParseError::Syntax("Message number missing."))
        );
        assert_eq!(
            parse_command(b"RETR -1"),
            Err(ParseError::Syntax("Invalid message number."))
        );
        assert_eq!(
            parse_command(b"STAT x"),
            Err(ParseError::Syntax("Too many arguments."))
        );
        assert_eq!(parse_command(b"QUIT "), Ok(Command::Quit));
        assert_eq!(
            parse_command(b"AUTH PLAIN AGZvbwBiYXI="),
            Ok(Command::Auth {
                mechanism: Some(b"PLAIN"),
                initial_response: Some(b"AGZvbwBiYXI=")
            })
        );
        assert_eq!(
            parse_command(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial_response: None
            })
        );
        assert_eq!(
            parse_command(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Ok(Command::Apop {
                user: b"mrose",
                digest: b"c4c9334bac560ecc979e58001b3e22fb"
            })
        );
        assert_eq!(parse_command(b"XYZZY"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b""), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"GET / HTTP/1.1"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"\xff\xfe\xfd\xfc"), Err(ParseError::Unknown));
    }
}
