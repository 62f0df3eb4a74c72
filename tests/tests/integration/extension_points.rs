//! DOT's extension points, done without a model swap (issue 9): application
//! extension fields declared in the configuration, validated as a whole, written by
//! the CLI and exposed as claims.

use base64::Engine;
use serde_json::{Value, json};
use tessera::application_fields::TypedFields;
use tessera::config::FieldsFor;
use tessera::endpoints::routes::Routes;
use tessera_tests::{
    Answer, Backend, CliRun, TestApp, TestClient, TestDatabase, config_file, on_every_backend,
    run_cli, run_cli_configured, spawn_app_with, spawn_configured,
};

use crate::browser_flows::REDIRECT;
use crate::oauth::{introspect, string, token};
use crate::openid_connect::{code_flow, userinfo_get, verify};

/// A service default (`logo`, every tenant) and acme's own fields.
fn fields_toml(url: &str) -> String {
    format!(
        "migrate_on_start = true\nclient_cache_ttl_secs = 0\n\
         [databases.default]\nurl = \"{url}\"\n\
         [applications.fields.logo]\ntype = \"url\"\nvisibility = \"public\"\n\
         [tenants.globex]\n\
         [tenants.acme.applications.fields.tier]\ntype = \"enum\"\nvalues = [\"free\", \"pro\"]\n\
         default = \"free\"\nexpose = [\"id_token\", \"introspection\", \"userinfo\", \"access_token\"]\n\
         [tenants.acme.applications.fields.agree]\ntype = \"bool\"\nrequired = true\n\
         [tenants.acme.applications.fields.api_key]\ntype = \"string\"\nvisibility = \"secret\"\n\
         [tenants.acme.applications.fields.seats]\ntype = \"integer\"\n\
         expose = [\"introspection\"]\nclaim = \"seats\"\n\
         [tenants.acme.applications.fields.tags]\ntype = \"list\"\n"
    )
}

async fn cli(path: &str, args: &[&str]) -> CliRun {
    let mut all = vec!["--config", path];
    all.extend_from_slice(args);
    run_cli(&all, "").await
}

fn json_of(run: &CliRun) -> Value {
    assert_eq!(run.code(), 0, "{}", run.message());
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.stdout))
}

/// The claims of a JWT, unverified (its signature is the OIDC tests' concern).
fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Extension fields: every violation named at once (exit 2), defaults on create,
/// `secret` fields never printed nor exposed, `app update` changing fields and
/// registration, fields of one tenant unknown in another, claims in ID tokens,
/// introspection, UserInfo and JWT access tokens, a removed declaration keeping its
/// value, `check --connect` refusing a new required field without default and naming
/// the applications, and a bad declaration stopping the start.
async fn application_extension_fields(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = fields_toml(&db.url);
    let app: TestApp = spawn_app_with(&toml).await.unwrap();
    let (_dir, path) = config_file(&toml);
    app.user("acme", "alice", "correct horse").await;
    let create = |extra: &'static [&'static str]| {
        let path = path.clone();
        async move {
            let mut args = vec![
                "app",
                "create",
                "--tenant",
                "acme",
                "--name",
                "App Web",
                "--client-type",
                "confidential",
                "--grant-types",
                "authorization_code,client_credentials,refresh_token",
                "--redirect-uris",
                REDIRECT,
                "--json",
            ];
            args.extend_from_slice(extra);
            cli(&path, &args).await
        }
    };
    let refused = create(&["--field", "logo=http://x.example", "--field", "color=red"]).await;
    assert_eq!(refused.code(), 2, "{}", refused.message());
    assert_eq!(
        refused.message(),
        "--field: logo: not an https URL; color: not a declared field; agree: required"
    );
    let created = json_of(
        &create(&[
            "--field",
            "agree=yes",
            "--field",
            "logo=https://cdn.example/logo.png",
            "--field",
            "api_key=s3cret-value",
            "--field",
            "tags=a, b",
        ])
        .await,
    );
    assert_eq!(
        created["fields"],
        json!({"agree": true, "logo": "https://cdn.example/logo.png", "tier": "free",
               "tags": ["a", "b"]}),
        "the default filled in, the secret field not shown: {created}"
    );
    let client = TestClient {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: Some(created["client_secret"].as_str().unwrap().to_owned()),
    };
    let id = client.client_id.as_str();

    let wrong = cli(
        &path,
        &[
            "app",
            "update",
            id,
            "--tenant",
            "acme",
            "--field",
            "tier=gold",
        ],
    )
    .await;
    assert_eq!(wrong.code(), 2);
    assert_eq!(wrong.message(), "--field: tier: not one of free, pro");
    let updated = json_of(
        &cli(
            &path,
            &[
                "app",
                "update",
                id,
                "--tenant",
                "acme",
                "--field",
                "tier=pro",
                "--field",
                "seats=5",
                "--field",
                "tags=",
                "--name",
                "App Web Renamed",
                "--allowed-origins",
                "https://web.example",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(updated["name"], "App Web Renamed");
    assert_eq!(updated["allowed_origins"], json!(["https://web.example"]));
    assert_eq!(
        updated["fields"],
        json!({"agree": true, "logo": "https://cdn.example/logo.png", "tier": "pro", "seats": 5})
    );
    let bad_url = cli(
        &path,
        &[
            "app",
            "update",
            id,
            "--tenant",
            "acme",
            "--login-url",
            "ftp://login.example",
        ],
    )
    .await;
    assert_eq!(bad_url.code(), 2, "{}", bad_url.message());
    assert!(
        bad_url.message().contains("--login-url"),
        "{}",
        bad_url.message()
    );
    let own_login = json_of(
        &cli(
            &path,
            &[
                "app",
                "update",
                id,
                "--tenant",
                "acme",
                "--login-url",
                "https://login.acme.example/in",
                "--login-client-id",
                "acme-login",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(own_login["login_url"], "https://login.acme.example/in");
    assert_eq!(own_login["login_client_id"], "acme-login");
    // A login URL needs the credential its application drives interactions with.
    let unbound = cli(
        &path,
        &[
            "app",
            "update",
            id,
            "--tenant",
            "acme",
            "--login-client-id",
            "",
        ],
    )
    .await;
    assert_eq!(unbound.code(), 2, "{}", unbound.message());
    assert!(
        unbound.message().contains("--login-client-id"),
        "{}",
        unbound.message()
    );
    let cleared = json_of(
        &cli(
            &path,
            &[
                "app",
                "update",
                id,
                "--tenant",
                "acme",
                "--login-url",
                "",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(cleared["login_url"], "");
    assert_eq!(cleared["login_client_id"], "", "cleared with its URL");
    let shown = cli(&path, &["app", "show", id, "--tenant", "acme"]).await;
    assert_eq!(shown.code(), 0, "{}", shown.message());
    assert!(shown.stdout.contains("field tier: pro"), "{}", shown.stdout);
    assert!(!shown.stdout.contains("s3cret"), "{}", shown.stdout);
    let listed = json_of(&cli(&path, &["app", "list", "--tenant", "acme", "--json"]).await);
    assert_eq!(listed[0]["fields"]["tier"], "pro");
    assert!(!listed.to_string().contains("s3cret"));
    // The CORS origins table follows the update.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/t/acme/token"))
        .header("origin", "https://web.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://web.example"
    );

    // globex has only the service default.
    let elsewhere = cli(
        &path,
        &[
            "app",
            "create",
            "--tenant",
            "globex",
            "--name",
            "G",
            "--client-type",
            "confidential",
            "--grant-types",
            "client_credentials",
            "--field",
            "tier=pro",
        ],
    )
    .await;
    assert_eq!(elsewhere.code(), 2);
    assert_eq!(elsewhere.message(), "--field: tier: not a declared field");

    // Claims, where each field is exposed.
    let tokens = code_flow(&app, "acme", &client, "openid read").await;
    let (_, id_claims) = verify(&app, "acme", &client, &string(&tokens, "id_token")).await;
    assert_eq!(id_claims["ext"], json!({"tier": "pro"}), "{id_claims}");
    assert!(id_claims.get("seats").is_none());
    let access_token = string(&tokens, "access_token");
    let info = userinfo_get(&app, "acme", &access_token).await;
    assert_eq!(info.body["ext"], json!({"tier": "pro"}), "{}", info.text);
    let described = introspect(&app, "acme", &client, &access_token).await;
    assert_eq!(described["active"], true);
    assert_eq!(described["ext"], json!({"tier": "pro"}));
    assert_eq!(described["seats"], 5);
    assert!(!described.to_string().contains("s3cret"));
    json_of(
        &cli(
            &path,
            &[
                "app",
                "update",
                id,
                "--tenant",
                "acme",
                "--access-token-format",
                "jwt",
                "--json",
            ],
        )
        .await,
    );
    let jwt = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(jwt.status, 200, "{}", jwt.text);
    assert_eq!(
        jwt_claims(&string(&jwt, "access_token"))["ext"],
        json!({"tier": "pro"})
    );

    // A declaration removed: its value is kept, neither shown nor validated.
    let without_seats = toml.replace(
        "[tenants.acme.applications.fields.seats]\ntype = \"integer\"\n\
         expose = [\"introspection\"]\nclaim = \"seats\"\n",
        "",
    );
    assert_ne!(without_seats, toml);
    let (_dir2, fewer) = config_file(&without_seats);
    let hidden = json_of(&cli(&fewer, &["app", "show", id, "--tenant", "acme", "--json"]).await);
    assert!(hidden["fields"].get("seats").is_none(), "{hidden}");
    let kept = json_of(&cli(&path, &["app", "show", id, "--tenant", "acme", "--json"]).await);
    assert_eq!(kept["fields"]["seats"], 5);

    // A new required field without a default: check --connect names the application.
    let ok = cli(&path, &["check", "--connect"]).await;
    assert_eq!(ok.code(), 0, "{}", ok.message());
    let stricter = format!(
        "{toml}[tenants.acme.applications.fields.contract]\ntype = \"string\"\nrequired = true\n"
    );
    let (_dir3, strict) = config_file(&stricter);
    let refused = cli(&strict, &["check", "--connect"]).await;
    assert_eq!(refused.code(), 1, "{}", refused.message());
    assert!(
        refused.message().contains(id) && refused.message().contains("contract"),
        "{}",
        refused.message()
    );
    let defaulted = format!("{stricter}default = \"standard\"\n");
    let (_dir4, lenient) = config_file(&defaulted);
    let passes = cli(&lenient, &["check", "--connect"]).await;
    assert_eq!(passes.code(), 0, "{}", passes.message());

    // A declaration that cannot work stops the start and the check.
    let broken = format!("{toml}[tenants.acme.applications.fields.plan]\ntype = \"enum\"\n");
    let error = spawn_app_with(&broken).await.err().expect("refused");
    assert!(
        error
            .to_string()
            .contains("tenants.acme.applications.fields.plan: an enum needs values"),
        "{error}"
    );
    let (_dir5, broken_path) = config_file(&broken);
    let checked = cli(&broken_path, &["check"]).await;
    assert_eq!(checked.code(), 2, "{}", checked.message());
    app.stop().await;
}

on_every_backend!(application_extension_fields);

/// acme's extension fields as an embedding program declares them: a Rust type.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Plan {
    #[default]
    Free,
    Pro,
}

fn five() -> u8 {
    5
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct AcmeApplication {
    /// Plan
    #[serde(default)]
    #[schemars(extend("x-tessera" = {"expose": ["introspection"], "visibility": "public"}))]
    plan: Plan,
    /// At most 255 (a u8): only the type knows.
    #[serde(default = "five")]
    seats: u8,
    #[schemars(url)]
    homepage: Option<String>,
    agree: bool,
}

/// A policy hook reading an application's typed fields: only `pro` applications
/// may use the client credentials grant.
#[derive(Debug)]
struct ProMachinesOnly(tessera::application_fields::TypedFields<AcmeApplication>);

impl tessera::policy::GrantTypePolicy for ProMachinesOnly {
    fn allows_grant_type(
        &self,
        _tenant: &tessera::tenancy::Tenant,
        application: &entity::application::Model,
        grant: tessera::registration::GrantType,
    ) -> Option<bool> {
        if grant != tessera::registration::GrantType::ClientCredentials {
            return None;
        }
        let fields = self.0.read(&application.extensions).ok()?;
        (fields.plan != Plan::Pro).then_some(false)
    }
}

/// Typed extension fields (issue 9, item 1, for Rust embedders): a struct registered
/// with `Config::with_application_fields` declares acme's fields for the service and
/// for the embedder's CLI (`cli::run_configured`): every violation named, the type's
/// own range checked too, defaults from `#[serde(default)]`, the exposed field in
/// introspection, the values read back as the type by a policy hook, and the same
/// field declared again in the configuration stopping the start.
async fn typed_application_fields(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = true\nclient_cache_ttl_secs = 0\n\
         [databases.default]\nurl = \"{}\"\n[tenants.acme]\n[tenants.globex]\n",
        db.url
    );
    let typed = TypedFields::<AcmeApplication>::new().unwrap();
    let acme = router_policies::TenantSlug::new("acme".to_owned()).unwrap();
    let register = {
        let (typed, acme) = (typed.clone(), acme.clone());
        move |config: tessera::Config| {
            config.with_application_fields(FieldsFor::Tenant(acme.clone()), &typed)
        }
    };
    let app = spawn_configured(
        &toml,
        register.clone(),
        Routes::built_in(),
        tessera::policy::Policies::default().with_grant_types(ProMachinesOnly(typed.clone())),
    )
    .await
    .unwrap();
    let (_dir, path) = config_file(&toml);
    let create = |tenant: &'static str, fields: &'static [&'static str], typed: bool| {
        let (path, register) = (path.clone(), register.clone());
        async move {
            let mut args = vec![
                "--config",
                path.as_str(),
                "app",
                "create",
                "--tenant",
                tenant,
                "--name",
                "Machine",
                "--client-type",
                "confidential",
                "--grant-types",
                "client_credentials",
                "--json",
            ];
            for field in fields {
                args.extend(["--field", field]);
            }
            if typed {
                run_cli_configured(&args, "", register).await
            } else {
                run_cli(&args, "").await
            }
        }
    };
    let missing = create("acme", &["homepage=http://acme.example"], true).await;
    assert_eq!(missing.code(), 2, "{}", missing.message());
    assert_eq!(
        missing.message(),
        "--field: homepage: not an https URL; agree: required"
    );
    let too_many = create("acme", &["agree=true", "seats=300"], true).await;
    assert_eq!(too_many.code(), 2, "{}", too_many.message());
    assert!(
        too_many.message().starts_with("--field: AcmeApplication: ")
            && too_many.message().contains("300"),
        "{}",
        too_many.message()
    );
    let untyped = create("acme", &["agree=true"], false).await;
    assert_eq!(untyped.code(), 2, "without the type acme declares nothing");
    assert_eq!(untyped.message(), "--field: agree: not a declared field");
    let elsewhere = create("globex", &["agree=true"], true).await;
    assert_eq!(elsewhere.message(), "--field: agree: not a declared field");

    let pro = json_of(&create("acme", &["agree=yes", "plan=pro"], true).await);
    assert_eq!(
        pro["fields"],
        json!({"agree": true, "plan": "pro", "seats": 5}),
        "defaults from #[serde(default)]: {pro}"
    );
    let free = json_of(&create("acme", &["agree=yes", "seats=12"], true).await);
    assert_eq!(free["fields"]["plan"], "free");
    let client_of = |created: &Value| TestClient {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: Some(created["client_secret"].as_str().unwrap().to_owned()),
    };
    let (pro, free) = (client_of(&pro), client_of(&free));

    // The hook reads the typed values: the free application is refused the grant
    // (RFC 6749 §5.2), the pro one gets a token whose introspection carries its plan.
    let refused = token(&app, "acme", &free, &[("grant_type", "client_credentials")]).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.body["error"], "unauthorized_client",
        "{}",
        refused.text
    );
    let issued = token(&app, "acme", &pro, &[("grant_type", "client_credentials")]).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let described = introspect(&app, "acme", &pro, &string(&issued, "access_token")).await;
    assert_eq!(described["ext"], json!({"plan": "pro"}), "{described}");

    // The type's fields declared again in the configuration: refused at the start and
    // by the embedder's `tessera check`.
    let twice = format!("{toml}[tenants.acme.applications.fields.plan]\ntype = \"string\"\n");
    let error = spawn_configured(
        &twice,
        register.clone(),
        Routes::built_in(),
        tessera::policy::Policies::default(),
    )
    .await
    .err()
    .expect("refused");
    assert!(
        error.to_string().contains(
            "tenants.acme.applications.fields.plan is also declared by the Rust type \
             AcmeApplication"
        ),
        "{error}"
    );
    let (_dir2, twice_path) = config_file(&twice);
    let checked = run_cli_configured(&["--config", &twice_path, "check"], "", register).await;
    assert_eq!(checked.code(), 2, "{}", checked.message());
    app.stop().await;
}

on_every_backend!(typed_application_fields);

/// Templates by name, looked up client → tenant → service → built-in: a tenant's
/// folder changes that tenant's pages only (its `base.html` too, for the pages that
/// extend it), a client's template overrides the tenant's for that client only, and a
/// template that does not compile or a file that is no page stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_per_tenant_and_client() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    let acme = folder.path().join("acme");
    std::fs::create_dir_all(acme.join("clients/special")).unwrap();
    std::fs::write(
        acme.join("base.html"),
        "<!doctype html><title>{% block title %}{% endblock %}</title>ACME-BASE {% block content %}{% endblock %}",
    )
    .unwrap();
    std::fs::write(
        acme.join("login.html"),
        "{% extends \"base.html\" %}{% block content %}<h1>Acme sign-in for {{ application_name }}</h1>{% endblock %}",
    )
    .unwrap();
    std::fs::write(
        acme.join("clients/special/login.html"),
        "{% extends \"base.html\" %}{% block content %}Special login v{{ context_version }}{% endblock %}",
    )
    .unwrap();
    let toml = |acme_folder: &std::path::Path| {
        format!(
            "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n\
             [tenants.globex]\n[tenants.acme]\ntemplates_dir = \"{}\"\n",
            db.url,
            acme_folder.display()
        )
    };
    let app = spawn_app_with(&toml(&acme)).await.unwrap();
    let registration = |client_id| tessera_tests::Registration {
        client_id,
        confidential: false,
        grant_types: "authorization_code",
        scopes: "",
        origins: "",
        redirect_uris: REDIRECT,
        skip_authorization: false,
    };
    for tenant in ["acme", "globex"] {
        app.register(tenant, registration("web")).await;
    }
    app.register("acme", registration("special")).await;
    let login_page = |tenant: &'static str, client_id: &'static str| {
        let app = &app;
        async move {
            let mut browser = tessera_tests::Browser::new(&app.address);
            let params = [
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "read"),
                ("code_challenge", crate::browser_flows::CHALLENGE),
                ("code_challenge_method", "S256"),
            ];
            let first = crate::browser_flows::authorize(&mut browser, tenant, &params).await;
            let page = browser.get(first.location().unwrap()).await;
            assert_eq!(page.status, 200, "{}", page.body);
            page.text()
        }
    };
    let tenant_page = login_page("acme", "web").await;
    assert!(
        tenant_page.contains("ACME-BASE") && tenant_page.contains("Acme sign-in for App web"),
        "{tenant_page}"
    );
    let client_page = login_page("acme", "special").await;
    assert!(
        client_page.contains("ACME-BASE") && client_page.contains("Special login v1"),
        "the client's template over the tenant's base: {client_page}"
    );
    let other_tenant = login_page("globex", "web").await;
    assert!(
        !other_tenant.contains("ACME") && other_tenant.contains("Sign in"),
        "{other_tenant}"
    );
    app.stop().await;

    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("consent.html"), "{% if %}").unwrap();
    let error = spawn_app_with(&toml(broken.path()))
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("tenants/acme/consent.html"),
        "{error}"
    );
    let (_dir, path) = config_file(&toml(broken.path()));
    let checked = cli(&path, &["check"]).await;
    assert_eq!(checked.code(), 2, "{}", checked.message());
    assert!(
        checked.message().contains("consent.html"),
        "{}",
        checked.message()
    );
    let typo = tempfile::tempdir().unwrap();
    std::fs::write(typo.path().join("logn.html"), "hello").unwrap();
    let error = spawn_app_with(&toml(typo.path()))
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("is not a page template"),
        "{error}"
    );
}

/// Routes by name: `[routes]` switches groups and single routes off (404, gone from
/// discovery); an embedding program replaces a handler, wraps one in a layer and
/// switches one off, and everything else stays Tessera's; an unknown route name in
/// the configuration stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_name() {
    use axum::routing::get;
    use tessera::route_names::RouteName;

    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.acme]\n\
         [routes]\ndevice = false\ndisable = [\"userinfo\"]\n",
        db.url
    );
    let routes = Routes::built_in()
        .replace(RouteName::Jwks, get(|| async { "our own JWKS" }))
        .wrap(RouteName::Token, |route| {
            route.layer(axum::middleware::map_response(
                |mut response: axum::response::Response| async move {
                    response
                        .headers_mut()
                        .insert("x-wrapped", axum::http::HeaderValue::from_static("yes"));
                    response
                },
            ))
        })
        .disable(RouteName::EndSession);
    let app = tessera_tests::spawn_app_with_routes(&toml, routes)
        .await
        .unwrap();
    let client = app
        .client("acme", "svc", true, "client_credentials", "", "")
        .await;
    let get = |path: &'static str| {
        let app = &app;
        async move { app.client.get(app.url(path)).send().await.unwrap() }
    };
    for path in [
        "/t/acme/device_authorization",
        "/t/acme/device",
        "/t/acme/userinfo",
        "/t/acme/end_session",
    ] {
        let answer = get(path).await;
        assert_eq!(answer.status(), 404, "{path} is off");
    }
    assert_eq!(
        get("/t/acme/jwks").await.text().await.unwrap(),
        "our own JWKS"
    );
    let tokens = token(
        &app,
        "acme",
        &client,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.header("x-wrapped"), Some("yes"));
    let discovery: Value = get("/t/acme/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    for gone in [
        "device_authorization_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        assert!(discovery.get(gone).is_none(), "{gone}: {discovery}");
    }
    assert!(
        !discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(tessera::grants::DEVICE_CODE_GRANT))
    );
    assert!(discovery["token_endpoint"].is_string());
    app.stop().await;

    let unknown = toml.replace("disable = [\"userinfo\"]", "disable = [\"userinfos\"]");
    let error = spawn_app_with(&unknown).await.err().expect("refused");
    assert!(error.to_string().contains("userinfos"), "{error}");
}

/// Example `name` of the tessera package as `cargo test -j2 --workspace` builds it
/// (the examples are among its targets): asking cargo again is a no-op after that
/// build, and its artifact list names the program. (`cargo build --example` would
/// resolve other features and build the service a second time; from `cargo test -p
/// tessera-tests` this builds what is missing.)
async fn build_example(name: &str) -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = tokio::process::Command::new(&cargo);
    // What cargo sets for a test process (this package's manifest and metadata, the
    // library path) would make the inner cargo see another build and compile again.
    for (variable, _) in std::env::vars_os() {
        let name = variable.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("RUSTUP_TOOLCHAIN_")
            || name == "LD_LIBRARY_PATH"
            || name == "RUST_RECURSION_COUNT"
        {
            command.env_remove(&variable);
        }
    }
    let built = command
        .args([
            "test",
            "-j2",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&root)
        .output()
        .await
        .unwrap();
    assert!(
        built.status.success(),
        "cargo test --no-run: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let stdout = String::from_utf8_lossy(&built.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["name"] == name
                && message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "example"))
        })
        .and_then(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .unwrap_or_else(|| panic!("cargo test --no-run built no example {name}"))
}

/// Waits (10 s at most) until `url` answers.
async fn wait_until_up(url: &str) {
    for _ in 0..100 {
        if reqwest::get(url).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

/// The shipped example (`service/examples/custom_authorize.rs`), built and run as a
/// program: its authorization view sends `screen=signup` to the sign-up page and
/// everything else to Tessera's login; its management routes are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_authorize_example_runs() {
    let target = build_example("custom_authorize").await;
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    // It binds port 0 and says where it listens; its public URL is a proxy's.
    let (_dir, path) = config_file(&format!(
        "listen = \"127.0.0.1:0\"\npublic_url = \"http://custom-authorize.test\"\n\
         migrate_on_start = true\n\
         [databases.default]\nurl = \"{}\"\n[tenants.acme.oauth]\nallow_sign_up = true\n",
        db.url
    ));
    let mut command = tokio::process::Command::new(&target);
    command.arg(&path);
    let (mut child, address) = tessera_tests::spawn_listening(command).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    wait_until_up(&format!("{address}/healthz")).await;
    // A client to ask for: registered with the CLI on the same database.
    let created = json_of(
        &cli(
            &path,
            &[
                "app",
                "create",
                "--tenant",
                "acme",
                "--name",
                "Web",
                "--client-type",
                "public",
                "--grant-types",
                "authorization_code",
                "--redirect-uris",
                REDIRECT,
                "--json",
            ],
        )
        .await,
    );
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let ask = |screen: Option<&'static str>| {
        let http = &http;
        let address = &address;
        let client_id = &client_id;
        async move {
            let mut params = vec![
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", "read"),
                ("code_challenge", crate::browser_flows::CHALLENGE),
                ("code_challenge_method", "S256"),
            ];
            if let Some(screen) = screen {
                params.push(("screen", screen));
            }
            let query = crate::browser_flows::query(&params);
            let answer = http
                .get(format!("{address}/t/acme/authorize?{query}"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 303);
            answer.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    let to_sign_up = ask(Some("signup")).await;
    assert!(
        to_sign_up.contains("/t/acme/sign-up?interaction="),
        "{to_sign_up}"
    );
    let to_login = ask(None).await;
    assert!(
        to_login.contains("/t/acme/login?interaction="),
        "{to_login}"
    );
    let management = http
        .get(format!("{address}/t/acme/authorized-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(management.status(), 404);
    child.kill().await.unwrap();
}

/// An embedding program's policy hooks, each overriding one built-in rule for some
/// clients and leaving the rest alone.
#[derive(Debug)]
struct ProgramPolicy;

impl tessera::policy::GrantTypePolicy for ProgramPolicy {
    fn allows_grant_type(
        &self,
        _tenant: &tessera::tenancy::Tenant,
        application: &entity::application::Model,
        grant: tessera::registration::GrantType,
    ) -> Option<bool> {
        (application.client_id.starts_with("legacy-")
            && grant == tessera::registration::GrantType::ClientCredentials)
            .then_some(false)
    }
}

impl tessera::policy::RedirectUriPolicy for ProgramPolicy {
    fn allows_redirect_uri(
        &self,
        _tenant: &tessera::tenancy::Tenant,
        application: &entity::application::Model,
        redirect_uri: &str,
    ) -> Option<bool> {
        let host = url::Url::parse(redirect_uri).ok()?.host_str()?.to_owned();
        (application.client_id == "wild"
            && redirect_uri.starts_with("https://")
            && host.ends_with(".tenant-apps.example"))
        .then_some(true)
    }
}

impl tessera::policy::ClaimsPolicy for ProgramPolicy {
    fn add_claims(
        &self,
        _token: &tessera::policy::ClaimsFor<'_>,
        claims: &mut serde_json::Map<String, Value>,
    ) {
        claims.insert("plan".to_owned(), json!("gold"));
        // A protocol claim: dropped, Tessera's stands.
        claims.insert("sub".to_owned(), json!("forged"));
    }
}

impl tessera::policy::ConsentPolicy for ProgramPolicy {
    fn skip_consent(
        &self,
        _tenant: &tessera::tenancy::Tenant,
        application: &entity::application::Model,
        _user_id: i64,
        _scopes: &std::collections::BTreeSet<String>,
    ) -> Option<bool> {
        (application.client_id == "first-party").then_some(true)
    }
}

/// Policy hooks: a grant type refused to some clients although registered, a
/// redirect URI pattern allowed for one client, claims added to every token (a
/// protocol claim cannot be overridden), consent skipped for a first-party client;
/// every other decision stays the built-in one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_hooks_override_one_decision_each() {
    use tessera::policy::Policies;
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.acme]\n",
        db.url
    );
    let policies = Policies::default()
        .with_grant_types(ProgramPolicy)
        .with_redirect_uris(ProgramPolicy)
        .with_claims(ProgramPolicy)
        .with_consent(ProgramPolicy);
    let app = tessera_tests::spawn_embedded(
        &toml,
        tessera::endpoints::routes::Routes::built_in(),
        policies,
    )
    .await
    .unwrap();
    app.user("acme", "alice", "correct horse").await;
    let legacy = app
        .client("acme", "legacy-svc", true, "client_credentials", "", "")
        .await;
    let svc = app
        .client("acme", "svc", true, "client_credentials", "", "")
        .await;
    let refused = token(
        &app,
        "acme",
        &legacy,
        &[("grant_type", "client_credentials")],
    )
    .await;
    crate::oauth::assert_error(&refused, 400, "unauthorized_client");
    let issued = token(&app, "acme", &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let described = introspect(&app, "acme", &svc, &string(&issued, "access_token")).await;
    assert_eq!(described["plan"], "gold", "{described}");
    assert_eq!(described["sub"], "svc", "{described}");

    let public = |client_id| tessera_tests::Registration {
        client_id,
        confidential: false,
        grant_types: "authorization_code",
        scopes: "",
        origins: "",
        redirect_uris: REDIRECT,
        skip_authorization: false,
    };
    app.register("acme", public("wild")).await;
    let first_party = app.register("acme", public("first-party")).await;
    let request = |client_id: &'static str, redirect_uri: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid read"),
            ("nonce", "n1"),
            ("code_challenge", crate::browser_flows::CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    };
    let mut browser = tessera_tests::Browser::new(&app.address);
    let allowed = crate::browser_flows::authorize(
        &mut browser,
        "acme",
        &request("wild", "https://shop.tenant-apps.example/cb"),
    )
    .await;
    assert!(
        allowed.location().unwrap_or_default().contains("/login?"),
        "the pattern the policy allows: {allowed:?}"
    );
    let refused = crate::browser_flows::authorize(
        &mut browser,
        "acme",
        &request("wild", "https://evil.example/cb"),
    )
    .await;
    assert_eq!(refused.status, 400, "anything else is still refused");
    assert!(refused.location().is_none());

    let first =
        crate::browser_flows::authorize(&mut browser, "acme", &request("first-party", REDIRECT))
            .await;
    let back = crate::browser_flows::sign_in(&mut browser, &first, "alice", "correct horse").await;
    let location = back.location().unwrap().to_owned();
    assert!(
        location.starts_with(REDIRECT),
        "no consent page: {location}"
    );
    let code = back.location_params()["code"].clone();
    let tokens = crate::browser_flows::exchange(
        &app,
        "acme",
        &first_party,
        &code,
        Some(crate::browser_flows::VERIFIER),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let (_, claims) = verify(&app, "acme", &first_party, &string(&tokens, "id_token")).await;
    assert_eq!(claims["plan"], "gold", "{claims}");
    assert_ne!(claims["sub"], "forged");
    let info = userinfo_get(&app, "acme", &string(&tokens, "access_token")).await;
    assert_eq!(info.body["plan"], "gold", "{}", info.text);
    assert_eq!(info.body["sub"], claims["sub"]);
    app.stop().await;
}

/// The external login and consent application (Hydra's headless model), driven over
/// HTTP as that application would: the authorization endpoint sends the browser to
/// it with `interaction_id`; it reads the interaction, accepts the login, accepts a
/// consent for part of the scopes (more than requested is refused), or rejects; each
/// `redirect_to` works once and only in the browser that started; a live session is
/// reported as `skip`; a remembered consent lets `approval_prompt=auto` skip the
/// consent step; the API needs a confidential client listing `interactions`.
async fn external_login_application(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    const LOGIN_URL: &str = "https://login.example/start";
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n\
         [tenants.acme.oauth]\nlogin_url = \"{LOGIN_URL}\"\nlogin_client_id = \"login-app\"\n",
        db.url
    ))
    .await
    .unwrap();
    let alice = app.user("acme", "alice", "correct horse").await;
    let alice_subject = app.subject("acme", alice).await;
    let rp = app
        .register(
            "acme",
            tessera_tests::Registration {
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
    let outsider = app
        .client("acme", "outsider", true, "client_credentials", "read", "")
        .await;
    let api = |client: &TestClient, method: reqwest::Method, path: String, body: Option<Value>| {
        let app = &app;
        let basic = tessera_tests::basic_header(
            &client.client_id,
            client.client_secret.as_deref().unwrap(),
        );
        async move {
            let mut request = app
                .client
                .request(method, app.url(&path))
                .header("authorization", basic);
            if let Some(body) = body {
                request = request.json(&body);
            }
            tessera_tests::Answer::read(request.send().await.unwrap()).await
        }
    };
    let params = |scope: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "xyz"),
            ("nonce", "n1"),
            ("code_challenge", crate::browser_flows::CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        params
    };
    let interaction_of = |seen: &tessera_tests::Seen| {
        let location = seen.location().expect("a redirect").to_owned();
        assert!(
            location.starts_with(LOGIN_URL),
            "to the login application: {location}"
        );
        url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(name, _)| name == "interaction_id")
            .map(|(_, value)| value.into_owned())
            .expect("interaction_id")
    };
    let mut browser = tessera_tests::Browser::new(&app.address);
    let first =
        crate::browser_flows::authorize(&mut browser, "acme", &params("openid read", &[])).await;
    let id = interaction_of(&first);
    let path = format!("/t/acme/interactions/{id}");

    // Who may drive it.
    let refused = api(&outsider, reqwest::Method::GET, path.clone(), None).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let anonymous = Answer::read(app.client.get(app.url(&path)).send().await.unwrap()).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    let unknown = api(
        &login_app,
        reqwest::Method::GET,
        "/t/acme/interactions/nope".to_owned(),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    let read = api(&login_app, reqwest::Method::GET, path.clone(), None).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["step"], "login");
    assert_eq!(read.body["skip"], false);
    assert_eq!(read.body["subject"], Value::Null);
    assert_eq!(read.body["client"]["client_id"], "rp");
    assert_eq!(read.body["requested_scope"], json!(["openid", "read"]));
    let spaced = api(
        &login_app,
        reqwest::Method::POST,
        format!("{path}/login"),
        Some(json!({"username": "alice", "amr": ["one time code"]})),
    )
    .await;
    crate::oauth::assert_error(&spaced, 400, "invalid_request");
    let accepted = api(
        &login_app,
        reqwest::Method::POST,
        format!("{path}/login"),
        Some(json!({"username": "alice", "acr": "urn:acme:loa:2", "amr": ["pwd", "otp"]})),
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let back = string(&accepted, "redirect_to");
    assert!(
        back.starts_with(&app.url(&format!("{path}/continue?verifier="))),
        "{back}"
    );
    // Another browser cannot use it.
    let stranger = tessera_tests::Browser::new(&app.address).get(&back).await;
    assert_eq!(stranger.status, 400, "{}", stranger.body);
    let to_consent = browser.get(&back).await;
    assert_eq!(
        interaction_of(&to_consent),
        id,
        "the consent step, same interaction"
    );
    let again = browser.get(&back).await;
    assert_eq!(again.status, 400, "a verifier works once: {}", again.body);
    let read = api(&login_app, reqwest::Method::GET, path.clone(), None).await;
    assert_eq!(read.body["step"], "consent");
    assert_eq!(read.body["subject"], alice_subject.as_str());
    assert_eq!(read.body["skip"], false);
    let too_much = api(
        &login_app,
        reqwest::Method::POST,
        format!("{path}/consent"),
        Some(json!({"grant_scope": ["openid", "write"]})),
    )
    .await;
    crate::oauth::assert_error(&too_much, 400, "invalid_scope");
    let granted = api(
        &login_app,
        reqwest::Method::POST,
        format!("{path}/consent"),
        Some(json!({"grant_scope": ["openid"]})),
    )
    .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let done = browser.get(&string(&granted, "redirect_to")).await;
    let answer = done.location_params();
    assert!(done.location().unwrap().starts_with(REDIRECT), "{done:?}");
    assert_eq!(answer["state"], "xyz");
    let tokens = crate::browser_flows::exchange(
        &app,
        "acme",
        &rp,
        &answer["code"],
        Some(crate::browser_flows::VERIFIER),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.body["scope"], "openid", "only what was granted");
    let (_, claims) = verify(&app, "acme", &rp, &string(&tokens, "id_token")).await;
    assert_eq!(claims["sub"], alice_subject.as_str());
    // What the login application said of the authentication (OIDC Core §2), kept by
    // a refreshed ID token (§12.2).
    assert_eq!(claims["acr"], "urn:acme:loa:2");
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    let refreshed =
        crate::oauth::refresh(&app, "acme", &rp, &string(&tokens, "refresh_token"), None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let (_, again) = verify(&app, "acme", &rp, &string(&refreshed, "id_token")).await;
    assert_eq!(again["acr"], "urn:acme:loa:2");
    assert_eq!(again["amr"], json!(["pwd", "otp"]));
    assert_eq!(again["auth_time"], claims["auth_time"]);

    // The same browser again: its session is reported (`skip`), and the remembered
    // consent (of `openid`, what was granted) lets approval_prompt=auto skip the
    // consent step.
    let second = crate::browser_flows::authorize(
        &mut browser,
        "acme",
        &params("openid", &[("approval_prompt", "auto")]),
    )
    .await;
    let id = interaction_of(&second);
    let path = format!("/t/acme/interactions/{id}");
    let read = api(&login_app, reqwest::Method::GET, path.clone(), None).await;
    assert_eq!(read.body["step"], "login");
    assert_eq!(read.body["skip"], true);
    assert_eq!(read.body["subject"], alice_subject.as_str());
    let accepted = api(
        &login_app,
        reqwest::Method::POST,
        format!("{path}/login"),
        Some(json!({"subject": alice_subject})),
    )
    .await;
    let done = browser.get(&string(&accepted, "redirect_to")).await;
    assert!(
        done.location().unwrap().starts_with(REDIRECT)
            && done.location_params().contains_key("code"),
        "no consent step: {done:?}"
    );

    // A rejection reaches the client as an error.
    let third =
        crate::browser_flows::authorize(&mut browser, "acme", &params("openid read", &[])).await;
    let path = format!("/t/acme/interactions/{}", interaction_of(&third));
    let rejected = api(
        &login_app,
        reqwest::Method::POST,
        format!("{path}/reject"),
        Some(json!({"error": "access_denied", "error_description": "not today"})),
    )
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    let done = browser.get(&string(&rejected, "redirect_to")).await;
    let answer = done.location_params();
    assert_eq!(answer["error"], "access_denied");
    assert_eq!(answer["error_description"], "not today");
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], app.url("/t/acme"));
    let gone = api(&login_app, reqwest::Method::GET, path, None).await;
    assert_eq!(gone.status, 404, "a finished interaction is gone");

    // A client with its own login application (one per client, not per instance):
    // its requests go there; the tenant's other clients keep the tenant's.
    const PARTNER_URL: &str = "https://login.partner.example/in";
    app.update_client(
        "acme",
        "rp",
        entity::application::ActiveModel {
            login_url: sea_orm::ActiveValue::Set(PARTNER_URL.to_owned()),
            login_client_id: sea_orm::ActiveValue::Set("partner-login".to_owned()),
            ..Default::default()
        },
    )
    .await;
    let partner =
        crate::browser_flows::authorize(&mut browser, "acme", &params("openid read", &[])).await;
    assert!(
        partner
            .location()
            .unwrap()
            .starts_with(&format!("{PARTNER_URL}?interaction_id=")),
        "{partner:?}"
    );
    app.stop().await;
}

on_every_backend!(external_login_application);

/// `(name, value)` pairs borrowed for [`tessera_tests::Browser::post`].
fn pairs<'a>(params: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    params
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// The management pages over HTTP: closed where the tenant does not allow them; a
/// user sees, edits and deletes only their own applications; a form without its
/// CSRF token changes nothing; registration validates the tenant's extension fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_pages_are_per_user() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.globex]\n\
         [tenants.acme.oauth]\nallow_application_management = true\n\
         [tenants.acme.applications.fields.tier]\ntype = \"enum\"\nvalues = [\"free\", \"pro\"]\n\
         default = \"free\"\nwrite = \"registration\"\n",
        db.url
    ))
    .await
    .unwrap();
    for (tenant, user) in [("acme", "alice"), ("acme", "bob"), ("globex", "alice")] {
        app.user(tenant, user, "correct horse").await;
    }
    let signed_in = |tenant: &'static str, user: &'static str| {
        let app = &app;
        async move {
            let mut browser = tessera_tests::Browser::new(&app.address);
            let to_login = browser.get(&format!("/t/{tenant}/authorized-tokens")).await;
            crate::browser_flows::sign_in(&mut browser, &to_login, user, "correct horse").await;
            browser
        }
    };
    let mut elsewhere = signed_in("globex", "alice").await;
    assert_eq!(elsewhere.get("/t/globex/applications").await.status, 404);

    let mut alice = signed_in("acme", "alice").await;
    let form = alice.get("/t/acme/applications/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"field_tier\""), "{}", form.body);
    let csrf = form.input("csrf").unwrap();
    let register = |tier: &'static str, csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "Reports".to_owned()),
            ("client_type", "confidential".to_owned()),
            ("grant_client_credentials", "1".to_owned()),
            ("field_tier", tier.to_owned()),
        ]
    };
    let wrong = alice
        .post("/t/acme/applications", &pairs(&register("gold", &csrf)))
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("tier: not one of free, pro"),
        "{}",
        wrong.body
    );
    let forged = alice
        .post("/t/acme/applications", &pairs(&register("pro", "forged")))
        .await;
    assert_eq!(forged.status, 400);
    let created = alice
        .post("/t/acme/applications", &pairs(&register("pro", &csrf)))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let client_id = created
        .text()
        .split("id=\"client-id\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let secret = created
        .text()
        .split("id=\"client-secret\" class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let registered = TestClient {
        client_id: client_id.clone(),
        client_secret: Some(secret),
    };
    let issued = token(
        &app,
        "acme",
        &registered,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let tenant = app.tenant("acme").await;
    let stored =
        tessera::store::applications::find_by_client_id(app.state.data(&tenant), &client_id)
            .await
            .unwrap()
            .unwrap();
    assert!(
        stored.extensions.contains("\"pro\""),
        "{}",
        stored.extensions
    );
    assert!(
        alice
            .get("/t/acme/applications")
            .await
            .body
            .contains(&client_id)
    );

    // Bob sees none of it and cannot touch it.
    let mut bob = signed_in("acme", "bob").await;
    let list = bob.get("/t/acme/applications").await;
    assert!(!list.body.contains(&client_id), "{}", list.body);
    let path = format!("/t/acme/applications/{client_id}");
    assert_eq!(bob.get(&path).await.status, 404);
    let bob_csrf = bob
        .get("/t/acme/applications/new")
        .await
        .input("csrf")
        .unwrap();
    let delete = format!("{path}/delete");
    let refused = bob.post(&delete, &pairs(&[("csrf", bob_csrf)])).await;
    assert_eq!(refused.status, 404);
    let still = token(
        &app,
        "acme",
        &registered,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(still.status, 200, "bob could not delete it");
    // An application that signs HS256 ID tokens with its secret keeps it readable:
    // a rotation on these pages stores the new secret as it is, not a hash (a hash
    // cannot sign).
    let current = registered.client_secret.clone().unwrap();
    app.update_client(
        "acme",
        &client_id,
        entity::application::ActiveModel {
            algorithm: sea_orm::ActiveValue::Set("HS256".to_owned()),
            hash_client_secret: sea_orm::ActiveValue::Set(false),
            client_secret: sea_orm::ActiveValue::Set(current.clone()),
            ..Default::default()
        },
    )
    .await;
    // The first press asks and changes nothing; the confirmed one rotates.
    let asked = alice
        .post(&format!("{path}/secret"), &pairs(&[("csrf", csrf.clone())]))
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("name=\"confirm\""), "{}", asked.body);
    assert!(
        !asked.body.contains("id=\"client-secret\""),
        "{}",
        asked.body
    );
    let unchanged =
        tessera::store::applications::find_by_client_id(app.state.data(&tenant), &client_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        unchanged.client_secret, current,
        "nothing rotated before confirming"
    );
    let rotated = alice
        .post(
            &format!("{path}/secret"),
            &pairs(&[("csrf", csrf.clone()), ("confirm", "yes".to_owned())]),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated
        .text()
        .split("id=\"client-secret\" class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, current);
    let stored =
        tessera::store::applications::find_by_client_id(app.state.data(&tenant), &client_id)
            .await
            .unwrap()
            .unwrap();
    assert!(!stored.hash_client_secret, "still readable");
    assert_eq!(
        stored.client_secret, new_secret,
        "the HS256 key is the new secret"
    );
    let registered = TestClient {
        client_id: client_id.clone(),
        client_secret: Some(new_secret),
    };
    let renewed = token(
        &app,
        "acme",
        &registered,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    // Alice deletes it: its credentials stop working.
    let deleted = alice
        .post(
            &delete,
            &pairs(&[("csrf", csrf.clone()), ("confirm", "yes".to_owned())]),
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    let gone = token(
        &app,
        "acme",
        &registered,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(gone.status, 401, "{}", gone.text);
    app.stop().await;
}

/// The shipped external login application (`service/examples/external_login.rs`),
/// built and run as a program in front of a tenant: a browser is sent to it, signs in
/// with a password only it knows, approves part of the scopes on its consent page,
/// and the client gets a code for exactly those scopes and the user's ID token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_external_login_example_signs_a_user_in() {
    let program = build_example("external_login").await;
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    // Tessera's listener first (the login application needs its issuer), then the
    // login application on a port it binds itself (Tessera needs its URL).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/t/acme", listener.local_addr().unwrap());
    let secret = tessera::secrets::generate(tessera::secrets::prefix::CLIENT_SECRET).unwrap();
    let mut command = tokio::process::Command::new(&program);
    command
        .env("TESSERA_ISSUER", &issuer)
        .env("LOGIN_APP_LISTEN", "127.0.0.1:0")
        .env("LOGIN_APP_CLIENT_ID", "login-app")
        .env("LOGIN_APP_CLIENT_SECRET", &secret)
        .env("LOGIN_APP_USERS", "alice:its own password");
    let (mut login_app, login_app_url) = tessera_tests::spawn_listening(command).await;
    let app = tessera_tests::spawn_app_on(
        listener,
        &format!(
            "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n\
             [tenants.acme.oauth]\nlogin_url = \"{login_app_url}/start\"\n\
             login_client_id = \"login-app\"\n",
            db.url
        ),
    )
    .await
    .unwrap();
    let alice = app
        .user("acme", "alice", "not known to the login app")
        .await;
    // The credential the login application was started with.
    app.client(
        "acme",
        "login-app",
        true,
        "client_credentials",
        "interactions",
        "",
    )
    .await;
    app.update_client(
        "acme",
        "login-app",
        entity::application::ActiveModel {
            client_secret: sea_orm::ActiveValue::Set(
                tessera::secrets::hash_client_secret(&secret).unwrap(),
            ),
            ..Default::default()
        },
    )
    .await;
    let rp = app
        .register(
            "acme",
            tessera_tests::Registration {
                client_id: "rp",
                confidential: true,
                grant_types: "authorization_code",
                scopes: "",
                origins: "",
                redirect_uris: REDIRECT,
                skip_authorization: false,
            },
        )
        .await;
    wait_until_up(&format!("{login_app_url}/start")).await;

    let mut browser = tessera_tests::Browser::new(&app.address);
    let params = [
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid read write"),
        ("state", "xyz"),
        ("nonce", "n1"),
        ("code_challenge", crate::browser_flows::CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let first = crate::browser_flows::authorize(&mut browser, "acme", &params).await;
    let to_app = first.location().unwrap().to_owned();
    assert!(
        to_app.starts_with(&format!("{login_app_url}/start?interaction_id=")),
        "{to_app}"
    );
    let form = browser.get(&to_app).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let id = form.input("interaction_id").unwrap();
    let wrong = browser
        .post(
            &format!("{login_app_url}/login"),
            &[
                ("interaction_id", &id),
                ("username", "alice"),
                ("password", "not known to the login app"),
            ],
        )
        .await;
    assert!(
        wrong.body.contains("Wrong username or password"),
        "its own password check"
    );
    let signed_in = browser
        .post(
            &format!("{login_app_url}/login"),
            &[
                ("interaction_id", &id),
                ("username", "alice"),
                ("password", "its own password"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let back = browser.get(signed_in.location().unwrap()).await;
    let consent_page = browser.get(back.location().unwrap()).await;
    assert!(
        consent_page.body.contains("name=\"scope_write\""),
        "{}",
        consent_page.body
    );
    let approved = browser
        .post(
            &format!("{login_app_url}/consent"),
            &[
                ("interaction_id", &id),
                ("scope_openid", "1"),
                ("scope_read", "1"),
                ("allow", "1"),
            ],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let done = browser.get(approved.location().unwrap()).await;
    let answer = done.location_params();
    assert!(done.location().unwrap().starts_with(REDIRECT), "{done:?}");
    let tokens = crate::browser_flows::exchange(
        &app,
        "acme",
        &rp,
        &answer["code"],
        Some(crate::browser_flows::VERIFIER),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.body["scope"], "openid read", "what was ticked");
    let (_, claims) = verify(&app, "acme", &rp, &string(&tokens, "id_token")).await;
    assert_eq!(claims["sub"], app.subject("acme", alice).await.as_str());
    assert_eq!(
        claims["amr"],
        json!(["pwd"]),
        "the login application's method"
    );
    login_app.kill().await.unwrap();
    app.stop().await;
}
