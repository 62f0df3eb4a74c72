//! `tessera cleartokens`: batched removal of expired and revoked rows on every token
//! pool, with Django OAuth Toolkit's semantics (`clear_expired`), per tenant settings:
//!
//! * refresh tokens — only when the tenant sets `refresh_token_lifetime_secs` (DOT's
//!   `REFRESH_TOKEN_EXPIRE_SECONDS`): those revoked longer ago than that lifetime, and
//!   those expired. Otherwise revoked refresh tokens stay, as in DOT (they let reuse
//!   detection recognise a replayed token);
//! * access tokens expired or revoked, unless a live refresh token still points at
//!   them (DOT keeps expired access tokens that have a refresh token);
//! * ID tokens expired and no longer referenced by an access token;
//! * authorization codes and device grants past their expiry.
//!
//! Rows go in batches (`SELECT id … LIMIT n`, then `DELETE … WHERE id IN (…)`, which
//! works on every backend), so no statement holds locks for long.

use std::collections::BTreeMap;
use std::sync::Arc;

use entity::{access_token, authorization_code, device_grant, id_token, refresh_token};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::db::Databases;
use crate::error::Error;
use crate::store::tokens::token_pool;
use crate::tenancy::Tenant;
use crate::time::now;

/// Rows removed from one pool.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClearReport {
    /// The token pool.
    pub pool: String,
    /// Tenants whose tokens live there.
    pub tenants: usize,
    /// Access tokens removed.
    pub access_tokens: u64,
    /// Refresh tokens removed.
    pub refresh_tokens: u64,
    /// ID tokens removed.
    pub id_tokens: u64,
    /// Authorization codes removed.
    pub authorization_codes: u64,
    /// Device grants removed.
    pub device_grants: u64,
}

/// Clears every tenant's expired and revoked rows, pool by pool, calling `progress`
/// after each pool.
pub async fn clear_expired(
    databases: &Databases,
    tenants: &[Arc<Tenant>],
    batch_size: u64,
    mut progress: impl FnMut(&ClearReport),
) -> Result<Vec<ClearReport>, Error> {
    let mut by_pool: BTreeMap<String, Vec<&Arc<Tenant>>> = BTreeMap::new();
    for tenant in tenants {
        let pool = tenant.routes.pool(
            router_policies::EntityGroup::Tokens,
            router_policies::Role::Write,
        )?;
        by_pool.entry(pool.to_string()).or_default().push(tenant);
    }
    let mut reports = Vec::with_capacity(by_pool.len());
    for (pool, tenants) in by_pool {
        let mut report = ClearReport {
            pool,
            tenants: tenants.len(),
            ..ClearReport::default()
        };
        for tenant in tenants {
            clear_tenant(
                token_pool(databases, tenant)?,
                tenant,
                batch_size,
                &mut report,
            )
            .await?;
        }
        progress(&report);
        reports.push(report);
    }
    Ok(reports)
}

async fn clear_tenant(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    batch: u64,
    report: &mut ClearReport,
) -> Result<(), Error> {
    let now = now();
    let id = tenant.id;
    if let Some(lifetime) = tenant.settings.refresh_token_lifetime_secs {
        let cutoff = now
            .checked_sub(time::Duration::seconds(
                i64::try_from(lifetime).unwrap_or(i64::MAX / 2),
            ))
            .unwrap_or(entity::Timestamp::MIN);
        report.refresh_tokens += batch_delete::<refresh_token::Entity>(
            db,
            refresh_token::Column::Id,
            Condition::all()
                .add(refresh_token::Column::TenantId.eq(id))
                .add(
                    Condition::any()
                        .add(refresh_token::Column::RevokedAt.lt(cutoff))
                        .add(refresh_token::Column::ExpiresAt.lt(now)),
                ),
            batch,
        )
        .await?;
    }
    let still_referenced = Query::select()
        .column(refresh_token::Column::AccessTokenId)
        .from(refresh_token::Entity)
        .and_where(refresh_token::Column::TenantId.eq(id))
        .and_where(refresh_token::Column::RevokedAt.is_null())
        .and_where(refresh_token::Column::AccessTokenId.is_not_null())
        .to_owned();
    report.access_tokens += batch_delete::<access_token::Entity>(
        db,
        access_token::Column::Id,
        Condition::all()
            .add(access_token::Column::TenantId.eq(id))
            .add(
                Condition::any()
                    .add(access_token::Column::ExpiresAt.lt(now))
                    .add(access_token::Column::RevokedAt.is_not_null()),
            )
            .add(access_token::Column::Id.not_in_subquery(still_referenced)),
        batch,
    )
    .await?;
    let id_token_in_use = Query::select()
        .column(access_token::Column::IdTokenId)
        .from(access_token::Entity)
        .and_where(access_token::Column::TenantId.eq(id))
        .and_where(access_token::Column::IdTokenId.is_not_null())
        .to_owned();
    report.id_tokens += batch_delete::<id_token::Entity>(
        db,
        id_token::Column::Id,
        Condition::all()
            .add(id_token::Column::TenantId.eq(id))
            .add(id_token::Column::ExpiresAt.lt(now))
            .add(id_token::Column::Id.not_in_subquery(id_token_in_use)),
        batch,
    )
    .await?;
    report.authorization_codes += batch_delete::<authorization_code::Entity>(
        db,
        authorization_code::Column::Id,
        Condition::all()
            .add(authorization_code::Column::TenantId.eq(id))
            .add(authorization_code::Column::ExpiresAt.lt(now)),
        batch,
    )
    .await?;
    report.device_grants += batch_delete::<device_grant::Entity>(
        db,
        device_grant::Column::Id,
        Condition::all()
            .add(device_grant::Column::TenantId.eq(id))
            .add(device_grant::Column::ExpiresAt.lt(now)),
        batch,
    )
    .await?;
    Ok(())
}

/// Deletes rows matching `condition`, `batch` at a time; returns how many.
async fn batch_delete<E>(
    db: &impl ConnectionTrait,
    id: E::Column,
    condition: Condition,
    batch: u64,
) -> Result<u64, Error>
where
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let mut removed = 0;
    loop {
        let ids: Vec<i64> = E::find()
            .select_only()
            .column(id)
            .filter(condition.clone())
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            break;
        }
        let count = ids.len() as u64;
        removed += E::delete_many()
            .filter(id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected;
        if count < batch {
            break;
        }
    }
    Ok(removed)
}
