//! LOGIN (draft-murchison-sasl-login): `Username:` / `Password:` prompts.
//!
//! Client quirks tolerated (as Cyrus SASL and Dovecot do): an empty initial
//! response (`AUTH LOGIN =`) is treated as none, so the server still asks
//! for the user name; one trailing NUL after the user name or password
//! (some old Outlook/Netscape versions send C strings) is dropped.

use zeroize::Zeroizing;

use super::{prepared_field, PasswordCredentials};
use crate::Failure;

pub(super) const USERNAME_PROMPT: &[u8] = b"Username:";
pub(super) const PASSWORD_PROMPT: &[u8] = b"Password:";

#[derive(Debug)]
pub(crate) enum Login {
    AwaitUser,
    AwaitPassword { user: String },
}

pub(super) enum LoginStep {
    Challenge(Login, &'static [u8]),
    Verify(PasswordCredentials),
}

fn strip_trailing_nul(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\0").unwrap_or(bytes)
}

impl Login {
    pub(super) fn start(initial_response: Option<&[u8]>) -> Result<(Login, &'static [u8]), Failure> {
        match initial_response {
            None | Some(b"") => Ok((Login::AwaitUser, USERNAME_PROMPT)),
            Some(user) => {
                let user = prepared_field(strip_trailing_nul(user), "empty user name")?.into_owned();
                Ok((Login::AwaitPassword { user }, PASSWORD_PROMPT))
            }
        }
    }

    pub(super) fn step(self, response: &[u8]) -> Result<LoginStep, Failure> {
        match self {
            Login::AwaitUser => {
                let user = prepared_field(strip_trailing_nul(response), "empty user name")?.into_owned();
                Ok(LoginStep::Challenge(
                    Login::AwaitPassword { user },
                    PASSWORD_PROMPT,
                ))
            }
            Login::AwaitPassword { user } => {
                let password = Zeroizing::new(
                    prepared_field(strip_trailing_nul(response), "empty password")?.into_owned(),
                );
                Ok(LoginStep::Verify(PasswordCredentials {
                    authcid: user,
                    authzid: None,
                    password,
                }))
            }
        }
    }
}
