//! The token store writes an access + refresh pair in one transaction on the tenant's
//! token pool: both rows commit, or neither does.

use tessera::secrets::{self, checksum, prefix};
use tessera::store::tokens::{self, NewAccessToken, NewRefreshToken};
use tessera_tests::{Backend, TestDatabase, on_every_backend, single_pool_toml, spawn_app_with};

on_every_backend!(access_and_refresh_commit_or_roll_back_together);

/// An access token row stored under `key`, issued to `application_id` for
/// `user_id`, live for an hour (what the store tests write without the endpoint).
pub(crate) fn new_access_token(
    key: String,
    application_id: i64,
    user_id: Option<i64>,
    scope: &str,
) -> NewAccessToken {
    NewAccessToken {
        token_checksum: key,
        application_id,
        user_id,
        scope: scope.to_owned(),
        expires_at: tessera::time::now() + time::Duration::hours(1),
        source_refresh_token_id: None,
        authorization_code_id: None,
        id_token: None,
    }
}

/// A refresh token row of a new family stored under `key`, without expiry.
pub(crate) fn new_refresh_token(key: String, scope: &str) -> NewRefreshToken {
    NewRefreshToken {
        token_checksum: key,
        family_id: uuid::Uuid::new_v4().to_string(),
        scope: scope.to_owned(),
        expires_at: None,
        auth_time: None,
        acr: None,
        amr: None,
    }
}

fn access(token: &str) -> NewAccessToken {
    new_access_token(checksum(token), 1, Some(7), "read write")
}

async fn access_and_refresh_commit_or_roll_back_together(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let app = spawn_app_with(&single_pool_toml(&db.url)).await.unwrap();
    let state = &app.state;
    let tenant = state
        .tenants
        .resolve(&state.databases, "default")
        .await
        .unwrap()
        .unwrap();

    // Commit: both rows are there, linked, and stored only as checksums.
    let access_token = secrets::generate(prefix::ACCESS_TOKEN).unwrap();
    let refresh_token = secrets::generate(prefix::REFRESH_TOKEN).unwrap();
    let issued = tokens::issue(
        state.data(&tenant),
        access(&access_token),
        Some(new_refresh_token(checksum(&refresh_token), "read write")),
    )
    .await
    .unwrap();
    let stored_access = tokens::find_access_token(state.data(&tenant), &checksum(&access_token))
        .await
        .unwrap()
        .expect("access token committed");
    let stored_refresh = tokens::find_refresh_token(state.data(&tenant), &checksum(&refresh_token))
        .await
        .unwrap()
        .expect("refresh token committed");
    assert_eq!(stored_refresh.access_token_id, Some(stored_access.id));
    assert_eq!(issued.access.id, stored_access.id);
    assert_ne!(stored_access.token_checksum, access_token);
    assert_eq!(stored_access.token_checksum.len(), 64);

    // Roll back: the refresh insert fails (its checksum is taken), so the access token
    // inserted before it in the same transaction must not exist either.
    let second_access = secrets::generate(prefix::ACCESS_TOKEN).unwrap();
    let failed = tokens::issue(
        state.data(&tenant),
        access(&second_access),
        Some(new_refresh_token(checksum(&refresh_token), "read write")),
    )
    .await;
    assert!(failed.is_err(), "duplicate refresh checksum must fail");
    let orphan = tokens::find_access_token(state.data(&tenant), &checksum(&second_access))
        .await
        .unwrap();
    assert!(
        orphan.is_none(),
        "the access token must roll back with its refresh token"
    );

    // Lookups are scoped by tenant: the same checksum under another tenant id is absent.
    let mut other = (*tenant).clone();
    other.id += 1;
    let other_tenant = tokens::find_access_token(state.data(&other), &checksum(&access_token))
        .await
        .unwrap();
    assert!(other_tenant.is_none());
    app.stop().await;
}
