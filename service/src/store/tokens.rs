//! The token store: every write of a token flow runs in **one transaction on the
//! tenant's token pool** (the router's invariant, docs/router.md), so an access token and its refresh
//! token commit or roll back together.
//!
//! Only tokens' keys (SHA-256 checksums, `secrets::checksum`) are stored; lookups go
//! by `(checksum, tenant_id)` (`store::same_tenant_by_key`).

use entity::{access_token, id_token, refresh_token, user};
use futures_util::future::BoxFuture;
use router_policies::EntityGroup;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QuerySelect, Select, Statement,
    Value,
};

use crate::error::Error;
use crate::group_commit::{Row, Work};
use crate::shared::revocations::Revoked;
use crate::store::access::{TenantData, Writer, with_retry};
use crate::store::users;
use crate::store::{same_tenant_by_key, same_tenant_by_key_sql};
use crate::time::now;

/// An access token to store (its checksum, never the token).
#[derive(Clone, Debug)]
pub struct NewAccessToken {
    /// The token's key (`secrets::checksum`).
    pub token_checksum: String,
    /// Client it is issued to.
    pub application_id: i64,
    /// Resource owner, if any.
    pub user_id: Option<i64>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Expiry.
    pub expires_at: entity::Timestamp,
    /// Refresh token it was minted from.
    pub source_refresh_token_id: Option<i64>,
    /// Authorization code it was minted from.
    pub authorization_code_id: Option<i64>,
    /// The ID token issued alongside (OIDC), stored in the same transaction.
    pub id_token: Option<NewIdToken>,
}

/// The record of an issued ID token (the JWT itself is not stored).
#[derive(Clone, Debug)]
pub struct NewIdToken {
    /// JWT ID.
    pub jti: String,
    /// Scopes of the grant.
    pub scope: String,
    /// Expiry.
    pub expires_at: entity::Timestamp,
}

/// A refresh token to store alongside an access token.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    /// The token's key (`secrets::checksum`).
    pub token_checksum: String,
    /// Rotation family (new UUID for a fresh grant, inherited on rotation).
    pub family_id: String,
    /// Scopes of the grant (a refresh may narrow the access token, never this).
    pub scope: String,
    /// Absolute expiry, when the tenant sets a refresh token lifetime.
    pub expires_at: Option<entity::Timestamp>,
    /// When the user authenticated for the grant (OIDC `auth_time`), if known.
    pub auth_time: Option<entity::Timestamp>,
    /// How the user authenticated (OIDC Core §2 `acr`), when a login application said.
    pub acr: Option<String>,
    /// The authentication methods (OIDC Core §2 `amr`), space-separated.
    pub amr: Option<String>,
}

/// What [`issue`] stored.
#[derive(Clone, Debug)]
pub struct IssuedTokens {
    /// The access token row.
    pub access: access_token::Model,
    /// The refresh token row, when one was requested.
    pub refresh: Option<refresh_token::Model>,
}

/// The tenant's token pool with the writer's turn held, for a caller that keeps
/// several statements together (counting pending interactions or device grants, then
/// storing the one it admits: both live in the tokens group).
pub async fn writer(data: TenantData<'_>) -> Result<Writer<'_>, Error> {
    data.writer(EntityGroup::Tokens).await
}

/// Stores an access token and, optionally, its refresh token in one transaction on
/// the tenant's token pool. Either both rows exist afterwards or neither does.
pub async fn issue(
    data: TenantData<'_>,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
) -> Result<IssuedTokens, Error> {
    let work = IssuePair {
        tenant_id: data.tenant_id(),
        access,
        refresh,
    };
    data.commit(EntityGroup::Tokens, work).await
}

/// [`issue`]'s writes.
struct IssuePair {
    tenant_id: i64,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
}

impl Work for IssuePair {
    type Output = IssuedTokens;

    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<IssuedTokens, Error>> {
        Box::pin(insert_pair(
            transaction,
            self.tenant_id,
            self.access.clone(),
            self.refresh.clone(),
        ))
    }
}

/// Stores a lone access token (client credentials, or a grant without refresh token):
/// one row, inserted with concurrent requests' rows in one multi-row `INSERT` by the
/// pool's group commit; where that is off, one `INSERT` in autocommit. Nothing is read
/// back.
pub async fn issue_access_only(data: TenantData<'_>, access: NewAccessToken) -> Result<(), Error> {
    if access.id_token.is_some() {
        // Two rows: a transaction.
        return issue(data, access, None).await.map(|_| ());
    }
    let row = access_row(data.tenant_id(), access, None, now());
    if let Some(group_commit) = data.group_commit(EntityGroup::Tokens)? {
        return group_commit.insert(Row::of(&row)).await;
    }
    let writer = data.writer(EntityGroup::Tokens).await?;
    access_token::Entity::insert(row)
        .exec_without_returning(writer.connection)
        .await?;
    Ok(())
}

fn access_row(
    tenant_id: i64,
    access: NewAccessToken,
    id_token_id: Option<i64>,
    created: entity::Timestamp,
) -> access_token::ActiveModel {
    access_token::ActiveModel {
        tenant_id: Set(tenant_id),
        token_checksum: Set(access.token_checksum),
        application_id: Set(access.application_id),
        user_id: Set(access.user_id),
        scope: Set(access.scope),
        source_refresh_token_id: Set(access.source_refresh_token_id),
        id_token_id: Set(id_token_id),
        authorization_code_id: Set(access.authorization_code_id),
        expires_at: Set(access.expires_at),
        revoked_at: Set(None),
        created_at: Set(created),
        ..Default::default()
    }
}

/// What [`rotate`] did.
#[derive(Clone, Debug)]
pub enum Rotation {
    /// The old token is revoked and the new pair stored, in one transaction.
    Rotated,
    /// Another request rotated or revoked the old token first.
    AlreadyUsed,
}

/// Rotates a refresh token (RFC 6749 §6, OAuth 2.1 §4.3.1): locks the old row
/// (`SELECT … FOR UPDATE` on PostgreSQL and MariaDB; SQLite's `BEGIN IMMEDIATE` already
/// holds the write lock), and if it is still live revokes it (keeping `sealed`, the
/// successor pair for grace-period retries), revokes its access token, and stores the
/// new pair — one transaction on the tenant's token pool, shared with concurrent
/// requests' token writes by its group commit. On PostgreSQL it is one statement
/// ([`pair_after_gate`]: the conditional `UPDATE` takes the lock). Of N concurrent
/// rotations of one token exactly one gets [`Rotation::Rotated`].
pub async fn rotate(
    data: TenantData<'_>,
    old: &refresh_token::Model,
    access: NewAccessToken,
    refresh: NewRefreshToken,
    sealed: Option<String>,
) -> Result<Rotation, Error> {
    let work = Rotate {
        tenant_id: data.tenant_id(),
        old_id: old.id,
        access,
        refresh,
        sealed,
    };
    let whose = Revoked::tokens_of(old.application_id, old.user_id);
    data.commit_revoking(EntityGroup::Tokens, work, move |rotation| {
        matches!(rotation, Rotation::Rotated).then_some(whose)
    })
    .await
}

/// [`rotate`]'s writes.
struct Rotate {
    tenant_id: i64,
    old_id: i64,
    access: NewAccessToken,
    refresh: NewRefreshToken,
    sealed: Option<String>,
}

impl Work for Rotate {
    type Output = Rotation;

    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<Rotation, Error>> {
        Box::pin(async move {
            if transaction.get_database_backend() != DbBackend::Postgres {
                return rotate_in(
                    transaction,
                    self.tenant_id,
                    self.old_id,
                    self.access.clone(),
                    self.refresh.clone(),
                    self.sealed.clone(),
                )
                .await;
            }
            let rotated = rotate_in_one_statement(
                transaction,
                self.tenant_id,
                self.old_id,
                &self.access,
                &self.refresh,
                self.sealed.as_deref(),
            )
            .await?;
            Ok(if rotated {
                Rotation::Rotated
            } else {
                Rotation::AlreadyUsed
            })
        })
    }
}

async fn rotate_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    old_id: i64,
    access: NewAccessToken,
    refresh: NewRefreshToken,
    sealed: Option<String>,
) -> Result<Rotation, Error> {
    {
        let Some(live) = lock_live_refresh_token(transaction, tenant_id, old_id).await? else {
            return Ok(Rotation::AlreadyUsed);
        };
        let now = now();
        refresh_token::Entity::update_many()
            .set(refresh_token::ActiveModel {
                revoked_at: Set(Some(now)),
                last_used_at: Set(Some(now)),
                successor_sealed: Set(sealed),
                ..Default::default()
            })
            .filter(refresh_token::Column::Id.eq(old_id))
            .exec(transaction)
            .await?;
        if let Some(access_id) = live.access_token_id {
            revoke_access_by_id(transaction, tenant_id, access_id, now).await?;
        }
        insert_pair(transaction, tenant_id, access, Some(refresh)).await?;
        Ok(Rotation::Rotated)
    }
}

/// Uses a refresh token without rotating it (`rotate_refresh_tokens = false`): stores
/// the new access token and points the refresh token at it. `None` when the token was
/// revoked meanwhile.
pub async fn refresh_in_place(
    data: TenantData<'_>,
    old: &refresh_token::Model,
    access: NewAccessToken,
) -> Result<Option<access_token::Model>, Error> {
    let work = RefreshInPlace {
        tenant_id: data.tenant_id(),
        old_id: old.id,
        access,
    };
    // The refresh token's previous access token is revoked when a new one is issued.
    let whose = Revoked::tokens_of(old.application_id, old.user_id);
    data.commit_revoking(EntityGroup::Tokens, work, move |issued| {
        issued.is_some().then_some(whose)
    })
    .await
}

/// [`refresh_in_place`]'s writes.
struct RefreshInPlace {
    tenant_id: i64,
    old_id: i64,
    access: NewAccessToken,
}

impl Work for RefreshInPlace {
    type Output = Option<access_token::Model>;

    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<Self::Output, Error>> {
        Box::pin(refresh_in_place_in(
            transaction,
            self.tenant_id,
            self.old_id,
            self.access.clone(),
        ))
    }
}

async fn refresh_in_place_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    old_id: i64,
    access: NewAccessToken,
) -> Result<Option<access_token::Model>, Error> {
    let Some(live) = lock_live_refresh_token(transaction, tenant_id, old_id).await? else {
        return Ok(None);
    };
    // As DOT does without rotation: the previous access token of this refresh
    // token stops working.
    if let Some(previous) = live.access_token_id {
        revoke_access_by_id(transaction, tenant_id, previous, now()).await?;
    }
    let issued = insert_pair(transaction, tenant_id, access, None).await?;
    refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            access_token_id: Set(Some(issued.access.id)),
            last_used_at: Set(Some(now())),
            ..Default::default()
        })
        .filter(refresh_token::Column::Id.eq(old_id))
        .exec(transaction)
        .await?;
    Ok(Some(issued.access))
}

/// The refresh token row, locked for the rest of the transaction, if still live.
async fn lock_live_refresh_token(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    id: i64,
) -> Result<Option<refresh_token::Model>, Error> {
    Ok(refresh_token::Entity::find_by_id(id)
        .filter(same_tenant_by_key(
            refresh_token::Column::TenantId,
            tenant_id,
        ))
        .lock_exclusive()
        .one(transaction)
        .await?
        .filter(|row| row.revoked_at.is_none()))
}

/// Marks the tenant's live access tokens matching `which` revoked at `now`. `which`
/// names a key that leads an index (a code, a user): the tenant is compared as
/// `tenant_id + 0`, so no `(tenant_id, …)` index can serve the statement instead.
pub(crate) async fn revoke_access_where(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    which: Condition,
    now: entity::Timestamp,
) -> Result<(), Error> {
    access_token::Entity::update_many()
        .set(access_token::ActiveModel {
            revoked_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(which)
        .filter(same_tenant_by_key(
            access_token::Column::TenantId,
            tenant_id,
        ))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

async fn revoke_access_by_id(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    id: i64,
    now: entity::Timestamp,
) -> Result<(), Error> {
    access_token::Entity::update_many()
        .set(access_token::ActiveModel {
            revoked_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(access_token::Column::Id.eq(id))
        .filter(same_tenant_by_key(
            access_token::Column::TenantId,
            tenant_id,
        ))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes one access token (RFC 7009).
pub async fn revoke_access_token(
    data: TenantData<'_>,
    token: &access_token::Model,
) -> Result<(), Error> {
    {
        let writer = data.writer(EntityGroup::Tokens).await?;
        revoke_access_by_id(writer.connection, data.tenant_id(), token.id, now()).await?;
    }
    data.revoked(Revoked::tokens_of(token.application_id, token.user_id))
        .await;
    Ok(())
}

/// Revokes a whole refresh-token family — every refresh token of the grant and every
/// access token minted with or from them — in one transaction. Used by revocation of
/// a refresh token (RFC 7009 §2.1) and by reuse detection.
///
/// Four statements whatever the family's size (on PostgreSQL a fifth first, which
/// plans them for the tables' current size: `FamilySql::plan_now`), each keyed by
/// `family_id` (its tenant compared as `tenant_id + 0`, so only the family's index can
/// serve it, whatever the statistics: `tests/tests/integration/plans.rs`); no list of
/// ids is ever bound (a family rotated every five minutes for a year has 100,000
/// members, above every backend's parameter limit). The
/// family's refresh rows are locked first, in id order, so two revocations of one
/// family queue instead of deadlocking, and a concurrent rotation (which locks one of
/// those rows, then an access token) waits or is waited for.
pub async fn revoke_family(
    data: TenantData<'_>,
    member: &refresh_token::Model,
) -> Result<(), Error> {
    with_retry!({
        let transaction = data.transaction(EntityGroup::Tokens).await?;
        let result =
            revoke_family_in(&transaction.inner, data.tenant_id(), &member.family_id).await;
        transaction.finish(result).await
    })?;
    data.revoked(Revoked::tokens_of(member.application_id, member.user_id))
        .await;
    Ok(())
}

pub(crate) async fn revoke_family_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    family_id: &str,
) -> Result<(), Error> {
    let now = now();
    let backend = transaction.get_database_backend();
    let sql = FamilySql::for_backend(backend);
    let key = || -> Vec<Value> { vec![tenant_id.into(), family_id.into()] };
    if let Some(plan_now) = sql.plan_now {
        transaction.execute_unprepared(plan_now).await?;
    }
    // SQLite's BEGIN IMMEDIATE already holds the database's write lock.
    if let Some(lock) = sql.lock {
        transaction
            .query_one_raw(Statement::from_sql_and_values(backend, lock, key()))
            .await?;
    }
    // New statements, so under READ COMMITTED they see a successor that a concurrent
    // rotation committed while we waited for the lock.
    refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            revoked_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(same_tenant_by_key(
            refresh_token::Column::TenantId,
            tenant_id,
        ))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(transaction)
        .await?;
    for statement in [sql.revoke_issued_with, sql.revoke_minted_from] {
        let mut values: Vec<Value> = vec![now.into()];
        values.extend(key());
        transaction
            .execute_raw(Statement::from_sql_and_values(backend, statement, values))
            .await?;
    }
    Ok(())
}

/// The family statements of [`revoke_family`] in each dialect. Parameters: the lock
/// takes (tenant_id, family_id); the access-token updates (revoked_at, tenant_id,
/// family_id). The updates join the family through its indexes
/// (`ix_refresh_tokens_family_tenant`, the access tokens' primary key and
/// `ix_access_tokens_source_tenant`) instead of an `IN (subquery)`, which MariaDB before 11.1
/// runs once per access token of the tenant.
struct FamilySql {
    /// Run first: plans the statements below for the tables as they are now. Each
    /// update joins the family to the access tokens, and a generic plan that a pooled
    /// connection settled while the tables were small may start from the other side
    /// (a sequential scan of the tenant's access tokens, probing the family for each:
    /// `tests/tests/integration/plans.rs` saw 28,000 rows read for four replays with
    /// 3,000 tokens preloaded). A revocation is rare enough to plan each time.
    plan_now: Option<&'static str>,
    lock: Option<&'static str>,
    /// Access tokens issued together with a member (`refresh_tokens.access_token_id`).
    revoke_issued_with: &'static str,
    /// Access tokens minted from a member (`access_tokens.source_refresh_token_id`).
    revoke_minted_from: &'static str,
}

impl FamilySql {
    fn for_backend(backend: DbBackend) -> Self {
        match backend {
            DbBackend::Postgres => Self {
                plan_now: Some("SET LOCAL plan_cache_mode = force_custom_plan"),
                lock: Some(
                    "SELECT count(*) FROM (SELECT id FROM refresh_tokens \
                     WHERE family_id = $2 AND tenant_id + 0 = $1 ORDER BY id FOR UPDATE) AS locked",
                ),
                revoke_issued_with: "UPDATE access_tokens AS a SET revoked_at = $1 \
                     FROM refresh_tokens AS r \
                     WHERE r.family_id = $3 AND r.tenant_id + 0 = $2 \
                     AND a.id = r.access_token_id AND a.tenant_id + 0 = $2 \
                     AND a.revoked_at IS NULL",
                revoke_minted_from: "UPDATE access_tokens AS a SET revoked_at = $1 \
                     FROM refresh_tokens AS r \
                     WHERE r.family_id = $3 AND r.tenant_id + 0 = $2 \
                     AND a.source_refresh_token_id = r.id AND a.tenant_id + 0 = $2 \
                     AND a.revoked_at IS NULL",
            },
            // MariaDB plans each execution from InnoDB's sampled statistics, which
            // lag a table that just grew: written like PostgreSQL's (tenant as `+ 0`,
            // order left to the optimizer), the revocation of a family of 100,000
            // bulk-loaded members (`hardening.rs`) ran for over 500 s where it takes
            // seconds. So the join order and indexes are pinned: the family through
            // its index, then each member's access tokens through theirs.
            DbBackend::MySql => Self {
                plan_now: None,
                lock: Some(
                    "SELECT COUNT(*) FROM (SELECT id FROM refresh_tokens \
                     FORCE INDEX (ix_refresh_tokens_family_tenant) \
                     WHERE tenant_id = ? AND family_id = ? ORDER BY id FOR UPDATE) AS locked",
                ),
                revoke_issued_with: "UPDATE refresh_tokens AS r \
                     FORCE INDEX (ix_refresh_tokens_family_tenant) \
                     STRAIGHT_JOIN access_tokens AS a FORCE INDEX (PRIMARY) \
                     ON a.id = r.access_token_id AND a.tenant_id = r.tenant_id \
                     SET a.revoked_at = ? \
                     WHERE r.tenant_id = ? AND r.family_id = ? AND a.revoked_at IS NULL",
                revoke_minted_from: "UPDATE refresh_tokens AS r \
                     FORCE INDEX (ix_refresh_tokens_family_tenant) \
                     STRAIGHT_JOIN access_tokens AS a FORCE INDEX (ix_access_tokens_source_tenant) \
                     ON a.source_refresh_token_id = r.id AND a.tenant_id = r.tenant_id \
                     SET a.revoked_at = ? \
                     WHERE r.tenant_id = ? AND r.family_id = ? AND a.revoked_at IS NULL",
            },
            // SQLite (3.33+ has UPDATE … FROM); `?NNN` numbers the parameters. It
            // plans from the statement alone (no statistics without ANALYZE): the
            // family's index, then the access tokens' keys.
            _ => Self {
                plan_now: None,
                lock: None,
                revoke_issued_with: "UPDATE access_tokens AS a SET revoked_at = ?1 \
                     FROM refresh_tokens AS r \
                     WHERE r.family_id = ?3 AND r.tenant_id + 0 = ?2 \
                     AND a.id = r.access_token_id AND a.tenant_id + 0 = ?2 \
                     AND a.revoked_at IS NULL",
                revoke_minted_from: "UPDATE access_tokens AS a SET revoked_at = ?1 \
                     FROM refresh_tokens AS r \
                     WHERE r.family_id = ?3 AND r.tenant_id + 0 = ?2 \
                     AND a.source_refresh_token_id = r.id AND a.tenant_id + 0 = ?2 \
                     AND a.revoked_at IS NULL",
            },
        }
    }
}

/// Placeholders and their values for a PostgreSQL statement written by hand.
#[derive(Debug, Default)]
pub(crate) struct Binds {
    values: Vec<Value>,
}

impl Binds {
    /// Binds `value`; its placeholder (`$n`).
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// The values, in placeholder order.
    fn into_values(self) -> Vec<Value> {
        self.values
    }
}

/// Where a new access token came from, as SQL over the `gate` row of
/// [`pair_after_gate`] (or `NULL`).
pub(crate) struct Lineage {
    /// Its `source_refresh_token_id`.
    pub source_refresh_token: &'static str,
    /// Its `authorization_code_id`.
    pub authorization_code: &'static str,
}

/// PostgreSQL: one statement that stores a token pair only if `gate` (a `WITH gate AS
/// (…)` clause, an UPDATE taking its row's lock and returning it while still usable)
/// returned its row: the ID token record, the access token and the refresh token are
/// inserted `FROM gate` (data-modifying CTEs), so with no gate row nothing is inserted
/// and the statement returns no row. The statement is atomic like any other; the
/// gate's `WHERE … IS NULL` is re-checked on the newest row version after a
/// concurrent writer commits, so of N concurrent statements exactly one returns a
/// row. `(tenant, now)` are placeholders bound already. Runs it on `db`: `true` when
/// the gate let the pair be stored.
pub(crate) async fn pair_after_gate(
    db: &impl ConnectionTrait,
    gate: String,
    mut binds: Binds,
    (tenant, now): (&str, &str),
    access: &NewAccessToken,
    refresh: Option<&NewRefreshToken>,
    lineage: Lineage,
) -> Result<bool, Error> {
    let mut sql = gate;
    let application = binds.bind(access.application_id);
    let user = binds.bind(access.user_id);
    let id_token_id = match &access.id_token {
        None => "NULL".to_owned(),
        Some(id_token) => {
            let (jti, scope, expires) = (
                binds.bind(id_token.jti.clone()),
                binds.bind(id_token.scope.clone()),
                binds.bind(id_token.expires_at),
            );
            sql.push_str(&format!(
                ", id_token AS (INSERT INTO id_tokens (tenant_id, jti, application_id, user_id, \
                 scope, expires_at, created_at) SELECT {tenant}, {jti}, {application}, {user}, \
                 {scope}, {expires}, {now} FROM gate RETURNING id)"
            ));
            "(SELECT id FROM id_token)".to_owned()
        }
    };
    let (checksum, scope, expires) = (
        binds.bind(access.token_checksum.clone()),
        binds.bind(access.scope.clone()),
        binds.bind(access.expires_at),
    );
    let Lineage {
        source_refresh_token,
        authorization_code,
    } = lineage;
    sql.push_str(&format!(
        ", access AS (INSERT INTO access_tokens (tenant_id, token_checksum, application_id, \
         user_id, scope, source_refresh_token_id, id_token_id, authorization_code_id, \
         expires_at, revoked_at, created_at) \
         SELECT {tenant}, {checksum}, {application}, {user}, {scope}, {source_refresh_token}, \
         {id_token_id}, {authorization_code}, {expires}, NULL, {now} FROM gate RETURNING id)"
    ));
    match refresh {
        None => sql.push_str(" SELECT id FROM access"),
        Some(refresh) => {
            let (checksum, family, scope, expires, auth_time) = (
                binds.bind(refresh.token_checksum.clone()),
                binds.bind(refresh.family_id.clone()),
                binds.bind(refresh.scope.clone()),
                binds.bind(refresh.expires_at),
                binds.bind(refresh.auth_time),
            );
            let (acr, amr) = (
                binds.bind(refresh.acr.clone()),
                binds.bind(refresh.amr.clone()),
            );
            sql.push_str(&format!(
                " INSERT INTO refresh_tokens (tenant_id, token_checksum, access_token_id, \
                 application_id, user_id, family_id, scope, expires_at, revoked_at, \
                 successor_sealed, created_at, last_used_at, auth_time, acr, amr) \
                 SELECT {tenant}, {checksum}, access.id, {application}, {user}, {family}, \
                 {scope}, {expires}, NULL, NULL, {now}, NULL, {auth_time}, {acr}, {amr} \
                 FROM access RETURNING id"
            ));
        }
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            binds.into_values(),
        ))
        .await?;
    Ok(row.is_some())
}

/// PostgreSQL: [`rotate_in`] as one statement — revoke the old refresh token (if still
/// live, taking its lock) and the access token issued with it, store the new pair;
/// `false` when the old token was no longer live (nothing written).
async fn rotate_in_one_statement(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    old_id: i64,
    access: &NewAccessToken,
    refresh: &NewRefreshToken,
    sealed: Option<&str>,
) -> Result<bool, Error> {
    let mut binds = Binds::default();
    let now = binds.bind(now());
    let tenant = binds.bind(tenant_id);
    let old = binds.bind(old_id);
    let sealed = binds.bind(sealed.map(str::to_owned));
    let same_tenant = same_tenant_by_key_sql(&tenant);
    let gate = format!(
        "WITH gate AS (UPDATE refresh_tokens SET revoked_at = {now}, last_used_at = {now}, \
         successor_sealed = {sealed} \
         WHERE id = {old} AND {same_tenant} AND revoked_at IS NULL \
         RETURNING id, access_token_id), \
         revoked AS (UPDATE access_tokens SET revoked_at = {now} \
         WHERE id = (SELECT access_token_id FROM gate) AND {same_tenant} \
         AND revoked_at IS NULL)"
    );
    let lineage = Lineage {
        source_refresh_token: "gate.id",
        authorization_code: "NULL",
    };
    pair_after_gate(
        db,
        gate,
        binds,
        (&tenant, &now),
        access,
        Some(refresh),
        lineage,
    )
    .await
}

/// Inserts the pair on `db` (a transaction in [`issue`]).
pub async fn insert_pair(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
) -> Result<IssuedTokens, Error> {
    let created = now();
    let id_token_id = match &access.id_token {
        Some(id_token) => Some(
            id_token::ActiveModel {
                tenant_id: Set(tenant_id),
                jti: Set(id_token.jti.clone()),
                application_id: Set(access.application_id),
                user_id: Set(access.user_id),
                scope: Set(id_token.scope.clone()),
                expires_at: Set(id_token.expires_at),
                created_at: Set(created),
                ..Default::default()
            }
            .insert(db)
            .await?
            .id,
        ),
        None => None,
    };
    let access = access_row(tenant_id, access, id_token_id, created)
        .insert(db)
        .await?;
    let refresh = match refresh {
        Some(refresh) => Some(
            refresh_token::ActiveModel {
                tenant_id: Set(tenant_id),
                token_checksum: Set(refresh.token_checksum),
                access_token_id: Set(Some(access.id)),
                application_id: Set(access.application_id),
                user_id: Set(access.user_id),
                family_id: Set(refresh.family_id),
                scope: Set(refresh.scope),
                expires_at: Set(refresh.expires_at),
                revoked_at: Set(None),
                successor_sealed: Set(None),
                created_at: Set(created),
                last_used_at: Set(None),
                auth_time: Set(refresh.auth_time),
                acr: Set(refresh.acr),
                amr: Set(refresh.amr),
                ..Default::default()
            }
            .insert(db)
            .await?,
        ),
        None => None,
    };
    Ok(IssuedTokens { access, refresh })
}

/// The access token with `checksum` in the tenant, read from the token pool's
/// primary: whether it is live is a security decision (a revocation that answered 200
/// must count at once).
pub async fn find_access_token(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<access_token::Model>, Error> {
    Ok(access_by_checksum(data, checksum)
        .one(data.primary(EntityGroup::Tokens)?)
        .await?)
}

/// [`find_access_token`] and the user it was issued for, as
/// [`find_refresh_token_with_user`]: for a caller that expects a user's token (the
/// UserInfo endpoint). A client's own token read this way costs more than alone
/// (the user's columns decoded, all NULL; docs/benchmarks.md), so introspection,
/// which mostly sees those, reads the token alone.
pub async fn find_access_token_with_user(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<(access_token::Model, Option<user::Model>)>, Error> {
    let token = access_by_checksum(data, checksum);
    users::one_with_user(
        data,
        EntityGroup::Tokens,
        token,
        access_token::Column::UserId,
        |token| token.user_id,
    )
    .await
}

fn access_by_checksum(data: TenantData<'_>, checksum: &str) -> Select<access_token::Entity> {
    access_token::Entity::find()
        .filter(access_token::Column::TokenChecksum.eq(checksum))
        .filter(same_tenant_by_key(
            access_token::Column::TenantId,
            data.tenant_id(),
        ))
}

/// The refresh token with `checksum` in the tenant, from the primary (its liveness
/// is a security decision).
pub async fn find_refresh_token(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<refresh_token::Model>, Error> {
    Ok(refresh_by_checksum(data, checksum)
        .one(data.primary(EntityGroup::Tokens)?)
        .await?)
}

/// [`find_refresh_token`] and the user it was issued for (`None` when it names none
/// or that user is gone), from the users' primary: one statement where the tenant's
/// tokens and users share a pool ([`users::one_with_user`]).
pub async fn find_refresh_token_with_user(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<(refresh_token::Model, Option<user::Model>)>, Error> {
    let token = refresh_by_checksum(data, checksum);
    users::one_with_user(
        data,
        EntityGroup::Tokens,
        token,
        refresh_token::Column::UserId,
        |token| token.user_id,
    )
    .await
}

fn refresh_by_checksum(data: TenantData<'_>, checksum: &str) -> Select<refresh_token::Entity> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenChecksum.eq(checksum))
        .filter(same_tenant_by_key(
            refresh_token::Column::TenantId,
            data.tenant_id(),
        ))
}
