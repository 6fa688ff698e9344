//! Command framing: lines, literals (`{n}` with a continuation request,
//! `{n+}` LITERAL+), and the limits on each.
//!
//! The reader is incremental: [`mail_proto::LineReader`] remembers how far it
//! has scanned, literal octets are taken raw as they arrive and only their
//! count is tracked, so feeding a command one byte at a time costs the same
//! as feeding it at once, and nothing is parsed twice.

use mail_proto::{Line, LineReader};

use crate::parse::{parse_command, Command, ParseError};

/// Size limits of the command reader. Exceeding one gives a `BAD` or
/// `NO [TOOBIG]` reply and the connection stays usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line in octets, CRLF excluded (Dovecot's `imap_max_line_length` is 64 KiB).
    pub max_line: usize,
    /// Largest literal accepted (this server has no APPEND: literals are
    /// user names, passwords, mailbox names and search strings).
    pub max_literal: usize,
    /// Largest complete command: all its lines and literals.
    pub max_command: usize,
    /// Largest message an APPEND may carry (after login only; the message is
    /// held in memory until the caller stores it).
    pub max_append: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 65_536,
            max_literal: 65_536,
            max_command: 131_072,
            max_append: 16 * 1024 * 1024,
        }
    }
}

/// What the reader produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete command, parsed (or why it could not be).
    Command(Result<Command<'a>, ParseError<'a>>),
    /// A synchronizing literal `{n}` within limits was announced: send
    /// `+ Ready for literal data` so the client sends it.
    Continue,
    /// A line exceeded [`Limits::max_line`]; its bytes were dropped
    /// (`* BAD [TOOBIG]`).
    LineTooLong,
    /// A literal or the whole command exceeded its limit; the command was
    /// dropped (non-synchronizing literal octets are skipped as they arrive).
    /// The tag, if one was read, is given for the tagged `NO [TOOBIG]`.
    TooBig {
        /// The command's tag, or empty when none could be read.
        tag: &'a [u8],
    },
}

/// Incremental IMAP command framer. See the module docs.
#[derive(Debug, Clone)]
pub struct CommandReader {
    lines: LineReader,
    limits: Limits,
    /// The command being assembled: its lines with literals inlined.
    cmd: Vec<u8>,
    /// Literal octets still expected.
    literal_left: u64,
    /// Dropping the rest of an over-limit command.
    discarding: bool,
    /// Tag of a dropped command.
    tag: Vec<u8>,
    /// `cmd` holds the first lines of a command waiting for literal octets.
    partial: bool,
    /// APPEND literals may use [`Limits::max_append`] (set once logged in).
    append_allowed: bool,
}

/// A literal announcement at the end of a line: `{n}` or `{n+}`.
fn trailing_literal(line: &[u8]) -> Option<(u64, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', body)?;
    let mut digits = &body[open + 1..];
    let non_sync = digits.last() == Some(&b'+');
    if non_sync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || digits.len() > 40 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturating: an absurd size is simply "too big".
    let n = digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some((n, non_sync))
}

fn leading_tag(line: &[u8]) -> &[u8] {
    let end = memchr::memchr(b' ', line).unwrap_or(line.len()).min(64);
    &line[..end]
}

impl CommandReader {
    /// A reader with the given limits.
    pub fn new(limits: Limits) -> Self {
        CommandReader {
            lines: LineReader::new(limits.max_line),
            limits,
            cmd: Vec::new(),
            literal_left: 0,
            discarding: false,
            tag: Vec::new(),
            partial: false,
            append_allowed: false,
        }
    }

    /// Allow APPEND's large literals ([`Limits::max_append`]); the session
    /// turns this on after login, so an unauthenticated peer cannot make it
    /// buffer more than [`Limits::max_command`].
    pub fn set_append_allowed(&mut self, allowed: bool) {
        self.append_allowed = allowed;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.lines.push(data);
    }

    /// Unprocessed bytes held (buffered input, not the command being assembled).
    pub fn buffered(&self) -> usize {
        self.lines.buffered()
    }

    /// Drop everything: buffered input and any partly read command.
    /// Returns the number of buffered input bytes dropped.
    pub fn clear(&mut self) -> usize {
        self.cmd.clear();
        self.literal_left = 0;
        self.discarding = false;
        self.partial = false;
        self.lines.clear()
    }

    /// The next raw line (SASL continuation responses, IDLE's `DONE`).
    /// Only meaningful between commands.
    pub fn next_raw_line(&mut self) -> Option<Line<'_>> {
        self.lines.next_line()
    }

    /// The next frame, or `None` when more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        if !self.partial {
            self.cmd.clear();
        }
        loop {
            if self.literal_left > 0 {
                let pending = self.lines.pending();
                if pending.is_empty() {
                    return None;
                }
                let n = pending
                    .len()
                    .min(usize::try_from(self.literal_left).unwrap_or(usize::MAX));
                if !self.discarding {
                    self.cmd.extend_from_slice(&pending[..n]);
                }
                self.lines.consume(n);
                self.literal_left -= n as u64;
                continue;
            }
            let line = match self.lines.next_line()? {
                Line::TooLong => {
                    // The command this line belonged to cannot be completed.
                    self.cmd.clear();
                    self.partial = false;
                    self.discarding = false;
                    return Some(Frame::LineTooLong);
                }
                Line::Complete(line) => line,
            };
            if self.discarding {
                if let Some((n, _)) = trailing_literal(line) {
                    // A later literal of a dropped command: skip it too.
                    self.literal_left = n;
                    continue;
                }
                self.discarding = false;
                return Some(Frame::TooBig { tag: &self.tag });
            }
            let literal = trailing_literal(line);
            let total = (self.cmd.len() as u64 + line.len() as u64)
                .saturating_add(literal.map_or(0, |(n, _)| n.saturating_add(2)));
            let is_append = self.append_allowed && {
                let first = if self.cmd.is_empty() { line } else { &self.cmd[..] };
                first
                    .split(|&b| b == b' ')
                    .nth(1)
                    .is_some_and(|verb| verb.eq_ignore_ascii_case(b"APPEND"))
            };
            let (max_literal, max_command) = if is_append {
                (
                    self.limits.max_append,
                    self.limits.max_append.saturating_add(self.limits.max_command),
                )
            } else {
                (self.limits.max_literal, self.limits.max_command)
            };
            let too_big = total > max_command as u64 || literal.is_some_and(|(n, _)| n > max_literal as u64);
            if too_big {
                self.tag.clear();
                self.tag
                    .extend_from_slice(leading_tag(if self.cmd.is_empty() { line } else { &self.cmd }));
                self.cmd.clear();
                self.partial = false;
                match literal {
                    Some((n, true)) => {
                        // LITERAL+: the client sends the octets regardless; skip them
                        // and the rest of the command, then answer.
                        self.discarding = true;
                        self.literal_left = n;
                        continue;
                    }
                    _ => return Some(Frame::TooBig { tag: &self.tag }),
                }
            }
            self.cmd.extend_from_slice(line);
            match literal {
                Some((n, non_sync)) => {
                    self.cmd.extend_from_slice(b"\r\n");
                    self.partial = true;
                    self.literal_left = n;
                    if !non_sync {
                        return Some(Frame::Continue);
                    }
                }
                None => break,
            }
        }
        self.partial = false;
        Some(Frame::Command(parse_command(&self.cmd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::CommandBody;

    fn frames(reader: &mut CommandReader) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(f) = reader.next_frame() {
            out.push(match f {
                Frame::Command(Ok(c)) => format!("{} {}", String::from_utf8_lossy(c.tag), c.body.name()),
                Frame::Command(Err(e)) => format!("BAD {:?}", e.tag.map(String::from_utf8_lossy)),
                Frame::Continue => "+".into(),
                Frame::LineTooLong => "TOOLONG".into(),
                Frame::TooBig { tag } => format!("TOOBIG {}", String::from_utf8_lossy(tag)),
            });
        }
        out
    }

    fn small() -> CommandReader {
        CommandReader::new(Limits {
            max_line: 100,
            max_literal: 20,
            max_command: 200,
            max_append: 1000,
        })
    }

    #[test]
    fn literals_sync_and_nonsync() {
        let mut r = small();
        r.push(b"a LOGIN {3}\r\n");
        assert_eq!(frames(&mut r), vec!["+"]);
        r.push(b"ned {6+}\r\nsecret\r\nb NOOP\r\n");
        assert_eq!(frames(&mut r), vec!["a LOGIN", "b NOOP"]);
        r.push(b"c LOGIN {0}\r\n");
        assert_eq!(frames(&mut r), vec!["+"]);
        r.push(b" {0+}\r\n\r\n");
        assert_eq!(frames(&mut r), vec!["c LOGIN"]);
    }

    #[test]
    fn literal_may_contain_crlf_and_braces() {
        let mut r = small();
        r.push(b"a LOGIN {5+}\r\nx\r\n{1 pw\r\n");
        let Some(Frame::Command(Ok(c))) = r.next_frame() else {
            panic!()
        };
        assert!(matches!(c.body, CommandBody::Login { ref username, .. } if **username == *b"x\r\n{1"));
    }

    #[test]
    fn oversized_literals_keep_connection_usable() {
        let mut r = small();
        r.push(b"a LOGIN {21}\r\nb NOOP\r\n");
        assert_eq!(frames(&mut r), vec!["TOOBIG a", "b NOOP"]);
        // Non-synchronizing: the 30 octets (with a fake command inside) are skipped.
        r.push(b"c LOGIN {30+}\r\nd LOGOUT\r\nxxxxxxxxxxxxxxxxxxxx {2+}\r\nzz\r\ne NOOP\r\n");
        assert_eq!(frames(&mut r), vec!["TOOBIG c", "e NOOP"]);
        r.push(b"f LOGIN {18446744073709551615}\r\ng NOOP\r\n");
        assert_eq!(frames(&mut r), vec!["TOOBIG f", "g NOOP"]);
    }

    #[test]
    fn append_literals_only_after_login() {
        let mut r = small();
        r.push(b"a APPEND INBOX {500}\r\n");
        assert_eq!(frames(&mut r), vec!["TOOBIG a"]);
        r.set_append_allowed(true);
        r.push(b"b APPEND INBOX {500}\r\n");
        assert_eq!(frames(&mut r), vec!["+"]);
        r.push(&[b'x'; 500]);
        r.push(b"\r\nc append INBOX {1001}\r\n");
        assert_eq!(frames(&mut r), vec!["b APPEND", "TOOBIG c"]);
    }

    #[test]
    fn long_lines_and_commands() {
        let mut r = small();
        r.push(&[b'x'; 500]);
        r.push(b"\r\nb NOOP\r\n");
        assert_eq!(frames(&mut r), vec!["TOOLONG", "b NOOP"]);
        // Many literals adding up past max_command.
        let mut r = small();
        r.push(b"a LOGIN {20+}\r\n");
        for _ in 0..20 {
            r.push(b"aaaaaaaaaaaaaaaaaaaa {20+}\r\n");
        }
        r.push(b"aaaaaaaaaaaaaaaaaaaa\r\nz NOOP\r\n");
        assert_eq!(frames(&mut r), vec!["TOOBIG a", "z NOOP"]);
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let input: &[u8] = b"a LOGIN {3}\r\nned {6+}\r\nsecret\r\nb UID FETCH 1:* (FLAGS)\r\nc {1}\r\n";
        let mut whole = small();
        whole.push(input);
        let expected = frames(&mut whole);
        let mut r = small();
        let mut got = Vec::new();
        for b in input {
            r.push(std::slice::from_ref(b));
            got.extend(frames(&mut r));
        }
        assert_eq!(got, expected);
    }
}
