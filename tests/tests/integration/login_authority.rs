//! Who decides a sign-in (issue 16, items 2 and 3), over HTTP on every backend, the
//! way a browser and a login application would, and as an attacker holding either
//! would: an interaction an external login application decides is refused by
//! Tessera's login, sign-up and consent pages (before any password is checked or any
//! session or account made); its rejection and its narrowed scope stand; plain
//! sign-ins of such a tenant go to that application too; a login application's
//! credential drives only the interactions of the login URL it is bound to; a
//! session counts only where the authority that started it decides.

use serde_json::{Value, json};
use tessera_tests::{
    Answer, Backend, Browser, Registration, Seen, TestApp, TestClient, TestDatabase,
    on_every_backend, spawn_app_with,
};

use crate::browser_flows::{CHALLENGE, REDIRECT, VERIFIER, authorize, exchange, sign_in};
use crate::oauth::string;

const LOGIN_URL: &str = "https://login.acme.example/start";
const PARTNER_URL: &str = "https://login.partner.example/in";

fn authority_toml(url: &str) -> String {
    format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{url}\"\n\
         [tenants.acme.oauth]\nlogin_url = \"{LOGIN_URL}\"\nlogin_client_id = \"login-app\"\n\
         allow_sign_up = true\n\
         [tenants.mixed.oauth]\nallow_sign_up = true\n"
    )
}

fn rp(client_id: &str) -> Registration<'_> {
    Registration {
        client_id,
        confidential: true,
        grant_types: "authorization_code,refresh_token",
        scopes: "",
        origins: "",
        redirect_uris: REDIRECT,
        skip_authorization: false,
    }
}

fn code_request<'a>(client_id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "read write"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

/// The interaction id of a redirect to the login application at `login_url`.
fn interaction_at(seen: &Seen, login_url: &str) -> String {
    let location = seen.location().expect("a redirect").to_owned();
    assert!(
        location.starts_with(login_url),
        "to the login application: {location}"
    );
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "interaction_id")
        .map(|(_, value)| value.into_owned())
        .expect("interaction_id")
}

/// A call of the interaction API as `client`.
async fn api(
    app: &TestApp,
    client: &TestClient,
    tenant: &str,
    id: &str,
    decision: Option<(&str, Value)>,
) -> Answer {
    let basic =
        tessera_tests::basic_header(&client.client_id, client.client_secret.as_deref().unwrap());
    let request = match decision {
        None => app
            .client
            .get(app.url(&format!("/t/{tenant}/interactions/{id}"))),
        Some((decision, body)) => app
            .client
            .post(app.url(&format!("/t/{tenant}/interactions/{id}/{decision}")))
            .json(&body),
    };
    Answer::read(request.header("authorization", basic).send().await.unwrap()).await
}

/// The browser's interaction cookie secret for `id` (the browser owns it: an
/// attacker at the keyboard can compute every CSRF token of their own browser).
fn csrf_of(browser: &Browser, id: &str) -> String {
    let secret = &browser.cookies[&format!("tsi_{id}")];
    tessera::secrets::csrf_token(secret)
}

/// Tessera's pages refuse the interaction: a 403 page naming the application's
/// sign-in service.
fn assert_elsewhere(seen: &Seen) {
    assert_eq!(seen.status, 403, "{}", seen.body);
    assert!(
        seen.text().contains("sign-in service"),
        "says where to sign in: {}",
        seen.body
    );
    assert!(
        !seen
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|cookie| cookie.to_str().unwrap().starts_with("tessera_session_")),
        "no session: {seen:?}"
    );
}

async fn login_authority_is_enforced(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let app = spawn_app_with(&authority_toml(&db.url)).await.unwrap();
    for tenant in ["acme", "mixed"] {
        app.user(tenant, "alice", "correct horse").await;
    }
    let acme_rp = app.register("acme", rp("rp")).await;
    let login_app = app
        .client(
            "acme",
            "login-app",
            true,
            "client_credentials",
            "interactions",
            "",
        )
        .await;
    let impostor = app
        .client(
            "acme",
            "impostor",
            true,
            "client_credentials",
            "interactions",
            "",
        )
        .await;

    // 1. The browser takes the interaction to Tessera's own pages: refused, before
    // any password is checked, and the interaction stays the application's.
    let mut browser = Browser::new(&app.address);
    let first = authorize(&mut browser, "acme", &code_request("rp", &[])).await;
    let id = interaction_at(&first, LOGIN_URL);
    assert_elsewhere(
        &browser
            .get(&format!("/t/acme/login?interaction={id}"))
            .await,
    );
    let csrf = csrf_of(&browser, &id);
    let posted = browser
        .post(
            "/t/acme/login",
            &[
                ("interaction", id.as_str()),
                ("csrf", csrf.as_str()),
                ("username", "alice"),
                ("password", "correct horse"),
            ],
        )
        .await;
    assert_elsewhere(&posted);
    assert_elsewhere(
        &browser
            .get(&format!("/t/acme/sign-up?interaction={id}"))
            .await,
    );
    let signed_up = browser
        .post(
            "/t/acme/sign-up",
            &[
                ("interaction", id.as_str()),
                ("csrf", csrf.as_str()),
                ("username", "mallory"),
                ("password", "a long passphrase"),
            ],
        )
        .await;
    assert_elsewhere(&signed_up);
    let acme = app.tenant("acme").await;
    assert!(
        tessera::store::users::find_by_username(app.state.data(&acme), "mallory", false,)
            .await
            .unwrap()
            .is_none(),
        "no account was created"
    );
    assert_elsewhere(
        &browser
            .get(&format!("/t/acme/consent?interaction={id}"))
            .await,
    );
    let read = api(&app, &login_app, "acme", &id, None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["step"], "login", "unchanged: {}", read.text);
    assert_eq!(read.body["subject"], Value::Null);

    // 3. Another credential with the interactions scope drives nothing here.
    let foreign = api(&app, &impostor, "acme", &id, None).await;
    assert_eq!(foreign.status, 403, "{}", foreign.text);
    let foreign_login = api(
        &app,
        &impostor,
        "acme",
        &id,
        Some(("login", json!({"username": "alice"}))),
    )
    .await;
    assert_eq!(foreign_login.status, 403, "{}", foreign_login.text);
    let read = api(&app, &login_app, "acme", &id, None).await;
    assert_eq!(read.body["step"], "login", "no state change: {}", read.text);

    // 2. A rejection stands: Tessera's consent page cannot overturn it.
    let rejected = api(
        &app,
        &login_app,
        "acme",
        &id,
        Some(("reject", json!({"error": "access_denied"}))),
    )
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_elsewhere(
        &browser
            .get(&format!("/t/acme/consent?interaction={id}"))
            .await,
    );
    let overturn = browser
        .post(
            "/t/acme/consent",
            &[
                ("interaction", id.as_str()),
                ("csrf", csrf.as_str()),
                ("allow", "1"),
            ],
        )
        .await;
    assert_elsewhere(&overturn);
    let back = browser.get(&string(&rejected, "redirect_to")).await;
    assert_eq!(back.location_params()["error"], "access_denied", "{back:?}");

    // 2. A narrowed scope stands.
    let second = authorize(&mut browser, "acme", &code_request("rp", &[])).await;
    let id = interaction_at(&second, LOGIN_URL);
    let csrf = csrf_of(&browser, &id);
    let accepted = api(
        &app,
        &login_app,
        "acme",
        &id,
        Some(("login", json!({"username": "alice", "amr": ["pwd", "otp"]}))),
    )
    .await;
    let to_consent = browser.get(&string(&accepted, "redirect_to")).await;
    assert_eq!(interaction_at(&to_consent, LOGIN_URL), id);
    let narrowed = api(
        &app,
        &login_app,
        "acme",
        &id,
        Some(("consent", json!({"grant_scope": ["read"]}))),
    )
    .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text);
    let widened = browser
        .post(
            "/t/acme/consent",
            &[
                ("interaction", id.as_str()),
                ("csrf", csrf.as_str()),
                ("allow", "1"),
            ],
        )
        .await;
    assert_elsewhere(&widened);
    let done = browser.get(&string(&narrowed, "redirect_to")).await;
    let answer = done.location_params();
    let tokens = exchange(&app, "acme", &acme_rp, &answer["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.body["scope"], "read", "only what was granted");

    // Plain sign-ins of this tenant go to the login application too; Tessera's
    // own form is refused, with or without an interaction.
    let mut plain = Browser::new(&app.address);
    let to_app = plain.get("/t/acme/authorized-tokens").await;
    let plain_id = interaction_at(&to_app, LOGIN_URL);
    let to_app_again = plain.get("/t/acme/login").await;
    interaction_at(&to_app_again, LOGIN_URL);
    assert_elsewhere(
        &plain
            .post(
                "/t/acme/login",
                &[("username", "alice"), ("password", "correct horse")],
            )
            .await,
    );
    assert_elsewhere(&plain.get("/t/acme/sign-up").await);
    let described = api(&app, &login_app, "acme", &plain_id, None).await;
    assert_eq!(described.body["kind"], "sign_in", "{}", described.text);
    assert_eq!(described.body["client"], Value::Null);
    let consent_on_plain = api(
        &app,
        &login_app,
        "acme",
        &plain_id,
        Some(("consent", json!({"grant_scope": []}))),
    )
    .await;
    assert_eq!(consent_on_plain.status, 400, "{}", consent_on_plain.text);
    let accepted = api(
        &app,
        &login_app,
        "acme",
        &plain_id,
        Some(("login", json!({"username": "alice"}))),
    )
    .await;
    let returned = plain.get(&string(&accepted, "redirect_to")).await;
    assert_eq!(
        returned.location(),
        Some("/t/acme/authorized-tokens"),
        "{returned:?}"
    );
    let page = plain.get("/t/acme/authorized-tokens").await;
    assert_eq!(page.status, 200, "signed in by the login application");
    assert!(page.text().contains("alice"), "{}", page.body);

    // Tenant `mixed`: Tessera's pages for `own`, a partner's login application for
    // `partner` (per client).
    app.register("mixed", rp("own")).await;
    app.register("mixed", rp("partner")).await;
    app.update_client(
        "mixed",
        "partner",
        entity::application::ActiveModel {
            login_url: sea_orm::ActiveValue::Set(PARTNER_URL.to_owned()),
            login_client_id: sea_orm::ActiveValue::Set("partner-login".to_owned()),
            ..Default::default()
        },
    )
    .await;
    let partner_login = app
        .client(
            "mixed",
            "partner-login",
            true,
            "client_credentials",
            "interactions",
            "",
        )
        .await;

    // 3. The partner's credential cannot drive an interaction Tessera's pages decide
    // (it could sign anyone in to `own`).
    let mut victim = Browser::new(&app.address);
    let to_login = authorize(&mut victim, "mixed", &code_request("own", &[])).await;
    let own_id = to_login
        .location()
        .unwrap()
        .split("interaction=")
        .nth(1)
        .unwrap()
        .to_owned();
    let hijack = api(
        &app,
        &partner_login,
        "mixed",
        &own_id,
        Some(("login", json!({"username": "alice"}))),
    )
    .await;
    assert_eq!(hijack.status, 403, "{}", hijack.text);
    assert_eq!(
        api(&app, &partner_login, "mixed", &own_id, None)
            .await
            .status,
        403
    );
    // The interaction is untouched: the login page still asks for a password.
    let at_login = sign_in(&mut victim, &to_login, "alice", "correct horse").await;
    assert!(
        at_login
            .location()
            .unwrap()
            .contains("/consent?interaction="),
        "{at_login:?}"
    );

    // 6. A session the partner's application signs in counts for the partner's
    // client only: Tessera's pages and `prompt=none` for `own` ignore it.
    let mut partner_browser = Browser::new(&app.address);
    let to_partner = authorize(&mut partner_browser, "mixed", &code_request("partner", &[])).await;
    let partner_id = interaction_at(&to_partner, PARTNER_URL);
    let accepted = api(
        &app,
        &partner_login,
        "mixed",
        &partner_id,
        Some(("login", json!({"username": "alice"}))),
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let after = partner_browser.get(&string(&accepted, "redirect_to")).await;
    assert!(
        partner_browser
            .cookies
            .contains_key("tessera_session_mixed"),
        "a session: {after:?}"
    );
    let own_again = authorize(&mut partner_browser, "mixed", &code_request("own", &[])).await;
    assert!(
        own_again
            .location()
            .unwrap()
            .contains("/login?interaction="),
        "the partner's session is no session for `own`: {own_again:?}"
    );
    let silent = authorize(
        &mut partner_browser,
        "mixed",
        &code_request("own", &[("prompt", "none")]),
    )
    .await;
    assert_eq!(
        silent.location_params()["error"],
        "login_required",
        "{silent:?}"
    );
    let tokens_page = partner_browser.get("/t/mixed/authorized-tokens").await;
    assert!(
        tokens_page.location().unwrap().contains("/login?next="),
        "{tokens_page:?}"
    );
    // The partner's application sees its own session (`skip`) …
    let partner_again =
        authorize(&mut partner_browser, "mixed", &code_request("partner", &[])).await;
    let read = api(
        &app,
        &partner_login,
        "mixed",
        &interaction_at(&partner_again, PARTNER_URL),
        None,
    )
    .await;
    assert_eq!(read.body["skip"], true, "{}", read.text);
    // … but not one signed in on Tessera's pages.
    let victim_partner = authorize(&mut victim, "mixed", &code_request("partner", &[])).await;
    let read = api(
        &app,
        &partner_login,
        "mixed",
        &interaction_at(&victim_partner, PARTNER_URL),
        None,
    )
    .await;
    assert_eq!(read.body["skip"], false, "{}", read.text);
    assert_eq!(read.body["subject"], Value::Null, "{}", read.text);
    app.stop().await;
}

on_every_backend!(login_authority_is_enforced);
