//! The comparison key of a username, in one place for the migration that fills it
//! for existing users and the service that stores and looks users up by it.

use unicode_normalization::UnicodeNormalization;

/// The form a username is kept and compared in: Unicode NFKC (Django's
/// `normalize_username`), so a fullwidth `ａlice` is `alice`.
pub fn normalized_username(typed: &str) -> String {
    typed.nfkc().collect()
}

/// The lookup key of a username: its NFKC form in lower case (normalised again, as
/// lower-casing can leave a string outside NFKC). Users are found by it; a tenant
/// that compares usernames with their case then keeps only the row whose NFKC form
/// is the one typed.
pub fn username_key(typed: &str) -> String {
    normalized_username(typed).to_lowercase().nfkc().collect()
}
