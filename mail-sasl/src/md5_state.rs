//! MD5 with an exposed chaining state, for Dovecot's `{CRAM-MD5}` scheme.
//!
//! Why this module exists: Dovecot stores a CRAM-MD5 secret as the HMAC-MD5
//! *context* — the four MD5 state words after absorbing `key ^ opad` and
//! after absorbing `key ^ ipad` (`hmac_md5_get_cram_context`). Verifying a
//! CRAM-MD5 response against it means resuming MD5 from a saved state, which
//! the RustCrypto `md-5` crate (0.10) does not expose (its compression
//! function is private). The compression function is small and fixed by
//! RFC 1321, so it is implemented here; the tests pin it against `md-5`,
//! `hmac` and Dovecot's own output.

/// MD5 initial chaining value (RFC 1321 §3.3).
pub(crate) const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-round constants: floor(abs(sin(i + 1)) * 2^32).
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Per-round left-rotation amounts.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5,
    9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6,
    10, 15, 21, 6, 10, 15, 21,
];

/// Absorb one 64-octet block into `state` (RFC 1321 §3.4).
pub(crate) fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let mut m = [0u32; 16];
    for (word, chunk) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let rotated = a
            .wrapping_add(f)
            .wrapping_add(K[i])
            .wrapping_add(m[g])
            .rotate_left(S[i]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(rotated);
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// Finish an MD5 computation that has already absorbed `absorbed` octets
/// (a multiple of 64) into `state`, by absorbing `data` and the padding.
pub(crate) fn finish_from(mut state: [u32; 4], absorbed: u64, data: &[u8]) -> [u8; 16] {
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&mut state, &b);
    }
    let rest = blocks.remainder();
    let bit_len = absorbed.wrapping_add(data.len() as u64).wrapping_mul(8);
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    tail[tail_len - 8..tail_len].copy_from_slice(&bit_len.to_le_bytes());
    for block in tail[..tail_len].chunks_exact(64) {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&mut state, &b);
    }
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Dovecot's `{CRAM-MD5}` secret for `password`: the MD5 state after
/// `key ^ opad`, then after `key ^ ipad`, each as four little-endian words.
pub(crate) fn cram_context(password: &[u8]) -> [u8; 32] {
    use md5::Digest;
    let mut key = [0u8; 64];
    if password.len() > 64 {
        key[..16].copy_from_slice(&md5::Md5::digest(password));
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let mut ipad = [0u8; 64];
    let mut opad = [0u8; 64];
    for i in 0..64 {
        ipad[i] = key[i] ^ 0x36;
        opad[i] = key[i] ^ 0x5c;
    }
    let mut inner = INIT;
    compress(&mut inner, &ipad);
    let mut outer = INIT;
    compress(&mut outer, &opad);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(outer.into_iter().chain(inner)) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// HMAC-MD5 of `message` from a Dovecot `{CRAM-MD5}` context.
pub(crate) fn hmac_from_context(context: &[u8; 32], message: &[u8]) -> [u8; 16] {
    let word = |i: usize| u32::from_le_bytes([context[i], context[i + 1], context[i + 2], context[i + 3]]);
    let outer = [word(0), word(4), word(8), word(12)];
    let inner = [word(16), word(20), word(24), word(28)];
    let inner_digest = finish_from(inner, 64, message);
    finish_from(outer, 64, &inner_digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use md5::Digest;

    fn reference_hmac(key: &[u8], msg: &[u8]) -> [u8; 16] {
        let mut mac = Hmac::<md5::Md5>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn plain_md5_matches_md5_crate_for_every_padding_case() {
        for len in 0..200usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let ours = finish_from(INIT, 0, &data);
            let theirs: [u8; 16] = md5::Md5::digest(&data).into();
            assert_eq!(ours, theirs, "length {len}");
        }
    }

    #[test]
    fn hmac_from_context_matches_hmac_crate() {
        for key_len in [0usize, 1, 16, 63, 64, 65, 100] {
            let key: Vec<u8> = (0..key_len).map(|i| b'a' + (i % 26) as u8).collect();
            let ctx = cram_context(&key);
            for msg_len in [0usize, 5, 55, 56, 64, 120, 300] {
                let msg: Vec<u8> = (0..msg_len).map(|i| (i * 13) as u8).collect();
                assert_eq!(
                    hmac_from_context(&ctx, &msg),
                    reference_hmac(&key, &msg),
                    "key {key_len} msg {msg_len}"
                );
            }
        }
    }

    #[test]
    fn context_matches_doveadm() {
        // `doveadm pw -s CRAM-MD5 -p tanstaaftanstaaf` (Dovecot 2.3), and a 100-octet
        // password (longer than the block: hashed first).
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&cram_context(b"tanstaaftanstaaf")),
            "d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"
        );
        assert_eq!(
            hex(&cram_context(b"")),
            "00747cf2ffaf11c5ea4a64979c3901fc1d20dee13f480bb598f7d8575b23e61b"
        );
        assert_eq!(
            hex(&cram_context(&[b'a'; 100])),
            "f468fcff219b517f6814f5fefa4e894aa8abc2884f2718fa15e07f4cda81f854"
        );
    }
}
