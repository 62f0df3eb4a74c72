//! `tessera migrate` runs on each pool exactly the groups routed there, idempotently.

use sea_orm::{ConnectionTrait, Database, Statement};
use tessera_tests::{Backend, TestDatabase, config_file, on_every_backend, run_cli};

on_every_backend!(migrate_places_groups_and_is_idempotent);

/// Whether `table` exists in the database at `url`, asked of the catalogue (a failing
/// query is a failure, never "absent").
async fn table_exists(url: &str, table: &str) -> bool {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
        }
        sea_orm::DbBackend::Postgres => format!(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        _ => format!(
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = '{table}'"
        ),
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    let count: i64 = row.try_get_by_index(0).unwrap();
    db.close().await.unwrap();
    count == 1
}

async fn migrate_places_groups_and_is_idempotent(backend: Backend) {
    let Some(accounts) = TestDatabase::create(backend).await else {
        return;
    };
    let Some(tokens) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = format!(
        "[databases.accounts]\nurl = \"{}\"\n[databases.tokens]\nurl = \"{}\"\n\
         [[router.policies]]\nkind = \"static\"\n\
         groups = {{ tenants = \"accounts\", users = \"accounts\", applications = \"accounts\", tokens = \"tokens\" }}\n\
         [[router.policies]]\nkind = \"relations\"\nallow = [[\"tokens\", \"applications\"], [\"tokens\", \"users\"]]\n",
        accounts.url, tokens.url
    );
    let (_dir, path) = config_file(&toml);
    let first = run_cli(&["--config", &path, "migrate", "--json"], "").await;
    assert_eq!(first.code(), 0, "{}", first.message());
    let reports: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    let applied: u64 = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|report| report["applied"].as_u64().unwrap())
        .sum();
    // One per group, plus those added since: applications' origins and access token
    // format; tokens' ID-token index, interactions and authentication times; users'
    // sessions and subjects; tenants' sealed signing keys; issue 16's login
    // application clients, session authorities, pending rows' sources and initial
    // signing keys, username keys; issue 19's tenant status and the by-user indexes
    // of tokens and sessions; issue 20's key-first indexes (checksums, sessions,
    // usernames, the token tables' links, sessions by user) and code expiry.
    assert_eq!(applied, 32, "every group's migrations: {reports}");

    for table in [
        "tenants",
        "signing_keys",
        "users",
        "applications",
        "application_origins",
    ] {
        assert!(
            table_exists(&accounts.url, table).await,
            "{table} on accounts"
        );
        assert!(
            !table_exists(&tokens.url, table).await,
            "{table} must not be on tokens"
        );
    }
    for table in [
        "access_tokens",
        "refresh_tokens",
        "id_tokens",
        "authorization_codes",
        "device_grants",
    ] {
        assert!(table_exists(&tokens.url, table).await, "{table} on tokens");
        assert!(
            !table_exists(&accounts.url, table).await,
            "{table} must not be on accounts"
        );
    }

    let second = run_cli(&["--config", &path, "migrate", "--json"], "").await;
    assert_eq!(second.code(), 0, "{}", second.message());
    let reports: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    assert!(
        reports
            .as_array()
            .unwrap()
            .iter()
            .all(|report| report["applied"] == 0),
        "second run applies nothing: {reports}"
    );
}

#[tokio::test]
async fn startup_without_migrations_says_to_migrate() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = false\n[databases.default]\nurl = \"{}\"\n",
        db.url
    );
    let error = match tessera_tests::spawn_app_with(&toml).await {
        Ok(_) => panic!("an unmigrated database must not serve"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("tessera migrate"), "{error}");

    // After `migrate` it starts; a pool added later with pending migrations is refused.
    let (_dir, path) = config_file(&toml);
    assert_eq!(run_cli(&["--config", &path, "migrate"], "").await.code(), 0);
    let app = tessera_tests::spawn_app_with(&toml).await.unwrap();
    app.stop().await;
    let Some(shard) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let sharded = format!(
        "{toml}[databases.shard]\nurl = \"{}\"\n[[router.policies]]\nkind = \"shards\"\ngroups = [\"tokens\"]\npools = [\"default\", \"shard\"]\n",
        shard.url
    );
    let error = match tessera_tests::spawn_app_with(&sharded).await {
        Ok(_) => panic!("a pool with pending migrations must not serve"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("pool shard: tokens"), "{error}");
}
