//! The authorized-tokens read model (DOT's authorized-token views): which
//! applications hold a user's live tokens or remembered consent, and revoking all of
//! one application's, for the user's own page and for end-session.

use entity::{access_token, refresh_token};
use router_policies::EntityGroup;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect,
};

use crate::error::Error;
use crate::shared::revocations::Revoked;
use crate::store::access::{TenantData, with_retry};
use crate::store::same_tenant_by_key;
use crate::store::tokens::revoke_access_where;
use crate::time::now;

/// One application's live grants to a user, for the authorized-tokens page: the
/// scopes of its live tokens, when the first was issued and until when they last.
#[derive(Clone, Debug)]
pub struct AuthorizedApplication {
    /// The application's row id.
    pub application_id: i64,
    /// Every scope of a live token, sorted.
    pub scopes: std::collections::BTreeSet<String>,
    /// Earliest issue of a live token.
    pub first_issued: entity::Timestamp,
    /// Latest expiry of a live access token; `None` when a live refresh token never
    /// expires.
    pub valid_until: Option<entity::Timestamp>,
    /// Whether it holds live tokens (else only a remembered consent).
    pub holds_tokens: bool,
    /// The user's remembered consent: `Some(None)` until revoked, `Some(Some(t))`
    /// until `t`.
    pub consent_until: Option<Option<entity::Timestamp>>,
}

/// The applications holding live tokens of `user_id` or a live remembered consent,
/// tokens grouped in the database by (application, scope): the rows read grow with
/// the user's distinct grants, not with how many tokens they hold.
pub async fn authorized_applications(
    data: TenantData<'_>,
    user_id: i64,
) -> Result<Vec<AuthorizedApplication>, Error> {
    // The token group is never on a replica (the router refuses it), and the page
    // must show a revocation just made.
    let db = data.primary(EntityGroup::Tokens)?;
    let tenant = data.tenant();
    let now = now();
    type Row = (i64, String, entity::Timestamp, Option<entity::Timestamp>);
    let access: Vec<Row> = access_token::Entity::find()
        .select_only()
        .column(access_token::Column::ApplicationId)
        .column(access_token::Column::Scope)
        .column_as(access_token::Column::CreatedAt.min(), "first")
        .column_as(access_token::Column::ExpiresAt.max(), "last")
        .filter(access_token::Column::UserId.eq(user_id))
        .filter(same_tenant_by_key(
            access_token::Column::TenantId,
            tenant.id,
        ))
        .filter(access_token::Column::RevokedAt.is_null())
        .filter(access_token::Column::ExpiresAt.gt(now))
        .group_by(access_token::Column::ApplicationId)
        .group_by(access_token::Column::Scope)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    let refresh: Vec<(i64, String, entity::Timestamp)> = refresh_token::Entity::find()
        .select_only()
        .column(refresh_token::Column::ApplicationId)
        .column(refresh_token::Column::Scope)
        .column_as(refresh_token::Column::CreatedAt.min(), "first")
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(same_tenant_by_key(
            refresh_token::Column::TenantId,
            tenant.id,
        ))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(refresh_token::Column::ExpiresAt.is_null())
                .add(refresh_token::Column::ExpiresAt.gt(now)),
        )
        .group_by(refresh_token::Column::ApplicationId)
        .group_by(refresh_token::Column::Scope)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_application: std::collections::BTreeMap<i64, AuthorizedApplication> =
        std::collections::BTreeMap::new();
    let mut add = |application_id: i64,
                   scope: &str,
                   first: entity::Timestamp,
                   last: Option<entity::Timestamp>,
                   open_ended: bool| {
        let entry = by_application
            .entry(application_id)
            .or_insert_with(|| AuthorizedApplication {
                application_id,
                scopes: Default::default(),
                first_issued: first,
                valid_until: last,
                holds_tokens: true,
                consent_until: None,
            });
        entry
            .scopes
            .extend(scope.split_whitespace().map(str::to_owned));
        entry.first_issued = entry.first_issued.min(first);
        entry.valid_until = if open_ended {
            None
        } else {
            entry.valid_until.max(last)
        };
    };
    for (application_id, scope, first, last) in access {
        add(application_id, &scope, first, last, false);
    }
    for (application_id, scope, first) in refresh {
        // A live refresh token keeps the grant alive past its access tokens.
        add(application_id, &scope, first, None, true);
    }
    for consent in crate::store::consents::live_for_user(db, tenant.id, user_id).await? {
        let entry = by_application
            .entry(consent.application_id)
            .or_insert_with(|| AuthorizedApplication {
                application_id: consent.application_id,
                scopes: Default::default(),
                first_issued: consent.created_at,
                valid_until: None,
                holds_tokens: false,
                consent_until: None,
            });
        entry
            .scopes
            .extend(consent.scope.split_whitespace().map(str::to_owned));
        entry.first_issued = entry.first_issued.min(consent.created_at);
        entry.consent_until = Some(consent.expires_at);
    }
    Ok(by_application.into_values().collect())
}

/// Revokes every access and refresh token of `user_id` for one application and
/// forgets the user's remembered consent for it, in one transaction (DOT's
/// authorized-token delete view). Three statements keyed by (user, application), the
/// tenant compared as `tenant_id + 0`, whatever their number.
pub async fn revoke_user_application(
    data: TenantData<'_>,
    user_id: i64,
    application_id: i64,
) -> Result<(), Error> {
    revoke(data, user_id, Some(application_id), true).await
}

/// Revokes every access and refresh token the user holds, for every application, in
/// one transaction on the token pool; with `forget_consents` also every remembered
/// consent (a deleted user). Statements keyed by the `(user, …, tenant)` indexes: their
/// cost grows with the user's tokens, not the tenant's.
pub async fn revoke_user(
    data: TenantData<'_>,
    user_id: i64,
    forget_consents: bool,
) -> Result<(), Error> {
    revoke(data, user_id, None, forget_consents).await
}

/// The user's tokens (of one application, or all), and optionally the consents, in
/// one transaction.
async fn revoke(
    data: TenantData<'_>,
    user_id: i64,
    application_id: Option<i64>,
    forget_consents: bool,
) -> Result<(), Error> {
    with_retry!({
        let transaction = data.transaction(EntityGroup::Tokens).await?;
        let result = revoke_in(
            &transaction.inner,
            data.tenant_id(),
            user_id,
            application_id,
            forget_consents,
        )
        .await;
        transaction.finish(result).await
    })?;
    data.revoked(Revoked::User(user_id)).await;
    Ok(())
}

async fn revoke_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    user_id: i64,
    application_id: Option<i64>,
    forget_consents: bool,
) -> Result<(), Error> {
    let now = now();
    if forget_consents {
        match application_id {
            Some(application_id) => {
                crate::store::consents::forget(transaction, tenant_id, user_id, application_id)
                    .await?;
            }
            None => crate::store::consents::forget_all(transaction, tenant_id, user_id).await?,
        }
    }
    let mut refresh = refresh_token::Entity::update_many()
        .set(refresh_token::ActiveModel {
            revoked_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(same_tenant_by_key(
            refresh_token::Column::TenantId,
            tenant_id,
        ))
        .filter(refresh_token::Column::RevokedAt.is_null());
    let mut access = Condition::all().add(access_token::Column::UserId.eq(user_id));
    if let Some(application_id) = application_id {
        refresh = refresh.filter(refresh_token::Column::ApplicationId.eq(application_id));
        access = access.add(access_token::Column::ApplicationId.eq(application_id));
    }
    refresh.exec(transaction).await?;
    revoke_access_where(transaction, tenant_id, access, now).await
}
