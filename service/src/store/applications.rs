//! The queries of a tenant's OAuth clients and their CORS origins. What an
//! application may be is [`crate::registration`]'s: every insert and update passes
//! [`NewApplication::check`] here too, so no caller can skip the rules.

use entity::{application, application_origin};
use router_policies::EntityGroup;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::error::Error;
use crate::registration::NewApplication;
use crate::shared::changes::Change;
use crate::shared::revocations::Revoked;
use crate::store::access::TenantData;
use crate::store::{is_unique_violation, same_tenant_by_key};
use crate::time::now;

/// Inserts a validated application and its CORS origins, in one transaction. A
/// `client_id` taken in this tenant is [`Error::Conflict`].
pub async fn create(
    data: TenantData<'_>,
    new: NewApplication,
) -> Result<application::Model, Error> {
    let tenant_id = data.tenant_id();
    new.check()?;
    let taken = || {
        Error::Conflict(format!(
            "client_id {:?} is taken in this tenant",
            new.client_id
        ))
    };
    let created = now();
    let grant_types: Vec<&str> = new.grant_types.iter().map(|grant| grant.as_str()).collect();
    let transaction = data.transaction(EntityGroup::Applications).await?;
    let result = async {
        let model = application::ActiveModel {
            tenant_id: Set(tenant_id),
            client_id: Set(new.client_id.clone()),
            owner_user_id: Set(new.owner_user_id),
            name: Set(new.name.clone()),
            client_type: Set(new.client_type.as_str().to_owned()),
            grant_types: Set(grant_types.join(",")),
            redirect_uris: Set(new.redirect_uris.join(" ")),
            post_logout_redirect_uris: Set(new.post_logout_redirect_uris.join(" ")),
            allowed_origins: Set(new.allowed_origins.join(" ")),
            client_secret: Set(new.client_secret.clone()),
            hash_client_secret: Set(new.hash_client_secret),
            skip_authorization: Set(new.skip_authorization),
            algorithm: Set(new.algorithm.clone()),
            access_token_format: Set(new.access_token_format.as_str().to_owned()),
            allowed_scopes: Set(new.allowed_scopes.join(" ")),
            extensions: Set(serde_json::Value::Object(new.extensions.clone()).to_string()),
            login_url: Set(new.login_url.clone()),
            login_client_id: Set(new.login_client_id.clone()),
            client_uri: Set(new.client_uri.clone()),
            token_endpoint_auth_method: Set(new.token_endpoint_auth_method.clone()),
            registration_token_hash: Set(new.registration_token_hash.clone()),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        }
        .insert(&transaction.inner)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                taken()
            } else {
                Error::Database(error)
            }
        })?;
        insert_origins(
            &transaction.inner,
            tenant_id,
            model.id,
            &new.allowed_origins,
        )
        .await?;
        Ok(model)
    }
    .await;
    let created = transaction.finish(result).await?;
    data.announce(changed_application(&created)).await;
    Ok(created)
}

/// The notice of a change to `application`.
fn changed_application(application: &application::Model) -> Change {
    Change::Application {
        tenant_id: application.tenant_id,
        client_id: application.client_id.clone(),
    }
}

/// One row per origin of the application; a client lists a handful, far below any
/// parameter limit.
async fn insert_origins(
    db: &impl ConnectionTrait,
    tenant_id: i64,
    application_id: i64,
    allowed_origins: &[String],
) -> Result<(), Error> {
    let mut origins: Vec<&String> = allowed_origins.iter().collect();
    origins.sort();
    origins.dedup();
    if !origins.is_empty() {
        application_origin::Entity::insert_many(origins.into_iter().map(|origin| {
            application_origin::ActiveModel {
                tenant_id: Set(tenant_id),
                origin: Set(origin.clone()),
                application_id: Set(application_id),
                ..Default::default()
            }
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Stores `changed` over the application `id` (what an operator or owner may change:
/// name, grant types, URIs, origins, scopes, consent, algorithm, access token format,
/// extension fields, home page, authentication method; never the client_id, type,
/// secret or registration access token), with its CORS origins
/// rewritten, in one transaction, then announced to every node. Only if the row is
/// still the one read (`stored.updated_at`: compare and set); a change made
/// meanwhile is [`Error::StaleVersion`], a deletion [`Error::NotFound`].
pub async fn update(
    data: TenantData<'_>,
    stored: &application::Model,
    changed: NewApplication,
) -> Result<application::Model, Error> {
    let tenant_id = data.tenant_id();
    let id = stored.id;
    changed.check()?;
    let grant_types: Vec<&str> = changed
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect();
    let transaction = data.transaction(EntityGroup::Applications).await?;
    let result = async {
        let model = application::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id),
            name: Set(changed.name.clone()),
            grant_types: Set(grant_types.join(",")),
            redirect_uris: Set(changed.redirect_uris.join(" ")),
            post_logout_redirect_uris: Set(changed.post_logout_redirect_uris.join(" ")),
            allowed_origins: Set(changed.allowed_origins.join(" ")),
            skip_authorization: Set(changed.skip_authorization),
            algorithm: Set(changed.algorithm.clone()),
            access_token_format: Set(changed.access_token_format.as_str().to_owned()),
            allowed_scopes: Set(changed.allowed_scopes.join(" ")),
            extensions: Set(serde_json::Value::Object(changed.extensions.clone()).to_string()),
            login_url: Set(changed.login_url.clone()),
            login_client_id: Set(changed.login_client_id.clone()),
            client_uri: Set(changed.client_uri.clone()),
            token_endpoint_auth_method: Set(changed.token_endpoint_auth_method.clone()),
            updated_at: Set(now()),
            ..Default::default()
        };
        let updated = application::Entity::update_many()
            .set(model)
            .filter(application::Column::Id.eq(id))
            .filter(same_tenant_by_key(application::Column::TenantId, tenant_id))
            .filter(application::Column::UpdatedAt.eq(stored.updated_at))
            .exec(&transaction.inner)
            .await?;
        if updated.rows_affected != 1 {
            let still_there = application::Entity::find_by_id(id)
                .filter(application::Column::TenantId.eq(tenant_id))
                .one(&transaction.inner)
                .await?
                .is_some();
            return Err(if still_there {
                Error::StaleVersion(format!(
                    "application {} changed since it was read: read it again and retry",
                    changed.client_id
                ))
            } else {
                Error::NotFound(format!(
                    "application {} no longer exists",
                    changed.client_id
                ))
            });
        }
        // Keyed by the stored origins (a handful), so the (tenant, origin, application)
        // index finds the rows.
        let old_origins: Vec<&str> = stored.allowed_origins.split_whitespace().collect();
        if !old_origins.is_empty() {
            application_origin::Entity::delete_many()
                .filter(application_origin::Column::TenantId.eq(tenant_id))
                .filter(application_origin::Column::Origin.is_in(old_origins))
                .filter(application_origin::Column::ApplicationId.eq(id))
                .exec(&transaction.inner)
                .await?;
        }
        insert_origins(&transaction.inner, tenant_id, id, &changed.allowed_origins).await?;
        Ok(())
    }
    .await;
    transaction.finish(result).await?;
    data.announce(changed_application(stored)).await;
    // Its extension fields are in introspection's answer.
    data.revoked(Revoked::Application(id)).await;
    find_by_id(data, id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("application {} vanished", changed.client_id)))
}

/// Whether any application of the tenant lists `origin` (CORS before the client is
/// known): one exact, indexed lookup — no pattern, so `%` or `_` in an `Origin`
/// header match nothing but themselves.
pub async fn any_lists_origin(data: TenantData<'_>, origin: &str) -> Result<bool, Error> {
    // A replica may answer: CORS only lets an origin's scripts read what the request's
    // own credential already authorizes.
    let db = data.replica(EntityGroup::Applications)?;
    let tenant_id = data.tenant_id();
    Ok(application_origin::Entity::find()
        .select_only()
        .column(application_origin::Column::Id)
        .filter(application_origin::Column::TenantId.eq(tenant_id))
        .filter(application_origin::Column::Origin.eq(origin))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// The application with `client_id` in the tenant, from the primary: whether a
/// client is registered, and with which secret, grants and redirect URIs, is a
/// security decision (the client cache in front of it bounds how often it is asked).
pub async fn find_by_client_id(
    data: TenantData<'_>,
    client_id: &str,
) -> Result<Option<application::Model>, Error> {
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .filter(application::Column::ClientId.eq(client_id))
        .one(data.primary(EntityGroup::Applications)?)
        .await?)
}

/// The application with row id `id` in the tenant, from the primary (a token is live
/// only while its client is registered).
pub async fn find_by_id(
    data: TenantData<'_>,
    id: i64,
) -> Result<Option<application::Model>, Error> {
    Ok(application::Entity::find_by_id(id)
        .filter(same_tenant_by_key(
            application::Column::TenantId,
            data.tenant_id(),
        ))
        .one(data.primary(EntityGroup::Applications)?)
        .await?)
}

/// The applications with these row ids in the tenant (one query; callers pass a
/// bounded list, such as the applications one user authorized), from the primary
/// (the page shows what was just revoked or registered).
pub async fn find_by_ids(
    data: TenantData<'_>,
    ids: Vec<i64>,
) -> Result<Vec<application::Model>, Error> {
    let db = data.primary(EntityGroup::Applications)?;
    let tenant_id = data.tenant_id();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(application::Entity::find()
        .filter(application::Column::Id.is_in(ids))
        .filter(same_tenant_by_key(application::Column::TenantId, tenant_id))
        .order_by_asc(application::Column::Name)
        .all(db)
        .await?)
}

/// One page of the tenant's applications by client_id after `after` (keyset), at
/// most `limit`; with `name`, only names containing it. From the primary (an
/// operator edits what they list).
pub async fn list_page(
    data: TenantData<'_>,
    after: Option<&str>,
    limit: u64,
    name: Option<&str>,
) -> Result<Vec<application::Model>, Error> {
    let mut query =
        application::Entity::find().filter(application::Column::TenantId.eq(data.tenant_id()));
    if let Some(after) = after {
        query = query.filter(application::Column::ClientId.gt(after));
    }
    if let Some(name) = name.filter(|name| !name.is_empty()) {
        query = query.filter(application::Column::Name.contains(name));
    }
    Ok(query
        .order_by_asc(application::Column::ClientId)
        .limit(limit)
        .all(data.primary(EntityGroup::Applications)?)
        .await?)
}

/// Every application of the tenant, by name (a listing: a replica may answer).
pub async fn list(data: TenantData<'_>) -> Result<Vec<application::Model>, Error> {
    let db = data.replica(EntityGroup::Applications)?;
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .order_by_asc(application::Column::Name)
        .order_by_asc(application::Column::Id)
        .all(db)
        .await?)
}

/// The applications `owner` registered (the management pages), by name; at most 200,
/// found by the (tenant, owner) index, from the primary (the owner sees what they
/// just registered or deleted).
pub async fn list_owned(
    data: TenantData<'_>,
    owner: i64,
) -> Result<Vec<application::Model>, Error> {
    let db = data.primary(EntityGroup::Applications)?;
    Ok(application::Entity::find()
        .filter(application::Column::TenantId.eq(data.tenant_id()))
        .filter(application::Column::OwnerUserId.eq(owner))
        .order_by_asc(application::Column::Name)
        .limit(200)
        .all(db)
        .await?)
}

/// Deletes the application and its CORS origins in one transaction. Its tokens die
/// with it: a token is live only while its client is registered.
pub async fn delete(data: TenantData<'_>, stored: &application::Model) -> Result<(), Error> {
    let tenant_id = data.tenant_id();
    let transaction = data.transaction(EntityGroup::Applications).await?;
    let result = async {
        let origins: Vec<&str> = stored.allowed_origins.split_whitespace().collect();
        if !origins.is_empty() {
            application_origin::Entity::delete_many()
                .filter(application_origin::Column::TenantId.eq(tenant_id))
                .filter(application_origin::Column::Origin.is_in(origins))
                .filter(application_origin::Column::ApplicationId.eq(stored.id))
                .exec(&transaction.inner)
                .await?;
        }
        application::Entity::delete_many()
            .filter(application::Column::Id.eq(stored.id))
            .filter(same_tenant_by_key(application::Column::TenantId, tenant_id))
            .exec(&transaction.inner)
            .await?;
        Ok(())
    }
    .await;
    transaction.finish(result).await?;
    data.announce(changed_application(stored)).await;
    data.revoked(Revoked::Application(stored.id)).await;
    Ok(())
}

/// Replaces the stored secret: `stored` is its hash, or the secret itself when
/// `hashed` is false (an application that signs HS256 ID tokens with it, which must
/// stay readable, as `--no-hash-client-secret` keeps it).
pub async fn set_secret(
    data: TenantData<'_>,
    application: &application::Model,
    stored: String,
    hashed: bool,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Applications).await?;
    let tenant_id = data.tenant_id();
    application::Entity::update_many()
        .set(application::ActiveModel {
            client_secret: Set(stored),
            hash_client_secret: Set(hashed),
            updated_at: Set(now()),
            ..Default::default()
        })
        .filter(application::Column::Id.eq(application.id))
        .filter(same_tenant_by_key(application::Column::TenantId, tenant_id))
        .exec(writer.connection)
        .await?;
    drop(writer);
    data.announce(changed_application(application)).await;
    Ok(())
}

/// Replaces a secret hash with a stronger one (after a successful check of an
/// imported or slow hash), only if the stored hash is still the one verified in
/// `application` (the registration as read for the check: compare and set, so a
/// rotation meanwhile wins).
pub async fn upgrade_secret_hash(
    data: TenantData<'_>,
    application: &application::Model,
    upgraded: String,
) -> Result<(), Error> {
    let writer = data.writer(EntityGroup::Applications).await?;
    application::Entity::update_many()
        .set(application::ActiveModel {
            client_secret: Set(upgraded),
            updated_at: Set(now()),
            ..Default::default()
        })
        .filter(application::Column::Id.eq(application.id))
        .filter(same_tenant_by_key(
            application::Column::TenantId,
            data.tenant_id(),
        ))
        .filter(application::Column::ClientSecret.eq(&application.client_secret))
        .exec(writer.connection)
        .await?;
    drop(writer);
    data.announce(changed_application(application)).await;
    Ok(())
}

/// The client_ids of the tenant's applications that have no value for one of
/// `required` extension fields, each with the missing names. Reads the applications
/// in id order, 500 at a time (a check, not a request path).
pub async fn missing_fields(
    data: TenantData<'_>,
    required: &[&str],
) -> Result<Vec<(String, Vec<String>)>, Error> {
    let db = data.replica(EntityGroup::Applications)?;
    let tenant_id = data.tenant_id();
    let mut missing = Vec::new();
    let mut after = 0_i64;
    loop {
        let page: Vec<(i64, String, String)> = application::Entity::find()
            .select_only()
            .column(application::Column::Id)
            .column(application::Column::ClientId)
            .column(application::Column::Extensions)
            .filter(application::Column::TenantId.eq(tenant_id))
            .filter(application::Column::Id.gt(after))
            .order_by_asc(application::Column::Id)
            .limit(500)
            .into_tuple()
            .all(db)
            .await?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = *last;
        for (_, client_id, extensions) in page {
            let document = crate::application_fields::document_of(&extensions);
            let absent: Vec<String> = required
                .iter()
                .filter(|name| !document.contains_key(**name))
                .map(|name| (*name).to_owned())
                .collect();
            if !absent.is_empty() {
                missing.push((client_id, absent));
            }
        }
    }
    Ok(missing)
}

/// Removes `owner` from the applications they own (a deleted user): the
/// applications keep working and are managed by operators from then on. Returns how
/// many changed; each is announced.
pub async fn disown(data: TenantData<'_>, owner: i64) -> Result<usize, Error> {
    let writer = data.writer(EntityGroup::Applications).await?;
    let tenant_id = data.tenant_id();
    let mut changed = Vec::new();
    loop {
        // In pages: a user owns a handful, but nothing bounds it.
        let owned = application::Entity::find()
            .filter(application::Column::TenantId.eq(tenant_id))
            .filter(application::Column::OwnerUserId.eq(owner))
            .limit(500)
            .all(writer.connection)
            .await?;
        if owned.is_empty() {
            break;
        }
        application::Entity::update_many()
            .set(application::ActiveModel {
                owner_user_id: Set(None),
                updated_at: Set(now()),
                ..Default::default()
            })
            .filter(application::Column::Id.is_in(owned.iter().map(|app| app.id)))
            .filter(same_tenant_by_key(application::Column::TenantId, tenant_id))
            .exec(writer.connection)
            .await?;
        changed.extend(owned);
    }
    drop(writer);
    for application in &changed {
        data.announce(changed_application(application)).await;
    }
    Ok(changed.len())
}
