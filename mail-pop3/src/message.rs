//! Message bytes on the wire: CRLF line endings, dot-stuffing, TOP limits.
//!
//! The caller hands the stored message bytes over in chunks of any size; the
//! same transformation gives both what `RETR`/`TOP` send and the size that
//! `LIST`/`STAT` announce, so the two always agree:
//!
//! * every line ending (`\n` or `\r\n`) becomes `\r\n` (Maildir files usually
//!   hold bare `\n`);
//! * a last line without a line ending gets `\r\n`; when it ends with a
//!   lone `\r` (a line ending cut in half), only the missing `\n` is added;
//! * a line starting with `.` gets one more `.` (dot-stuffing; not counted in
//!   the size, RFC 1939 §11);
//! * `TOP msg n` stops after the headers, the blank line and `n` body lines.

use mail_proto::dot::{copy_lines, copy_until_hazard, find_hazard, DotLines, ScanFor};

/// Where transformed bytes go.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    /// Put the prefix of `src` up to its first hazard (see
    /// `mail_proto::dot`) and return that prefix's length.
    #[inline]
    fn put_until_hazard(&mut self, src: &[u8], prev_cr: bool, scan: ScanFor) -> usize {
        let k = find_hazard(src, prev_cr, scan).unwrap_or(src.len());
        self.put(&src[..k]);
        k
    }

    /// Like `put_until_hazard` with dot lines, but a sink may stuff the
    /// dots of CRLF-ended lines itself and go on (`Vec`: one pass).
    #[inline]
    fn put_stuffed_lines(&mut self, src: &[u8], prev_cr: bool) -> usize {
        self.put_until_hazard(src, prev_cr, ScanFor::BareLfOrDotLine)
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    /// Test and copy in one pass.
    #[inline]
    fn put_until_hazard(&mut self, src: &[u8], prev_cr: bool, scan: ScanFor) -> usize {
        copy_until_hazard(src, prev_cr, scan, self)
    }

    /// Test, copy and stuff in one pass.
    #[inline]
    fn put_stuffed_lines(&mut self, src: &[u8], prev_cr: bool) -> usize {
        copy_lines(src, prev_cr, DotLines::Stuff, self)
    }
}

struct Counter(u64);

impl Sink for Counter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len() as u64;
    }
}

/// The streaming state of one message being sent (or measured).
#[derive(Debug, Clone)]
pub(crate) struct Stuffer {
    at_line_start: bool,
    /// The current (unfinished) line's last byte was `\r`.
    prev_cr: bool,
    /// Octets of the current unfinished line seen in earlier chunks.
    line_len: usize,
    in_headers: bool,
    /// Body lines still to send (`None`: all, i.e. RETR).
    body_lines_left: Option<u32>,
    /// TOP's limit was reached: ignore the rest.
    done: bool,
    stuff: bool,
}

impl Stuffer {
    pub(crate) fn new(top_lines: Option<u32>, stuff: bool) -> Self {
        Self {
            at_line_start: true,
            prev_cr: false,
            line_len: 0,
            in_headers: true,
            body_lines_left: top_lines,
            done: false,
            stuff,
        }
    }

    /// Whether more input would still produce output.
    pub(crate) fn wants_more(&self) -> bool {
        !self.done
    }

    #[inline]
    fn top_reached(&self) -> bool {
        !self.in_headers && self.body_lines_left == Some(0)
    }

    #[inline]
    fn end_line(&mut self, empty: bool) {
        self.line_len = 0;
        self.prev_cr = false;
        self.at_line_start = true;
        if self.in_headers {
            if empty {
                self.in_headers = false;
            }
        } else if let Some(n) = self.body_lines_left.as_mut() {
            *n = n.saturating_sub(1);
        }
    }

    /// Transform one chunk into `out`.
    pub(crate) fn feed<S: Sink>(&mut self, chunk: &[u8], out: &mut S) {
        if self.body_lines_left.is_some() {
            return self.feed_lines(chunk, out);
        }
        // RETR (and the size count) fast path: bytes up to the next LF that
        // is bare or (when dot-stuffing) followed by '.' or by the end of the
        // chunk go out unchanged in one piece (`mail_proto::dot`, SIMD where
        // available); only such LFs and the byte after them need a decision
        // here. Line/header bookkeeping only matters for TOP (`feed_lines`),
        // so skipping it here is safe.
        let mut i = 0;
        while i < chunk.len() {
            if self.at_line_start {
                // The line's first byte; a dot gets one more.
                if self.stuff && chunk[i] == b'.' {
                    out.put(b".");
                }
                self.at_line_start = false;
            }
            let rest = &chunk[i..];
            let k = if self.stuff {
                out.put_stuffed_lines(rest, self.prev_cr)
            } else {
                out.put_until_hazard(rest, self.prev_cr, ScanFor::BareLf)
            };
            if k == rest.len() {
                let last = rest[k - 1];
                self.prev_cr = last == b'\r';
                self.at_line_start = last == b'\n';
                return;
            }
            // The hazard: a LF that is bare, or before a line start that may
            // need a stuffed dot. Everything before it has been put.
            let crlf = if k > 0 { rest[k - 1] == b'\r' } else { self.prev_cr };
            out.put(if crlf { b"\n" } else { b"\r\n" });
            self.prev_cr = false;
            self.at_line_start = true;
            i += k + 1;
        }
    }

    /// Line-by-line transformation (TOP, and the hazards of RETR).
    fn feed_lines<S: Sink>(&mut self, chunk: &[u8], out: &mut S) {
        if self.done || chunk.is_empty() {
            return;
        }
        if self.at_line_start {
            if self.top_reached() {
                self.done = true;
                return;
            }
            if self.stuff && chunk[0] == b'.' {
                out.put(b".");
            }
            self.at_line_start = false;
        }
        // `run` is the start of bytes not yet copied: unchanged stretches
        // are copied in one piece, only line ends and leading dots break them.
        let mut run = 0;
        let mut line_begin = 0;
        for lf in memchr::memchr_iter(b'\n', chunk) {
            let seg_len = lf - line_begin;
            let ends_cr = if seg_len > 0 {
                chunk[lf - 1] == b'\r'
            } else {
                self.prev_cr
            };
            if !ends_cr {
                out.put(&chunk[run..lf]);
                out.put(b"\r\n");
                run = lf + 1;
            }
            let total = self.line_len + seg_len;
            self.end_line(total == 0 || (total == 1 && ends_cr));
            line_begin = lf + 1;
            if self.top_reached() {
                out.put(&chunk[run..lf + 1]);
                self.done = true;
                return;
            }
            if let Some(&next) = chunk.get(lf + 1) {
                if self.stuff && next == b'.' {
                    out.put(&chunk[run..lf + 1]);
                    out.put(b".");
                    run = lf + 1;
                }
                self.at_line_start = false;
            }
        }
        out.put(&chunk[run..]);
        if !self.at_line_start {
            self.line_len = self.line_len.saturating_add(chunk.len() - line_begin);
            self.prev_cr = chunk[chunk.len() - 1] == b'\r';
        }
    }

    /// End of the message: terminate an unfinished last line.
    pub(crate) fn finish<S: Sink>(&mut self, out: &mut S) {
        if !self.at_line_start && !self.done {
            out.put(if self.prev_cr { b"\n" } else { b"\r\n" });
            self.at_line_start = true;
        }
    }
}

/// The streaming encoder the session uses for `RETR`/`TOP`, for drivers
/// that assemble replies themselves (and for benchmarks): CRLF line ends,
/// dot-stuffing, TOP's line limit. It writes neither the `+OK` line nor the
/// terminating `.` line.
///
/// ```
/// let mut enc = mail_pop3::MessageEncoder::retr();
/// let mut out = Vec::new();
/// enc.write(b"a\n.b", &mut out);
/// enc.write(b"\n", &mut out);
/// enc.finish(&mut out);
/// assert_eq!(out, b"a\r\n..b\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct MessageEncoder(Stuffer);

impl MessageEncoder {
    /// Encode a whole message (`RETR`).
    pub fn retr() -> Self {
        Self(Stuffer::new(None, true))
    }

    /// Encode the headers, the blank line and `lines` body lines (`TOP msg lines`).
    pub fn top(lines: u32) -> Self {
        Self(Stuffer::new(Some(lines), true))
    }

    /// Append the encoding of the next chunk of stored bytes to `out`.
    #[inline]
    pub fn write(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.0.feed(chunk, out);
    }

    /// Whether more input would still produce output (false once TOP is done).
    pub fn wants_more(&self) -> bool {
        self.0.wants_more()
    }

    /// End of the stored message: terminate an unfinished last line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.0.finish(out);
    }
}

/// The size `LIST`/`STAT` announce for a message whose stored bytes arrive
/// in chunks: the size of what `RETR` sends, before dot-stuffing and without
/// the terminating `.` line (RFC 1939).
///
/// ```
/// let mut size = mail_pop3::WireSize::new();
/// size.update(b"Subject: hi\n\n.hello");
/// size.update(b"\n");
/// assert_eq!(size.finish(), 23); // bare LFs count as CRLF, the dot is not doubled
/// assert_eq!(mail_pop3::wire_size(b"Subject: hi\r\n\r\n.hello\r\n"), 23);
/// ```
#[derive(Debug, Clone)]
pub struct WireSize {
    stuffer: Stuffer,
    counter: u64,
}

impl Default for WireSize {
    fn default() -> Self {
        Self::new()
    }
}

impl WireSize {
    /// Start measuring.
    pub fn new() -> Self {
        Self {
            stuffer: Stuffer::new(None, false),
            counter: 0,
        }
    }

    /// Account for the next chunk of stored bytes.
    pub fn update(&mut self, chunk: &[u8]) {
        let mut c = Counter(self.counter);
        self.stuffer.feed(chunk, &mut c);
        self.counter = c.0;
    }

    /// The size in octets.
    pub fn finish(mut self) -> u64 {
        let mut c = Counter(self.counter);
        self.stuffer.finish(&mut c);
        c.0
    }
}

/// [`WireSize`] of a whole message held in memory.
pub fn wire_size(message: &[u8]) -> u64 {
    let mut s = WireSize::new();
    s.update(message);
    s.finish()
}

/// Transform a whole message the way `RETR` (`top_lines: None`) or `TOP`
/// sends it, without the `+OK` line and the terminating `.` line. For tests
/// and tools; the session streams chunk by chunk instead.
pub fn stuff_message(message: &[u8], top_lines: Option<u32>) -> Vec<u8> {
    let mut s = Stuffer::new(top_lines, true);
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 2);
    s.feed(message, &mut out);
    s.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunked(message: &[u8], top: Option<u32>, size: usize) -> Vec<u8> {
        let mut s = Stuffer::new(top, true);
        let mut out = Vec::new();
        for c in message.chunks(size.max(1)) {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn dot_stuffing_edge_cases() {
        assert_eq!(
            stuff_message(b".hidden\r\n..two\r\n", None),
            b"..hidden\r\n...two\r\n"
        );
        assert_eq!(stuff_message(b"a\r\n.\r\nb", None), b"a\r\n..\r\nb\r\n");
        assert_eq!(stuff_message(b"no final newline", None), b"no final newline\r\n");
        assert_eq!(
            stuff_message(b"bare\nlf\n.dot\n", None),
            b"bare\r\nlf\r\n..dot\r\n"
        );
        assert_eq!(stuff_message(b"cr at end\r", None), b"cr at end\r\n");
        assert_eq!(stuff_message(b"lone\rcr\r\n", None), b"lone\rcr\r\n");
        assert_eq!(stuff_message(b"", None), b"");
        assert_eq!(stuff_message(b"\n\n", None), b"\r\n\r\n");
        assert_eq!(stuff_message(b".", None), b"..\r\n");
    }

    #[test]
    fn top_counts_headers_blank_line_and_body_lines() {
        let msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n";
        assert_eq!(stuff_message(msg, Some(0)), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(stuff_message(msg, Some(2)), b"A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n");
        assert_eq!(stuff_message(msg, Some(99)), stuff_message(msg, None));
        assert_eq!(
            stuff_message(b"A: 1\nB: 2\n\nbody\n", Some(0)),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(stuff_message(b"only: headers", Some(0)), b"only: headers\r\n");
        // A header line holding only "\r" followed by LF is the blank line.
        assert_eq!(
            stuff_message(b"H: v\r\n\r\nx\r\ny\r\n", Some(1)),
            b"H: v\r\n\r\nx\r\n"
        );
    }

    #[test]
    fn a_trailing_lone_cr_is_completed_not_doubled() {
        assert_eq!(stuff_message(b"a\r\n\r", None), b"a\r\n\r\n");
        assert_eq!(wire_size(b"\r\n\r\n\r"), 6);
        assert_eq!(stuff_message(b"tail", None), b"tail\r\n");
    }

    #[test]
    fn sizes_match_unstuffed_output() {
        for msg in [&b"a\nb\n"[..], b".x\r\n", b"tail", b"\r", b"H: 1\n\n.\n..\n"] {
            let sent = stuff_message(msg, None);
            // Every sent line starting with '.' carries one stuffed dot.
            let dots = sent
                .split(|&b| b == b'\n')
                .filter(|l| l.first() == Some(&b'.'))
                .count();
            assert_eq!(wire_size(msg), (sent.len() - dots) as u64, "{msg:?}");
        }
    }

    /// Byte-at-a-time reference for RETR.
    fn reference(msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line_start = true;
        let mut prev = 0u8;
        for &b in msg {
            if line_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            line_start = b == b'\n';
            prev = b;
        }
        if !msg.is_empty() && !line_start {
            out.extend_from_slice(if prev == b'\r' { b"\n" } else { b"\r\n" });
        }
        out
    }

    proptest! {
        #[test]
        fn fast_path_matches_reference(
            lines in proptest::collection::vec(
                (0usize..150, prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b""[..])],
                 proptest::bool::weighted(0.1)), 0..60),
            size in prop_oneof![1usize..200, Just(1 << 20)],
        ) {
            let mut msg = Vec::new();
            for (len, end, dot) in lines {
                if dot { msg.push(b'.'); }
                msg.extend(std::iter::repeat_n(b'a', len));
                msg.extend_from_slice(end);
            }
            let expected = reference(&msg);
            prop_assert_eq!(chunked(&msg, None, size), expected.clone());
            prop_assert_eq!(stuff_message(&msg, None), expected.clone());
            let dots = expected.split(|&b| b == b'\n').filter(|l| l.first() == Some(&b'.')).count();
            let mut ws = WireSize::new();
            for c in msg.chunks(size) { ws.update(c); }
            prop_assert_eq!(ws.finish(), (expected.len() - dots) as u64);
        }

        #[test]
        fn chunking_invariance(msg in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'.'), Just(b'a')], 0..200),
            size in 1usize..20, top in proptest::option::of(0u32..5)) {
            let whole = stuff_message(&msg, top);
            prop_assert_eq!(chunked(&msg, top, size), whole.clone());
            let mut ws = WireSize::new();
            for c in msg.chunks(size) { ws.update(c); }
            prop_assert_eq!(ws.finish(), wire_size(&msg));
            // Output is CRLF-only and never contains a terminator line.
            prop_assert!(!whole.windows(5).any(|w| w == b"\r\n.\r\n"));
            prop_assert!(!whole.starts_with(b".\r\n"));
            for (i, &b) in whole.iter().enumerate() {
                if b == b'\n' { prop_assert!(i > 0 && whole[i - 1] == b'\r'); }
            }
            if top.is_none() && !msg.is_empty() { prop_assert!(whole.ends_with(b"\r\n")); }
        }
    }
}
