//! Sticky placement: where a tenant's groups live, and the frozen hash that picks a shard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{EntityGroup, PoolName, TenantSlug};

/// Where a tenant's groups live, decided once at creation and stored in the tenant
/// directory (serialised as a JSON object `{"users": "main", "tokens": "shard-1", ...}`).
///
/// Placement is sticky: once stored, routing follows it even when the shard list grows,
/// so live data never moves silently. Validation reports any route that now disagrees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Placement(pub BTreeMap<EntityGroup, PoolName>);

impl Placement {
    /// The stored pool of `g`, if the placement records one.
    pub fn get(&self, g: EntityGroup) -> Option<&PoolName> {
        self.0.get(&g)
    }

    /// Every recorded (group, pool) pair, in group order.
    pub fn iter(&self) -> impl Iterator<Item = (EntityGroup, &PoolName)> {
        self.0.iter().map(|(g, p)| (*g, p))
    }
}

impl FromIterator<(EntityGroup, PoolName)> for Placement {
    fn from_iter<I: IntoIterator<Item = (EntityGroup, PoolName)>>(iter: I) -> Self {
        Placement(iter.into_iter().collect())
    }
}

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, over the UTF-8 bytes of `key`.
///
/// **Frozen forever.** This decides which shard (and which replica) a *new* tenant gets.
/// It is written by hand rather than taken from `std` or a crate, whose hashers may change
/// between releases: a different hash would place the same slug on a different pool in
/// the next release. Never change it; tests pin its output.
pub fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// Picks `pools[stable_hash(tenant) % pools.len()]`; `None` when `pools` is empty.
///
/// Only ever used for tenants without a stored placement: a tenant keeps its pool when
/// `pools` grows.
pub fn pick_pool<'p>(tenant: &TenantSlug, pools: &'p [PoolName]) -> Option<&'p PoolName> {
    if pools.is_empty() {
        return None;
    }
    // The remainder is < pools.len(), so it fits in usize.
    let i = stable_hash(tenant.as_str()) % pools.len() as u64;
    pools.get(usize::try_from(i).ok()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_reference_vectors() {
        // Published FNV-1a 64 test vectors: these must hold forever.
        assert_eq!(stable_hash(""), 0xcbf29ce484222325);
        assert_eq!(stable_hash("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(stable_hash("foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn pick_pool_is_frozen() {
        let pools: Vec<PoolName> = ["shard-1", "shard-2", "shard-3"]
            .into_iter()
            .map(|p| PoolName::new(p).unwrap())
            .collect();
        let pick = |slug: &str| {
            pick_pool(&TenantSlug::new(slug).unwrap(), &pools)
                .unwrap()
                .as_str()
                .to_owned()
        };
        // Golden values: if these change, new tenants land elsewhere than in the last
        // release. Do not "fix" the expectations.
        assert_eq!(pick("acme"), GOLDEN_ACME);
        assert_eq!(pick("globex"), GOLDEN_GLOBEX);
        assert_eq!(pick("initech"), GOLDEN_INITECH);
        assert_eq!(pick("tenant-42"), GOLDEN_TENANT_42);
        assert_eq!(stable_hash("tenant-42"), 0x2944b77b49f24de2);
        assert_eq!(pick_pool(&TenantSlug::new("acme").unwrap(), &[]), None);
    }

    const GOLDEN_ACME: &str = "shard-3";
    const GOLDEN_GLOBEX: &str = "shard-3";
    const GOLDEN_INITECH: &str = "shard-1";
    const GOLDEN_TENANT_42: &str = "shard-2";

    #[test]
    fn placement_serialises_as_a_plain_map() {
        let p: Placement = [
            (EntityGroup::Tokens, PoolName::new("shard-1").unwrap()),
            (EntityGroup::Users, PoolName::new("main").unwrap()),
        ]
        .into_iter()
        .collect();
        let text = toml::to_string(&p).unwrap();
        assert_eq!(text, "users = \"main\"\ntokens = \"shard-1\"\n");
        let back: Placement = toml::from_str(&text).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.get(EntityGroup::Tokens).unwrap().as_str(), "shard-1");
        assert_eq!(back.get(EntityGroup::Applications), None);
    }
}
