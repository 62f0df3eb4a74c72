//! Group commit (docs/decisions.md, "Group commit"): concurrent token writes on one
//! pool share a transaction, each request is answered only once its rows committed,
//! and a failing row fails only its own request.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use tessera::group_commit::{GroupCommitCounts, Work};
use tessera::secrets::{self, checksum, prefix};
use tessera::state::AppState;
use tessera::store::tokens::{self, NewAccessToken, NewRefreshToken, Rotation};
use tessera::tenancy::Tenant;
use tessera_tests::{
    Backend, TestApp, TestDatabase, on_every_backend, poll_until, single_pool_toml, spawn_app_with,
};
use tokio::sync::Notify;

use crate::token_store::{new_access_token, new_refresh_token};

on_every_backend!(
    a_batch_with_a_bad_row_fails_only_that_request,
    concurrent_writers_lose_and_duplicate_no_token
);

fn access(checksum: String) -> NewAccessToken {
    new_access_token(checksum, 1, Some(7), "read")
}

fn refresh(checksum: String) -> NewRefreshToken {
    new_refresh_token(checksum, "read")
}

fn fresh_checksum() -> String {
    checksum(&secrets::generate(prefix::ACCESS_TOKEN).unwrap())
}

/// The app on `db` with `in_flight` group-commit transactions, its tenant, and the
/// checksum of one access token stored already (taken: storing it again must fail).
async fn app_with_group_commit(
    db: &TestDatabase,
    in_flight: u32,
) -> (TestApp, Arc<Tenant>, String) {
    let toml = format!(
        "{}group_commit_in_flight = {in_flight}\n",
        single_pool_toml(&db.url)
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let tenant = app
        .state
        .tenants
        .resolve(&app.state.databases, "default")
        .await
        .unwrap()
        .unwrap();
    let taken = fresh_checksum();
    tokens::issue_access_only(app.state.data(&tenant), access(taken.clone()))
        .await
        .unwrap();
    (app, tenant, taken)
}

fn counts(state: &AppState) -> GroupCommitCounts {
    let pool = router_policies::PoolName::new("default").unwrap();
    state.databases.group_commit(&pool).unwrap().counts()
}

/// Holds the pool's only group-commit slot until released.
struct Blocker {
    started: Arc<Notify>,
    release: Arc<Notify>,
}

impl Work for Blocker {
    type Output = ();

    fn write<'a>(
        &'a self,
        _: &'a DatabaseTransaction,
    ) -> BoxFuture<'a, Result<(), tessera::error::Error>> {
        Box::pin(async move {
            self.started.notify_one();
            self.release.notified().await;
            Ok(())
        })
    }
}

/// With the one slot held, 24 lone access tokens, 6 access + refresh pairs and one
/// access token whose checksum is taken queue up; released, they are one batch. Its
/// transaction fails on the taken checksum, every member is written again alone: the
/// bad one gets the unique violation, the other 30 are stored, each exactly once.
async fn a_batch_with_a_bad_row_fails_only_that_request(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (app, tenant, taken) = app_with_group_commit(&db, 1).await;
    let state = app.state.clone();
    let before = counts(&state);

    let pool = router_policies::PoolName::new("default").unwrap();
    let group_commit = state.databases.group_commit(&pool).unwrap().clone();
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let blocker = tokio::spawn({
        let blocker = Blocker {
            started: Arc::clone(&started),
            release: Arc::clone(&release),
        };
        async move { group_commit.run(blocker).await }
    });
    started.notified().await;

    let mut lone = Vec::new();
    for _ in 0..24 {
        let checksum = fresh_checksum();
        let (state, tenant) = (state.clone(), tenant.clone());
        let write = checksum.clone();
        lone.push((
            checksum,
            tokio::spawn(async move {
                tokens::issue_access_only(state.data(&tenant), access(write)).await
            }),
        ));
    }
    let mut pairs = Vec::new();
    for _ in 0..6 {
        let (access_checksum, refresh_checksum) = (fresh_checksum(), fresh_checksum());
        let (state, tenant) = (state.clone(), tenant.clone());
        let (write_access, write_refresh) = (access_checksum.clone(), refresh_checksum.clone());
        pairs.push((
            access_checksum,
            refresh_checksum,
            tokio::spawn(async move {
                tokens::issue(
                    state.data(&tenant),
                    access(write_access),
                    Some(refresh(write_refresh)),
                )
                .await
            }),
        ));
    }
    let duplicate = tokio::spawn({
        let (state, tenant, taken) = (state.clone(), tenant.clone(), taken.clone());
        async move { tokens::issue_access_only(state.data(&tenant), access(taken)).await }
    });
    // Every request is queued behind the held slot before it is released (observed,
    // not guessed with a timer): released, the dispatcher takes them all at once.
    poll_until(
        "the blocker and 31 requests are queued",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(5),
        || async { counts(&state).enqueued - before.enqueued >= 32 },
    )
    .await;
    release.notify_one();
    blocker.await.unwrap().unwrap();

    match duplicate.await.unwrap() {
        Err(tessera::error::Error::Database(error)) => {
            assert!(tessera::store::is_unique_violation(&error), "{error}")
        }
        other => panic!("the taken checksum was stored again: {other:?}"),
    }
    for (checksum, answer) in lone {
        answer.await.unwrap().unwrap();
        assert!(
            tokens::find_access_token(state.data(&tenant), &checksum)
                .await
                .unwrap()
                .is_some()
        );
    }
    for (access_checksum, refresh_checksum, answer) in pairs {
        let issued = answer.await.unwrap().unwrap();
        let stored_refresh = tokens::find_refresh_token(state.data(&tenant), &refresh_checksum)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored_refresh.access_token_id, Some(issued.access.id));
        assert_eq!(issued.access.token_checksum, access_checksum);
    }
    assert_eq!(stored_access_tokens(&state, &tenant).await, 1 + 24 + 6);

    let after = counts(&state);
    assert_eq!(
        (
            after.batches - before.batches,
            after.members - before.members
        ),
        (2, 32),
        "the blocker alone, then the 31 queued requests in one batch"
    );
    assert_eq!(after.written_alone - before.written_alone, 31);
}

/// 32 writers, each 30 writes (lone access tokens, pairs, and every tenth a taken
/// checksum): every acknowledged token is stored exactly once, no refused one is,
/// and the writes were batched. Then 16 concurrent rotations of one refresh token
/// through the batches: exactly one wins.
async fn concurrent_writers_lose_and_duplicate_no_token(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (app, tenant, taken) = app_with_group_commit(&db, 4).await;
    let state = app.state.clone();
    let before = counts(&state);

    let mut writers = Vec::new();
    for writer in 0..32 {
        let (state, tenant, taken) = (state.clone(), tenant.clone(), taken.clone());
        writers.push(tokio::spawn(async move {
            let (mut acknowledged, mut refused) = (Vec::new(), 0);
            for write in 0..30 {
                let checksum = if write % 10 == 9 {
                    taken.clone()
                } else {
                    fresh_checksum()
                };
                let outcome = if (writer + write) % 3 == 0 {
                    tokens::issue(
                        state.data(&tenant),
                        access(checksum.clone()),
                        Some(refresh(fresh_checksum())),
                    )
                    .await
                    .map(|_| ())
                } else {
                    tokens::issue_access_only(state.data(&tenant), access(checksum.clone())).await
                };
                match outcome {
                    Ok(()) => acknowledged.push(checksum),
                    Err(tessera::error::Error::Database(error))
                        if checksum == taken && tessera::store::is_unique_violation(&error) =>
                    {
                        refused += 1
                    }
                    Err(error) => panic!("write {write} of writer {writer}: {error}"),
                }
            }
            (acknowledged, refused)
        }));
    }
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for writer in writers {
        let (stored, refusals) = writer.await.unwrap();
        acknowledged.extend(stored);
        refused += refusals;
    }
    assert_eq!((acknowledged.len(), refused), (32 * 27, 32 * 3));
    for checksum in &acknowledged {
        assert!(
            tokens::find_access_token(state.data(&tenant), checksum)
                .await
                .unwrap()
                .is_some(),
            "acknowledged but not stored"
        );
    }
    // Nothing lost, nothing twice: the table holds the first token and the 864.
    assert_eq!(stored_access_tokens(&state, &tenant).await, 1 + 32 * 27);
    let after = counts(&state);
    let (batches, members) = (
        after.batches - before.batches,
        after.members - before.members,
    );
    assert_eq!(members, 32 * 30);
    assert!(
        batches < members,
        "{members} writes in {batches} transactions: none shared one"
    );
    eprintln!("{backend:?}: {members} token writes in {batches} transactions");

    // Rotations of one refresh token, concurrently: exactly one winner.
    let refresh_checksum = fresh_checksum();
    tokens::issue(
        state.data(&tenant),
        access(fresh_checksum()),
        Some(refresh(refresh_checksum.clone())),
    )
    .await
    .unwrap();
    let old = tokens::find_refresh_token(state.data(&tenant), &refresh_checksum)
        .await
        .unwrap()
        .unwrap();
    let mut rotations = Vec::new();
    for _ in 0..16 {
        let (state, tenant, old) = (state.clone(), tenant.clone(), old.clone());
        rotations.push(tokio::spawn(async move {
            let successor = refresh(fresh_checksum());
            tokens::rotate(
                state.data(&tenant),
                &old,
                access(fresh_checksum()),
                NewRefreshToken {
                    family_id: old.family_id.clone(),
                    ..successor
                },
                None,
            )
            .await
        }));
    }
    let mut winners = 0;
    for rotation in rotations {
        if let Rotation::Rotated = rotation.await.unwrap().unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn stored_access_tokens(state: &AppState, tenant: &Tenant) -> u64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let pool = router_policies::PoolName::new("default").unwrap();
    entity::access_token::Entity::find()
        .filter(entity::access_token::Column::TenantId.eq(tenant.id))
        .count(state.databases.pool(&pool).unwrap())
        .await
        .unwrap()
}
