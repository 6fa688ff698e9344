//! POP3 hot paths side by side with the peer crate `pop3-codec` 0.3:
//!
//! * command parsing of a realistic session (USER/PASS/STAT/LIST/UIDL/RETR/
//!   DELE/QUIT), from one buffer and in 64-byte reads (line framing included
//!   on both sides);
//! * RETR streaming with CRLF normalisation and dot-stuffing of 1 MiB,
//!   against a plain memcpy of the same bytes.
//!
//! `cargo bench -p mail-benches --bench pop3 -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mail_pop3::parse::parse_command;
use mail_pop3::MessageEncoder;
use mail_proto::{Line, LineReader};

/// One realistic session: login, look, fetch and delete 4 messages, quit.
fn session() -> (Vec<u8>, u64) {
    let mut s = String::from(
        "CAPA\r\nUSER ned@example.test\r\nPASS correct horse battery\r\nSTAT\r\nLIST\r\nUIDL\r\n",
    );
    for i in 1..=4 {
        s.push_str(&format!("LIST {i}\r\nRETR {i}\r\nDELE {i}\r\n"));
    }
    s.push_str("NOOP\r\nQUIT\r\n");
    let commands = s.matches("\r\n").count() as u64;
    (s.into_bytes(), commands)
}

fn ours_drain(reader: &mut LineReader) -> usize {
    let mut n = 0;
    while let Some(line) = reader.next_line() {
        if let Line::Complete(l) = line {
            if black_box(parse_command(l)).is_ok() {
                n += 1;
            }
        }
    }
    n
}

fn peer_drain(buf: &mut Vec<u8>) -> usize {
    let mut n = 0;
    let mut consumed = 0;
    while let Ok((rest, cmd)) = pop3_codec::parse::command(&buf[consumed..]) {
        black_box(cmd);
        consumed = buf.len() - rest.len();
        n += 1;
    }
    buf.drain(..consumed);
    n
}

fn parsing(c: &mut Criterion) {
    let (input, commands) = session();
    // Both parsers accept every command of the session.
    let mut reader = LineReader::new(253);
    reader.push(&input);
    assert_eq!(ours_drain(&mut reader) as u64, commands);
    let mut peer = input.clone();
    assert_eq!(peer_drain(&mut peer) as u64, commands);

    let mut group = c.benchmark_group("pop3_parse_session");
    group.throughput(Throughput::Elements(commands));
    let mut reader = LineReader::new(253);
    group.bench_function(BenchmarkId::new("mail-pop3", "one buffer"), |b| {
        b.iter(|| {
            reader.push(black_box(&input));
            ours_drain(&mut reader)
        })
    });
    let mut buf = Vec::with_capacity(input.len());
    group.bench_function(BenchmarkId::new("pop3-codec", "one buffer"), |b| {
        b.iter(|| {
            buf.extend_from_slice(black_box(&input));
            peer_drain(&mut buf)
        })
    });
    group.bench_function(BenchmarkId::new("mail-pop3", "64-byte reads"), |b| {
        b.iter(|| {
            let mut n = 0;
            for chunk in black_box(&input).chunks(64) {
                reader.push(chunk);
                n += ours_drain(&mut reader);
            }
            n
        })
    });
    group.bench_function(BenchmarkId::new("pop3-codec", "64-byte reads"), |b| {
        b.iter(|| {
            let mut n = 0;
            for chunk in black_box(&input).chunks(64) {
                buf.extend_from_slice(chunk);
                n += peer_drain(&mut buf);
            }
            n
        })
    });
    group.finish();
}

/// 1 MiB of CRLF text lines (~72 octets), one in 50 starting with a dot.
fn message() -> Vec<u8> {
    let mut m = b"From: a@example.test\r\nSubject: bench\r\n\r\n".to_vec();
    let mut i = 0u32;
    while m.len() < (1 << 20) - 80 {
        if i.is_multiple_of(50) {
            m.extend_from_slice(b".");
        }
        m.extend_from_slice(
            format!("{i:08} lorem ipsum dolor sit amet, consectetur adipiscing elit sed do\r\n").as_bytes(),
        );
        i += 1;
    }
    m.resize(1 << 20, b'x');
    m
}

fn retr(c: &mut Criterion) {
    let msg = message();
    let mut out = Vec::with_capacity(msg.len() * 2);
    let mut group = c.benchmark_group("pop3_retr_1MiB");
    group.throughput(Throughput::Bytes(msg.len() as u64));
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&msg));
            out.len()
        })
    });
    group.bench_function("memcpy, 64 KiB chunks", |b| {
        b.iter(|| {
            out.clear();
            for chunk in black_box(&msg).chunks(64 * 1024) {
                out.extend_from_slice(chunk);
            }
            out.len()
        })
    });
    group.bench_function("mail-pop3 dot-stuffing, one chunk", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = MessageEncoder::retr();
            enc.write(black_box(&msg), &mut out);
            enc.finish(&mut out);
            out.len()
        })
    });
    group.bench_function("mail-pop3 dot-stuffing, 64 KiB chunks", |b| {
        b.iter(|| {
            out.clear();
            let mut enc = MessageEncoder::retr();
            for chunk in black_box(&msg).chunks(64 * 1024) {
                enc.write(chunk, &mut out);
            }
            enc.finish(&mut out);
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, parsing, retr);
criterion_main!(benches);
