//! Authorization codes (RFC 6749 §4.1.2), stored as checksums in the tokens group.
//!
//! A code is consumed **in the transaction that writes its tokens** (DOT deletes it in
//! a separate step): the row is locked, marked consumed and the pair inserted, or
//! nothing happens. A second redemption finds it consumed and revokes every token the
//! first one minted (RFC 6749 §4.1.2, RFC 6819 §4.4.1.1) — that revocation commits even
//! though the request is refused.

use entity::{access_token, authorization_code, refresh_token, user};
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, QueryFilter, QuerySelect,
};

use router_policies::EntityGroup;

use crate::error::Error;
use crate::group_commit::Work;
use crate::shared::revocations::Revoked;
use crate::store::access::TenantData;
use crate::store::access::with_retry;
use crate::store::interactions;
use crate::store::tokens::{self, Binds, Lineage, NewAccessToken, NewRefreshToken};
use crate::store::users;
use crate::store::{same_tenant_by_key, same_tenant_by_key_sql};
use crate::time::now;

/// A code to store (its checksum, never the code).
#[derive(Clone, Debug)]
pub struct NewCode {
    /// SHA-256 hex of the code.
    pub code_checksum: String,
    /// The client it was issued to.
    pub application_id: i64,
    /// The user who approved.
    pub user_id: i64,
    /// The `redirect_uri` parameter as the request sent it; empty when it sent none.
    pub redirect_uri: String,
    /// Approved scopes, space-separated.
    pub scope: String,
    /// PKCE challenge and method (RFC 7636 §4.3).
    pub code_challenge: Option<(String, String)>,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: Option<entity::Timestamp>,
    /// How the user authenticated (OIDC Core §2 `acr`), when a login application said.
    pub acr: Option<String>,
    /// The authentication methods (OIDC Core §2 `amr`), space-separated.
    pub amr: Option<String>,
    /// Expiry.
    pub expires_at: entity::Timestamp,
}

/// Stores a code. With `interaction_id`, the interaction is deleted in the same
/// transaction; `Ok(false)` when it was already gone (finished by a concurrent
/// request), and then no code is stored. Through the token pool's group commit.
pub async fn create(
    data: TenantData<'_>,
    code: NewCode,
    interaction_id: Option<i64>,
) -> Result<bool, Error> {
    let work = CreateCode {
        tenant_id: data.tenant_id(),
        code,
        interaction_id,
    };
    data.commit(EntityGroup::Tokens, work).await
}

/// [`create`]'s writes.
struct CreateCode {
    tenant_id: i64,
    code: NewCode,
    interaction_id: Option<i64>,
}

impl Work for CreateCode {
    type Output = bool;

    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            if let Some(interaction_id) = self.interaction_id
                && !interactions::take_in(transaction, self.tenant_id, interaction_id).await?
            {
                return Ok(false);
            }
            // Nothing read back: one round trip on every backend.
            authorization_code::Entity::insert(code_row(self.tenant_id, self.code.clone()))
                .exec_without_returning(transaction)
                .await?;
            Ok(true)
        })
    }
}

fn code_row(tenant_id: i64, code: NewCode) -> authorization_code::ActiveModel {
    let (challenge, method) = code.code_challenge.unzip();
    authorization_code::ActiveModel {
        tenant_id: Set(tenant_id),
        code_checksum: Set(code.code_checksum),
        application_id: Set(code.application_id),
        user_id: Set(code.user_id),
        redirect_uri: Set(code.redirect_uri),
        scope: Set(code.scope),
        code_challenge: Set(challenge),
        code_challenge_method: Set(method),
        nonce: Set(code.nonce),
        claims: Set(None),
        resource: Set(None),
        expires_at: Set(code.expires_at),
        consumed_at: Set(None),
        auth_time: Set(code.auth_time),
        acr: Set(code.acr),
        amr: Set(code.amr),
        created_at: Set(now()),
        ..Default::default()
    }
}

/// The code with `checksum` in the tenant and the user who approved it (`None` when
/// that user is gone), from their primaries (whether the user is still active
/// decides the redemption): one statement where the tenant's tokens and users share
/// a pool ([`users::one_with_user`]).
pub async fn find_with_user(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<(authorization_code::Model, Option<user::Model>)>, Error> {
    let code = authorization_code::Entity::find()
        .filter(authorization_code::Column::CodeChecksum.eq(checksum))
        .filter(same_tenant_by_key(
            authorization_code::Column::TenantId,
            data.tenant_id(),
        ));
    users::one_with_user(
        data,
        EntityGroup::Tokens,
        code,
        authorization_code::Column::UserId,
        |code| Some(code.user_id),
    )
    .await
}

/// What [`redeem`] did.
#[derive(Debug)]
pub enum Redemption {
    /// The code is consumed and the tokens stored, atomically.
    Minted,
    /// The code had been redeemed before; what that redemption minted is revoked now.
    Replayed,
}

/// Redeems a validated code: marks it consumed if it is unused (one conditional
/// UPDATE, which takes the row lock) and stores the tokens; if it was used, revokes
/// what it minted. Of N concurrent redemptions exactly one
/// gets [`Redemption::Minted`]. One transaction on the token pool, shared with
/// concurrent requests' token writes by its group commit.
///
/// On PostgreSQL the happy path is **one statement** (data-modifying CTEs: consume,
/// insert the access token, insert the refresh token); when it consumes nothing the
/// code was used, and the same transaction revokes what it minted. MariaDB and
/// SQLite, without data-modifying CTEs, run the statements one by one.
pub async fn redeem(
    data: TenantData<'_>,
    code: &authorization_code::Model,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
) -> Result<Redemption, Error> {
    let work = Redeem {
        tenant_id: data.tenant_id(),
        code_id: code.id,
        access,
        refresh,
    };
    let whose = Revoked::tokens_of(code.application_id, Some(code.user_id));
    data.commit_revoking(EntityGroup::Tokens, work, move |redemption| {
        matches!(redemption, Redemption::Replayed).then_some(whose)
    })
    .await
}

/// [`redeem`]'s writes.
struct Redeem {
    tenant_id: i64,
    code_id: i64,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
}

impl Work for Redeem {
    type Output = Redemption;

    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<Redemption, Error>> {
        Box::pin(async move {
            if transaction.get_database_backend() != DbBackend::Postgres {
                return redeem_in(
                    transaction,
                    self.tenant_id,
                    self.code_id,
                    self.access.clone(),
                    self.refresh.clone(),
                )
                .await;
            }
            if redeem_in_one_statement(
                transaction,
                self.tenant_id,
                self.code_id,
                &self.access,
                self.refresh.as_ref(),
            )
            .await?
            {
                return Ok(Redemption::Minted);
            }
            revoke_minted_in(transaction, self.tenant_id, self.code_id).await?;
            Ok(Redemption::Replayed)
        })
    }
}

async fn redeem_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    code_id: i64,
    access: NewAccessToken,
    refresh: Option<NewRefreshToken>,
) -> Result<Redemption, Error> {
    // The UPDATE takes the row lock; a concurrent redemption waits for it, then
    // re-reads the row, finds it consumed and updates nothing (PostgreSQL and
    // MariaDB re-check the WHERE on the newest version; SQLite runs one writer).
    let consumed = authorization_code::Entity::update_many()
        .set(authorization_code::ActiveModel {
            consumed_at: Set(Some(now())),
            ..Default::default()
        })
        .filter(same_tenant_by_key(
            authorization_code::Column::TenantId,
            tenant_id,
        ))
        .filter(authorization_code::Column::Id.eq(code_id))
        .filter(authorization_code::Column::ConsumedAt.is_null())
        .exec(transaction)
        .await?;
    if consumed.rows_affected == 0 {
        revoke_minted_in(transaction, tenant_id, code_id).await?;
        return Ok(Redemption::Replayed);
    }
    tokens::insert_pair(transaction, tenant_id, access, refresh).await?;
    Ok(Redemption::Minted)
}

/// PostgreSQL: consume the code and insert the tokens (and the ID token record) in
/// one statement; `false` when the code was consumed already (nothing inserted).
async fn redeem_in_one_statement(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    code_id: i64,
    access: &NewAccessToken,
    refresh: Option<&NewRefreshToken>,
) -> Result<bool, Error> {
    let mut binds = Binds::default();
    let now = binds.bind(now());
    let tenant = binds.bind(tenant_id);
    let code = binds.bind(code_id);
    let same_tenant = same_tenant_by_key_sql(&tenant);
    let gate = format!(
        "WITH gate AS (UPDATE authorization_codes SET consumed_at = {now} \
         WHERE id = {code} AND {same_tenant} AND consumed_at IS NULL RETURNING id)"
    );
    let lineage = Lineage {
        source_refresh_token: "NULL",
        authorization_code: "gate.id",
    };
    tokens::pair_after_gate(db, gate, binds, (&tenant, &now), access, refresh, lineage).await
}

/// Revokes what a replayed code minted: its access token(s) by
/// `authorization_code_id`, and the whole refresh family started with them (rotations
/// included). A code mints one access token, so the lists read here have one entry.
pub async fn revoke_minted(
    data: TenantData<'_>,
    code: &authorization_code::Model,
) -> Result<(), Error> {
    with_retry!({
        let transaction = data.transaction(EntityGroup::Tokens).await?;
        let result = revoke_minted_in(&transaction.inner, data.tenant_id(), code.id).await;
        transaction.finish(result).await
    })?;
    data.revoked(Revoked::tokens_of(code.application_id, Some(code.user_id)))
        .await;
    Ok(())
}

async fn revoke_minted_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    code_id: i64,
) -> Result<(), Error> {
    let minted: Vec<i64> = access_token::Entity::find()
        .select_only()
        .column(access_token::Column::Id)
        .filter(access_token::Column::AuthorizationCodeId.eq(code_id))
        .filter(same_tenant_by_key(
            access_token::Column::TenantId,
            tenant_id,
        ))
        .limit(16)
        .into_tuple()
        .all(transaction)
        .await?;
    let families: Vec<String> = if minted.is_empty() {
        Vec::new()
    } else {
        refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .filter(refresh_token::Column::AccessTokenId.is_in(minted))
            .filter(same_tenant_by_key(
                refresh_token::Column::TenantId,
                tenant_id,
            ))
            .distinct()
            .limit(16)
            .into_tuple()
            .all(transaction)
            .await?
    };
    tokens::revoke_access_where(
        transaction,
        tenant_id,
        Condition::all().add(access_token::Column::AuthorizationCodeId.eq(code_id)),
        now(),
    )
    .await?;
    for family in families {
        tokens::revoke_family_in(transaction, tenant_id, &family).await?;
    }
    Ok(())
}
