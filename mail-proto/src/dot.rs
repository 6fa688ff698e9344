//! The scan kernel shared by SMTP `DATA` (dot-unstuffing, bare-LF
//! normalisation, end-of-data detection) and POP3 `RETR` (dot-stuffing,
//! CRLF normalisation).
//!
//! Both transformations leave almost every byte of a message unchanged: the
//! only places that need the caller's line-by-line state machine are a few
//! line feeds, called *hazards* here:
//!
//! * a **bare LF**: a `\n` whose preceding byte is not `\r` (it becomes
//!   `\r\n`);
//! * with [`ScanFor::BareLfOrDotLine`], a `\n` followed by `.` (the next line
//!   starts with a dot: stuffed, unstuffed, or the end of SMTP data), and a
//!   `\n` that is the last byte of the buffer (the next line's first byte is
//!   not known yet).
//!
//! [`find_hazard`] returns the position of the first hazard;
//! [`copy_until_hazard`] appends the hazard-free prefix to a `Vec` in the same
//! pass. Everything before that position can be copied verbatim; the caller
//! then handles the hazard with its own (byte-wise) state machine and calls
//! again. [`copy_lines`] goes one step further for the common dot lines
//! (`\r\n.x`): it stuffs (POP3) or unstuffs (SMTP) them itself and goes on,
//! so that the caller's state machine only sees the rare cases.
//!
//! With 76-octet lines nearly every 64-octet block holds a `\n`, so the test
//! is not "no LF" but "no LF that is bare or followed by a dot".
//!
//! ```
//! use mail_proto::dot::{copy_until_hazard, find_hazard, ScanFor};
//!
//! let text = b"line one\r\nline two\r\n.stuffed\r\nbare\nend";
//! // The first CRLF is followed by 'l': clean. The second is followed by '.'.
//! assert_eq!(find_hazard(text, false, ScanFor::BareLfOrDotLine), Some(19));
//! // Looking only for bare LFs, the first hazard is after "bare".
//! assert_eq!(find_hazard(text, false, ScanFor::BareLf), Some(34));
//!
//! let mut out = Vec::new();
//! let clean = copy_until_hazard(text, false, ScanFor::BareLfOrDotLine, &mut out);
//! assert_eq!((clean, &out[..]), (19, &b"line one\r\nline two\r"[..]));
//! ```
//!
//! # Implementation and `unsafe`
//!
//! This module is the only place of the workspace allowed to use `unsafe`
//! (`#![deny(unsafe_code)]` elsewhere in this crate, `forbid` in the protocol
//! crates). On x86-64 CPUs with AVX2 (detected at run time, the result cached
//! by `std`), 64-octet blocks are tested with 256-bit compares on three
//! overlapping loads (the byte, its predecessor and its successor) and
//! copied with 256-bit stores in the same pass. After the first block the
//! blocks start on 64-byte boundaries of the input (the loads of the bytes
//! never straddle a cache line), and each block is stored one iteration
//! late, after the next block's loads: that next block reads its
//! predecessor byte, and a load that follows a store to the same address
//! modulo 4 KiB waits for it (input and output buffers often share a page
//! offset). Elsewhere a portable, branch-free block test (auto-vectorised
//! with the SSE2 baseline) finds the same positions; tests check that both
//! agree.
//!
//! Measured gain (`benches/README.md`, 2-core AMD EPYC, same run): on the
//! SMTP `DATA` bench input (1 MiB, 16 KiB reads) the AVX2 kernel tests and
//! copies in 31.5–32.5 µs against 55–57 µs for the portable one (criterion
//! `data/kernel-*`: 1.7–2.2×); SMTP `DATA` went from 0.31× to 0.54× a memcpy
//! of the same bytes and POP3 `RETR` from 0.24× to 0.60× (min of 300 runs).
//! AVX-512 variants were measured too and were no faster on this CPU; the
//! formulations tried are in `benches/kernel-lab` and `benches/README.md`
//! ("DATA and RETR against memcpy: the floor").

/// Which line feeds stop a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFor {
    /// Only bare LFs (a `\n` not preceded by `\r`).
    BareLf,
    /// Bare LFs, LFs followed by `.`, and a LF at the very end of the buffer.
    BareLfOrDotLine,
}

/// Position of the first hazard in `buf` (see the [module docs](self)), or
/// `None` when every byte can be copied unchanged. `prev_cr` tells whether
/// the byte before `buf[0]` (from an earlier buffer) was `\r`.
#[inline]
pub fn find_hazard(buf: &[u8], prev_cr: bool, scan: ScanFor) -> Option<usize> {
    Kernel::best().find_hazard(buf, prev_cr, scan)
}

/// Append the hazard-free prefix of `src` to `out` and return its length
/// (`src.len()` when there is no hazard; otherwise the hazard's position, the
/// hazard itself is not copied). The SIMD kernel reserves room for all of
/// `src` once, then writes blocks straight into it.
#[inline]
pub fn copy_until_hazard(src: &[u8], prev_cr: bool, scan: ScanFor, out: &mut Vec<u8>) -> usize {
    Kernel::best().copy_until_hazard(src, prev_cr, scan, out)
}

/// What [`copy_lines`] does with a line that starts with a dot after a
/// CRLF (one after a bare LF always stops the copy: the bare LF does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotLines {
    /// POP3 dot-stuffing: `\r\n.` is sent as `\r\n..`.
    Stuff,
    /// SMTP dot-unstuffing: the first dot of `\r\n.x` is dropped when `x`
    /// (in `src`) is neither `\r` nor `\n`; `\r\n.\r`, `\r\n.\n` and a dot
    /// that ends `src` stop the copy (the end of data, and the smuggling
    /// look-alikes, are the caller's decision).
    Unstuff,
}

/// [`copy_until_hazard`] with [`ScanFor::BareLfOrDotLine`] that also
/// transforms the common dot lines itself instead of stopping there: the
/// copy goes on past `\r\n.` (stuffed, or unstuffed when followed by an
/// ordinary byte). Returns the input consumed; everything before that
/// position has been written to `out`, transformed. It stops at a bare LF,
/// at a LF that ends `src`, and at the dot lines `dots` leaves to the
/// caller: a byte-wise state machine resumes exactly there.
///
/// ```
/// use mail_proto::dot::{copy_lines, DotLines};
///
/// let mut out = Vec::new();
/// let n = copy_lines(b"a\r\n..b\r\n.c\r\n.\r\n", false, DotLines::Unstuff, &mut out);
/// assert_eq!((n, &out[..]), (11, &b"a\r\n.b\r\nc\r"[..]));
/// out.clear();
/// let n = copy_lines(b"a\r\n.b\r\nc", false, DotLines::Stuff, &mut out);
/// assert_eq!((n, &out[..]), (8, &b"a\r\n..b\r\nc"[..]));
/// ```
pub fn copy_lines(src: &[u8], prev_cr: bool, dots: DotLines, out: &mut Vec<u8>) -> usize {
    let kernel = Kernel::best();
    let (mut i, mut prev_cr) = (0, prev_cr);
    loop {
        let rest = &src[i..];
        let k = kernel.copy_until_hazard(rest, prev_cr, ScanFor::BareLfOrDotLine, out);
        if k == rest.len() {
            return src.len();
        }
        // rest[k] is a LF that is bare, ends `src` or is followed by '.'.
        let crlf = if k > 0 { rest[k - 1] == b'\r' } else { prev_cr };
        if !crlf || rest.get(k + 1) != Some(&b'.') {
            return i + k;
        }
        match dots {
            DotLines::Stuff => {
                out.extend_from_slice(b"\n.");
                // The dot itself is copied with what follows.
                i += k + 1;
            }
            DotLines::Unstuff => match rest.get(k + 2) {
                Some(&b) if b != b'\r' && b != b'\n' => {
                    out.push(b'\n');
                    i += k + 2;
                }
                _ => return i + k,
            },
        }
        prev_cr = false;
    }
}

/// An implementation of the scan. [`find_hazard`] and
/// [`copy_until_hazard`] use [`Kernel::best`]; tests and benchmarks pick
/// one to compare them. All give the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Safe Rust, branch-free blocks that the compiler vectorises for the
    /// target's baseline (SSE2 on x86-64).
    Portable,
    /// x86-64 AVX2 (256-bit compares on three overlapping loads).
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs (detected once, cached by `std`).
    #[inline]
    pub fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Kernel::Avx2;
        }
        Kernel::Portable
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 => false,
        }
    }

    /// [`find_hazard`] with this kernel; an unavailable kernel falls back
    /// to [`Kernel::Portable`].
    pub fn find_hazard(self, buf: &[u8], prev_cr: bool, scan: ScanFor) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx2 && buf.len() > SIMD_MIN && self.is_available() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe {
                match scan {
                    ScanFor::BareLf => x86::find_avx2::<false>(buf, prev_cr),
                    ScanFor::BareLfOrDotLine => x86::find_avx2::<true>(buf, prev_cr),
                }
            };
        }
        find_portable(buf, prev_cr, scan)
    }

    /// [`copy_until_hazard`] with this kernel; an unavailable kernel falls
    /// back to [`Kernel::Portable`].
    pub fn copy_until_hazard(self, src: &[u8], prev_cr: bool, scan: ScanFor, out: &mut Vec<u8>) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx2 && src.len() > SIMD_MIN && self.is_available() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe {
                match scan {
                    ScanFor::BareLf => x86::copy_avx2::<false>(src, prev_cr, out),
                    ScanFor::BareLfOrDotLine => x86::copy_avx2::<true>(src, prev_cr, out),
                }
            };
        }
        copy_portable(src, prev_cr, scan, out)
    }
}

/// Shorter buffers go to the portable code (the SIMD loop needs one block
/// plus a byte of look-ahead).
#[cfg(target_arch = "x86_64")]
const SIMD_MIN: usize = 2 * BLOCK;

/// Block size of both implementations.
const BLOCK: usize = 64;

/// Whether `buf[k]` is a hazard.
#[inline]
fn hazard_at(buf: &[u8], k: usize, prev_cr: bool, dots: bool) -> bool {
    if buf[k] != b'\n' {
        return false;
    }
    let after_cr = if k == 0 { prev_cr } else { buf[k - 1] == b'\r' };
    !after_cr || (dots && buf.get(k + 1).is_none_or(|&b| b == b'.'))
}

/// First hazard at or after `from`, byte by byte over the line feeds.
#[inline]
fn locate(buf: &[u8], from: usize, prev_cr: bool, dots: bool) -> Option<usize> {
    memchr::memchr_iter(b'\n', &buf[from..])
        .map(|rel| from + rel)
        .find(|&k| hazard_at(buf, k, prev_cr, dots))
}

/// Whether `w[1..=BLOCK]` holds a hazard; `w[0]` and `w[BLOCK + 1]` are the
/// neighbouring bytes. Branch-free so that the compiler vectorises it.
#[inline]
fn block_dirty(w: &[u8; BLOCK + 2], dots: bool) -> bool {
    // Without dots, compare with a byte that can never follow-test true.
    let dot = if dots { b'.' } else { !b'\n' };
    let (prev, cur, next) = (&w[..BLOCK], &w[1..=BLOCK], &w[2..]);
    let mut dirty = 0u8;
    for ((&p, &c), &n) in prev.iter().zip(cur).zip(next) {
        dirty |= u8::from(c == b'\n') & (u8::from(p != b'\r') | u8::from(n == dot));
    }
    dirty != 0
}

/// The portable [`find_hazard`]: no `unsafe`, no target-specific code.
fn find_portable(buf: &[u8], prev_cr: bool, scan: ScanFor) -> Option<usize> {
    let dots = scan == ScanFor::BareLfOrDotLine;
    if buf.is_empty() {
        return None;
    }
    if hazard_at(buf, 0, prev_cr, dots) {
        return Some(0);
    }
    let mut i = 1;
    while i + BLOCK < buf.len() {
        let Ok(w) = <&[u8; BLOCK + 2]>::try_from(&buf[i - 1..i + BLOCK + 1]) else {
            break;
        };
        if block_dirty(w, dots) {
            break;
        }
        i += BLOCK;
    }
    locate(buf, i, prev_cr, dots)
}

/// The portable [`copy_until_hazard`] (scan, then one copy).
fn copy_portable(src: &[u8], prev_cr: bool, scan: ScanFor, out: &mut Vec<u8>) -> usize {
    let k = find_portable(src, prev_cr, scan).unwrap_or(src.len());
    out.extend_from_slice(&src[..k]);
    k
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{hazard_at, locate, BLOCK};
    use std::arch::x86_64::*;

    /// Hazard bytes (0xff) of the 64 bytes at `p`, from three overlapping
    /// loads per 32 bytes: the bytes, their predecessors (`p - 1`) and their
    /// successors (`p + 1`). Returns both halves, their OR, and the 64 bytes
    /// themselves (two halves).
    ///
    /// # Safety
    /// AVX2 must be available and `p - 1 .. p + 65` must be readable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_mask<const DOTS: bool>(p: *const u8) -> (__m256i, __m256i, __m256i, [__m256i; 2]) {
        let lf = _mm256_set1_epi8(b'\n' as i8);
        let cr = _mm256_set1_epi8(b'\r' as i8);
        let dot = _mm256_set1_epi8(b'.' as i8);
        // SAFETY: the caller guarantees p - 1 .. p + 65 is readable;
        // loadu has no alignment requirement.
        let (c0, c1, p0, p1) = unsafe {
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
                _mm256_loadu_si256(p.sub(1).cast()),
                _mm256_loadu_si256(p.add(31).cast()),
            )
        };
        // ok: preceded by CR (and, when DOTS, not followed by '.').
        let mut ok0 = _mm256_cmpeq_epi8(p0, cr);
        let mut ok1 = _mm256_cmpeq_epi8(p1, cr);
        if DOTS {
            // SAFETY: as above (p + 1 .. p + 65).
            let (n0, n1) = unsafe {
                (
                    _mm256_loadu_si256(p.add(1).cast()),
                    _mm256_loadu_si256(p.add(33).cast()),
                )
            };
            ok0 = _mm256_andnot_si256(_mm256_cmpeq_epi8(n0, dot), ok0);
            ok1 = _mm256_andnot_si256(_mm256_cmpeq_epi8(n1, dot), ok1);
        }
        let h0 = _mm256_andnot_si256(ok0, _mm256_cmpeq_epi8(c0, lf));
        let h1 = _mm256_andnot_si256(ok1, _mm256_cmpeq_epi8(c1, lf));
        (h0, h1, _mm256_or_si256(h0, h1), [c0, c1])
    }

    /// The AVX2 block loop of both entry points, from `i = 1` (byte 0 is
    /// checked by the caller) while a block and its next byte fit. When
    /// `dst` is set, every tested block is also stored at `dst + i`.
    /// Returns the first hazard, or `Err(i)`: where the blocks stopped.
    ///
    /// A block is stored one iteration late, after the next block's loads:
    /// the next block reads its predecessor byte (`p - 1`), and a load that
    /// follows a store to the same address modulo 4 KiB waits for it (when
    /// `dst` and `buf` share a page offset, as two large allocations do).
    ///
    /// # Safety
    /// AVX2 must be available; if `dst` is set it must have room for
    /// `buf.len()` bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn scan<const DOTS: bool>(buf: &[u8], dst: Option<*mut u8>) -> Result<usize, usize> {
        let n = buf.len();
        let p = buf.as_ptr();
        // SAFETY (the stores): `d` has room for n bytes and a held block
        // at `at` came from buf[at..at + 64] with at + 64 < n.
        let store = |at: usize, bytes: [__m256i; 2]| {
            if let Some(d) = dst {
                unsafe {
                    _mm256_storeu_si256(d.add(at).cast(), bytes[0]);
                    _mm256_storeu_si256(d.add(at + 32).cast(), bytes[1]);
                }
            }
        };
        // The tested block not yet stored, and where it goes.
        let mut held: Option<(usize, [__m256i; 2])> = None;
        // Test the block at `at`, store the one held, hold this one.
        let mut step = |at: usize| -> Option<usize> {
            // SAFETY: callers keep 1 <= at and at + 64 < n: bytes at - 1 ..= at + 64 are in buf.
            let (h0, h1, any, bytes) = unsafe { block_mask::<DOTS>(p.add(at)) };
            if let Some((earlier_at, earlier)) = held.take() {
                store(earlier_at, earlier);
            }
            if _mm256_movemask_epi8(any) != 0 {
                store(at, bytes);
                let m = (_mm256_movemask_epi8(h0) as u32 as u64)
                    | ((_mm256_movemask_epi8(h1) as u32 as u64) << 32);
                return Some(at + m.trailing_zeros() as usize);
            }
            held = Some((at, bytes));
            None
        };
        // One block at 1, then blocks on 64-byte boundaries of `buf` (the
        // loads of the bytes themselves never straddle a cache line).
        let mut i = 1;
        if i + BLOCK < n {
            if let Some(k) = step(i) {
                return Ok(k);
            }
            i = 1 + BLOCK - (p as usize + 1) % BLOCK;
            while i + BLOCK < n {
                if let Some(k) = step(i) {
                    return Ok(k);
                }
                i += BLOCK;
            }
        }
        if let Some((at, last)) = held {
            store(at, last);
        }
        Err(i)
    }

    /// [`super::find_hazard`] with AVX2.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn find_avx2<const DOTS: bool>(buf: &[u8], prev_cr: bool) -> Option<usize> {
        if buf.is_empty() {
            return None;
        }
        if hazard_at(buf, 0, prev_cr, DOTS) {
            return Some(0);
        }
        // SAFETY: AVX2 is available; no destination.
        match unsafe { scan::<DOTS>(buf, None) } {
            Ok(k) => Some(k),
            Err(i) => locate(buf, i, prev_cr, DOTS),
        }
    }

    /// [`super::copy_until_hazard`] with AVX2: test and copy in one pass.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_avx2<const DOTS: bool>(src: &[u8], prev_cr: bool, out: &mut Vec<u8>) -> usize {
        let n = src.len();
        if n == 0 || hazard_at(src, 0, prev_cr, DOTS) {
            return 0;
        }
        out.reserve(n);
        let len = out.len();
        // SAFETY: `reserve(n)` made room for n bytes after `len`.
        let dst = unsafe { out.as_mut_ptr().add(len) };
        // SAFETY: n >= 1 and dst has room for n bytes.
        unsafe { dst.write(src[0]) };
        // SAFETY: AVX2 is available; dst has room for n bytes.
        let (k, from) = match unsafe { scan::<DOTS>(src, Some(dst)) } {
            // Every block up to the one holding k was stored.
            Ok(k) => (k, k),
            Err(i) => (locate(src, i, prev_cr, DOTS).unwrap_or(n), i),
        };
        // SAFETY: src[from..k] and dst + from .. dst + k lie in their
        // buffers (k <= n, room reserved for n) and do not overlap (`out`
        // does not borrow `src`); bytes 0 .. from were written above.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr().add(from), dst.add(from), k - from);
            out.set_len(len + k);
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Byte-by-byte definition of a hazard.
    fn reference(buf: &[u8], prev_cr: bool, scan: ScanFor) -> Option<usize> {
        let dots = scan == ScanFor::BareLfOrDotLine;
        (0..buf.len()).find(|&k| hazard_at(buf, k, prev_cr, dots))
    }

    /// Every kernel (an unavailable one falls back to the portable code)
    /// and both entry points agree with the byte-wise definition.
    fn check(buf: &[u8], prev_cr: bool) -> Result<(), TestCaseError> {
        for scan in [ScanFor::BareLf, ScanFor::BareLfOrDotLine] {
            let expected = reference(buf, prev_cr, scan);
            let k = expected.unwrap_or(buf.len());
            prop_assert_eq!(find_hazard(buf, prev_cr, scan), expected);
            for kernel in [Kernel::Portable, Kernel::Avx2] {
                prop_assert_eq!(kernel.find_hazard(buf, prev_cr, scan), expected, "{:?}", kernel);
                let mut out = b"prefix".to_vec();
                prop_assert_eq!(
                    kernel.copy_until_hazard(buf, prev_cr, scan, &mut out),
                    k,
                    "{:?}",
                    kernel
                );
                prop_assert_eq!(&out[..6], b"prefix");
                prop_assert_eq!(&out[6..], &buf[..k]);
            }
        }
        Ok(())
    }

    #[test]
    fn simd_kernel_is_exercised() {
        // On x86-64 CI machines AVX2 is expected; elsewhere the portable
        // kernel is the only one and the comparisons are trivially equal.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert_eq!(Kernel::best(), Kernel::Avx2);
        }
        assert!(Kernel::Portable.is_available());
    }

    #[test]
    fn definition() {
        let s = ScanFor::BareLfOrDotLine;
        assert_eq!(find_hazard(b"", true, s), None);
        assert_eq!(find_hazard(b"\n", true, s), Some(0)); // LF at the end
        assert_eq!(find_hazard(b"\n", true, ScanFor::BareLf), None);
        assert_eq!(find_hazard(b"\nx", true, s), None);
        assert_eq!(find_hazard(b"\nx", false, s), Some(0));
        assert_eq!(find_hazard(b"ab\r\nx\r\n.", false, s), Some(6));
        assert_eq!(find_hazard(b"ab\r\nx\r\n.", false, ScanFor::BareLf), None);
        assert_eq!(find_hazard(b"\r\r\n\n", false, ScanFor::BareLf), Some(3));
    }

    #[test]
    fn long_clean_text_then_each_hazard_at_every_offset() {
        let line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n";
        let text: Vec<u8> = line.iter().copied().cycle().take(1000).collect();
        for at in 0..text.len() {
            for hazard in [&b"\n."[..], b"\n", b"\r\n."] {
                let mut buf = text.clone();
                buf.truncate(at);
                buf.extend_from_slice(hazard);
                buf.extend_from_slice(&text[..text.len() - at]);
                check(&buf, false).unwrap();
                check(&buf, true).unwrap();
            }
        }
    }

    /// `body` with `insert` after every `n`-th byte (test inputs: random
    /// bytes cut into lines).
    fn every_nth(body: &[u8], n: usize, insert: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(body.len() * 2);
        for (k, &b) in body.iter().enumerate() {
            buf.push(b);
            if k % n == n - 1 {
                buf.extend_from_slice(insert);
            }
        }
        buf
    }

    /// Byte-by-byte definition of [`copy_lines`]: (consumed, output).
    fn lines_reference(src: &[u8], prev_cr: bool, dots: DotLines) -> (usize, Vec<u8>) {
        let mut out = Vec::new();
        let mut k = 0;
        while k < src.len() {
            let b = src[k];
            if b != b'\n' {
                out.push(b);
                k += 1;
                continue;
            }
            let crlf = if k == 0 { prev_cr } else { src[k - 1] == b'\r' };
            match (crlf, src.get(k + 1), src.get(k + 2), dots) {
                (false, _, _, _) | (true, None, _, _) => return (k, out),
                (true, Some(&b'.'), _, DotLines::Stuff) => {
                    out.extend_from_slice(b"\n.");
                    k += 1;
                }
                (true, Some(&b'.'), Some(&x), DotLines::Unstuff) if x != b'\r' && x != b'\n' => {
                    out.push(b'\n');
                    k += 2;
                }
                (true, Some(&b'.'), _, DotLines::Unstuff) => return (k, out),
                (true, Some(_), _, _) => {
                    out.push(b'\n');
                    k += 1;
                }
            }
        }
        (src.len(), out)
    }

    #[test]
    fn copy_lines_examples() {
        let run = |src: &[u8], dots| {
            let mut out = b"x".to_vec();
            let k = copy_lines(src, false, dots, &mut out);
            (k, String::from_utf8(out[1..].to_vec()).unwrap())
        };
        let u = DotLines::Unstuff;
        assert_eq!(run(b"a\r\n..b\r\n", u), (7, "a\r\n.b\r".into()));
        assert_eq!(run(b"a\r\n.\r\n", u), (2, "a\r".into())); // end of data: the caller's
        assert_eq!(run(b"a\r\n.\n", u), (2, "a\r".into()));
        assert_eq!(run(b"a\r\n.", u), (2, "a\r".into()));
        assert_eq!(run(b"a\n.b", u), (1, "a".into())); // bare LF first
        let s = DotLines::Stuff;
        assert_eq!(run(b"a\r\n.\r\nb", s), (7, "a\r\n..\r\nb".into()));
        assert_eq!(run(b"a\r\n.", s), (4, "a\r\n..".into()));
        assert_eq!(run(b"a\r\n", s), (2, "a\r".into())); // LF at the end
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// `copy_lines` agrees with its byte-wise definition, for both
        /// dot actions, on inputs full of CR, LF and dots.
        #[test]
        fn copy_lines_matches_reference(
            body in proptest::collection::vec(
                prop_oneof![20 => Just(b'a'), 3 => Just(b'\r'), 2 => Just(b'\n'), 4 => Just(b'.')], 0..600),
            crlf_every in 2usize..90,
            offset in 0usize..70,
            prev_cr: bool,
        ) {
            let buf = every_nth(&body, crlf_every, b"\r\n.");
            let s = &buf[offset.min(buf.len())..];
            for dots in [DotLines::Stuff, DotLines::Unstuff] {
                let (k, expected) = lines_reference(s, prev_cr, dots);
                let mut out = b"prefix".to_vec();
                prop_assert_eq!(copy_lines(s, prev_cr, dots, &mut out), k);
                prop_assert_eq!(&out[6..], &expected[..]);
            }
        }

        /// SIMD and portable paths agree with the byte-wise definition on
        /// inputs full of CR, LF and dots, at every alignment and length
        /// around block boundaries.
        #[test]
        fn simd_matches_portable(
            body in proptest::collection::vec(
                prop_oneof![
                    20 => Just(b'a'), 3 => Just(b'\r'), 2 => Just(b'\n'), 2 => Just(b'.'),
                    6 => Just(b"\r\n"[0]),
                ], 0..400),
            crlf_every in 2usize..90,
            offset in 0usize..70,
            prev_cr: bool,
        ) {
            // Mostly CRLF-terminated lines, with the random bytes as noise.
            let buf = every_nth(&body, crlf_every, b"\r\n");
            check(&buf[offset.min(buf.len())..], prev_cr)?;
            for len in [63usize, 64, 65, 66, 127, 128, 129, 130, 131, 193, 194] {
                let s = &buf[offset.min(buf.len())..];
                check(&s[..len.min(s.len())], prev_cr)?;
            }
        }

        /// Clean text with a single hazard anywhere.
        #[test]
        fn single_hazard_found(
            len in 0usize..600, at in 0usize..600, offset in 0usize..64,
            hazard in prop_oneof![Just(&b"\n."[..]), Just(&b"x\n"[..]), Just(&b"\r\n."[..])],
        ) {
            let mut buf: Vec<u8> = b"ab\r\n".iter().copied().cycle().take(len + offset).collect();
            let at = at.min(buf.len());
            buf.splice(at..at, hazard.iter().copied());
            check(&buf[offset.min(buf.len())..], false)?;
            check(&buf[offset.min(buf.len())..], true)?;
        }
    }
}
