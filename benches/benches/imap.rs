//! IMAP command decoding side by side with the peer crate `imap-codec`
//! 2.0.0-alpha.10: a realistic command mix (LOGIN, CAPABILITY, SELECT,
//! UID FETCH, NOOP, LOGOUT), fed from one buffer and in 64-byte reads.
//!
//! * ours: `mail_imap_min::CommandReader` (framing, literals, limits) +
//!   `parse_command` — what `ImapSession` runs per command;
//! * imap-codec, one buffer: `CommandCodec::decode` in a loop over the buffer;
//! * imap-codec, 64-byte reads: its `Fragmentizer` (incremental framing, as
//!   imap-next uses it) + `decode_message(&CommandCodec)` per complete command.
//!
//! `cargo bench -p mail-benches --bench imap -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use imap_codec::decode::Decoder;
use imap_codec::fragmentizer::Fragmentizer;
use imap_codec::CommandCodec;
use mail_imap_min::{CommandReader, Frame, Limits};

/// One realistic session as Thunderbird/mutt send it.
fn session() -> (Vec<u8>, u64) {
    let mut s = String::from("a1 CAPABILITY\r\na2 LOGIN ned@example.test \"correct horse battery\"\r\n");
    s.push_str("a3 SELECT INBOX\r\n");
    for i in 0..4 {
        s.push_str(&format!(
            "a{} UID FETCH {}:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID)])\r\n",
            4 + 2 * i,
            100 + i
        ));
        s.push_str(&format!("a{} NOOP\r\n", 5 + 2 * i));
    }
    s.push_str("a20 LOGOUT\r\n");
    let commands = s.matches("\r\n").count() as u64;
    (s.into_bytes(), commands)
}

fn ours_drain(reader: &mut CommandReader) -> usize {
    let mut n = 0;
    while let Some(frame) = reader.next_frame() {
        if let Frame::Command(Ok(cmd)) = frame {
            black_box(cmd);
            n += 1;
        }
    }
    n
}

fn peer_drain(buf: &mut Vec<u8>) -> usize {
    let codec = CommandCodec::default();
    let mut n = 0;
    let mut consumed = 0;
    while let Ok((rest, cmd)) = codec.decode(&buf[consumed..]) {
        black_box(cmd);
        consumed = buf.len() - rest.len();
        n += 1;
    }
    buf.drain(..consumed);
    n
}

fn peer_fragmentizer_drain(f: &mut Fragmentizer) -> usize {
    let codec = CommandCodec::default();
    let mut n = 0;
    while f.progress().is_some() {
        if f.is_message_complete() {
            if let Ok(cmd) = f.decode_message(&codec) {
                black_box(cmd);
                n += 1;
            }
        }
    }
    n
}

fn decoding(c: &mut Criterion) {
    let (input, commands) = session();
    // Every decoder accepts every command of the session.
    let mut reader = CommandReader::new(Limits::default());
    reader.push(&input);
    assert_eq!(ours_drain(&mut reader) as u64, commands);
    let mut peer = input.clone();
    assert_eq!(peer_drain(&mut peer) as u64, commands);
    let mut frag = Fragmentizer::new(64 * 1024);
    frag.enqueue_bytes(&input);
    assert_eq!(peer_fragmentizer_drain(&mut frag) as u64, commands);

    let mut group = c.benchmark_group("imap_decode_commands");
    group.throughput(Throughput::Elements(commands));

    let mut reader = CommandReader::new(Limits::default());
    group.bench_function(BenchmarkId::new("mail-imap-min", "one buffer"), |b| {
        b.iter(|| {
            reader.push(black_box(&input));
            ours_drain(&mut reader)
        })
    });
    let mut buf = Vec::with_capacity(input.len());
    group.bench_function(BenchmarkId::new("imap-codec", "one buffer"), |b| {
        b.iter(|| {
            buf.extend_from_slice(black_box(&input));
            peer_drain(&mut buf)
        })
    });
    let mut frag = Fragmentizer::new(64 * 1024);
    group.bench_function(BenchmarkId::new("imap-codec+fragmentizer", "one buffer"), |b| {
        b.iter(|| {
            frag.enqueue_bytes(black_box(&input));
            peer_fragmentizer_drain(&mut frag)
        })
    });

    let mut reader = CommandReader::new(Limits::default());
    group.bench_function(BenchmarkId::new("mail-imap-min", "64-byte reads"), |b| {
        b.iter(|| {
            let mut n = 0;
            for chunk in black_box(&input).chunks(64) {
                reader.push(chunk);
                n += ours_drain(&mut reader);
            }
            n
        })
    });
    let mut frag = Fragmentizer::new(64 * 1024);
    group.bench_function(
        BenchmarkId::new("imap-codec+fragmentizer", "64-byte reads"),
        |b| {
            b.iter(|| {
                let mut n = 0;
                for chunk in black_box(&input).chunks(64) {
                    frag.enqueue_bytes(chunk);
                    n += peer_fragmentizer_drain(&mut frag);
                }
                n
            })
        },
    );
    let mut buf = Vec::with_capacity(input.len());
    group.bench_function(
        BenchmarkId::new("imap-codec", "64-byte reads (re-decode on Incomplete)"),
        |b| {
            b.iter(|| {
                let mut n = 0;
                for chunk in black_box(&input).chunks(64) {
                    buf.extend_from_slice(chunk);
                    n += peer_drain(&mut buf);
                }
                n
            })
        },
    );
    group.finish();
}

criterion_group!(benches, decoding);
criterion_main!(benches);
