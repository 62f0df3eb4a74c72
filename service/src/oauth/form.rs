//! Strict `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.2, §4.1.3):
//! any other content type, a repeated parameter or a non-UTF-8 body is
//! `invalid_request`. Parameters sent without a value count as omitted (RFC 6749 §3.1).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::endpoints::error::ApiError;

/// A parsed form: each parameter at most once.
#[derive(Debug, Default)]
pub struct Form {
    values: HashMap<String, String>,
}

impl Form {
    /// Parses `body`, refusing other content types and repeated parameters.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, ApiError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(ApiError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::invalid_request("the body is not UTF-8"));
        }
        let mut values = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if values
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(ApiError::invalid_request(format!(
                    "parameter {name:?} is repeated"
                )));
            }
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
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::invalid_request(format!("missing parameter {name:?}")))
    }
}
