//! Caps on the rows that requests without any credential make Tessera store: pending
//! interactions (every authorization request that needs a login or consent, every
//! plain sign-in that an external login application decides) and pending device
//! grants (a public client's `device_authorization`). Without them one address could
//! fill the token pool's tables at the speed of its requests.
//!
//! Before a row is stored the source address's own live rows are counted (exactly,
//! on the token pool's primary, reading at most the cap's worth of index entries),
//! then the tenant's (a count at most once a second per node, plus what the node
//! stored since). Over either cap the request gets 429 with `Retry-After`: a page
//! saying to try again later, or `slow_down` at the device endpoint (RFC 8628 §3.5).
//! An IPv6 address counts by its /64 prefix (one customer's allocation), an
//! IPv4-mapped IPv6 address as the IPv4 address it carries. The sweep
//! ([`crate::store::expired::sweep`]) removes expired rows in the background.

use std::net::IpAddr;

use crate::limits::pending::PendingKind;
use crate::oauth::error::OAuthError;
use crate::state::AppState;
use crate::store::access::Writer;
use crate::store::{device_grants, interactions, tokens};
use crate::tenancy::Tenant;

/// How long a refused request is told to wait.
pub const RETRY_AFTER_SECS: u64 = 60;

/// The key an address counts under: the IPv4 address, or the IPv6 /64 prefix.
pub fn source_key(address: IpAddr) -> String {
    match crate::network::canonical(address) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// Permission to store one pending row; holds the address's lock until dropped, so
/// store the row before dropping it, then call [`Admitted::stored`].
#[must_use = "store the row while the admission is held"]
pub struct Admitted<'a> {
    state: &'a AppState,
    tenant_id: i64,
    kind: PendingKind,
    _lock: tokio::sync::MutexGuard<'a, ()>,
}

impl Admitted<'_> {
    /// Counts the row just stored in the node's estimate of the tenant's total.
    pub fn stored(self) {
        self.state.pending.add_one(self.tenant_id, self.kind);
    }
}

/// Room for one pending row of a tenant, reserved by [`reserve`]: the tenant's token
/// pool (the SQLite writer's turn held) and the admission. Store the row on
/// `connection`, then call [`Slot::stored`].
#[must_use = "store the row while the slot is held"]
pub struct Slot<'a> {
    /// The tenant's token pool with the writer's turn: where the row goes.
    pub writer: Writer<'a>,
    /// The key the row's `source_address` records.
    pub source: String,
    admitted: Admitted<'a>,
}

impl Slot<'_> {
    /// The row is stored: counted in the node's estimate of the tenant's total.
    pub fn stored(self) {
        self.admitted.stored();
    }
}

/// Reserves room for one pending row of `kind` from `address` in `tenant`: refused at
/// once when the address was refused within the last second, else counted under the
/// writer's turn ([`admit`]).
pub async fn reserve<'a>(
    state: &'a AppState,
    tenant: &'a Tenant,
    kind: PendingKind,
    address: IpAddr,
) -> Result<Slot<'a>, OAuthError> {
    let source = source_key(address);
    refuse_early(state, tenant, kind, &source)?;
    let writer = tokens::writer(state.data(tenant)).await?;
    let admitted = admit(state, tenant, &writer, kind, &source).await?;
    Ok(Slot {
        writer,
        source,
        admitted,
    })
}

/// Refuses at once, without reading anything, a `source` found over a cap within
/// the last second ([`crate::limits::pending::REFUSAL_MEMO_TTL`]). Call it before
/// taking a writer's turn: a flood's refusals then cost no database work.
pub fn refuse_early(
    state: &AppState,
    tenant: &Tenant,
    kind: PendingKind,
    source: &str,
) -> Result<(), OAuthError> {
    if state.pending.recently_refused(tenant.id, kind, source) {
        return Err(OAuthError::TooManyPending {
            retry_after_secs: RETRY_AFTER_SECS,
        });
    }
    Ok(())
}

/// Admits one more pending row of `kind` from `source` (a [`source_key`]) in
/// `tenant`, counting with `writer` (the tenant's token pool, where the row goes), or
/// refuses with [`OAuthError::TooManyPending`] (and remembers the refusal for
/// [`refuse_early`]).
pub async fn admit<'a>(
    state: &'a AppState,
    tenant: &Tenant,
    writer: &Writer<'_>,
    kind: PendingKind,
    source: &str,
) -> Result<Admitted<'a>, OAuthError> {
    let settings = &tenant.settings;
    let (per_address, per_tenant) = match kind {
        PendingKind::Interaction => (
            settings.max_pending_interactions_per_address,
            settings.max_pending_interactions,
        ),
        PendingKind::DeviceGrant => (
            settings.max_pending_device_grants_per_address,
            settings.max_pending_device_grants,
        ),
    };
    let lock = state.pending.lock(tenant.id, kind, source).await;
    let refused = |scope: &'static str| {
        state.pending.remember_refusal(tenant.id, kind, source);
        tracing::warn!(
            tenant = %tenant.slug,
            kind = kind.as_str(),
            scope,
            "pending rows over their cap: request refused"
        );
        OAuthError::TooManyPending {
            retry_after_secs: RETRY_AFTER_SECS,
        }
    };
    if count(writer, kind, Some(source), per_address).await? >= per_address {
        return Err(refused("address"));
    }
    let total = match state.pending.recent_total(tenant.id, kind) {
        Some(total) => total,
        None => {
            let total = count(writer, kind, None, per_tenant).await?;
            state.pending.set_total(tenant.id, kind, total);
            total
        }
    };
    if total >= per_tenant {
        return Err(refused("tenant"));
    }
    Ok(Admitted {
        state,
        tenant_id: tenant.id,
        kind,
        _lock: lock,
    })
}

/// The live rows of `kind` from `source` (or all the tenant's), at most `limit`.
async fn count(
    writer: &Writer<'_>,
    kind: PendingKind,
    source: Option<&str>,
    limit: u64,
) -> Result<u64, crate::error::Error> {
    match kind {
        PendingKind::Interaction => interactions::count_live(writer, source, limit).await,
        PendingKind::DeviceGrant => device_grants::count_pending(writer, source, limit).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_by_ipv4_or_ipv6_prefix() {
        let key = |text: &str| source_key(text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
