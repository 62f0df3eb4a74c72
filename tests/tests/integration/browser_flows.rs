//! The browser flows over HTTP on every backend (issue 7): the authorization endpoint
//! (RFC 6749 §3.1, §4.1, §4.2), login and consent pages, PKCE (RFC 7636), `iss`
//! (RFC 9207), loopback redirects (RFC 8252 §7.3), the device flow (RFC 8628) and the
//! authorized-tokens page. A cookie-keeping HTTP client plays the browser; the real
//! browser test is `browser.rs`.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use tessera_tests::{
    Answer, Backend, Browser, Registration, Seen, TestApp, TestClient, TestDatabase, basic_header,
    on_every_backend, spawn_app_with,
};

use crate::oauth::{assert_error, introspect, string, token};

/// RFC 7636 Appendix B.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const REDIRECT: &str = "https://app.example/cb";
const REDIRECTS: &str = "https://app.example/cb http://127.0.0.1/cb com.example.app:/cb";

fn flows_toml(url: &str) -> String {
    format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n\
         [limits]\nsweep_interval_secs = 0\n\
         [tenants.acme]\n[tenants.globex]\n\
         [tenants.relaxed.oauth]\npkce_required_for_confidential_clients = false\n\
         allow_plain_pkce = true\napproval_prompt = \"auto\"\n\
         [tenants.brief.oauth]\ndevice_code_lifetime_secs = 1\n\
         authorization_code_lifetime_secs = 1\nmax_failures_per_username = 3\n\
         consent_lifetime_secs = 3600\n"
    )
}

struct Fixture {
    _db: TestDatabase,
    app: TestApp,
    web: TestClient,
    spa: TestClient,
    introspector: TestClient,
}

async fn fixture(backend: Backend) -> Option<Fixture> {
    let db = TestDatabase::create(backend).await?;
    let app = spawn_app_with(&flows_toml(&db.url)).await.unwrap();
    let mut clients = Vec::new();
    for tenant in ["acme", "globex", "relaxed", "brief"] {
        let web = app
            .register(
                tenant,
                registration("web", true, "authorization_code,refresh_token"),
            )
            .await;
        let spa = app
            .register(
                tenant,
                registration("spa", false, "authorization_code,refresh_token"),
            )
            .await;
        app.register(
            tenant,
            registration(
                "tv",
                false,
                "urn:ietf:params:oauth:grant-type:device_code,refresh_token",
            ),
        )
        .await;
        app.register(tenant, registration("implicit", false, "implicit"))
            .await;
        app.register(
            tenant,
            Registration {
                skip_authorization: true,
                ..registration("trusted", true, "authorization_code")
            },
        )
        .await;
        let introspector = app
            .client(
                tenant,
                "introspector",
                true,
                "client_credentials",
                "introspection",
                "",
            )
            .await;
        app.user(tenant, "alice", "correct horse").await;
        app.user(tenant, "bob", "battery staple").await;
        clients.push((web, spa, introspector));
    }
    let (web, spa, introspector) = clients.swap_remove(0);
    Some(Fixture {
        _db: db,
        app,
        web,
        spa,
        introspector,
    })
}

fn registration<'a>(client_id: &'a str, confidential: bool, grants: &'a str) -> Registration<'a> {
    Registration {
        client_id,
        confidential,
        grant_types: grants,
        scopes: "",
        origins: "",
        redirect_uris: REDIRECTS,
        skip_authorization: false,
    }
}

pub(crate) fn query(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The standard request of `client_id` with PKCE S256 and `state=xyz`.
pub(crate) fn code_request(client_id: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "read write"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

pub(crate) async fn authorize(
    browser: &mut Browser,
    tenant: &str,
    params: &[(&str, &str)],
) -> Seen {
    browser
        .get(&format!("/t/{tenant}/authorize?{}", query(params)))
        .await
}

pub(crate) fn assert_page_headers(seen: &Seen) {
    let csp = seen.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(seen.headers["x-frame-options"], "DENY");
    assert_eq!(seen.headers["cache-control"], "no-store");
}

/// Follows a 303 to the login page and signs in; returns the answer to the POST.
/// An authorization's login page carries its interaction; a plain sign-in's (the
/// device, authorized-tokens and management pages) carries the page to return to
/// and stores nothing.
pub(crate) async fn sign_in(
    browser: &mut Browser,
    to_login: &Seen,
    username: &str,
    password: &str,
) -> Seen {
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let location = to_login.location().unwrap().to_owned();
    assert!(
        location.contains("/login?interaction=") || location.contains("/login?next="),
        "{location}"
    );
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page);
    assert_eq!(page.body.matches("<form").count(), 1, "{}", page.body);
    assert!(page.body.contains("name=\"username\"") && page.body.contains("name=\"password\""));
    let action = location.split('?').next().unwrap().to_owned();
    let mut fields = page.hidden_inputs();
    fields.push(("username".to_owned(), username.to_owned()));
    fields.push(("password".to_owned(), password.to_owned()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let answer = browser.post(&action, &fields).await;
    assert_eq!(
        answer.status, 303,
        "a POST is answered with 303: {}",
        answer.body
    );
    answer
}

/// Follows a 303 to the consent page and presses `allow` or `deny`.
pub(crate) async fn decide(browser: &mut Browser, to_consent: &Seen, allow: bool) -> Seen {
    let location = to_consent.location().unwrap().to_owned();
    assert!(location.contains("/consent?interaction="), "{location}");
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page);
    assert_eq!(page.body.matches("<form").count(), 1);
    assert!(
        page.body.contains("App "),
        "the application's name: {}",
        page.body
    );
    assert!(
        page.body.contains("Read your data"),
        "each scope with its description"
    );
    let button = if allow { "allow" } else { "deny" };
    let answer = browser
        .post(
            location.split('?').next().unwrap(),
            &[
                ("interaction", &page.input("interaction").unwrap()),
                ("csrf", &page.input("csrf").unwrap()),
                (button, "1"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer
}

/// Login and consent for `params`; returns the redirect's parameters.
async fn code_via_pages(
    app: &TestApp,
    tenant: &str,
    params: &[(&str, &str)],
) -> (Browser, BTreeMap<String, String>) {
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, tenant, params).await;
    let after_login = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let back = decide(&mut browser, &after_login, true).await;
    let params = back.location_params();
    (browser, params)
}

pub(crate) async fn exchange(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    code: &str,
    verifier: Option<&str>,
) -> Answer {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if client.client_secret.is_none() {
        params.push(("client_id", &client.client_id));
    }
    if let Some(verifier) = verifier {
        params.push(("code_verifier", verifier));
    }
    if client.client_secret.is_some() {
        token(app, tenant, client, &params).await
    } else {
        app.post_form(&format!("/t/{tenant}/token"), None, &params)
            .await
    }
}

async fn code_flow_through_the_pages(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let issuer = app.url("/t/acme");
    // Confidential web application, PKCE too (required by default).
    let (mut browser, back) = code_via_pages(app, "acme", &code_request("web")).await;
    assert_eq!(back["state"], "xyz");
    assert_eq!(back["iss"], issuer, "RFC 9207");
    let code = &back["code"];
    assert!(code.starts_with("tsc_") && code.len() >= 47, "{code}");
    let tokens = exchange(app, "acme", &fx.web, code, Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let access = string(&tokens, "access_token");
    let refresh = string(&tokens, "refresh_token");
    assert_eq!(string(&tokens, "scope"), "read write");
    let seen = introspect(app, "acme", &fx.introspector, &access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["username"], "alice", "{seen}");
    let refreshed = token(
        app,
        "acme",
        &fx.web,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);

    // Public PKCE application, same browser: the session skips the login page.
    let first = authorize(&mut browser, "acme", &code_request("spa")).await;
    assert_eq!(first.status, 303);
    assert!(
        first.location().unwrap().contains("/consent?"),
        "{:?}",
        first.location()
    );
    let back = decide(&mut browser, &first, true).await.location_params();
    let tokens = exchange(app, "acme", &fx.spa, &back["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert!(tokens.body["refresh_token"].is_string());

    // A denied consent: access_denied, state and iss, no code.
    let first = authorize(&mut browser, "acme", &code_request("spa")).await;
    let back = decide(&mut browser, &first, false).await;
    let params = back.location_params();
    assert!(back.location().unwrap().starts_with(REDIRECT));
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], issuer);
    assert!(!params.contains_key("code"));

    // skip_authorization: no consent page at all, straight back with a code.
    let mut trusted = code_request("trusted");
    trusted.retain(|(name, _)| *name != "scope");
    let back = authorize(&mut browser, "acme", &trusted).await;
    assert_eq!(back.status, 303);
    assert!(
        back.location().unwrap().starts_with(REDIRECT),
        "{:?}",
        back.location()
    );
    assert!(back.location_params().contains_key("code"));

    // The metadata advertises what the flows need.
    let metadata: serde_json::Value = app
        .client
        .get(app.url("/t/acme/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{issuer}/authorize")
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(
        metadata["response_types_supported"]
            .to_string()
            .contains("\"code\"")
    );
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{issuer}/device_authorization")
    );
}

/// 30+ near misses of a registered redirect URI: each gets an error page, never a
/// redirect.
async fn redirect_uri_mutants_get_no_redirect(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let mut browser = Browser::new(&fx.app.address);
    let mutants = [
        "https://app.example/cb/",
        "https://app.example/CB",
        "https://APP.example/cb",
        "HTTPS://app.example/cb",
        "https://app.example/cb?x=1",
        "https://app.example/cb?",
        "https://app.example/cb#",
        "https://app.example/cb#frag",
        "https://app.example/cb/%2e%2e/cb",
        "https://app.example/cb/../cb",
        "https://app.example/%63b",
        "https://evil@app.example/cb",
        "https://app.example:443/cb",
        "https://app.example:8443/cb",
        "https://app.example/cb/more",
        "https://app.example/c",
        "https://app.example.evil.example/cb",
        "https://evil.example/app.example/cb",
        "http://app.example/cb",
        "ftp://app.example/cb",
        "https://аpp.example/cb",
        "https://xn--pp-8cd.example/cb",
        "https://app.example./cb",
        "https://app.example/cb%00",
        "https://app.example/cb%20",
        " https://app.example/cb",
        "//app.example/cb",
        "app.example/cb",
        "http://localhost/cb",
        "http://localhost:8080/cb",
        "http://127.0.0.2/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:80@evil.example/cb",
        "http://[::1]/cb",
        "https://127.0.0.1/cb",
        "http://127.0.0.1/cb/",
        "com.example.app:/cb/",
        "com.example.app://cb",
        "com.example.evil:/cb",
        "javascript:alert(1)",
    ];
    assert!(mutants.len() >= 30);
    for mutant in mutants {
        let mut params = code_request("web");
        params.retain(|(name, _)| *name != "redirect_uri");
        params.push(("redirect_uri", mutant));
        let seen = authorize(&mut browser, "acme", &params).await;
        assert_eq!(
            seen.status,
            400,
            "{mutant:?} must be refused: {:?}",
            seen.location()
        );
        assert!(seen.location().is_none(), "{mutant:?} redirected");
        assert!(seen.body.contains("redirect"), "{mutant:?}: {}", seen.body);
        assert_page_headers(&seen);
    }
    // The loopback rule (RFC 8252 §7.3): any port of the registered IP literal.
    let mut params = code_request("web");
    params.retain(|(name, _)| *name != "redirect_uri");
    params.push(("redirect_uri", "http://127.0.0.1:54321/cb"));
    let seen = authorize(&mut browser, "acme", &params).await;
    assert_eq!(seen.status, 303, "{}", seen.body);
    assert!(seen.location().unwrap().contains("/login?"));
    // Unknown client or none: a page too.
    for params in [
        vec![("response_type", "code")],
        vec![("client_id", "nobody")],
    ] {
        let seen = authorize(&mut browser, "acme", &params).await;
        assert_eq!(seen.status, 400);
        assert!(seen.location().is_none());
    }
    // A repeated parameter leaves the redirect URI in doubt: a page.
    let seen = browser
        .get(&format!(
            "/t/acme/authorize?client_id=web&redirect_uri={REDIRECT}&redirect_uri={REDIRECT}&response_type=code"
        ))
        .await;
    assert_eq!(seen.status, 400);
    assert!(seen.location().is_none());
}

/// Errors after the redirect URI is trusted go back to it, with state and iss.
async fn request_errors_redirect_with_iss(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let mut browser = Browser::new(&fx.app.address);
    let issuer = fx.app.url("/t/acme");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "code_and_more")],
            "unsupported_response_type",
        ),
        // A real response type, but this client holds no implicit grant.
        (vec![("response_type", "id_token")], "unauthorized_client"),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "admin")], "invalid_scope"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "S512")], "invalid_request"),
        (vec![("code_challenge", "too-short")], "invalid_request"),
        (vec![("approval_prompt", "sometimes")], "invalid_request"),
    ];
    for (overrides, expected) in cases {
        let mut params = code_request("spa");
        for (name, value) in &overrides {
            params.retain(|(existing, _)| existing != name);
            if !value.is_empty() {
                params.push((name, value));
            }
        }
        let seen = authorize(&mut browser, "acme", &params).await;
        assert_eq!(seen.status, 303, "{overrides:?}: {}", seen.body);
        let back = seen.location_params();
        assert!(seen.location().unwrap().starts_with(REDIRECT));
        assert_eq!(back["error"], expected, "{overrides:?}");
        assert_eq!(back["state"], "xyz");
        assert_eq!(back["iss"], issuer);
    }
    // A confidential client without PKCE is refused by default...
    let mut params = code_request("web");
    params.retain(|(name, _)| !name.starts_with("code_challenge"));
    let back = authorize(&mut browser, "acme", &params)
        .await
        .location_params();
    assert_eq!(back["error"], "invalid_request");
    // ...and `token` needs the implicit grant.
    let mut params = code_request("web");
    params.retain(|(name, _)| *name != "response_type");
    params.push(("response_type", "token"));
    let seen = authorize(&mut browser, "acme", &params).await;
    assert!(
        seen.location()
            .unwrap()
            .contains("#error=unauthorized_client"),
        "{:?}",
        seen.location()
    );
}

async fn pkce_is_verified_at_the_token_endpoint(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    for wrong in [
        None,
        Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"),
        Some("short"),
        Some(&*"a".repeat(129)),
    ] {
        let (_, back) = code_via_pages(app, "acme", &code_request("spa")).await;
        let answer = exchange(app, "acme", &fx.spa, &back["code"], wrong).await;
        assert_error(&answer, 400, "invalid_grant");
        // The right verifier still works: a failed check does not spend the code.
        let answer = exchange(app, "acme", &fx.spa, &back["code"], Some(VERIFIER)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    // redirect_uri must be identical.
    let (_, back) = code_via_pages(app, "acme", &code_request("web")).await;
    let answer = token(
        app,
        "acme",
        &fx.web,
        &[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_error(&answer, 400, "invalid_grant");
    // Downgrade: where PKCE is optional, a code issued without a challenge refuses a
    // verifier; without one it works.
    let mut params = code_request("web");
    params.retain(|(name, _)| !name.starts_with("code_challenge"));
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "relaxed", &params).await;
    let after = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let back = decide(&mut browser, &after, true).await.location_params();
    let relaxed = relaxed_client(app).await;
    let with_verifier = exchange(app, "relaxed", &relaxed, &back["code"], Some(VERIFIER)).await;
    assert_error(&with_verifier, 400, "invalid_grant");
    let without = exchange(app, "relaxed", &relaxed, &back["code"], None).await;
    assert_eq!(without.status, 200, "{}", without.text);
    // plain, where enabled.
    let mut params = code_request("spa");
    params.retain(|(name, _)| !name.starts_with("code_challenge"));
    params.push(("code_challenge", VERIFIER));
    params.push(("code_challenge_method", "plain"));
    let first = authorize(&mut browser, "relaxed", &params).await;
    let back = decide(&mut browser, &first, true).await.location_params();
    let spa = TestClient {
        client_id: "spa".to_owned(),
        client_secret: None,
    };
    let answer = exchange(app, "relaxed", &spa, &back["code"], Some(VERIFIER)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

/// A confidential client of the relaxed tenant, registered with a known secret.
async fn relaxed_client(app: &TestApp) -> TestClient {
    // The fixture keeps only acme's secrets: give relaxed's `web` a known one.
    let tenant = app.tenant("relaxed").await;
    let db = tessera_tests::connection(
        &app.state,
        &tenant,
        router_policies::EntityGroup::Applications,
        router_policies::Role::Write,
    );
    let secret = "tss_relaxed-web-secret-with-enough-entropy-0123456789";
    let hash = tessera::secrets::hash_client_secret(secret).unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::application::Entity::update_many()
        .col_expr(
            entity::application::Column::ClientSecret,
            sea_orm::sea_query::Expr::value(hash),
        )
        .filter(entity::application::Column::TenantId.eq(tenant.id))
        .filter(entity::application::Column::ClientId.eq("web"))
        .exec(db)
        .await
        .unwrap();
    app.state.clients.forget(tenant.id, "web");
    TestClient {
        client_id: "web".to_owned(),
        client_secret: Some(secret.to_owned()),
    }
}

/// RFC 6749 §4.1.2: a code works once; a second redemption is refused and revokes
/// what the first minted. Of ten concurrent redemptions exactly one gets tokens.
async fn codes_are_single_use(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let (_, back) = code_via_pages(app, "acme", &code_request("web")).await;
    let first = exchange(app, "acme", &fx.web, &back["code"], Some(VERIFIER)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let access = string(&first, "access_token");
    let refresh = string(&first, "refresh_token");
    // Rotate once: the family's newer members must fall too.
    let rotated = token(
        app,
        "acme",
        &fx.web,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    let rotated_access = string(&rotated, "access_token");
    let second = exchange(app, "acme", &fx.web, &back["code"], Some(VERIFIER)).await;
    assert_error(&second, 400, "invalid_grant");
    for revoked in [&access, &rotated_access] {
        let seen = introspect(app, "acme", &fx.introspector, revoked).await;
        assert_eq!(
            seen["active"], false,
            "a replayed code revokes its tokens: {seen}"
        );
    }
    let again = token(
        app,
        "acme",
        &fx.web,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &string(&rotated, "refresh_token")),
        ],
    )
    .await;
    assert_error(&again, 400, "invalid_grant");

    // Ten at once.
    let (_, back) = code_via_pages(app, "acme", &code_request("web")).await;
    let code = back["code"].clone();
    let mut racing = Vec::new();
    for _ in 0..10 {
        let http = app.client.clone();
        let url = app.url("/t/acme/token");
        let authorization = basic_header("web", fx.web.client_secret.as_deref().unwrap());
        let body = query(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]);
        racing.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .header("authorization", authorization)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            Answer::read(response).await
        }));
    }
    let mut answers = Vec::new();
    for handle in racing {
        answers.push(handle.await.unwrap());
    }
    let winners = answers.iter().filter(|answer| answer.status == 200).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|answer| answer.status != 200) {
        assert_error(answer, 400, "invalid_grant");
    }
    // The nine replays revoked the winner's tokens (two parties redeeming one code
    // means it leaked: RFC 6749 §4.1.2).
    let winner = answers.iter().find(|answer| answer.status == 200).unwrap();
    let seen = introspect(
        app,
        "acme",
        &fx.introspector,
        &string(winner, "access_token"),
    )
    .await;
    assert_eq!(seen["active"], false, "the winner's access token: {seen}");
    let again = token(
        app,
        "acme",
        &fx.web,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &string(winner, "refresh_token")),
        ],
    )
    .await;
    assert_error(&again, 400, "invalid_grant");

    // A consent form submitted twice mints one code: the second submit finds the
    // interaction spent.
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "acme", &code_request("web")).await;
    let to_consent = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let page = browser.get(to_consent.location().unwrap()).await;
    let form = [
        ("interaction", page.input("interaction").unwrap()),
        ("csrf", page.input("csrf").unwrap()),
        ("allow", "1".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (mut one, mut other) = (browser.clone_for_race(), browser.clone_for_race());
    let (once, twice) = tokio::join!(
        one.post("/t/acme/consent", &form),
        other.post("/t/acme/consent", &form)
    );
    let codes: Vec<&Seen> = [&once, &twice]
        .into_iter()
        .filter(|seen| {
            seen.location().is_some_and(|location| {
                location.starts_with(REDIRECT) && location.contains("code=")
            })
        })
        .collect();
    assert_eq!(codes.len(), 1, "one code: {once:?} {twice:?}");
}

async fn cross_tenant_and_expiry(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    // A code of acme is unknown to globex, where `spa` also exists.
    let (mut browser, back) = code_via_pages(app, "acme", &code_request("spa")).await;
    let foreign = exchange(app, "globex", &fx.spa, &back["code"], Some(VERIFIER)).await;
    assert_error(&foreign, 400, "invalid_grant");
    // A session of acme does not sign anyone in to globex.
    let seen = authorize(&mut browser, "globex", &code_request("spa")).await;
    assert!(
        seen.location().unwrap().contains("/t/globex/login?"),
        "{:?}",
        seen.location()
    );
    // An interaction of acme is unknown to globex's pages: start again.
    let first = authorize(
        &mut Browser::new(&app.address),
        "acme",
        &code_request("spa"),
    )
    .await;
    let key = first
        .location()
        .unwrap()
        .split("interaction=")
        .nth(1)
        .unwrap()
        .to_owned();
    let page = browser
        .get(&format!("/t/globex/login?interaction={key}"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Start again"), "{}", page.body);
    // Another browser (without the interaction's cookie) cannot use it either.
    let mut stranger = Browser::new(&app.address);
    let page = stranger.get(first.location().unwrap()).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Start again"));
    // Nor can a POST without the CSRF field, even from the right browser.
    let mut owner = Browser::new(&app.address);
    let first = authorize(&mut owner, "acme", &code_request("spa")).await;
    let page = owner.get(first.location().unwrap()).await;
    let forged = owner
        .post(
            "/t/acme/login",
            &[
                ("interaction", &page.input("interaction").unwrap()),
                ("username", "alice"),
                ("password", "correct horse"),
            ],
        )
        .await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("Start again"));
    // Expired code, public client (brief tenant: 1 s codes).
    let mut params = code_request("spa");
    params.retain(|(name, _)| *name != "scope");
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "brief", &params).await;
    let after = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let back = decide(&mut browser, &after, true).await.location_params();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let spa = TestClient {
        client_id: "spa".to_owned(),
        client_secret: None,
    };
    let late = exchange(app, "brief", &spa, &back["code"], Some(VERIFIER)).await;
    assert_error(&late, 400, "invalid_grant");
}

async fn login_failures_and_logout(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "brief", &code_request("spa")).await;
    let failed = sign_in(&mut browser, &first, "alice", "wrong").await;
    let again = failed.location().unwrap().to_owned();
    assert!(again.contains("error=credentials"), "{again}");
    let page = browser.get(&again).await;
    assert!(
        page.body.contains("Wrong username or password"),
        "{}",
        page.body
    );
    // The same answer for a user that does not exist.
    let unknown = sign_in(&mut browser, &first, "mallory", "x").await;
    assert!(unknown.location().unwrap().contains("error=credentials"));
    // brief allows 3 failures per username: the 4th attempt is refused, even right.
    for _ in 0..2 {
        sign_in(&mut browser, &first, "alice", "wrong").await;
    }
    let blocked = sign_in(&mut browser, &first, "alice", "correct horse").await;
    assert!(
        blocked.location().unwrap().contains("error=too_many"),
        "{:?}",
        blocked.location()
    );
    // A good login, then logout ends the session.
    let first = authorize(&mut browser, "acme", &code_request("spa")).await;
    let after = sign_in(&mut browser, &first, "bob", "battery staple").await;
    assert!(after.location().unwrap().contains("/consent?"));
    let tokens_page = browser.get("/t/acme/authorized-tokens").await;
    assert_eq!(tokens_page.status, 200, "{}", tokens_page.body);
    let csrf = tokens_page.input("csrf").unwrap();
    let refused = browser.post("/t/acme/logout", &[("csrf", "forged")]).await;
    assert_eq!(refused.status, 400);
    let out = browser.post("/t/acme/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let seen = authorize(&mut browser, "acme", &code_request("spa")).await;
    assert!(
        seen.location().unwrap().contains("/login?"),
        "signed out: {:?}",
        seen.location()
    );
}

async fn approval_prompt_auto_and_implicit(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    // relaxed: approval_prompt = auto by default. First time: consent.
    let mut params = code_request("spa");
    params.retain(|(name, _)| *name != "scope");
    params.push(("scope", "read"));
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "relaxed", &params).await;
    let after = sign_in(&mut browser, &first, "alice", "correct horse").await;
    assert!(after.location().unwrap().contains("/consent?"));
    let back = decide(&mut browser, &after, true).await.location_params();
    let spa = TestClient {
        client_id: "spa".to_owned(),
        client_secret: None,
    };
    let tokens = exchange(app, "relaxed", &spa, &back["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    // Now the remembered consent covers `read`: straight back with a code.
    let seen = authorize(&mut browser, "relaxed", &params).await;
    assert!(
        seen.location().unwrap().starts_with(REDIRECT),
        "{:?}",
        seen.location()
    );
    // A wider request, or approval_prompt=force, asks again.
    let mut wider = code_request("spa");
    wider.push(("approval_prompt", "auto"));
    let seen = authorize(&mut browser, "relaxed", &wider).await;
    assert!(seen.location().unwrap().contains("/consent?"));
    params.push(("approval_prompt", "force"));
    let seen = authorize(&mut browser, "relaxed", &params).await;
    assert!(seen.location().unwrap().contains("/consent?"));

    // Implicit (opt-in per application): the token comes in the fragment.
    let implicit = [
        ("response_type", "token"),
        ("client_id", "implicit"),
        ("redirect_uri", REDIRECT),
        ("scope", "read"),
        ("state", "s1"),
    ];
    let first = authorize(&mut browser, "relaxed", &implicit).await;
    let back = decide(&mut browser, &first, true).await;
    let location = back.location().unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}#")), "{location}");
    let fragment = back.location_params();
    assert_eq!(fragment["token_type"], "Bearer");
    assert_eq!(fragment["state"], "s1");
    assert_eq!(fragment["iss"], app.url("/t/relaxed"));
    assert!(!fragment.contains_key("refresh_token"));
    assert!(fragment["access_token"].starts_with("tsa_"));
}

async fn device_flow(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let start = app
        .post_form(
            "/t/acme/device_authorization",
            None,
            &[("client_id", "tv"), ("scope", "read")],
        )
        .await;
    assert_eq!(start.status, 200, "{}", start.text);
    let device_code = string(&start, "device_code");
    let user_code = string(&start, "user_code");
    assert_eq!(user_code.len(), 9);
    assert!(
        user_code
            .chars()
            .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    assert_eq!(start.body["interval"], 5);
    assert_eq!(
        string(&start, "verification_uri"),
        app.url("/t/acme/device")
    );
    assert_error(
        &poll_device(app, "acme", &device_code).await,
        400,
        "authorization_pending",
    );
    // Polling again at once is too fast: slow_down, and the interval grows.
    assert_error(
        &poll_device(app, "acme", &device_code).await,
        400,
        "slow_down",
    );
    assert_error(
        &poll_device(app, "acme", &device_code).await,
        400,
        "slow_down",
    );
    // The person: the page wants a login first.
    let mut browser = Browser::new(&app.address);
    let to_login = browser.get("/t/acme/device").await;
    let back = sign_in(&mut browser, &to_login, "alice", "correct horse").await;
    assert_eq!(back.location(), Some("/t/acme/device"));
    let form = browser.get("/t/acme/device").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"user_code\""));
    // A wrong code: the form again, with a message.
    let wrong = browser.get("/t/acme/device?user_code=BBBB-BBBB").await;
    assert!(wrong.body.contains("not valid"), "{}", wrong.body);
    // Typed in lower case without the dash: the same code.
    let typed = user_code.replace('-', "").to_lowercase();
    let confirm = browser
        .get(&format!("/t/acme/device?user_code={typed}"))
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("App tv") && confirm.body.contains("Read your data"));
    let decided = browser
        .post(
            "/t/acme/device",
            &[
                ("user_code", &confirm.input("user_code").unwrap()),
                ("csrf", &confirm.input("csrf").unwrap()),
                ("allow", "1"),
            ],
        )
        .await;
    assert_eq!(decided.status, 303);
    let done = browser.get(decided.location().unwrap()).await;
    assert!(done.body.contains("approved"), "{}", done.body);
    // The interval is now 5 + 2 × 5 s; wait out what the test can afford by
    // resetting the last poll instead.
    reset_last_poll(app, "acme").await;
    let tokens = poll_device(app, "acme", &device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(string(&tokens, "scope"), "read");
    reset_last_poll(app, "acme").await;
    assert_error(
        &poll_device(app, "acme", &device_code).await,
        400,
        "invalid_grant",
    );

    // Denied, and expired (brief: 1 s).
    for (tenant, deny) in [("acme", true), ("brief", false)] {
        let start = app
            .post_form(
                &format!("/t/{tenant}/device_authorization"),
                None,
                &[("client_id", "tv")],
            )
            .await;
        let device_code = string(&start, "device_code");
        if deny {
            let confirm = browser
                .get(&format!(
                    "/t/{tenant}/device?user_code={}",
                    string(&start, "user_code")
                ))
                .await;
            browser
                .post(
                    &format!("/t/{tenant}/device"),
                    &[
                        ("user_code", &confirm.input("user_code").unwrap()),
                        ("csrf", &confirm.input("csrf").unwrap()),
                        ("deny", "1"),
                    ],
                )
                .await;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        }
        let answer = poll_device(app, tenant, &device_code).await;
        assert_error(
            &answer,
            400,
            if deny {
                "access_denied"
            } else {
                "expired_token"
            },
        );
    }
    // A client without the device grant cannot start one.
    let refused = app
        .post_form(
            "/t/acme/device_authorization",
            None,
            &[("client_id", "spa")],
        )
        .await;
    assert_error(&refused, 400, "unauthorized_client");
}

async fn poll_device(app: &TestApp, tenant: &str, device_code: &str) -> Answer {
    app.post_form(
        &format!("/t/{tenant}/token"),
        None,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", "tv"),
        ],
    )
    .await
}

/// Moves every device grant's last poll of `tenant` back an hour, so the next poll
/// is not "too fast" (the test cannot wait out a grown interval).
async fn reset_last_poll(app: &TestApp, tenant: &str) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let tenant = app.tenant(tenant).await;
    let db = tessera_tests::connection(
        &app.state,
        &tenant,
        router_policies::EntityGroup::Tokens,
        router_policies::Role::Write,
    );
    let an_hour_ago = tessera::time::now() - time::Duration::hours(1);
    entity::device_grant::Entity::update_many()
        .col_expr(
            entity::device_grant::Column::LastPolledAt,
            sea_orm::sea_query::Expr::value(an_hour_ago),
        )
        .filter(entity::device_grant::Column::TenantId.eq(tenant.id))
        .exec(db)
        .await
        .unwrap();
}

async fn authorized_tokens_page_revokes_an_application(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let (mut browser, back) = code_via_pages(app, "acme", &code_request("web")).await;
    let web = exchange(app, "acme", &fx.web, &back["code"], Some(VERIFIER)).await;
    let first = authorize(&mut browser, "acme", &code_request("spa")).await;
    let back = decide(&mut browser, &first, true).await.location_params();
    let spa = exchange(app, "acme", &fx.spa, &back["code"], Some(VERIFIER)).await;
    let page = browser.get("/t/acme/authorized-tokens").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page);
    assert!(
        page.body.contains("data-client-id=\"web\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-client-id=\"spa\""));
    // The web application's form: its hidden application id follows its marker.
    let section = &page.body[page.body.find("data-client-id=\"web\"").unwrap()..];
    let marker = "name=\"application\" value=\"";
    let start = section.find(marker).unwrap() + marker.len();
    let id = &section[start..start + section[start..].find('"').unwrap()];
    let revoked = browser
        .post(
            "/t/acme/authorized-tokens",
            &[
                ("csrf", &page.input("csrf").unwrap()),
                ("application", id),
                ("revoke", "1"),
            ],
        )
        .await;
    assert_eq!(revoked.status, 303);
    let page = browser.get("/t/acme/authorized-tokens").await;
    assert!(
        !page.body.contains("data-client-id=\"web\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-client-id=\"spa\""));
    let seen = introspect(app, "acme", &fx.introspector, &string(&web, "access_token")).await;
    assert_eq!(seen["active"], false);
    let refresh = token(
        app,
        "acme",
        &fx.web,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &string(&web, "refresh_token")),
        ],
    )
    .await;
    assert_error(&refresh, 400, "invalid_grant");
    let seen = introspect(app, "acme", &fx.introspector, &string(&spa, "access_token")).await;
    assert_eq!(seen["active"], true, "other applications keep their tokens");
    // Bob's page does not show Alice's applications.
    let mut bob = Browser::new(&app.address);
    let to_login = bob.get("/t/acme/authorized-tokens").await;
    let back = sign_in(&mut bob, &to_login, "bob", "battery staple").await;
    let page = bob.get(back.location().unwrap()).await;
    assert!(!page.body.contains("data-client-id"), "{}", page.body);
}

/// The id of the application `client_id` in the authorized-tokens page `page`.
fn listed_application_id(page: &Seen, client_id: &str) -> String {
    let marker = format!("data-client-id=\"{client_id}\"");
    let section = &page.body[page.body.find(&marker).expect("the application is listed")..];
    let field = "name=\"application\" value=\"";
    let start = section.find(field).unwrap() + field.len();
    section[start..start + section[start..].find('"').unwrap()].to_owned()
}

/// Remembered consent as a grant: an approval is stored (user, client, scopes,
/// expiry) and `approval_prompt=auto` skips the page while it covers the request,
/// whatever happened to the tokens; the authorized-tokens page lists it and revoking
/// there forgets it; `consent_lifetime_secs` ends it.
async fn remembered_consent(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let (mut browser, back) = code_via_pages(app, "relaxed", &code_request("spa")).await;
    let spa = TestClient {
        client_id: "spa".to_owned(),
        client_secret: None,
    };
    let tokens = exchange(app, "relaxed", &spa, &back["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    // Its tokens are revoked (RFC 7009): the consent still stands.
    for kind in ["access_token", "refresh_token"] {
        let revoked = app
            .post_form(
                "/t/relaxed/revoke",
                None,
                &[("token", &string(&tokens, kind)), ("client_id", "spa")],
            )
            .await;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
    }
    let skipped = authorize(&mut browser, "relaxed", &code_request("spa")).await;
    let params = skipped.location_params();
    assert!(
        skipped.location().unwrap().starts_with(REDIRECT) && params.contains_key("code"),
        "no consent page: {skipped:?}"
    );
    let page = browser.get("/t/relaxed/authorized-tokens").await;
    assert!(
        page.text()
            .contains("Consent remembered until you revoke it"),
        "{}",
        page.body
    );
    assert!(page.body.contains("no live tokens"), "{}", page.body);
    // A narrower request is covered; a scope not approved is asked for.
    let mut narrower = code_request("spa");
    narrower.retain(|(name, _)| *name != "scope");
    narrower.push(("scope", "read"));
    let seen = authorize(&mut browser, "relaxed", &narrower).await;
    assert!(seen.location().unwrap().starts_with(REDIRECT), "{seen:?}");
    let mut wider = narrower.clone();
    wider.retain(|(name, _)| *name != "scope");
    wider.push(("scope", "read write profile"));
    let seen = authorize(&mut browser, "relaxed", &wider).await;
    assert!(seen.location().unwrap().contains("/consent?"), "{seen:?}");
    // Revoking on the page forgets the consent: the next request asks again.
    let id = listed_application_id(&page, "spa");
    let revoked = browser
        .post(
            "/t/relaxed/authorized-tokens",
            &[
                ("csrf", &page.input("csrf").unwrap()),
                ("application", &id),
                ("revoke", "1"),
            ],
        )
        .await;
    assert_eq!(revoked.status, 303);
    let page = browser.get("/t/relaxed/authorized-tokens").await;
    assert!(
        !page.body.contains("data-client-id=\"spa\""),
        "{}",
        page.body
    );
    let seen = authorize(&mut browser, "relaxed", &code_request("spa")).await;
    assert!(
        seen.location().unwrap().contains("/consent?"),
        "forgotten: {seen:?}"
    );

    // brief: consents last an hour (approval_prompt=auto asked per request); one
    // whose expiry has passed (set in the database) asks again.
    let mut auto = code_request("web");
    auto.push(("approval_prompt", "auto"));
    let (mut brief, _) = code_via_pages(app, "brief", &auto).await;
    let seen = authorize(&mut brief, "brief", &auto).await;
    assert!(seen.location().unwrap().starts_with(REDIRECT), "{seen:?}");
    let (tenant, db) = app
        .pool("brief", router_policies::EntityGroup::Tokens)
        .await;
    entity::consent_grant::Entity::update_many()
        .set(entity::consent_grant::ActiveModel {
            expires_at: sea_orm::ActiveValue::Set(Some(
                tessera::time::now() - time::Duration::seconds(1),
            )),
            ..Default::default()
        })
        .filter(entity::consent_grant::Column::TenantId.eq(tenant.id))
        .exec(db)
        .await
        .unwrap();
    let seen = authorize(&mut brief, "brief", &auto).await;
    assert!(
        seen.location().unwrap().contains("/consent?"),
        "expired: {seen:?}"
    );
}

on_every_backend!(
    remembered_consent,
    code_flow_through_the_pages,
    redirect_uri_mutants_get_no_redirect,
    request_errors_redirect_with_iss,
    pkce_is_verified_at_the_token_endpoint,
    codes_are_single_use,
    cross_tenant_and_expiry,
    login_failures_and_logout,
    approval_prompt_auto_and_implicit,
    device_flow,
    authorized_tokens_page_revokes_an_application,
);
