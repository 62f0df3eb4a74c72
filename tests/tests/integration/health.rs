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
    let body: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["redis"], "ok", "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    app.stop().await;
}

/// DESIGN.md §6a: Redis is optional and never fatal. With `redis.url` naming a port
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
