//! Arbitrary bytes through the IMAP command reader (framing, literals,
//! limits) and parser, whole and split in two: no panic, bounded buffers,
//! and the same frames for every split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_imap_min::parse::parse_command;
use mail_imap_min::{CommandReader, Frame, Limits};

const LIMITS: Limits = Limits {
    max_line: 200,
    max_literal: 100,
    max_command: 400,
    max_append: 1000,
};

fn frames(pieces: &[&[u8]]) -> Vec<String> {
    let mut reader = CommandReader::new(LIMITS);
    let mut out = Vec::new();
    for piece in pieces {
        reader.push(piece);
        while let Some(frame) = reader.next_frame() {
            out.push(match frame {
                Frame::Command(Ok(cmd)) => format!("{cmd:?}"),
                Frame::Command(Err(e)) => format!("ERR {e:?}"),
                other => format!("{other:?}"),
            });
        }
        // Unframed input never exceeds what was pushed plus one line.
        assert!(reader.buffered() <= piece.len() + LIMITS.max_line + 2 + LIMITS.max_command);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The bare parser on the raw bytes.
    let _ = parse_command(data);
    let split = if data.is_empty() {
        0
    } else {
        data[0] as usize % data.len()
    };
    let whole = frames(&[data]);
    let halves = frames(&[&data[..split], &data[split..]]);
    assert_eq!(whole, halves);
});
