//! OpenID Connect over HTTP on every backend (issue 8). Each test is named after the
//! OpenID Foundation conformance module it mirrors and asserts what that module
//! asserts: discovery (Discovery 1.0 §3, §4), ID tokens (Core §2, §3.1.3.6-7), their
//! signatures checked with jsonwebtoken against the published JWKS only, UserInfo
//! (Core §5.3) with the claims each scope releases (§5.4), refresh (§12.2), code reuse
//! and key rotation. Keys at rest and the key-encryption key are checked at the end.

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};
use tessera_tests::{
    Answer, Backend, Browser, Registration, Seen, TEST_KEK, TestApp, TestClient, TestDatabase,
    on_every_backend, on_sqlite_only, run_cli, spawn_app_with, unescape_html,
};

use crate::browser_flows::{
    CHALLENGE, REDIRECT, VERIFIER, assert_page_headers, authorize, decide, exchange, sign_in,
};
use crate::oauth::{assert_error, introspect, string, token};

fn oidc_toml(url: &str) -> String {
    // Keys are read on every use, so a rotation by the CLI shows at once.
    format!(
        "migrate_on_start = true\nkey_cache_ttl_secs = 0\n[databases.default]\nurl = \"{url}\"\n\
         [tenants.acme]\n[tenants.globex.oauth]\nid_token_lifetime_secs = 1\n\
         [tenants.open.oauth]\nallow_sign_up = true\nmax_sign_ups_per_address = 5\n"
    )
}

struct Fixture {
    db: TestDatabase,
    app: TestApp,
    /// RS256 (the default `algorithm`).
    rp: TestClient,
    /// ES256.
    rp_es: TestClient,
    /// HS256 with a plain secret.
    rp_hs: TestClient,
    /// Skips consent (`skip_authorization`), for `prompt=none` successes.
    trusted: TestClient,
    /// Holds the code and implicit grants: every response type.
    hybrid: TestClient,
    /// `rp` of globex (ID tokens live 1 s there).
    globex_rp: TestClient,
    introspector: TestClient,
    alice: i64,
}

async fn fixture(backend: Backend) -> Option<Fixture> {
    let db = TestDatabase::create(backend).await?;
    let app = spawn_app_with(&oidc_toml(&db.url)).await.unwrap();
    let relying_party = |client_id| Registration {
        client_id,
        confidential: true,
        grant_types: "authorization_code,refresh_token",
        scopes: "",
        origins: "",
        redirect_uris: REDIRECT,
        skip_authorization: false,
    };
    let rp = app.register("acme", relying_party("rp")).await;
    let rp_es = app.register("acme", relying_party("rp-es")).await;
    let rp_hs = app.register("acme", relying_party("rp-hs")).await;
    let trusted = app
        .register(
            "acme",
            Registration {
                skip_authorization: true,
                ..relying_party("trusted")
            },
        )
        .await;
    let hybrid = app
        .register(
            "acme",
            Registration {
                grant_types: "authorization_code,implicit,refresh_token",
                // A browser application: UserInfo answers its origin (CORS).
                origins: "https://spa.example",
                ..relying_party("hybrid")
            },
        )
        .await;
    set_algorithm(&app, "acme", &rp_es, "ES256", false).await;
    set_algorithm(&app, "acme", &rp_hs, "HS256", true).await;
    let globex_rp = app.register("globex", relying_party("rp")).await;
    for (tenant, client) in [("acme", &rp), ("globex", &globex_rp)] {
        set_post_logout_redirect_uris(&app, tenant, &client.client_id, SIGNED_OUT).await;
    }
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
    let claims = json!({
        "name": "Alice Liddell",
        "given_name": "Alice",
        "family_name": "Liddell",
        "email_verified": true,
        "phone_number": "+44 20 7946 0000",
        "address": {"locality": "Oxford", "country": "GB"},
    });
    let alice = app
        .user_with_claims(
            "acme",
            "alice",
            "correct horse",
            Some("alice@example.org"),
            claims.as_object().unwrap(),
        )
        .await;
    app.user("globex", "alice", "correct horse").await;
    app.user("acme", "bob", "battery staple").await;
    Some(Fixture {
        db,
        app,
        rp,
        rp_es,
        rp_hs,
        trusted,
        hybrid,
        globex_rp,
        introspector,
        alice,
    })
}

/// Sets a client's ID token `algorithm` (and, for HS256, stores its secret plainly).
async fn set_algorithm(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    algorithm: &str,
    plain: bool,
) {
    use sea_orm::ActiveValue::Set;
    let mut change = entity::application::ActiveModel {
        algorithm: Set(algorithm.to_owned()),
        ..Default::default()
    };
    if plain {
        change.client_secret = Set(client.client_secret.clone().unwrap());
        change.hash_client_secret = Set(false);
    }
    app.update_client(tenant, &client.client_id, change).await;
}

const SIGNED_OUT: &str = "https://app.example/signed-out";

/// Registers `uris` as the client's `post_logout_redirect_uris`.
pub(crate) async fn set_post_logout_redirect_uris(
    app: &TestApp,
    tenant: &str,
    client_id: &str,
    uris: &str,
) {
    use sea_orm::ActiveValue::Set;
    let change = entity::application::ActiveModel {
        post_logout_redirect_uris: Set(uris.to_owned()),
        ..Default::default()
    };
    app.update_client(tenant, client_id, change).await;
}

/// An authentication request of `client` (code flow, PKCE S256) with `extra`
/// parameters; `read` is always asked, so the consent page lists it.
pub(crate) fn request<'a>(
    client: &'a TestClient,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "xyz"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

/// Login and consent in a fresh browser; returns the redirect's parameters.
pub(crate) async fn authenticate(
    app: &TestApp,
    tenant: &str,
    params: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, tenant, params).await;
    let after_login = sign_in(&mut browser, &first, "alice", "correct horse").await;
    decide(&mut browser, &after_login, true)
        .await
        .location_params()
}

/// The whole code flow for `client`: the token response.
pub(crate) async fn code_flow(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    scope: &str,
) -> Answer {
    code_flow_with_code(app, tenant, client, scope).await.1
}

/// [`code_flow`], and the code it redeemed (to replay it).
pub(crate) async fn code_flow_with_code(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    scope: &str,
) -> (String, Answer) {
    let back = authenticate(app, tenant, &request(client, scope, &[])).await;
    let answer = exchange(app, tenant, client, &back["code"], Some(VERIFIER)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    (back["code"].clone(), answer)
}

fn issuer(app: &TestApp, tenant: &str) -> String {
    app.url(&format!("/t/{tenant}"))
}

async fn get_json(app: &TestApp, url: &str) -> Answer {
    Answer::read(app.client.get(url).send().await.unwrap()).await
}

/// Verifies `id_token` as a relying party would (OIDC Core §3.1.3.7): the key from the
/// JWKS named by discovery (or the client secret for HS256), the pinned algorithm,
/// `iss` exactly, `aud`, `exp`. Returns the header's `kid` and the claims.
pub(crate) async fn verify(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    id_token: &str,
) -> (Option<String>, Value) {
    try_verify(app, tenant, client, id_token)
        .await
        .unwrap_or_else(|error| panic!("the ID token verifies: {error}"))
}

async fn try_verify(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    id_token: &str,
) -> Result<(Option<String>, Value), String> {
    let header = jsonwebtoken::decode_header(id_token).map_err(|error| error.to_string())?;
    let (key, alg) = if header.alg == Algorithm::HS256 {
        let secret = client.client_secret.clone().unwrap();
        (
            DecodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )
    } else {
        let discovery = get_json(
            app,
            &format!("{}/.well-known/openid-configuration", issuer(app, tenant)),
        )
        .await;
        let jwks_uri = string(&discovery, "jwks_uri");
        let jwks: JwkSet = serde_json::from_str(&get_json(app, &jwks_uri).await.text).unwrap();
        let kid = header
            .kid
            .clone()
            .expect("kid in every header (docs/security.md)");
        let jwk = jwks
            .find(&kid)
            .unwrap_or_else(|| panic!("kid {kid} is published"));
        (DecodingKey::from_jwk(jwk).unwrap(), header.alg)
    };
    let mut validation = Validation::new(alg);
    validation.set_audience(&[client.client_id.as_str()]);
    validation.set_issuer(&[issuer(app, tenant)]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .map_err(|error| error.to_string())?;
    Ok((header.kid, data.claims))
}

/// OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token, base64url.
fn at_hash(access_token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

pub(crate) async fn userinfo_get(app: &TestApp, tenant: &str, access_token: &str) -> Answer {
    let response = app
        .client
        .get(app.url(&format!("/t/{tenant}/userinfo")))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

/// oidcc-server: the basic certification flow. Code + PKCE with `openid`: an ID token
/// beside the access token whose `iss`, `aud`, `sub`, `nonce`, `iat`/`exp`, `at_hash`
/// are right and whose `sub` is the one of UserInfo and introspection.
async fn oidcc_server(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let answer = code_flow(app, "acme", &fx.rp, "openid read").await;
    let id_token = string(&answer, "id_token");
    let access_token = string(&answer, "access_token");
    let (kid, claims) = verify(app, "acme", &fx.rp, &id_token).await;
    assert!(kid.is_some());
    assert_eq!(claims["iss"], issuer(app, "acme"));
    assert_eq!(claims["aud"], "rp");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["at_hash"], at_hash(&access_token));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 3600, "{claims}");
    assert!(
        claims["auth_time"].as_i64().is_some_and(|at| at <= iat),
        "{claims}"
    );
    let subject = app.subject("acme", fx.alice).await;
    assert_eq!(claims["sub"], subject);
    assert_ne!(claims["sub"], fx.alice.to_string(), "never the row id");
    assert_eq!(subject.len(), 32);
    let userinfo = userinfo_get(app, "acme", &access_token).await;
    assert_eq!(userinfo.status, 200, "{}", userinfo.text);
    assert_eq!(userinfo.body["sub"], subject);
    let described = introspect(app, "acme", &fx.introspector, &access_token).await;
    assert_eq!(described["sub"], subject);
    // Without `openid`, no ID token.
    let plain = code_flow(app, "acme", &fx.rp, "read").await;
    assert!(plain.body.get("id_token").is_none(), "{}", plain.text);
}

/// oidcc-idtoken-signature: every algorithm a client may choose verifies with the
/// published key (or the client secret for HS256); `kid` names a published key.
async fn oidcc_idtoken_signature(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    for (client, expected) in [
        (&fx.rp, "RS256"),
        (&fx.rp_es, "ES256"),
        (&fx.rp_hs, "HS256"),
    ] {
        let answer = code_flow(app, "acme", client, "openid read").await;
        let id_token = string(&answer, "id_token");
        let header = jsonwebtoken::decode_header(&id_token).unwrap();
        assert_eq!(format!("{:?}", header.alg), expected);
        let (kid, claims) = verify(app, "acme", client, &id_token).await;
        assert_eq!(
            kid.is_none(),
            expected == "HS256",
            "kid on every tenant-key JWT"
        );
        assert_eq!(claims["aud"], client.client_id.as_str());
        // A flipped signature byte does not verify.
        let mut tampered = id_token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(
            try_verify(app, "acme", client, &tampered).await.is_err(),
            "a tampered ID token must not verify"
        );
    }
}

/// oidcc-idtoken-unsigned: the OP never issues `alg: none`, and a client cannot be
/// registered for it.
async fn oidcc_idtoken_unsigned(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let answer = code_flow(&fx.app, "acme", &fx.rp, "openid read").await;
    let id_token = string(&answer, "id_token");
    let header: Value = {
        use base64::Engine;
        let part = id_token.split('.').next().unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    assert_ne!(header["alg"].as_str().unwrap().to_lowercase(), "none");
    assert_eq!(id_token.split('.').nth(2).map(str::is_empty), Some(false));
    for refused in ["none", "None", "HS512"] {
        assert!(tessera::registration::parse_algorithm(Some(refused)).is_err());
    }
}

/// oidcc-userinfo-get, -post-header, -post-body: the three ways to present the token;
/// never in the query; a bad token is 401 with `WWW-Authenticate: Bearer
/// error="invalid_token"`; a token of another tenant is unknown here.
async fn oidcc_userinfo_get_post_header_post_body(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let answer = code_flow(app, "acme", &fx.rp, "openid read").await;
    let access_token = string(&answer, "access_token");
    let subject = app.subject("acme", fx.alice).await;
    let url = app.url("/t/acme/userinfo");
    let get = userinfo_get(app, "acme", &access_token).await;
    let post_header = Answer::read(
        app.client
            .post(&url)
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let post_body = app
        .post_form("/t/acme/userinfo", None, &[("access_token", &access_token)])
        .await;
    for answer in [&get, &post_header, &post_body] {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["sub"], subject);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    let in_query = get_json(app, &format!("{url}?access_token={access_token}")).await;
    assert_error(&in_query, 400, "invalid_request");
    for bad in ["tsa_not-a-token", ""] {
        let answer = userinfo_get(app, "acme", bad).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
    let elsewhere = userinfo_get(app, "globex", &access_token).await;
    assert_eq!(
        elsewhere.status, 401,
        "another tenant's token: {}",
        elsewhere.text
    );
    // CORS: an origin an application of the tenant lists reads the answer, errors
    // included (with `WWW-Authenticate` exposed); another origin gets no grant.
    let from = |origin: &'static str, token: &str| {
        app.client
            .get(&url)
            .header("origin", origin)
            .bearer_auth(token)
            .send()
    };
    let listed = Answer::read(from("https://spa.example", &access_token).await.unwrap()).await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    let failed = Answer::read(from("https://spa.example", "tsa_bad").await.unwrap()).await;
    assert_eq!(failed.status, 401);
    assert_eq!(
        failed.header("access-control-allow-origin"),
        Some("https://spa.example")
    );
    assert_eq!(
        failed.header("access-control-expose-headers"),
        Some("WWW-Authenticate")
    );
    let unlisted = Answer::read(from("https://evil.example", &access_token).await.unwrap()).await;
    assert_eq!(unlisted.header("access-control-allow-origin"), None);
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "GET, POST, OPTIONS"
    );
    // A token without `openid` may not read UserInfo.
    let plain = code_flow(app, "acme", &fx.rp, "read").await;
    let refused = userinfo_get(app, "acme", &string(&plain, "access_token")).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
}

/// oidcc-scope-profile, -email, -address, -phone, -all: each scope releases its claims
/// (Core §5.4) and no others.
async fn oidcc_scope_profile_email_address_phone_all(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    // What each scope may release (OIDC Core §5.4), and what alice has of it.
    let releasable = |scope: &str| -> &[&str] {
        match scope {
            "profile" => &[
                "name",
                "family_name",
                "given_name",
                "middle_name",
                "nickname",
                "preferred_username",
                "profile",
                "picture",
                "website",
                "gender",
                "birthdate",
                "zoneinfo",
                "locale",
                "updated_at",
            ],
            "email" => &["email", "email_verified"],
            "address" => &["address"],
            "phone" => &["phone_number", "phone_number_verified"],
            _ => &[],
        }
    };
    let held: [(&str, &[&str]); 4] = [
        (
            "profile",
            &[
                "name",
                "given_name",
                "family_name",
                "preferred_username",
                "updated_at",
            ],
        ),
        ("email", &["email", "email_verified"]),
        ("address", &["address"]),
        ("phone", &["phone_number"]),
    ];
    for scope in [
        "openid read profile",
        "openid read email",
        "openid read address",
        "openid read phone",
        "openid read profile email address phone",
    ] {
        let answer = code_flow(app, "acme", &fx.rp, scope).await;
        let info = userinfo_get(app, "acme", &string(&answer, "access_token")).await;
        assert_eq!(info.status, 200, "{}", info.text);
        let released: Vec<&str> = info
            .body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let asked: Vec<&str> = scope.split(' ').collect();
        for (group, claims) in held {
            for claim in claims {
                assert_eq!(
                    released.contains(claim),
                    asked.contains(&group),
                    "{scope}: {claim} released exactly when {group} is asked: {}",
                    info.text
                );
            }
        }
        for claim in &released {
            let allowed =
                *claim == "sub" || asked.iter().any(|scope| releasable(scope).contains(claim));
            assert!(allowed, "{scope}: {claim} was not asked for: {}", info.text);
        }
        if asked.contains(&"email") {
            assert_eq!(info.body["email"], "alice@example.org");
            assert_eq!(info.body["email_verified"], true);
        }
        if asked.contains(&"address") {
            assert_eq!(info.body["address"]["locality"], "Oxford");
        }
    }
}

/// oidcc-refresh-token: a refresh returns a new ID token with the same `iss`, `sub`,
/// `aud` and `auth_time`, a fresh `iat`, and no `nonce` (Core §12.2).
async fn oidcc_refresh_token(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let first = code_flow(app, "acme", &fx.rp, "openid read").await;
    let (_, original) = verify(app, "acme", &fx.rp, &string(&first, "id_token")).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refreshed = token(
        app,
        "acme",
        &fx.rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &string(&first, "refresh_token")),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let (_, claims) = verify(app, "acme", &fx.rp, &string(&refreshed, "id_token")).await;
    for same in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(claims[same], original[same], "{same}");
    }
    assert!(claims["iat"].as_i64() > original["iat"].as_i64());
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert_eq!(
        claims["at_hash"],
        at_hash(&string(&refreshed, "access_token"))
    );
    // Narrowed without openid: no ID token.
    let narrowed = token(
        app,
        "acme",
        &fx.rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &string(&refreshed, "refresh_token")),
            ("scope", "read"),
        ],
    )
    .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text);
    assert!(narrowed.body.get("id_token").is_none());
}

/// oidcc-codereuse: a second exchange of the code fails and revokes what the first
/// minted (RFC 6749 §4.1.2).
async fn oidcc_codereuse(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let back = authenticate(app, "acme", &request(&fx.rp, "openid read", &[])).await;
    let first = exchange(app, "acme", &fx.rp, &back["code"], Some(VERIFIER)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = exchange(app, "acme", &fx.rp, &back["code"], Some(VERIFIER)).await;
    assert_error(&again, 400, "invalid_grant");
    let described = introspect(
        app,
        "acme",
        &fx.introspector,
        &string(&first, "access_token"),
    )
    .await;
    assert_eq!(described, json!({"active": false}));
}

/// oidcc-ensure-request-with-unknown-parameter-succeeds and
/// oidcc-ensure-request-with-valid-pkce-succeeds; oidcc-ensure-registered-redirect-uri:
/// an unregistered redirect URI gets an error page, never a redirect.
async fn oidcc_request_parameters(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let params = request(
        &fx.rp,
        "openid read",
        &[("extra", "foobar"), ("ui_locales", "en")],
    );
    let back = authenticate(app, "acme", &params).await;
    assert_eq!(back["state"], "xyz");
    assert_eq!(back["iss"], issuer(app, "acme"));
    let answer = exchange(app, "acme", &fx.rp, &back["code"], Some(VERIFIER)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.body["id_token"].is_string());
    let mut browser = Browser::new(&app.address);
    let mut unregistered = request(&fx.rp, "openid read", &[]);
    unregistered[2] = ("redirect_uri", "https://attacker.example/cb");
    let seen = authorize(&mut browser, "acme", &unregistered).await;
    assert_eq!(seen.status, 400, "{}", seen.body);
    assert!(seen.location().is_none());
}

/// oidcc-discovery-endpoint-verification: the document's required fields, `issuer`
/// exactly the tenant's, endpoints under it, readable from any origin; the JWKS is
/// cacheable and holds public keys only.
async fn oidcc_discovery_endpoint_verification(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let expected_issuer = issuer(app, "acme");
    let discovery = get_json(
        app,
        &format!("{expected_issuer}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(discovery.status, 200, "{}", discovery.text);
    assert_eq!(discovery.header("access-control-allow-origin"), Some("*"));
    let document = &discovery.body;
    assert_eq!(document["issuer"], expected_issuer);
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let url = document[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}"));
        assert!(
            url.starts_with(&format!("{expected_issuer}/")),
            "{field}: {url}"
        );
    }
    for (field, member) in [
        ("response_types_supported", "code"),
        ("subject_types_supported", "public"),
        ("id_token_signing_alg_values_supported", "RS256"),
        ("id_token_signing_alg_values_supported", "ES256"),
        ("scopes_supported", "openid"),
        ("claims_supported", "sub"),
        ("code_challenge_methods_supported", "S256"),
        (
            "token_endpoint_auth_methods_supported",
            "client_secret_basic",
        ),
        ("grant_types_supported", "authorization_code"),
    ] {
        let list = document[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field}"));
        assert!(
            list.iter().any(|value| value == member),
            "{field} lacks {member}"
        );
    }
    assert_eq!(
        document["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(document["request_uri_parameter_supported"], false);
    assert!(
        !document["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|alg| alg == "none")
    );
    let jwks = get_json(app, document["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let keys = jwks.body["keys"].as_array().unwrap();
    let algorithms: Vec<&str> = keys
        .iter()
        .map(|key| key["alg"].as_str().unwrap())
        .collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(
            algorithms.contains(&alg),
            "{alg} key published: {}",
            jwks.text
        );
    }
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|kid| kid.len() == 43));
    }
    // Another tenant: another issuer, other keys.
    let globex = get_json(app, &format!("{}/jwks", issuer(app, "globex"))).await;
    let acme_kids: Vec<&Value> = keys.iter().map(|key| &key["kid"]).collect();
    for key in globex.body["keys"].as_array().unwrap() {
        assert!(!acme_kids.contains(&&key["kid"]), "tenants share no key");
    }
}

/// oidcc-server-rotate-keys: after `tessera keys rotate`, new ID tokens are signed by
/// the new key; the old key stays in the JWKS, so tokens it signed still verify. A
/// rotation with a publish-ahead time publishes the new key but keeps signing with the
/// current one until then.
async fn oidcc_server_rotate_keys(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let config = tessera_tests::config_file(&oidc_toml(&fx.db.url));
    let before = code_flow(app, "acme", &fx.rp, "openid read").await;
    let (old_kid, _) = verify(app, "acme", &fx.rp, &string(&before, "id_token")).await;
    // `tessera keys rotate` of the RS256 key, published `ahead` seconds before it
    // signs; the new kid.
    let rotate = |ahead: &'static str| {
        let path = config.1.clone();
        async move {
            let run = run_cli(
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
                    ahead,
                    "--json",
                ],
                "",
            )
            .await;
            assert_eq!(run.code(), 0, "{}", run.message());
            let created: Value = serde_json::from_str(&run.stdout).unwrap();
            created[0]["kid"].as_str().unwrap().to_owned()
        }
    };
    // Shorter than the JWKS max-age (300 s) plus the nodes' key cache (0 s here):
    // a relying party that cached the JWKS would meet a kid it cannot fetch.
    let too_soon = run_cli(
        &[
            "--config",
            &config.1,
            "keys",
            "rotate",
            "--tenant",
            "acme",
            "--publish-ahead-secs",
            "120",
        ],
        "",
    )
    .await;
    assert_eq!(too_soon.code(), 2, "{}", too_soon.message());
    assert!(
        too_soon.message().contains("at least 300"),
        "{}",
        too_soon.message()
    );
    let pending_kid = rotate("3600").await;
    let jwks = get_json(app, &app.url("/t/acme/jwks")).await;
    assert!(
        jwks.text.contains(&pending_kid),
        "published ahead of signing"
    );
    let still_old = code_flow(app, "acme", &fx.rp, "openid read").await;
    let (kid, _) = verify(app, "acme", &fx.rp, &string(&still_old, "id_token")).await;
    assert_eq!(
        kid, old_kid,
        "the current key signs until the new one's time"
    );

    let new_kid = rotate("0").await;
    let after = code_flow(app, "acme", &fx.rp, "openid read").await;
    let (kid, _) = verify(app, "acme", &fx.rp, &string(&after, "id_token")).await;
    assert_eq!(kid.as_deref(), Some(new_kid.as_str()));
    // The tokens of the retired key still verify: it is still published.
    verify(app, "acme", &fx.rp, &string(&before, "id_token")).await;
    let listed = run_cli(
        &[
            "--config", &config.1, "keys", "list", "--tenant", "acme", "--json",
        ],
        "",
    )
    .await;
    assert_eq!(listed.code(), 0, "{}", listed.message());
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let state_of = |kid: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kid"] == kid)
            .map(|key| key["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state_of(&new_kid).as_deref(), Some("signing"));
    assert_eq!(
        state_of(old_kid.as_deref().unwrap()).as_deref(),
        Some("retired")
    );
}

/// A browser signed in to `acme` as alice (one flow of `trusted`), and the ID token of
/// that flow.
async fn signed_in_browser(fx: &Fixture) -> (Browser, String) {
    let app = &fx.app;
    let mut browser = Browser::new(&app.address);
    let first = authorize(
        &mut browser,
        "acme",
        &request(&fx.trusted, "openid read", &[]),
    )
    .await;
    let back = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let params = back.location_params();
    let answer = exchange(app, "acme", &fx.trusted, &params["code"], Some(VERIFIER)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    (browser, string(&answer, "id_token"))
}

/// The answer to an authorization request in `browser`: its status and where it goes.
async fn ask(browser: &mut Browser, params: &[(&str, &str)]) -> (u16, String) {
    let seen = authorize(browser, "acme", params).await;
    (seen.status, seen.location().unwrap_or_default().to_owned())
}

fn params_of(location: &str) -> BTreeMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// oidcc-prompt-none-not-logged-in, oidcc-prompt-none-logged-in: `prompt=none` never
/// shows a page: signed out it answers `login_required`, signed in (consent skipped)
/// a code; needing consent, `consent_required`; `none` with another value is
/// `invalid_request`.
async fn oidcc_prompt_none(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let mut fresh = Browser::new(&app.address);
    let (status, location) = ask(
        &mut fresh,
        &request(&fx.trusted, "openid read", &[("prompt", "none")]),
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.starts_with(REDIRECT), "{location}");
    let answer = params_of(&location);
    assert_eq!(answer["error"], "login_required");
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], issuer(app, "acme"));

    let (mut browser, _) = signed_in_browser(&fx).await;
    let (_, location) = ask(
        &mut browser,
        &request(&fx.trusted, "openid read", &[("prompt", "none")]),
    )
    .await;
    let answer = params_of(&location);
    assert!(answer.contains_key("code"), "{location}");
    let tokens = exchange(app, "acme", &fx.trusted, &answer["code"], Some(VERIFIER)).await;
    let (_, claims) = verify(app, "acme", &fx.trusted, &string(&tokens, "id_token")).await;
    assert_eq!(claims["sub"], app.subject("acme", fx.alice).await);

    let (_, location) = ask(
        &mut browser,
        &request(&fx.rp, "openid read", &[("prompt", "none")]),
    )
    .await;
    assert_eq!(params_of(&location)["error"], "consent_required");
    let (_, location) = ask(
        &mut browser,
        &request(&fx.trusted, "openid read", &[("prompt", "none login")]),
    )
    .await;
    assert_eq!(params_of(&location)["error"], "invalid_request");
}

/// oidcc-prompt-none-logged-in, after a consent: under the tenant's default
/// `approval_prompt=force`, `prompt=none` for a client the user already approved (a
/// remembered consent covering the scopes) answers with a code; more scopes than
/// approved are `consent_required`; without `prompt` the page is shown (DOT's force).
async fn oidcc_prompt_none_logged_in(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "acme", &request(&fx.rp, "openid read", &[])).await;
    let to_consent = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let approved = decide(&mut browser, &to_consent, true).await;
    assert!(approved.location_params().contains_key("code"));

    let (_, location) = ask(
        &mut browser,
        &request(&fx.rp, "openid read", &[("prompt", "none")]),
    )
    .await;
    let answer = params_of(&location);
    assert!(answer.contains_key("code"), "{location}");
    let tokens = exchange(app, "acme", &fx.rp, &answer["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let (_, claims) = verify(app, "acme", &fx.rp, &string(&tokens, "id_token")).await;
    assert_eq!(claims["sub"], app.subject("acme", fx.alice).await);

    let (_, location) = ask(
        &mut browser,
        &request(&fx.rp, "openid read write", &[("prompt", "none")]),
    )
    .await;
    assert_eq!(params_of(&location)["error"], "consent_required");
    let (status, location) = ask(&mut browser, &request(&fx.rp, "openid read", &[])).await;
    assert_eq!(status, 303);
    assert!(location.contains("/consent?interaction="), "{location}");
}

/// oidcc-ensure-redirect-uri-in-authorization-request: an OpenID request without
/// `redirect_uri` is refused on a page, never answered at the client's one registered
/// URI (OIDC Core §3.1.2.1); a plain OAuth 2 request may still omit it (RFC 6749
/// §3.1.2.3).
async fn oidcc_ensure_redirect_uri_in_authorization_request(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let (mut browser, _) = signed_in_browser(&fx).await;
    let without = |scope: &'static str| {
        request(&fx.trusted, scope, &[])
            .into_iter()
            .filter(|(name, _)| *name != "redirect_uri")
            .collect::<Vec<_>>()
    };
    let refused = authorize(&mut browser, "acme", &without("openid read")).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.location().is_none(), "no redirect: {refused:?}");
    assert!(refused.text().contains("redirect_uri"), "{}", refused.body);
    let oauth = authorize(&mut browser, "acme", &without("read")).await;
    assert_eq!(oauth.status, 303, "{}", oauth.body);
    assert!(oauth.location().unwrap().starts_with(REDIRECT));
    assert!(oauth.location_params().contains_key("code"));
}

/// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported and
/// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported, and the
/// `registration` parameter: not supported (discovery says so), so refused by name
/// back at the client (OIDC Core §3.1.2.6) — never silently ignored.
async fn oidcc_request_object_rejected_as_unsupported(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let discovery = get_json(app, &app.url("/t/acme/.well-known/openid-configuration")).await;
    assert_eq!(discovery.body["request_parameter_supported"], false);
    assert_eq!(discovery.body["request_uri_parameter_supported"], false);
    let (mut browser, _) = signed_in_browser(&fx).await;
    for (parameter, value, error) in [
        (
            "request",
            "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6ImV2aWwifQ.",
            "request_not_supported",
        ),
        (
            "request_uri",
            "https://rp.example/request.jwt",
            "request_uri_not_supported",
        ),
        (
            "registration",
            "{\"logo_uri\":\"https://x\"}",
            "registration_not_supported",
        ),
    ] {
        let (status, location) = ask(
            &mut browser,
            &request(&fx.trusted, "openid read", &[(parameter, value)]),
        )
        .await;
        assert_eq!(status, 303, "{parameter}");
        assert!(location.starts_with(REDIRECT), "{location}");
        let answer = params_of(&location);
        assert_eq!(answer["error"], error, "{location}");
        assert_eq!(answer["state"], "xyz");
        assert_eq!(answer["iss"], issuer(app, "acme"));
        assert!(!answer.contains_key("code"), "{location}");
    }
}

/// oidcc-prompt-login: a signed-in user is asked to sign in again, and the new ID
/// token's `auth_time` is the new login's.
async fn oidcc_prompt_login(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let (mut browser, first) = signed_in_browser(&fx).await;
    let (_, original) = verify(app, "acme", &fx.trusted, &first).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = authorize(
        &mut browser,
        "acme",
        &request(&fx.trusted, "openid read", &[("prompt", "login")]),
    )
    .await;
    let back = sign_in(&mut browser, &again, "alice", "correct horse").await;
    let params = back.location_params();
    let tokens = exchange(app, "acme", &fx.trusted, &params["code"], Some(VERIFIER)).await;
    let (_, claims) = verify(app, "acme", &fx.trusted, &string(&tokens, "id_token")).await;
    assert!(
        claims["auth_time"].as_i64() > original["auth_time"].as_i64(),
        "{claims}"
    );
    // Without prompt=login the session is used: no login page, the same auth_time.
    let (_, location) = ask(&mut browser, &request(&fx.trusted, "openid read", &[])).await;
    let tokens = exchange(
        app,
        "acme",
        &fx.trusted,
        &params_of(&location)["code"],
        Some(VERIFIER),
    )
    .await;
    let (_, reused) = verify(app, "acme", &fx.trusted, &string(&tokens, "id_token")).await;
    assert_eq!(reused["auth_time"], claims["auth_time"]);
}

/// oidcc-max-age-1 and oidcc-max-age-10000: a session older than `max_age` must sign
/// in again; a younger one is used; `auth_time` is always in the ID token.
async fn oidcc_max_age(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let (mut browser, first) = signed_in_browser(&fx).await;
    let (_, original) = verify(app, "acme", &fx.trusted, &first).await;
    let (_, location) = ask(
        &mut browser,
        &request(&fx.trusted, "openid read", &[("max_age", "10000")]),
    )
    .await;
    let tokens = exchange(
        app,
        "acme",
        &fx.trusted,
        &params_of(&location)["code"],
        Some(VERIFIER),
    )
    .await;
    let (_, young) = verify(app, "acme", &fx.trusted, &string(&tokens, "id_token")).await;
    assert_eq!(
        young["auth_time"], original["auth_time"],
        "max_age=10000 reuses the session"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let again = authorize(
        &mut browser,
        "acme",
        &request(&fx.trusted, "openid read", &[("max_age", "1")]),
    )
    .await;
    let back = sign_in(&mut browser, &again, "alice", "correct horse").await;
    let tokens = exchange(
        app,
        "acme",
        &fx.trusted,
        &back.location_params()["code"],
        Some(VERIFIER),
    )
    .await;
    let (_, renewed) = verify(app, "acme", &fx.trusted, &string(&tokens, "id_token")).await;
    assert!(
        renewed["auth_time"].as_i64() > original["auth_time"].as_i64(),
        "{renewed}"
    );
    let mut fresh = Browser::new(&app.address);
    let (_, location) = ask(
        &mut fresh,
        &request(&fx.trusted, "openid read", &[("max_age", "nope")]),
    )
    .await;
    assert_eq!(params_of(&location)["error"], "invalid_request");
}

/// oidcc-id-token-hint: a hint the OP issued (expired ones too) is accepted with
/// `prompt=none` for its user; a hint of another user is `login_required`; a forged
/// one is `invalid_request`. `login_hint` fills in the login form.
async fn oidcc_id_token_hint(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let (mut browser, alice_token) = signed_in_browser(&fx).await;
    let (_, location) = ask(
        &mut browser,
        &request(
            &fx.trusted,
            "openid read",
            &[("prompt", "none"), ("id_token_hint", &alice_token)],
        ),
    )
    .await;
    assert!(params_of(&location).contains_key("code"), "{location}");
    // Bob's ID token as the hint while alice is signed in.
    let mut bobs = Browser::new(&app.address);
    let first = authorize(
        &mut bobs,
        "acme",
        &request(&fx.trusted, "openid read", &[("login_hint", "bob")]),
    )
    .await;
    let login_page = bobs.get(first.location().unwrap()).await;
    assert!(
        login_page.body.contains("value=\"bob\""),
        "login_hint fills the form"
    );
    let back = sign_in(&mut bobs, &first, "bob", "battery staple").await;
    let tokens = exchange(
        app,
        "acme",
        &fx.trusted,
        &back.location_params()["code"],
        Some(VERIFIER),
    )
    .await;
    let bob_token = string(&tokens, "id_token");
    let (_, location) = ask(
        &mut browser,
        &request(
            &fx.trusted,
            "openid read",
            &[("prompt", "none"), ("id_token_hint", &bob_token)],
        ),
    )
    .await;
    assert_eq!(params_of(&location)["error"], "login_required");
    let mut forged = alice_token.clone();
    forged.pop();
    forged.push('x');
    for hint in [forged.as_str(), "not-a-jwt"] {
        let (_, location) = ask(
            &mut browser,
            &request(
                &fx.trusted,
                "openid read",
                &[("prompt", "none"), ("id_token_hint", hint)],
            ),
        )
        .await;
        assert_eq!(params_of(&location)["error"], "invalid_request", "{hint}");
    }
    // A hint for another client is not this client's.
    let rp_token = string(
        &code_flow(app, "acme", &fx.rp, "openid read").await,
        "id_token",
    );
    let (_, location) = ask(
        &mut browser,
        &request(
            &fx.trusted,
            "openid read",
            &[("prompt", "none"), ("id_token_hint", &rp_token)],
        ),
    )
    .await;
    assert_eq!(params_of(&location)["error"], "invalid_request");
}

/// RP-Initiated Logout 1.0 (oidcc-rp-initiated-logout): with `id_token_hint` (expired
/// too) and a registered `post_logout_redirect_uri`, the user confirms on a page; the
/// session ends, the client's tokens are revoked, the browser goes back with `state`.
/// An unregistered URI, a forged hint or a missing CSRF field never redirect or sign
/// out.
async fn rp_initiated_logout(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    for (tenant, rp) in [("acme", &fx.rp), ("globex", &fx.globex_rp)] {
        let mut browser = Browser::new(&app.address);
        let first = authorize(&mut browser, tenant, &request(rp, "openid read", &[])).await;
        let after_login = sign_in(&mut browser, &first, "alice", "correct horse").await;
        let back = decide(&mut browser, &after_login, true)
            .await
            .location_params();
        let tokens = exchange(app, tenant, rp, &back["code"], Some(VERIFIER)).await;
        let id_token = string(&tokens, "id_token");
        if tenant == "globex" {
            // RP-Initiated Logout §2: an expired ID token is still a good hint.
            tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        }
        let end_session = format!("/t/{tenant}/end_session");
        for (bad_uri, hint) in [
            ("https://attacker.example/", id_token.as_str()),
            (SIGNED_OUT, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        ] {
            let query = crate::browser_flows::query(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", bad_uri),
            ]);
            let refused = browser.get(&format!("{end_session}?{query}")).await;
            assert_eq!(refused.status, 400, "{}", refused.body);
            assert!(refused.location().is_none());
        }
        let query = crate::browser_flows::query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye"),
        ]);
        let page = browser.get(&format!("{end_session}?{query}")).await;
        assert_eq!(page.status, 200, "a confirmation page: {}", page.body);
        assert!(page.body.contains("Sign out"), "{}", page.body);
        let csrf = page.input("csrf").unwrap();
        let mut fields: Vec<(&str, String)> = vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", SIGNED_OUT.to_owned()),
            ("state", "bye".to_owned()),
            ("confirm", "1".to_owned()),
        ];
        {
            let without_csrf: Vec<(&str, &str)> = fields
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            let expired = browser.post(&end_session, &without_csrf).await;
            assert_eq!(
                expired.status, 400,
                "no CSRF field, no logout: {}",
                expired.body
            );
        }
        fields.push(("csrf", csrf));
        let confirm: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let done = browser.post(&end_session, &confirm).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.location(),
            Some(format!("{SIGNED_OUT}?state=bye").as_str())
        );
        // Signed out: the next authorization asks for a login again.
        let again = authorize(&mut browser, tenant, &request(rp, "openid read", &[])).await;
        assert!(again.location().unwrap().contains("/login?"), "signed out");
        // And the client's tokens for alice are revoked (the tenant's default).
        let refreshed = token(
            app,
            tenant,
            rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &string(&tokens, "refresh_token")),
            ],
        )
        .await;
        assert_error(&refreshed, 400, "invalid_grant");
        // Not signed in: a valid request goes straight back.
        let mut stranger = Browser::new(&app.address);
        let straight = stranger.get(&format!("{end_session}?{query}")).await;
        assert_eq!(straight.status, 303);
        assert_eq!(
            straight.location(),
            Some(format!("{SIGNED_OUT}?state=bye").as_str())
        );
    }
    let discovery = get_json(
        app,
        &format!("{}/.well-known/openid-configuration", issuer(app, "acme")),
    )
    .await;
    assert_eq!(
        discovery.body["end_session_endpoint"],
        format!("{}/end_session", issuer(app, "acme"))
    );
}

/// oidcc-implicit and oidcc-hybrid (every response type OIDC Core §3.2, §3.3
/// defines), oidcc-ensure-request-without-nonce-fails, and the form-post response mode:
/// each part comes back as asked, in the fragment (never the query); the ID token binds
/// the nonce, the access token (`at_hash`) and the code (`c_hash`), and carries the
/// user's claims itself when no access token comes with it.
async fn oidcc_implicit_and_hybrid(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let c_hash = at_hash;
    for response_type in [
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        let mut browser = Browser::new(&app.address);
        let mut params = request(&fx.hybrid, "openid read profile", &[]);
        params[0] = ("response_type", response_type);
        let first = authorize(&mut browser, "acme", &params).await;
        let after_login = sign_in(&mut browser, &first, "alice", "correct horse").await;
        let back = decide(&mut browser, &after_login, true).await;
        let location = back.location().unwrap().to_owned();
        assert!(
            location.starts_with(&format!("{REDIRECT}#")),
            "{response_type}: fragment: {location}"
        );
        let answer = back.location_params();
        assert_eq!(answer["state"], "xyz");
        assert_eq!(answer["iss"], issuer(app, "acme"));
        for (part, key) in [
            ("code", "code"),
            ("token", "access_token"),
            ("id_token", "id_token"),
        ] {
            let asked = response_type.split(' ').any(|name| name == part);
            assert_eq!(
                answer.contains_key(key),
                asked,
                "{response_type}: {key} in {location}"
            );
        }
        assert!(!answer.contains_key("refresh_token"));
        if let Some(id_token) = answer.get("id_token") {
            let (_, claims) = verify(app, "acme", &fx.hybrid, id_token).await;
            assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
            assert_eq!(claims["sub"], app.subject("acme", fx.alice).await);
            match answer.get("access_token") {
                Some(token) => assert_eq!(claims["at_hash"], at_hash(token)),
                None => assert!(claims.get("at_hash").is_none()),
            }
            match answer.get("code") {
                Some(code) => assert_eq!(claims["c_hash"], c_hash(code)),
                None => assert!(claims.get("c_hash").is_none()),
            }
            // OIDC Core §5.4: without an access token the claims are in the ID token.
            let alone = !answer.contains_key("access_token") && !answer.contains_key("code");
            assert_eq!(
                claims.get("given_name").is_some(),
                alone,
                "{response_type}: {claims}"
            );
        }
        if let Some(token) = answer.get("access_token") {
            let info = userinfo_get(app, "acme", token).await;
            assert_eq!(info.status, 200, "{}", info.text);
        }
        if let Some(code) = answer.get("code") {
            let tokens = exchange(app, "acme", &fx.hybrid, code, Some(VERIFIER)).await;
            assert_eq!(tokens.status, 200, "{}", tokens.text);
            let (_, claims) = verify(app, "acme", &fx.hybrid, &string(&tokens, "id_token")).await;
            assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "the code keeps the nonce");
        }
    }
    let mut browser = Browser::new(&app.address);
    // Errors go back in the fragment too: the request asked for tokens there.
    let refusals: [(&[(&str, &str)], &str); 4] = [
        (
            &[("response_type", "id_token"), ("nonce", "")],
            "invalid_request",
        ),
        (
            &[
                ("response_type", "id_token token"),
                ("response_mode", "query"),
            ],
            "invalid_request",
        ),
        (
            &[("response_type", "id_token"), ("scope", "read")],
            "invalid_scope",
        ),
        (
            &[("response_type", "code id_token"), ("client_id", "rp")],
            "unauthorized_client",
        ),
    ];
    for (changes, error) in refusals {
        let mut params = request(&fx.hybrid, "openid read", &[]);
        for (name, value) in changes {
            match params.iter_mut().find(|(key, _)| *key == *name) {
                Some(slot) => slot.1 = value,
                None => params.push((name, value)),
            }
        }
        let seen = authorize(&mut browser, "acme", &params).await;
        let location = seen
            .location()
            .unwrap_or_else(|| panic!("{changes:?}: {}", seen.body))
            .to_owned();
        assert!(
            location.starts_with(&format!("{REDIRECT}#")),
            "{changes:?}: {location}"
        );
        assert_eq!(seen.location_params()["error"], error, "{changes:?}");
    }

    // response_mode=form_post: a page that posts the answer to the redirect URI, whose
    // only script is allowed by its hash.
    let (mut signed_in, _) = signed_in_browser(&fx).await;
    let params = request(
        &fx.trusted,
        "openid read",
        &[("response_mode", "form_post")],
    );
    let seen = authorize(&mut signed_in, "acme", &params).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(seen.location().is_none());
    assert!(
        seen.text()
            .contains(&format!("<form method=\"post\" action=\"{REDIRECT}\">")),
        "{}",
        seen.body
    );
    let code = unescape_html(&seen.input("code").expect("the code in the form"));
    assert_eq!(seen.input("state").as_deref(), Some("xyz"));
    assert_eq!(
        seen.input("iss").map(|iss| unescape_html(&iss)),
        Some(issuer(app, "acme"))
    );
    let policy = seen.headers["content-security-policy"].to_str().unwrap();
    let script = "document.forms[0].submit()";
    let hash = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()))
    };
    assert!(
        policy.contains(&format!("script-src 'sha256-{hash}'")),
        "{policy}"
    );
    assert!(seen.body.contains(&format!("<script>{script}</script>")));
    let tokens = exchange(app, "acme", &fx.trusted, &code, Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
}

/// JWT access tokens (RFC 9068) for a client that asks for them: `typ: at+jwt`, a
/// published `kid`, `iss`, `sub` (the user's subject, or the client's id), `aud`,
/// `client_id`, `scope`, `jti`, `exp`, `iat`; recorded like opaque tokens, so
/// introspection, UserInfo and revocation work, and a revoked JWT is inactive before it
/// expires.
async fn rfc9068_jwt_access_tokens(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let jwt_rp = app
        .register(
            "acme",
            Registration {
                client_id: "jwt-rp",
                confidential: true,
                grant_types: "authorization_code,refresh_token,client_credentials",
                scopes: "",
                origins: "",
                redirect_uris: REDIRECT,
                skip_authorization: false,
            },
        )
        .await;
    app.update_client(
        "acme",
        "jwt-rp",
        entity::application::ActiveModel {
            access_token_format: sea_orm::ActiveValue::Set("jwt".to_owned()),
            ..Default::default()
        },
    )
    .await;
    let expected_issuer = issuer(app, "acme");
    let verify_access = |token: String| {
        let expected_issuer = expected_issuer.clone();
        async move {
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1");
            assert_eq!(header.alg, Algorithm::RS256);
            let jwks: JwkSet =
                serde_json::from_str(&get_json(app, &format!("{expected_issuer}/jwks")).await.text)
                    .unwrap();
            let jwk = jwks
                .find(header.kid.as_deref().unwrap())
                .expect("a published kid");
            let mut validation = Validation::new(Algorithm::RS256);
            validation.set_audience(&[expected_issuer.as_str()]);
            validation.set_issuer(&[expected_issuer.as_str()]);
            validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
            jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
                .unwrap()
                .claims
        }
    };
    // Client credentials: `sub` is the client.
    let answer = token(
        app,
        "acme",
        &jwt_rp,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let claims = verify_access(string(&answer, "access_token")).await;
    assert_eq!(claims["sub"], "jwt-rp");
    assert_eq!(claims["client_id"], "jwt-rp");
    assert_eq!(claims["scope"], "read");
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));

    // The code flow: `sub` is the user's subject; at_hash covers the JWT.
    let tokens = code_flow(app, "acme", &jwt_rp, "openid read").await;
    let access = string(&tokens, "access_token");
    let claims = verify_access(access.clone()).await;
    let subject = app.subject("acme", fx.alice).await;
    assert_eq!(claims["sub"], subject);
    assert!(claims["auth_time"].is_i64());
    let (_, id_claims) = verify(app, "acme", &jwt_rp, &string(&tokens, "id_token")).await;
    assert_eq!(id_claims["at_hash"], at_hash(&access));
    assert_eq!(
        userinfo_get(app, "acme", &access).await.body["sub"],
        subject
    );
    let described = introspect(app, "acme", &fx.introspector, &access).await;
    assert_eq!(described["active"], true);
    assert_eq!(described["sub"], subject);
    let refreshed = token(
        app,
        "acme",
        &jwt_rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &string(&tokens, "refresh_token")),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let renewed = verify_access(string(&refreshed, "access_token")).await;
    assert_eq!(renewed["sub"], subject);
    assert_ne!(renewed["jti"], claims["jti"]);
    // Revoked: inactive at once, though its `exp` is an hour away.
    let revoked = app
        .post_form(
            "/t/acme/revoke",
            Some(&jwt_rp),
            &[("token", &string(&refreshed, "access_token"))],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let described = introspect(
        app,
        "acme",
        &fx.introspector,
        &string(&refreshed, "access_token"),
    )
    .await;
    assert_eq!(described, json!({"active": false}));
    assert_eq!(
        userinfo_get(app, "acme", &string(&refreshed, "access_token"))
            .await
            .status,
        401
    );
}

/// A fresh browser's authorization request to tenant `open`.
async fn ask_open(app: &TestApp, params: &[(&str, &str)]) -> (Browser, Seen) {
    let mut browser = Browser::new(&app.address);
    let seen = authorize(&mut browser, "open", params).await;
    (browser, seen)
}

/// The sign-up form of the page `to_sign_up` redirects to, filled and posted.
async fn sign_up(
    browser: &mut Browser,
    to_sign_up: &Seen,
    username: &str,
    email: &str,
    password: &str,
) -> Seen {
    // An authorization's sign-up page is a 303 away; a plain sign-up's is the page.
    let (location, page) = if to_sign_up.status == 303 {
        let location = to_sign_up.location().unwrap().to_owned();
        assert!(location.contains("/sign-up?interaction="), "{location}");
        let page = browser.get(&location).await;
        (location, page)
    } else {
        let page = Seen {
            status: to_sign_up.status,
            headers: to_sign_up.headers.clone(),
            body: to_sign_up.body.clone(),
        };
        (page.form_action().unwrap(), page)
    };
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page);
    assert_eq!(page.body.matches("<form").count(), 1, "{}", page.body);
    for field in ["username", "email", "password"] {
        assert!(
            page.body.contains(&format!("name=\"{field}\"")),
            "{}",
            page.body
        );
    }
    let mut fields = page.hidden_inputs();
    for (name, value) in [
        ("username", username),
        ("email", email),
        ("password", password),
    ] {
        fields.push((name.to_owned(), value.to_owned()));
    }
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser
        .post(location.split('?').next().unwrap(), &fields)
        .await
}

/// OpenID Connect Prompt Create 1.0. Where sign-up is off (the default) `create` is
/// not advertised, `prompt=create` is `invalid_request` back at the client (§4.1)
/// and the page is a 404. Where it is on: `create` is advertised (§4.2);
/// `prompt=create` shows the sign-up page even to a signed-in browser; refusals
/// (short password, taken name, forged CSRF) create nothing and say why; a new
/// account signs in at once and the flow ends in an ID token for the new subject
/// with an unverified e-mail; the login page links to sign-up; two concurrent
/// sign-ups for one name make one user; an address is limited to
/// `max_sign_ups_per_address` accounts.
async fn prompt_create_sign_up(backend: Backend) {
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let discovery =
        |tenant: &str| app.url(&format!("/t/{tenant}/.well-known/openid-configuration"));
    let closed = get_json(app, &discovery("acme")).await;
    let values = closed.body["prompt_values_supported"].as_array().unwrap();
    assert!(!values.contains(&json!("create")), "{values:?}");
    assert!(values.contains(&json!("login")), "{values:?}");
    let mut browser = Browser::new(&app.address);
    for prompt in ["create", "login bogus", "none create"] {
        let (status, location) = ask(
            &mut browser,
            &request(&fx.rp, "openid", &[("prompt", prompt)]),
        )
        .await;
        assert_eq!(status, 303, "prompt={prompt}");
        assert!(location.starts_with(REDIRECT), "{location}");
        let answer = params_of(&location);
        assert_eq!(answer["error"], "invalid_request", "prompt={prompt}");
        assert_eq!(answer["state"], "xyz");
        assert_eq!(answer["iss"], issuer(app, "acme"));
    }
    let page = browser.get("/t/acme/sign-up").await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert!(
        page.body.contains("does not offer sign-up"),
        "{}",
        page.body
    );
    let first = authorize(&mut browser, "acme", &request(&fx.rp, "openid", &[])).await;
    let login = browser.get(first.location().unwrap()).await;
    assert!(
        !login.text().contains("/sign-up"),
        "no sign-up link: {}",
        login.body
    );

    let open = app
        .register(
            "open",
            Registration {
                client_id: "rp",
                confidential: true,
                grant_types: "authorization_code,refresh_token",
                scopes: "",
                origins: "",
                redirect_uris: REDIRECT,
                skip_authorization: false,
            },
        )
        .await;
    app.user("open", "alice", "correct horse").await;
    let advertised = get_json(app, &discovery("open")).await;
    let values = advertised.body["prompt_values_supported"]
        .as_array()
        .unwrap();
    assert!(values.contains(&json!("create")), "{values:?}");
    let (mut browser, first) = ask_open(
        app,
        &request(&open, "openid email read", &[("prompt", "create")]),
    )
    .await;
    let location = first.location().unwrap().to_owned();
    // The login page of an open tenant links to the sign-up page of the same
    // interaction, and back.
    let key = location.split("interaction=").nth(1).unwrap().to_owned();
    let login = browser
        .get(&format!("/t/open/login?interaction={key}"))
        .await;
    assert!(
        login
            .text()
            .contains(&format!("/t/open/sign-up?interaction={key}")),
        "{}",
        login.body
    );
    let short = sign_up(&mut browser, &first, "carol", "", "short").await;
    assert_eq!(short.status, 303);
    let again = short.location().unwrap().to_owned();
    assert!(
        again.contains("error=password") && again.contains("username=carol"),
        "{again}"
    );
    let shown = browser.get(&again).await;
    assert!(
        shown.body.contains("at least 8 characters"),
        "{}",
        shown.body
    );
    assert_eq!(shown.input("username").as_deref(), Some("carol"));
    assert!(
        shown
            .text()
            .contains(&format!("/t/open/login?interaction={key}"))
    );
    let taken = sign_up(&mut browser, &first, "alice", "", "a long passphrase").await;
    assert!(
        taken.location().unwrap().contains("error=taken"),
        "{taken:?}"
    );
    let forged = browser
        .post(
            "/t/open/sign-up",
            &[
                ("interaction", key.as_str()),
                ("csrf", "forged"),
                ("username", "mallory"),
                ("password", "a long passphrase"),
            ],
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let open_tenant = app.tenant("open").await;
    let find = |username: &'static str| {
        let data = app.state.data(&open_tenant);
        async move {
            tessera::store::users::find_by_username(data, username, false)
                .await
                .unwrap()
        }
    };
    assert!(
        find("mallory").await.is_none(),
        "a forged form creates nothing"
    );
    assert!(
        find("carol").await.is_none(),
        "a refused form creates nothing"
    );

    let created = sign_up(
        &mut browser,
        &first,
        "carol",
        "carol@example.com",
        "a long passphrase",
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let back = decide(&mut browser, &created, true).await;
    let params = back.location_params();
    let tokens = exchange(app, "open", &open, &params["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let (_, claims) = verify(app, "open", &open, &string(&tokens, "id_token")).await;
    let carol = find("carol").await.expect("the account exists");
    assert!(carol.is_active);
    assert_eq!(claims["sub"], carol.subject.as_str());
    assert!(claims["auth_time"].is_i64(), "{claims}");
    let info = userinfo_get(app, "open", &string(&tokens, "access_token")).await;
    assert_eq!(info.body["sub"], carol.subject.as_str());
    assert_eq!(info.body["email"], "carol@example.com");
    assert_eq!(info.body["email_verified"], false);
    // Signed in as carol, prompt=create still shows the sign-up page.
    let signed_in = authorize(
        &mut browser,
        "open",
        &request(&open, "openid", &[("prompt", "create")]),
    )
    .await;
    assert!(
        signed_in
            .location()
            .unwrap()
            .contains("/t/open/sign-up?interaction="),
        "{signed_in:?}"
    );
    // The password was stored as a password: carol signs in with it.
    let (mut other, first) = ask_open(app, &request(&open, "openid", &[])).await;
    let after_login = sign_in(&mut other, &first, "carol", "a long passphrase").await;
    assert!(
        after_login.location().unwrap().contains("/consent?"),
        "{after_login:?}"
    );

    // Two sign-ups for one name at once: one account, the other told it is taken.
    let (mut one, first_one) =
        ask_open(app, &request(&open, "openid", &[("prompt", "create")])).await;
    let (mut two, first_two) =
        ask_open(app, &request(&open, "openid", &[("prompt", "create")])).await;
    let (a, b) = tokio::join!(
        sign_up(&mut one, &first_one, "dave", "", "a long passphrase"),
        sign_up(&mut two, &first_two, "dave", "", "another passphrase"),
    );
    let outcomes: Vec<bool> = [&a, &b]
        .iter()
        .map(|seen| seen.location().unwrap().contains("error=taken"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|taken| **taken).count(),
        1,
        "{a:?} {b:?}"
    );
    assert!(find("dave").await.is_some());

    // A plain sign-up (no client) ends on the authorized-tokens page.
    let mut plain = Browser::new(&app.address);
    let start = plain.get("/t/open/sign-up").await;
    let done = sign_up(&mut plain, &start, "erin", "", "a long passphrase").await;
    assert_eq!(
        done.location(),
        Some("/t/open/authorized-tokens"),
        "{done:?}"
    );
    // Five attempts so far from this address (taken, carol, dave twice, erin).
    let start = plain.get("/t/open/sign-up").await;
    let limited = sign_up(&mut plain, &start, "frank", "", "a long passphrase").await;
    assert!(
        limited.location().unwrap().contains("error=too_many"),
        "{limited:?}"
    );
    assert!(find("frank").await.is_none());
}

on_every_backend!(
    prompt_create_sign_up,
    rfc9068_jwt_access_tokens,
    oidcc_implicit_and_hybrid,
    rp_initiated_logout,
    oidcc_prompt_none,
    oidcc_prompt_none_logged_in,
    oidcc_prompt_login,
    oidcc_max_age,
    oidcc_id_token_hint,
);

on_every_backend!(
    oidcc_server,
    oidcc_idtoken_signature,
    oidcc_userinfo_get_post_header_post_body,
    oidcc_scope_profile_email_address_phone_all,
    oidcc_refresh_token,
    oidcc_codereuse,
    oidcc_server_rotate_keys,
);

/// Private keys are sealed at rest: the database file holds no private key in the
/// clear, and a wrong or missing key-encryption key stops the start with a message
/// that says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_sealed_at_rest_and_need_their_kek() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let app = spawn_app_with(&oidc_toml(&url)).await.unwrap();
    // The start opened every tenant's keys to check the KEK, and kept none: a node
    // holds a tenant's keys once it serves the tenant (issue 20: memory per tenant).
    assert_eq!(
        app.state.keys.counts().misses,
        0,
        "keys held after the start"
    );
    let jwks = app
        .client
        .get(app.url("/t/acme/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    assert!(app.state.keys.counts().misses >= 1);
    let tenant = app.tenant("acme").await;
    let rows = tessera::store::signing_keys::all(&app.state.databases, tenant.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "one key per algorithm, made with the tenant");
    let kek = tessera::jose::sealing::KeyEncryptionKey::parse(TEST_KEK, "test").unwrap();
    let stored = std::fs::read(&file).unwrap();
    for row in &rows {
        let context = format!("tessera signing key v1\0{}\0{}", row.tenant_id, row.kid);
        let pkcs8 = kek
            .open(context.as_bytes(), &row.sealed_private_key)
            .unwrap();
        assert!(pkcs8.len() > 40);
        // Any 32-byte window of the private key would show up in the file.
        let window = &pkcs8[pkcs8.len() - 32..];
        assert!(
            !stored.windows(32).any(|part| part == window),
            "{} key in the clear in the database file",
            row.algorithm
        );
        assert!(
            row.sealed_private_key
                .starts_with(&format!("v1.{}.", kek.id()))
        );
    }
    app.stop().await;

    let other = tessera::jose::sealing::KeyEncryptionKey::generate().unwrap();
    let wrong = spawn_app_with(&format!(
        "key_encryption_key = \"{other}\"\n{}",
        oidc_toml(&url)
    ))
    .await
    .err()
    .expect("a wrong key-encryption key stops the start");
    let message = wrong.to_string();
    assert!(
        message.contains("sealed with the key-encryption key"),
        "{message}"
    );
    assert!(
        message.contains(kek.id()),
        "names the key they need: {message}"
    );

    // Nor in any log line this process wrote (every test's, at debug level): the
    // private keys in any encoding, the key-encryption key.
    let logs = tessera_tests::captured_logs();
    assert!(
        logs.contains("tenant created"),
        "the capture works: {} bytes",
        logs.len()
    );
    let kek_bytes = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(TEST_KEK)
            .unwrap()
    };
    for row in &rows {
        let context = format!("tessera signing key v1\0{}\0{}", row.tenant_id, row.kid);
        let pkcs8 = kek
            .open(context.as_bytes(), &row.sealed_private_key)
            .unwrap();
        use base64::Engine;
        // Base64 of the key's secret half at each of the three alignments (a PEM or a
        // JWK `d` would contain one of them), and hex.
        let mut encodings: Vec<String> = Vec::new();
        for offset in 0..3 {
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                let secret_half = &pkcs8[pkcs8.len() / 2 + offset..];
                encodings.push(engine.encode(secret_half)[4..28].to_owned());
            }
        }
        let middle = pkcs8.len() / 2;
        encodings.push(
            pkcs8[middle..middle + 16]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        );
        // And as `Debug` prints bytes.
        let debug = format!("{:?}", &pkcs8[middle..middle + 12]);
        encodings.push(debug.trim_matches(['[', ']']).to_owned());
        for encoded in encodings {
            assert!(
                !logs.contains(&encoded),
                "{} private key in the logs",
                row.algorithm
            );
        }
    }
    assert!(!logs.contains(TEST_KEK) && !logs.contains(&String::from_utf8_lossy(&kek_bytes)[..16]));

    let config = tessera::Config::from_toml(&oidc_toml(&url)).unwrap();
    let missing = tessera::startup::Application::build(config)
        .await
        .err()
        .expect("no KEK");
    assert!(
        missing.to_string().contains("tessera keys generate-kek"),
        "{missing}"
    );
}

/// A start does not wait for the keys a tenant lacks (tenants declared in the
/// configuration are made without keys, as an import leaves them): the node answers
/// at once and makes them in the background, each once, while a request to a tenant
/// whose turn has not come makes that tenant's keys itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_makes_missing_keys_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tessera.db").display()
    );
    let mut toml = format!("migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n");
    let slugs: Vec<String> = (0..8).map(|n| format!("t{n}")).collect();
    for slug in &slugs {
        toml.push_str(&format!("[tenants.{slug}]\n"));
    }
    let app = spawn_app_with(&toml).await.unwrap();
    let mut tenants = Vec::new();
    for slug in &slugs {
        tenants.push(app.tenant(slug).await);
    }
    let stored = |tenants: Vec<std::sync::Arc<tessera::tenancy::Tenant>>| {
        let databases = app.state.databases.clone();
        async move {
            let mut rows = Vec::new();
            for tenant in &tenants {
                rows.push(
                    tessera::store::signing_keys::all(&databases, tenant.id)
                        .await
                        .unwrap(),
                );
            }
            rows
        }
    };
    let at_start: usize = stored(tenants.clone()).await.iter().map(Vec::len).sum();
    // Eight RSA-2048 keys alone take far longer than the start took.
    assert!(at_start < 24, "the start made every key before answering");

    // Tenants asked for now make their own keys (or find the background's).
    let (last, middle) = tokio::join!(
        app.client.get(app.url("/t/t7/jwks")).send(),
        app.client.get(app.url("/t/t3/jwks")).send()
    );
    for response in [last.unwrap(), middle.unwrap()] {
        assert_eq!(response.status(), 200);
        let jwks: serde_json::Value = response.json().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 3, "{jwks}");
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let rows = loop {
        let rows = stored(tenants.clone()).await;
        if rows.iter().map(Vec::len).sum::<usize>() >= 24 {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the background did not make every tenant's keys"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for (slug, keys) in slugs.iter().zip(&rows) {
        let mut algorithms: Vec<&str> = keys.iter().map(|key| key.algorithm.as_str()).collect();
        algorithms.sort_unstable();
        assert_eq!(
            algorithms,
            ["ES256", "EdDSA", "RS256"],
            "{slug}: each key once"
        );
    }
    app.stop().await;
}

/// A black-box relying party: the `openidconnect` crate (an independent Rust
/// implementation) against a tenant, through discovery, code + PKCE, ID-token
/// verification with the keys it fetched from the JWKS (signature, `iss`, `aud`,
/// `nonce`, `at_hash`), UserInfo with the ID token's subject, refresh and RP-initiated
/// logout.
async fn openidconnect_crate_relying_party(backend: Backend) {
    use openidconnect::core::{CoreClient, CoreResponseType, CoreUserInfoClaims};
    use openidconnect::{
        AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
        IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
        PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
    };
    let Some(fx) = fixture(backend).await else {
        return;
    };
    let app = &fx.app;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer_url = IssuerUrl::new(issuer(app, "acme")).unwrap();
    let metadata = ProviderMetadataWithLogout::discover_async(issuer_url, &http)
        .await
        .expect("discovery");
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(fx.rp.client_id.clone()),
        Some(ClientSecret::new(fx.rp.client_secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("read".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = Browser::new(&app.address);
    let first = browser.get(url.as_str()).await;
    let after_login = sign_in(&mut browser, &first, "alice", "correct horse").await;
    let back = decide(&mut browser, &after_login, true)
        .await
        .location_params();
    assert_eq!(&back["state"], csrf.secret());
    let tokens = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.extra_fields().id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token verifies");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert_eq!(
        claims.subject().as_str(),
        app.subject("acme", fx.alice).await
    );
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(
        info.preferred_username().map(|name| name.as_str()),
        Some("alice")
    );
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let renewed = refreshed
        .extra_fields()
        .id_token()
        .expect("a refreshed ID token");
    // OIDC Core §12.2: no nonce on refresh.
    let no_nonce = |nonce: Option<&Nonce>| match nonce {
        None => Ok(()),
        Some(_) => Err("a refreshed ID token has no nonce".to_owned()),
    };
    let renewed_claims = renewed.claims(&verifier, no_nonce).expect("it verifies");
    assert_eq!(renewed_claims.subject(), claims.subject());
    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(renewed)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(SIGNED_OUT.to_owned()).unwrap())
        .set_state(CsrfToken::new("bye".to_owned()))
        .http_get_url();
    let page = browser.get(logout.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = browser
        .post(
            "/t/acme/end_session",
            &[
                ("csrf", &page.input("csrf").unwrap()),
                ("client_id", &fx.rp.client_id),
                ("post_logout_redirect_uri", SIGNED_OUT),
                ("state", "bye"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(
        done.location(),
        Some(format!("{SIGNED_OUT}?state=bye").as_str())
    );
}

on_every_backend!(openidconnect_crate_relying_party);
// Decided before anything is stored or apart from the database: request validation,
// the discovery document, the algorithms a client may register (docs/testing.md).
on_sqlite_only!(
    oidcc_ensure_redirect_uri_in_authorization_request,
    oidcc_request_object_rejected_as_unsupported,
    oidcc_idtoken_unsigned,
    oidcc_request_parameters,
    oidcc_discovery_endpoint_verification,
);
