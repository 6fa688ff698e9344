//! The Dovecot authentication protocol (client and server roles), sans-IO.
