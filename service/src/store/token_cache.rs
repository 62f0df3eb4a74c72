//! A node's cache of what introspection and UserInfo read about an access token —
//! the row, its client's registration, its user — keyed by (tenant, token
//! checksum), so a resource server introspecting the same token on every call costs
//! no database read (DESIGN §6; docs/decisions.md, "The token cache").
//!
//! An entry is used only while the revocation stamps of its holder (tenant, client,
//! user) read from Redis after the request arrived are those it was stored under
//! (`shared::revocations`): every change that ends a token or alters its answer
//! replaces a stamp after it commits and before it answers, on whichever node or
//! command made it. So a revocation that returned 200 is seen by the next request
//! on every node (DESIGN §5). Without Redis, or while it does not answer, every
//! request reads the database; and once any Redis call of this node has failed,
//! entries read before are not used again (the failure may have been this node's
//! own stamp write, or a restart or failover that rolled a stamp back).
//!
//! A miss reads the database, then the stamps, then the database again, and stores
//! the second read under those stamps: a revocation that committed before the stamps
//! were read is in the second read, and one that committed after replaced a stamp
//! after they were read, so the entry is never used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::{access_token, user};

use crate::cache::{Cache, CacheCounts};
use crate::error::Error;
use crate::shared::revocations::{Holder, Stamps};
use crate::store::access::TenantData;

/// The most entries a node keeps (about a kilobyte each).
const MAX_ENTRIES: usize = 10_000;

/// What introspection reads about an access token.
#[derive(Clone, Debug)]
pub struct AccessRead {
    /// The token's row.
    pub token: access_token::Model,
    /// Its client's client_id and stored extension fields (`None`: deleted).
    pub client: Option<(String, String)>,
    /// Its user (`None`: no user, or the user is gone).
    pub user: Option<user::Model>,
}

impl AccessRead {
    fn holder(&self) -> Holder {
        Holder {
            tenant_id: self.token.tenant_id,
            application_id: self.token.application_id,
            user_id: self.token.user_id,
        }
    }
}

/// An entry: a read and the stamps it was stored under.
#[derive(Debug)]
struct Entry {
    stamps: Stamps,
    /// When its stamps were about to be read
    /// ([`crate::shared::revocations::Revocations::trusts_reads_since`]).
    read_at: Instant,
    read: Arc<AccessRead>,
}

/// The access-token cache (one per node).
#[derive(Debug)]
pub struct TokenCache {
    entries: Cache<(i64, String), Entry>,
}

impl TokenCache {
    /// A cache whose entries live at most `ttl` (zero: off).
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Cache::new(ttl, MAX_ENTRIES),
        }
    }

    /// Answers from an entry, and reads of the database.
    pub fn counts(&self) -> CacheCounts {
        self.entries.counts()
    }

    /// What `load` reads about the tenant's access token with `checksum` (`None`:
    /// no such token), from an entry whose stamps are current, else from `load`.
    /// `load(true)` must read everything it returns from the primary: its answer is
    /// stored, and other callers get it (`load(false)` may use what the caller
    /// already holds).
    pub async fn access_token<Load, Fut>(
        &self,
        data: TenantData<'_>,
        checksum: &str,
        load: Load,
    ) -> Result<Option<Arc<AccessRead>>, Error>
    where
        Load: Fn(bool) -> Fut,
        Fut: Future<Output = Result<Option<AccessRead>, Error>>,
    {
        let revocations = data.revocations();
        if self.entries.is_off() || !revocations.is_shared() {
            return Ok(load(false).await?.map(Arc::new));
        }
        let key = (data.tenant_id(), checksum.to_owned());
        if let Some(entry) = self.entries.fresh(&key) {
            if revocations.current(entry.read.holder()).await == Some(entry.stamps)
                && revocations.trusts_reads_since(entry.read_at)
            {
                self.entries.count(true);
                return Ok(Some(Arc::clone(&entry.read)));
            }
            self.entries.forget(&key);
        }
        self.entries.count(false);
        let Some(first) = load(false).await? else {
            return Ok(None);
        };
        let holder = first.holder();
        let read_at = Instant::now();
        let Some(stamps) = revocations.current(holder).await else {
            return Ok(Some(Arc::new(first)));
        };
        let Some(second) = load(true).await? else {
            return Ok(None);
        };
        let read = Arc::new(second);
        if read.holder() == holder {
            self.entries.store(
                key,
                Arc::new(Entry {
                    stamps,
                    read_at,
                    read: Arc::clone(&read),
                }),
            );
        }
        Ok(Some(read))
    }
}
