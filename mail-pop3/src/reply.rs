//! Reply texts (without CRLF). Dovecot's wording where it has one, with the
//! RFC 2449 / RFC 3206 response codes.

/// Login completed; the maildrop is open.
pub const LOGGED_IN: &[u8] = b"+OK Logged in.";
/// QUIT.
pub const LOGGING_OUT: &[u8] = b"+OK Logging out.";
/// STLS accepted (RFC 2595).
pub const BEGIN_TLS: &[u8] = b"+OK Begin TLS negotiation now.";
/// STLS on a TLS channel.
pub const TLS_ACTIVE: &[u8] = b"-ERR TLS is already active.";
/// The server ends the connection because it shuts down.
pub const SHUTTING_DOWN: &[u8] = b"-ERR [SYS/TEMP] Server shutting down.";
/// The server ends the connection after the idle timeout.
pub const IDLE_TIMEOUT: &[u8] = b"-ERR Disconnected for inactivity.";
/// STLS without a certificate configured.
pub const TLS_DISABLED: &[u8] = b"-ERR TLS support isn't enabled.";
/// STLS after login.
pub const STLS_IN_TRANSACTION: &[u8] = b"-ERR STLS is only allowed in AUTHORIZATION state.";
/// USER/PASS/PLAIN/LOGIN on a cleartext channel with TLS-only auth (SECURITY.md reply table).
pub const PLAINTEXT_DISALLOWED: &[u8] =
    b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";
/// USER/PASS when plaintext authentication is off altogether.
pub const PLAINTEXT_DISABLED: &[u8] = b"-ERR [AUTH] Plaintext authentication is disabled.";
/// Wrong credentials (unknown user and wrong password alike).
pub const AUTH_FAILED: &[u8] = b"-ERR [AUTH] Authentication failed.";
/// Backend unavailable.
pub const AUTH_TEMP: &[u8] = b"-ERR [SYS/TEMP] Temporary authentication failure.";
/// Unknown or refused SASL mechanism.
pub const UNSUPPORTED_MECH: &[u8] = b"-ERR Unsupported authentication mechanism.";
/// `*` from the client during AUTH.
pub const AUTH_ABORTED: &[u8] = b"-ERR Authentication aborted by client.";
/// Undecodable SASL data.
pub const BAD_BASE64: &[u8] = b"-ERR Invalid base64 data in SASL response.";
/// SASL response line over the limit.
pub const SASL_TOO_LONG: &[u8] = b"-ERR SASL response too long.";
/// PASS without USER.
pub const NO_USER: &[u8] = b"-ERR No username given.";
/// USER/APOP name with control characters, not UTF-8, or too long.
pub const BAD_USER: &[u8] = b"-ERR Invalid user name.";
/// APOP when it is not offered.
pub const APOP_DISABLED: &[u8] = b"-ERR APOP is not enabled.";
/// Another session holds the maildrop lock (RFC 2449 `IN-USE`).
pub const IN_USE: &[u8] = b"-ERR [IN-USE] Maildrop is locked by another session; try again later.";
/// The maildrop could not be opened.
pub const MAILDROP_FAILED: &[u8] = b"-ERR [SYS/TEMP] Unable to open the maildrop; try again later.";
/// A message could not be read.
pub const MESSAGE_FAILED: &[u8] = b"-ERR [SYS/TEMP] Unable to read the message; try again later.";
/// Deletions at QUIT failed (RFC 1939 UPDATE).
pub const UPDATE_FAILED: &[u8] = b"-ERR [SYS/TEMP] Some deleted messages were not removed.";
/// DELE done.
pub const MARKED: &[u8] = b"+OK Marked to be deleted.";
/// A deleted message referenced.
pub const DELETED: &[u8] = b"-ERR Message is deleted.";
/// Transaction command before login.
pub const NOT_AUTHENTICATED: &[u8] = b"-ERR Unknown command in AUTHORIZATION state; log in first.";
/// Authorization command after login.
pub const ALREADY_AUTHENTICATED: &[u8] = b"-ERR Already logged in.";
/// Unknown keyword.
pub const UNKNOWN: &[u8] = b"-ERR Unknown command.";
/// Command line over the limit (RFC 2449: 255 octets).
pub const LINE_TOO_LONG: &[u8] = b"-ERR line too long";
/// Bad command limit reached: the connection is closed.
pub const TOO_MANY_BAD: &[u8] = b"-ERR Too many bad commands.";
