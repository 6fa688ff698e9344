//! Decimal numbers in replies (sizes, counts, UIDs) without the formatting
//! machinery: every protocol writes several per command on its hot path.

/// Append `n` in decimal to `out`.
///
/// ```
/// let mut out = b"+OK ".to_vec();
/// mail_proto::push_decimal(&mut out, 1_048_576);
/// assert_eq!(out, b"+OK 1048576");
/// ```
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn matches_display_at_the_edges() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            65_535,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}
