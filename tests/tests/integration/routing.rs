//! The database router end to end: refusal before serving, per-tenant pins, sticky
//! shard placement, and `tessera check` on the deploy examples.

use router_policies::{EntityGroup, PoolName, Role, TenantSlug, pick_pool};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;
use tessera::secrets::{self, checksum, prefix};
use tessera::store::tokens::{self, NewAccessToken};
use tessera_tests::{
    Backend, TestDatabase, config_file, on_every_backend, run_cli, spawn_app_with,
};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");

async fn databases(backend: Backend, count: usize) -> Option<Vec<TestDatabase>> {
    let mut databases = Vec::with_capacity(count);
    for _ in 0..count {
        databases.push(TestDatabase::create(backend).await?);
    }
    Some(databases)
}

/// Users, applications and the directory on `main`; tokens sharded over `shards`.
fn sharded_toml(main: &str, shards: &[(&str, &str)], extra: &str) -> String {
    let mut toml = format!(
        "migrate_on_start = true\nbootstrap_tenant = \"\"\n{extra}\n[databases.main]\nurl = \"{main}\"\n"
    );
    for (name, url) in shards {
        toml.push_str(&format!("[databases.{name}]\nurl = \"{url}\"\n"));
    }
    let names: Vec<String> = shards
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    toml.push_str(&format!(
        "[[router.policies]]\nkind = \"static\"\ngroups = {{ tenants = \"main\", users = \"main\", applications = \"main\" }}\n\
         [[router.policies]]\nkind = \"shards\"\ngroups = [\"tokens\"]\npools = [{}]\n\
         [[router.policies]]\nkind = \"relations\"\nallow = [[\"tokens\", \"applications\"], [\"tokens\", \"users\"]]\n",
        names.join(", ")
    ));
    toml
}

async fn count_rows(url: &str, table: &str) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let count: i64 = row.try_get("", "n").unwrap();
    db.close().await.unwrap();
    count
}

async fn issue_one(app: &tessera_tests::TestApp, slug: &str) {
    let state = &app.state;
    let tenant = state
        .tenants
        .resolve(&state.databases, slug)
        .await
        .unwrap()
        .unwrap();
    let token = secrets::generate(prefix::ACCESS_TOKEN).unwrap();
    tokens::issue(
        state.data(&tenant),
        NewAccessToken {
            token_checksum: checksum(&token),
            application_id: 1,
            user_id: None,
            scope: String::new(),
            expires_at: tessera::time::now() + time::Duration::hours(1),
            source_refresh_token_id: None,
            authorization_code_id: None,
            id_token: None,
        },
        None,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn startup_refuses_every_violation_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("never.db");
    let toml = format!(
        "[databases.default]\nurl = \"sqlite://{}?mode=rwc\"\n\
         [databases.replica]\nurl = \"sqlite://{}?mode=rwc\"\nreplica_of = \"default\"\n\
         [[router.policies]]\nkind = \"replicas\"\ngroups = [\"tokens\"]\npools = [\"replica\"]\n\
         [tenants.acme.databases]\nusers = \"missing\"\n",
        file.display(),
        file.display()
    );
    let error = match spawn_app_with(&toml).await {
        Ok(_) => panic!("an invalid routing must not start"),
        Err(error) => error,
    };
    let tessera::Error::Routing(violations) = &error else {
        panic!("expected a routing refusal, got {error}");
    };
    let text = error.to_string();
    // Every violation at once: acme's unknown pool, and token reads on a replica
    // (which also splits tokens across two pools) for acme.
    assert!(text.contains("missing"), "{text}");
    assert!(text.contains("replica"), "{text}");
    assert!(violations.len() >= 3, "{text}");
    assert!(
        !file.exists(),
        "validation must happen before any pool is opened"
    );
}

#[tokio::test]
async fn deploy_examples_check_as_documented() {
    for example in [
        "sqlite.toml",
        "sharded-postgres.toml",
        "mariadb.toml",
        "compose.toml",
    ] {
        let path = format!("{DEPLOY}/{example}");
        let run = run_cli(&["--config", &path, "check"], "").await;
        assert_eq!(
            run.code(),
            0,
            "{example}: {}\n{}",
            run.message(),
            run.stdout
        );
        assert!(run.stdout.contains("OK:"), "{example}: {}", run.stdout);
    }
    let path = format!("{DEPLOY}/invalid.toml");
    let run = run_cli(&["--config", &path, "check"], "").await;
    assert_eq!(run.code(), 1, "{}", run.stdout);
    let expected = std::fs::read_to_string(format!("{DEPLOY}/invalid.expected")).unwrap();
    for line in expected.lines().filter(|line| !line.trim().is_empty()) {
        assert!(
            run.stdout.contains(line.trim()),
            "missing {line:?} in:\n{}",
            run.stdout
        );
    }
    let json = run_cli(&["--config", &path, "check", "--json"], "").await;
    assert_eq!(json.code(), 1);
    let document: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(document["valid"], false);
    assert_eq!(
        document["violations"].as_array().unwrap().len(),
        expected
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count()
    );
}

on_every_backend!(tenant_pins_route_token_writes, shard_placement_is_sticky);

async fn tenant_pins_route_token_writes(backend: Backend) {
    let Some(dbs) = databases(backend, 3).await else {
        return;
    };
    let toml = sharded_toml(
        &dbs[0].url,
        &[("shard-1", &dbs[1].url), ("shard-2", &dbs[2].url)],
        "",
    ) + "[tenants.acme]\ndisplay_name = \"Acme\"\n[tenants.acme.databases]\ntokens = \"shard-2\"\n";
    let app = spawn_app_with(&toml).await.unwrap();
    let acme = app
        .state
        .tenants
        .resolve(&app.state.databases, "acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        acme.placement.get(EntityGroup::Tokens).unwrap().as_str(),
        "shard-2"
    );
    assert_eq!(
        acme.routes
            .pool(EntityGroup::Tokens, Role::Read)
            .unwrap()
            .as_str(),
        "shard-2"
    );
    assert_eq!(
        acme.routes
            .pool(EntityGroup::Users, Role::Write)
            .unwrap()
            .as_str(),
        "main"
    );
    issue_one(&app, "acme").await;
    assert_eq!(count_rows(&dbs[2].url, "access_tokens").await, 1);
    assert_eq!(count_rows(&dbs[1].url, "access_tokens").await, 0);
    app.stop().await;
}

async fn shard_placement_is_sticky(backend: Backend) {
    let Some(dbs) = databases(backend, 4).await else {
        return;
    };
    let two = sharded_toml(
        &dbs[0].url,
        &[("shard-1", &dbs[1].url), ("shard-2", &dbs[2].url)],
        "",
    );
    let (_dir, path) = config_file(&two);
    let slugs: Vec<String> = (0..8).map(|index| format!("tenant-{index}")).collect();
    let mut placed = Vec::new();
    for slug in &slugs {
        let run = run_cli(&["--config", &path, "tenant", "create", slug, "--json"], "").await;
        assert_eq!(run.code(), 0, "{}", run.message());
        let document: Value = serde_json::from_str(&run.stdout).unwrap();
        let pool = document["placement"]["tokens"].as_str().unwrap().to_owned();
        assert!(pool == "shard-1" || pool == "shard-2", "{pool}");
        assert_eq!(document["placement"]["users"], "main");
        placed.push((slug.clone(), pool));
    }

    // The test can only prove stickiness if both shards hold tenants and the hash would
    // move at least one of them once shard-3 exists.
    assert!(
        placed.iter().any(|(_, pool)| pool == "shard-1"),
        "{placed:?}"
    );
    assert!(
        placed.iter().any(|(_, pool)| pool == "shard-2"),
        "{placed:?}"
    );
    let three_pools: Vec<PoolName> = ["shard-1", "shard-2", "shard-3"]
        .into_iter()
        .map(|name| PoolName::new(name).unwrap())
        .collect();
    let would_move = placed.iter().any(|(slug, pool)| {
        let slug = TenantSlug::new(slug.clone()).unwrap();
        pick_pool(&slug, &three_pools).unwrap().as_str() != pool
    });
    assert!(
        would_move,
        "no tenant would move under a fresh hash: {placed:?}"
    );

    // Adding a shard moves nothing: the stored placement wins over the new hash.
    let three = sharded_toml(
        &dbs[0].url,
        &[
            ("shard-1", &dbs[1].url),
            ("shard-2", &dbs[2].url),
            ("shard-3", &dbs[3].url),
        ],
        "",
    );
    let (_dir3, path3) = config_file(&three);
    let migrated = run_cli(&["--config", &path3, "migrate"], "").await;
    assert_eq!(migrated.code(), 0, "{}", migrated.message());
    let check = run_cli(&["--config", &path3, "check", "--connect"], "").await;
    assert_eq!(check.code(), 0, "{}\n{}", check.message(), check.stdout);
    let listed = run_cli(&["--config", &path3, "tenant", "list", "--json"], "").await;
    let tenants: Value = serde_json::from_str(&listed.stdout).unwrap();
    for (slug, pool) in &placed {
        let tenant = tenants
            .as_array()
            .unwrap()
            .iter()
            .find(|tenant| tenant["slug"] == slug.as_str())
            .unwrap();
        assert_eq!(tenant["placement"]["tokens"], pool.as_str(), "{slug} moved");
    }
    let app = spawn_app_with(&three).await.unwrap();
    let (slug, pool) = &placed[0];
    issue_one(&app, slug).await;
    let url = if pool == "shard-1" {
        &dbs[1].url
    } else {
        &dbs[2].url
    };
    assert_eq!(count_rows(url, "access_tokens").await, 1);
    assert_eq!(count_rows(&dbs[3].url, "access_tokens").await, 0);
    app.stop().await;

    // Removing a pool that still holds tenants is refused, naming those tenants.
    let without = sharded_toml(&dbs[0].url, &[("shard-1", &dbs[1].url)], "");
    let (_dir1, path1) = config_file(&without);
    let check = run_cli(&["--config", &path1, "check", "--connect"], "").await;
    assert_eq!(check.code(), 1, "{}", check.stdout);
    let on_shard_2: Vec<&String> = placed
        .iter()
        .filter(|(_, pool)| pool == "shard-2")
        .map(|(slug, _)| slug)
        .collect();
    for slug in &on_shard_2 {
        assert!(
            check.stdout.contains(slug.as_str()),
            "{slug} not named:\n{}",
            check.stdout
        );
    }
    assert!(check.stdout.contains("shard-2"), "{}", check.stdout);
    match spawn_app_with(&without).await {
        Err(tessera::Error::Routing(violations)) => {
            for slug in &on_shard_2 {
                assert!(
                    violations
                        .iter()
                        .any(|v| v.to_string().contains(slug.as_str())),
                    "{slug} not named in {violations:?}"
                );
            }
        }
        Err(other) => panic!("expected a routing refusal, got {other}"),
        Ok(_) => panic!("must not start while shard-2 holds tenants"),
    }
}
