//! Standard user claims (OpenID Connect Core §5.1) and which scope releases which
//! (§5.4). They come from the user record: `email` from its column, `updated_at` from
//! its update time, `preferred_username` from the username unless set, the rest from
//! its `claims` JSON object.

use entity::user;
use serde_json::{Map, Value};

use crate::oauth::scope::Scopes;
use crate::time::unix_seconds;

/// Claims released by each scope (OIDC Core §5.4).
pub const CLAIMS_BY_SCOPE: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Members of the `address` claim (OIDC Core §5.1.1).
pub const ADDRESS_MEMBERS: [&str; 6] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// Every claim name this server can release, for discovery's `claims_supported`.
pub fn supported() -> Vec<&'static str> {
    let mut names = vec!["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce"];
    for (_, claims) in CLAIMS_BY_SCOPE {
        names.extend_from_slice(claims);
    }
    names
}

/// The user's claims that `scopes` release, without `sub`.
pub fn for_scopes(user: &user::Model, scopes: &Scopes) -> Map<String, Value> {
    let stored: Map<String, Value> = serde_json::from_str(&user.claims).unwrap_or_default();
    let mut released = Map::new();
    for (scope, names) in CLAIMS_BY_SCOPE {
        if !scopes.contains(scope) {
            continue;
        }
        for name in names.iter().copied() {
            let value = match name {
                "email" => user.email.clone().map(Value::String),
                "updated_at" => Some(Value::from(unix_seconds(user.updated_at))),
                "preferred_username" => stored
                    .get(name)
                    .cloned()
                    .or_else(|| Some(Value::String(user.username.clone()))),
                _ => stored.get(name).cloned(),
            };
            if let Some(value) = value {
                released.insert(name.to_owned(), value);
            }
        }
    }
    released
}

/// Parses `NAME=VALUE` of `tessera user create --claim`: a standard claim (not `sub`,
/// `email` — use `--email` — or `updated_at`), `address.MEMBER` for the address,
/// `true`/`false` for the `*_verified` claims. Adds it to `claims`.
pub fn assign(claims: &mut Map<String, Value>, assignment: &str) -> Result<(), String> {
    let (name, value) = assignment
        .split_once('=')
        .ok_or_else(|| format!("--claim {assignment:?}: write NAME=VALUE"))?;
    if let Some(member) = name.strip_prefix("address.") {
        if !ADDRESS_MEMBERS.contains(&member) {
            return Err(format!(
                "--claim {name}: the address has {}",
                ADDRESS_MEMBERS.join(", ")
            ));
        }
        let address = claims
            .entry("address")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(address) = address {
            address.insert(member.to_owned(), Value::String(value.to_owned()));
        }
        return Ok(());
    }
    let known = CLAIMS_BY_SCOPE
        .iter()
        .flat_map(|(_, names)| names.iter())
        .any(|known| *known == name);
    if !known || matches!(name, "email" | "updated_at" | "address") {
        return Err(format!(
            "--claim {name}: not a standard claim this command sets (use --email for the \
             e-mail, address.MEMBER for the address; see OpenID Connect Core §5.1)"
        ));
    }
    let value = if name.ends_with("_verified") {
        match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => return Err(format!("--claim {name}={other}: use true or false")),
        }
    } else {
        Value::String(value.to_owned())
    };
    claims.insert(name.to_owned(), value);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_checked() {
        let mut claims = Map::new();
        assign(&mut claims, "given_name=Ada").unwrap();
        assign(&mut claims, "address.locality=London").unwrap();
        assign(&mut claims, "phone_number_verified=true").unwrap();
        assert_eq!(claims["address"]["locality"], "London");
        assert_eq!(claims["phone_number_verified"], true);
        assert!(assign(&mut claims, "sub=1").is_err());
        assert!(assign(&mut claims, "email_verified=yes").is_err());
        assert!(assign(&mut claims, "address.planet=Mars").is_err());
        assert!(assign(&mut claims, "nickname").is_err());
    }
}
