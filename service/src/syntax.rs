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
