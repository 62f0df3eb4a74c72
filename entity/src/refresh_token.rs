//! Refresh tokens with rotation families.

use sea_orm::entity::prelude::*;

/// An issued refresh token. Every rotation of one grant shares `family_id`, so a
/// replayed (already rotated) token can revoke the whole family.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The token's key (`tessera::secrets::checksum`): its SHA-256 in lowercase hex, led by
    /// `t` and its issue second for a time-ordered token.
    pub token_checksum: String,
    /// The access token issued with it.
    pub access_token_id: Option<i64>,
    /// Client the token is bound to (soft reference).
    pub application_id: i64,
    /// Resource owner (soft reference).
    pub user_id: Option<i64>,
    /// Rotation family (UUID text).
    pub family_id: String,
    /// Space-separated granted scopes; a refresh may only narrow them.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// Absolute expiry, when the tenant sets a refresh token lifetime.
    pub expires_at: Option<crate::Timestamp>,
    /// Revocation instant (rotation or revocation).
    pub revoked_at: Option<crate::Timestamp>,
    /// Set on rotation: the successor pair, sealed with a key derived from this
    /// token (which is never stored), so a retry within the grace period gets the
    /// same pair back.
    #[sea_orm(column_type = "Text", nullable)]
    pub successor_sealed: Option<String>,
    /// Creation time.
    pub created_at: crate::Timestamp,
    /// Last use, for idle expiry.
    pub last_used_at: Option<crate::Timestamp>,
    /// When the user authenticated for this grant (OIDC Core §12.2: refreshed ID
    /// tokens report the original authentication); inherited on rotation.
    pub auth_time: Option<crate::Timestamp>,
    /// Authentication context class (OIDC Core §2 `acr`), as the login application
    /// reported it.
    pub acr: Option<String>,
    /// Authentication methods (OIDC Core §2 `amr`, RFC 8176), space-separated.
    pub amr: Option<String>,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
