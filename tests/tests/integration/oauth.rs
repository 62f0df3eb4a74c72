//! The token endpoint, revocation, introspection and metadata over HTTP, on every
//! backend (issue 3; RFC 6749, RFC 7009, RFC 7662, RFC 8414).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tessera_tests::{
    Answer, Backend, TestApp, TestClient, TestDatabase, basic_header, on_every_backend,
    spawn_app_with,
};

/// Tenants with different OAuth settings, all on one pool of `url`.
fn oauth_toml(url: &str) -> String {
    format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n\
         [tenants.acme]\n[tenants.globex]\n\
         [tenants.graceful.oauth]\nrefresh_token_grace_period_secs = 60\n\
         [tenants.inplace.oauth]\nrotate_refresh_tokens = false\nrefresh_token_idle_secs = 3600\n\
         [tenants.short.oauth]\naccess_token_lifetime_secs = 1\nrefresh_token_lifetime_secs = 1\n\
         [tenants.nopassword.oauth]\nallow_password_grant = false\n"
    )
}

pub(crate) async fn spawn(backend: Backend) -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::create(backend).await?;
    let app = spawn_app_with(&oauth_toml(&db.url)).await.unwrap();
    Some((db, app))
}

pub(crate) async fn token(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    params: &[(&str, &str)],
) -> Answer {
    app.post_form(&format!("/t/{tenant}/token"), Some(client), params)
        .await
}

pub(crate) async fn introspect(
    app: &TestApp,
    tenant: &str,
    caller: &TestClient,
    token: &str,
) -> Value {
    let answer = app
        .post_form(
            &format!("/t/{tenant}/introspect"),
            Some(caller),
            &[("token", token)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

pub(crate) fn string(answer: &Answer, field: &str) -> String {
    answer.body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {}", answer.text))
        .to_owned()
}

pub(crate) fn assert_error(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.error(), error, "{}", answer.text);
    assert!(
        answer.body["error_description"].is_string(),
        "{}",
        answer.text
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

on_every_backend!(
    client_credentials_and_client_authentication,
    request_format_is_strict,
    password_grant,
    refresh_rotation_and_reuse_detection,
    refresh_grace_period_returns_the_same_pair,
    refresh_without_rotation_and_idle_expiry,
    concurrent_refreshes_have_exactly_one_winner,
    revocation,
    introspection,
    tenants_never_accept_each_others_tokens,
    expiry_and_cleartokens,
);

async fn client_credentials_and_client_authentication(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("acme", "svc", true, "client_credentials", "", "")
        .await;

    // client_secret_basic.
    let answer = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["scope"], "read");
    assert!(
        answer.body.get("refresh_token").is_none(),
        "no refresh token (§4.4.3)"
    );
    let access = string(&answer, "access_token");
    assert!(
        access.starts_with("tsa_") && access.len() >= 4 + 43,
        "{access}"
    );
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");

    // client_secret_post, default scopes.
    let post = app
        .post_form(
            "/t/acme/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "svc"),
                ("client_secret", client.client_secret.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(post.status, 200, "{}", post.text);
    assert_eq!(post.body["scope"], "read write");

    // Every authentication failure is the same opaque 401.
    let wrong = TestClient {
        client_id: "svc".into(),
        client_secret: Some("tss_wrong".into()),
    };
    let nul = TestClient {
        client_id: "s\u{0}vc".into(),
        client_secret: client.client_secret.clone(),
    };
    let unknown = TestClient {
        client_id: "nobody".into(),
        client_secret: client.client_secret.clone(),
    };
    let failures = [
        token(
            &app,
            "acme",
            &wrong,
            &[("grant_type", "client_credentials")],
        )
        .await,
        token(
            &app,
            "acme",
            &unknown,
            &[("grant_type", "client_credentials")],
        )
        .await,
        // No secret for a confidential client (method `none`).
        app.post_form(
            "/t/acme/token",
            None,
            &[("grant_type", "client_credentials"), ("client_id", "svc")],
        )
        .await,
        // Two methods at once (RFC 6749 §2.3).
        token(
            &app,
            "acme",
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", client.client_secret.as_deref().unwrap()),
            ],
        )
        .await,
        // No credentials at all.
        app.post_form(
            "/t/acme/token",
            None,
            &[("grant_type", "client_credentials")],
        )
        .await,
        // A NUL byte in the client_id (PostgreSQL would reject it as text).
        token(&app, "acme", &nul, &[("grant_type", "client_credentials")]).await,
    ];
    for failure in &failures {
        assert_error(failure, 401, "invalid_client");
        assert_eq!(
            failure.header("www-authenticate"),
            Some("Basic realm=\"tessera\"")
        );
        assert_eq!(
            failure.text, failures[0].text,
            "failures must be indistinguishable"
        );
    }

    // Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
    let odd = app
        .client("acme", "odd+id%", true, "client_credentials", "", "")
        .await;
    let encoded = token(&app, "acme", &odd, &[("grant_type", "client_credentials")]).await;
    assert_eq!(encoded.status, 200, "{}", encoded.text);
    let raw = app
        .send_form(
            app.client.post(app.url("/t/acme/token")).header(
                "authorization",
                format!(
                    "Basic {}",
                    base64_encode(&format!(
                        "odd+id%:{}",
                        odd.client_secret.as_deref().unwrap()
                    ))
                ),
            ),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_error(&raw, 401, "invalid_client");

    // A public client cannot use client credentials; a grant the client lacks is
    // unauthorized_client; an unknown grant type is unsupported_grant_type.
    let public = app
        .client("acme", "spa", false, "refresh_token", "", "")
        .await;
    let answer = app
        .post_form(
            "/t/acme/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &public.client_id),
            ],
        )
        .await;
    assert_error(&answer, 400, "unauthorized_client");
    let answer = token(
        &app,
        "acme",
        &client,
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ],
    )
    .await;
    assert_error(&answer, 400, "unauthorized_client");
    let answer = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "urn:example:magic")],
    )
    .await;
    assert_error(&answer, 400, "unsupported_grant_type");

    // Scopes: unknown, or outside the client's allowed list.
    let answer = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_error(&answer, 400, "invalid_scope");
    let narrow = app
        .client("acme", "narrow", true, "client_credentials", "read", "")
        .await;
    let answer = token(
        &app,
        "acme",
        &narrow,
        &[("grant_type", "client_credentials"), ("scope", "write")],
    )
    .await;
    assert_error(&answer, 400, "invalid_scope");
    let answer = token(
        &app,
        "acme",
        &narrow,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        answer.body["scope"], "read",
        "defaults are cut to what the client may have"
    );
    app.stop().await;
}

fn base64_encode(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

async fn request_format_is_strict(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("acme", "svc", true, "client_credentials", "", "")
        .await;
    let auth = basic_header(&client.client_id, client.client_secret.as_deref().unwrap());

    // JSON instead of a form.
    let response = app
        .client
        .post(app.url("/t/acme/token"))
        .header("authorization", &auth)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_error(&Answer::read(response).await, 400, "invalid_request");
    // A repeated parameter.
    let response = app
        .client
        .post(app.url("/t/acme/token"))
        .header("authorization", &auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=read&scope=write")
        .send()
        .await
        .unwrap();
    assert_error(&Answer::read(response).await, 400, "invalid_request");
    // Missing grant_type.
    let answer = token(&app, "acme", &client, &[("scope", "read")]).await;
    assert_error(&answer, 400, "invalid_request");
    // Too large a body.
    let response = app
        .client
        .post(app.url("/t/acme/token"))
        .header("authorization", &auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}",
            "a".repeat(200_000)
        ))
        .send()
        .await
        .unwrap();
    let too_large = Answer::read(response).await;
    assert_error(&too_large, 413, "invalid_request");
    // The server may not have read the body: it closes, and says so, so a
    // keep-alive client does not write its next request into a dead connection.
    assert_eq!(too_large.header("connection"), Some("close"));
    // A value that is not UTF-8 after percent-decoding.
    let response = app
        .client
        .post(app.url("/t/acme/token"))
        .header("authorization", &auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=%FF")
        .send()
        .await
        .unwrap();
    assert_error(&Answer::read(response).await, 400, "invalid_request");
    // A wrong method: 405 with Allow (RFC 9110 §15.5.6), on tenant and service routes.
    for (method, path, allow) in [
        (reqwest::Method::GET, "/t/acme/token", "POST, OPTIONS"),
        (reqwest::Method::PUT, "/t/acme/revoke", "POST, OPTIONS"),
        (reqwest::Method::POST, "/healthz", "GET,HEAD"),
    ] {
        let answer = Answer::read(
            app.client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 405, "{method} {path}: {}", answer.text);
        assert_eq!(answer.error(), "invalid_request", "{}", answer.text);
        assert_eq!(
            answer.header("allow").map(|allow| allow.replace(' ', "")),
            Some(allow.replace(' ', "")),
            "{method} {path}"
        );
    }
    // A charset parameter on the content type is fine.
    let response = app
        .client
        .post(app.url("/t/acme/token"))
        .header("authorization", &auth)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Unknown tenant.
    let answer = token(
        &app,
        "nowhere",
        &client,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(answer.status, 404);
    app.stop().await;
}

async fn password_grant(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("acme", "web", true, "password,refresh_token", "", "")
        .await;
    let user_id = app.user("acme", "alice", "correct horse").await;

    let answer = alice_password_grant(&app, "acme", &client, "correct horse", None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(string(&answer, "refresh_token").starts_with("tsr_"));
    let described = introspect(&app, "acme", &client, &string(&answer, "access_token")).await;
    assert_eq!(described["username"], "alice");
    // `sub` is the stored, opaque subject (the ID token's), never the row id.
    assert_eq!(described["sub"], app.subject("acme", user_id).await);
    assert_ne!(described["sub"], user_id.to_string());

    for (username, password) in [("alice", "wrong"), ("mallory", "correct horse")] {
        let answer = token(
            &app,
            "acme",
            &client,
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
        assert_error(&answer, 400, "invalid_grant");
    }
    let answer = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "password"), ("username", "alice")],
    )
    .await;
    assert_error(&answer, 400, "invalid_request");

    // Without the refresh_token grant, no refresh token.
    let only_password = app.client("acme", "cli", true, "password", "", "").await;
    let answer = token(
        &app,
        "acme",
        &only_password,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.body.get("refresh_token").is_none());

    // A tenant can forbid the grant outright, and says so in its metadata.
    let forbidden = app
        .client("nopassword", "web", true, "password", "", "")
        .await;
    app.user("nopassword", "alice", "correct horse").await;
    let answer = token(
        &app,
        "nopassword",
        &forbidden,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "correct horse"),
        ],
    )
    .await;
    assert_error(&answer, 400, "unsupported_grant_type");
    let metadata: Value = app
        .client
        .get(app.url("/t/nopassword/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("password"))
    );
    let metadata: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server/t/acme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], app.url("/t/acme"));
    assert_eq!(metadata["token_endpoint"], app.url("/t/acme/token"));
    assert_eq!(metadata["revocation_endpoint"], app.url("/t/acme/revoke"));
    assert_eq!(
        metadata["introspection_endpoint"],
        app.url("/t/acme/introspect")
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "authorization_code",
            "implicit",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
            "password"
        ])
    );
    let same: Value = app
        .client
        .get(app.url("/t/acme/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata, same);
    app.stop().await;
}

/// alice's password grant (RFC 6749 §4.3) with `password`, for `scope` (`None`: the
/// client's default).
pub(crate) async fn alice_password_grant(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    password: &str,
    scope: Option<&str>,
) -> Answer {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", password),
    ];
    form.extend(scope.map(|scope| ("scope", scope)));
    token(app, tenant, client, &form).await
}

/// A password-grant pair for alice, with `client`.
pub(crate) async fn pair(app: &TestApp, tenant: &str, client: &TestClient) -> (String, String) {
    let answer = alice_password_grant(app, tenant, client, "pw", None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    (
        string(&answer, "access_token"),
        string(&answer, "refresh_token"),
    )
}

pub(crate) async fn refresh(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> Answer {
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    token(app, tenant, client, &params).await
}

async fn refresh_rotation_and_reuse_detection(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("acme", "web", true, "password,refresh_token", "", "")
        .await;
    let other = app
        .client("acme", "other", true, "password,refresh_token", "", "")
        .await;
    app.user("acme", "alice", "pw").await;
    let (first_access, first_refresh) = pair(&app, "acme", &client).await;

    // Bound to its client.
    assert_error(
        &refresh(&app, "acme", &other, &first_refresh, None).await,
        400,
        "invalid_grant",
    );

    // Rotation narrows the access token's scope, never the refresh token's.
    let rotated = refresh(&app, "acme", &client, &first_refresh, Some("read")).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.body["scope"], "read");
    let second_refresh = string(&rotated, "refresh_token");
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        introspect(&app, "acme", &client, &first_access).await,
        json!({"active": false})
    );
    assert_error(
        &refresh(&app, "acme", &client, &second_refresh, Some("read admin")).await,
        400,
        "invalid_scope",
    );
    let widened_back = refresh(&app, "acme", &client, &second_refresh, Some("read write")).await;
    assert_eq!(widened_back.status, 200, "{}", widened_back.text);
    let third_access = string(&widened_back, "access_token");
    let third_refresh = string(&widened_back, "refresh_token");
    assert_eq!(
        introspect(&app, "acme", &client, &third_access).await["active"],
        true
    );

    // Replaying a rotated token revokes the whole family, newest tokens included.
    assert_error(
        &refresh(&app, "acme", &client, &first_refresh, None).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        introspect(&app, "acme", &client, &third_access).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, "acme", &client, &third_refresh).await,
        json!({"active": false})
    );
    assert_error(
        &refresh(&app, "acme", &client, &third_refresh, None).await,
        400,
        "invalid_grant",
    );

    // Another family of the same user is untouched.
    let (_, untouched) = pair(&app, "acme", &client).await;
    assert_eq!(
        refresh(&app, "acme", &client, &untouched, None)
            .await
            .status,
        200
    );
    assert_error(
        &refresh(&app, "acme", &client, "tsr_unknown", None).await,
        400,
        "invalid_grant",
    );
    app.stop().await;
}

async fn refresh_grace_period_returns_the_same_pair(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("graceful", "web", true, "password,refresh_token", "", "")
        .await;
    app.user("graceful", "alice", "pw").await;
    let (_, first) = pair(&app, "graceful", &client).await;

    let rotated = refresh(&app, "graceful", &client, &first, None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    // A retry within the grace period gets exactly the same pair (DOT #1617).
    let retried = refresh(&app, "graceful", &client, &first, None).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.body["access_token"], rotated.body["access_token"]);
    assert_eq!(retried.body["refresh_token"], rotated.body["refresh_token"]);

    // Only the immediate predecessor: once the successor rotated, the first token is reuse.
    let second = string(&rotated, "refresh_token");
    let third = refresh(&app, "graceful", &client, &second, None).await;
    assert_eq!(third.status, 200, "{}", third.text);
    assert_error(
        &refresh(&app, "graceful", &client, &first, None).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        introspect(&app, "graceful", &client, &string(&third, "access_token")).await,
        json!({"active": false}),
        "reuse outside the grace rule revokes the family"
    );
    app.stop().await;
}

async fn refresh_without_rotation_and_idle_expiry(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("inplace", "web", true, "password,refresh_token", "", "")
        .await;
    app.user("inplace", "alice", "pw").await;
    let (mut previous_access, refresh_token) = pair(&app, "inplace", &client).await;
    for _ in 0..2 {
        let answer = refresh(&app, "inplace", &client, &refresh_token, None).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(
            answer.body["refresh_token"],
            refresh_token.as_str(),
            "not rotated"
        );
        // As in DOT, the previous access token of the refresh token stops working.
        assert_eq!(
            introspect(&app, "inplace", &client, &previous_access).await,
            json!({"active": false})
        );
        previous_access = string(&answer, "access_token");
        assert_eq!(
            introspect(&app, "inplace", &client, &previous_access).await["active"],
            true
        );
    }
    // Idle for longer than refresh_token_idle_secs (an hour): its last use moved back
    // in the database.
    let (tenant, db) = app
        .pool("inplace", router_policies::EntityGroup::Tokens)
        .await;
    entity::refresh_token::Entity::update_many()
        .set(entity::refresh_token::ActiveModel {
            last_used_at: sea_orm::ActiveValue::Set(Some(
                tessera::time::now() - time::Duration::hours(2),
            )),
            created_at: sea_orm::ActiveValue::Set(tessera::time::now() - time::Duration::hours(2)),
            ..Default::default()
        })
        .filter(entity::refresh_token::Column::TenantId.eq(tenant.id))
        .exec(db)
        .await
        .unwrap();
    assert_error(
        &refresh(&app, "inplace", &client, &refresh_token, None).await,
        400,
        "invalid_grant",
    );
    app.stop().await;
}

async fn concurrent_refreshes_have_exactly_one_winner(backend: Backend) {
    const CONCURRENT: usize = 10;
    const ROUNDS: usize = 50;
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client(
            "acme",
            "web",
            true,
            "client_credentials,password,refresh_token",
            "",
            "",
        )
        .await;
    app.user("acme", "alice", "pw").await;
    for round in 0..ROUNDS {
        let (_, refresh_token) = pair(&app, "acme", &client).await;
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENT {
            let (http, url, auth, token) = (
                app.client.clone(),
                app.url("/t/acme/token"),
                basic_header(&client.client_id, client.client_secret.as_deref().unwrap()),
                refresh_token.clone(),
            );
            requests.spawn(async move {
                let response = http
                    .post(url)
                    .header("authorization", auth)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("grant_type=refresh_token&refresh_token={token}"))
                    .send()
                    .await
                    .unwrap();
                Answer::read(response).await
            });
        }
        let answers = requests.join_all().await;
        let winners = answers.iter().filter(|answer| answer.status == 200).count();
        assert_eq!(
            winners,
            1,
            "round {round}: {:?}",
            answers.iter().map(|a| &a.text).collect::<Vec<_>>()
        );
        for answer in answers.iter().filter(|answer| answer.status != 200) {
            assert_error(answer, 400, "invalid_grant");
        }
    }
    app.stop().await;
}

async fn revocation(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client(
            "acme",
            "web",
            true,
            "password,refresh_token,client_credentials",
            "",
            "",
        )
        .await;
    let other = app
        .client("acme", "other", true, "client_credentials", "", "")
        .await;
    let public = app
        .client("acme", "spa", false, "refresh_token", "", "")
        .await;
    app.user("acme", "alice", "pw").await;
    let revoke = |caller: &TestClient, params: Vec<(&'static str, String)>| {
        let caller = caller.clone();
        let app = &app;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/t/acme/revoke", Some(&caller), &params)
                .await
        }
    };

    // An access token; the hint is never trusted.
    let (access, refresh_token) = pair(&app, "acme", &client).await;
    let answer = revoke(
        &client,
        vec![
            ("token", access.clone()),
            ("token_type_hint", "refresh_token".into()),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        introspect(&app, "acme", &client, &access).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, "acme", &client, &refresh_token).await["active"],
        true
    );

    // A refresh token revokes its grant's access tokens too.
    let rotated = refresh(&app, "acme", &client, &refresh_token, None).await;
    let (new_access, new_refresh) = (
        string(&rotated, "access_token"),
        string(&rotated, "refresh_token"),
    );
    assert_eq!(
        revoke(&client, vec![("token", new_refresh.clone())])
            .await
            .status,
        200
    );
    assert_eq!(
        introspect(&app, "acme", &client, &new_access).await,
        json!({"active": false})
    );
    assert_error(
        &refresh(&app, "acme", &client, &new_refresh, None).await,
        400,
        "invalid_grant",
    );

    // Refresh tokens are described only to the client holding them (RFC 7662 §4).
    let (_, live_refresh) = pair(&app, "acme", &client).await;
    assert_eq!(
        introspect(&app, "acme", &client, &live_refresh).await["token_type"],
        "refresh_token"
    );
    assert_eq!(
        introspect(&app, "acme", &other, &live_refresh).await,
        json!({"active": false})
    );

    // Unknown tokens are fine; another client's tokens are left alone.
    assert_eq!(
        revoke(&client, vec![("token", "tsa_nothing".into())])
            .await
            .status,
        200
    );
    let others = string(
        &token(
            &app,
            "acme",
            &other,
            &[("grant_type", "client_credentials")],
        )
        .await,
        "access_token",
    );
    assert_eq!(
        revoke(&client, vec![("token", others.clone())])
            .await
            .status,
        200
    );
    assert_eq!(
        introspect(&app, "acme", &other, &others).await["active"],
        true,
        "revoking another client's token changed nothing"
    );
    // A public client revokes with its client_id only, in the body or as Basic with an
    // empty password.
    let answer = app
        .post_form(
            "/t/acme/revoke",
            None,
            &[("token", "tsa_x"), ("client_id", &public.client_id)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = app
        .post_form("/t/acme/revoke", Some(&public), &[("token", "tsa_x")])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    // Errors: no token, no client.
    assert_error(&revoke(&client, vec![]).await, 400, "invalid_request");
    let answer = app
        .post_form("/t/acme/revoke", None, &[("token", &others)])
        .await;
    assert_error(&answer, 401, "invalid_client");
    assert_eq!(
        introspect(&app, "acme", &other, &others).await["active"],
        true,
        "revoking another client's token changed nothing"
    );
    app.stop().await;
}

async fn introspection(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client(
            "acme",
            "svc",
            true,
            "client_credentials",
            "read write introspection",
            "https://app.example",
        )
        .await;
    // The introspection scope goes only to clients that list it.
    let plain = app
        .client("acme", "plain", true, "client_credentials", "", "")
        .await;
    let answer = token(
        &app,
        "acme",
        &plain,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "introspection"),
        ],
    )
    .await;
    assert_error(&answer, 400, "invalid_scope");
    let public = app
        .client("acme", "spa", false, "refresh_token", "", "")
        .await;
    let answer = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    let access = string(&answer, "access_token");

    let described = introspect(&app, "acme", &client, &access).await;
    assert_eq!(described["active"], true);
    assert_eq!(described["scope"], "read");
    assert_eq!(described["client_id"], "svc");
    assert_eq!(described["sub"], "svc");
    assert_eq!(described["token_type"], "Bearer");
    assert_eq!(described["iss"], app.url("/t/acme"));
    let (exp, iat) = (
        described["exp"].as_i64().unwrap(),
        described["iat"].as_i64().unwrap(),
    );
    assert!((3590..=3601).contains(&(exp - iat)), "{described}");
    assert!(described.get("username").is_none());
    // RFC 7662 §4: a client without the introspection scope learns about its own
    // tokens only; another's token is inactive to it, whatever it is.
    let own = string(
        &token(
            &app,
            "acme",
            &plain,
            &[("grant_type", "client_credentials")],
        )
        .await,
        "access_token",
    );
    assert_eq!(introspect(&app, "acme", &plain, &own).await["active"], true);
    assert_eq!(
        introspect(&app, "acme", &plain, &access).await,
        serde_json::json!({"active": false}),
        "another client's token"
    );
    assert_eq!(
        introspect(&app, "acme", &client, &own).await["active"],
        true,
        "a client listing introspection sees every token of the tenant"
    );

    // Bearer authorization needs the introspection scope (RFC 7662 §2.1, RFC 6750 §3.1).
    let bearer = string(
        &token(
            &app,
            "acme",
            &client,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "introspection"),
            ],
        )
        .await,
        "access_token",
    );
    let with_bearer = |bearer: String| {
        app.client
            .post(app.url("/t/acme/introspect"))
            .header("authorization", format!("Bearer {bearer}"))
    };
    let answer = app
        .send_form(with_bearer(bearer.clone()), &[("token", &access)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["active"], true);
    let answer = app
        .send_form(with_bearer(access.clone()), &[("token", &access)])
        .await;
    assert_error(&answer, 403, "insufficient_scope");
    let answer = app
        .send_form(with_bearer("tsa_forged".into()), &[("token", &access)])
        .await;
    assert_error(&answer, 401, "invalid_token");
    // Public clients cannot introspect; unauthenticated callers neither.
    let answer = app
        .post_form(
            "/t/acme/introspect",
            None,
            &[("token", &access), ("client_id", &public.client_id)],
        )
        .await;
    assert_error(&answer, 401, "invalid_client");
    let answer = app
        .post_form("/t/acme/introspect", None, &[("token", &access)])
        .await;
    assert_error(&answer, 401, "invalid_client");
    // Unknown: exactly {"active": false}.
    let answer = app
        .post_form(
            "/t/acme/introspect",
            Some(&client),
            &[("token", "tsa_unknown")],
        )
        .await;
    assert_eq!(answer.text, r#"{"active":false}"#);
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    // CORS: preflight and response headers for the client's allowed origin only.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/t/acme/token"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://app.example"
    );
    // Pattern characters match nothing but themselves: the lookup is exact.
    for origin in [
        "https://evil.example",
        "%",
        "https://app.exampl_",
        "https://app.example%",
    ] {
        let denied = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/t/acme/introspect"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert!(
            denied
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin}"
        );
    }
    let answer = app
        .send_form(
            app.client
                .post(app.url("/t/acme/token"))
                .header("origin", "https://app.example")
                .header(
                    "authorization",
                    basic_header("svc", client.client_secret.as_deref().unwrap()),
                ),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let answer = app
        .send_form(
            app.client
                .post(app.url("/t/acme/token"))
                .header("origin", "https://evil.example")
                .header(
                    "authorization",
                    basic_header("svc", client.client_secret.as_deref().unwrap()),
                ),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), None);
    app.stop().await;
}

async fn tenants_never_accept_each_others_tokens(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    // The same client_id (and username) in two tenants.
    let acme = app
        .client(
            "acme",
            "shared",
            true,
            "client_credentials,password,refresh_token",
            "",
            "",
        )
        .await;
    let globex = app
        .client(
            "globex",
            "shared",
            true,
            "client_credentials,password,refresh_token",
            "",
            "",
        )
        .await;
    app.user("acme", "alice", "pw").await;
    app.user("globex", "alice", "pw").await;
    let (access, refresh_token) = pair(&app, "acme", &acme).await;

    // Token endpoint: acme's refresh token means nothing to globex.
    assert_error(
        &refresh(&app, "globex", &globex, &refresh_token, None).await,
        400,
        "invalid_grant",
    );
    // Introspection: inactive at globex, active at acme.
    assert_eq!(
        introspect(&app, "globex", &globex, &access).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, "globex", &globex, &refresh_token).await,
        json!({"active": false})
    );
    // Revocation at globex changes nothing at acme.
    let answer = app
        .post_form("/t/globex/revoke", Some(&globex), &[("token", &access)])
        .await;
    assert_eq!(answer.status, 200);
    let answer = app
        .post_form(
            "/t/globex/revoke",
            Some(&globex),
            &[("token", &refresh_token)],
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        introspect(&app, "acme", &acme, &access).await["active"],
        true
    );
    assert_eq!(
        refresh(&app, "acme", &acme, &refresh_token, None)
            .await
            .status,
        200
    );
    // Credentials of acme's "shared" do not authenticate globex's "shared".
    let answer = token(
        &app,
        "globex",
        &acme,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_error(&answer, 401, "invalid_client");
    app.stop().await;
}

async fn expiry_and_cleartokens(backend: Backend) {
    let Some((db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client(
            "short",
            "web",
            true,
            "password,refresh_token,client_credentials",
            "",
            "",
        )
        .await;
    app.user("short", "alice", "pw").await;
    let (access, refresh_token) = pair(&app, "short", &client).await;
    let (_, revoked_refresh) = pair(&app, "short", &client).await;
    assert_eq!(
        app.post_form(
            "/t/short/revoke",
            Some(&client),
            &[("token", &revoked_refresh)]
        )
        .await
        .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        introspect(&app, "short", &client, &access).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, "short", &client, &refresh_token).await,
        json!({"active": false})
    );
    assert_error(
        &refresh(&app, "short", &client, &refresh_token, None).await,
        400,
        "invalid_grant",
    );
    // A live token in another tenant must survive the clean-up.
    let keeper = app
        .client("acme", "svc", true, "client_credentials", "", "")
        .await;
    let kept = string(
        &token(
            &app,
            "acme",
            &keeper,
            &[("grant_type", "client_credentials")],
        )
        .await,
        "access_token",
    );

    let (_dir, path) = tessera_tests::config_file(&oauth_toml(&db.url));
    // Batches of one row with a pause after each full batch (DOT's
    // CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL): four rows go, so at least four pauses.
    let started = std::time::Instant::now();
    let run = tessera_tests::run_cli(
        &[
            "--config",
            &path,
            "cleartokens",
            "--batch-size",
            "1",
            "--batch-interval-ms",
            "500",
            "--json",
        ],
        "",
    )
    .await;
    assert_eq!(run.code(), 0, "{}", run.message());
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(4 * 500),
        "four full batches, each followed by a 500 ms pause, took {took:?}"
    );
    let reports: Value = serde_json::from_str(&run.stdout).unwrap();
    let report = &reports[0];
    assert_eq!(report["pool"], "default");
    assert_eq!(report["access_tokens"], 2, "{reports}");
    assert_eq!(report["refresh_tokens"], 2, "{reports}");
    assert_eq!(
        introspect(&app, "acme", &keeper, &kept).await["active"],
        true
    );
    let again = tessera_tests::run_cli(&["--config", &path, "cleartokens"], "").await;
    assert_eq!(again.code(), 0, "{}", again.message());
    assert!(again.stdout.contains("pool default:"), "{}", again.stdout);
    assert!(
        again
            .stdout
            .contains("removed 0 access token(s), 0 refresh token(s)"),
        "{}",
        again.stdout
    );
    app.stop().await;
}

on_every_backend!(revocation_is_visible_on_every_node_at_once);

/// DESIGN §5: a revocation that returned 200 is visible on every node at once. Two
/// nodes share the databases; node A revokes, node B must see it on its very next
/// request (token state is never cached).
async fn revocation_is_visible_on_every_node_at_once(backend: Backend) {
    let Some((db, node_a)) = spawn(backend).await else {
        return;
    };
    let node_b = spawn_app_with(&oauth_toml(&db.url)).await.unwrap();
    let client = node_a
        .client(
            "acme",
            "web",
            true,
            "client_credentials,password,refresh_token",
            "",
            "",
        )
        .await;
    node_a.user("acme", "alice", "pw").await;
    // Both nodes have read (and cached) the client.
    let access = string(
        &token(
            &node_a,
            "acme",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .await,
        "access_token",
    );
    assert_eq!(
        introspect(&node_b, "acme", &client, &access).await["active"],
        true
    );
    let (family_access, family_refresh) = pair(&node_b, "acme", &client).await;

    let answer = node_a
        .post_form("/t/acme/revoke", Some(&client), &[("token", &access)])
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        introspect(&node_b, "acme", &client, &access).await,
        json!({"active": false})
    );

    let answer = node_b
        .post_form(
            "/t/acme/revoke",
            Some(&client),
            &[("token", &family_refresh)],
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        introspect(&node_a, "acme", &client, &family_access).await,
        json!({"active": false})
    );
    assert_error(
        &refresh(&node_a, "acme", &client, &family_refresh, None).await,
        400,
        "invalid_grant",
    );
    node_a.stop().await;
    node_b.stop().await;
}
