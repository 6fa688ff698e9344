//! Incremental, bounded line framing.

/// One framed line, returned by [`LineReader::next_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line without its terminator (`\r\n`, or a bare `\n`).
    Complete(&'a [u8]),
    /// A line longer than the limit was received. Its bytes were dropped (up
    /// to and including its terminator); the reader is ready for the next line.
    TooLong,
}

/// An incremental line framer with an explicit limit.
///
/// Bytes are appended with [`push`](Self::push); [`next_line`](Self::next_line)
/// yields complete lines. A line whose length exceeds `max_line` (terminator
/// excluded) yields [`Line::TooLong`] exactly once and its remaining bytes are
/// skipped as they arrive, so memory stays bounded by the limit plus whatever
/// the caller pushed in one go. The scan position is remembered across calls:
/// feeding a line one byte at a time costs O(n), not O(n²).
///
/// Raw access ([`pending`](Self::pending), [`consume`](Self::consume)) serves
/// message bodies and IMAP literals, which are not line-framed.
#[derive(Debug, Clone)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// Bytes from `start` already known to contain no `\n`.
    scanned: usize,
    max_line: usize,
    /// Skipping the tail of an over-long line until its `\n`.
    skipping: bool,
}

impl LineReader {
    /// A reader whose lines may hold at most `max_line` octets (terminator excluded).
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line,
            skipping: false,
        }
    }

    /// The line limit in octets, terminator excluded.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Change the line limit (e.g. SMTP text lines vs command lines).
    pub fn set_max_line(&mut self, max_line: usize) {
        self.max_line = max_line;
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.capacity() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Number of unconsumed bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Unconsumed bytes, unframed.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Drop `n` unconsumed bytes (after raw use of [`pending`](Self::pending)).
    ///
    /// `n` larger than [`buffered`](Self::buffered) drops everything.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buffered());
        self.start += n;
        self.scanned = self.scanned.saturating_sub(n);
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Drop everything buffered and return how many bytes were dropped
    /// (used for the STARTTLS injection discard).
    pub fn clear(&mut self) -> usize {
        let n = self.buffered();
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        self.skipping = false;
        n
    }

    /// The next complete line, if one is buffered.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        loop {
            let data = &self.buf[self.start..];
            match find_lf(&data[self.scanned..]) {
                Some(rel) => {
                    let lf = self.scanned + rel;
                    let line_start = self.start;
                    self.start += lf + 1;
                    self.scanned = 0;
                    if self.skipping {
                        self.skipping = false;
                        return Some(Line::TooLong);
                    }
                    let mut end = line_start + lf;
                    if end > line_start && self.buf[end - 1] == b'\r' {
                        end -= 1;
                    }
                    if end - line_start > self.max_line {
                        return Some(Line::TooLong);
                    }
                    return Some(Line::Complete(&self.buf[line_start..end]));
                }
                None => {
                    // Allow one extra byte for a trailing '\r' of a maximal line.
                    if data.len() > self.max_line + 1 {
                        self.skipping = true;
                        self.buf.truncate(self.start);
                        self.scanned = 0;
                        continue;
                    }
                    self.scanned = data.len();
                    return None;
                }
            }
        }
    }
}

/// The first `\n`: command lines are short, so the first 128 octets are
/// searched eight at a time (no call, no SIMD set-up), the rest with `memchr`.
#[inline]
fn find_lf(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let head = &s[..s.len().min(128)];
    let mut words = head.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or([0; 8])) ^ (LO * u64::from(b'\n'));
        // High bit of each zero octet of `x` (exact up to the first one).
        let m = x.wrapping_sub(LO) & !x & HI;
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    if let Some(i) = words.remainder().iter().position(|&b| b == b'\n') {
        return Some(base + i);
    }
    memchr::memchr(b'\n', &s[head.len()..]).map(|i| head.len() + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(reader: &mut LineReader) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(line) = reader.next_line() {
            out.push(match line {
                Line::Complete(l) => Some(l.to_vec()),
                Line::TooLong => None,
            });
        }
        out
    }

    #[test]
    fn crlf_and_bare_lf() {
        let mut r = LineReader::new(10);
        r.push(b"a\r\nb\n\r\n");
        assert_eq!(
            collect(&mut r),
            vec![Some(b"a".to_vec()), Some(b"b".to_vec()), Some(vec![])]
        );
    }

    #[test]
    fn exactly_at_limit_is_accepted() {
        let mut r = LineReader::new(4);
        r.push(b"abcd\r\nabcde\r\nok\r\n");
        assert_eq!(
            collect(&mut r),
            vec![Some(b"abcd".to_vec()), None, Some(b"ok".to_vec())]
        );
    }

    #[test]
    fn long_line_is_skipped_with_bounded_memory() {
        let mut r = LineReader::new(8);
        for _ in 0..1000 {
            r.push(&[b'x'; 100]);
            assert!(r.next_line().is_none());
            assert!(r.buffered() <= 200, "buffer grew to {}", r.buffered());
        }
        r.push(b"\r\nNOOP\r\n");
        assert_eq!(collect(&mut r), vec![None, Some(b"NOOP".to_vec())]);
    }

    #[test]
    fn raw_access_and_clear() {
        let mut r = LineReader::new(100);
        r.push(b"STARTTLS\r\nNOOP\r\n");
        assert_eq!(r.next_line(), Some(Line::Complete(b"STARTTLS")));
        assert_eq!(r.pending(), b"NOOP\r\n");
        assert_eq!(r.clear(), 6);
        assert_eq!(r.next_line(), None);
        r.push(b"12345");
        r.consume(2);
        assert_eq!(r.pending(), b"345");
    }

    proptest! {
        #[test]
        fn find_lf_is_memchr(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\n' ^ 0x80), Just(b'\x0b'), any::<u8>()], 0..200)) {
            prop_assert_eq!(find_lf(&data), memchr::memchr(b'\n', &data));
        }

        #[test]
        fn chunking_invariance(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..400),
            splits in proptest::collection::vec(0usize..400, 0..8), limit in 1usize..40) {
            let mut whole = LineReader::new(limit);
            whole.push(&data);
            let expected = collect(&mut whole);
            let mut cuts: Vec<usize> = splits.into_iter().map(|s| s.min(data.len())).collect();
            cuts.sort_unstable();
            let mut pieces = LineReader::new(limit);
            let mut got = Vec::new();
            let mut last = 0;
            for cut in cuts.into_iter().chain(std::iter::once(data.len())) {
                pieces.push(&data[last..cut]);
                got.extend(collect(&mut pieces));
                last = cut;
            }
            prop_assert_eq!(got, expected);
        }
    }
}
