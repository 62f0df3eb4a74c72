//! Tenants: the directory (on the `tenants` group's pool) and the in-memory registry
//! of loaded tenants with their resolved routes (docs/router.md).
//!
//! A tenant's placement is decided once, when it is created, and stored in the
//! directory; afterwards it is only read. Tenants created by another process (the CLI,
//! another node) are found in the directory on first use.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use entity::tenant;
use router_policies::{EntityGroup, Placement, Role, RoutingTable, TenantEntry, TenantSlug};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, SqlErr,
};
use serde::Serialize;

use crate::application_fields::FieldCatalogue;
use crate::db::{Databases, TenantRoutes};
use crate::error::Error;
use crate::settings::{OAuthSettings, SettingsBook};
use crate::shared::changes::Change;
use crate::time::now;

/// A loaded tenant: directory row plus resolved routes.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Directory id, the `tenant_id` of every row the tenant owns.
    pub id: i64,
    /// URL name.
    pub slug: TenantSlug,
    /// Human name.
    pub display_name: String,
    /// Stored placement.
    pub placement: Placement,
    /// Pools for each group and role.
    pub routes: TenantRoutes,
    /// OAuth behaviour (lifetimes, scopes, refresh policy).
    pub settings: Arc<OAuthSettings>,
    /// The extension fields its applications have.
    pub fields: Arc<FieldCatalogue>,
    /// Disabled by an operator: its issuer refuses every request.
    pub disabled: bool,
    /// Settings an operator stored in the directory row (over the configuration's).
    pub stored_settings: serde_json::Map<String, serde_json::Value>,
    /// When the tenant was created.
    pub created_at: entity::Timestamp,
    /// The row's version: changes conditioned on it (`If-Match`) fail once another
    /// change landed.
    pub version: String,
}

/// A tenant as printed by `tessera tenant list --json`.
#[derive(Clone, Debug, Serialize)]
pub struct TenantSummary {
    /// URL name.
    pub slug: String,
    /// Human name.
    pub display_name: String,
    /// Group → pool.
    pub placement: BTreeMap<String, String>,
    /// Whether an operator disabled it.
    pub disabled: bool,
    /// Settings stored over the configuration's (`tenant update --set`).
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl Tenant {
    /// Builds a tenant from its directory row and the validated routing table.
    pub fn from_row(
        row: tenant::Model,
        table: &RoutingTable,
        settings: &SettingsBook,
    ) -> Result<Self, Error> {
        let slug = TenantSlug::new(row.slug.clone())?;
        let placement = parse_placement(&row)?;
        let stored_settings = parse_settings(&row)?;
        let version = version_of(&row);
        let mut routes = BTreeMap::new();
        for group in EntityGroup::ALL {
            let route = table.route(&slug, group).ok_or_else(|| {
                Error::Corrupt(format!("tenant \"{slug}\" has no route for {group}"))
            })?;
            routes.insert((group, Role::Read), route.read.clone());
            routes.insert((group, Role::Write), route.write.clone());
        }
        Ok(Self {
            id: row.id,
            settings: settings
                .with_stored(&slug, &stored_settings)
                .map_err(Error::Corrupt)?,
            fields: settings.fields_for(&slug),
            slug,
            display_name: row.display_name,
            placement,
            routes: TenantRoutes::new(routes),
            disabled: row.disabled_at.is_some(),
            stored_settings,
            created_at: row.created_at,
            version,
        })
    }

    /// The summary shown by the CLI.
    pub fn summary(&self) -> TenantSummary {
        TenantSummary {
            slug: self.slug.to_string(),
            display_name: self.display_name.clone(),
            placement: self
                .placement
                .0
                .iter()
                .map(|(group, pool)| (group.to_string(), pool.to_string()))
                .collect(),
            disabled: self.disabled,
            settings: self.stored_settings.clone(),
        }
    }
}

/// Decodes the settings an operator stored in a directory row (`{}` for none).
fn parse_settings(
    row: &tenant::Model,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    if row.settings.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    serde_json::from_str(&row.settings)
        .map_err(|error| Error::Corrupt(format!("settings of tenant {:?}: {error}", row.slug)))
}

/// A directory row's version: its last change's time (or its creation's), as the
/// admin API's `ETag` shows it.
fn version_of(row: &tenant::Model) -> String {
    crate::time::version_at(row.updated_at.unwrap_or(row.created_at))
}

/// Decodes the stored placement JSON of a directory row.
pub fn parse_placement(row: &tenant::Model) -> Result<Placement, Error> {
    serde_json::from_str(&row.placement)
        .map_err(|error| Error::Corrupt(format!("placement of tenant {:?}: {error}", row.slug)))
}

/// Every directory row, by slug.
pub async fn load_directory(db: &impl ConnectionTrait) -> Result<Vec<tenant::Model>, Error> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await?)
}

/// The first `limit` enabled tenants' directory rows by slug (the landing page): one
/// bounded read, whatever the number of tenants.
pub async fn first_rows(databases: &Databases, limit: u64) -> Result<Vec<tenant::Model>, Error> {
    use sea_orm::QuerySelect;
    Ok(tenant::Entity::find()
        .filter(tenant::Column::DisabledAt.is_null())
        .order_by_asc(tenant::Column::Slug)
        .limit(limit)
        .all(databases.directory()?)
        .await?)
}

/// One page of the directory by slug after `after` (keyset pagination), at most
/// `limit`, with `name` only slugs or display names containing it.
pub async fn directory_page(
    databases: &Databases,
    after: Option<&str>,
    limit: u64,
    name: Option<&str>,
) -> Result<Vec<tenant::Model>, Error> {
    use sea_orm::{Condition, QuerySelect};
    let mut query = tenant::Entity::find();
    if let Some(after) = after {
        query = query.filter(tenant::Column::Slug.gt(after));
    }
    if let Some(name) = name.filter(|name| !name.is_empty()) {
        query = query.filter(
            Condition::any()
                .add(tenant::Column::Slug.contains(name))
                .add(tenant::Column::DisplayName.contains(name)),
        );
    }
    Ok(query
        .order_by_asc(tenant::Column::Slug)
        .limit(limit)
        .all(databases.directory()?)
        .await?)
}

/// The directory row of `slug`, read now.
pub async fn directory_row(
    databases: &Databases,
    slug: &TenantSlug,
) -> Result<Option<tenant::Model>, Error> {
    find_row(databases.directory()?, slug).await
}

/// Builds the tenant of a directory row (validating its placement).
pub fn tenant_of_row(
    databases: &Databases,
    settings: &SettingsBook,
    row: tenant::Model,
) -> Result<Tenant, Error> {
    let slug = TenantSlug::new(row.slug.clone())?;
    let table = validate_one(databases.router(), &slug, &parse_placement(&row)?)?;
    Tenant::from_row(row, &table, settings)
}

/// Stored placements of every directory row (input to routing validation).
pub fn stored_placements(rows: &[tenant::Model]) -> Result<BTreeMap<TenantSlug, Placement>, Error> {
    rows.iter()
        .map(|row| Ok((TenantSlug::new(row.slug.clone())?, parse_placement(row)?)))
        .collect()
}

/// Creates a tenant: places it with the router (the shard policy picks a pool for a
/// new tenant), validates the placement, and stores it in the directory. The placement
/// is never recomputed afterwards.
pub async fn create_tenant(
    databases: &Databases,
    settings: &SettingsBook,
    slug: &TenantSlug,
    display_name: &str,
) -> Result<Tenant, Error> {
    let router = databases.router();
    let directory = databases.directory()?;
    let placement = router.place_new_tenant(slug);
    let table = validate_one(router, slug, &placement)?;
    let placement_json = serde_json::to_string(&placement)
        .map_err(|error| Error::Corrupt(format!("placement: {error}")))?;
    let row = tenant::ActiveModel {
        slug: Set(slug.to_string()),
        display_name: Set(display_name.to_owned()),
        placement: Set(placement_json),
        settings: Set("{}".to_owned()),
        created_at: Set(now()),
        disabled_at: Set(None),
        updated_at: Set(None),
        ..Default::default()
    }
    .insert(directory)
    .await
    .map_err(|error| match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict(format!(
                "tenant \"{slug}\" already exists: pick another slug (`tessera tenant list` shows the taken ones)"
            ))
        }
        _ => Error::Database(error),
    })?;
    tracing::info!(tenant = %slug, placement = %row.placement, "tenant created");
    databases
        .changes()
        .announce(Change::Tenant {
            slug: slug.to_string(),
        })
        .await;
    Tenant::from_row(row, &table, settings)
}

/// What an operator changes of a tenant; `None` keeps a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TenantChanges {
    /// A new name shown to users.
    pub display_name: Option<String>,
    /// Settings to store over the configuration's: a value sets the key, `null`
    /// removes the stored value (the configuration's counts again).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Disable (`true`) or enable (`false`) the tenant.
    pub disabled: Option<bool>,
}

/// Changes a tenant's directory row: name, stored settings (checked as the
/// configuration's are, before anything is written), disabled or not. With
/// `expected_version`, only if the row is still at that version (else
/// [`Error::StaleVersion`]); without, the change applies over whatever is there. The
/// change is announced to every node (their tenant caches read the row again).
pub async fn update_tenant(
    databases: &Databases,
    settings: &SettingsBook,
    slug: &TenantSlug,
    changes: &TenantChanges,
    expected_version: Option<&str>,
) -> Result<Tenant, Error> {
    let directory = databases.directory()?;
    let row = find_row(directory, slug)
        .await?
        .ok_or_else(|| Error::UnknownTenant(slug.to_string()))?;
    if let Some(expected) = expected_version
        && expected != version_of(&row)
    {
        return Err(Error::StaleVersion(format!(
            "tenant \"{slug}\" changed since version {expected}: read it again and retry"
        )));
    }
    let mut stored = parse_settings(&row)?;
    for (key, value) in &changes.settings {
        if value.is_null() {
            stored.remove(key);
        } else {
            stored.insert(key.clone(), value.clone());
        }
    }
    // The merged settings must hold before they are written.
    settings
        .with_stored(slug, &stored)
        .map_err(Error::InvalidInput)?;
    let display_name = match &changes.display_name {
        Some(name) => {
            crate::registration::check_display_name(name)?;
            name.clone()
        }
        None => row.display_name.clone(),
    };
    let disabled_at = match changes.disabled {
        Some(true) => row.disabled_at.or(Some(now())),
        Some(false) => None,
        None => row.disabled_at,
    };
    // Never equal to the version read: a clock that stands still still moves it.
    let previous = row.updated_at.unwrap_or(row.created_at);
    let updated_at = now().max(previous + time::Duration::microseconds(1));
    let settings_json = serde_json::Value::Object(stored).to_string();
    let mut update = tenant::Entity::update_many()
        .set(tenant::ActiveModel {
            display_name: Set(display_name),
            settings: Set(settings_json),
            disabled_at: Set(disabled_at),
            updated_at: Set(Some(updated_at)),
            ..Default::default()
        })
        .filter(tenant::Column::Id.eq(row.id));
    // Compare and set on the version read: two operators racing, one wins.
    update = match row.updated_at {
        Some(at) => update.filter(tenant::Column::UpdatedAt.eq(at)),
        None => update.filter(tenant::Column::UpdatedAt.is_null()),
    };
    let result = update.exec(directory).await?;
    if result.rows_affected != 1 {
        return Err(Error::StaleVersion(format!(
            "tenant \"{slug}\" changed while this change was made: read it again and retry"
        )));
    }
    databases
        .changes()
        .announce(Change::Tenant {
            slug: slug.to_string(),
        })
        .await;
    let row = find_row(directory, slug)
        .await?
        .ok_or_else(|| Error::UnknownTenant(slug.to_string()))?;
    let table = validate_one(databases.router(), slug, &parse_placement(&row)?)?;
    Tenant::from_row(row, &table, settings)
}

/// Deletes a disabled tenant's signing keys and directory row, in one transaction
/// (its rows in the other pools are erased first, [`crate::store::erasure`]), and
/// tells every node. Only if it is still disabled: a tenant enabled meanwhile
/// stays ([`Error::Conflict`]).
pub async fn delete_tenant(databases: &Databases, slug: &TenantSlug) -> Result<(), Error> {
    let directory = databases.directory()?;
    let row = find_row(directory, slug)
        .await?
        .ok_or_else(|| Error::UnknownTenant(slug.to_string()))?;
    let transaction = sea_orm::TransactionTrait::begin(directory).await?;
    entity::signing_key::Entity::delete_many()
        .filter(entity::signing_key::Column::TenantId.eq(row.id))
        .exec(&transaction)
        .await?;
    let deleted = tenant::Entity::delete_many()
        .filter(tenant::Column::Id.eq(row.id))
        .filter(tenant::Column::DisabledAt.is_not_null())
        .exec(&transaction)
        .await?;
    if deleted.rows_affected != 1 {
        transaction.rollback().await?;
        return Err(Error::Conflict(format!(
            "tenant \"{slug}\" was enabled meanwhile: it stays"
        )));
    }
    transaction.commit().await?;
    databases
        .changes()
        .announce(Change::Tenant {
            slug: slug.to_string(),
        })
        .await;
    Ok(())
}

/// Validates one tenant's placement on its own (a tenant created or found after
/// startup).
fn validate_one(
    router: &router_policies::Router,
    slug: &TenantSlug,
    placement: &Placement,
) -> Result<RoutingTable, Error> {
    router
        .validate(&[TenantEntry {
            slug: slug.clone(),
            stored: Some(placement.clone()),
        }])
        .map_err(Error::Routing)
}

async fn find_row(
    db: &impl ConnectionTrait,
    slug: &TenantSlug,
) -> Result<Option<tenant::Model>, Error> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(db)
        .await?)
}

/// Loaded tenants by slug. Reads take a shared lock for one hash lookup; the map
/// changes only when a tenant is loaded, created or announced as changed.
#[derive(Debug, Default)]
pub struct Tenants {
    by_slug: RwLock<HashMap<TenantSlug, Loaded>>,
    settings: SettingsBook,
    /// How long a loaded row is used before it is read again (a change made outside
    /// Tessera, which no notice announces, is seen within it); `None`: until a notice.
    refresh_after: Option<Duration>,
}

/// A loaded tenant, and whether a request may use it without reading it again (its
/// row has not been announced as changed since).
#[derive(Debug)]
struct Loaded {
    tenant: Arc<Tenant>,
    fresh: bool,
    loaded_at: Instant,
}

impl Tenants {
    /// An empty registry whose tenants take their settings from `settings`.
    pub fn new(settings: SettingsBook) -> Self {
        Self {
            by_slug: RwLock::default(),
            settings,
            refresh_after: None,
        }
    }

    /// Reads each tenant's row again after `ttl` (`key_cache_ttl_secs`).
    pub fn refreshed_after(mut self, ttl: Duration) -> Self {
        self.refresh_after = Some(ttl);
        self
    }

    /// Settings of every tenant, known or future.
    pub fn settings(&self) -> &SettingsBook {
        &self.settings
    }

    /// Registers a loaded tenant.
    pub fn insert(&self, tenant: Tenant) -> Arc<Tenant> {
        let tenant = Arc::new(tenant);
        if let Ok(mut map) = self.by_slug.write() {
            map.insert(
                tenant.slug.clone(),
                Loaded {
                    tenant: Arc::clone(&tenant),
                    fresh: true,
                    loaded_at: Instant::now(),
                },
            );
        }
        tenant
    }

    /// A loaded tenant (no directory lookup).
    pub fn get(&self, slug: &str) -> Option<Arc<Tenant>> {
        self.by_slug
            .read()
            .ok()
            .and_then(|map| map.get(slug).map(|loaded| Arc::clone(&loaded.tenant)))
    }

    /// Every loaded tenant, by slug (for the background sweep: a placement never
    /// changes, so one loaded before a change notice still finds its rows).
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let mut tenants: Vec<Arc<Tenant>> = self
            .by_slug
            .read()
            .map(|map| {
                map.values()
                    .map(|loaded| Arc::clone(&loaded.tenant))
                    .collect()
            })
            .unwrap_or_default();
        tenants.sort_by(|a, b| a.slug.cmp(&b.slug));
        tenants
    }

    /// Marks a tenant as changed (its row was): the next request reads it again.
    pub fn forget(&self, slug: &str) {
        if let Ok(mut map) = self.by_slug.write()
            && let Some(loaded) = map.get_mut(slug)
        {
            loaded.fresh = false;
        }
    }

    /// Marks every tenant as changed.
    pub fn forget_all(&self) {
        if let Ok(mut map) = self.by_slug.write() {
            for loaded in map.values_mut() {
                loaded.fresh = false;
            }
        }
    }

    /// The tenant named `slug`: from memory while this node hears every change
    /// notice, else from the directory (created by the CLI or another node since
    /// startup, or changed while this node was not listening), validated before it
    /// is used.
    pub async fn resolve(
        &self,
        databases: &Databases,
        slug: &str,
    ) -> Result<Option<Arc<Tenant>>, Error> {
        let Ok(slug) = TenantSlug::new(slug.to_owned()) else {
            return Ok(None);
        };
        let trust = databases.changes().trust();
        if trust.is_trusted()
            && let Some(tenant) = self.by_slug.read().ok().and_then(|map| {
                map.get(&slug)
                    .filter(|loaded| {
                        loaded.fresh
                            && self
                                .refresh_after
                                .is_none_or(|ttl| loaded.loaded_at.elapsed() < ttl)
                    })
                    .map(|loaded| Arc::clone(&loaded.tenant))
            })
        {
            return Ok(Some(tenant));
        }
        let began = trust.epoch();
        let Some(row) = find_row(databases.directory()?, &slug).await? else {
            return Ok(None);
        };
        let table = validate_one(databases.router(), &slug, &parse_placement(&row)?)?;
        let tenant = Tenant::from_row(row, &table, &self.settings)?;
        Ok(Some(if trust.admits(began) {
            self.insert(tenant)
        } else {
            Arc::new(tenant)
        }))
    }
}
