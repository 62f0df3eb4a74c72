//! Extension fields as a Rust type, for programs that embed Tessera: a struct with
//! `serde` and `schemars::JsonSchema` derives is the declaration. Its JSON Schema
//! (draft 2020-12, the deserialize contract) becomes a [`FieldCatalogue`], so the
//! CLI, the management pages, validation and claims treat it exactly like fields
//! declared in the configuration; on top of that, every create and update must
//! deserialize into the type, so constraints only the type knows (a `u8`'s range, a
//! custom `Deserialize`) are kept too, and the program reads an application's
//! values back as the type ([`TypedFields::read`]).
//!
//! What the configuration says in `write`, `visibility`, `expose`, `claim` and
//! `label`, a field says in an `x-tessera` schema extension:
//! `#[schemars(extend("x-tessera" = {"expose": ["id_token"], "visibility": "public"}))]`.
//!
//! | Rust (schema) | field type |
//! |---|---|
//! | `String` (`"type": "string"`) | `string` |
//! | `String` with `#[schemars(url)]`, `url::Url` (`"format": "uri"`) | `url` |
//! | `bool` | `bool` |
//! | integers (`"type": "integer"`) | `integer` |
//! | an enum of unit variants (`"enum"`, or `"oneOf"` of `"const"`s) | `enum` |
//! | `Vec<String>` | `list` |
//! | `Option<…>` of any of these | the same, not required |
//!
//! A field is required when the schema requires it (not an `Option`, no
//! `#[serde(default)]`); a schema `default` is the field's default; the doc comment
//! (its title, else its description) is the label, unless `x-tessera` names one.

use std::marker::PhantomData;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Exposure, FieldCatalogue, FieldDeclaration, FieldType, Visibility, Writer};

/// The schema extension that carries what a type cannot say.
pub const SCHEMA_EXTENSION: &str = "x-tessera";

/// `x-tessera` of one property: the configuration's keys a type cannot express.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldOptions {
    #[serde(default)]
    write: Writer,
    #[serde(default)]
    visibility: Visibility,
    #[serde(default)]
    expose: Vec<Exposure>,
    #[serde(default)]
    claim: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// A registered type's own check of a document: it must deserialize into the type.
#[derive(Clone, Debug)]
pub struct TypedCheck {
    /// The type's schema name (`AcmeApplication`), for messages.
    pub type_name: String,
    /// The fields it declares (only these are handed to it).
    pub names: Vec<String>,
    deserializes: fn(Value) -> Result<(), String>,
}

impl PartialEq for TypedCheck {
    fn eq(&self, other: &Self) -> bool {
        self.type_name == other.type_name && self.names == other.names
    }
}

impl Eq for TypedCheck {}

impl TypedCheck {
    /// The declared part of `document` deserializes into the type; `Err` names the
    /// type and says why.
    pub fn check(&self, document: &Map<String, Value>) -> Result<(), String> {
        (self.deserializes)(Value::Object(self.part_of(document)))
            .map_err(|why| format!("{}: {why}", self.type_name))
    }

    /// The values of the type's fields in `document`.
    fn part_of(&self, document: &Map<String, Value>) -> Map<String, Value> {
        self.names
            .iter()
            .filter_map(|name| {
                document
                    .get(name)
                    .map(|value| (name.clone(), value.clone()))
            })
            .collect()
    }
}

fn deserializes<T: DeserializeOwned>(document: Value) -> Result<(), String> {
    serde_json::from_value::<T>(document)
        .map(drop)
        .map_err(|error| error.to_string())
}

/// The extension fields `T` declares, ready to register with
/// `Config::with_application_fields` and to read applications' values back as `T`.
pub struct TypedFields<T> {
    catalogue: FieldCatalogue,
    check: TypedCheck,
    of: PhantomData<fn() -> T>,
}

// By hand: a derive would ask `T` to be `Clone` and `Debug` too.
impl<T> Clone for TypedFields<T> {
    fn clone(&self) -> Self {
        Self {
            catalogue: self.catalogue.clone(),
            check: self.check.clone(),
            of: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for TypedFields<T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TypedFields")
            .field("type", &self.check.type_name)
            .field("fields", &self.check.names)
            .finish()
    }
}

impl<T: JsonSchema + DeserializeOwned + Serialize> TypedFields<T> {
    /// `T`'s fields, from its JSON Schema; `Err` names each field that is not one of
    /// the supported types or whose declaration is inconsistent. `T` is `Serialize`
    /// so that its fields are: schemars writes a `#[serde(default)]` value into the
    /// schema only for a type it can serialize.
    pub fn new() -> Result<Self, String> {
        let schema = SchemaSettings::draft2020_12()
            .with(|settings| settings.inline_subschemas = true)
            .into_generator()
            .into_root_schema_for::<T>();
        let type_name = T::schema_name().into_owned();
        let catalogue = catalogue_of(&type_name, schema.as_value())?;
        catalogue.check(&type_name)?;
        let check = TypedCheck {
            type_name,
            names: catalogue.fields.keys().cloned().collect(),
            deserializes: deserializes::<T>,
        };
        let mut checked = catalogue.clone();
        checked.typed.push(check.clone());
        Ok(Self {
            catalogue: checked,
            check,
            of: PhantomData,
        })
    }

    /// An application's values (its stored `extensions` column) as `T`. Values of
    /// fields `T` no longer declares are left out.
    pub fn read(&self, stored: &str) -> Result<T, String> {
        let part = self.check.part_of(&super::document_of(stored));
        serde_json::from_value(Value::Object(part))
            .map_err(|error| format!("{}: {error}", self.check.type_name))
    }
}

impl<T> TypedFields<T> {
    /// The declarations (with the type's own check), as the configuration's would be.
    pub fn catalogue(&self) -> &FieldCatalogue {
        &self.catalogue
    }
}

/// The catalogue a root object schema declares.
fn catalogue_of(type_name: &str, schema: &Value) -> Result<FieldCatalogue, String> {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{type_name}: extension fields are a struct with named fields"))?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut catalogue = FieldCatalogue::default();
    let mut problems = Vec::new();
    for (name, property) in properties {
        match declaration_of(property, required.contains(&name.as_str())) {
            Ok(declaration) => {
                catalogue.fields.insert(name.clone(), declaration);
            }
            Err(why) => problems.push(format!("{type_name}.{name}: {why}")),
        }
    }
    if problems.is_empty() {
        Ok(catalogue)
    } else {
        Err(problems.join("; "))
    }
}

/// One property's declaration.
fn declaration_of(property: &Value, required: bool) -> Result<FieldDeclaration, String> {
    let options = match property.get(SCHEMA_EXTENSION) {
        Some(extension) => FieldOptions::deserialize(extension)
            .map_err(|error| format!("{SCHEMA_EXTENSION}: {error}"))?,
        None => FieldOptions::default(),
    };
    let shape = without_null(property);
    let (kind, values) = kind_of(shape)?;
    // The doc comment: schemars makes a lone line the description, and the first of
    // several paragraphs the title.
    let label = options.label.or_else(|| {
        ["title", "description"]
            .iter()
            .find_map(|key| property.get(*key).and_then(Value::as_str))
            .map(str::to_owned)
    });
    Ok(FieldDeclaration {
        kind,
        values,
        required,
        default: property
            .get("default")
            .filter(|value| !value.is_null())
            .cloned(),
        write: options.write,
        visibility: options.visibility,
        expose: options.expose,
        claim: options.claim,
        label,
    })
}

/// The schema of an `Option`'s inner type (schemars adds `null` to `type`, or wraps
/// the schema in `anyOf` with `{"type": "null"}`); any other schema as it is.
fn without_null(property: &Value) -> &Value {
    for combinator in ["anyOf", "oneOf"] {
        if let Some(alternatives) = property.get(combinator).and_then(Value::as_array) {
            let other: Vec<&Value> = alternatives
                .iter()
                .filter(|alternative| alternative.get("type") != Some(&Value::from("null")))
                .collect();
            if other.len() == 1 && alternatives.len() == 2 {
                return other[0];
            }
        }
    }
    property
}

/// The field type a schema describes, with an enum's values.
fn kind_of(schema: &Value) -> Result<(FieldType, Vec<String>), String> {
    let unsupported = |what: &str| {
        Err(format!(
            "{what} cannot be an extension field (a string, URL, bool, integer, enum of \
             unit variants or list of strings can)"
        ))
    };
    if let Some(values) = enum_values(schema) {
        return Ok((FieldType::Enum, values));
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => {
            let other: Vec<&str> = kinds
                .iter()
                .filter_map(Value::as_str)
                .filter(|kind| *kind != "null")
                .collect();
            match other.as_slice() {
                [kind] => *kind,
                _ => return unsupported("a value of several types"),
            }
        }
        _ => return unsupported("this type"),
    };
    match kind {
        "string" if schema.get("format") == Some(&Value::from("uri")) => {
            Ok((FieldType::Url, Vec::new()))
        }
        "string" => Ok((FieldType::String, Vec::new())),
        "boolean" => Ok((FieldType::Bool, Vec::new())),
        "integer" => Ok((FieldType::Integer, Vec::new())),
        "array" => match schema.get("items").map(without_null) {
            Some(items)
                if items.get("type") == Some(&Value::from("string"))
                    && enum_values(items).is_none() =>
            {
                Ok((FieldType::List, Vec::new()))
            }
            _ => unsupported("a list of anything but strings"),
        },
        "number" => unsupported("a floating-point number"),
        "object" => unsupported("an object (a struct or a map)"),
        other => unsupported(&format!("a value of type {other}")),
    }
}

/// The values of a string enum: `"enum": [...]`, or `"oneOf"` of `"const"`s (what
/// schemars writes when variants have doc comments).
fn enum_values(schema: &Value) -> Option<Vec<String>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter(|value| !value.is_null())
            .map(|value| value.as_str().map(str::to_owned))
            .collect();
    }
    let alternatives = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    alternatives
        .iter()
        .filter(|alternative| alternative.get("type") != Some(&Value::from("null")))
        .map(|alternative| {
            alternative
                .get("const")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::super::tests::set;
    use super::super::{Exposure, FieldType, Visibility, Writer};
    use super::TypedFields;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Tier {
        #[default]
        Free,
        Pro,
    }

    fn max_seats() -> u8 {
        5
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    struct AcmeApplication {
        /// Plan
        #[serde(default)]
        #[schemars(extend("x-tessera" = {"expose": ["id_token"], "visibility": "public", "write": "registration"}))]
        tier: Tier,
        #[schemars(url)]
        logo: Option<String>,
        agree: bool,
        #[serde(default = "max_seats")]
        seats: u8,
        tags: Option<Vec<String>>,
    }

    #[test]
    fn a_struct_declares_the_fields() {
        let typed = TypedFields::<AcmeApplication>::new().unwrap();
        let fields = &typed.catalogue().fields;
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            ["agree", "logo", "seats", "tags", "tier"]
        );
        let tier = &fields["tier"];
        assert_eq!(tier.kind, FieldType::Enum);
        assert_eq!(tier.values, ["free", "pro"]);
        assert_eq!(tier.default, Some(json!("free")));
        assert!(!tier.required);
        assert_eq!(tier.expose, [Exposure::IdToken]);
        assert_eq!(tier.visibility, Visibility::Public);
        assert_eq!(tier.write, Writer::Registration);
        assert_eq!(tier.label.as_deref(), Some("Plan"));
        assert_eq!(fields["logo"].kind, FieldType::Url);
        assert!(!fields["logo"].required);
        assert_eq!(fields["agree"].kind, FieldType::Bool);
        assert!(fields["agree"].required);
        assert_eq!(fields["seats"].kind, FieldType::Integer);
        assert_eq!(fields["seats"].default, Some(json!(5)));
        assert_eq!(fields["tags"].kind, FieldType::List);
        assert_eq!(fields["agree"].visibility, Visibility::Admin);
    }

    #[test]
    fn documents_are_checked_by_the_declarations_and_by_the_type() {
        let typed = TypedFields::<AcmeApplication>::new().unwrap();
        let catalogue = typed.catalogue();
        let error = catalogue
            .apply(
                &serde_json::Map::new(),
                &set(&["logo=http://x.example", "tier=gold"]),
                true,
            )
            .unwrap_err();
        assert_eq!(
            error,
            "logo: not an https URL; tier: not one of free, pro; agree: required"
        );
        // Only the type knows a u8 stops at 255.
        let error = catalogue
            .apply(
                &serde_json::Map::new(),
                &set(&["agree=true", "seats=300"]),
                true,
            )
            .unwrap_err();
        assert!(error.starts_with("AcmeApplication: "), "{error}");
        assert!(error.contains("300"), "{error}");
        let document = catalogue
            .apply(
                &serde_json::Map::new(),
                &set(&["agree=true", "tags=a,b", "logo=https://l.example/a.png"]),
                true,
            )
            .unwrap();
        let stored = serde_json::to_string(&document).unwrap();
        assert_eq!(
            typed.read(&stored).unwrap(),
            AcmeApplication {
                tier: Tier::Free,
                logo: Some("https://l.example/a.png".to_owned()),
                agree: true,
                seats: 5,
                tags: Some(vec!["a".to_owned(), "b".to_owned()]),
            }
        );
        // A value the type no longer declares is kept in the column and left out here.
        let with_old = r#"{"agree": false, "retired": 1}"#;
        assert!(!typed.read(with_old).unwrap().agree);
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Unsupported {
        ratio: f64,
        limits: std::collections::BTreeMap<String, String>,
        ok: String,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct BadOptions {
        #[schemars(extend("x-tessera" = {"expose": ["everywhere"]}))]
        name: String,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct BadClaim {
        #[schemars(extend("x-tessera" = {"claim": "sub", "expose": ["id_token"]}))]
        owner: String,
    }

    #[test]
    fn unsupported_fields_are_named() {
        let error = TypedFields::<Unsupported>::new().unwrap_err();
        assert!(error.contains("Unsupported.limits: an object"), "{error}");
        assert!(
            error.contains("Unsupported.ratio: a floating-point"),
            "{error}"
        );
        assert!(!error.contains("ok"), "{error}");
        let error = TypedFields::<BadOptions>::new().unwrap_err();
        assert!(error.contains("BadOptions.name: x-tessera"), "{error}");
        let error = TypedFields::<BadClaim>::new().unwrap_err();
        assert!(error.contains("BadClaim.fields.owner.claim"), "{error}");
    }
}
