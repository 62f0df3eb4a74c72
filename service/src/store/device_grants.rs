//! Device authorization grants (RFC 8628) in the tokens group. Both codes are stored
//! as checksums. A poll locks its row, so the `slow_down` bookkeeping (§3.5) and the
//! single use of an approved device code hold under concurrent polls.

use entity::device_grant;
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect,
};

use router_policies::EntityGroup;

use crate::error::Error;
use crate::group_commit::Work;
use crate::store::access::{TenantData, Writer};
use crate::store::same_tenant_by_key;
use crate::store::tokens::{self, IssuedTokens, NewAccessToken, NewRefreshToken};
use crate::time::{now, plus_seconds};

/// Stored `status` values.
pub mod status {
    /// Waiting for the user.
    pub const PENDING: &str = "pending";
    /// The user approved; the next poll gets tokens.
    pub const APPROVED: &str = "approved";
    /// The user refused.
    pub const DENIED: &str = "denied";
    /// Tokens were issued; the device code is spent.
    pub const CONSUMED: &str = "consumed";
}

/// How much `slow_down` adds to the interval (RFC 8628 §3.5: 5 seconds).
pub const SLOW_DOWN_STEP_SECS: i32 = 5;

/// A device grant to store.
#[derive(Clone, Debug)]
pub struct NewDeviceGrant {
    /// Checksum of the device code.
    pub device_code_checksum: String,
    /// Checksum of the normalised user code.
    pub user_code_checksum: String,
    /// The client.
    pub application_id: i64,
    /// Requested scopes.
    pub scope: String,
    /// Polling interval.
    pub interval_seconds: i32,
    /// The requesting address (IPv4, or IPv6 /64 prefix), counted for its cap.
    pub source_address: String,
    /// Expiry.
    pub expires_at: entity::Timestamp,
}

/// Stores a grant with `writer` (the token pool, its turn held since the caller
/// counted what it may store); a user code already taken in the tenant is
/// [`Error::Conflict`] (the caller draws another).
pub async fn create(writer: &Writer<'_>, new: NewDeviceGrant) -> Result<(), Error> {
    device_grant::Entity::insert(device_grant::ActiveModel {
        tenant_id: Set(writer.tenant_id),
        device_code_checksum: Set(new.device_code_checksum),
        user_code_checksum: Set(new.user_code_checksum),
        application_id: Set(new.application_id),
        user_id: Set(None),
        scope: Set(new.scope),
        status: Set(status::PENDING.to_owned()),
        interval_seconds: Set(new.interval_seconds),
        last_polled_at: Set(None),
        source_address: Set(new.source_address),
        expires_at: Set(new.expires_at),
        created_at: Set(now()),
        ..Default::default()
    })
    .exec_without_returning(writer.connection)
    .await
    .map_err(|error| {
        if crate::store::is_unique_violation(&error) {
            Error::Conflict("user code taken".to_owned())
        } else {
            Error::Database(error)
        }
    })?;
    Ok(())
}

/// How many pending, unexpired grants of the tenant `source_address` holds (when
/// given), or the tenant holds in all, counting at most `limit` — with `writer`, so
/// the insert it admits follows under the same turn.
pub async fn count_pending(
    writer: &Writer<'_>,
    source_address: Option<&str>,
    limit: u64,
) -> Result<u64, Error> {
    let mut condition = Condition::all()
        .add(device_grant::Column::TenantId.eq(writer.tenant_id))
        .add(device_grant::Column::Status.eq(status::PENDING))
        .add(device_grant::Column::ExpiresAt.gt(now()));
    if let Some(source) = source_address {
        condition = condition.add(device_grant::Column::SourceAddress.eq(source));
    }
    crate::store::bounded_count::<device_grant::Entity>(writer.connection, condition, limit).await
}

/// The pending, unexpired grant whose user code has `checksum`.
pub async fn find_pending_by_user_code(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<device_grant::Model>, Error> {
    let db = data.primary(EntityGroup::Tokens)?;
    Ok(device_grant::Entity::find()
        .filter(device_grant::Column::UserCodeChecksum.eq(checksum))
        .filter(same_tenant_by_key(
            device_grant::Column::TenantId,
            data.tenant_id(),
        ))
        .filter(device_grant::Column::Status.eq(status::PENDING))
        .filter(device_grant::Column::ExpiresAt.gt(now()))
        .one(db)
        .await?)
}

/// The grant whose device code has `checksum`.
pub async fn find_by_device_code(
    data: TenantData<'_>,
    checksum: &str,
) -> Result<Option<device_grant::Model>, Error> {
    let db = data.primary(EntityGroup::Tokens)?;
    Ok(device_grant::Entity::find()
        .filter(device_grant::Column::DeviceCodeChecksum.eq(checksum))
        .filter(same_tenant_by_key(
            device_grant::Column::TenantId,
            data.tenant_id(),
        ))
        .one(db)
        .await?)
}

/// Records the user's decision on a pending, unexpired grant; `false` when it was no
/// longer pending (decided meanwhile, or expired).
pub async fn decide(
    data: TenantData<'_>,
    id: i64,
    user_id: i64,
    approve: bool,
) -> Result<bool, Error> {
    let writer = data.writer(EntityGroup::Tokens).await?;
    let updated = device_grant::Entity::update_many()
        .set(device_grant::ActiveModel {
            status: Set(if approve {
                status::APPROVED
            } else {
                status::DENIED
            }
            .to_owned()),
            user_id: Set(Some(user_id)),
            ..Default::default()
        })
        .filter(same_tenant_by_key(
            device_grant::Column::TenantId,
            data.tenant_id(),
        ))
        .filter(device_grant::Column::Id.eq(id))
        .filter(device_grant::Column::Status.eq(status::PENDING))
        .filter(device_grant::Column::ExpiresAt.gt(now()))
        .exec(writer.connection)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// What a poll found (RFC 8628 §3.5).
#[derive(Debug)]
pub enum Poll {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: polled sooner than the interval; the interval grew by 5 s.
    SlowDown,
    /// `access_denied`.
    Denied,
    /// `expired_token`.
    Expired,
    /// The device code was used already (`invalid_grant`).
    Used,
    /// Tokens stored and the device code spent, in one transaction.
    Minted(Box<IssuedTokens>),
}

/// Polls grant `id`. `tokens` are the tokens to store if it is approved (the caller
/// builds them from the row it read; when the approval lands between that read and
/// this lock, the poll answers `Pending` and the next one mints).
pub async fn poll(
    data: TenantData<'_>,
    id: i64,
    tokens: Option<(NewAccessToken, Option<NewRefreshToken>)>,
) -> Result<Poll, Error> {
    let work = DevicePoll {
        tenant_id: data.tenant_id(),
        id,
        tokens,
    };
    data.commit(EntityGroup::Tokens, work).await
}

/// [`poll`]'s writes (through the token pool's group commit).
struct DevicePoll {
    tenant_id: i64,
    id: i64,
    tokens: Option<(NewAccessToken, Option<NewRefreshToken>)>,
}

impl Work for DevicePoll {
    type Output = Poll;

    fn write<'a>(
        &'a self,
        transaction: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<Poll, Error>> {
        Box::pin(poll_in(
            transaction,
            self.tenant_id,
            self.id,
            self.tokens.clone(),
        ))
    }
}

async fn poll_in(
    transaction: &DatabaseTransaction,
    tenant_id: i64,
    id: i64,
    tokens: Option<(NewAccessToken, Option<NewRefreshToken>)>,
) -> Result<Poll, Error> {
    let row = device_grant::Entity::find_by_id(id)
        .filter(same_tenant_by_key(
            device_grant::Column::TenantId,
            tenant_id,
        ))
        .lock_exclusive()
        .one(transaction)
        .await?
        .ok_or_else(|| Error::Corrupt("a device grant vanished".to_owned()))?;
    let now = now();
    if row.status == status::CONSUMED {
        return Ok(Poll::Used);
    }
    if row.expires_at <= now {
        return Ok(Poll::Expired);
    }
    if row.status == status::DENIED {
        return Ok(Poll::Denied);
    }
    let interval = u64::try_from(row.interval_seconds).unwrap_or(5);
    let too_soon = row
        .last_polled_at
        .is_some_and(|last| plus_seconds(last, interval) > now);
    let mut update = device_grant::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(row.id),
        last_polled_at: Set(Some(now)),
        ..Default::default()
    };
    if too_soon {
        update.interval_seconds = Set(row.interval_seconds.saturating_add(SLOW_DOWN_STEP_SECS));
        update.update(transaction).await?;
        return Ok(Poll::SlowDown);
    }
    match (row.status.as_str(), tokens) {
        (status::APPROVED, Some((access, refresh))) => {
            update.status = Set(status::CONSUMED.to_owned());
            update.update(transaction).await?;
            let issued = tokens::insert_pair(transaction, tenant_id, access, refresh).await?;
            Ok(Poll::Minted(Box::new(issued)))
        }
        _ => {
            update.update(transaction).await?;
            Ok(Poll::Pending)
        }
    }
}
