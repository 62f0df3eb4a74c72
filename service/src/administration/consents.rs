//! A user's authorized applications (DOT's authorized tokens): which applications
//! hold the user's live tokens or remembered consent, and revoking one.

use entity::user;
use serde::Serialize;

use crate::db::Databases;
use crate::error::Error;
use crate::store::access::TenantData;
use crate::store::{applications, authorized_tokens};
use crate::tenancy::Tenant;

use super::{Actor, audit};

/// One application's standing with a user.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizedApplicationView {
    /// The application's client_id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Every scope of a live token or the remembered consent.
    pub scopes: Vec<String>,
    /// When the first live grant was made (RFC 3339).
    pub first_issued: String,
    /// Until when its tokens last; `null` while a refresh token never expires.
    pub valid_until: Option<String>,
    /// Whether it holds live tokens (else only a remembered consent).
    pub holds_tokens: bool,
    /// Whether the user's consent is remembered (the consent page is skipped).
    pub consent_remembered: bool,
    /// Until when that consent lasts; `null`: until revoked.
    pub consent_until: Option<String>,
}

/// The applications the user has authorized, by client_id.
pub async fn list(
    databases: &Databases,
    tenant: &Tenant,
    user: &user::Model,
) -> Result<Vec<AuthorizedApplicationView>, Error> {
    let data = TenantData::new(databases, tenant);
    let authorized = authorized_tokens::authorized_applications(data, user.id).await?;
    let ids: Vec<i64> = authorized
        .iter()
        .map(|entry| entry.application_id)
        .collect();
    let registered = applications::find_by_ids(data, ids).await?;
    let mut views: Vec<AuthorizedApplicationView> = authorized
        .into_iter()
        .filter_map(|entry| {
            // An application deleted meanwhile holds nothing any more.
            let application = registered
                .iter()
                .find(|application| application.id == entry.application_id)?;
            Some(AuthorizedApplicationView {
                client_id: application.client_id.clone(),
                name: application.name.clone(),
                scopes: entry.scopes.into_iter().collect(),
                first_issued: crate::time::rfc3339(entry.first_issued),
                valid_until: entry.valid_until.map(crate::time::rfc3339),
                holds_tokens: entry.holds_tokens,
                consent_remembered: entry.consent_until.is_some(),
                consent_until: entry.consent_until.flatten().map(crate::time::rfc3339),
            })
        })
        .collect();
    views.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(views)
}

/// Revokes every token the user holds for the application and forgets the user's
/// consent to it, in one transaction on the token pool.
pub async fn revoke(
    databases: &Databases,
    tenant: &Tenant,
    user: &user::Model,
    client_id: &str,
    actor: &Actor,
) -> Result<(), Error> {
    let application = super::applications::find(databases, tenant, client_id).await?;
    authorized_tokens::revoke_user_application(
        TenantData::new(databases, tenant),
        user.id,
        application.id,
    )
    .await?;
    audit(
        actor,
        tenant.slug.as_str(),
        "consent.revoke",
        &format!("{}/{}", user.subject, client_id),
    );
    Ok(())
}
