//! POP3 dot-stuffing followed by SMTP's DATA decoder is the identity (up to
//! CRLF normalisation) for any message and any chunking:
//! `DotDecoder(stuff_message(m) + ".\r\n") == crlf_normalise(m)`.
//!
//! Only the public APIs are used (`mail_pop3::{stuff_message,
//! MessageEncoder, wire_size}`, `mail_smtp_submit::data::DotDecoder`), so the
//! invariant survives rewrites of either side's internals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_pop3::{stuff_message, wire_size, MessageEncoder};
use mail_smtp_submit::data::DotDecoder;

/// What both sides promise: every `\n` or `\r\n` line ending is `\r\n`, and
/// an unterminated last line gets `\r\n`. A lone `\r` is content, except
/// at the very end of the message: POP3 takes it for the first half of the
/// last line's `\r\n` and only adds `\n` (`"a\r"` is sent as `"a\r\n"`).
fn crlf_normalise(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + m.len() / 8 + 2);
    for (i, &b) in m.iter().enumerate() {
        if b == b'\n' && (i == 0 || m[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    if m.ends_with(b"\r") {
        out.push(b'\n');
    } else if !m.is_empty() && !m.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, message)) = input.split_first() else {
        return;
    };
    let pop_chunk = usize::from(control & 0x0f) + 1;
    let smtp_chunk = usize::from(control >> 4) * 3 + 1;

    // POP3 side: whole message, and streamed in chunks.
    let stuffed = stuff_message(message, None);
    let mut enc = MessageEncoder::retr();
    let mut streamed = Vec::new();
    for piece in message.chunks(pop_chunk) {
        enc.write(piece, &mut streamed);
    }
    enc.finish(&mut streamed);
    assert_eq!(stuffed, streamed, "MessageEncoder chunking changes the output");

    let expected = crlf_normalise(message);
    // LIST/STAT size: the wire form before stuffing, without the final dot line.
    assert_eq!(wire_size(message), expected.len() as u64, "wire_size");

    // SMTP side: the stuffed message then the terminator `.\r\n` (the CRLF
    // before it ends the last line, or is the one that ended DATA).
    let mut wire = stuffed;
    wire.extend_from_slice(b".\r\n");
    // Trailing garbage after the end must not be consumed.
    let end_at = wire.len();
    wire.extend_from_slice(b"QUIT\r\n");

    let mut dec = DotDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut ended = None;
    for piece in wire.chunks(smtp_chunk) {
        let r = dec.decode(piece, &mut out);
        if r.end {
            ended = Some(at + r.consumed);
            break;
        }
        assert_eq!(r.consumed, piece.len());
        at += piece.len();
    }
    assert_eq!(ended, Some(end_at), "end of data not where the terminator is");
    assert!(!dec.saw_bare_lf(), "POP3 output holds a bare LF");
    assert!(dec.is_done());
    assert_eq!(out, expected, "round trip changed the message");
});
