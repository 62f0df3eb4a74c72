//! Remembered consent: a user's standing approval of an application's scopes, one row
//! per (tenant, user, application), in the tokens group (revoking an application on
//! the authorized-tokens page forgets it in the transaction that revokes the tokens).
//! Every statement is keyed by the unique (tenant, user, application) index.

use std::collections::BTreeSet;

use entity::consent_grant;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter,
};

use router_policies::EntityGroup;

use crate::error::Error;
use crate::store::access::TenantData;
use crate::store::is_unique_violation;
use crate::time::now;

/// Whether `grant` is still in force at `at`.
pub fn is_live(grant: &consent_grant::Model, at: entity::Timestamp) -> bool {
    grant.expires_at.is_none_or(|expires_at| expires_at > at)
}

/// The user's live remembered consent for the application, if any.
async fn find_live(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
    application_id: i64,
) -> Result<Option<consent_grant::Model>, Error> {
    Ok(consent_grant::Entity::find()
        .filter(consent_grant::Column::TenantId.eq(tenant_id))
        .filter(consent_grant::Column::UserId.eq(user_id))
        .filter(consent_grant::Column::ApplicationId.eq(application_id))
        .one(db)
        .await?
        .filter(|grant| is_live(grant, now())))
}

/// Whether a live remembered consent of the user covers every scope of `scopes`,
/// read from the token pool's primary (skipping the consent page is a security
/// decision: a consent forgotten a moment ago must count).
pub async fn covers(
    data: TenantData<'_>,
    user_id: i64,
    application_id: i64,
    scopes: &BTreeSet<String>,
) -> Result<bool, Error> {
    let db = data.primary(EntityGroup::Tokens)?;
    Ok(find_live(db, data.tenant_id(), user_id, application_id)
        .await?
        .is_some_and(|grant| {
            let approved: BTreeSet<&str> = grant.scope.split_whitespace().collect();
            scopes.iter().all(|scope| approved.contains(scope.as_str()))
        }))
}

/// Remembers that the user approved `scopes` for the application until `expires_at`
/// (`None`: until revoked), added to what a live earlier consent approved. Two
/// approvals at once: the unique index makes one insert, the other updates.
pub async fn remember(
    data: TenantData<'_>,
    user_id: i64,
    application_id: i64,
    scopes: &BTreeSet<String>,
    expires_at: Option<entity::Timestamp>,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Tokens).await?;
    let db = writer.connection;
    let tenant_id = data.tenant_id();
    for _ in 0..2 {
        let existing = consent_grant::Entity::find()
            .filter(consent_grant::Column::TenantId.eq(tenant_id))
            .filter(consent_grant::Column::UserId.eq(user_id))
            .filter(consent_grant::Column::ApplicationId.eq(application_id))
            .one(db)
            .await?;
        let at = now();
        let mut approved: BTreeSet<String> = scopes.clone();
        match existing {
            Some(grant) => {
                if is_live(&grant, at) {
                    approved.extend(grant.scope.split_whitespace().map(str::to_owned));
                }
                let scope = approved.into_iter().collect::<Vec<_>>().join(" ");
                consent_grant::ActiveModel {
                    id: sea_orm::ActiveValue::Unchanged(grant.id),
                    scope: Set(scope),
                    expires_at: Set(expires_at),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .update(db)
                .await?;
                return Ok(());
            }
            None => {
                let scope = approved.into_iter().collect::<Vec<_>>().join(" ");
                let inserted = consent_grant::ActiveModel {
                    tenant_id: Set(tenant_id),
                    user_id: Set(user_id),
                    application_id: Set(application_id),
                    scope: Set(scope),
                    expires_at: Set(expires_at),
                    created_at: Set(at),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .insert(db)
                .await;
                match inserted {
                    Ok(_) => return Ok(()),
                    // Another approval inserted first: update it on the next round.
                    Err(error) if is_unique_violation(&error) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }
    Err(Error::Corrupt(
        "a remembered consent was inserted and removed while being updated".to_owned(),
    ))
}

/// Forgets the user's consent for the application (in the transaction that revokes
/// its tokens).
pub(crate) async fn forget(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
    application_id: i64,
) -> Result<(), Error> {
    consent_grant::Entity::delete_many()
        .filter(consent_grant::Column::TenantId.eq(tenant_id))
        .filter(consent_grant::Column::UserId.eq(user_id))
        .filter(consent_grant::Column::ApplicationId.eq(application_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets every consent the user gave (a deleted user).
pub(crate) async fn forget_all(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
) -> Result<(), Error> {
    consent_grant::Entity::delete_many()
        .filter(consent_grant::Column::TenantId.eq(tenant_id))
        .filter(consent_grant::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The user's live remembered consents (at most one per application; at most 500).
pub(crate) async fn live_for_user(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    user_id: i64,
) -> Result<Vec<consent_grant::Model>, Error> {
    use sea_orm::QuerySelect;
    Ok(consent_grant::Entity::find()
        .filter(consent_grant::Column::TenantId.eq(tenant_id))
        .filter(consent_grant::Column::UserId.eq(user_id))
        .filter(
            Condition::any()
                .add(consent_grant::Column::ExpiresAt.is_null())
                .add(consent_grant::Column::ExpiresAt.gt(now())),
        )
        .limit(500)
        .all(db)
        .await?)
}
