//! The syntax RFC 6749 Appendix A gives identifiers and scope tokens, checked the same
//! way wherever a value enters: configuration, the CLI, the stores and requests. It is
//! at the bottom of the layers (it uses only [`crate::error`]) so that every layer
//! can use it.

use crate::error::Error;

/// A client_id: 1–100 visible ASCII characters (RFC 6749 Appendix A.1, VSCHAR), no
/// `:` (it would break HTTP Basic), matching DOT's 100-character column.
pub fn check_client_id(client_id: &str) -> Result<(), Error> {
    if client_id.is_empty()
        || client_id.len() > 100
        || !client_id
            .bytes()
            .all(|byte| (0x21..=0x7e).contains(&byte) && byte != b':')
    {
        return Err(Error::InvalidInput(format!(
            "client_id {client_id:?}: use 1 to 100 visible ASCII characters without ':'"
        )));
    }
    Ok(())
}

/// A scope token (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`).
pub fn check_scope_token(scope: &str) -> Result<(), Error> {
    let valid = !scope.is_empty()
        && scope.bytes().all(|byte| {
            byte == 0x21 || (0x23..=0x5b).contains(&byte) || (0x5d..=0x7e).contains(&byte)
        });
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "scope {scope:?} is not a valid scope token (RFC 6749 §3.3)"
        )))
    }
}

/// Longest username (DOT's `AbstractUser.username`: 150 characters).
pub const MAX_USERNAME_CHARS: usize = 150;

/// Longest e-mail address (RFC 5321 §4.5.3.1.3 path limit, less the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A username as typed, in the form it is stored and compared in: Unicode NFKC, as
/// Django's `normalize_username` keeps it (a fullwidth `ａlice` is `alice`).
pub fn normalize_username(typed: &str) -> String {
    migration::usernames::normalized_username(typed)
}

/// A username (in its [`normalize_username`] form): 1 to 150 characters, no spaces,
/// control characters or invisible format characters (Unicode `Cf`: zero-width
/// spaces, joiners, direction marks), which would make look-alike accounts (people
/// type it, and OIDC `login_hint` carries it).
pub fn check_username(username: &str) -> Result<(), Error> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
        || username.chars().any(|c| {
            c.is_whitespace() || c.is_control() || c.general_category() == GeneralCategory::Format
        })
    {
        return Err(Error::InvalidInput(format!(
            "username {username:?}: use 1 to {MAX_USERNAME_CHARS} characters without spaces or \
             invisible characters"
        )));
    }
    Ok(())
}

/// An e-mail address, as far as a form can tell: one `@` with something on each
/// side, no spaces, at most 254 characters. Whether it reaches anyone is what
/// `email_verified` says, and nothing here sets it.
pub fn check_email(email: &str) -> Result<(), Error> {
    let shaped = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if !shaped
        || email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::InvalidInput(format!(
            "{email:?} is not an e-mail address (at most {MAX_EMAIL_CHARS} characters)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for good in ["alice", "a", "alice@example.com", "Ünïcode-name_1"] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        let long = "x".repeat(MAX_USERNAME_CHARS + 1);
        for bad in ["", "two words", "tab\there", "nul\0", long.as_str()] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_username(&"é".repeat(MAX_USERNAME_CHARS)).is_ok());
        // Invisible format characters (Unicode Cf) would make look-alike accounts.
        for invisible in [
            "alice\u{200B}",
            "al\u{200D}ice",
            "\u{FEFF}alice",
            "alice\u{202E}",
        ] {
            assert!(check_username(invisible).is_err(), "{invisible:?}");
        }
    }

    #[test]
    fn usernames_compare_in_nfkc() {
        assert_eq!(normalize_username("ａlice"), "alice", "fullwidth");
        assert_eq!(normalize_username("ﬁona"), "fiona", "ligature");
        assert_eq!(normalize_username("Alice"), "Alice", "case kept");
        assert_eq!(
            migration::usernames::username_key("ＡLICE"),
            migration::usernames::username_key("alice")
        );
    }

    #[test]
    fn emails() {
        assert!(check_email("carol@example.com").is_ok());
        let long = format!("{}@example.com", "x".repeat(MAX_EMAIL_CHARS));
        for bad in [
            "carol",
            "@example.com",
            "carol@",
            "car ol@example.com",
            long.as_str(),
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }
}
