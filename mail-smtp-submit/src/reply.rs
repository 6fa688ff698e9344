//! SMTP replies: Postfix's texts and enhanced status codes.

use mail_proto::push_decimal;
use std::fmt;

/// A single-line SMTP reply that a caller hands to the session
/// (e.g. [`crate::SmtpSession::reject_recipient`]).
///
/// The text should start with the enhanced status code (`5.1.1 …`). CR, LF
/// and other control characters are replaced by spaces, and a code outside
/// 400..=599 for a rejection is the caller's responsibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    /// A reply `code text`. Codes outside 200..=599 become 451 (local error).
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        let code = if (200..=599).contains(&code) { code } else { 451 };
        let mut text: String = text.into();
        if text.bytes().any(|b| b.is_ascii_control()) {
            text = text
                .chars()
                .map(|c| if c.is_ascii_control() { ' ' } else { c })
                .collect();
        }
        text.truncate(floor_char_boundary(&text, 500));
        Reply { code, text }
    }

    /// `550 5.1.1 <rcpt>: Recipient address rejected: User unknown in local recipient table`.
    pub fn user_unknown(recipient: &str) -> Self {
        Reply::new(
            550,
            format!("5.1.1 <{recipient}>: Recipient address rejected: User unknown in local recipient table"),
        )
    }

    /// `451 4.3.0 Error: queue file write error` (storage failed; the client retries).
    pub fn queue_write_error() -> Self {
        Reply::new(451, "4.3.0 Error: queue file write error")
    }

    /// The reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The text after the code.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        push_decimal(out, u64::from(self.code));
        out.push(b' ');
        out.extend_from_slice(self.text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

// Fixed replies (Postfix wording). Kept as byte strings so the hot path
// appends them without formatting.
pub(crate) const OK: &[u8] = b"250 2.0.0 Ok\r\n";
pub(crate) const MAIL_OK: &[u8] = b"250 2.1.0 Ok\r\n";
pub(crate) const RCPT_OK: &[u8] = b"250 2.1.5 Ok\r\n";
pub(crate) const BYE: &[u8] = b"221 2.0.0 Bye\r\n";
pub(crate) const DATA_GO: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";
pub(crate) const AUTH_OK: &[u8] = b"235 2.7.0 Authentication successful\r\n";
pub(crate) const TLS_GO: &[u8] = b"220 2.0.0 Ready to start TLS\r\n";
pub(crate) const HELP: &[u8] =
    b"214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n";

pub(crate) const UNKNOWN_COMMAND: &[u8] = b"502 5.5.2 Error: command not recognized\r\n";
pub(crate) const BAD_SYNTAX: &[u8] = b"500 5.5.2 Error: bad syntax\r\n";
pub(crate) const LINE_TOO_LONG: &[u8] = b"500 5.5.6 Error: command line too long\r\n";
pub(crate) const NOT_IMPLEMENTED: &[u8] = b"502 5.5.1 Error: command not implemented\r\n";
pub(crate) const VRFY_DISABLED: &[u8] = b"502 5.5.1 VRFY command is disabled\r\n";
pub(crate) const BREAK_RULES: &[u8] = b"221 2.7.0 Error: I can break rules, too. Goodbye.\r\n";
pub(crate) const SYNC_ERROR: &[u8] = b"554 5.5.0 Error: SMTP protocol synchronization\r\n";

pub(crate) const NEED_HELO: &[u8] = b"503 5.5.1 Error: send HELO/EHLO first\r\n";
pub(crate) const NESTED_MAIL: &[u8] = b"503 5.5.1 Error: nested MAIL command\r\n";
pub(crate) const NEED_MAIL: &[u8] = b"503 5.5.1 Error: need MAIL command\r\n";
pub(crate) const NEED_RCPT: &[u8] = b"503 5.5.1 Error: need RCPT command\r\n";
pub(crate) const NO_VALID_RCPT: &[u8] = b"554 5.5.1 Error: no valid recipients\r\n";
pub(crate) const DATA_AFTER_BDAT: &[u8] = b"503 5.5.1 Error: DATA and BDAT cannot be mixed\r\n";
pub(crate) const TOO_MANY_RCPT: &[u8] = b"452 4.5.3 Error: too many recipients\r\n";
pub(crate) const BAD_SENDER: &[u8] = b"501 5.1.7 Bad sender address syntax\r\n";
pub(crate) const BAD_RECIPIENT: &[u8] = b"501 5.1.3 Bad recipient address syntax\r\n";
pub(crate) const SIZE_EXCEEDS: &[u8] = b"552 5.3.4 Message size exceeds fixed limit\r\n";
pub(crate) const BAD_SIZE: &[u8] = b"501 5.5.4 Bad message size syntax\r\n";
pub(crate) const BAD_BODY: &[u8] = b"501 5.5.4 Bad BODY keyword syntax\r\n";
pub(crate) const TOO_BIG: &[u8] = b"552 5.3.4 Error: message file too big\r\n";
pub(crate) const TEXT_LINE_TOO_LONG: &[u8] = b"500 5.5.6 Error: message line too long\r\n";
pub(crate) const BARE_LF: &[u8] = b"550 5.5.2 Error: bare <LF> received\r\n";

pub(crate) const TLS_FIRST: &[u8] = b"530 5.7.0 Must issue a STARTTLS command first\r\n";
pub(crate) const TLS_ACTIVE: &[u8] = b"554 5.5.1 Error: TLS already active\r\n";
pub(crate) const AUTH_REQUIRED: &[u8] = b"530 5.7.0 Authentication required\r\n";
pub(crate) const AUTH_NOT_ENABLED: &[u8] = b"503 5.5.1 Error: authentication not enabled\r\n";
pub(crate) const AUTH_ALREADY: &[u8] = b"503 5.5.1 Error: already authenticated\r\n";
pub(crate) const AUTH_IN_MAIL: &[u8] = b"503 5.5.1 Error: MAIL transaction in progress\r\n";
pub(crate) const AUTH_FAILED: &[u8] = b"535 5.7.8 Error: authentication failed: authentication failure\r\n";
pub(crate) const AUTH_TEMP: &[u8] = b"454 4.7.0 Temporary authentication failure\r\n";
pub(crate) const AUTH_MECH: &[u8] = b"504 5.5.4 Unsupported authentication mechanism\r\n";
pub(crate) const AUTH_ABORTED: &[u8] = b"501 5.7.0 Authentication aborted\r\n";
pub(crate) const AUTH_TOO_LONG: &[u8] = b"500 5.5.6 SASL response limit exceeded\r\n";
pub(crate) const AUTH_BASE64: &[u8] = b"501 5.5.2 Cannot decode response\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_reply_lines() {
        for n in [0u64, 7, 10, 250, 10_240_000, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        let mut out = Vec::new();
        Reply::new(550, "5.1.1 no\r\nRSET").write_to(&mut out);
        assert_eq!(out, b"550 5.1.1 no  RSET\r\n");
    }
}
