//! Time-ordered token keys (issue 20, item 4; `tessera::secrets::checksum`): access
//! and refresh tokens issued by this version are stored under `t` + their issue
//! second + their SHA-256 (64 characters, as before), so a pool's new keys sort
//! after its older ones and each insert lands at the end of the key index. Keys
//! stored by earlier versions (the SHA-256 alone) are still found, introspected,
//! refreshed and revoked, and `oauth.time_ordered_token_keys = false` issues that
//! earlier form (what nodes of an earlier version can look up during an upgrade).

use sea_orm::{ConnectionTrait, Database, Statement};
use std::time::Duration;
use tessera::secrets::{self, KEY_CHARS, checksum, prefix};
use tessera::store::tokens;
use tessera::store::{applications, users};
use tessera_tests::{Backend, TestDatabase, on_every_backend, single_pool_toml, spawn_app_with};

use crate::oauth::{pair, refresh, string};
use crate::token_cache::{active, web_and_resource_server};
use crate::token_store::{new_access_token, new_refresh_token};

on_every_backend!(tokens_are_stored_under_time_ordered_keys);

/// Every stored access- or refresh-token key of `table`, in row (issue) order.
async fn stored_keys(url: &str, table: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT token_checksum FROM {table} ORDER BY id"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", "token_checksum").unwrap())
        .collect()
}

async fn tokens_are_stored_under_time_ordered_keys(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let app = spawn_app_with(&single_pool_toml(&db.url)).await.unwrap();
    let (web, rs) = web_and_resource_server(&app).await;
    let alice = app.user("default", "alice", "pw").await;

    // Three pairs, each issued in a later second than the one before.
    let mut issued = Vec::new();
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(1_050)).await;
        }
        issued.push(pair(&app, "default", &web).await);
    }
    for (access, refresh_token) in &issued {
        for token in [access, refresh_token] {
            let key = checksum(token);
            assert_eq!(key.len(), KEY_CHARS, "{key}");
            assert!(key.starts_with('t'), "{key}");
        }
    }
    // Stored under those keys (not the token, not the bare SHA-256), and the keys of
    // later tokens sort after earlier ones: row order is key order.
    for (table, pick) in [("access_tokens", 0usize), ("refresh_tokens", 1usize)] {
        let stored = stored_keys(&db.url, table).await;
        let expected: Vec<String> = issued
            .iter()
            .map(|(access, refresh_token)| checksum(if pick == 0 { access } else { refresh_token }))
            .collect();
        assert_eq!(stored, expected, "{table} holds the time-ordered keys");
        let mut sorted = stored.clone();
        sorted.sort();
        assert_eq!(sorted, stored, "{table}: keys sort in issue order");
    }

    // A refresh stores its new pair under keys after all of them.
    let (_, last_refresh) = &issued[2];
    let answer = refresh(&app, "default", &web, last_refresh, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let rotated = checksum(&string(&answer, "refresh_token"));
    let refresh_keys = stored_keys(&db.url, "refresh_tokens").await;
    assert_eq!(refresh_keys.last(), Some(&rotated));
    // (Within one second, keys fall in random order: compare the seconds.)
    assert!(refresh_keys[..3].iter().all(|key| key[..9] <= rotated[..9]));

    // Tokens of the earlier form (256 random bits, stored under their SHA-256 alone)
    // stay valid after the upgrade: introspected, refreshed, revoked.
    let state = &app.state;
    let tenant = state
        .tenants
        .resolve(&state.databases, "default")
        .await
        .unwrap()
        .unwrap();
    let application = applications::find_by_client_id(state.data(&tenant), &web.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        users::find_by_id(state.data(&tenant), alice)
            .await
            .unwrap()
            .is_some()
    );
    // The scope alice's grants carry, as the earlier version would have stored it.
    let scope = tokens::find_access_token(state.data(&tenant), &checksum(&issued[0].0))
        .await
        .unwrap()
        .unwrap()
        .scope;
    let earlier_access = secrets::generate(prefix::ACCESS_TOKEN).unwrap();
    let earlier_refresh = secrets::generate(prefix::REFRESH_TOKEN).unwrap();
    assert!(is_bare_sha256(&checksum(&earlier_access)));
    tokens::issue(
        state.data(&tenant),
        new_access_token(
            checksum(&earlier_access),
            application.id,
            Some(alice),
            &scope,
        ),
        Some(new_refresh_token(checksum(&earlier_refresh), &scope)),
    )
    .await
    .unwrap();
    assert!(active(&app, &rs, &earlier_access).await, "introspected");
    let refreshed = refresh(&app, "default", &web, &earlier_refresh, None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let successor = string(&refreshed, "access_token");
    assert!(
        checksum(&successor).starts_with('t'),
        "a refresh issues the new form"
    );
    assert!(
        !active(&app, &rs, &earlier_access).await,
        "rotation ended the earlier access token"
    );
    let revoked = app
        .post_form("/t/default/revoke", Some(&web), &[("token", &successor)])
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(!active(&app, &rs, &successor).await, "revoked");

    // A node with the setting off (the first step of an upgrade from an earlier
    // version, docs/operations.md) issues the earlier form, and both nodes look up
    // both forms.
    let earlier_form = spawn_app_with(&format!(
        "{}[oauth]\ntime_ordered_token_keys = false\n",
        single_pool_toml(&db.url)
    ))
    .await
    .unwrap();
    let (access, refresh_token) = pair(&earlier_form, "default", &web).await;
    for token in [&access, &refresh_token] {
        assert!(
            is_bare_sha256(&checksum(token)),
            "{token:.8}… has a bare key"
        );
    }
    assert!(active(&app, &rs, &access).await);
    let (time_ordered, _) = pair(&app, "default", &web).await;
    assert!(active(&earlier_form, &rs, &time_ordered).await);
}

/// Whether `key` is the bare SHA-256 form: 64 lowercase hex digits.
fn is_bare_sha256(key: &str) -> bool {
    key.len() == KEY_CHARS
        && key
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}
