//! What the RFC 5321 text line check (`TextLineLimit`, 1000 octets) adds to
//! the DATA decoder: min of 300 runs, three rounds, over the criterion
//! bench input (1 MiB, 76-octet lines, every 40th dot-stuffed, 16 KiB reads).
//! `cargo run --release --bin line-limit` in benches/kernel-lab.
use mail_smtp_submit::data::{DotDecoder, TextLineLimit};
use std::time::Instant;
fn main() {
    // The criterion bench's input (`smtp/data`).
    let msg = mail_benches::dot_stuffed_message();
    let mut out = Vec::with_capacity(32 * 1024);
    for round in 0..3 {
        let mut best = [f64::MAX; 3];
        for _ in 0..300 {
            for (k, b) in best.iter_mut().enumerate() {
                let t = Instant::now();
                let mut d = DotDecoder::new();
                let mut limit = TextLineLimit::new(1000);
                let mut total = 0;
                for piece in std::hint::black_box(&msg).chunks(16 * 1024) {
                    out.clear();
                    if k == 2 {
                        out.extend_from_slice(piece);
                    } else {
                        d.decode(piece, &mut out);
                    }
                    if k == 1 {
                        limit.check(&out);
                    }
                    total += out.len();
                }
                std::hint::black_box(total);
                *b = b.min(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        println!(
            "round {round}: decoder {:.1} us, decoder+line-limit {:.1} us, memcpy {:.1} us",
            best[0], best[1], best[2]
        );
    }
}
