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
//! * authorization codes, device grants and interactions past their expiry;
//! * browser sessions past their expiry (on each tenant's users pool).
//!
//! Rows go in batches of primary-key ranges (`DELETE … WHERE id > a AND id <= b`),
//! so no statement holds locks for long and none binds a list of ids. A pause after
//! each full batch ([`Batches::interval`], DOT's `CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL`)
//! leaves the database to live traffic in between.
//!
//! [`sweep`] is the part every server runs itself in the background: expired
//! interactions, authorization codes, device grants and sessions (what requests
//! without credentials can create), so storage stays bounded without cron.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use entity::{
    access_token, authorization_code, consent_grant, device_grant, id_token, interaction,
    refresh_token, session,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::db::Databases;
use crate::error::Error;
use crate::store::access::TenantData;
use crate::tenancy::Tenant;
use crate::time::now;

/// How [`clear_expired`] paces its deletes: DOT's `CLEAR_EXPIRED_TOKENS_BATCH_SIZE`
/// and `CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL`.
#[derive(Clone, Copy, Debug)]
pub struct Batches {
    /// Rows per delete statement (at least 1).
    pub size: u64,
    /// Pause after each full batch (more rows follow), so the deletes take a share
    /// of the database's time rather than all of it while they run.
    pub interval: Duration,
}

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
    /// Unfinished interactions removed.
    pub interactions: u64,
    /// Remembered consents past their expiry removed.
    pub consent_grants: u64,
    /// Browser sessions removed (from the users pools of these tenants).
    pub sessions: u64,
}

/// Clears every tenant's expired and revoked rows, pool by pool, calling `progress`
/// after each pool.
pub async fn clear_expired(
    databases: &Databases,
    tenants: &[Arc<Tenant>],
    batches: Batches,
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
            let data = TenantData::new(databases, tenant);
            clear_tenant(
                data.primary(router_policies::EntityGroup::Tokens)?,
                tenant,
                batches,
                &mut report,
            )
            .await?;
            let users = data.primary(router_policies::EntityGroup::Users)?;
            report.sessions += batch_delete::<session::Entity>(
                users,
                session::Column::Id,
                Condition::all()
                    .add(session::Column::TenantId.eq(tenant.id))
                    .add(session::Column::ExpiresAt.lt(now())),
                batches,
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
    batches: Batches,
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
            batches,
        )
        .await?;
    }
    // NOT EXISTS over the indexed back reference, not NOT IN: PostgreSQL turns it into
    // an anti-join however many rows the subquery has.
    let live_refresh = Alias::new("live_refresh");
    let still_referenced = Query::select()
        .expr(Expr::val(1))
        .from_as(refresh_token::Entity, live_refresh.clone())
        // The tenant condition lets the back reference use its index
        // (`ix_refresh_tokens_access`: tenant_id, access_token_id); without it MariaDB
        // scans every refresh token for each access token.
        .and_where(
            Expr::col((live_refresh.clone(), refresh_token::Column::TenantId))
                .equals((access_token::Entity, access_token::Column::TenantId)),
        )
        .and_where(
            Expr::col((live_refresh.clone(), refresh_token::Column::AccessTokenId))
                .equals((access_token::Entity, access_token::Column::Id)),
        )
        .and_where(Expr::col((live_refresh, refresh_token::Column::RevokedAt)).is_null())
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
            .add(Expr::exists(still_referenced).not()),
        batches,
    )
    .await?;
    let using_access = Alias::new("using_access");
    let id_token_in_use = Query::select()
        .expr(Expr::val(1))
        .from_as(access_token::Entity, using_access.clone())
        .and_where(
            Expr::col((using_access.clone(), access_token::Column::TenantId))
                .equals((id_token::Entity, id_token::Column::TenantId)),
        )
        .and_where(
            Expr::col((using_access, access_token::Column::IdTokenId))
                .equals((id_token::Entity, id_token::Column::Id)),
        )
        .to_owned();
    report.id_tokens += batch_delete::<id_token::Entity>(
        db,
        id_token::Column::Id,
        Condition::all()
            .add(id_token::Column::TenantId.eq(id))
            .add(id_token::Column::ExpiresAt.lt(now))
            .add(Expr::exists(id_token_in_use).not()),
        batches,
    )
    .await?;
    report.authorization_codes += batch_delete::<authorization_code::Entity>(
        db,
        authorization_code::Column::Id,
        Condition::all()
            .add(authorization_code::Column::TenantId.eq(id))
            .add(authorization_code::Column::ExpiresAt.lt(now)),
        batches,
    )
    .await?;
    // A rotated token's sealed successor is only needed during the grace period.
    let grace =
        i64::try_from(tenant.settings.refresh_token_grace_period_secs).unwrap_or(i64::MAX / 2);
    let grace_over = now
        .checked_sub(time::Duration::seconds(grace))
        .unwrap_or(entity::Timestamp::MIN);
    refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            successor_sealed: sea_orm::ActiveValue::Set(None),
            ..Default::default()
        })
        .filter(refresh_token::Column::TenantId.eq(id))
        .filter(refresh_token::Column::SuccessorSealed.is_not_null())
        .filter(refresh_token::Column::RevokedAt.lt(grace_over))
        .exec(db)
        .await?;
    report.device_grants += batch_delete::<device_grant::Entity>(
        db,
        device_grant::Column::Id,
        Condition::all()
            .add(device_grant::Column::TenantId.eq(id))
            .add(device_grant::Column::ExpiresAt.lt(now)),
        batches,
    )
    .await?;
    report.interactions += batch_delete::<interaction::Entity>(
        db,
        interaction::Column::Id,
        Condition::all()
            .add(interaction::Column::TenantId.eq(id))
            .add(interaction::Column::ExpiresAt.lt(now)),
        batches,
    )
    .await?;
    report.consent_grants += batch_delete::<consent_grant::Entity>(
        db,
        consent_grant::Column::Id,
        Condition::all()
            .add(consent_grant::Column::TenantId.eq(id))
            .add(consent_grant::Column::ExpiresAt.lt(now)),
        batches,
    )
    .await?;
    Ok(())
}

/// Deletes rows matching `condition`, `batches.size` at a time, walking the primary
/// key: each round finds the id that closes the next batch (`… ORDER BY id LIMIT 1
/// OFFSET size − 1`) and deletes the matching rows in `(after, that id]`, then pauses
/// for `batches.interval` if more may follow. No statement binds a list of ids, so
/// any `--batch-size` works on every backend (parameter limits: SQLite 32,766,
/// PostgreSQL and MySQL 65,535), and no batch rescans what was passed. Returns how
/// many rows went.
async fn batch_delete<E>(
    db: &impl ConnectionTrait,
    id: E::Column,
    condition: Condition,
    batches: Batches,
) -> Result<u64, Error>
where
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let mut removed = 0;
    let mut after = i64::MIN;
    loop {
        let (deleted, closing) =
            delete_batch::<E>(db, id, condition.clone(), after, batches.size).await?;
        removed += deleted;
        match closing {
            Some(closing) => after = closing,
            None => break,
        }
        if !batches.interval.is_zero() {
            tokio::time::sleep(batches.interval).await;
        }
    }
    Ok(removed)
}

/// [`batch_delete`] on `group`'s primary, taking the writer's turn for each batch
/// (the background sweep shares the pool with this process's requests).
pub(super) async fn batch_delete_in_turn<E>(
    data: TenantData<'_>,
    group: router_policies::EntityGroup,
    id: E::Column,
    condition: Condition,
    batch: u64,
) -> Result<u64, Error>
where
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let mut removed = 0;
    let mut after = i64::MIN;
    loop {
        let writer = data.writer(group).await?;
        let (deleted, closing) =
            delete_batch::<E>(writer.connection, id, condition.clone(), after, batch).await?;
        removed += deleted;
        match closing {
            Some(closing) => after = closing,
            None => break,
        }
    }
    Ok(removed)
}

/// One batch of [`batch_delete`]: the rows matching `condition` with ids in
/// `(after, closing]`, where `closing` is the `batch`-th such id (`None`: the rest).
async fn delete_batch<E>(
    db: &impl ConnectionTrait,
    id: E::Column,
    condition: Condition,
    after: i64,
    batch: u64,
) -> Result<(u64, Option<i64>), Error>
where
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let closing: Option<i64> = E::find()
        .select_only()
        .column(id)
        .filter(condition.clone())
        .filter(id.gt(after))
        .order_by_asc(id)
        .offset(batch.saturating_sub(1))
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let mut delete = E::delete_many().filter(condition).filter(id.gt(after));
    if let Some(closing) = closing {
        delete = delete.filter(id.lte(closing));
    }
    Ok((delete.exec(db).await?.rows_affected, closing))
}

/// What one background sweep of a tenant removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Interactions past their expiry.
    pub interactions: u64,
    /// Authorization codes past their expiry.
    pub authorization_codes: u64,
    /// Device grants past their expiry.
    pub device_grants: u64,
    /// Browser sessions past their expiry.
    pub sessions: u64,
}

impl Swept {
    /// Rows removed in all.
    pub fn total(&self) -> u64 {
        self.interactions + self.authorization_codes + self.device_grants + self.sessions
    }
}

/// The server's own sweep (every `limits.sweep_interval_secs` on each node): removes
/// `tenant`'s expired interactions, authorization codes and device grants from its
/// token pool and its expired sessions from its users pool, `batch` rows per
/// statement, taking the SQLite writer's turn per statement. Tokens stay for
/// `tessera cleartokens` (their rules depend on refresh families and settings).
/// Nodes sweeping at once delete disjoint or already-deleted rows: harmless.
pub async fn sweep(data: TenantData<'_>, batch: u64) -> Result<Swept, Error> {
    let now = now();
    let id = data.tenant_id();
    let tokens = router_policies::EntityGroup::Tokens;
    let users = router_policies::EntityGroup::Users;
    Ok(Swept {
        interactions: batch_delete_in_turn::<interaction::Entity>(
            data,
            tokens,
            interaction::Column::Id,
            Condition::all()
                .add(interaction::Column::TenantId.eq(id))
                .add(interaction::Column::ExpiresAt.lt(now)),
            batch,
        )
        .await?,
        authorization_codes: batch_delete_in_turn::<authorization_code::Entity>(
            data,
            tokens,
            authorization_code::Column::Id,
            Condition::all()
                .add(authorization_code::Column::TenantId.eq(id))
                .add(authorization_code::Column::ExpiresAt.lt(now)),
            batch,
        )
        .await?,
        device_grants: batch_delete_in_turn::<device_grant::Entity>(
            data,
            tokens,
            device_grant::Column::Id,
            Condition::all()
                .add(device_grant::Column::TenantId.eq(id))
                .add(device_grant::Column::ExpiresAt.lt(now)),
            batch,
        )
        .await?,
        sessions: batch_delete_in_turn::<session::Entity>(
            data,
            users,
            session::Column::Id,
            Condition::all()
                .add(session::Column::TenantId.eq(id))
                .add(session::Column::ExpiresAt.lt(now)),
            batch,
        )
        .await?,
    })
}
