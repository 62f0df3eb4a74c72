//! OAuth clients (Django OAuth Toolkit's `Application`, with several grant types).

use sea_orm::entity::prelude::*;

/// A registered client of one tenant. List fields are stored the way DOT stores them:
/// URIs, origins and scopes space-separated, grant types comma-separated.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// Public client identifier, unique per tenant.
    pub client_id: String,
    /// Owning user (soft reference), if any.
    pub owner_user_id: Option<i64>,
    /// Display name.
    pub name: String,
    /// `confidential` or `public` (RFC 6749 §2.1).
    pub client_type: String,
    /// Comma-separated RFC 7591 grant type names.
    #[sea_orm(column_type = "Text")]
    pub grant_types: String,
    /// Space-separated registered redirect URIs (exact match).
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    /// Space-separated URIs allowed after RP-initiated logout.
    #[sea_orm(column_type = "Text")]
    pub post_logout_redirect_uris: String,
    /// Space-separated origins allowed by CORS.
    #[sea_orm(column_type = "Text")]
    pub allowed_origins: String,
    /// Hashed client secret (or the plain secret when `hash_client_secret` is false);
    /// empty for public clients.
    #[sea_orm(column_type = "Text")]
    pub client_secret: String,
    /// Whether `client_secret` holds a hash; false keeps it usable as an HS256 key.
    pub hash_client_secret: bool,
    /// Skip the consent page.
    pub skip_authorization: bool,
    /// ID token signing algorithm (`RS256`, `ES256`, `HS256`) or empty for none.
    pub algorithm: String,
    /// `opaque` (default) or `jwt` (RFC 9068 access tokens).
    pub access_token_format: String,
    /// Space-separated scopes this client may request; empty means the tenant's catalogue.
    #[sea_orm(column_type = "Text")]
    pub allowed_scopes: String,
    /// Extension fields (JSON object) for settings without a column yet.
    #[sea_orm(column_type = "Text")]
    pub extensions: String,
    /// This client's external login and consent application; empty: the tenant's.
    pub login_url: String,
    /// The client_id the external login application at `login_url` authenticates
    /// with: it alone drives this application's interactions.
    pub login_client_id: String,
    /// The application's home page (RFC 7591 §2 `client_uri`), shown to users and
    /// linked from error pages; empty: none.
    pub client_uri: String,
    /// The token endpoint authentication method it registered (RFC 7591 §2:
    /// `client_secret_basic`, `client_secret_post`, `none`); empty: any that fits
    /// its type.
    pub token_endpoint_auth_method: String,
    /// The keyed hash of its registration access token (RFC 7592 §3); empty: it was
    /// not registered dynamically.
    pub registration_token_hash: String,
    /// Creation time.
    pub created_at: crate::Timestamp,
    /// Last update time.
    pub updated_at: crate::Timestamp,
}

/// Other groups refer to applications softly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
