//! The one place a connection for (tenant, group, role) is chosen (docs/layers.md).
//! Every store function takes a [`TenantData`] — the pools and the tenant whose rows
//! it reads or writes — and asks it for the connection it needs, saying which:
//!
//! * [`TenantData::replica`]: a read nothing rests on (listings, names on a page);
//!   a replica may serve it where the router routes the group's reads to one;
//! * [`TenantData::primary`]: a read a security decision rests on (a password, "is
//!   this user active", "is this token live", "is this client registered"), or one
//!   that must see a write just made; never a replica (docs/security.md);
//! * [`TenantData::writer`]: a write, after the SQLite writer's turn (the only place
//!   the turn is taken): SQLite has one writer at a time, and waiting in this
//!   process's queue instead of in SQLite's busy handler keeps writes in order.
//!
//! This is the seam the next steps plug into: a cache of a group's reads (Redis, a
//! node's memory) goes in front of `replica`/`primary` for the functions that may use
//! it, and a tenant's cut-over to another shard pauses its writers here.

use std::sync::Arc;

use router_policies::{EntityGroup, Role};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::db::Databases;
use crate::error::Error;
pub(crate) use crate::group_commit::with_retry;
use crate::group_commit::{GroupCommit, Work, begin_write};
use crate::shared::changes::{Change, Trust};
use crate::shared::revocations::{Revocations, Revoked};
use crate::tenancy::Tenant;

/// A tenant's data on the pools the router placed it on.
#[derive(Clone, Copy, Debug)]
pub struct TenantData<'a> {
    databases: &'a Databases,
    tenant: &'a Tenant,
}

impl<'a> TenantData<'a> {
    /// The data of `tenant` on `databases`.
    pub fn new(databases: &'a Databases, tenant: &'a Tenant) -> Self {
        Self { databases, tenant }
    }

    /// The tenant.
    pub fn tenant(&self) -> &'a Tenant {
        self.tenant
    }

    /// Its directory id, the `tenant_id` of its rows.
    pub fn tenant_id(&self) -> i64 {
        self.tenant.id
    }

    /// The connection for a read nothing rests on: a replica where the router routes
    /// `group`'s reads to one.
    pub(in crate::store) fn replica(
        &self,
        group: EntityGroup,
    ) -> Result<&'a DatabaseConnection, Error> {
        self.connection(group, Role::Read)
    }

    /// The primary of `group`, for a read a security decision rests on or one that
    /// must see a write just made.
    pub(in crate::store) fn primary(
        &self,
        group: EntityGroup,
    ) -> Result<&'a DatabaseConnection, Error> {
        self.connection(group, Role::Write)
    }

    /// The primary both groups share, when the router placed `first` and `second` of
    /// this tenant on one pool: one statement may then join their tables.
    pub(in crate::store) fn shared_primary(
        &self,
        first: EntityGroup,
        second: EntityGroup,
    ) -> Result<Option<&'a DatabaseConnection>, Error> {
        let routes = &self.tenant.routes;
        if routes.pool(first, Role::Write)? != routes.pool(second, Role::Write)? {
            return Ok(None);
        }
        self.primary(first).map(Some)
    }

    /// The primary of `group` for writing, with the SQLite writer's turn held until
    /// the returned writer is dropped.
    pub(in crate::store) async fn writer(&self, group: EntityGroup) -> Result<Writer<'a>, Error> {
        let name = self.tenant.routes.pool(group, Role::Write)?;
        let connection = self.databases.pool(name)?;
        let turn = match self.databases.writer_queue(name) {
            Some(queue) => Some(Arc::clone(&queue).lock_owned().await),
            None => None,
        };
        Ok(Writer {
            connection,
            tenant_id: self.tenant.id,
            _turn: turn,
        })
    }

    /// A write transaction on `group`'s primary, holding the writer's turn until it
    /// ends. On SQLite it runs `BEGIN IMMEDIATE`: the write lock is taken at once, so
    /// a read-then-write flow never fails to upgrade (`SQLITE_BUSY`).
    pub(in crate::store) async fn transaction(
        &self,
        group: EntityGroup,
    ) -> Result<WriteTransaction, Error> {
        let writer = self.writer(group).await?;
        let inner = begin_write(writer.connection).await?;
        Ok(WriteTransaction {
            inner,
            _turn: writer._turn,
        })
    }

    /// The group commit of `group`'s primary (`None` where it is turned off): token
    /// writes of concurrent requests share its transactions.
    pub(in crate::store) fn group_commit(
        &self,
        group: EntityGroup,
    ) -> Result<Option<&'a GroupCommit>, Error> {
        let name = self.tenant.routes.pool(group, Role::Write)?;
        Ok(self.databases.group_commit(name))
    }

    /// Runs `work` in a transaction on `group`'s primary and returns its output once
    /// committed: through the pool's group commit, sharing a transaction with
    /// concurrent requests' writes, or where that is off in a transaction of its own,
    /// retried on a deadlock or serialization failure.
    pub(in crate::store) async fn commit<W: Work>(
        &self,
        group: EntityGroup,
        work: W,
    ) -> Result<W::Output, Error> {
        if let Some(group_commit) = self.group_commit(group)? {
            return group_commit.run(work).await;
        }
        with_retry!({
            let transaction = self.transaction(group).await?;
            let result = work.write(&transaction.inner).await;
            transaction.finish(result).await
        })
    }

    /// [`Self::commit`], then the revocation stamp of what the committed output
    /// revoked (`revoked`'s answer). Through the group commit both run in one task
    /// of their own: the dispatcher commits whether or not the request still waits,
    /// so a client hanging up after the commit must not skip the stamp. (With the
    /// group commit off, the request's own transaction and stamp run in turn.)
    pub(in crate::store) async fn commit_revoking<W: Work>(
        &self,
        group: EntityGroup,
        work: W,
        revoked: impl FnOnce(&W::Output) -> Option<Revoked> + Send + 'static,
    ) -> Result<W::Output, Error> {
        let Some(group_commit) = self.group_commit(group)? else {
            let output = self.commit(group, work).await?;
            if let Some(what) = revoked(&output) {
                self.revoked(what).await;
            }
            return Ok(output);
        };
        let (group_commit, revocations, tenant_id) = (
            group_commit.clone(),
            Arc::clone(self.databases.revocations()),
            self.tenant.id,
        );
        tokio::spawn(async move {
            let output = group_commit.run(work).await?;
            if let Some(what) = revoked(&output) {
                revocations.announce(tenant_id, what).await;
            }
            Ok(output)
        })
        .await
        .map_err(|error| Error::write_task_ended("a token write", &error))?
    }

    /// Whether this node's caches may answer, and their epoch (`shared::changes`).
    pub(in crate::store) fn trust(&self) -> &'a Trust {
        self.databases.changes().trust()
    }

    /// Tells every node (and this one's caches) that `change` committed.
    pub(in crate::store) async fn announce(&self, change: Change) {
        self.databases.changes().announce(change).await;
    }

    /// Replaces the revocation stamp of what a committed change `revoked` (after the
    /// commit, before the answer: `shared::revocations`). A task of its own: a client
    /// that hangs up now does not stop it.
    pub(in crate::store) async fn revoked(&self, revoked: Revoked) {
        let (revocations, tenant_id) = (Arc::clone(self.databases.revocations()), self.tenant.id);
        let stamped =
            tokio::spawn(async move { revocations.announce(tenant_id, revoked).await }).await;
        if let Err(error) = stamped {
            tracing::error!(%error, "replacing a revocation stamp failed");
        }
    }

    /// The revocation stamps token caches compare.
    pub(in crate::store) fn revocations(&self) -> &'a Revocations {
        self.databases.revocations()
    }

    fn connection(&self, group: EntityGroup, role: Role) -> Result<&'a DatabaseConnection, Error> {
        self.databases.pool(self.tenant.routes.pool(group, role)?)
    }
}

/// A group's primary with the writer's turn held: several statements a caller must
/// keep together (a count and the insert it admits) run on it.
pub struct Writer<'a> {
    pub(in crate::store) connection: &'a DatabaseConnection,
    pub(in crate::store) tenant_id: i64,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// A write transaction holding its writer's turn until commit or rollback.
pub struct WriteTransaction {
    /// The transaction.
    pub(in crate::store) inner: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    /// Commits on `Ok`, rolls back on `Err` (explicitly, so the connection returns to
    /// the pool at once).
    pub(in crate::store) async fn finish<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        match result {
            Ok(value) => {
                self.inner.commit().await?;
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = self.inner.rollback().await {
                    tracing::warn!(error = %rollback, "rollback failed");
                }
                Err(error)
            }
        }
    }
}
