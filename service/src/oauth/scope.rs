//! Scopes (RFC 6749 §3.3): space-delimited, order-insensitive sets of tokens.

use std::collections::BTreeSet;
use std::fmt;

use crate::oauth::error::OAuthError;
use crate::settings::OAuthSettings;

/// The scope a bearer token needs to call the introspection endpoint (RFC 7662 §2.1
/// leaves the authorization of its callers to the server). A client gets it only
/// when its registration lists it.
pub const INTROSPECTION_SCOPE: &str = "introspection";

/// The scope of the admin API (`/admin/v1`): a client holds it only when its
/// registration lists it (never through an empty list), in every tenant's catalogue
/// without being shown in it. A token of the `admin.tenant` with it administers
/// every tenant; of any other tenant, only that tenant.
pub const ADMIN_SCOPE: &str = "tessera:admin";

/// The scope of an initial access token (RFC 7591 §3): its holder may register
/// clients at `{issuer}/register` when the tenant's `dynamic_registration` is
/// `initial_access_token`. Like [`ADMIN_SCOPE`], held only by clients that list it.
pub const REGISTER_SCOPE: &str = "tessera:register";

/// The operators' scopes: in every tenant's catalogue without being shown in it,
/// granted only to clients whose registration lists them.
pub const OPERATOR_SCOPES: [&str; 2] = [ADMIN_SCOPE, REGISTER_SCOPE];

/// Whether `scope` is one of [`OPERATOR_SCOPES`].
pub fn is_operator_scope(scope: &str) -> bool {
    OPERATOR_SCOPES.contains(&scope)
}

/// A set of scope tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a `scope` parameter; a malformed token is `invalid_scope`.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        let mut scopes = BTreeSet::new();
        for token in value.split(' ').filter(|token| !token.is_empty()) {
            crate::syntax::check_scope_token(token)
                .map_err(|_| OAuthError::invalid_scope(format!("malformed scope {token:?}")))?;
            scopes.insert(token.to_owned());
        }
        Ok(Self(scopes))
    }

    /// Parses a stored, trusted list.
    pub fn from_stored(value: &str) -> Self {
        Self(value.split_whitespace().map(str::to_owned).collect())
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scope names, sorted.
    pub fn set(&self) -> &BTreeSet<String> {
        &self.0
    }

    /// Whether no scope is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes a client gets: those requested (or the tenant's defaults), which must
    /// all be in the tenant's catalogue and among the client's allowed scopes (empty
    /// allowed list: the whole catalogue, except `introspection`, which a client gets
    /// only when it lists it). An empty result is `invalid_scope`. RFC 6749 §3.3.
    pub fn grant(
        requested: Option<Scopes>,
        settings: &OAuthSettings,
        allowed: &Scopes,
    ) -> Result<Scopes, OAuthError> {
        let in_catalogue =
            |scope: &String| settings.scopes.contains_key(scope) || is_operator_scope(scope);
        let permitted = |scope: &String| is_permitted(scope, allowed);
        match requested {
            Some(requested) if !requested.is_empty() => {
                if let Some(scope) = requested.0.iter().find(|scope| !in_catalogue(scope)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "unknown scope {scope:?}"
                    )));
                }
                if let Some(scope) = requested.0.iter().find(|scope| !permitted(scope)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope {scope:?} is not allowed for this client"
                    )));
                }
                Ok(requested)
            }
            _ => {
                let defaults: BTreeSet<String> = settings
                    .default_scopes
                    .iter()
                    .filter(|scope| permitted(scope))
                    .cloned()
                    .collect();
                if defaults.is_empty() {
                    return Err(OAuthError::invalid_scope(
                        "no default scope is allowed for this client: request a scope",
                    ));
                }
                Ok(Scopes(defaults))
            }
        }
    }

    /// What of a stored grant may still be minted now: scopes removed since from the
    /// tenant's catalogue or from the client's allowed scopes drop out (a refresh,
    /// RFC 6749 §6, never mints a scope the server no longer grants). Empty when
    /// nothing is left.
    pub fn still_grantable(&self, settings: &OAuthSettings, allowed: &Scopes) -> Scopes {
        Scopes(
            self.0
                .iter()
                .filter(|scope| {
                    (settings.scopes.contains_key(*scope) || is_operator_scope(scope))
                        && is_permitted(scope, allowed)
                })
                .cloned()
                .collect(),
        )
    }
}

/// Whether a client whose registration allows `allowed` may hold `scope` (empty
/// list: every scope of the catalogue but [`INTROSPECTION_SCOPE`] and the
/// [`OPERATOR_SCOPES`]).
fn is_permitted(scope: &str, allowed: &Scopes) -> bool {
    allowed.contains(scope)
        || (allowed.is_empty() && scope != INTROSPECTION_SCOPE && !is_operator_scope(scope))
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `tessera:admin`, `tessera:register` and `introspection` are granted only to a client that lists
    /// them: never through an empty allowed list (the whole catalogue), never on
    /// refresh to one that no longer lists them.
    #[test]
    fn privileged_scopes_need_an_explicit_listing() {
        let settings = OAuthSettings::default().with_openid_scopes();
        let everything = Scopes::parse("").unwrap();
        for scope in [ADMIN_SCOPE, REGISTER_SCOPE, INTROSPECTION_SCOPE] {
            let asked = Some(Scopes::parse(scope).unwrap());
            assert!(
                Scopes::grant(asked.clone(), &settings, &everything).is_err(),
                "{scope}"
            );
            let listed = Scopes::parse(scope).unwrap();
            assert_eq!(
                Scopes::grant(asked, &settings, &listed)
                    .unwrap()
                    .to_string(),
                scope
            );
            let stored = Scopes::parse(scope).unwrap();
            assert!(
                stored.still_grantable(&settings, &everything).is_empty(),
                "{scope}"
            );
        }
        // Not shown in the catalogue (discovery's scopes_supported).
        assert!(!settings.scopes.contains_key(ADMIN_SCOPE));
        assert!(!settings.scopes.contains_key(REGISTER_SCOPE));
    }
}
