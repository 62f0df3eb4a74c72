//! Rules that hold and that a refactor could break without any other test noticing
//! (issue 17, item 0): forged CSRF tokens change nothing, cookies and pages carry
//! their security attributes, forged `id_token_hint`s are refused by Tessera's own
//! signature check, the device flow's `slow_down` and wrong-code counting, and rules
//! nobody asserted (a deactivated user's session, revoking another user's
//! application, `prompt=consent` over `skip_authorization`, what `cleartokens`
//! removes, retired keys leaving the JWKS). These rules do not depend on the
//! database, so they run on SQLite.

use base64::Engine;
use router_policies::EntityGroup;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tessera_tests::{
    Backend, Browser, Registration, Seen, TestApp, TestClient, TestDatabase, config_file, run_cli,
    spawn_app_with, spawn_configured,
};

use crate::browser_flows::{CHALLENGE, REDIRECT, VERIFIER, authorize, exchange, sign_in};
use crate::oauth::{introspect, string};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn guards_toml(url: &str) -> String {
    format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n\
         [tenants.acme.oauth]\nmax_failures_per_address = 4\n"
    )
}

struct Fixture {
    _db: TestDatabase,
    app: TestApp,
    web: TestClient,
    introspector: TestClient,
    alice: i64,
}

async fn fixture(toml: impl Fn(&str) -> String) -> Fixture {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = spawn_app_with(&toml(&db.url)).await.unwrap();
    fixture_on(db, app).await
}

async fn fixture_on(db: TestDatabase, app: TestApp) -> Fixture {
    let client = |client_id, skip_authorization| Registration {
        client_id,
        confidential: true,
        grant_types: "authorization_code,refresh_token",
        scopes: "",
        origins: "",
        redirect_uris: REDIRECT,
        skip_authorization,
    };
    let web = app.register("acme", client("web", false)).await;
    app.register("acme", client("trusted", true)).await;
    app.client(
        "acme",
        "tv",
        false,
        "urn:ietf:params:oauth:grant-type:device_code",
        "",
        "",
    )
    .await;
    let introspector = app
        .client(
            "acme",
            "introspector",
            true,
            "client_credentials",
            "introspection",
            "",
        )
        .await;
    let alice = app.user("acme", "alice", "correct horse").await;
    app.user("acme", "bob", "battery staple").await;
    Fixture {
        _db: db,
        app,
        web,
        introspector,
        alice,
    }
}

fn code_request<'a>(client_id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid read"),
        ("state", "xyz"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

/// A browser signed in as `username` on the plain login page.
async fn signed_in(app: &TestApp, username: &str, password: &str) -> Browser {
    let mut browser = Browser::new(&app.address);
    let to_login = browser.get("/t/acme/authorized-tokens").await;
    let back = sign_in(&mut browser, &to_login, username, password).await;
    assert_eq!(back.location(), Some("/t/acme/authorized-tokens"));
    browser
}

/// Rows of `table` in the token pool of acme.
async fn rows(app: &TestApp, group: EntityGroup, table: &str) -> i64 {
    let (tenant, db) = app.pool("acme", group).await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) FROM {table} WHERE tenant_id = {}",
                tenant.id
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// A full code flow of `client` as alice: the token response.
async fn tokens_of(app: &TestApp, client: &TestClient) -> tessera_tests::Answer {
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "acme", &code_request(&client.client_id, &[])).await;
    let to_consent = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let back = crate::browser_flows::decide(&mut browser, &to_consent, true).await;
    let answer = exchange(
        app,
        "acme",
        client,
        &back.location_params()["code"],
        Some(VERIFIER),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer
}

/// A forged CSRF token is refused (400) on every session and interaction form, and
/// nothing changes: no code, the grant still pending, the application and its tokens
/// still there, the session still signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_csrf_tokens_change_nothing() {
    let fx = fixture(guards_toml).await;
    let app = &fx.app;
    const FORGED: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    // Consent.
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "acme", &code_request("web", &[])).await;
    let to_consent = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let consent = browser.get(to_consent.location().unwrap()).await;
    let interaction = consent.input("interaction").unwrap();
    let forged = browser
        .post(
            "/t/acme/consent",
            &[
                ("interaction", &interaction),
                ("csrf", FORGED),
                ("allow", "1"),
            ],
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert_eq!(
        rows(app, EntityGroup::Tokens, "authorization_codes").await,
        0
    );
    let still = browser.get(to_consent.location().unwrap()).await;
    assert_eq!(still.status, 200, "the interaction is still waiting");

    // Device decision.
    let start = app
        .post_form(
            "/t/acme/device_authorization",
            None,
            &[("client_id", "tv"), ("scope", "read")],
        )
        .await;
    let user_code = string(&start, "user_code");
    let confirm = browser
        .get(&format!("/t/acme/device?user_code={user_code}"))
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let forged = browser
        .post(
            "/t/acme/device",
            &[("user_code", &user_code), ("csrf", FORGED), ("allow", "1")],
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let tenant = app.tenant("acme").await;
    let grant = tessera::store::device_grants::find_pending_by_user_code(
        app.state.data(&tenant),
        &tessera::secrets::checksum(&user_code.replace('-', "")),
    )
    .await
    .unwrap();
    assert!(grant.is_some(), "the grant is still pending");

    // Revoking an application on the authorized-tokens page.
    let tokens = tokens_of(app, &fx.web).await;
    let access = string(&tokens, "access_token");
    let page = browser.get("/t/acme/authorized-tokens").await;
    assert!(
        page.body.contains("data-client-id=\"web\""),
        "{}",
        page.body
    );
    let application =
        tessera::store::applications::find_by_client_id(app.state.data(&tenant), "web")
            .await
            .unwrap()
            .unwrap();
    let forged = browser
        .post(
            "/t/acme/authorized-tokens",
            &[
                ("application", &application.id.to_string()),
                ("csrf", FORGED),
                ("revoke", "1"),
            ],
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert_eq!(
        introspect(app, "acme", &fx.introspector, &access).await["active"],
        true,
        "its tokens are still live"
    );

    // Logout.
    let forged = browser.post("/t/acme/logout", &[("csrf", FORGED)]).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let page = browser.get("/t/acme/authorized-tokens").await;
    assert_eq!(page.status, 200, "still signed in");
}

/// The `Set-Cookie` attributes of `seen`, by cookie name.
fn set_cookies(seen: &Seen) -> Vec<(String, String)> {
    seen.headers
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            let text = value.to_str().unwrap().to_owned();
            let name = text.split('=').next().unwrap().to_owned();
            (name, text)
        })
        .collect()
}

fn assert_cookie(cookie: &str, max_age: u64) {
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/t/acme/",
        "Secure",
        &format!("Max-Age={max_age}"),
    ] {
        assert!(
            cookie.split("; ").any(|part| part == attribute),
            "{attribute} in {cookie}"
        );
    }
}

/// Under an https `public_url` (whatever its letter case) every cookie of the sign-in
/// carries `HttpOnly`, `SameSite=Lax`, the tenant's `Path`, its `Max-Age` and
/// `Secure`; pages send `Referrer-Policy: no-referrer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_and_pages_carry_their_attributes() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = spawn_configured(
        &guards_toml(&db.url),
        |mut config| {
            config.public_url = "HTTPS://id.example".to_owned();
            config
        },
        tessera::endpoints::routes::Routes::built_in(),
        tessera::policy::Policies::default(),
    )
    .await
    .unwrap();
    let fx = fixture_on(db, app).await;
    let app = &fx.app;
    let settings = tessera::settings::OAuthSettings::default();
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "acme", &code_request("web", &[])).await;
    let cookies = set_cookies(&first);
    let (_, interaction) = cookies
        .iter()
        .find(|(name, _)| name.starts_with("tsi_"))
        .expect("an interaction cookie");
    assert_cookie(interaction, settings.interaction_lifetime_secs);
    assert_eq!(first.headers["referrer-policy"], "no-referrer");
    let login = browser.get(first.location().unwrap()).await;
    assert_eq!(login.headers["referrer-policy"], "no-referrer");
    let to_consent = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let (_, session) = set_cookies(&to_consent)
        .into_iter()
        .find(|(name, _)| name == "tessera_session_acme")
        .expect("a session cookie");
    assert_cookie(&session, settings.session_lifetime_secs);
    // The plain sign-in form's cookie.
    let plain = Browser::new(&app.address).get("/t/acme/login").await;
    let (_, form) = set_cookies(&plain)
        .into_iter()
        .find(|(name, _)| name == "tessera_login_acme")
        .expect("a sign-in form cookie");
    assert_cookie(&form, settings.interaction_lifetime_secs);
}

/// An RS256 ID token of `fx.web` for alice, from a code flow.
async fn id_token(fx: &Fixture) -> String {
    string(&tokens_of(&fx.app, &fx.web).await, "id_token")
}

/// Forged `id_token_hint`s are refused by Tessera's signature check: a valid
/// signature over another payload, `alg: none`, and HS256 keyed with the public key
/// (the algorithm-confusion attack). Each is `invalid_request` back at the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_token_hints_are_refused() {
    let fx = fixture(guards_toml).await;
    let app = &fx.app;
    let genuine = id_token(&fx).await;
    let parts: Vec<&str> = genuine.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("someone-else");
    let other_payload = B64.encode(serde_json::to_vec(&claims).unwrap());
    let transplanted = format!("{}.{other_payload}.{}", parts[0], parts[2]);
    let none_header = B64.encode(
        serde_json::to_vec(&json!({"alg": "none", "kid": header["kid"], "typ": "JWT"})).unwrap(),
    );
    let unsigned = format!("{none_header}.{}.", parts[1]);
    // HS256 keyed with the RS256 key's public JWK (its canonical JSON and its `n`).
    let jwks: Value = app
        .client
        .get(app.url("/t/acme/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .unwrap()
        .clone();
    let hs_header = B64.encode(
        serde_json::to_vec(&json!({"alg": "HS256", "kid": header["kid"], "typ": "JWT"})).unwrap(),
    );
    let confused: Vec<String> = [public.to_string(), public["n"].as_str().unwrap().to_owned()]
        .iter()
        .map(|key| {
            let signing_input = format!("{hs_header}.{}", parts[1]);
            let tag = hmac_sha256(key.as_bytes(), signing_input.as_bytes());
            format!("{signing_input}.{}", B64.encode(tag))
        })
        .collect();
    let mut browser = signed_in(app, "alice", "correct horse").await;
    // The genuine hint is accepted (the user is signed in): a consent page, no error.
    let accepted = authorize(
        &mut browser,
        "acme",
        &code_request("web", &[("id_token_hint", &genuine)]),
    )
    .await;
    assert!(
        accepted.location().unwrap().contains("/consent?"),
        "{accepted:?}"
    );
    for (what, forged) in [
        ("another payload", transplanted.as_str()),
        ("alg none", unsigned.as_str()),
        ("HS256 with the public JWK", confused[0].as_str()),
        ("HS256 with the modulus", confused[1].as_str()),
    ] {
        let refused = authorize(
            &mut browser,
            "acme",
            &code_request("web", &[("id_token_hint", forged)]),
        )
        .await;
        let location = refused.location().unwrap_or_default();
        assert!(location.starts_with(REDIRECT), "{what}: {refused:?}");
        assert_eq!(
            refused.location_params()["error"],
            "invalid_request",
            "{what}"
        );
    }
}

/// HMAC-SHA-256, as an attacker computes it.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    // RFC 2104 over SHA-256 (block size 64).
    let mut block = [0_u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = sha2::Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = sha2::Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// RFC 8628 §3.5: `slow_down` lengthens the interval for good (5 s more each time),
/// and user codes that name no grant count against the address's failure limit
/// (four here): then even a right code is refused, 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_slow_down_and_wrong_codes() {
    let fx = fixture(guards_toml).await;
    let app = &fx.app;
    let start = app
        .post_form(
            "/t/acme/device_authorization",
            None,
            &[("client_id", "tv"), ("scope", "read")],
        )
        .await;
    let device_code = string(&start, "device_code");
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "tv"),
        ("device_code", device_code.as_str()),
    ];
    let poll = || app.post_form("/t/acme/token", None, &form);
    assert_eq!(poll().await.error(), "authorization_pending");
    assert_eq!(poll().await.error(), "slow_down");
    assert_eq!(poll().await.error(), "slow_down");
    let tenant = app.tenant("acme").await;
    let grant = tessera::store::device_grants::find_by_device_code(
        app.state.data(&tenant),
        &tessera::secrets::checksum(&device_code),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(grant.interval_seconds, 15, "5 + 2 × 5 s, stored");

    let mut browser = signed_in(app, "bob", "battery staple").await;
    for _ in 0..4 {
        let wrong = browser.get("/t/acme/device?user_code=BBBB-BBBB").await;
        assert!(wrong.body.contains("not valid"), "{}", wrong.body);
    }
    let right = browser
        .get(&format!(
            "/t/acme/device?user_code={}",
            string(&start, "user_code")
        ))
        .await;
    assert_eq!(
        right.status, 429,
        "the address is over its limit: {}",
        right.body
    );
}

/// Rules nobody asserted: a deactivated user's session is not resumed; Bob posting
/// Alice's application to the revoke form changes nothing; `prompt=consent` shows
/// the page even for a `skip_authorization` client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revocation_and_prompt_consent() {
    let fx = fixture(guards_toml).await;
    let app = &fx.app;
    let alices = tokens_of(app, &fx.web).await;
    let access = string(&alices, "access_token");
    let acme = app.tenant("acme").await;
    let application = tessera::store::applications::find_by_client_id(app.state.data(&acme), "web")
        .await
        .unwrap()
        .unwrap();
    let mut bob = signed_in(app, "bob", "battery staple").await;
    let page = bob.get("/t/acme/authorized-tokens").await;
    let csrf = page.input("csrf").unwrap();
    let revoked = bob
        .post(
            "/t/acme/authorized-tokens",
            &[
                ("application", &application.id.to_string()),
                ("csrf", &csrf),
                ("revoke", "1"),
            ],
        )
        .await;
    assert!(revoked.status < 500, "{}", revoked.body);
    assert_eq!(
        introspect(app, "acme", &fx.introspector, &access).await["active"],
        true,
        "Bob cannot revoke Alice's authorization"
    );

    // prompt=consent over skip_authorization.
    let mut alice = signed_in(app, "alice", "correct horse").await;
    let skipped = authorize(&mut alice, "acme", &code_request("trusted", &[])).await;
    assert!(
        skipped.location().unwrap().starts_with(REDIRECT),
        "{skipped:?}"
    );
    let asked = authorize(
        &mut alice,
        "acme",
        &code_request("trusted", &[("prompt", "consent")]),
    )
    .await;
    assert!(
        asked.location().unwrap().contains("/consent?interaction="),
        "{asked:?}"
    );

    // A deactivated user's live session is not resumed.
    let (tenant, users) = app.pool("acme", EntityGroup::Users).await;
    users
        .execute_raw(Statement::from_string(
            users.get_database_backend(),
            format!(
                "UPDATE users SET is_active = false WHERE tenant_id = {} AND id = {}",
                tenant.id, fx.alice
            ),
        ))
        .await
        .unwrap();
    let page = alice.get("/t/acme/authorized-tokens").await;
    assert_eq!(page.status, 303, "signed out: {}", page.body);
    assert!(page.location().unwrap().contains("/login?next="));
}

/// `tessera cleartokens` removes expired interactions, sessions and remembered
/// consents, and keeps live ones; a retired key leaves the JWKS once its
/// `published_until` has passed. Expiry is set in the database (no sleeping).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartokens_and_retired_keys() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let toml = format!(
        "migrate_on_start = true\nkey_cache_ttl_secs = 0\n[limits]\nsweep_interval_secs = 0\n\
         [databases.default]\nurl = \"{}\"\n[tenants.acme]\n",
        db.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let fx = fixture_on(db, app).await;
    let app = &fx.app;
    // Two of each: a consent (alice approves web), sessions, interactions.
    tokens_of(app, &fx.web).await;
    signed_in(app, "bob", "battery staple").await;
    let mut waiting = Browser::new(&app.address);
    authorize(&mut waiting, "acme", &code_request("web", &[])).await;
    authorize(&mut waiting, "acme", &code_request("trusted", &[])).await;
    let before = (
        rows(app, EntityGroup::Tokens, "interactions").await,
        rows(app, EntityGroup::Users, "sessions").await,
        rows(app, EntityGroup::Tokens, "consent_grants").await,
    );
    assert_eq!(before, (2, 2, 1), "(interactions, sessions, consents)");
    // One of each expires.
    let past = "'2000-01-01 00:00:00'";
    for (group, table) in [
        (EntityGroup::Tokens, "interactions"),
        (EntityGroup::Users, "sessions"),
        (EntityGroup::Tokens, "consent_grants"),
    ] {
        let (tenant, db) = app.pool("acme", group).await;
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "UPDATE {table} SET expires_at = {past} WHERE id = \
                 (SELECT MIN(id) FROM {table} WHERE tenant_id = {})",
                tenant.id
            ),
        ))
        .await
        .unwrap();
    }
    let (_dir, path) = config_file(&toml);
    let cleared = run_cli(&["--config", &path, "cleartokens", "--json"], "").await;
    assert_eq!(cleared.code(), 0, "{}", cleared.message());
    let after = (
        rows(app, EntityGroup::Tokens, "interactions").await,
        rows(app, EntityGroup::Users, "sessions").await,
        rows(app, EntityGroup::Tokens, "consent_grants").await,
    );
    assert_eq!(after, (1, 1, 0), "(interactions, sessions, consents)");

    // A rotation at once retires the RS256 key; past its published_until it leaves
    // the JWKS.
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let jwks = |app: &TestApp| {
        let url = app.url("/t/acme/jwks");
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let old = kids(&jwks(app).await);
    let rotated = run_cli(
        &[
            "--config",
            &path,
            "keys",
            "rotate",
            "--tenant",
            "acme",
            "--algorithm",
            "RS256",
            "--publish-ahead-secs",
            "0",
        ],
        "",
    )
    .await;
    assert_eq!(rotated.code(), 0, "{}", rotated.message());
    let both = kids(&jwks(app).await);
    assert_eq!(
        both.len(),
        old.len() + 1,
        "the retired key is still published"
    );
    let (tenant, directory) = app.pool("acme", EntityGroup::Tenants).await;
    directory
        .execute_raw(Statement::from_string(
            directory.get_database_backend(),
            format!(
                "UPDATE signing_keys SET published_until = {past} WHERE tenant_id = {} \
                 AND retired_at IS NOT NULL",
                tenant.id
            ),
        ))
        .await
        .unwrap();
    let now = kids(&jwks(app).await);
    assert_eq!(now.len(), old.len(), "{now:?}");
    let retired: Vec<&String> = old.iter().filter(|kid| !now.contains(kid)).collect();
    assert_eq!(retired.len(), 1, "the retired RS256 key left the JWKS");
}
