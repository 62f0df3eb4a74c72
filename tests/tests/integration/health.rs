//! Probes and tenant resolution over HTTP.

use serde_json::Value;
use tessera_tests::{
    Backend, TestDatabase, TestRedis, on_every_backend, single_pool_toml, spawn_app_with,
};

on_every_backend!(probes_and_tenant_resolution);

async fn probes_and_tenant_resolution(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let app = spawn_app_with(&single_pool_toml(&db.url)).await.unwrap();

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["pools"]["default"], "ok");

    // The bootstrap tenant exists on first start and is its own issuer.
    let issuer = app.client.get(app.url("/t/default")).send().await.unwrap();
    assert_eq!(issuer.status(), 200);
    let body: Value = issuer.json().await.unwrap();
    assert_eq!(body["issuer"], app.url("/t/default"));

    // Unknown tenants: JSON 404, at the issuer and below it.
    for path in ["/t/nope", "/t/nope/token", "/t/Not_A_Slug/x"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("unknown tenant"),
            "{path}: {body}"
        );
    }
    // A known tenant, unknown endpoint: 404 that does not blame the tenant.
    let response = app
        .client
        .get(app.url("/t/default/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "no such endpoint");
    app.stop().await;
}

#[tokio::test]
async fn readiness_includes_redis() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "{}[redis]\nurl = \"{}\"\nkey_prefix = \"{}\"\n",
        single_pool_toml(&db.url),
        redis.url,
        redis.prefix
    );
    let app = spawn_app_with(&toml).await.unwrap();
    // Degraded until the node's first probe came back through the change channel.
    let started = std::time::Instant::now();
    let body = loop {
        let body = app.get_json("/readyz").await;
        if body["status"] == "ok" || started.elapsed() > std::time::Duration::from_secs(20) {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(body["redis"], "ok", "{body}");
    assert_eq!(body["change_notices"], "listening", "{body}");
    assert_eq!(body["failure_limits"], "shared", "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    app.stop().await;
}

/// Redis is optional and never fatal. With `redis.url` naming a port
/// nothing listens on, the node starts at once, serves tokens, and `/readyz` stays
/// 200, saying Redis is unavailable (`degraded`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_and_stays_ready_without_redis() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let toml = format!(
        "{}[redis]\nurl = \"redis://127.0.0.1:{closed_port}\"\n",
        single_pool_toml(&db.url)
    );
    let started = std::time::Instant::now();
    let app = spawn_app_with(&toml).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "the start does not wait for Redis: {:?}",
        started.elapsed()
    );
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["redis"], "unavailable", "{body}");
    assert_eq!(body["failure_limits"], "this node's only", "{body}");
    assert_ne!(body["change_notices"], "listening", "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["pools"]["default"], "ok", "{body}");
    let client = app
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    let token = crate::oauth::token(
        &app,
        "default",
        &client,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.text);
    app.stop().await;
}

#[tokio::test]
async fn tenant_created_after_startup_is_found_in_the_directory() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = single_pool_toml(&db.url);
    let app = spawn_app_with(&toml).await.unwrap();
    assert_eq!(
        app.client
            .get(app.url("/t/late"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let (_dir, path) = tessera_tests::config_file(&toml);
    let created =
        tessera_tests::run_cli(&["--config", &path, "tenant", "create", "late"], "").await;
    assert_eq!(created.code(), 0, "{}", created.message());

    let response = app.client.get(app.url("/t/late")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}

/// Two nodes started at the same moment on a freshly migrated database create each
/// declared tenant once and its signing keys once: one key per algorithm, never two
/// (issue 16; before, 3 of 3 trials made two of each, for good). The keys are made
/// after the start, by each node's background pass and by the first request to the
/// tenant on each node: four makers racing, one key each stored.
async fn nodes_started_together_create_each_key_once(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = false\n[databases.default]\nurl = \"{}\"\n[tenants.acme]\n",
        db.url
    );
    let (_dir, path) = tessera_tests::config_file(&toml);
    let migrated = tessera_tests::run_cli(&["--config", &path, "migrate"], "").await;
    assert_eq!(migrated.code(), 0, "{}", migrated.message());
    let (first, second) = tokio::join!(spawn_app_with(&toml), spawn_app_with(&toml));
    let (first, second) = (first.unwrap(), second.unwrap());
    let jwks = |app: &tessera_tests::TestApp| {
        let url = app.url("/t/acme/jwks");
        let client = app.client.clone();
        async move {
            let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            body
        }
    };
    // Both nodes sign with the same keys: their JWKS agree.
    let (on_first, on_second) = tokio::join!(jwks(&first), jwks(&second));
    assert_eq!(on_first, on_second);
    assert_eq!(on_first["keys"].as_array().unwrap().len(), 3, "{on_first}");
    let tenant = first.tenant("acme").await;
    let keys = tessera::store::signing_keys::all(&first.state.databases, tenant.id)
        .await
        .unwrap();
    let mut algorithms: Vec<&str> = keys.iter().map(|key| key.algorithm.as_str()).collect();
    algorithms.sort_unstable();
    assert_eq!(algorithms, ["ES256", "EdDSA", "RS256"], "one key each");
    first.stop().await;
    second.stop().await;
}

on_every_backend!(nodes_started_together_create_each_key_once);

/// While the database does not answer, the token endpoint says so: 503,
/// `temporarily_unavailable` and `Retry-After` (never a 500); when it is back, tokens
/// are issued again without a restart. The database goes away behind a TCP proxy
/// (every connection cut, new ones refused).
async fn a_database_that_goes_away_is_503_then_back(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut proxy = tessera_tests::TcpProxy::start(&target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n\
         connect_timeout_secs = 1\nacquire_timeout_secs = 1\n"
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let client = app
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    let ask = || {
        crate::oauth::token(
            &app,
            "default",
            &client,
            &[("grant_type", "client_credentials")],
        )
    };
    assert_eq!(ask().await.status, 200);

    proxy.stop().await;
    for attempt in 0..3 {
        let answer = ask().await;
        assert_eq!(answer.status, 503, "attempt {attempt}: {}", answer.text);
        assert_eq!(answer.error(), "temporarily_unavailable", "{}", answer.text);
        assert!(
            answer.header("retry-after").is_some(),
            "{:?}",
            answer.headers
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready without its database");

    proxy.start_again().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let answer = ask().await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{}", answer.text);
        assert!(
            std::time::Instant::now() < deadline,
            "still {}",
            answer.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// A database server goes away (SQLite, a file, does not).
mod a_database_that_goes_away_is_503_then_back {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_database_that_goes_away_is_503_then_back(tessera_tests::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::a_database_that_goes_away_is_503_then_back(tessera_tests::Backend::MySql).await
    }
}
