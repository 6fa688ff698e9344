//! SMTP hot paths side by side with `smtp-proto` 0.2 (Stalwart's parser):
//!
//! * `smtp/parse`: command parsing of a realistic pipelined transcript
//!   (line framing + verb/argument parsing + address syntax + parameters)
//!   vs `smtp_proto::Request::parse`.
//! * `smtp/session`: the whole session (parse + state + relay policy +
//!   replies into the output buffer) vs `smtp-proto` parse only.
//! * `smtp/reads64`: the same transcript fed in 64-byte reads: our session vs
//!   `smtp_proto::request::receiver::RequestReceiver`.
//! * `smtp/data`: DATA end-of-data scan + dot-unstuffing of 1 MiB (76-char
//!   lines, some dot-stuffed) in 16 KiB reads vs a plain memcpy of the same
//!   bytes (and smtp-proto's `DataReceiver` for reference);
//!   `data/mailcrates+line-limit` adds the 1000-octet text line check.
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mail_proto::Session;
use mail_smtp_submit::address::parse_mailbox;
use mail_smtp_submit::data::{DotDecoder, TextLineLimit};
use mail_smtp_submit::parse::{params, parse_command, Command};
use mail_smtp_submit::{ClientInfo, Config, Event, Profile, SmtpSession};
use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::Request;

/// What a submission client pipelines: a few transactions, no QUIT (the
/// session is reused across iterations).
fn transcript() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"EHLO workstation.client.example.net\r\n");
    for i in 0..4 {
        t.extend_from_slice(
            format!("MAIL FROM:<sender.name{i}@client.example.net> SIZE=48213 BODY=8BITMIME\r\n").as_bytes(),
        );
        for r in 0..5 {
            t.extend_from_slice(
                format!("RCPT TO:<recipient.{r}.number{i}@example.org> NOTIFY=SUCCESS,FAILURE\r\n")
                    .as_bytes(),
            );
        }
        t.extend_from_slice(b"RSET\r\n");
    }
    t.extend_from_slice(b"NOOP\r\n");
    t
}

fn count_lines(t: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', t).count() as u64
}

/// Framing + parsing + address and parameter validation, as a parser would.
fn ours_parse(t: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = t;
    while let Some(lf) = memchr::memchr(b'\n', rest) {
        let line = &rest[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = &rest[lf + 1..];
        match parse_command(line) {
            Ok(Command::Mail { path, params: p } | Command::Rcpt { path, params: p }) => {
                if let Ok(s) = std::str::from_utf8(path) {
                    n += parse_mailbox(s).map(|m| m.address.len()).unwrap_or(0);
                }
                n += params(p).count();
            }
            Ok(_) => n += 1,
            Err(_) => {}
        }
    }
    n
}

fn theirs_parse(t: &[u8]) -> usize {
    let mut n = 0;
    let mut it = t.iter();
    loop {
        match Request::parse(&mut it) {
            Ok(req) => {
                n += match req {
                    Request::Mail { from } => from.address.len(),
                    Request::Rcpt { to } => to.address.len(),
                    _ => 1,
                }
            }
            Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
            Err(_) => {}
        }
        if it.as_slice().is_empty() {
            break;
        }
    }
    n
}

fn new_session() -> SmtpSession {
    let mut config = Config::new(Profile::Mta, "mx.example.org");
    config.relay.mydestination = vec!["example.org".into()];
    let mut s = SmtpSession::new(Arc::new(config), ClientInfo::new("192.0.2.10".parse().unwrap()));
    let n = s.output().len();
    s.consume_output(n);
    s
}

fn drive(s: &mut SmtpSession) -> usize {
    while let Some(ev) = s.next_event() {
        if matches!(ev, Event::Recipient) {
            let _ = s.accept_recipient();
        }
    }
    let n = s.output().len();
    s.consume_output(n);
    n
}

fn bench_commands(c: &mut Criterion) {
    let t = transcript();
    assert_eq!(
        ours_parse(&t),
        theirs_parse(&t) + 4 * 2 + 20,
        "both parsers see every command"
    );
    let mut g = c.benchmark_group("smtp");
    g.throughput(Throughput::Elements(count_lines(&t)));
    g.bench_function("parse/mailcrates", |b| b.iter(|| ours_parse(black_box(&t))));
    g.bench_function("parse/smtp-proto", |b| b.iter(|| theirs_parse(black_box(&t))));

    let mut s = new_session();
    g.bench_function("session/mailcrates", |b| {
        b.iter(|| {
            s.receive(black_box(&t));
            drive(&mut s)
        })
    });
    assert_eq!(s.error_count(), 0);

    let mut s = new_session();
    g.bench_function("reads64/mailcrates", |b| {
        b.iter(|| {
            let mut n = 0;
            for piece in black_box(&t).chunks(64) {
                s.receive(piece);
                n += drive(&mut s);
            }
            n
        })
    });
    let mut receiver = RequestReceiver::default();
    g.bench_function("reads64/smtp-proto", |b| {
        b.iter(|| {
            let mut n = 0;
            for piece in black_box(&t).chunks(64) {
                let mut it = piece.iter();
                loop {
                    match receiver.ingest(&mut it) {
                        Ok(_) => n += 1,
                        Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                        Err(_) => {}
                    }
                }
            }
            n
        })
    });
    g.finish();
}

fn bench_data(c: &mut Criterion) {
    let msg = mail_benches::dot_stuffed_message();
    let mut out = Vec::with_capacity(32 * 1024);
    {
        let mut d = DotDecoder::new();
        let mut total = 0;
        let mut ended = false;
        for piece in msg.chunks(16 * 1024) {
            out.clear();
            let r = d.decode(piece, &mut out);
            total += out.len();
            ended |= r.end;
        }
        assert!(ended);
        assert_eq!(total, msg.len() - 3 - msg.len() / 78 / 40 - 1);
    }
    let mut g = c.benchmark_group("smtp");
    g.throughput(Throughput::Bytes(msg.len() as u64));
    g.bench_function("data/mailcrates", |b| {
        b.iter(|| {
            let mut d = DotDecoder::new();
            let mut total = 0;
            for piece in black_box(&msg).chunks(16 * 1024) {
                out.clear();
                d.decode(piece, &mut out);
                total += out.len();
            }
            total
        })
    });
    // The same, plus the RFC 5321 text line check (`Config::max_text_line`,
    // 1000 octets) over each piece's output, as the session runs it.
    g.bench_function("data/mailcrates+line-limit", |b| {
        b.iter(|| {
            let mut d = DotDecoder::new();
            let mut limit = TextLineLimit::new(1000);
            let mut total = 0;
            for piece in black_box(&msg).chunks(16 * 1024) {
                out.clear();
                d.decode(piece, &mut out);
                limit.check(&out);
                total += out.len();
            }
            assert!(!limit.finish());
            total
        })
    });
    g.bench_function("data/memcpy", |b| {
        b.iter(|| {
            let mut total = 0;
            for piece in black_box(&msg).chunks(16 * 1024) {
                out.clear();
                out.extend_from_slice(piece);
                total += out.len();
            }
            total
        })
    });
    g.bench_function("data/smtp-proto", |b| {
        b.iter(|| {
            let mut d = DataReceiver::new();
            let mut total = 0;
            for piece in black_box(&msg).chunks(16 * 1024) {
                out.clear();
                d.ingest(&mut piece.iter(), &mut out);
                total += out.len();
            }
            total
        })
    });
    // The shared scan kernel alone (`mail_proto::dot`), SIMD vs the
    // portable fallback: the measured gain that justifies its `unsafe`.
    use mail_proto::dot::{Kernel, ScanFor};
    // The floor: finding every hazard without writing a byte (what a
    // zero-copy decoder would cost at best), against the memcpy above.
    g.bench_function("data/scan-only-avx2", |b| {
        b.iter(|| {
            let mut hazards = 0;
            for piece in black_box(&msg).chunks(16 * 1024) {
                let mut rest = piece;
                while let Some(k) = Kernel::best().find_hazard(rest, false, ScanFor::BareLfOrDotLine) {
                    hazards += 1;
                    rest = &rest[k + 1..];
                }
            }
            hazards
        })
    });
    for kernel in [Kernel::Avx2, Kernel::Portable] {
        if !kernel.is_available() {
            continue;
        }
        let id = format!("data/kernel-{kernel:?}").to_lowercase();
        g.bench_function(id, |b| {
            b.iter(|| {
                let mut total = 0;
                for piece in black_box(&msg).chunks(16 * 1024) {
                    out.clear();
                    let (mut rest, mut prev_cr) = (piece, false);
                    loop {
                        let k = kernel.copy_until_hazard(rest, prev_cr, ScanFor::BareLfOrDotLine, &mut out);
                        if k == rest.len() {
                            break;
                        }
                        out.push(rest[k]);
                        prev_cr = false;
                        rest = &rest[k + 1..];
                    }
                    total += out.len();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_commands, bench_data);
criterion_main!(benches);
