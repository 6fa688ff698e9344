//! The verdict of a differential target, shared by `smtp_differential`,
//! `imap_differential` and `pop3_differential`: agreement passes, a classified (deliberate)
//! difference passes, anything else fails the run — or is only printed when
//! the survey variable (`SMTP_DIFF_LOG` / `IMAP_DIFF_LOG`) is set.
//! `DIFF_SHOW=1` prints both outcomes and the class of every input.

use std::fmt::Debug;

pub fn judge<O: Debug + PartialEq>(
    input: &[u8],
    ours: O,
    theirs: O,
    peer: &str,
    survey_var: &str,
    classify: impl Fn(&[u8]) -> Option<&'static str>,
) {
    if std::env::var_os("DIFF_SHOW").is_some() {
        eprintln!("ours {ours:?}\ntheirs {theirs:?}\nclass {:?}", classify(input));
    }
    if ours == theirs || classify(input).is_some() {
        return;
    }
    let msg = format!(
        "unclassified disagreement on {:?}\n  ours:       {ours:?}\n  {peer}: {theirs:?}",
        String::from_utf8_lossy(input)
    );
    if std::env::var_os(survey_var).is_some() {
        eprintln!("{msg}");
        return;
    }
    panic!("{msg}");
}

/// The octets of `s` that are not quoted-string syntax (the `"` around a
/// quoted string, a `\` escape inside one, and the octet it escapes), each
/// with its index and whether it lies inside a quoted string. SMTP and IMAP
/// quote alike.
#[allow(dead_code)] // POP3 has no quoted strings
pub fn unquoted_octets(s: &[u8]) -> impl Iterator<Item = (usize, u8, bool)> + '_ {
    let (mut quoted, mut escaped) = (false, false);
    s.iter().enumerate().filter_map(move |(i, &b)| {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else {
            return Some((i, b, quoted));
        }
        None
    })
}

/// The fuzz entry point of a differential target: `ours`, `theirs` and
/// `deliberate_difference` are the target's functions of the input.
/// Include this file with `#[macro_use]`.
macro_rules! differential_target {
    ($peer:literal, $survey_var:literal) => {
        libfuzzer_sys::fuzz_target!(|input: &[u8]| {
            differential::judge(
                input,
                ours(input),
                theirs(input),
                $peer,
                $survey_var,
                deliberate_difference,
            );
        });
    };
}
