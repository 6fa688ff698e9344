//! `mail_smtp_submit::data`: the DATA decoder on arbitrary bytes in arbitrary
//! chunks gives the same output, end and bare-LF flag as in one piece; the
//! end is only ever after `<CR><LF>.<CR><LF>` (or `.<CR><LF>` first); output
//! never holds a bare LF; the BDAT normaliser agrees across chunkings too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_smtp_submit::data::{DotDecoder, LfNormalizer};

fn decode(data: &[u8], chunk: usize) -> (Vec<u8>, Option<usize>, bool) {
    let mut d = DotDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    for piece in data.chunks(chunk.max(1)) {
        let r = d.decode(piece, &mut out);
        if r.end {
            return (out, Some(at + r.consumed), d.saw_bare_lf());
        }
        at += piece.len();
    }
    (out, None, d.saw_bare_lf())
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    let whole = decode(data, data.len().max(1));
    let split = decode(data, usize::from(control) + 1);
    assert_eq!(whole, split);
    if let Some(end) = whole.1 {
        assert!(data[..end].ends_with(b".\r\n"));
        assert!(end == 3 || data[..end].ends_with(b"\r\n.\r\n"));
    }
    for (i, &b) in whole.0.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && whole.0[i - 1] == b'\r', "bare LF in output");
        }
    }
    let mut a = LfNormalizer::new();
    let mut b = LfNormalizer::new();
    let (mut oa, mut ob) = (Vec::new(), Vec::new());
    a.push(data, &mut oa);
    for piece in data.chunks(usize::from(control % 9) + 1) {
        b.push(piece, &mut ob);
    }
    assert_eq!(oa, ob);
    assert_eq!(a.saw_bare_lf(), b.saw_bare_lf());
});
