//! Dynamic client registration (RFC 7591) and the client configuration endpoint
//! (RFC 7592) over HTTP, as a client library drives them: discovery's
//! `registration_endpoint`, a registration, the code flow with the new client, the
//! registration read, replaced and deleted with its registration access token; the
//! tenant's policy (grant types, redirect URI schemes, no skipped consent, no
//! privileged scope, operator-only fields), software statements (trusted, unknown,
//! tampered), initial access tokens and the per-address limit.

use reqwest::Method;
use serde_json::{Value, json};
use tessera::jose::{jwk, jws};
use tessera_tests::{
    Answer, Backend, Browser, Registration, TestApp, TestClient, TestDatabase, on_every_backend,
    spawn_app_with, unescape_html,
};

use crate::browser_flows::{REDIRECT, VERIFIER, authorize};
use crate::oauth::{assert_error, string, token};
use crate::openid_connect::{authenticate, request};

on_every_backend!(clients_register_themselves_under_the_tenants_policy);

const STATEMENT_ISSUER: &str = "https://statements.example";

fn registration_toml(url: &str, trusted_jwk: &str) -> String {
    format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n\
         [tenants.closed]\n[tenants.open.oauth]\ndynamic_registration = \"open\"\n\
         max_registrations_per_address = 30\n\
         software_statement_issuers = {{ \"{STATEMENT_ISSUER}\" = '{trusted_jwk}' }}\n\
         [tenants.open.applications.fields.logo_uri]\ntype = \"url\"\n\
         write = \"registration\"\nvisibility = \"public\"\n\
         [tenants.open.applications.fields.tier]\ntype = \"string\"\n\
         [tenants.partners.oauth]\ndynamic_registration = \"initial_access_token\"\n\
         registration_grant_types = [\"client_credentials\"]\n"
    )
}

/// A software statement (RFC 7591 §2.3) of `claims` signed with `key` (EdDSA).
fn statement(key: &jwk::PrivateKey, claims: &Value) -> String {
    let header = jws::Header {
        alg: "EdDSA",
        typ: "JWT",
        kid: None,
    };
    let input = jws::signing_input(&header, claims).unwrap();
    let signature = key.sign(input.as_bytes()).unwrap();
    jws::compact(input, &signature)
}

async fn register(app: &TestApp, tenant: &str, bearer: Option<&str>, metadata: Value) -> Answer {
    app.send_json(
        Method::POST,
        &format!("/t/{tenant}/register"),
        bearer,
        Some(&metadata),
        &[],
    )
    .await
}

/// The path of a registration client URI.
fn path_of(app: &TestApp, uri: &str) -> String {
    uri.strip_prefix(&app.url(""))
        .unwrap_or_else(|| panic!("{uri} is not on this server"))
        .to_owned()
}

async fn clients_register_themselves_under_the_tenants_policy(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let statement_key = jwk::generate(jwk::SigningAlgorithm::EdDsa).unwrap().private;
    let trusted = Value::Object(statement_key.public_members()).to_string();
    let app = spawn_app_with(&registration_toml(&db.url, &trusted))
        .await
        .unwrap();
    app.user("open", "alice", "correct horse").await;

    // Discovery advertises the endpoint where registration is on (RFC 8414 §2).
    let discovery = |tenant: &'static str| {
        let app = &app;
        async move {
            app.send_json(
                Method::GET,
                &format!("/t/{tenant}/.well-known/openid-configuration"),
                None,
                None,
                &[],
            )
            .await
        }
    };
    let open = discovery("open").await;
    assert_eq!(
        string(&open, "registration_endpoint"),
        app.url("/t/open/register")
    );
    assert!(discovery("closed").await.body["registration_endpoint"].is_null());
    let closed = register(&app, "closed", None, json!({"redirect_uris": [REDIRECT]})).await;
    assert_error(&closed, 403, "access_denied");

    // A confidential client registers (RFC 7591 §3.1); members it does not know
    // (contacts) are ignored, the tenant's registration field is kept.
    let created = register(
        &app,
        "open",
        None,
        json!({
            "redirect_uris": [REDIRECT],
            "client_name": "App Photo",
            "client_uri": "https://app.example",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
            "scope": "openid profile read",
            "logo_uri": "https://app.example/logo.png",
            "contacts": ["ops@app.example"],
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let client = TestClient {
        client_id: string(&created, "client_id"),
        client_secret: Some(string(&created, "client_secret")),
    };
    let registration_token = string(&created, "registration_access_token");
    let client_uri = string(&created, "registration_client_uri");
    assert_eq!(
        client_uri,
        app.url(&format!("/t/open/register/{}", client.client_id))
    );
    assert_eq!(created.body["client_secret_expires_at"], 0);
    assert!(created.body["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(created.body["client_name"], "App Photo");
    assert_eq!(created.body["logo_uri"], "https://app.example/logo.png");
    assert_eq!(created.body["scope"], "openid profile read");
    assert_eq!(created.body["response_types"], json!(["code"]));
    assert!(created.body["contacts"].is_null(), "{}", created.text);

    // It signs a user in with the code flow, authenticating as it registered
    // (client_secret_post): HTTP Basic is refused for it.
    let back = authenticate(&app, "open", &request(&client, "openid read", &[])).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", back["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let basic = token(&app, "open", &client, &exchange).await;
    assert_error(&basic, 401, "invalid_client");
    let mut posted = exchange.to_vec();
    let secret = client.client_secret.clone().unwrap();
    posted.extend([
        ("client_id", client.client_id.as_str()),
        ("client_secret", &secret),
    ]);
    let tokens = app.post_form("/t/open/token", None, &posted).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert!(tokens.body["id_token"].is_string());
    let access_token = string(&tokens, "access_token");

    // A sign-in page opened in another browser says "start again" and links back
    // to the application's registered home page (client_uri).
    let mut first_browser = Browser::new(&app.address);
    let to_login = authorize(
        &mut first_browser,
        "open",
        &request(&client, "openid read", &[]),
    )
    .await;
    let login_page = to_login.location().unwrap().to_owned();
    let elsewhere = Browser::new(&app.address).get(&login_page).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(elsewhere.body.contains("Start again"), "{}", elsewhere.body);
    assert!(
        unescape_html(&elsewhere.body).contains("href=\"https://app.example\">Back to App Photo"),
        "{}",
        elsewhere.body
    );

    // RFC 7592 §2.1: the registration, read with its token; anything else is 401.
    let path = path_of(&app, &client_uri);
    let read = app
        .send_json(Method::GET, &path, Some(&registration_token), None, &[])
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["client_name"], "App Photo");
    assert_eq!(
        read.body["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert_eq!(read.body["registration_client_uri"], client_uri.as_str());
    assert!(read.body["client_secret"].is_null(), "shown once only");
    for bearer in [None, Some("tsm_wrong"), Some(access_token.as_str())] {
        let refused = app.send_json(Method::GET, &path, bearer, None, &[]).await;
        assert_error(&refused, 401, "invalid_token");
        assert!(
            refused
                .header("www-authenticate")
                .is_some_and(|challenge| challenge.starts_with("Bearer")),
            "{:?}",
            refused.headers
        );
    }

    // RFC 7592 §2.2: a replacement; members left out are removed.
    let replacement = json!({
        "client_id": client.client_id,
        "redirect_uris": [REDIRECT, "https://app.example/other"],
        "client_name": "App Photo 2",
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "openid",
        "registration_access_token": registration_token,
    });
    let replaced = app
        .send_json(
            Method::PUT,
            &path,
            Some(&registration_token),
            Some(&replacement),
            &[],
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["client_name"], "App Photo 2");
    assert_eq!(replaced.body["redirect_uris"].as_array().unwrap().len(), 2);
    assert!(replaced.body["logo_uri"].is_null(), "{}", replaced.text);
    assert!(replaced.body["client_uri"].is_null(), "{}", replaced.text);
    // What a client read it may send back as it is (RFC 7592 §2.2): the members only
    // the server sets are ignored.
    let echoed = app
        .send_json(Method::GET, &path, Some(&registration_token), None, &[])
        .await;
    let round_trip = app
        .send_json(
            Method::PUT,
            &path,
            Some(&registration_token),
            Some(&echoed.body),
            &[],
        )
        .await;
    assert_eq!(round_trip.status, 200, "{}", round_trip.text);
    assert_eq!(round_trip.body, echoed.body);
    let mut chosen_secret = replacement.clone();
    chosen_secret["client_secret"] = json!("my-own-secret");
    let refused = app
        .send_json(
            Method::PUT,
            &path,
            Some(&registration_token),
            Some(&chosen_secret),
            &[],
        )
        .await;
    assert_error(&refused, 400, "invalid_client_metadata");
    let mut turned_public = replacement.clone();
    turned_public["token_endpoint_auth_method"] = json!("none");
    let refused = app
        .send_json(
            Method::PUT,
            &path,
            Some(&registration_token),
            Some(&turned_public),
            &[],
        )
        .await;
    assert_error(&refused, 400, "invalid_client_metadata");
    let mut other_id = replacement.clone();
    other_id["client_id"] = json!("someone-else");
    let refused = app
        .send_json(
            Method::PUT,
            &path,
            Some(&registration_token),
            Some(&other_id),
            &[],
        )
        .await;
    assert_error(&refused, 400, "invalid_request");

    // The tenant's policy (RFC 7591 §3.2.2 codes).
    for (metadata, error) in [
        (
            json!({"redirect_uris": [REDIRECT], "skip_authorization": true}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "openid introspection"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "tessera:admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "tessera:register"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "tier": "gold"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "logo_uri": "http://app.example/logo.png"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT], "software_statement": "not-a-jwt"}),
            "invalid_software_statement",
        ),
    ] {
        let refused = register(&app, "open", None, metadata.clone()).await;
        assert_error(&refused, 400, error);
        assert!(
            refused.body["error_description"]
                .as_str()
                .is_some_and(|text| text.len() > 10),
            "{metadata}: {}",
            refused.text
        );
    }
    let not_json = app
        .client
        .post(app.url("/t/open/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    // Software statements: a trusted issuer's claims win over the plain members
    // (RFC 7591 §2.3); an unknown issuer or a tampered one is refused.
    let claims = json!({
        "iss": STATEMENT_ISSUER,
        "software_id": "photo-suite",
        "client_name": "Certified photo app",
        "redirect_uris": [REDIRECT],
    });
    let signed = statement(&statement_key, &claims);
    let certified = register(
        &app,
        "open",
        None,
        json!({"client_name": "Self-named", "software_statement": signed}),
    )
    .await;
    assert_eq!(certified.status, 201, "{}", certified.text);
    assert_eq!(certified.body["client_name"], "Certified photo app");
    let stranger = jwk::generate(jwk::SigningAlgorithm::EdDsa).unwrap().private;
    let mut unknown_claims = claims.clone();
    unknown_claims["iss"] = json!("https://unknown.example");
    let unknown = register(
        &app,
        "open",
        None,
        json!({"software_statement": statement(&stranger, &unknown_claims)}),
    )
    .await;
    assert_error(&unknown, 400, "unapproved_software_statement");
    let forged = register(
        &app,
        "open",
        None,
        json!({"software_statement": statement(&stranger, &claims)}),
    )
    .await;
    assert_error(&forged, 400, "invalid_software_statement");

    // A public client (RFC 7591 §2 `none`): no secret.
    let public = register(
        &app,
        "open",
        None,
        json!({"redirect_uris": ["http://127.0.0.1:8765/callback"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(public.status, 201, "{}", public.text);
    assert!(public.body["client_secret"].is_null());
    assert!(public.body["client_secret_expires_at"].is_null());
    assert_eq!(public.body["client_name"], "127.0.0.1");

    // RFC 7592 §2.3: deleted, the client and its tokens are gone.
    let deleted = app
        .send_json(Method::DELETE, &path, Some(&registration_token), None, &[])
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = app
        .send_json(Method::GET, &path, Some(&registration_token), None, &[])
        .await;
    assert_error(&gone, 401, "invalid_token");
    let userinfo = app
        .send_json(
            Method::GET,
            "/t/open/userinfo",
            Some(&access_token),
            None,
            &[],
        )
        .await;
    assert_eq!(userinfo.status, 401, "{}", userinfo.text);

    // Initial access tokens (RFC 7591 §3): a bearer token with tessera:register.
    let anonymous = register(
        &app,
        "partners",
        None,
        json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_error(&anonymous, 401, "invalid_token");
    let operator = app
        .register(
            "partners",
            Registration {
                client_id: "onboarding",
                confidential: true,
                grant_types: "client_credentials",
                scopes: "tessera:register read",
                origins: "",
                redirect_uris: "",
                skip_authorization: false,
            },
        )
        .await;
    let read_only = token(
        &app,
        "partners",
        &operator,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    let lacking = register(
        &app,
        "partners",
        Some(&string(&read_only, "access_token")),
        json!({"grant_types": ["client_credentials"]}),
    )
    .await;
    assert_error(&lacking, 403, "insufficient_scope");
    let initial = token(
        &app,
        "partners",
        &operator,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "tessera:register"),
        ],
    )
    .await;
    let initial_token = string(&initial, "access_token");
    let machine = register(
        &app,
        "partners",
        Some(&initial_token),
        json!({"grant_types": ["client_credentials"], "client_name": "Batch job"}),
    )
    .await;
    assert_eq!(machine.status, 201, "{}", machine.text);
    let machine_client = TestClient {
        client_id: string(&machine, "client_id"),
        client_secret: Some(string(&machine, "client_secret")),
    };
    let issued = token(
        &app,
        "partners",
        &machine_client,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let code_flow = register(
        &app,
        "partners",
        Some(&initial_token),
        json!({"redirect_uris": [REDIRECT]}),
    )
    .await;
    assert_error(&code_flow, 400, "invalid_client_metadata");

    // Open registration is bounded per address (RFC 7591 §3 leaves it to the
    // server): within the window, the next one is 429 with Retry-After.
    let mut answers = Vec::new();
    for _ in 0..30 {
        let answer = register(&app, "open", None, json!({"redirect_uris": [REDIRECT]})).await;
        let limited = answer.status == 429;
        answers.push(answer);
        if limited {
            break;
        }
    }
    let last = answers.last().unwrap();
    assert_eq!(last.status, 429, "{}", last.text);
    assert!(last.header("retry-after").is_some());
    assert!(
        answers[..answers.len() - 1]
            .iter()
            .all(|answer| answer.status == 201)
    );
    let open_tenant = app.tenant("open").await;
    let registered = tessera::store::applications::list(app.state.data(&open_tenant))
        .await
        .unwrap()
        .len();
    assert!(registered <= 30, "{registered} registered from one address");
}
