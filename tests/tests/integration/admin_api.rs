//! The admin API (issue 19) over HTTP, as an operator's HTTP client uses it: an
//! admin client from `tessera admin bootstrap`, a token with `tessera:admin`, then
//! tenants, applications, users, authorizations and keys under `/admin/v1`, with problem details,
//! keyset pages and `If-Match`; a tenant's own admin client reaches only its tenant.

use serde_json::{Value, json};
use tessera_tests::{
    Backend, TestApp, TestClient, TestDatabase, config_file, on_every_backend, run_cli,
    single_pool_toml, spawn_app_with,
};

use crate::oauth::{introspect, string, token};

on_every_backend!(an_operator_runs_a_tenant_over_the_admin_api);

/// An admin client registered by the CLI in `tenant` (`None`: the admin tenant),
/// and a token of it.
async fn admin_token(app: &TestApp, config: &str, tenant: Option<&str>) -> String {
    let mut args = vec!["--config", config, "admin", "bootstrap", "--json"];
    if let Some(tenant) = tenant {
        args.extend(["--tenant", tenant]);
    }
    let run = run_cli(&args, "").await;
    assert_eq!(run.code(), 0, "{}", run.message());
    let printed: Value = serde_json::from_str(&run.stdout).unwrap();
    let client = TestClient {
        client_id: printed["client_id"].as_str().unwrap().to_owned(),
        client_secret: printed["client_secret"].as_str().map(str::to_owned),
    };
    let issued = token(
        app,
        tenant.unwrap_or("default"),
        &client,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "tessera:admin"),
        ],
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    string(&issued, "access_token")
}

struct Answer {
    status: u16,
    etag: Option<String>,
    location: Option<String>,
    content_type: String,
    body: Value,
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Answer {
    let headers: Vec<(&str, &str)> = if_match.map(|tag| ("if-match", tag)).into_iter().collect();
    let answer = app
        .send_json(method, path, bearer, body.as_ref(), &headers)
        .await;
    let header = |name: &str| answer.header(name).map(str::to_owned);
    Answer {
        status: answer.status,
        etag: header("etag"),
        location: header("location"),
        content_type: header("content-type").unwrap_or_default(),
        body: answer.body,
    }
}

fn assert_problem(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["status"], status);
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty())
    );
}

async fn an_operator_runs_a_tenant_over_the_admin_api(backend: Backend) {
    use reqwest::Method;
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = single_pool_toml(&db.url);
    let (_dir, config) = config_file(&toml);
    let app = spawn_app_with(&toml).await.unwrap();

    // Without a token, or with one lacking the scope: RFC 6750 and RFC 9457.
    let anonymous = call(&app, Method::GET, "/admin/v1/tenants", None, None, None).await;
    assert_problem(&anonymous, 401);
    let admin = admin_token(&app, &config, None).await;

    // A tenant: placed by the router, shown with its placement.
    let created = call(
        &app,
        Method::POST,
        "/admin/v1/tenants",
        Some(&admin),
        Some(json!({"slug": "acme", "display_name": "Acme"})),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.location.as_deref(), Some("/admin/v1/tenants/acme"));
    assert_eq!(created.body["placement"]["tokens"], "default");
    assert!(
        created.body["issuer"]
            .as_str()
            .unwrap()
            .ends_with("/t/acme")
    );
    let again = call(
        &app,
        Method::POST,
        "/admin/v1/tenants",
        Some(&admin),
        Some(json!({"slug": "acme"})),
        None,
    )
    .await;
    assert_problem(&again, 409);
    let bad = call(
        &app,
        Method::POST,
        "/admin/v1/tenants",
        Some(&admin),
        Some(json!({"slug": "Not A Slug"})),
        None,
    )
    .await;
    assert_problem(&bad, 400);
    let unknown_field = call(
        &app,
        Method::POST,
        "/admin/v1/tenants",
        Some(&admin),
        Some(json!({"slug": "x", "colour": "red"})),
        None,
    )
    .await;
    assert_problem(&unknown_field, 400);

    // Keyset pages.
    let first = call(
        &app,
        Method::GET,
        "/admin/v1/tenants?limit=1",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(first.body["items"][0]["slug"], "acme", "{}", first.body);
    assert_eq!(first.body["next"], "acme");
    let second = call(
        &app,
        Method::GET,
        "/admin/v1/tenants?limit=1&after=acme",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        second.body["items"][0]["slug"], "default",
        "{}",
        second.body
    );
    let filtered = call(
        &app,
        Method::GET,
        "/admin/v1/tenants?name=acm",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    assert_problem(
        &call(
            &app,
            Method::GET,
            "/admin/v1/tenants?limit=0",
            Some(&admin),
            None,
            None,
        )
        .await,
        400,
    );

    // Settings with If-Match: the current ETag changes it, a stale one is refused.
    let shown = call(
        &app,
        Method::GET,
        "/admin/v1/tenants/acme",
        Some(&admin),
        None,
        None,
    )
    .await;
    let etag = shown.etag.clone().unwrap();
    let changed = call(
        &app,
        Method::PATCH,
        "/admin/v1/tenants/acme",
        Some(&admin),
        Some(json!({"settings": {"allow_password_grant": true}})),
        Some(&etag),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["settings"]["allow_password_grant"], true);
    assert_ne!(changed.etag.as_deref(), Some(etag.as_str()));
    let stale = call(
        &app,
        Method::PATCH,
        "/admin/v1/tenants/acme",
        Some(&admin),
        Some(json!({"display_name": "Acme Inc"})),
        Some(&etag),
    )
    .await;
    assert_problem(&stale, 412);
    let invalid = call(
        &app,
        Method::PATCH,
        "/admin/v1/tenants/acme",
        Some(&admin),
        Some(json!({"settings": {"access_token_lifetime_secs": "soon"}})),
        None,
    )
    .await;
    assert_problem(&invalid, 400);
    assert!(
        invalid.body["detail"]
            .as_str()
            .unwrap()
            .contains("access_token_lifetime_secs")
    );

    // Users: created, listed, found, disabled (their tokens die), deleted.
    let alice = call(
        &app,
        Method::POST,
        "/admin/v1/tenants/acme/users",
        Some(&admin),
        Some(
            json!({"username": "alice", "password": "correct horse", "email": "alice@example.com"}),
        ),
        None,
    )
    .await;
    assert_eq!(alice.status, 201, "{}", alice.body);
    assert!(alice.body.get("id").is_none(), "no row id: {}", alice.body);
    let subject = alice.body["subject"].as_str().unwrap().to_owned();
    let short = call(
        &app,
        Method::POST,
        "/admin/v1/tenants/acme/users",
        Some(&admin),
        Some(json!({"username": "bob", "password": "short"})),
        None,
    )
    .await;
    assert_problem(&short, 400);
    let listed = call(
        &app,
        Method::GET,
        "/admin/v1/tenants/acme/users?name=ali",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(listed.body["items"][0]["subject"], subject.as_str());

    // Applications: registered with a generated secret shown once; the
    // registration rules refuse what they refuse everywhere.
    let refused = call(
        &app,
        Method::POST,
        "/admin/v1/tenants/acme/applications",
        Some(&admin),
        Some(
            json!({"name": "Bad", "client_type": "public", "grant_types": ["client_credentials"]}),
        ),
        None,
    )
    .await;
    assert_problem(&refused, 400);
    let registered = call(
        &app,
        Method::POST,
        "/admin/v1/tenants/acme/applications",
        Some(&admin),
        Some(json!({"name": "Portal", "client_type": "confidential",
            "grant_types": ["password", "client_credentials"]})),
        None,
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let mut portal = TestClient {
        client_id: registered.body["application"]["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        client_secret: registered.body["client_secret"].as_str().map(str::to_owned),
    };
    assert!(
        portal
            .client_secret
            .as_deref()
            .is_some_and(|secret| secret.starts_with("tss_"))
    );
    let app_path = format!("/admin/v1/tenants/acme/applications/{}", portal.client_id);
    let app_etag = call(&app, Method::GET, &app_path, Some(&admin), None, None)
        .await
        .etag
        .unwrap();
    let renamed = call(
        &app,
        Method::PATCH,
        &app_path,
        Some(&admin),
        Some(json!({"name": "Portal 2", "scopes": ["read"]})),
        Some(&app_etag),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Portal 2");
    assert_problem(
        &call(
            &app,
            Method::PATCH,
            &app_path,
            Some(&admin),
            Some(json!({"name": "Portal 3"})),
            Some(&app_etag),
        )
        .await,
        412,
    );
    assert_problem(
        &call(
            &app,
            Method::PATCH,
            &app_path,
            Some(&admin),
            Some(json!({"grant_types": ["no_such_grant"]})),
            None,
        )
        .await,
        400,
    );
    let listed = call(
        &app,
        Method::GET,
        "/admin/v1/tenants/acme/applications?name=Portal",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    let granted = token(
        &app,
        "acme",
        &portal,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
        ],
    )
    .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let access = string(&granted, "access_token");
    let authorizations = call(
        &app,
        Method::GET,
        &format!("/admin/v1/tenants/acme/users/{subject}/authorizations"),
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        authorizations.body["items"][0]["client_id"],
        portal.client_id.as_str()
    );

    let user_etag = call(
        &app,
        Method::GET,
        &format!("/admin/v1/tenants/acme/users/{subject}"),
        Some(&admin),
        None,
        None,
    )
    .await
    .etag
    .unwrap();
    let disabled = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/tenants/acme/users/{subject}"),
        Some(&admin),
        Some(json!({"active": false})),
        Some(&user_etag),
    )
    .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["active"], false);
    assert_eq!(
        introspect(&app, "acme", &portal, &access).await["active"],
        false
    );
    let stale = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/tenants/acme/users/{subject}"),
        Some(&admin),
        Some(json!({"active": true})),
        Some(&user_etag),
    )
    .await;
    assert_problem(&stale, 412);

    // Keys: three signing, a rotation publishes three more.
    let keys = call(
        &app,
        Method::GET,
        "/admin/v1/tenants/acme/keys",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        keys.body["items"].as_array().unwrap().len(),
        3,
        "{}",
        keys.body
    );
    let rotated = call(
        &app,
        Method::POST,
        "/admin/v1/tenants/acme/keys/rotate",
        Some(&admin),
        Some(json!({"publish_ahead_secs": 3600})),
        None,
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(rotated.body["created"].as_array().unwrap().len(), 3);
    let too_soon = call(
        &app,
        Method::POST,
        "/admin/v1/tenants/acme/keys/rotate",
        Some(&admin),
        Some(json!({"publish_ahead_secs": 5})),
        None,
    )
    .await;
    assert_problem(&too_soon, 400);

    // A tenant's own admin client: its tenant only (service-wide operations know
    // only the admin tenant's tokens: 401; another tenant's: 401; what it may not
    // do to its own tenant: 403).
    let acme_admin = admin_token(&app, &config, Some("acme")).await;
    let own = call(
        &app,
        Method::GET,
        "/admin/v1/tenants/acme/users",
        Some(&acme_admin),
        None,
        None,
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_problem(
        &call(
            &app,
            Method::GET,
            "/admin/v1/tenants",
            Some(&acme_admin),
            None,
            None,
        )
        .await,
        401,
    );
    assert_problem(
        &call(
            &app,
            Method::GET,
            "/admin/v1/tenants/default/users",
            Some(&acme_admin),
            None,
            None,
        )
        .await,
        401,
    );
    assert_problem(
        &call(
            &app,
            Method::PATCH,
            "/admin/v1/tenants/acme",
            Some(&acme_admin),
            Some(json!({"disabled": true})),
            None,
        )
        .await,
        403,
    );

    // Deleting the user; offboarding the tenant (disabled: its issuer answers 403).
    let deleted = call(
        &app,
        Method::DELETE,
        &format!("/admin/v1/tenants/acme/users/{subject}"),
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_problem(
        &call(
            &app,
            Method::GET,
            &format!("/admin/v1/tenants/acme/users/{subject}"),
            Some(&admin),
            None,
            None,
        )
        .await,
        404,
    );
    // A rotated secret: the old one is refused at once; a deleted application too.
    let old = portal.clone();
    let rotated = call(
        &app,
        Method::POST,
        &format!("{app_path}/secret"),
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    portal.client_secret = rotated.body["client_secret"].as_str().map(str::to_owned);
    assert_eq!(
        token(&app, "acme", &old, &[("grant_type", "client_credentials")])
            .await
            .status,
        401
    );
    assert_eq!(
        token(
            &app,
            "acme",
            &portal,
            &[("grant_type", "client_credentials")]
        )
        .await
        .status,
        200
    );
    let removed = call(&app, Method::DELETE, &app_path, Some(&admin), None, None).await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        token(
            &app,
            "acme",
            &portal,
            &[("grant_type", "client_credentials")]
        )
        .await
        .status,
        401
    );
    assert_problem(
        &call(&app, Method::GET, &app_path, Some(&admin), None, None).await,
        404,
    );

    // Offboarding: only a disabled tenant, only by the admin tenant's clients.
    let still_enabled = call(
        &app,
        Method::DELETE,
        "/admin/v1/tenants/acme",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_problem(&still_enabled, 409);
    let off = call(
        &app,
        Method::PATCH,
        "/admin/v1/tenants/acme",
        Some(&admin),
        Some(json!({"disabled": true})),
        None,
    )
    .await;
    assert_eq!(off.body["disabled"], true, "{}", off.body);
    let discovery = app
        .client
        .get(app.url("/t/acme/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 403);
    let by_its_own_admin = call(
        &app,
        Method::DELETE,
        "/admin/v1/tenants/acme",
        Some(&acme_admin),
        None,
        None,
    )
    .await;
    assert!(
        [401, 403].contains(&by_its_own_admin.status),
        "{}",
        by_its_own_admin.body
    );
    let erased = call(
        &app,
        Method::DELETE,
        "/admin/v1/tenants/acme",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert!(
        erased.body["applications"].as_u64().unwrap() >= 1,
        "{}",
        erased.body
    );
    assert!(
        erased.body["access_tokens"].as_u64().unwrap() >= 1,
        "{}",
        erased.body
    );
    assert_problem(
        &call(
            &app,
            Method::GET,
            "/admin/v1/tenants/acme",
            Some(&admin),
            None,
            None,
        )
        .await,
        404,
    );
    let gone = app
        .client
        .get(app.url("/t/acme/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let listed = call(
        &app,
        Method::GET,
        "/admin/v1/tenants",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert!(
        !listed.body.to_string().contains("\"acme\""),
        "{}",
        listed.body
    );
    // The admin tenant itself is kept: its clients administer every tenant.
    let admin_off = call(
        &app,
        Method::PATCH,
        "/admin/v1/tenants/default",
        Some(&admin),
        Some(json!({"disabled": true})),
        None,
    )
    .await;
    assert_eq!(admin_off.status, 200, "{}", admin_off.body);
    let kept = call(
        &app,
        Method::DELETE,
        "/admin/v1/tenants/default",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert_problem(&kept, 409);
    assert!(
        kept.body["detail"]
            .as_str()
            .unwrap()
            .contains("admin tenant"),
        "{}",
        kept.body
    );
    app.stop().await;
}

/// The OpenAPI document: 3.1, every admin route in it with each operation secured,
/// and every route of the route table (protocol endpoints and pages).
#[tokio::test]
async fn the_openapi_document_covers_every_admin_route() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = spawn_app_with(&single_pool_toml(&db.url)).await.unwrap();
    let document: Value = app
        .client
        .get(app.url("/admin/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{document}"
    );
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/admin/v1/tenants", &["get", "post"][..]),
        ("/admin/v1/tenants/{tenant}", &["get", "patch", "delete"]),
        ("/admin/v1/tenants/{tenant}/users", &["get", "post"]),
        (
            "/admin/v1/tenants/{tenant}/users/{user}",
            &["get", "patch", "delete"],
        ),
        (
            "/admin/v1/tenants/{tenant}/users/{user}/authorizations",
            &["get"],
        ),
        (
            "/admin/v1/tenants/{tenant}/users/{user}/authorizations/{client_id}",
            &["delete"],
        ),
        ("/admin/v1/tenants/{tenant}/applications", &["get", "post"]),
        (
            "/admin/v1/tenants/{tenant}/applications/{client_id}",
            &["get", "patch", "delete"],
        ),
        (
            "/admin/v1/tenants/{tenant}/applications/{client_id}/secret",
            &["post"],
        ),
        ("/admin/v1/tenants/{tenant}/keys", &["get"]),
        ("/admin/v1/tenants/{tenant}/keys/rotate", &["post"]),
    ] {
        for method in methods {
            let operation = &paths[path][method];
            assert!(
                operation.is_object(),
                "{method} {path} is not in the document"
            );
            assert_eq!(
                operation["security"][0]["bearer"],
                json!([]),
                "{method} {path}"
            );
        }
    }
    app.stop().await;
}
