//! Header names as backends read them: the one notion of "the same header" that the identity
//! header checks (configuration and requests alike) share.
//!
//! CGI, WSGI, PHP and nginx (with `underscores_in_headers on`) turn a header name into a
//! variable such as `HTTP_X_AUTH_USER`, so `X-Auth-User`, `X_Auth_User` and `x.auth.user` reach an
//! application as one header. Any check on an identity header compares names in that form.

/// The prefix of every identity header jwtgate sends: a request header whose name starts with it
/// in any spelling is refused by `refuse_identity_headers`, the shipped proxy examples strip every
/// spelling of it, and configured claim and payload headers must carry it.
pub const IDENTITY_HEADER_PREFIX: &str = "x-auth-";

/// A header-name byte as backends that turn header names into variables see it (CGI's
/// `HTTP_X_AUTH_USER`, and WSGI, PHP, nginx): letters without case, digits, and every other
/// character (`-`, `_`, `.`, `~`, `!`, ...) one and the same separator, written `-` here. Two
/// names that agree byte for byte in this form are the same header to such a backend.
pub fn alias_byte(byte: u8) -> u8 {
    if byte.is_ascii_alphanumeric() {
        byte.to_ascii_lowercase()
    } else {
        b'-'
    }
}

/// Whether `name` and `other` are spellings of one header (see [`alias_byte`]).
pub fn same_alias(name: &str, other: &str) -> bool {
    name.len() == other.len() && alias_starts_with(name, other)
}

/// Whether `name` starts with a spelling of `prefix` (see [`alias_byte`]).
pub fn alias_starts_with(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| alias_byte(a) == alias_byte(b))
}

/// `name` in its alias form (see [`alias_byte`]), for comparing configured names.
pub fn alias_form(name: &str) -> String {
    name.bytes().map(|b| char::from(alias_byte(b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_that_a_backend_reads_as_one_header_are_the_same_alias() {
        for spelling in ["X-Auth-User", "X_Auth_User", "x.auth.user", "X~AUTH!user"] {
            assert!(same_alias(spelling, "x-auth-user"), "{spelling}");
            assert!(alias_starts_with(spelling, "X-Auth-"), "{spelling}");
        }
        assert!(!same_alias("X-Auth-Users", "x-auth-user"));
        assert!(!alias_starts_with("X-Authority", "x-auth-"));
        assert_eq!(alias_form("X_Auth.Role"), "x-auth-role");
    }
}
