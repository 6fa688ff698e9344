//! Dovecot `passwd-file` style credential backend (`user:{SCHEME}hash[:…]`).
