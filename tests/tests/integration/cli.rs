//! The command line: tenants, users, applications; bad input exits 2 with one line
//! and writes nothing.

use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::Value;
use tessera::secrets;
use tessera_tests::{
    Backend, TestDatabase, config_file, on_every_backend, run_cli, single_pool_toml,
};

on_every_backend!(tenants_users_and_apps);

fn assert_bad_input(run: &tessera_tests::CliRun, needle: &str) {
    assert_eq!(
        run.code(),
        2,
        "expected exit 2, got {}: {}",
        run.code(),
        run.message()
    );
    assert!(
        !run.message().contains('\n'),
        "one line: {:?}",
        run.message()
    );
    assert!(
        run.message().contains(needle),
        "{:?} should mention {needle:?}",
        run.message()
    );
}

async fn tenants_users_and_apps(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (_dir, path) = config_file(&single_pool_toml(&db.url));
    let config = ["--config", path.as_str()];
    let cli = |args: &[&str]| -> Vec<String> {
        config
            .iter()
            .chain(args)
            .map(|arg| arg.to_string())
            .collect()
    };
    async fn run(args: Vec<String>, stdin: &str) -> tessera_tests::CliRun {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&refs, stdin).await
    }

    let created = run(
        cli(&[
            "tenant",
            "create",
            "acme",
            "--display-name",
            "Acme",
            "--json",
        ]),
        "",
    )
    .await;
    assert_eq!(created.code(), 0, "{}", created.message());
    let tenant: Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(tenant["slug"], "acme");
    assert_eq!(tenant["placement"]["tokens"], "default");
    assert!(tenant["issuer"].as_str().unwrap().ends_with("/t/acme"));
    assert_bad_input(
        &run(cli(&["tenant", "create", "acme"]), "").await,
        "already exists",
    );
    assert_bad_input(
        &run(cli(&["tenant", "create", "Bad_Slug"]), "").await,
        "Bad_Slug",
    );

    let listed = run(cli(&["tenant", "list", "--json"]), "").await;
    let tenants: Value = serde_json::from_str(&listed.stdout).unwrap();
    let slugs: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["slug"].as_str().unwrap())
        .collect();
    // The first command on an empty directory also created the bootstrap tenant.
    assert_eq!(slugs, ["acme", "default"]);

    // Users: argon2id, unique per tenant, password only from stdin.
    let user = run(
        cli(&[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "alice",
            "--password-stdin",
            "--email",
            "alice@example.com",
            "--json",
        ]),
        "s3cret pass\n",
    )
    .await;
    assert_eq!(user.code(), 0, "{}", user.message());
    assert_bad_input(
        &run(
            cli(&[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                "alice",
                "--password-stdin",
            ]),
            "another password\n",
        )
        .await,
        "taken",
    );
    assert_bad_input(
        &run(
            cli(&[
                "user",
                "create",
                "--tenant",
                "acme",
                "--username",
                "bob",
                "--password-stdin",
            ]),
            "\n",
        )
        .await,
        "password is empty",
    );
    assert_bad_input(
        &run(
            cli(&[
                "user",
                "create",
                "--tenant",
                "nowhere",
                "--username",
                "bob",
                "--password-stdin",
            ]),
            "a good password\n",
        )
        .await,
        "unknown tenant",
    );
    let connection = Database::connect(db.url.as_str()).await.unwrap();
    let alice = entity::user::Entity::find()
        .filter(entity::user::Column::Username.eq("alice"))
        .one(&connection)
        .await
        .unwrap()
        .unwrap();
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(secrets::verify_password(
        &alice.password_hash,
        "s3cret pass"
    ));

    // Applications: the secret is printed once and stored hashed.
    let app = run(
        cli(&[
            "app",
            "create",
            "--tenant",
            "acme",
            "--name",
            "Web",
            "--client-type",
            "confidential",
            "--grant-types",
            "authorization_code,refresh_token,client_credentials",
            "--redirect-uris",
            "https://app.example/cb http://127.0.0.1:8000/cb",
            "--allowed-origins",
            "https://app.example",
            "--scopes",
            "openid profile",
            "--algorithm",
            "RS256",
            "--owner",
            "alice",
            "--json",
        ]),
        "",
    )
    .await;
    assert_eq!(app.code(), 0, "{}", app.message());
    let created: Value = serde_json::from_str(&app.stdout).unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    // `--client-id=ID`: a generated client_id may start with `-`, which clap would
    // take for a flag when passed as a separate argument.
    let client_id_flag = format!("--client-id={client_id}");
    let client_secret = created["client_secret"].as_str().unwrap();
    assert!(client_secret.starts_with("tss_") && client_secret.len() >= 4 + 43);
    assert_eq!(created["grant_types"].as_array().unwrap().len(), 3);
    let stored = entity::application::Entity::find()
        .filter(entity::application::Column::ClientId.eq(client_id))
        .one(&connection)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.client_secret.starts_with("hmac-sha256$"),
        "{}",
        stored.client_secret
    );
    assert!(secrets::verify_client_secret(
        &stored.client_secret,
        client_secret
    ));
    assert_eq!(stored.owner_user_id, Some(alice.id));
    assert_eq!(
        stored.redirect_uris,
        "https://app.example/cb http://127.0.0.1:8000/cb"
    );

    let public = run(
        cli(&[
            "app",
            "create",
            "--tenant",
            "acme",
            "--name",
            "SPA",
            "--client-type",
            "public",
            "--grant-types",
            "authorization_code",
            "--redirect-uris",
            "https://spa.example/cb",
            "--json",
        ]),
        "",
    )
    .await;
    assert_eq!(public.code(), 0, "{}", public.message());
    let public: Value = serde_json::from_str(&public.stdout).unwrap();
    assert!(public["client_secret"].is_null());

    // Bad input: exit 2, one line, nothing written.
    let base = [
        "app",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Bad",
        "--client-type",
        "confidential",
    ];
    let with = |extra: &[&str]| cli(&base.iter().chain(extra).copied().collect::<Vec<_>>());
    assert_bad_input(
        &run(with(&["--grant-types", "authorization-code"]), "").await,
        "unknown grant type",
    );
    assert_bad_input(
        &run(
            with(&[
                "--grant-types",
                "authorization_code",
                "--redirect-uris",
                "not a uri",
            ]),
            "",
        )
        .await,
        "not an absolute URI",
    );
    assert_bad_input(
        &run(with(&["--grant-types", "authorization_code"]), "").await,
        "redirect URI",
    );
    assert_bad_input(
        &run(
            with(&["--grant-types", "password", "--algorithm", "none"]),
            "",
        )
        .await,
        "algorithm",
    );
    assert_bad_input(
        &run(
            cli(&[
                "app",
                "create",
                "--tenant",
                "nowhere",
                "--name",
                "X",
                "--client-type",
                "public",
                "--grant-types",
                "implicit",
                "--redirect-uris",
                "https://x.example/cb",
            ]),
            "",
        )
        .await,
        "unknown tenant",
    );
    // Failures found only at the database: a taken client_id, an unknown owner.
    assert_bad_input(
        &run(
            with(&["--grant-types", "client_credentials", &client_id_flag]),
            "",
        )
        .await,
        "is taken",
    );
    assert_bad_input(
        &run(
            with(&["--grant-types", "client_credentials", "--owner", "nobody"]),
            "",
        )
        .await,
        "--owner",
    );
    let listed = run(cli(&["app", "list", "--tenant", "acme", "--json"]), "").await;
    let apps: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(
        apps.as_array().unwrap().len(),
        2,
        "no half-written application: {apps}"
    );

    // Tenants are apart: the same client_id and username are free in another tenant.
    assert_eq!(
        run(cli(&["tenant", "create", "globex"]), "").await.code(),
        0
    );
    let same_user = run(
        cli(&[
            "user",
            "create",
            "--tenant",
            "globex",
            "--username",
            "alice",
            "--password-stdin",
        ]),
        "other password\n",
    )
    .await;
    assert_eq!(same_user.code(), 0, "{}", same_user.message());
    let same_client = run(
        cli(&[
            "app",
            "create",
            "--tenant",
            "globex",
            "--name",
            "Web",
            "--client-type",
            "confidential",
            "--grant-types",
            "client_credentials",
            &client_id_flag,
        ]),
        "",
    )
    .await;
    assert_eq!(same_client.code(), 0, "{}", same_client.message());
    // Identifiers compare exactly on every backend (MariaDB included): case matters.
    let upper = run(
        cli(&[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "ALICE",
            "--password-stdin",
        ]),
        "a good password\n",
    )
    .await;
    assert_eq!(upper.code(), 0, "{}", upper.message());
    assert!(
        listed.stdout.find("client_secret").is_none(),
        "list never shows secrets"
    );
    connection.close().await.unwrap();
}

#[tokio::test]
async fn imported_client_credentials_and_check_output() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let (_dir, path) = config_file(&single_pool_toml(&db.url));
    let created = run_cli(&["--config", &path, "tenant", "create", "bench"], "").await;
    assert_eq!(created.code(), 0, "{}", created.message());
    let app = run_cli(
        &[
            "--config",
            &path,
            "app",
            "create",
            "--tenant",
            "bench",
            "--name",
            "Bench",
            "--client-type",
            "confidential",
            "--grant-types",
            "client_credentials",
            "--client-id",
            "bench-client",
            "--client-secret-stdin",
        ],
        "bench-secret\n",
    )
    .await;
    assert_eq!(app.code(), 0, "{}", app.message());
    assert!(app.stdout.contains("client_id: bench-client"));
    assert!(
        !app.stdout.contains("bench-secret"),
        "an imported secret is not echoed"
    );
    // A short imported secret keeps a slow hash (argon2id), not the fast keyed hash.
    let connection = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let stored = entity::application::Entity::find()
        .filter(entity::application::Column::ClientId.eq("bench-client"))
        .one(&connection)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.client_secret.starts_with("$argon2id$"),
        "{}",
        stored.client_secret
    );
    assert!(secrets::verify_password(
        &stored.client_secret,
        "bench-secret"
    ));
    connection.close().await.unwrap();

    let check = run_cli(&["--config", &path, "check", "--connect"], "").await;
    assert_eq!(check.code(), 0, "{}", check.message());
    assert!(check.stdout.contains("bench"), "{}", check.stdout);
    assert!(check.stdout.contains("OK:"), "{}", check.stdout);
}

#[tokio::test]
async fn dot_hashes_are_imported_and_upgraded_on_first_use() {
    // Django's make_password(SECRET, salt="djangosalt", hasher=pbkdf2_sha256), 1000
    // iterations, computed with Python's hashlib.
    const SECRET: &str = "tss_importedsecretimportedsecretimportedsecret0";
    const DOT_HASH: &str =
        "pbkdf2_sha256$1000$djangosalt$gM9KI3Yob9PWvMN/LnCUbeFEx/PqwKmFiS0qkNkDWFo=";
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = single_pool_toml(&db.url);
    let (_dir, path) = config_file(&toml);
    let bad = run_cli(
        &[
            "--config",
            &path,
            "app",
            "create",
            "--tenant",
            "default",
            "--name",
            "Old",
            "--client-type",
            "confidential",
            "--grant-types",
            "client_credentials",
            "--client-secret-hash-stdin",
        ],
        "md5$abc\n",
    )
    .await;
    assert_eq!(bad.code(), 2, "{}", bad.message());
    let imported = run_cli(
        &[
            "--config",
            &path,
            "app",
            "create",
            "--tenant",
            "default",
            "--name",
            "Old",
            "--client-type",
            "confidential",
            "--grant-types",
            "client_credentials",
            "--client-id",
            "legacy",
            "--client-secret-hash-stdin",
        ],
        &format!("{DOT_HASH}\n"),
    )
    .await;
    assert_eq!(imported.code(), 0, "{}", imported.message());

    let app = tessera_tests::spawn_app_with(&toml).await.unwrap();
    let client = tessera_tests::TestClient {
        client_id: "legacy".into(),
        client_secret: Some(SECRET.into()),
    };
    let wrong = tessera_tests::TestClient {
        client_id: "legacy".into(),
        client_secret: Some("tss_not_the_secret".into()),
    };
    let refused = app
        .post_form(
            "/t/default/token",
            Some(&wrong),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let answer = app
        .post_form(
            "/t/default/token",
            Some(&client),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    let connection = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let stored = entity::application::Entity::find()
        .filter(entity::application::Column::ClientId.eq("legacy"))
        .one(&connection)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.client_secret.starts_with("hmac-sha256$"),
        "upgraded: {}",
        stored.client_secret
    );
    assert!(secrets::verify_client_secret(&stored.client_secret, SECRET));
    connection.close().await.unwrap();
    // Still works after the upgrade.
    let again = app
        .post_form(
            "/t/default/token",
            Some(&client),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    app.stop().await;
}

/// Messages that say what to fix (issue 16): a taken tenant slug is named as typed
/// (never Rust's debug form); `app show` names the default algorithm; a SQLite URL
/// for a file that does not exist says to add `mode=rwc`; a database server that does
/// not answer is named by host and port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_say_what_to_fix() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let (_dir, path) = config_file(&single_pool_toml(&db.url));
    let tessera = |args: &[&str]| {
        let mut all = vec!["--config", path.as_str()];
        all.extend_from_slice(args);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            run_cli(&refs, "").await
        }
    };
    assert_eq!(tessera(&["tenant", "create", "acme"]).await.code(), 0);
    let again = tessera(&["tenant", "create", "acme"]).await;
    assert_ne!(again.code(), 0);
    assert!(
        again.message().contains("tenant \"acme\" already exists"),
        "{}",
        again.message()
    );
    assert!(
        !again.message().contains("TenantSlug"),
        "{}",
        again.message()
    );

    let created = tessera(&[
        "app",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Web",
        "--client-type",
        "confidential",
        "--grant-types",
        "client_credentials",
        "--json",
    ])
    .await;
    let created: Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(created["algorithm"], "RS256", "{created}");
    let client_id = created["client_id"].as_str().unwrap();
    let shown = tessera(&["app", "show", client_id, "--tenant", "acme"]).await;
    assert!(
        shown.stdout.contains("algorithm: RS256"),
        "{}",
        shown.stdout
    );

    let folder = tempfile::tempdir().unwrap();
    let (_dir, no_rwc) = config_file(&format!(
        "[databases.default]\nurl = \"sqlite://{}/new.db\"\n",
        folder.path().display()
    ));
    let opened = run_cli(&["--config", &no_rwc, "migrate"], "").await;
    assert_ne!(opened.code(), 0);
    assert!(
        opened.message().contains("mode=rwc"),
        "{}",
        opened.message()
    );

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (_dir, unreachable) = config_file(&format!(
        "[databases.default]\nurl = \"postgres://postgres@127.0.0.1:{closed_port}/x\"\n\
         connect_timeout_secs = 1\nacquire_timeout_secs = 1\n"
    ));
    let refused = run_cli(&["--config", &unreachable, "migrate"], "").await;
    assert_ne!(refused.code(), 0);
    assert!(
        refused
            .message()
            .contains(&format!("127.0.0.1:{closed_port}")),
        "{}",
        refused.message()
    );
}

/// `tessera check` refuses what `serve` refuses (issue 19): a damaged
/// key-encryption key file and a stray file in the service-wide `templates_dir`.
#[tokio::test]
async fn check_refuses_what_serve_refuses() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    let kek = folder.path().join("kek");
    std::fs::write(&kek, "garbage\n").unwrap();
    let (_dir, path) = config_file(&format!(
        "key_encryption_key_file = \"{}\"\n{}",
        kek.display(),
        single_pool_toml(&db.url)
    ));
    let damaged = run_cli(&["--config", &path, "check"], "").await;
    assert_bad_input(&damaged, "key-encryption key");
    let served = tessera_tests::spawn_app_with(&format!(
        "key_encryption_key_file = \"{}\"\n{}",
        kek.display(),
        single_pool_toml(&db.url)
    ))
    .await;
    assert!(served.is_err(), "serve refuses it too");

    let templates = folder.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("logn.html"), "{% extends \"base.html\" %}").unwrap();
    let toml = format!(
        "templates_dir = \"{}\"\n{}",
        templates.display(),
        single_pool_toml(&db.url)
    );
    let (_dir, path) = config_file(&toml);
    assert_bad_input(
        &run_cli(&["--config", &path, "check"], "").await,
        "logn.html is not a page template",
    );
    assert!(
        tessera_tests::spawn_app_with(&toml).await.is_err(),
        "serve refuses it too"
    );
}
