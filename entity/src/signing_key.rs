//! Per-tenant JWT signing keys, kept with the tenant directory.

use sea_orm::entity::prelude::*;

/// A signing key of one tenant. Keys are rotated, and a retired key stays published
/// in the JWKS until the tokens it signed have expired.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// Key id placed in every JWT header.
    pub kid: String,
    /// The one algorithm this key signs with (pinned per key): RS256, ES256, …
    pub algorithm: String,
    /// Private key (PKCS#8 DER) sealed under the key-encryption key, bound to the
    /// tenant and `kid` (see `tessera::jose::sealing`); never stored in the clear.
    #[sea_orm(column_type = "Text")]
    pub sealed_private_key: String,
    /// Public key as a JWK (JSON).
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    /// Creation time.
    pub created_at: crate::Timestamp,
    /// When the key starts to sign; until then it is only published, so relying
    /// parties that cache the JWKS know it before they see a token it signed.
    pub signs_from: Option<crate::Timestamp>,
    /// When the key stopped signing; published until `published_until`.
    pub retired_at: Option<crate::Timestamp>,
    /// Removed from the JWKS after this instant.
    pub published_until: Option<crate::Timestamp>,
    /// The algorithm, for the tenant's first key of it (unique per tenant, so nodes
    /// starting together create it once); empty for rotated-in keys.
    pub initial_for: Option<String>,
}

/// Soft reference to the tenant only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
