//! Erasing a tenant's rows when it is offboarded: every row with its `tenant_id` in
//! its token, applications and users pools, in batches of primary-key ranges (the
//! pattern of [`super::expired`]), so no statement holds locks for long and a
//! tenant of any size goes without one huge transaction. Run again after a failure,
//! it carries on with what is left. The directory row and the signing keys go last,
//! in [`crate::tenancy::delete_tenant`].

use entity::{
    access_token, application, application_origin, authorization_code, consent_grant, device_grant,
    id_token, interaction, refresh_token, session, user,
};
use router_policies::EntityGroup;
use sea_orm::{ColumnTrait, Condition, EntityTrait};
use serde::Serialize;

use crate::error::Error;
use crate::shared::revocations::Revoked;
use crate::store::access::TenantData;

use super::expired::batch_delete_in_turn;

/// Rows erased, by table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Erased {
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Access tokens.
    pub access_tokens: u64,
    /// ID tokens.
    pub id_tokens: u64,
    /// Authorization codes.
    pub authorization_codes: u64,
    /// Device grants.
    pub device_grants: u64,
    /// Interactions.
    pub interactions: u64,
    /// Remembered consents.
    pub consent_grants: u64,
    /// Applications' CORS origins.
    pub application_origins: u64,
    /// Applications.
    pub applications: u64,
    /// Browser sessions.
    pub sessions: u64,
    /// Users.
    pub users: u64,
}

impl Erased {
    /// Rows erased in all.
    pub fn total(&self) -> u64 {
        self.refresh_tokens
            + self.access_tokens
            + self.id_tokens
            + self.authorization_codes
            + self.device_grants
            + self.interactions
            + self.consent_grants
            + self.application_origins
            + self.applications
            + self.sessions
            + self.users
    }
}

/// Every row of one table of the tenant, `batch` at a time.
async fn erase<E>(
    data: TenantData<'_>,
    group: EntityGroup,
    id: E::Column,
    tenant_id: E::Column,
    batch: u64,
) -> Result<u64, Error>
where
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let condition = Condition::all().add(tenant_id.eq(data.tenant_id()));
    batch_delete_in_turn::<E>(data, group, id, condition, batch).await
}

/// Erases every row of the tenant in its three pools: tokens first (what could
/// still authorize something), then applications, then users. `progress` hears
/// the running totals after each table.
pub async fn erase_tenant_rows(
    data: TenantData<'_>,
    batch: u64,
    mut progress: impl FnMut(&Erased),
) -> Result<Erased, Error> {
    use EntityGroup::{Applications, Tokens, Users};
    let mut erased = Erased {
        refresh_tokens: erase::<refresh_token::Entity>(
            data,
            Tokens,
            refresh_token::Column::Id,
            refresh_token::Column::TenantId,
            batch,
        )
        .await?,
        ..Erased::default()
    };
    progress(&erased);
    erased.access_tokens = erase::<access_token::Entity>(
        data,
        Tokens,
        access_token::Column::Id,
        access_token::Column::TenantId,
        batch,
    )
    .await?;
    // Node caches stop answering for the tenant's tokens (`shared::revocations`).
    data.revoked(Revoked::Tenant).await;
    progress(&erased);
    erased.id_tokens = erase::<id_token::Entity>(
        data,
        Tokens,
        id_token::Column::Id,
        id_token::Column::TenantId,
        batch,
    )
    .await?;
    erased.authorization_codes = erase::<authorization_code::Entity>(
        data,
        Tokens,
        authorization_code::Column::Id,
        authorization_code::Column::TenantId,
        batch,
    )
    .await?;
    erased.device_grants = erase::<device_grant::Entity>(
        data,
        Tokens,
        device_grant::Column::Id,
        device_grant::Column::TenantId,
        batch,
    )
    .await?;
    erased.interactions = erase::<interaction::Entity>(
        data,
        Tokens,
        interaction::Column::Id,
        interaction::Column::TenantId,
        batch,
    )
    .await?;
    erased.consent_grants = erase::<consent_grant::Entity>(
        data,
        Tokens,
        consent_grant::Column::Id,
        consent_grant::Column::TenantId,
        batch,
    )
    .await?;
    progress(&erased);
    erased.application_origins = erase::<application_origin::Entity>(
        data,
        Applications,
        application_origin::Column::Id,
        application_origin::Column::TenantId,
        batch,
    )
    .await?;
    erased.applications = erase::<application::Entity>(
        data,
        Applications,
        application::Column::Id,
        application::Column::TenantId,
        batch,
    )
    .await?;
    progress(&erased);
    erased.sessions = erase::<session::Entity>(
        data,
        Users,
        session::Column::Id,
        session::Column::TenantId,
        batch,
    )
    .await?;
    erased.users =
        erase::<user::Entity>(data, Users, user::Column::Id, user::Column::TenantId, batch).await?;
    data.revoked(Revoked::Tenant).await;
    progress(&erased);
    Ok(erased)
}
