//! Message content: the streaming `DATA` decoder (end-of-data detection,
//! dot-unstuffing, bare-LF normalisation) and the `BDAT` line-ending normaliser.
//!
//! End of data is recognised only at `<CR><LF>.<CR><LF>` (the `<CR><LF>`
//! that ended the `DATA` command counts as the first one). Every other
//! "almost" sequence used for SMTP smuggling (`\n.\n`, `\r.\r\n`,
//! `\r\n.\r\r\n`, `\r\n\x00.\r\n` …) is content. Bare `<LF>` line endings are
//! stored as `<CR><LF>` and reported through [`DotDecoder::saw_bare_lf`], so a
//! `reject` policy can refuse the message afterwards. Lines of any length pass
//! through unchanged (Postfix stores them as continuation records); only the
//! message size limit bounds them.

/// Where the decoder is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line; `crlf`: the previous line ended with `<CR><LF>`.
    LineStart { crlf: bool },
    /// Saw `.` at the start of a line (dropped: dot-unstuffing).
    Dot { crlf: bool },
    /// Saw `.` `<CR>` at the start of a line (the `<CR>` is held back).
    DotCr { crlf: bool },
    /// Inside a line; `cr`: the last content byte was `<CR>`.
    InLine { cr: bool },
    /// End of data seen.
    Done,
}

use mail_proto::dot::{copy_lines, copy_until_hazard, DotLines, ScanFor};

/// Result of one [`DotDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used. Less than the input only when `end` is true.
    pub consumed: usize,
    /// `<CR><LF>.<CR><LF>` was reached (its bytes are consumed, not output).
    pub end: bool,
}

/// Streaming `DATA` decoder. Feed it any split of the input; the output is
/// the same (property-tested).
#[derive(Debug, Clone)]
pub struct DotDecoder {
    state: State,
    bare_lf: bool,
}

impl Default for DotDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DotDecoder {
    /// A decoder positioned right after the `DATA` command's `<CR><LF>`.
    pub fn new() -> Self {
        DotDecoder {
            state: State::LineStart { crlf: true },
            bare_lf: false,
        }
    }

    /// Whether a bare `<LF>` line ending was seen (and normalised).
    pub fn saw_bare_lf(&self) -> bool {
        self.bare_lf
    }

    /// Whether the end of data has been reached.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode `input`, appending message content to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Decoded {
        // Unstuffing only shrinks; bare-LF normalisation may grow it more.
        out.reserve(input.len());
        let mut i = 0;
        let n = input.len();
        while i < n {
            match self.state {
                State::Done => {
                    return Decoded {
                        consumed: i,
                        end: true,
                    }
                }
                State::InLine { cr } => {
                    // Fast path: copy everything up to the next LF that is
                    // bare, ends the input or starts a dot line other than
                    // `\r\n.x` (whose dot is dropped on the way) in one
                    // pass (`mail_proto::dot`, SIMD where available);
                    // ordinary CRLF line ends need no state-machine work.
                    let rest = &input[i..];
                    let k = copy_lines(rest, cr, DotLines::Unstuff, out);
                    if k == rest.len() {
                        self.state = State::InLine {
                            cr: rest[k - 1] == b'\r',
                        };
                        return Decoded {
                            consumed: n,
                            end: false,
                        };
                    }
                    let crlf = if k > 0 { rest[k - 1] == b'\r' } else { cr };
                    if crlf {
                        out.push(b'\n');
                    } else {
                        out.extend_from_slice(b"\r\n");
                        self.bare_lf = true;
                    }
                    self.state = State::LineStart { crlf };
                    i += k + 1;
                }
                State::LineStart { crlf } => {
                    if input[i] == b'.' {
                        self.state = State::Dot { crlf };
                        i += 1;
                    } else {
                        self.state = State::InLine { cr: false };
                    }
                }
                State::Dot { crlf } => match input[i] {
                    b'\r' => {
                        self.state = State::DotCr { crlf };
                        i += 1;
                    }
                    b'\n' => {
                        // ".\n": an unstuffed empty line ended by a bare LF.
                        out.extend_from_slice(b"\r\n");
                        self.bare_lf = true;
                        self.state = State::LineStart { crlf: false };
                        i += 1;
                    }
                    _ => self.state = State::InLine { cr: false },
                },
                State::DotCr { crlf } => {
                    if input[i] == b'\n' {
                        i += 1;
                        if crlf {
                            self.state = State::Done;
                            return Decoded {
                                consumed: i,
                                end: true,
                            };
                        }
                        // "\n.\r\n": not the end, the line was "." after a bare LF.
                        out.extend_from_slice(b"\r\n");
                        self.state = State::LineStart { crlf: true };
                    } else {
                        out.push(b'\r');
                        self.state = State::InLine { cr: true };
                    }
                }
            }
        }
        Decoded {
            consumed: n,
            end: self.state == State::Done,
        }
    }
}

/// `BDAT` content: bare `<LF>` becomes `<CR><LF>` (tracked across chunk
/// boundaries); nothing else changes.
#[derive(Debug, Clone, Default)]
pub struct LfNormalizer {
    last_cr: bool,
    bare_lf: bool,
}

impl LfNormalizer {
    /// A fresh normaliser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a bare `<LF>` was seen.
    pub fn saw_bare_lf(&self) -> bool {
        self.bare_lf
    }

    /// Append `input` to `out`, normalising bare LFs.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        let mut prev_cr = self.last_cr;
        // Copy up to each bare LF in one pass (`mail_proto::dot`).
        while !rest.is_empty() {
            let k = copy_until_hazard(rest, prev_cr, ScanFor::BareLf, out);
            if k == rest.len() {
                break;
            }
            out.extend_from_slice(b"\r\n");
            self.bare_lf = true;
            prev_cr = false;
            rest = &rest[k + 1..];
        }
        if let Some(&b) = input.last() {
            self.last_cr = b == b'\r';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8]) -> (Vec<u8>, Option<usize>, bool) {
        let mut d = DotDecoder::new();
        let mut out = Vec::new();
        let r = d.decode(input, &mut out);
        (out, r.end.then_some(r.consumed), d.saw_bare_lf())
    }

    #[test]
    fn end_and_unstuffing() {
        let (out, end, bare) = decode_all(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM");
        assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(end, Some(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n".len()));
        assert!(!bare);
        assert_eq!(decode_all(b".\r\n"), (vec![], Some(3), false));
    }

    #[test]
    fn smuggling_sequences_do_not_end_data() {
        for seq in [
            &b"\n.\n"[..],
            b"\n.\r",
            b"\r.\n",
            b"\r.\r",
            b"\n.\r\n",
            b"\r.\r\n",
            b"\r\n\x00.\r\n",
            b"\r\n.\r\r\n",
            b"\r\r\n.\r\r\n",
            b"\r\n.\n",
            b"\r\n.\r",
        ] {
            let mut msg = b"Subject: t\r\n\r\nbody".to_vec();
            msg.extend_from_slice(seq);
            msg.extend_from_slice(b"MAIL FROM:<x@y>\r\nmore\r\n.\r\n");
            let (out, end, _) = decode_all(&msg);
            assert_eq!(end, Some(msg.len()), "{seq:?} ended the message early");
            assert!(out.windows(9).any(|w| w == b"MAIL FROM"), "{seq:?}");
        }
    }

    #[test]
    fn bare_lf_normalised_and_flagged() {
        let (out, end, bare) = decode_all(b"a\nb\r\n.\n.x\r\n.\r\n");
        assert_eq!(out, b"a\r\nb\r\n\r\nx\r\n");
        assert!(end.is_some());
        assert!(bare);
    }

    #[test]
    fn long_lines_pass_through() {
        let mut msg = vec![b'x'; 5000];
        msg.extend_from_slice(b"\r\n.\r\n");
        let (out, end, _) = decode_all(&msg);
        assert_eq!(out.len(), 5002);
        assert!(end.is_some());
    }

    #[test]
    fn bdat_normaliser_across_chunks() {
        let mut n = LfNormalizer::new();
        let mut out = Vec::new();
        n.push(b"a\r", &mut out);
        n.push(b"\nb\n", &mut out);
        n.push(b"\n", &mut out);
        assert_eq!(out, b"a\r\nb\r\n\r\n");
        assert!(n.saw_bare_lf());
    }

    proptest! {
        /// BDAT: every bare LF becomes CRLF, whatever the chunking (long
        /// inputs reach the SIMD kernel).
        #[test]
        fn bdat_normaliser_matches_reference(data in proptest::collection::vec(
            prop_oneof![8 => Just(b'a'), 2 => Just(b'\r'), 2 => Just(b'\n'), 1 => Just(b'.')], 0..600),
            cut in 0usize..600) {
            let mut expected = Vec::new();
            for (k, &b) in data.iter().enumerate() {
                if b == b'\n' && (k == 0 || data[k - 1] != b'\r') {
                    expected.push(b'\r');
                }
                expected.push(b);
            }
            let cut = cut.min(data.len());
            let mut n = LfNormalizer::new();
            let mut out = Vec::new();
            n.push(&data[..cut], &mut out);
            n.push(&data[cut..], &mut out);
            prop_assert_eq!(n.saw_bare_lf(), expected.len() != data.len());
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn chunking_invariance(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'.'), Just(0u8), Just(b'a')], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6)) {
            let (whole, whole_end, whole_bare) = decode_all(&data);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut d = DotDecoder::new();
            let mut out = Vec::new();
            let mut last = 0;
            let mut end = None;
            for cut in cuts.into_iter().chain(std::iter::once(data.len())) {
                if end.is_some() { break; }
                let r = d.decode(&data[last..cut], &mut out);
                if r.end { end = Some(last + r.consumed); }
                last = cut;
            }
            prop_assert_eq!(out, whole);
            prop_assert_eq!(end, whole_end);
            prop_assert_eq!(d.saw_bare_lf(), whole_bare);
        }

        /// Long inputs exercise the block pre-scan; one byte at a time never does.
        #[test]
        fn block_prescan_matches_bytewise(pieces in proptest::collection::vec(
            prop_oneof![
                8 => Just(&b"some ordinary text of a line\r\n"[..]),
                1 => Just(&b"\r\n.."[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r"[..]),
                1 => Just(&b"."[..]), 1 => Just(&b"\r\n.\r\n"[..]), 1 => Just(&b"\n.\r\n"[..]),
            ], 0..200)) {
            let data: Vec<u8> = pieces.concat();
            let (whole, whole_end, whole_bare) = decode_all(&data);
            let mut d = DotDecoder::new();
            let mut out = Vec::new();
            let mut end = None;
            for (k, b) in data.iter().enumerate() {
                if d.decode(std::slice::from_ref(b), &mut out).end {
                    end = Some(k + 1);
                    break;
                }
            }
            prop_assert_eq!(out, whole);
            prop_assert_eq!(end, whole_end);
            prop_assert_eq!(d.saw_bare_lf(), whole_bare);
        }

        #[test]
        fn end_only_at_crlf_dot_crlf(data in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'.'), Just(b'a')], 0..100)) {
            let (_, end, _) = decode_all(&data);
            if let Some(e) = end {
                // The consumed prefix ends with ".\r\n" preceded by "\r\n" or the DATA line.
                prop_assert!(data[..e].ends_with(b".\r\n"));
                prop_assert!(e == 3 || data[..e].ends_with(b"\r\n.\r\n"));
            }
        }
    }
}
