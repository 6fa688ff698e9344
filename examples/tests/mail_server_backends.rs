//! `mail-server` with the credential backends other than its passwd-file,
//! configured as SERVER.md says (`[auth] backend = "pam"` / `"dovecot"`):
//! a real PAM stack (`pam_pwdfile`) and a real Dovecot 2.3 auth socket.
//! Each is checked with real clients on every protocol: SMTP 587
//! (smtplib, STARTTLS + AUTH PLAIN and LOGIN), POP3 (poplib, STLS + USER/PASS)
//! and IMAP (imaplib, STARTTLS + LOGIN), right and wrong password.

use std::path::Path;

use mail_examples::testing::{
    mail_server_setup, mail_server_start, require_python_module, run_python, DovecotAuth, TempDir,
};

const BIN: &str = env!("CARGO_BIN_EXE_mail-server");

/// Log in as `user` with `password` (right) and `wrong` on every protocol
/// of the server in `dir`; mail submitted by the user reaches their INBOX.
fn check_logins(dir: &Path, auth_section: &str, user: &str, password: &str, wrong: &str) -> String {
    let ports = mail_server_setup(BIN, dir, auth_section, "");
    let _server = mail_server_start(BIN, dir, &ports);
    let script = format!(
        r#"
import smtplib, poplib, imaplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
USER, RIGHT, WRONG = "{user}", "{password}", "{wrong}"
def smtp():
    s = smtplib.SMTP("127.0.0.1", {sub}, timeout=20)
    s.starttls(context=ctx)
    s.ehlo("client.test")
    return s
# SMTP 587: PLAIN and LOGIN, wrong then right password.
for mech in ["PLAIN", "LOGIN"]:
    s = smtp()
    assert mech in s.esmtp_features["auth"], s.esmtp_features
    assert "CRAM-MD5" not in s.esmtp_features["auth"], "a plaintext-only backend offers CRAM-MD5"
    s.user, s.password = USER, WRONG
    try:
        s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=True)
        raise SystemExit("SMTP " + mech + " accepted a wrong password")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
    s.user, s.password = USER, RIGHT
    code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=True)
    assert code == 235, code
    s.sendmail(USER + "@localhost", [USER + "@localhost"], "Subject: via " + mech + "\r\n\r\nhi\r\n")
    s.quit()
# POP3 STLS + USER/PASS.
p = poplib.POP3("127.0.0.1", {pop3}, timeout=20)
p.stls(context=ctx)
p.user(USER)
try:
    p.pass_(WRONG)
    raise SystemExit("POP3 accepted a wrong password")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR [AUTH]"), e
p.user(USER)
p.pass_(RIGHT)
assert p.stat()[0] == 2, p.stat()
p.quit()
# IMAP STARTTLS + LOGIN.
m = imaplib.IMAP4("127.0.0.1", {imap}, timeout=20)
m.starttls(ssl_context=ctx)
try:
    m.login(USER, WRONG)
    raise SystemExit("IMAP accepted a wrong password")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
m.login(USER, RIGHT)
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"2"], (typ, data)
m.logout()
print("OK")
"#,
        ca = dir.join("localhost.crt").display(),
        sub = ports.submission,
        pop3 = ports.pop3,
        imap = ports.imap,
    );
    let (ok, out) = run_python(&script);
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(ok && out.contains("OK"), "{out}\n--- server log ---\n{log}");
    assert!(
        !log.contains(password) && !log.contains(wrong),
        "a password reached the log"
    );
    log
}

#[test]
fn dovecot_auth_socket_backend() {
    if !require_python_module("imaplib") {
        return;
    }
    let Some(dovecot) = DovecotAuth::start("carol:{PLAIN}dove secret\n") else {
        return;
    };
    let dir = TempDir::new("backend-dovecot");
    let auth = format!(
        "backend = \"dovecot\"\ndovecot_socket = \"{}\"\nfailure_delay_ms = 100\n",
        dovecot.socket.display()
    );
    let log = check_logins(dir.path(), &auth, "carol", "dove secret", "dove-wrong");
    assert!(log.contains("sasl_method=PLAIN, sasl_username=carol"), "{log}");
    assert!(log.contains("sasl_method=LOGIN, sasl_username=carol"), "{log}");
    assert!(log.contains("pop3-login: Login: user=<carol>"), "{log}");
    assert!(log.contains("imap-login: Login: user=<carol>"), "{log}");
    let dlog = dovecot.log_text();
    assert!(!dlog.contains("dove secret"), "{dlog}");
}

#[test]
fn dovecot_backend_unreachable_is_a_temporary_failure() {
    if !require_python_module("smtplib") {
        return;
    }
    let dir = TempDir::new("backend-dovecot-down");
    let auth = format!(
        "backend = \"dovecot\"\ndovecot_socket = \"{}\"\nfailure_delay_ms = 100\n",
        dir.path().join("no-such-socket").display()
    );
    let ports = mail_server_setup(BIN, dir.path(), &auth, "");
    let _server = mail_server_start(BIN, dir.path(), &ports);
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
s = smtplib.SMTP("127.0.0.1", {sub}, timeout=20)
s.starttls(context=ctx)
s.ehlo("client.test")
try:
    s.login("carol", "whatever")
    raise SystemExit("login accepted without a backend")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 454, e
print("OK")
"#,
        ca = dir.path().join("localhost.crt").display(),
        sub = ports.submission,
    );
    let (ok, out) = run_python(&script);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(ok && out.contains("OK"), "{out}\n--- server log ---\n{log}");
}

#[cfg(feature = "pam")]
#[test]
fn pam_pwdfile_backend() {
    use mail_examples::testing::{require_pam_pwdfile, require_tool, PamService};
    if !require_pam_pwdfile() || !require_python_module("imaplib") {
        return;
    }
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = TempDir::new("backend-pam");
    let hash = std::process::Command::new(openssl)
        .args(["passwd", "-6", "pam secret"])
        .output()
        .expect("openssl passwd");
    assert!(hash.status.success());
    let pwdfile = dir.path().join("pam-users");
    std::fs::write(
        &pwdfile,
        format!("dave:{}\n", String::from_utf8_lossy(&hash.stdout).trim()),
    )
    .unwrap();
    let service = PamService::pwdfile(&pwdfile);
    let auth = format!(
        "backend = \"pam\"\npam_service = \"{}\"\nfailure_delay_ms = 100\n",
        service.name
    );
    let log = check_logins(dir.path(), &auth, "dave", "pam secret", "pam-wrong");
    assert!(log.contains("sasl_method=PLAIN, sasl_username=dave"), "{log}");
    assert!(log.contains("pop3-login: Login: user=<dave>"), "{log}");
    assert!(log.contains("imap-login: Login: user=<dave>"), "{log}");
}
