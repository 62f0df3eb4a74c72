//! What an operator watches (issue 19): `/metrics` in the Prometheus text format,
//! on the main listener or a listener of its own, and the request id of the access
//! log echoed to the caller.

use tessera_tests::{
    Backend, TestApp, TestClient, TestDatabase, free_port, on_every_backend, spawn_app_with,
};

use crate::oauth::token;

on_every_backend!(metrics_count_what_happened);

/// The value of the sample `series` (name and labels, exactly as exposed).
pub(crate) fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

async fn scrape(app: &TestApp, base: &str) -> String {
    let response = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

async fn metrics_count_what_happened(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.acme]\n",
        db.url
    ))
    .await
    .unwrap();
    let client = app
        .client("acme", "svc", true, "client_credentials", "", "")
        .await;
    let before = scrape(&app, &app.address).await;
    for _ in 0..3 {
        let issued = token(
            &app,
            "acme",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(issued.status, 200, "{}", issued.text);
    }
    let wrong = TestClient {
        client_id: "svc".to_owned(),
        client_secret: Some("tss_not-the-secret".to_owned()),
    };
    let refused = token(
        &app,
        "acme",
        &wrong,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(refused.status, 401);
    let revoked = app
        .post_form("/t/acme/revoke", Some(&client), &[("token", "tsa_unknown")])
        .await;
    assert_eq!(revoked.status, 200);

    let text = scrape(&app, &app.address).await;
    let grew = |series: &str| {
        let earlier = if before.contains(&format!("{series} ")) {
            sample(&before, series)
        } else {
            0.0
        };
        sample(&text, series) - earlier
    };
    assert_eq!(
        grew("tessera_tokens_issued_total{grant_type=\"client_credentials\"}"),
        3.0
    );
    assert_eq!(
        grew("tessera_http_requests_total{route=\"token\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        grew("tessera_http_requests_total{route=\"token\",status=\"401\"}"),
        1.0
    );
    assert_eq!(grew("tessera_client_authentication_failures_total"), 1.0);
    assert_eq!(grew("tessera_revocations_total"), 1.0);
    assert!(
        sample(
            &text,
            "tessera_http_request_duration_seconds_count{route=\"token\"}"
        ) >= 4.0
    );
    assert!(sample(&text, "tessera_pool_connections_max{pool=\"default\"}") > 0.0);
    assert!(sample(&text, "tessera_pool_connections_open{pool=\"default\"}") >= 1.0);
    assert_eq!(sample(&text, "tessera_redis_configured"), 0.0);
    // The client cache answered the repeated authentications.
    assert!(
        sample(&text, "tessera_cache_hits{cache=\"clients\"}") >= 2.0,
        "{text}"
    );
    assert!(sample(&text, "tessera_slow_hash_limit") >= 1.0);
    assert!(sample(&text, "tessera_tenants_loaded") >= 1.0);
    app.stop().await;
}

/// `metrics.listen` moves `/metrics` to a listener of its own; the request id of
/// the access log is the caller's when it is a short token, else a new one, and is
/// echoed.
#[tokio::test]
async fn metrics_on_their_own_listener_and_request_ids() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let port = free_port();
    let app = spawn_app_with(&format!(
        "{}[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        tessera_tests::single_pool_toml(&db.url)
    ))
    .await
    .unwrap();
    let main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404, "not on the main listener");
    let text = scrape(&app, &format!("http://127.0.0.1:{port}")).await;
    assert!(text.contains("# TYPE tessera_http_requests_total counter"));

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-4711.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "lb-4711.a_b");
    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "not a token; drop table")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit()), "{id}");
    app.stop().await;
}

/// `tessera probe` (the image's HEALTHCHECK) asks the node at `listen`: 0 on 200, 1
/// otherwise, saying what it got.
#[tokio::test]
async fn the_probe_command_asks_the_node() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = spawn_app_with(&tessera_tests::single_pool_toml(&db.url))
        .await
        .unwrap();
    let listen = app.address.trim_start_matches("http://");
    let (_dir, path) = tessera_tests::config_file(&format!("listen = \"{listen}\"\n"));
    let healthy = tessera_tests::run_cli(&["--config", &path, "probe"], "").await;
    assert_eq!(healthy.code(), 0, "{}", healthy.message());
    assert!(healthy.stdout.contains("200"), "{}", healthy.stdout);
    let missing =
        tessera_tests::run_cli(&["--config", &path, "probe", "--path", "/nowhere"], "").await;
    assert_eq!(missing.code(), 1);
    assert!(missing.message().contains("404"), "{}", missing.message());
    app.stop().await;
    let down = tessera_tests::run_cli(&["--config", &path, "probe"], "").await;
    assert_eq!(down.code(), 1, "nothing listens any more");
}

/// `GET /` lists the enabled tenants' issuers with their discovery documents;
/// `[routes] disable = ["landing"]` switches it off.
#[tokio::test]
async fn the_landing_page_lists_issuers() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let toml = format!(
        "{}[tenants.acme]\ndisplay_name = \"Acme Corp\"\n[tenants.globex]\n",
        tessera_tests::single_pool_toml(&db.url)
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let globex = tessera::tenancy::update_tenant(
        &app.state.databases,
        app.state.tenants.settings(),
        &router_policies::TenantSlug::new("globex".to_owned()).unwrap(),
        &tessera::tenancy::TenantChanges {
            disabled: Some(true),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert!(globex.disabled);
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = tessera_tests::unescape_html(&page.text().await.unwrap());
    assert!(body.contains("Acme Corp"), "{body}");
    assert!(
        body.contains(&app.url("/t/acme/.well-known/openid-configuration")),
        "{body}"
    );
    assert!(
        !body.contains("/t/globex"),
        "a disabled tenant is not listed: {body}"
    );
    app.stop().await;

    let off = spawn_app_with(&format!("{toml}[routes]\ndisable = [\"landing\"]\n"))
        .await
        .unwrap();
    assert_eq!(
        off.client.get(off.url("/")).send().await.unwrap().status(),
        404
    );
    off.stop().await;
}
