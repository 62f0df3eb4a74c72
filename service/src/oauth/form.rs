//! Strict `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.2, §4.1.3,
//! Appendix B): any other content type, a repeated parameter, or a name or value that
//! is not UTF-8 *after* percent-decoding (`%FF`) is `invalid_request`. Parameters sent
//! without a value count as omitted (RFC 6749 §3.1).

use std::collections::HashMap;

use crate::oauth::error::OAuthError;

/// A parsed form: each parameter at most once.
#[derive(Debug, Default)]
pub struct Form {
    values: HashMap<String, String>,
}

/// Decodes one form-urlencoded name or value (`+` is a space, then percent-decoding);
/// `None` when the bytes it decodes to are not UTF-8.
pub fn form_decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

impl Form {
    /// Parses `body` of media type `content_type` (the `Content-Type` header),
    /// refusing other content types, repeated parameters and anything that does not
    /// decode to UTF-8.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = content_type.unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = std::str::from_utf8(body)
            .map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
        Self::from_urlencoded(body)
    }

    /// Parses a query string (RFC 6749 §3.1: the authorization endpoint takes GET)
    /// with the same rules as a body.
    pub fn from_urlencoded(body: &str) -> Result<Self, OAuthError> {
        let mut values = HashMap::new();
        for pair in body.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(name), Some(value)) = (form_decode(name), form_decode(value)) else {
                return Err(OAuthError::invalid_request(
                    "a parameter is not UTF-8 after percent-decoding",
                ));
            };
            if values.contains_key(&name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name:?} is repeated"
                )));
            }
            values.insert(name, value);
        }
        Ok(Self { values })
    }

    /// A parameter's value; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name:?}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<Form, OAuthError> {
        Form::parse(Some("application/x-www-form-urlencoded"), body.as_bytes())
    }

    #[test]
    fn values_decode_strictly() {
        let parsed = form("a=x+y%20z&b=%E2%9C%93&c=&d").unwrap();
        assert_eq!(parsed.get("a"), Some("x y z"));
        assert_eq!(parsed.get("b"), Some("✓"));
        assert_eq!(parsed.get("c"), None);
        assert_eq!(parsed.get("d"), None);
        for bad in ["a=%FF", "%C3=1", "a=1&a=2", "a=%E2%9C"] {
            assert!(
                matches!(form(bad), Err(OAuthError::InvalidRequest(_))),
                "{bad}"
            );
        }
    }
}
