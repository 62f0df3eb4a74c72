//! Authorization responses: which values come back (`response_type`, RFC 6749 §3.1.1,
//! OAuth 2.0 Multiple Response Type Encoding Practices §3, OIDC Core §3.3), how
//! (`response_mode`: `query`, `fragment`, or `form_post` from the OAuth 2.0 Form Post
//! Response Mode), always with `state` and `iss` (RFC 9207 §2).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::oauth::error::OAuthError;

/// The parts a `response_type` asks for: any non-empty combination of `code`,
/// `token` and `id_token`, in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ResponseType {
    /// An authorization code.
    pub code: bool,
    /// An access token from the authorization endpoint (implicit, hybrid).
    pub token: bool,
    /// An ID token from the authorization endpoint (implicit, hybrid).
    pub id_token: bool,
}

impl ResponseType {
    /// `code`.
    pub const CODE: Self = Self {
        code: true,
        token: false,
        id_token: false,
    };

    /// Parses a space-separated `response_type`.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let mut parsed = Self::default();
        for part in value.split(' ').filter(|part| !part.is_empty()) {
            let flag = match part {
                "code" => &mut parsed.code,
                "token" => &mut parsed.token,
                "id_token" => &mut parsed.id_token,
                other => {
                    return Err(OAuthError::UnsupportedResponseType(format!(
                        "response_type {other:?} is not supported: use code (or, for \
                         applications holding the implicit grant, token, id_token and \
                         their combinations)"
                    )));
                }
            };
            if *flag {
                return Err(OAuthError::invalid_request(format!(
                    "response_type names {part:?} twice"
                )));
            }
            *flag = true;
        }
        if parsed == Self::default() {
            return Err(OAuthError::invalid_request("response_type is empty"));
        }
        Ok(parsed)
    }

    /// Whether a token comes back through the browser (then the fragment is the
    /// default, and the query is refused: Multiple Response Types §5).
    pub fn has_front_channel_token(self) -> bool {
        self.token || self.id_token
    }
}

impl std::fmt::Display for ResponseType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = [
            (self.code, "code"),
            (self.id_token, "id_token"),
            (self.token, "token"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        formatter.write_str(&parts.join(" "))
    }
}

impl Serialize for ResponseType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ResponseType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|error| serde::de::Error::custom(error.description()))
    }
}

/// Where the answer's parameters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// The redirect URI's query (the default for `code`).
    Query,
    /// The redirect URI's fragment (the default when a token comes back).
    Fragment,
    /// An auto-submitted HTML form posted to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// `response_mode` for `response_type`: its default when absent; `query` for a
    /// response carrying a token is refused (tokens in a query reach logs and
    /// `Referer`s).
    pub fn parse(value: Option<&str>, response_type: ResponseType) -> Result<Self, OAuthError> {
        let default = if response_type.has_front_channel_token() {
            Self::Fragment
        } else {
            Self::Query
        };
        match value {
            None => Ok(default),
            Some("query") if response_type.has_front_channel_token() => {
                Err(OAuthError::invalid_request(
                    "response_mode=query cannot carry tokens: use fragment or form_post",
                ))
            }
            Some("query") => Ok(Self::Query),
            Some("fragment") => Ok(Self::Fragment),
            Some("form_post") => Ok(Self::FormPost),
            Some(other) => Err(OAuthError::invalid_request(format!(
                "response_mode {other:?}: use query, fragment or form_post"
            ))),
        }
    }
}

/// An answer to deliver to the client through the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// `303` to this URL.
    Redirect(String),
    /// A page that posts `fields` to `action` at once.
    FormPost {
        /// The redirect URI.
        action: String,
        /// The answer's parameters.
        fields: Vec<(String, String)>,
    },
}

/// Where an authorization request's answer goes.
#[derive(Clone, Debug)]
pub struct Destination {
    /// The validated redirect URI.
    pub redirect_uri: String,
    /// How.
    pub mode: ResponseMode,
    /// The request's `state`, echoed.
    pub state: Option<String>,
    /// The tenant's issuer (RFC 9207).
    pub issuer: String,
}

impl Destination {
    /// `parameters` with `state` and `iss`, delivered by the response mode.
    pub fn answer(&self, parameters: &[(&str, &str)]) -> Delivery {
        let mut fields: Vec<(String, String)> = parameters
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        if let Some(state) = &self.state {
            fields.push(("state".to_owned(), state.clone()));
        }
        fields.push(("iss".to_owned(), self.issuer.clone()));
        let encoded = || {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &fields {
                pairs.append_pair(name, value);
            }
            pairs.finish()
        };
        match self.mode {
            ResponseMode::Query => {
                let separator = if self.redirect_uri.contains('?') {
                    '&'
                } else {
                    '?'
                };
                Delivery::Redirect(format!("{}{separator}{}", self.redirect_uri, encoded()))
            }
            ResponseMode::Fragment => {
                Delivery::Redirect(format!("{}#{}", self.redirect_uri, encoded()))
            }
            ResponseMode::FormPost => Delivery::FormPost {
                action: self.redirect_uri.clone(),
                fields,
            },
        }
    }

    /// The error answer (RFC 6749 §4.1.2.1).
    pub fn error(&self, error: &OAuthError) -> Delivery {
        self.answer(&[
            ("error", error.code()),
            ("error_description", &error.description()),
        ])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn response_types_parse_in_any_order_and_only_once() {
        let hybrid = ResponseType::parse("id_token code").unwrap();
        assert_eq!(hybrid.to_string(), "code id_token");
        assert_eq!(ResponseType::parse("code").unwrap(), ResponseType::CODE);
        assert!(ResponseType::parse("code code").is_err());
        assert!(ResponseType::parse("").is_err());
        assert!(ResponseType::parse("none").is_err());
        let round: ResponseType = serde_json::from_str("\"token id_token\"").unwrap();
        assert!(round.token && round.id_token && !round.code);
    }

    #[test]
    fn tokens_never_go_in_the_query() {
        let implicit = ResponseType::parse("id_token").unwrap();
        assert_eq!(
            ResponseMode::parse(None, implicit).unwrap(),
            ResponseMode::Fragment
        );
        assert!(ResponseMode::parse(Some("query"), implicit).is_err());
        assert_eq!(
            ResponseMode::parse(Some("form_post"), ResponseType::CODE).unwrap(),
            ResponseMode::FormPost
        );
        assert_eq!(
            ResponseMode::parse(None, ResponseType::CODE).unwrap(),
            ResponseMode::Query
        );
    }
}
