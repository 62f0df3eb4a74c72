//! Authorization codes (RFC 6749 §4.1) with PKCE (RFC 7636), stored as checksums.

use sea_orm::entity::prelude::*;

/// An authorization code; single use (`consumed_at`), short-lived.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_codes")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// SHA-256 of the code, lowercase hex.
    pub code_checksum: String,
    /// Client (soft reference).
    pub application_id: i64,
    /// Resource owner who approved (soft reference).
    pub user_id: i64,
    /// The redirect URI the code was sent to (RFC 6749 §4.1.3 requires it again).
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    /// Space-separated approved scopes.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// PKCE code challenge (RFC 7636 §4.2).
    pub code_challenge: Option<String>,
    /// PKCE method: `S256` (or `plain` where a tenant allows it).
    pub code_challenge_method: Option<String>,
    /// OIDC nonce to echo in the ID token.
    #[sea_orm(column_type = "Text", nullable)]
    pub nonce: Option<String>,
    /// OIDC `claims` request parameter (JSON).
    #[sea_orm(column_type = "Text", nullable)]
    pub claims: Option<String>,
    /// RFC 8707 resource indicator.
    #[sea_orm(column_type = "Text", nullable)]
    pub resource: Option<String>,
    /// Expiry instant.
    pub expires_at: crate::Timestamp,
    /// When the code was exchanged; a second exchange revokes what the first minted.
    pub consumed_at: Option<crate::Timestamp>,
    /// When the user authenticated (OIDC Core §2 `auth_time`).
    pub auth_time: Option<crate::Timestamp>,
    /// Authentication context class (OIDC Core §2 `acr`), as the login application
    /// reported it.
    pub acr: Option<String>,
    /// Authentication methods (OIDC Core §2 `amr`, RFC 8176), space-separated.
    pub amr: Option<String>,
    /// Creation time.
    pub created_at: crate::Timestamp,
}

/// Soft references only.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
