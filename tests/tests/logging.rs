//! docs/security.md: secrets, tokens, codes and verifiers never reach a log line. A whole
//! set of flows runs with every log level on, captured by the process-wide subscriber
//! (this test binary runs nothing else), and the capture is searched for each secret
//! value that crossed the wire. The database file is searched too: tokens are stored
//! only as checksums.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use tessera_tests::{Backend, TestClient, TestDatabase, spawn_app_with};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.acme.oauth]\nrefresh_token_grace_period_secs = 30\n",
        db.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
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
    app.user("acme", "alice", "hunter2-password").await;
    let secret = client.client_secret.clone().unwrap();
    let mut secrets = vec![secret.clone(), "hunter2-password".to_owned()];

    let answer = app
        .post_form(
            "/t/acme/token",
            Some(&client),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "hunter2-password"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let refresh_token = answer.body["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(answer.body["access_token"].as_str().unwrap().to_owned());
    secrets.push(refresh_token.clone());
    let rotated = app
        .post_form(
            "/t/acme/token",
            Some(&client),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    secrets.push(rotated.body["access_token"].as_str().unwrap().to_owned());
    secrets.push(rotated.body["refresh_token"].as_str().unwrap().to_owned());
    // client_secret_post puts the secret in the body.
    let cc = app
        .post_form(
            "/t/acme/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "web"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(cc.status, 200, "{}", cc.text);
    let cc_token = cc.body["access_token"].as_str().unwrap().to_owned();
    secrets.push(cc_token.clone());
    app.post_form("/t/acme/introspect", Some(&client), &[("token", &cc_token)])
        .await;
    // A bearer caller, with its token in a query string too (RFC 6750 §2.3 style).
    let introspector = app
        .client(
            "acme",
            "rs",
            true,
            "client_credentials",
            "introspection",
            "",
        )
        .await;
    secrets.push(introspector.client_secret.clone().unwrap());
    let bearer = app
        .post_form(
            "/t/acme/token",
            Some(&introspector),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "introspection"),
            ],
        )
        .await;
    let bearer = bearer.body["access_token"].as_str().unwrap().to_owned();
    secrets.push(bearer.clone());
    let answer = app
        .send_form(
            app.client
                .post(app.url(&format!("/t/acme/introspect?access_token={bearer}")))
                .header("authorization", format!("Bearer {bearer}")),
            &[("token", &cc_token)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // The encoded Basic credentials are a secret too.
    secrets.push(
        tessera_tests::basic_header("web", &secret)
            .trim_start_matches("Basic ")
            .to_owned(),
    );
    app.post_form("/t/acme/revoke", Some(&client), &[("token", &cc_token)])
        .await;
    // A retry within the grace period opens the sealed pair; a second rotation makes
    // the first token a reuse.
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    let retried = app
        .post_form(
            "/t/acme/token",
            Some(&client),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await;
    assert_eq!(retried.body["refresh_token"], second.as_str());
    let third = app
        .post_form(
            "/t/acme/token",
            Some(&client),
            &[("grant_type", "refresh_token"), ("refresh_token", &second)],
        )
        .await;
    assert_eq!(third.status, 200, "{}", third.text);
    secrets.push(third.body["access_token"].as_str().unwrap().to_owned());
    secrets.push(third.body["refresh_token"].as_str().unwrap().to_owned());
    // Failures log too: a wrong secret, a reused refresh token, a wrong password.
    let wrong = TestClient {
        client_id: "web".into(),
        client_secret: Some("tss_wrong-secret-value".into()),
    };
    secrets.push("tss_wrong-secret-value".to_owned());
    app.post_form(
        "/t/acme/token",
        Some(&wrong),
        &[("grant_type", "client_credentials")],
    )
    .await;
    app.post_form(
        "/t/acme/token",
        Some(&client),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    app.post_form(
        "/t/acme/token",
        Some(&client),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wrong-password-value"),
        ],
    )
    .await;
    secrets.push("wrong-password-value".to_owned());
    secrets.extend(browser_flows(&app).await);
    // An operator's change: a new password set and the user disabled.
    let tenant = app.tenant("acme").await;
    let alice = tessera::administration::users::find(&app.state.databases, &tenant, "alice")
        .await
        .unwrap();
    let changes = tessera::store::users::AccountChanges {
        password_hash: Some(tessera::secrets::hash_password("operator-set-password").unwrap()),
        active: Some(false),
        ..Default::default()
    };
    secrets.push("operator-set-password".to_owned());
    tessera::administration::users::change(
        &app.state.databases,
        &tenant,
        &alice,
        &changes,
        &tessera::administration::Actor::CommandLine,
    )
    .await
    .unwrap();
    app.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/t/acme/token"),
        "the capture must see the requests:\n{logs}"
    );
    assert!(
        logs.contains("refresh token reuse detected"),
        "warnings are captured too"
    );
    // Issue 19: an access line per request, and the security events at warn, each
    // checked to be there so that the search for secrets below searches them too.
    for expected in [
        "tessera::access",
        "route=\"token\"",
        "request_id=",
        "event=\"login_failed\"",
        "event=\"client_authentication_failed\"",
        "event=\"refresh_reuse\"",
        "tessera::audit",
        "action=\"user.disable\"",
    ] {
        assert!(
            logs.contains(expected),
            "no {expected} in the logs:\n{logs}"
        );
    }
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "{secret} leaked into the logs"
        );
    }

    // DESIGN §5: tokens are stored only as SHA-256 checksums — no token, secret or
    // password is anywhere in the database file (its WAL included), sealed
    // grace-period pairs included.
    let path = db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut stored = Vec::new();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            stored.extend(bytes);
        }
    }
    assert!(stored.len() > 4096, "the database file was read");
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains(&tessera::secrets::checksum(&cc_token)),
        "checksums are stored"
    );
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "{secret} is stored in the clear"
        );
    }
}

/// The browser flows with every secret they carry: the code flow with PKCE through
/// the login and consent pages (interaction and session cookies, CSRF tokens, the
/// code, the verifier, the ID token), a plain sign-in (its form cookie), the device
/// flow (device and user codes) and RP-initiated logout. Returns the secrets.
async fn browser_flows(app: &tessera_tests::TestApp) -> Vec<String> {
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let rp = app
        .client(
            "acme",
            "rp",
            true,
            "authorization_code,refresh_token",
            "",
            "",
        )
        .await;
    app.client(
        "acme",
        "tv",
        false,
        "urn:ietf:params:oauth:grant-type:device_code",
        "",
        "",
    )
    .await;
    let mut secrets = vec![rp.client_secret.clone().unwrap(), VERIFIER.to_owned()];
    let mut browser = tessera_tests::Browser::new(&app.address);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid read"),
            ("state", "xyz"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let to_login = browser.get(&format!("/t/acme/authorize?{query}")).await;
    let login = browser.get(to_login.location().unwrap()).await;
    let mut fields = login.hidden_inputs();
    fields.push(("username".to_owned(), "alice".to_owned()));
    fields.push(("password".to_owned(), "hunter2-password".to_owned()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let to_consent = browser.post("/t/acme/login", &pairs).await;
    let consent = browser.get(to_consent.location().unwrap()).await;
    let mut fields = consent.hidden_inputs();
    fields.push(("allow".to_owned(), "1".to_owned()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let back = browser.post("/t/acme/consent", &pairs).await;
    let code = back.location_params()["code"].clone();
    let tokens = app
        .post_form(
            "/t/acme/token",
            Some(&rp),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/cb"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let id_token = tokens.body["id_token"].as_str().unwrap().to_owned();
    secrets.extend([
        code,
        id_token.clone(),
        tokens.body["access_token"].as_str().unwrap().to_owned(),
        tokens.body["refresh_token"].as_str().unwrap().to_owned(),
    ]);
    for (name, value) in login
        .hidden_inputs()
        .into_iter()
        .chain(consent.hidden_inputs())
    {
        if name == "csrf" {
            secrets.push(value);
        }
    }

    // A plain sign-in in another browser: its form cookie and CSRF token.
    let mut plain = tessera_tests::Browser::new(&app.address);
    let form = plain.get("/t/acme/login").await;
    let mut fields = form.hidden_inputs();
    fields.push(("username".to_owned(), "alice".to_owned()));
    fields.push(("password".to_owned(), "hunter2-password".to_owned()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let signed_in = plain.post("/t/acme/login", &pairs).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);

    // The device flow: the device code and the user code as typed.
    let device = app
        .post_form(
            "/t/acme/device_authorization",
            None,
            &[("client_id", "tv"), ("scope", "read")],
        )
        .await;
    assert_eq!(device.status, 200, "{}", device.text);
    let user_code = device.body["user_code"].as_str().unwrap().to_owned();
    secrets.push(device.body["device_code"].as_str().unwrap().to_owned());
    secrets.push(user_code.replace('-', ""));
    secrets.push(user_code.clone());
    let confirm = browser
        .get(&format!("/t/acme/device?user_code={user_code}"))
        .await;
    let mut fields = confirm.hidden_inputs();
    fields.push(("allow".to_owned(), "1".to_owned()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let decided = browser.post("/t/acme/device", &pairs).await;
    assert_eq!(decided.status, 303, "{}", decided.body);

    // RP-initiated logout with the ID token as hint.
    let logout = browser
        .get(&format!(
            "/t/acme/end_session?client_id=rp&id_token_hint={id_token}"
        ))
        .await;
    assert!(logout.status < 500, "{}", logout.body);

    // Every cookie either browser held.
    for browser in [&browser, &plain] {
        secrets.extend(
            browser
                .cookies
                .values()
                .filter(|value| !value.is_empty())
                .cloned(),
        );
    }
    secrets
}
