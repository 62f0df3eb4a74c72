//! Application extension fields: settings an operator adds to the application model
//! per tenant (`[tenants.T.applications.fields.NAME]`) or for every tenant
//! (`[applications.fields.NAME]`), without a model swap or a migration (DOT makes
//! people subclass `AbstractApplication` for this). Values live in the application's
//! one JSON column (`applications.extensions`).
//!
//! A field has a type, may be required or have a default, says who writes it and who
//! sees it, and may be exposed as a claim in the application's ID tokens,
//! introspection answers, UserInfo answers and JWT access tokens. Each create and
//! update validates the whole document against the declarations and names every
//! violation at once. A field removed from the configuration keeps its stored value,
//! which is then neither shown nor validated nor exposed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod typed;

pub use typed::TypedFields;

/// Longest string value (and list item).
pub const MAX_STRING_CHARS: usize = 2048;

/// Most items in a list value.
pub const MAX_LIST_ITEMS: usize = 100;

/// The claim (an object) that holds exposed fields without a `claim` name of their
/// own: `"ext": {"tier": "pro"}`.
pub const EXTENSION_CLAIM: &str = "ext";

/// Claims only Tessera sets (RFC 7519 §4.1, OIDC Core §2, RFC 9068 §2.2, RFC 7662
/// §2.2): no extension field may take one, and a policy hook's value for one is
/// dropped ([`crate::policy`]).
pub const PROTOCOL_CLAIMS: [&str; 18] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "scope",
    "client_id",
    "active",
    "token_type",
];

/// The other claims a field may not take over: the user's standard claims (OIDC Core
/// §5.1) and the rest of what ID tokens, JWT access tokens and introspection answers
/// carry, besides [`PROTOCOL_CLAIMS`].
const OTHER_RESERVED_CLAIMS: &[&str] = &[
    "sid",
    "username",
    "cnf",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    EXTENSION_CLAIM,
];

/// Whether an extension field may not be exposed under claim `name`.
fn is_reserved_claim(name: &str) -> bool {
    PROTOCOL_CLAIMS.contains(&name) || OTHER_RESERVED_CLAIMS.contains(&name)
}

/// A field's value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text, at most [`MAX_STRING_CHARS`].
    String,
    /// An absolute `https` URL.
    Url,
    /// `true` or `false`.
    Bool,
    /// A whole number (i64).
    Integer,
    /// One of the declaration's `values`.
    Enum,
    /// A list of strings (comma-separated on the command line).
    List,
}

/// Who may write a field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Writer {
    /// Operators only (the CLI).
    #[default]
    Admin,
    /// Also whoever registers the application: its owner on the management pages
    /// and, later, dynamic registration.
    Registration,
}

/// Who may see a field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone who sees the application (its owner, consent pages).
    Public,
    /// Operators (the CLI).
    #[default]
    Admin,
    /// Nobody: stored, validated and usable by code, never printed or exposed.
    Secret,
}

/// Where a field may be put as a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exposure {
    /// The application's ID tokens.
    IdToken,
    /// Introspection answers about the application's tokens.
    Introspection,
    /// UserInfo answers to the application's tokens.
    Userinfo,
    /// The application's JWT access tokens (RFC 9068).
    AccessToken,
}

/// One declared field (`[tenants.T.applications.fields.NAME]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDeclaration {
    /// The value type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The allowed values of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Every application must have a value.
    #[serde(default)]
    pub required: bool,
    /// The value of a new application that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Who may write it.
    #[serde(default)]
    pub write: Writer,
    /// Who may see it.
    #[serde(default)]
    pub visibility: Visibility,
    /// Where it is a claim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<Exposure>,
    /// The claim's name; unset: `ext.NAME` (a member of the `ext` object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The label of its form field; unset: the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl FieldDeclaration {
    /// `value` (as stored) fits this declaration; `Err` says why, without the name.
    pub fn check_value(&self, value: &Value) -> Result<(), String> {
        let string_ok = |text: &str| {
            if text.chars().count() > MAX_STRING_CHARS {
                Err(format!("longer than {MAX_STRING_CHARS} characters"))
            } else if text.chars().any(char::is_control) {
                Err("has control characters".to_owned())
            } else {
                Ok(())
            }
        };
        match (self.kind, value) {
            (FieldType::String, Value::String(text)) => string_ok(text),
            (FieldType::Url, Value::String(text)) => {
                string_ok(text)?;
                match url::Url::parse(text) {
                    Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(()),
                    _ => Err("not an https URL".to_owned()),
                }
            }
            (FieldType::Bool, Value::Bool(_)) => Ok(()),
            (FieldType::Integer, Value::Number(number)) if number.is_i64() => Ok(()),
            (FieldType::Enum, Value::String(text)) if self.values.contains(text) => Ok(()),
            (FieldType::Enum, _) => Err(format!("not one of {}", self.values.join(", "))),
            (FieldType::List, Value::Array(items)) => {
                if items.len() > MAX_LIST_ITEMS {
                    return Err(format!("more than {MAX_LIST_ITEMS} items"));
                }
                for item in items {
                    match item {
                        Value::String(text) => string_ok(text)?,
                        _ => return Err("a list of strings only".to_owned()),
                    }
                }
                Ok(())
            }
            (FieldType::Url, _) => Err("not an https URL".to_owned()),
            (FieldType::Bool, _) => Err("not true or false".to_owned()),
            (FieldType::Integer, _) => Err("not a whole number".to_owned()),
            (FieldType::String, _) => Err("not a string".to_owned()),
            (FieldType::List, _) => Err("not a list of strings".to_owned()),
        }
    }

    /// The value `text` (as typed on a command line or in a form) means.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let value = match self.kind {
            FieldType::String | FieldType::Url | FieldType::Enum => Value::String(text.to_owned()),
            FieldType::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Value::Bool(true),
                "false" | "no" | "off" | "0" => Value::Bool(false),
                _ => return Err("not true or false".to_owned()),
            },
            FieldType::Integer => Value::from(
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| "not a whole number".to_owned())?,
            ),
            FieldType::List => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
        };
        self.check_value(&value)?;
        Ok(value)
    }

    /// The value as a person types it again (the inverse of [`Self::parse`]).
    pub fn display(&self, value: &Value) -> String {
        match value {
            Value::String(text) => text.clone(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
}

/// A change to one field: set it to what `text` means, or (`None`) remove it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The field's name.
    pub name: String,
    /// Its new value as typed; `None` (`NAME=` on the command line) removes it.
    pub text: Option<String>,
}

impl Assignment {
    /// Parses `NAME=VALUE` (`NAME=` removes the value).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: write NAME=VALUE"))?;
        Ok(Self {
            name: name.trim().to_owned(),
            text: (!value.is_empty()).then(|| value.to_owned()),
        })
    }

    /// The assignment a JSON member means (the admin API, dynamic registration):
    /// `null` removes the value; a string, number or boolean is read as typed; an
    /// array is a list of strings (which, as on the command line, hold no comma).
    pub fn from_json(name: &str, value: &Value) -> Result<Self, String> {
        let text = match value {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
            Value::Array(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str() {
                        Some(text) if !text.contains(',') => texts.push(text),
                        _ => {
                            return Err(format!("{name}: a list holds strings without commas"));
                        }
                    }
                }
                Some(texts.join(","))
            }
            Value::Object(_) => return Err(format!("{name}: an object is not a field value")),
        };
        Ok(Self {
            name: name.to_owned(),
            text,
        })
    }
}

/// A tenant's declared fields, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCatalogue {
    /// The declarations.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldDeclaration>,
    /// The checks of Rust types that declare some of the fields ([`typed`]); never
    /// configuration.
    #[serde(skip)]
    pub typed: Vec<typed::TypedCheck>,
}

impl FieldCatalogue {
    /// Whether no field is declared.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `defaults` with each of `overrides`' declarations added or replacing the one of
    /// the same name.
    pub fn overlaid(defaults: &FieldCatalogue, overrides: &FieldCatalogue) -> FieldCatalogue {
        let mut fields = defaults.fields.clone();
        fields.extend(overrides.fields.clone());
        let mut typed = defaults.typed.clone();
        typed.extend(overrides.typed.clone());
        FieldCatalogue { fields, typed }
    }

    /// `self` and the fields a Rust type declares (`typed`) together; a name both
    /// declare is refused, naming `key` (where `self` was configured).
    pub fn with_typed(&self, typed: &FieldCatalogue, key: &str) -> Result<FieldCatalogue, String> {
        if let Some(name) = typed
            .fields
            .keys()
            .find(|name| self.fields.contains_key(*name))
        {
            let owner = typed
                .typed
                .iter()
                .find(|check| check.names.contains(name))
                .map_or("a registered Rust type", |check| check.type_name.as_str());
            return Err(format!(
                "{key}.fields.{name} is also declared by the Rust type {owner}: declare each \
                 field once"
            ));
        }
        Ok(Self::overlaid(self, typed))
    }

    /// The names the registered Rust types declare.
    pub fn typed_names(&self) -> impl Iterator<Item = &str> {
        self.typed
            .iter()
            .flat_map(|check| check.names.iter().map(String::as_str))
    }

    /// Checks the declarations hang together; `key` prefixes messages
    /// (`tenants.acme.applications`).
    pub fn check(&self, key: &str) -> Result<(), String> {
        let mut claims = BTreeMap::new();
        for (name, field) in &self.fields {
            let at = format!("{key}.fields.{name}");
            let named_well = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
            if !named_well {
                return Err(format!("{at}: a field name is 1 to 64 of a-z, 0-9 and _"));
            }
            if field.kind == FieldType::Enum && field.values.is_empty() {
                return Err(format!("{at}: an enum needs values = [\"…\", …]"));
            }
            if field.kind != FieldType::Enum && !field.values.is_empty() {
                return Err(format!("{at}: values are for type = \"enum\" only"));
            }
            if let Some(default) = &field.default {
                field
                    .check_value(default)
                    .map_err(|why| format!("{at}.default: {why}"))?;
            }
            if field.visibility == Visibility::Secret && !field.expose.is_empty() {
                return Err(format!(
                    "{at}: a secret field is never shown, so it cannot be exposed in tokens: \
                     drop expose or make it admin"
                ));
            }
            if let Some(claim) = &field.claim {
                if field.expose.is_empty() {
                    return Err(format!("{at}.claim: set expose too (where the claim goes)"));
                }
                if is_reserved_claim(claim) || claim.is_empty() {
                    return Err(format!(
                        "{at}.claim: {claim:?} is a standard claim; choose another name"
                    ));
                }
                if let Some(other) = claims.insert(claim.clone(), name.clone()) {
                    return Err(format!(
                        "{at}.claim: {claim:?} is also the claim of {other}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The document after `assignments`, validated whole: every declared field's value
    /// fits, required ones are present; on create (`creating`) declared defaults fill
    /// what is missing. Stored values of fields no longer declared are kept. Every
    /// violation is named: `logo: not an https URL; agree: required`.
    pub fn apply(
        &self,
        stored: &Map<String, Value>,
        assignments: &[Assignment],
        creating: bool,
    ) -> Result<Map<String, Value>, String> {
        let mut document = stored.clone();
        let mut problems = Vec::new();
        for assignment in assignments {
            let Some(field) = self.fields.get(&assignment.name) else {
                problems.push(format!("{}: not a declared field", assignment.name));
                continue;
            };
            match &assignment.text {
                None => {
                    document.remove(&assignment.name);
                }
                Some(text) => match field.parse(text) {
                    Ok(value) => {
                        document.insert(assignment.name.clone(), value);
                    }
                    Err(why) => problems.push(format!("{}: {why}", assignment.name)),
                },
            }
        }
        for (name, field) in &self.fields {
            if creating
                && !document.contains_key(name)
                && let Some(default) = &field.default
            {
                document.insert(name.clone(), default.clone());
            }
            // An assignment that failed is reported once, above.
            let reported = problems
                .iter()
                .any(|problem| problem.starts_with(&format!("{name}:")));
            match document.get(name) {
                Some(value) if !reported => {
                    if let Err(why) = field.check_value(value) {
                        problems.push(format!("{name}: {why}"));
                    }
                }
                Some(_) => {}
                None if field.required && !reported => problems.push(format!("{name}: required")),
                None => {}
            }
        }
        // A registered type's own constraints (a u8's range, say), once the
        // declarations are met.
        if problems.is_empty() {
            problems.extend(
                self.typed
                    .iter()
                    .filter_map(|check| check.check(&document).err()),
            );
        }
        if problems.is_empty() {
            Ok(document)
        } else {
            Err(problems.join("; "))
        }
    }

    /// The stored values whose fields are declared and visible at `at_least` (never
    /// secret ones).
    pub fn visible(
        &self,
        document: &Map<String, Value>,
        audience: Visibility,
    ) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|(_, field)| {
                field.visibility != Visibility::Secret && field.visibility <= audience
            })
            .filter_map(|(name, _)| {
                document
                    .get(name)
                    .map(|value| (name.clone(), value.clone()))
            })
            .collect()
    }

    /// Adds to `claims` the fields exposed `where_to`: each under its `claim` name, or
    /// in the `ext` object.
    pub fn add_claims(
        &self,
        document: &Map<String, Value>,
        where_to: Exposure,
        claims: &mut Map<String, Value>,
    ) {
        let mut extension = Map::new();
        for (name, field) in &self.fields {
            if !field.expose.contains(&where_to) {
                continue;
            }
            let Some(value) = document.get(name) else {
                continue;
            };
            match &field.claim {
                Some(claim) => {
                    claims.insert(claim.clone(), value.clone());
                }
                None => {
                    extension.insert(name.clone(), value.clone());
                }
            }
        }
        if !extension.is_empty() {
            claims.insert(EXTENSION_CLAIM.to_owned(), Value::Object(extension));
        }
    }

    /// The claims an application whose stored document is `stored` adds `where_to`
    /// (nothing, without parsing, when no field is exposed there).
    pub fn claims_of(&self, stored: &str, where_to: Exposure) -> Map<String, Value> {
        let mut claims = Map::new();
        if self
            .fields
            .values()
            .any(|field| field.expose.contains(&where_to))
        {
            self.add_claims(&document_of(stored), where_to, &mut claims);
        }
        claims
    }

    /// The names of declared fields that are required and have no default (an
    /// application without a value for one is invalid).
    pub fn required_without_default(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|(_, field)| field.required && field.default.is_none())
            .map(|(name, _)| name.as_str())
    }
}

/// An application's stored document (`applications.extensions`); an empty or
/// unreadable column is an empty document.
pub fn document_of(stored: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(stored) {
        Ok(Value::Object(document)) => document,
        _ => Map::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalogue() -> FieldCatalogue {
        let declarations = json!({
            "fields": {
                "tier": {"type": "enum", "values": ["free", "pro"], "default": "free",
                         "expose": ["id_token", "introspection"]},
                "logo": {"type": "url", "visibility": "public"},
                "agree": {"type": "bool", "required": true},
                "seats": {"type": "integer", "expose": ["userinfo"], "claim": "seats"},
                "tags": {"type": "list"},
                "api_key": {"type": "string", "visibility": "secret"},
            }
        });
        let catalogue: FieldCatalogue = serde_json::from_value(declarations).unwrap();
        catalogue.check("applications").unwrap();
        catalogue
    }

    /// Assignments from `NAME=VALUE` pairs (also the typed fields' tests').
    pub(super) fn set(pairs: &[&str]) -> Vec<Assignment> {
        pairs
            .iter()
            .map(|pair| Assignment::parse(pair).unwrap())
            .collect()
    }

    #[test]
    fn every_violation_is_named_at_once() {
        let error = catalogue()
            .apply(
                &Map::new(),
                &set(&["logo=http://x.example", "color=red"]),
                true,
            )
            .unwrap_err();
        assert_eq!(
            error,
            "logo: not an https URL; color: not a declared field; agree: required"
        );
        let once = catalogue()
            .apply(&Map::new(), &set(&["agree=maybe"]), true)
            .unwrap_err();
        assert_eq!(once, "agree: not true or false");
    }

    #[test]
    fn create_fills_defaults_and_parses_types() {
        let document = catalogue()
            .apply(
                &Map::new(),
                &set(&[
                    "agree=yes",
                    "seats=12",
                    "tags=a, b,",
                    "logo=https://x.example/l.png",
                ]),
                true,
            )
            .unwrap();
        assert_eq!(
            Value::Object(document),
            json!({"tier": "free", "agree": true, "seats": 12, "tags": ["a", "b"],
                   "logo": "https://x.example/l.png"})
        );
    }

    #[test]
    fn update_keeps_undeclared_values_and_revalidates_the_rest() {
        let stored = document_of(r#"{"agree": true, "tier": "gold", "old": 1}"#);
        let error = catalogue().apply(&stored, &[], false).unwrap_err();
        assert_eq!(error, "tier: not one of free, pro");
        let document = catalogue()
            .apply(&stored, &set(&["tier=pro"]), false)
            .unwrap();
        assert_eq!(document["old"], json!(1));
        assert!(
            catalogue()
                .apply(&stored, &set(&["agree="]), false)
                .is_err()
        );
    }

    #[test]
    fn secrets_are_never_visible_and_claims_go_where_exposed() {
        let document = document_of(
            r#"{"tier": "pro", "logo": "https://l.example", "api_key": "k", "seats": 3}"#,
        );
        let catalogue = catalogue();
        assert_eq!(
            Value::Object(catalogue.visible(&document, Visibility::Admin)),
            json!({"tier": "pro", "logo": "https://l.example", "seats": 3})
        );
        assert_eq!(
            Value::Object(catalogue.visible(&document, Visibility::Public)),
            json!({"logo": "https://l.example"})
        );
        let mut claims = Map::new();
        catalogue.add_claims(&document, Exposure::IdToken, &mut claims);
        assert_eq!(Value::Object(claims), json!({"ext": {"tier": "pro"}}));
        let mut claims = Map::new();
        catalogue.add_claims(&document, Exposure::Userinfo, &mut claims);
        assert_eq!(Value::Object(claims), json!({"seats": 3}));
    }

    #[test]
    fn declarations_are_checked() {
        let bad = |declaration: Value| {
            let catalogue: FieldCatalogue =
                serde_json::from_value(json!({"fields": {"f": declaration}})).unwrap();
            catalogue.check("applications").unwrap_err()
        };
        assert!(bad(json!({"type": "enum"})).contains("needs values"));
        assert!(bad(json!({"type": "url", "default": "ftp://x"})).contains("default"));
        assert!(
            bad(json!({"type": "string", "visibility": "secret", "expose": ["id_token"]}))
                .contains("secret")
        );
        assert!(
            bad(json!({"type": "string", "expose": ["id_token"], "claim": "sub"}))
                .contains("standard claim")
        );
    }
}
