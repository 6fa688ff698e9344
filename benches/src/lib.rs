//! Criterion benches live in `benches/`; see README.md. This library holds
//! the inputs more than one measurement uses.

/// The SMTP `DATA` bench input: 1 MiB of 76-octet lines, every 40th line
/// dot-stuffed, then the end of data (`.` CRLF). Used by the criterion
/// bench `smtp/data` and by `benches/kernel-lab`'s `line-limit` harness.
pub fn dot_stuffed_message() -> Vec<u8> {
    let mut m = Vec::with_capacity(1 << 20);
    let mut i = 0u32;
    while m.len() < (1 << 20) - 80 {
        if i.is_multiple_of(40) {
            m.extend_from_slice(b"..");
            m.extend_from_slice(&[b'a' + (i % 26) as u8; 74]);
        } else {
            m.extend_from_slice(&[b'a' + (i % 26) as u8; 76]);
        }
        m.extend_from_slice(b"\r\n");
        i += 1;
    }
    m.extend_from_slice(b".\r\n");
    m
}
