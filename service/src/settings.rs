//! Per-tenant OAuth settings: lifetimes, scope catalogue, refresh-token policy.
//!
//! `[oauth]` in the configuration sets the defaults for every tenant;
//! `[tenants.SLUG.oauth]` overrides single keys for one tenant. Defaults follow Django
//! OAuth Toolkit 3.4 where it is not less safe: refresh rotation on, reuse protection
//! on (DOT: off), access tokens for one hour (DOT: ten hours).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use router_policies::TenantSlug;
use serde::{Deserialize, Serialize};

use crate::application_fields::FieldCatalogue;
use crate::error::Error;

/// One tenant's OAuth behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthSettings {
    /// Access token lifetime (RFC 6749 §5.1 `expires_in`).
    pub access_token_lifetime_secs: u64,
    /// Absolute refresh token lifetime; unset: refresh tokens live until revoked or
    /// rotated. Also how long `cleartokens` keeps revoked refresh tokens (DOT's
    /// `REFRESH_TOKEN_EXPIRE_SECONDS`).
    pub refresh_token_lifetime_secs: Option<u64>,
    /// A refresh token unused this long is refused.
    pub refresh_token_idle_secs: Option<u64>,
    /// Authorization code lifetime (RFC 6749 §4.1.2 recommends at most ten minutes).
    pub authorization_code_lifetime_secs: u64,
    /// Issue a new refresh token on every refresh (RFC 6749 §6, OAuth 2.1 §4.3.1).
    pub rotate_refresh_tokens: bool,
    /// Issue access and refresh tokens that carry their issue second, stored under
    /// keys that sort by it (`secrets::generate_time_ordered`). Off: the earlier
    /// form, which nodes of versions before it can look up (docs/operations.md,
    /// "Upgrading"). Tokens of either form are looked up whatever this says.
    pub time_ordered_token_keys: bool,
    /// Replaying a rotated refresh token revokes its whole family.
    pub refresh_token_reuse_protection: bool,
    /// Seconds after a rotation during which replaying the immediate predecessor
    /// returns the same new pair instead of counting as reuse.
    pub refresh_token_grace_period_secs: u64,
    /// Whether the resource owner password grant is available at all.
    pub allow_password_grant: bool,
    /// The scope catalogue: name → description.
    pub scopes: BTreeMap<String, String>,
    /// Scopes granted when a request names none.
    pub default_scopes: Vec<String>,
    /// Failed password-grant attempts per username (as typed, existing or not) within
    /// `failure_window_secs` before further attempts get 429 (RFC 6749 §4.3.2). 0: off.
    pub max_failures_per_username: u32,
    /// Failed client authentications per client_id within the window (RFC 6749
    /// §2.3.1). 0: off.
    pub max_failures_per_client: u32,
    /// Failed attempts of either kind per source address within the window. 0: off.
    pub max_failures_per_address: u32,
    /// The sliding window the failure limits count in.
    pub failure_window_secs: u64,
    /// Confidential clients must send a PKCE challenge too (RFC 7636; OAuth 2.1
    /// §4.1.1). Public clients always must. Off: PKCE is optional for confidential
    /// clients, and still verified when sent.
    pub pkce_required_for_confidential_clients: bool,
    /// Accept `code_challenge_method=plain` (RFC 7636 §4.2). Off by default: `plain`
    /// protects nothing against an attacker who can read the authorization request.
    pub allow_plain_pkce: bool,
    /// Consent when the request has no `approval_prompt`: `force` shows it every time
    /// (DOT's default), `auto` skips it when the user already holds a live token of
    /// that application covering the scopes.
    pub approval_prompt: ApprovalPrompt,
    /// Redirect URI schemes the authorization endpoint sends browsers to. Private-use
    /// schemes of native apps (`com.example.app`, RFC 8252 §7.1) are allowed when
    /// registered, whatever this list says.
    pub allowed_redirect_uri_schemes: Vec<String>,
    /// How long a browser session lasts after the login.
    pub session_lifetime_secs: u64,
    /// How long a started authorization request waits for its login and consent.
    pub interaction_lifetime_secs: u64,
    /// Device code and user code lifetime (RFC 8628 §3.2 `expires_in`).
    pub device_code_lifetime_secs: u64,
    /// Minimum polling interval of the device flow (RFC 8628 §3.2 `interval`).
    pub device_poll_interval_secs: u32,
    /// Lifetime of ID tokens (OIDC Core §2 `exp`).
    pub id_token_lifetime_secs: u64,
    /// How long a rotated-in signing key is published before it signs: at least the
    /// JWKS `Cache-Control` (300 s) plus the nodes' key cache (`key_cache_ttl_secs`),
    /// or 0 (sign at once: only after a compromise).
    pub key_publish_ahead_secs: u64,
    /// RP-initiated logout also revokes the tokens the user holds for the client that
    /// asked (DOT's `OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS`, on by default).
    pub logout_revokes_tokens: bool,
    /// Whether people may create their own account on the sign-up page, and clients
    /// ask for it with `prompt=create` (OpenID Connect Prompt Create 1.0). Off: only
    /// the CLI creates users, and `prompt=create` is `invalid_request`.
    pub allow_sign_up: bool,
    /// Accounts one source address may create within `failure_window_secs`. 0: off.
    pub max_sign_ups_per_address: u32,
    /// How long a consent is remembered (`approval_prompt=auto` skips the page while
    /// it covers the scopes asked); unset: until the user revokes the application.
    pub consent_lifetime_secs: Option<u64>,
    /// An external login and consent application (Hydra's headless model): the
    /// authorization endpoint sends the browser to this URL with `interaction_id`
    /// instead of showing Tessera's login and consent pages. Unset: Tessera's pages.
    pub login_url: Option<String>,
    /// The client_id the login application at `login_url` authenticates with (a
    /// confidential client of the tenant listing the `interactions` scope): that
    /// credential alone drives the tenant's interactions. Required with `login_url`.
    pub login_client_id: Option<String>,
    /// Compare usernames without their letter case (`Alice` signs in as `alice`, and
    /// sign-up refuses `ALICE` when `alice` exists). Off, as in Django: case counts.
    /// Either way usernames compare in Unicode NFKC.
    pub usernames_ignore_case: bool,
    /// Pending interactions (sign-ins waiting for a login or consent) one source
    /// address (IPv4, or IPv6 /64) may hold in the tenant; more are refused with 429.
    pub max_pending_interactions_per_address: u64,
    /// Pending interactions the tenant may hold from all addresses.
    pub max_pending_interactions: u64,
    /// Pending device grants (RFC 8628) one source address may hold in the tenant.
    pub max_pending_device_grants_per_address: u64,
    /// Pending device grants the tenant may hold from all addresses.
    pub max_pending_device_grants: u64,
    /// Signed-in users may register and manage their own applications on the
    /// management pages (`/t/{tenant}/applications`, DOT's management views).
    pub allow_application_management: bool,
    /// Dynamic client registration (RFC 7591) at `{issuer}/register`: `off`;
    /// `open` (anyone may register, within `max_registrations_per_address`); or
    /// `initial_access_token` (RFC 7591 §3: a bearer access token of this tenant
    /// with the `tessera:register` scope, which a client gets only by listing it).
    pub dynamic_registration: DynamicRegistration,
    /// The grant types a dynamic registration may ask for (RFC 7591 names).
    pub registration_grant_types: Vec<String>,
    /// The redirect URI schemes a dynamic registration may use (`http` only ever on
    /// a loopback host); add a native app's private-use scheme (`com.example.app`)
    /// to allow it.
    pub registration_redirect_uri_schemes: Vec<String>,
    /// Dynamic registrations one source address may make within
    /// `failure_window_secs`. 0: off.
    pub max_registrations_per_address: u32,
    /// The software statement issuers (RFC 7591 §2.3) the tenant trusts: `iss` →
    /// its public key as a JWK in JSON (RSA, EC P-256 or Ed25519). Empty: a
    /// registration carrying a software statement is refused
    /// (`unapproved_software_statement`).
    pub software_statement_issuers: BTreeMap<String, String>,
}

/// Who may register clients dynamically (RFC 7591 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DynamicRegistration {
    /// Nobody: the registration endpoint is not advertised and refuses.
    #[default]
    Off,
    /// Anyone, within the per-address limit.
    Open,
    /// The holders of an initial access token (a bearer token with the
    /// `tessera:register` scope).
    InitialAccessToken,
}

/// DOT's `approval_prompt` (consent policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalPrompt {
    /// Show consent every time.
    Force,
    /// Skip consent when a live token of the application already covers the scopes.
    Auto,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        let scopes = [
            ("read", "Read your data"),
            ("write", "Change your data"),
            (
                "introspection",
                "Introspect tokens (RFC 7662); granted only to clients that list it",
            ),
        ]
        .into_iter()
        .map(|(name, description)| (name.to_owned(), description.to_owned()))
        .collect();
        Self {
            access_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: None,
            refresh_token_idle_secs: None,
            authorization_code_lifetime_secs: 60,
            rotate_refresh_tokens: true,
            time_ordered_token_keys: true,
            refresh_token_reuse_protection: true,
            refresh_token_grace_period_secs: 0,
            allow_password_grant: true,
            scopes,
            default_scopes: vec!["read".to_owned(), "write".to_owned()],
            max_failures_per_username: 10,
            max_failures_per_client: 10,
            max_failures_per_address: 100,
            failure_window_secs: 300,
            pkce_required_for_confidential_clients: true,
            allow_plain_pkce: false,
            approval_prompt: ApprovalPrompt::Force,
            allowed_redirect_uri_schemes: vec!["https".to_owned(), "http".to_owned()],
            session_lifetime_secs: 8 * 3600,
            interaction_lifetime_secs: 600,
            device_code_lifetime_secs: 600,
            device_poll_interval_secs: 5,
            id_token_lifetime_secs: 3600,
            key_publish_ahead_secs: 900,
            logout_revokes_tokens: true,
            allow_sign_up: false,
            max_sign_ups_per_address: 10,
            consent_lifetime_secs: None,
            login_url: None,
            login_client_id: None,
            usernames_ignore_case: false,
            max_pending_interactions_per_address: 300,
            max_pending_interactions: 100_000,
            max_pending_device_grants_per_address: 50,
            max_pending_device_grants: 10_000,
            allow_application_management: false,
            dynamic_registration: DynamicRegistration::Off,
            registration_grant_types: vec![
                "authorization_code".to_owned(),
                "refresh_token".to_owned(),
            ],
            registration_redirect_uri_schemes: vec!["https".to_owned(), "http".to_owned()],
            max_registrations_per_address: 20,
            software_statement_issuers: BTreeMap::new(),
        }
    }
}

/// How long relying parties may cache a tenant's JWKS (its `Cache-Control:
/// max-age`, `endpoints::jwks`).
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// The shortest time a rotated-in key must be published before it signs: a node
/// may serve a JWKS without the new key for `key_cache_ttl_secs` (its key cache),
/// and a relying party may keep that JWKS for [`JWKS_MAX_AGE_SECS`]; a key that signs
/// sooner reaches a relying party that cannot fetch it.
pub fn minimum_publish_ahead_secs(key_cache_ttl_secs: u64) -> u64 {
    JWKS_MAX_AGE_SECS.saturating_add(key_cache_ttl_secs)
}

/// Checks a publish-ahead time named `key`: 0 (a compromised key: sign with the new
/// one at once, accepting that relying parties with a cached JWKS fail until they
/// fetch it again) or at least [`minimum_publish_ahead_secs`]. The message says why.
pub fn check_publish_ahead(key: &str, value: u64, key_cache_ttl_secs: u64) -> Result<(), String> {
    let minimum = minimum_publish_ahead_secs(key_cache_ttl_secs);
    if value == 0 || value >= minimum {
        return Ok(());
    }
    Err(format!(
        "{key}: {value} s is too short: relying parties may cache the JWKS for \
         {JWKS_MAX_AGE_SECS} s and a node its keys for key_cache_ttl_secs ({key_cache_ttl_secs} s), \
         so a key that signs sooner than {minimum} s after it is published meets relying \
         parties that cannot fetch it; use at least {minimum}, or 0 to switch at once after a \
         compromise"
    ))
}

/// The scopes OpenID Connect defines (Core §3.1.2.1, §5.4), in every tenant's
/// catalogue unless the tenant describes them itself.
pub const OPENID_SCOPES: [(&str, &str); 5] = [
    ("openid", "Sign you in with your account"),
    ("profile", "Your name and profile details"),
    ("email", "Your e-mail address"),
    ("address", "Your postal address"),
    ("phone", "Your phone number"),
];

impl OAuthSettings {
    /// These settings with [`OPENID_SCOPES`] added to the catalogue where missing.
    pub fn with_openid_scopes(mut self) -> Self {
        for (name, description) in OPENID_SCOPES {
            self.scopes
                .entry(name.to_owned())
                .or_insert_with(|| description.to_owned());
        }
        self
    }

    /// Checks the settings hang together; `key` prefixes messages.
    pub fn check(&self, key: &str) -> Result<(), String> {
        if self.access_token_lifetime_secs == 0 {
            return Err(format!(
                "{key}.access_token_lifetime_secs: must be at least 1"
            ));
        }
        if self.authorization_code_lifetime_secs == 0 || self.authorization_code_lifetime_secs > 600
        {
            return Err(format!(
                "{key}.authorization_code_lifetime_secs: use 1 to 600 (RFC 6749 §4.1.2)"
            ));
        }
        // The same pair is returned only while its access token lives; a longer grace
        // period would promise retries it cannot keep (they would count as reuse and
        // revoke the family).
        if self.refresh_token_grace_period_secs > self.access_token_lifetime_secs {
            return Err(format!(
                "{key}.refresh_token_grace_period_secs: {} is longer than \
                 access_token_lifetime_secs ({}): a retry after the access token expired \
                 cannot get the same pair back and would revoke the whole family; use at \
                 most {} (seconds, not minutes: a few are enough for a retry)",
                self.refresh_token_grace_period_secs,
                self.access_token_lifetime_secs,
                self.access_token_lifetime_secs
            ));
        }
        for (name, value) in [
            ("session_lifetime_secs", self.session_lifetime_secs),
            ("interaction_lifetime_secs", self.interaction_lifetime_secs),
            ("device_code_lifetime_secs", self.device_code_lifetime_secs),
            (
                "max_pending_interactions_per_address",
                self.max_pending_interactions_per_address,
            ),
            ("max_pending_interactions", self.max_pending_interactions),
            (
                "max_pending_device_grants_per_address",
                self.max_pending_device_grants_per_address,
            ),
            ("max_pending_device_grants", self.max_pending_device_grants),
        ] {
            if value == 0 {
                return Err(format!("{key}.{name}: must be at least 1"));
            }
        }
        if self.device_poll_interval_secs == 0 || self.device_poll_interval_secs > 60 {
            return Err(format!(
                "{key}.device_poll_interval_secs: use 1 to 60 (RFC 8628 §3.2 suggests 5)"
            ));
        }
        for (name, schemes) in [
            (
                "allowed_redirect_uri_schemes",
                &self.allowed_redirect_uri_schemes,
            ),
            (
                "registration_redirect_uri_schemes",
                &self.registration_redirect_uri_schemes,
            ),
        ] {
            if let Some(scheme) = schemes.iter().find(|scheme| {
                matches!(
                    scheme.as_str(),
                    "javascript" | "data" | "file" | "vbscript" | "blob"
                )
            }) {
                return Err(format!(
                    "{key}.{name}: {scheme:?} can run code or read files: remove it"
                ));
            }
        }
        if let Some(login_url) = &self.login_url {
            let usable = url::Url::parse(login_url)
                .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some());
            if !usable {
                return Err(format!(
                    "{key}.login_url: {login_url:?} is not an absolute http(s) URL"
                ));
            }
        }
        match (&self.login_url, &self.login_client_id) {
            (Some(_), None) => {
                return Err(format!(
                    "{key}.login_client_id: login_url needs the client_id its login application \
                     authenticates with (a confidential client listing the interactions scope, \
                     e.g. `tessera app create --name login --client-type confidential \
                     --grant-types client_credentials --scopes interactions`); only that \
                     credential drives the interactions"
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{key}.login_client_id: set only together with login_url"
                ));
            }
            (Some(_), Some(client_id)) => {
                crate::syntax::check_client_id(client_id)
                    .map_err(|error| format!("{key}.login_client_id: {error}"))?;
            }
            (None, None) => {}
        }
        for grant in &self.registration_grant_types {
            grant
                .parse::<crate::registration::GrantType>()
                .map_err(|error| format!("{key}.registration_grant_types: {error}"))?;
        }
        for (issuer, pem) in &self.software_statement_issuers {
            crate::registration::software_statement_key(pem)
                .map_err(|error| format!("{key}.software_statement_issuers.{issuer:?}: {error}"))?;
        }
        if self.failure_window_secs == 0 {
            return Err(format!("{key}.failure_window_secs: must be at least 1"));
        }
        for scope in self.scopes.keys() {
            crate::syntax::check_scope_token(scope)
                .map_err(|error| format!("{key}.scopes: {error}"))?;
        }
        if let Some(unknown) = self
            .default_scopes
            .iter()
            .find(|scope| !self.scopes.contains_key(*scope))
        {
            return Err(format!(
                "{key}.default_scopes: {unknown:?} is not in the scope catalogue"
            ));
        }
        Ok(())
    }

    /// Names of the catalogue.
    pub fn scope_names(&self) -> BTreeSet<&str> {
        self.scopes.keys().map(String::as_str).collect()
    }
}

/// `default` with each key of `overrides` replaced whole (a `scopes` override replaces
/// the catalogue; it is not merged into it).
fn override_keys(
    default: &OAuthSettings,
    overrides: &figment::value::Dict,
) -> Result<OAuthSettings, String> {
    let mut merged = serde_json::to_value(default).map_err(|error| error.to_string())?;
    let overrides = serde_json::to_value(overrides).map_err(|error| error.to_string())?;
    if let (Some(merged), Some(overrides)) = (merged.as_object_mut(), overrides.as_object()) {
        for (key, value) in overrides {
            merged.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(merged).map_err(|error| error.to_string())
}

/// Settings of every tenant: the defaults plus per-tenant overrides, resolved once;
/// the same for the application extension fields.
#[derive(Clone, Debug, Default)]
pub struct SettingsBook {
    default: Arc<OAuthSettings>,
    per_tenant: HashMap<TenantSlug, Arc<OAuthSettings>>,
    default_fields: Arc<FieldCatalogue>,
    fields_per_tenant: HashMap<TenantSlug, Arc<FieldCatalogue>>,
}

impl SettingsBook {
    /// Merges each tenant's overrides over the defaults, naming the key of any error.
    pub fn build(
        default: &OAuthSettings,
        overrides: &BTreeMap<TenantSlug, figment::value::Dict>,
        default_fields: &FieldCatalogue,
        tenant_fields: &BTreeMap<TenantSlug, FieldCatalogue>,
    ) -> Result<Self, Error> {
        default_fields
            .check("applications")
            .map_err(Error::Config)?;
        let mut fields_per_tenant = HashMap::new();
        for (slug, fields) in tenant_fields {
            if fields.is_empty() {
                continue;
            }
            // A tenant cannot redeclare a field a Rust type declares for every tenant:
            // that type's check would still run on it.
            if let Some(name) = fields.fields.keys().find(|name| {
                default_fields
                    .typed_names()
                    .any(|typed| typed == name.as_str())
            }) {
                return Err(Error::Config(format!(
                    "tenants.{slug}.applications.fields.{name} is declared for every tenant \
                     by a Rust type; a tenant cannot redeclare it"
                )));
            }
            let merged = FieldCatalogue::overlaid(default_fields, fields);
            merged
                .check(&format!("tenants.{slug}.applications"))
                .map_err(Error::Config)?;
            fields_per_tenant.insert(slug.clone(), Arc::new(merged));
        }
        default.check("oauth").map_err(Error::Config)?;
        let default = default.clone().with_openid_scopes();
        let mut per_tenant = HashMap::new();
        for (slug, dict) in overrides {
            if dict.is_empty() {
                continue;
            }
            let key = format!("tenants.{slug}.oauth");
            let merged = override_keys(&default, dict)
                .map_err(|error| Error::Config(format!("{key}: {error}")))?;
            merged.check(&key).map_err(Error::Config)?;
            per_tenant.insert(slug.clone(), Arc::new(merged.with_openid_scopes()));
        }
        Ok(Self {
            default: Arc::new(default),
            per_tenant,
            default_fields: Arc::new(default_fields.clone()),
            fields_per_tenant,
        })
    }

    /// Every resolved settings set with the configuration key it comes from
    /// (`oauth`, `tenants.SLUG.oauth`), for checks across them.
    pub fn each(&self) -> Vec<(String, Arc<OAuthSettings>)> {
        let mut all = vec![("oauth".to_owned(), Arc::clone(&self.default))];
        for (slug, settings) in &self.per_tenant {
            all.push((format!("tenants.{slug}.oauth"), Arc::clone(settings)));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The application extension fields of `slug`.
    pub fn fields_for(&self, slug: &TenantSlug) -> Arc<FieldCatalogue> {
        self.fields_per_tenant
            .get(slug)
            .cloned()
            .unwrap_or_else(|| Arc::clone(&self.default_fields))
    }

    /// The settings of `slug`.
    pub fn for_tenant(&self, slug: &TenantSlug) -> Arc<OAuthSettings> {
        self.per_tenant
            .get(slug)
            .cloned()
            .unwrap_or_else(|| Arc::clone(&self.default))
    }

    /// The settings of `slug` with the overrides an operator stored in the tenant's
    /// directory row (`tessera tenant update --set`, the admin API) replacing single
    /// keys of the configuration's, checked as the configuration's are. Errors name
    /// the key.
    pub fn with_stored(
        &self,
        slug: &TenantSlug,
        stored: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Arc<OAuthSettings>, String> {
        let configured = self.for_tenant(slug);
        if stored.is_empty() {
            return Ok(configured);
        }
        let base = serde_json::to_value(&*configured).map_err(|error| error.to_string())?;
        let merge = |keys: &mut dyn Iterator<Item = (&String, &serde_json::Value)>| {
            let mut merged = base.clone();
            if let Some(merged) = merged.as_object_mut() {
                for (key, value) in keys {
                    merged.insert(key.clone(), value.clone());
                }
            }
            serde_json::from_value::<OAuthSettings>(merged)
        };
        let key = format!("tenant {slug} settings");
        let settings = merge(&mut stored.iter()).map_err(|error| {
            // Name the key: serde's message on a merged object does not.
            stored
                .iter()
                .find_map(|(name, value)| {
                    merge(&mut std::iter::once((name, value)))
                        .err()
                        .map(|alone| format!("{key}: {name}: {alone}"))
                })
                .unwrap_or_else(|| format!("{key}: {error}"))
        })?;
        settings.check(&key)?;
        Ok(Arc::new(settings.with_openid_scopes()))
    }
}
