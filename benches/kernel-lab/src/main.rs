//! Kernel lab: the hazard scan of `mail_proto::dot` (a LF that is bare or
//! followed by `.`) written several ways, each timed scan-only and
//! scan+copy over the SMTP DATA bench input (1 MiB of 78-octet CRLF lines,
//! no dot lines, 16 KiB reads) against memcpy of the same reads, for a few
//! source/destination alignments. Minimum of 300 runs, µs.
//!
//! `cargo run --release` (x86-64 with AVX2 and AVX-512BW/VL). Not part of
//! the workspace and not a test: it backs the figures in benches/README.md.
#![allow(unsafe_op_in_unsafe_fn, clippy::missing_safety_doc)]
use std::arch::x86_64::*;
use std::hint::black_box;
use std::time::Instant;

const LF: i8 = b'\n' as i8;
const CR: i8 = b'\r' as i8;
const DOT: i8 = b'.' as i8;

fn message() -> Vec<u8> {
    let mut m = Vec::with_capacity(1 << 20);
    let mut i = 0u32;
    while m.len() < (1 << 20) - 80 {
        m.extend_from_slice(&[b'a' + (i % 26) as u8; 76]);
        m.extend_from_slice(b"\r\n");
        i += 1;
    }
    m
}

fn min_time(mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..300 {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed().as_secs_f64() * 1e6);
    }
    best
}

/// A: the shipped form. Six loads per 64 octets (byte, predecessor,
/// successor, two halves), hazard = LF & !(prev CR & !next dot).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn mask_a(p: *const u8) -> __m256i {
    let (lf, cr, dot) = (_mm256_set1_epi8(LF), _mm256_set1_epi8(CR), _mm256_set1_epi8(DOT));
    let (c0, c1) = (_mm256_loadu_si256(p.cast()), _mm256_loadu_si256(p.add(32).cast()));
    let (p0, p1) = (
        _mm256_loadu_si256(p.sub(1).cast()),
        _mm256_loadu_si256(p.add(31).cast()),
    );
    let (n0, n1) = (
        _mm256_loadu_si256(p.add(1).cast()),
        _mm256_loadu_si256(p.add(33).cast()),
    );
    let ok0 = _mm256_andnot_si256(_mm256_cmpeq_epi8(n0, dot), _mm256_cmpeq_epi8(p0, cr));
    let ok1 = _mm256_andnot_si256(_mm256_cmpeq_epi8(n1, dot), _mm256_cmpeq_epi8(p1, cr));
    _mm256_or_si256(
        _mm256_andnot_si256(ok0, _mm256_cmpeq_epi8(c0, lf)),
        _mm256_andnot_si256(ok1, _mm256_cmpeq_epi8(c1, lf)),
    )
}

/// E: as A, the three compares combined by one AVX-512VL ternary-logic op.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn mask_e(p: *const u8) -> __m256i {
    const IMM: i32 = (0xf0u8 & (!0xccu8 | 0xaau8)) as i32; // lf & (!cr | dot)
    let half = |q: *const u8| {
        _mm256_ternarylogic_epi32::<IMM>(
            _mm256_cmpeq_epi8(_mm256_loadu_si256(q.cast()), _mm256_set1_epi8(LF)),
            _mm256_cmpeq_epi8(_mm256_loadu_si256(q.sub(1).cast()), _mm256_set1_epi8(CR)),
            _mm256_cmpeq_epi8(_mm256_loadu_si256(q.add(1).cast()), _mm256_set1_epi8(DOT)),
        )
    };
    _mm256_or_si256(half(p), half(p.add(32)))
}

/// T: four loads (byte and predecessor only): the dot is tested at its own
/// position. X = (c ^ LF) | (p == CR) is zero at a bare LF, Y = (c ^ '.') |
/// !(p == LF) is zero at a dot after a LF; a zero byte of min(X, Y) is a
/// hazard. AVX-512VL ternary logic forms X and Y in one op each.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn zero_t(p: *const u8) -> __m256i {
    const X: i32 = ((0xf0u8 ^ 0xccu8) | 0xaau8) as i32;
    const Y: i32 = ((0xf0u8 ^ 0xccu8) | !0xaau8) as i32;
    let half = |q: *const u8| {
        let c = _mm256_loadu_si256(q.cast());
        let pv = _mm256_loadu_si256(q.sub(1).cast());
        let x = _mm256_ternarylogic_epi32::<X>(
            c,
            _mm256_set1_epi8(LF),
            _mm256_cmpeq_epi8(pv, _mm256_set1_epi8(CR)),
        );
        let y = _mm256_ternarylogic_epi32::<Y>(
            c,
            _mm256_set1_epi8(DOT),
            _mm256_cmpeq_epi8(pv, _mm256_set1_epi8(LF)),
        );
        _mm256_min_epu8(x, y)
    };
    let m = _mm256_min_epu8(half(p), half(p.add(32)));
    _mm256_cmpeq_epi8(m, _mm256_setzero_si256())
}

/// T2: T with AVX2 only (xor/or/andnot instead of ternary logic).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn zero_t2(p: *const u8) -> __m256i {
    let half = |q: *const u8| {
        let c = _mm256_loadu_si256(q.cast());
        let pv = _mm256_loadu_si256(q.sub(1).cast());
        let x = _mm256_or_si256(
            _mm256_xor_si256(c, _mm256_set1_epi8(LF)),
            _mm256_cmpeq_epi8(pv, _mm256_set1_epi8(CR)),
        );
        let not_lf = _mm256_andnot_si256(_mm256_cmpeq_epi8(pv, _mm256_set1_epi8(LF)), _mm256_set1_epi8(-1));
        let y = _mm256_or_si256(_mm256_xor_si256(c, _mm256_set1_epi8(DOT)), not_lf);
        _mm256_min_epu8(x, y)
    };
    let m = _mm256_min_epu8(half(p), half(p.add(32)));
    _mm256_cmpeq_epi8(m, _mm256_setzero_si256())
}

/// F: 512-bit, compares into mask registers, masked compares for the ANDs.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
unsafe fn mask_f(p: *const u8) -> u64 {
    let c = _mm512_loadu_si512(p.cast());
    let pv = _mm512_loadu_si512(p.sub(1).cast());
    let n = _mm512_loadu_si512(p.add(1).cast());
    let lf = _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8(LF));
    _mm512_mask_cmpneq_epi8_mask(lf, pv, _mm512_set1_epi8(CR))
        | _mm512_mask_cmpeq_epi8_mask(lf, n, _mm512_set1_epi8(DOT))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    A,
    A2,
    E,
    T,
    T2,
    F,
    S,
}

impl Variant {
    fn describe(self) -> &'static str {
        match self {
            Variant::A => "A: 6 loads, 3 compares + 2 logic per 32 B, vptest (shipped)",
            Variant::A2 => "A2: A, two blocks per iteration, 64-byte aligned loads, movemask",
            Variant::E => "E: A with AVX-512VL ternary logic",
            Variant::T => "T: 4 loads (byte, predecessor), AVX-512VL ternary logic + min",
            Variant::T2 => "T2: T with AVX2 only",
            Variant::F => "F: 512-bit, k-mask compares (AVX-512BW)",
            Variant::S => "S: LF mask only, neighbours checked in GPRs (one LF per block)",
        }
    }
}

/// Scan `src` from byte 1 in 64-octet blocks until a dirty block (copying
/// each block to `dst` when `COPY`); returns where it stopped. The AVX2
/// variants run in a function compiled for AVX2 only: with AVX-512 enabled,
/// LLVM turns their compares into mask-register ops, which are slow here.
unsafe fn run<const COPY: bool>(v: Variant, src: &[u8], dst: *mut u8) -> usize {
    match v {
        Variant::E | Variant::T | Variant::F => run_avx512::<COPY>(v, src, dst),
        _ => run_avx2::<COPY>(v, src, dst),
    }
}

#[target_feature(enable = "avx2")]
unsafe fn run_avx2<const COPY: bool>(v: Variant, src: &[u8], dst: *mut u8) -> usize {
    body!(COPY, v, src, dst)
}

#[target_feature(enable = "avx2,avx512f,avx512vl,avx512bw")]
unsafe fn run_avx512<const COPY: bool>(v: Variant, src: &[u8], dst: *mut u8) -> usize {
    body!(COPY, v, src, dst)
}

/// The block loop shared by both entry points.
macro_rules! body {
    ($copy:ident, $v:ident, $src:ident, $dst:ident) => {{
        let (v, src, dst): (Variant, &[u8], *mut u8) = ($v, $src, $dst);
        let (n, p) = (src.len(), src.as_ptr());
        let store = |i: usize| {
            if COPY {
                _mm256_storeu_si256(dst.add(i).cast(), _mm256_loadu_si256(p.add(i).cast()));
                _mm256_storeu_si256(dst.add(i + 32).cast(), _mm256_loadu_si256(p.add(i + 32).cast()));
            }
        };
        let mut i = 1;
        match v {
            Variant::A2 => {
                i = 1 + 64 - (p as usize + 1) % 64;
                while i + 128 < n {
                    let m = _mm256_or_si256(mask_a(p.add(i)), mask_a(p.add(i + 64)));
                    store(i);
                    store(i + 64);
                    if _mm256_movemask_epi8(m) != 0 {
                        return i;
                    }
                    i += 128;
                }
            }
            Variant::S => {
                while i + 66 <= n {
                    let c0 = _mm256_loadu_si256(p.add(i).cast());
                    let c1 = _mm256_loadu_si256(p.add(i + 32).cast());
                    store(i);
                    let lf = _mm256_set1_epi8(LF);
                    let m = (_mm256_movemask_epi8(_mm256_cmpeq_epi8(c0, lf)) as u32 as u64)
                        | ((_mm256_movemask_epi8(_mm256_cmpeq_epi8(c1, lf)) as u32 as u64) << 32);
                    let k = m.trailing_zeros() as usize;
                    let bad = (m != 0) & ((*p.add(i + k - 1) != b'\r') | (*p.add(i + k + 1) == b'.'));
                    if bad | (m & m.wrapping_sub(1) != 0) {
                        return i;
                    }
                    i += 64;
                }
            }
            _ => {
                while i + 64 < n {
                    let dirty = match v {
                        Variant::A => {
                            let m = mask_a(p.add(i));
                            _mm256_testz_si256(m, m) == 0
                        }
                        Variant::E => _mm256_movemask_epi8(mask_e(p.add(i))) != 0,
                        Variant::T => _mm256_movemask_epi8(zero_t(p.add(i))) != 0,
                        Variant::T2 => _mm256_movemask_epi8(zero_t2(p.add(i))) != 0,
                        Variant::F => mask_f(p.add(i)) != 0,
                        Variant::A2 | Variant::S => unreachable!(),
                    };
                    store(i);
                    if dirty {
                        return i;
                    }
                    i += 64;
                }
            }
        }
        i
    }};
}
use body;

fn main() {
    assert!(
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl"),
        "needs AVX2 and AVX-512BW/VL"
    );
    let text = message();
    let variants = [
        Variant::A,
        Variant::A2,
        Variant::E,
        Variant::T,
        Variant::T2,
        Variant::F,
        Variant::S,
    ];
    // Sanity: every variant runs through clean text and stops at or before
    // a hazard (a dot line, a bare LF).
    let mut scratch = vec![0u8; 16 * 1024 + 128];
    for v in variants {
        let piece = &text[..16 * 1024];
        // SAFETY: features checked above; scratch has room for the piece.
        let end = unsafe { run::<true>(v, piece, scratch.as_mut_ptr()) };
        assert!(end + 130 >= piece.len(), "{v:?} stopped early at {end}");
        assert_eq!(&scratch[1..end], &piece[1..end], "{v:?} copy");
        for hazard in [&b"\n."[..], b"x\n"] {
            let mut dirty = piece.to_vec();
            dirty[5000..5000 + hazard.len()].copy_from_slice(hazard);
            // SAFETY: as above.
            let stop = unsafe { run::<false>(v, &dirty, scratch.as_mut_ptr()) };
            assert!(
                stop <= 5001 && stop + 200 > 5000,
                "{v:?} missed {hazard:?}: stopped at {stop}"
            );
        }
    }
    for v in variants {
        println!("- {}", v.describe());
    }
    println!();
    println!(
        "| src, dst offset mod 64 | memcpy | {} |",
        variants.map(|v| format!("{v:?} scan / copy")).join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(variants.len()));
    // Source and destination at chosen offsets from 64-byte boundaries.
    // Filled with non-zero bytes so that every page is touched before timing.
    let mut src_buf = vec![1u8; text.len() + 128];
    let mut dst_buf = vec![1u8; 16 * 1024 + 128];
    for (so, doff) in [(0usize, 16usize), (0, 40), (16, 16), (16, 0), (1, 0)] {
        let s0 = src_buf.as_ptr().align_offset(64) + so;
        src_buf[s0..s0 + text.len()].copy_from_slice(&text);
        let src = &src_buf[s0..s0 + text.len()];
        let d0 = dst_buf.as_ptr().align_offset(64) + doff;
        let dst = dst_buf[d0..].as_mut_ptr();
        let memcpy = min_time(|| {
            let mut t = 0;
            for piece in black_box(src).chunks(16 * 1024) {
                // SAFETY: dst has room for 16 KiB; the buffers do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(piece.as_ptr(), dst, piece.len()) };
                t += piece.len();
            }
            t
        });
        let mut row = format!("| {so}, {doff} | {memcpy:.1} |");
        for v in variants {
            // SAFETY: the CPU features were checked above; dst has room for
            // every 16 KiB piece.
            let scan = min_time(|| {
                black_box(src)
                    .chunks(16 * 1024)
                    .map(|c| unsafe { run::<false>(v, c, dst) })
                    .sum()
            });
            let copy = min_time(|| {
                black_box(src)
                    .chunks(16 * 1024)
                    .map(|c| unsafe { run::<true>(v, c, dst) })
                    .sum()
            });
            row += &format!(
                " {scan:.1} / {copy:.1} ({:.2}× / {:.2}×) |",
                memcpy / scan,
                memcpy / copy
            );
        }
        println!("{row}");
    }
}
