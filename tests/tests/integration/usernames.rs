//! Look-alike usernames (issue 16, item 7): usernames compare in Unicode NFKC, as
//! Django's `normalize_username` makes them; invisible format characters are
//! refused; letter case counts or not as the tenant says; users stored before the
//! rule keep signing in (the migration fills their lookup key).

use migration::{GroupMigrator, MigratorTraitSelf};
use router_policies::EntityGroup;
use sea_orm::{ConnectionTrait, Database, Statement};
use tessera_tests::{
    Backend, TestApp, TestClient, TestDatabase, config_file, on_every_backend, run_cli,
    spawn_app_with,
};

use crate::oauth::token;

/// A password grant of `client` in `tenant` for `username`; the HTTP status.
async fn sign_in(app: &TestApp, tenant: &str, client: &TestClient, username: &str) -> u16 {
    token(
        app,
        tenant,
        client,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", "correct horse"),
        ],
    )
    .await
    .status
}

async fn usernames_compare_in_nfkc(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.acme]\n\
         [tenants.relaxed.oauth]\nusernames_ignore_case = true\n",
        db.url
    );
    let (_dir, path) = config_file(&toml);
    let create = |tenant: &'static str, username: &'static str| {
        let path = path.clone();
        async move {
            run_cli(
                &[
                    "--config",
                    &path,
                    "user",
                    "create",
                    "--tenant",
                    tenant,
                    "--username",
                    username,
                    "--password-stdin",
                ],
                "correct horse\n",
            )
            .await
        }
    };
    assert_eq!(create("acme", "alice").await.code(), 0);
    let invisible = create("acme", "alice\u{200B}").await;
    assert_eq!(invisible.code(), 2, "{}", invisible.message());
    assert!(
        invisible.message().contains("invisible"),
        "{}",
        invisible.message()
    );
    let fullwidth = create("acme", "ａlice").await;
    assert_ne!(fullwidth.code(), 0, "the same name in NFKC");
    assert!(
        fullwidth.message().contains("taken"),
        "{}",
        fullwidth.message()
    );
    // Case counts by default (Django's rule): Alice is another user …
    assert_eq!(create("acme", "Alice").await.code(), 0);
    // … unless the tenant says otherwise.
    assert_eq!(create("relaxed", "Bob").await.code(), 0);
    let shouted = create("relaxed", "BOB").await;
    assert_ne!(shouted.code(), 0, "{}", shouted.message());
    assert!(shouted.message().contains("taken"), "{}", shouted.message());

    let app = spawn_app_with(&toml).await.unwrap();
    let acme = app.client("acme", "cli", true, "password", "", "").await;
    let relaxed = app.client("relaxed", "cli", true, "password", "", "").await;
    assert_eq!(sign_in(&app, "acme", &acme, "alice").await, 200);
    assert_eq!(
        sign_in(&app, "acme", &acme, "ａlice").await,
        200,
        "the fullwidth spelling is alice"
    );
    assert_eq!(
        sign_in(&app, "acme", &acme, "ALICE").await,
        400,
        "case counts here"
    );
    assert_eq!(sign_in(&app, "relaxed", &relaxed, "bob").await, 200);
    assert_eq!(sign_in(&app, "relaxed", &relaxed, "ＢＯＢ").await, 200);
    // Failures count per name, whatever its spelling: ten wrong passwords over
    // spellings of alice lock alice.
    for spelling in ["alice", "ａlice", "ALICE", "Ａｌｉｃｅ", "alicE"].repeat(2) {
        token(
            &app,
            "acme",
            &acme,
            &[
                ("grant_type", "password"),
                ("username", spelling),
                ("password", "wrong"),
            ],
        )
        .await;
    }
    assert_eq!(sign_in(&app, "acme", &acme, "alice").await, 429);
    app.stop().await;
}

on_every_backend!(usernames_compare_in_nfkc);

/// Users stored before the rule keep signing in: their lookup key is filled by the
/// migration (in Rust, NFKC in lower case), and a stored spelling that is not NFKC
/// still matches what users type.
async fn users_from_before_keep_signing_in(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let connection = Database::connect(db.url.as_str()).await.unwrap();
    let users = GroupMigrator::new(EntityGroup::Users);
    // Every users migration before the one that adds the lookup key.
    let before = users
        .migrations()
        .iter()
        .position(|migration| migration.name() == "m20261206_000005_username_keys")
        .unwrap();
    users
        .up(&connection, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    let hash = tessera::secrets::hash_password("correct horse").unwrap();
    for (id, username) in [(1, "Ｄave"), (2, "erin")] {
        connection
            .execute_raw(Statement::from_string(
                connection.get_database_backend(),
                format!(
                    "INSERT INTO users (id, tenant_id, subject, username, email, password_hash, \
                     claims, is_active, created_at, updated_at) VALUES ({id}, 1, 'sub{id}', \
                     '{username}', NULL, '{hash}', '{{}}', true, '2026-12-01 00:00:00', \
                     '2026-12-01 00:00:00')"
                ),
            ))
            .await
            .unwrap();
    }
    users.up(&connection, None).await.unwrap();
    connection.close().await.unwrap();
    // The service on that database (its other groups migrate at its start; the
    // bootstrap tenant is the directory's first, id 1, the rows' tenant).
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n",
        db.url
    ))
    .await
    .unwrap();
    let tenant = app.tenant("default").await;
    assert_eq!(tenant.id, 1);
    let (_, connection) = app.pool("default", EntityGroup::Users).await;
    let keys = connection
        .query_all_raw(Statement::from_string(
            connection.get_database_backend(),
            "SELECT username_key FROM users ORDER BY id",
        ))
        .await
        .unwrap();
    let keys: Vec<String> = keys
        .iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect();
    assert_eq!(keys, ["dave", "erin"]);
    for (typed, found) in [
        ("Dave", true),
        ("Ｄave", true),
        ("dave", false),
        ("erin", true),
    ] {
        let user = tessera::store::users::find_by_username(app.state.data(&tenant), typed, false)
            .await
            .unwrap();
        assert_eq!(user.is_some(), found, "{typed}");
    }
    app.stop().await;
}

on_every_backend!(users_from_before_keep_signing_in);
