//! Line-level codec shared by both roles: field splitting, optional
//! parameters, and a line builder that escapes every value it is given.

use mail_proto::{Line, LineReader};

use super::escape::{escape_into, unescape};

/// Dovecot's `AUTH_CLIENT_MAX_LINE_LENGTH`: lines longer than this (LF
/// excluded) are refused and the connection is closed.
pub const MAX_LINE: usize = 16384;

/// Protocol version this crate speaks (Dovecot 2.3 sends `1 2`).
pub const VERSION_MAJOR: u32 = 1;
/// Minor protocol version sent in our `VERSION` line.
pub const VERSION_MINOR: u32 = 2;

/// Notices a line growing past [`MAX_LINE`] while its LF has not arrived,
/// so the connection can be refused at once instead of at the line's end.
/// Looks at every received byte exactly once, whatever the chunking.
#[derive(Debug, Default)]
pub(crate) struct OverflowGuard {
    partial: usize,
    overflow: bool,
}

impl OverflowGuard {
    pub fn received(&mut self, data: &[u8]) {
        match memchr::memrchr(b'\n', data) {
            Some(lf) => self.partial = data.len() - lf - 1,
            None => self.partial = self.partial.saturating_add(data.len()),
        }
        // One extra octet for a CR before the LF.
        if self.partial > MAX_LINE + 1 {
            self.overflow = true;
        }
    }

    /// Whether an unterminated line already exceeds the limit.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
}

/// Line framing shared by both roles: a bounded [`LineReader`] plus an
/// [`OverflowGuard`] that refuses an over-long line before its LF arrives.
#[derive(Debug)]
pub(crate) struct Framer {
    reader: LineReader,
    guard: OverflowGuard,
}

impl Framer {
    pub fn new() -> Self {
        Framer {
            reader: LineReader::new(MAX_LINE),
            guard: OverflowGuard::default(),
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.guard.received(data);
        self.reader.push(data);
    }

    /// Octets buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// The next complete line; `Err` (a protocol error to report) for a
    /// line over [`MAX_LINE`]; `None` when more input is needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, String>> {
        let next = self.reader.next_line();
        if next.is_none() && self.guard.overflowed() {
            return Some(Err(format!("line longer than {MAX_LINE} octets")));
        }
        match next? {
            Line::TooLong => Some(Err(format!("line longer than {MAX_LINE} octets"))),
            Line::Complete(line) => Some(Ok(line.to_vec())),
        }
    }
}

/// Split a line (without LF) at TAB into raw (still escaped) fields.
pub(crate) fn split(line: &[u8]) -> Vec<&[u8]> {
    line.split(|b| *b == b'\t').collect()
}

/// A parsed optional parameter: `name=value` or a bare boolean `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub name: &'a [u8],
    /// Unescaped value; `None` for a boolean.
    pub value: Option<Vec<u8>>,
}

pub(crate) fn param(field: &[u8]) -> Param<'_> {
    match field.iter().position(|b| *b == b'=') {
        Some(eq) => Param {
            name: &field[..eq],
            value: Some(unescape(&field[eq + 1..])),
        },
        None => Param {
            name: field,
            value: None,
        },
    }
}

/// Parse a request id: decimal, no sign, fits in `u32`.
pub(crate) fn parse_id(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 10 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Builds one output line. Values given to [`field`](Self::field) and
/// [`param`](Self::param) are escaped; only [`raw`](Self::raw) writes bytes
/// as they are, and it is given constants and numbers only.
pub(crate) struct LineBuilder {
    buf: Vec<u8>,
}

impl LineBuilder {
    pub fn new(command: &str) -> Self {
        Self {
            buf: command.as_bytes().to_vec(),
        }
    }

    /// A TAB and a constant or numeric field.
    pub fn raw(mut self, field: &str) -> Self {
        self.buf.push(b'\t');
        self.buf.extend_from_slice(field.as_bytes());
        self
    }

    /// A TAB and an escaped value.
    pub fn field(mut self, value: &[u8]) -> Self {
        self.buf.push(b'\t');
        escape_into(value, &mut self.buf);
        self
    }

    /// A TAB and `name=<escaped value>`.
    pub fn param(mut self, name: &str, value: &[u8]) -> Self {
        self.buf.push(b'\t');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'=');
        escape_into(value, &mut self.buf);
        self
    }

    /// A TAB and the bare boolean parameter `name` when `on`.
    pub fn flag(self, name: &str, on: bool) -> Self {
        if on {
            self.raw(name)
        } else {
            self
        }
    }

    /// Length of the line so far (LF excluded).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Append the line and its LF to `out`.
    pub fn finish_into(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_tab_and_lf_stay_inside_one_field() {
        let mut out = Vec::new();
        LineBuilder::new("OK")
            .raw("7")
            .param("user", b"alice\tuser=root\nOK\t8\tuser=root")
            .finish_into(&mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        let line = &out[..out.len() - 1];
        let fields = split(line);
        assert_eq!(fields.len(), 3);
        assert_eq!(
            param(fields[2]).value.unwrap(),
            b"alice\tuser=root\nOK\t8\tuser=root"
        );
    }

    #[test]
    fn ids_and_params() {
        assert_eq!(parse_id(b"42"), Some(42));
        assert_eq!(parse_id(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_id(b"4294967296"), None);
        assert_eq!(parse_id(b"-1"), None);
        assert_eq!(parse_id(b""), None);
        assert_eq!(
            param(b"secured"),
            Param {
                name: b"secured",
                value: None
            }
        );
        assert_eq!(param(b"resp=a=b").value.as_deref(), Some(&b"a=b"[..]));
    }
}
