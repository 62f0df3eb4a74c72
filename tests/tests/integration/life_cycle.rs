//! An operator's life cycle from the command line while a server runs (issue 19):
//! tenant settings, disable and enable; users disabled, enabled, given a password,
//! deleted; consents listed and revoked; application secrets rotated and
//! applications deleted. Every change is made by the CLI (its own process state, as
//! `tessera` on an operator's shell would be) and checked over HTTP on the running
//! node, which hears of it through Redis.

use std::time::Duration;

use serde_json::Value;
use tessera_tests::{
    Answer, Backend, TestApp, TestClient, TestDatabase, TestRedis, config_file, on_every_backend,
    poll_until, run_cli, spawn_app_with,
};

use crate::nodes::{node_toml, until_listening};
use crate::oauth::{assert_error, introspect, string, token};

on_every_backend!(an_operator_runs_a_tenant_from_the_command_line);

/// Runs the CLI with the node's configuration; panics with its message on failure.
async fn cli_ok(config: &str, args: &[&str], stdin: &str) -> String {
    let mut all = vec!["--config", config];
    all.extend_from_slice(args);
    let run = run_cli(&all, stdin).await;
    assert_eq!(run.code(), 0, "tessera {args:?}: {}", run.message());
    run.stdout
}

/// Runs the CLI and expects bad input: exit 2, a message naming `needle`.
async fn cli_refused(config: &str, args: &[&str], stdin: &str, needle: &str) {
    let mut all = vec!["--config", config];
    all.extend_from_slice(args);
    let run = run_cli(&all, stdin).await;
    assert_eq!(run.code(), 2, "tessera {args:?}: {}", run.message());
    assert!(
        run.message().contains(needle),
        "tessera {args:?}: {}",
        run.message()
    );
}

/// Registers a confidential application in `acme` from the CLI; its credentials.
async fn register(config: &str, name: &str, options: &[&str]) -> TestClient {
    let mut args = vec![
        "app",
        "create",
        "--tenant",
        "acme",
        "--name",
        name,
        "--client-type",
        "confidential",
        "--json",
    ];
    args.extend_from_slice(options);
    let registered: Value = serde_json::from_str(&cli_ok(config, &args, "").await).unwrap();
    TestClient {
        client_id: registered["client_id"].as_str().unwrap().to_owned(),
        client_secret: registered["client_secret"].as_str().map(str::to_owned),
    }
}

async fn password_grant(app: &TestApp, client: &TestClient, password: &str) -> Answer {
    token(
        app,
        "acme",
        client,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("scope", "read"),
        ],
    )
    .await
}

async fn is_active(app: &TestApp, caller: &TestClient, access_token: &str) -> bool {
    introspect(app, "acme", caller, access_token).await["active"] == true
}

async fn an_operator_runs_a_tenant_from_the_command_line(backend: Backend) {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = node_toml(&db.url, &redis.url, &redis.prefix);
    let (_dir, config) = config_file(&toml);
    let config = config.as_str();
    let app = spawn_app_with(&toml).await.unwrap();
    until_listening(&app).await;
    let within = Duration::from_secs(20);
    let every = Duration::from_millis(20);

    // A tenant, with a setting stored over the configuration's: the password grant.
    cli_ok(
        config,
        &["tenant", "create", "acme", "--display-name", "Acme"],
        "",
    )
    .await;
    let shown = cli_ok(
        config,
        &[
            "tenant",
            "update",
            "acme",
            "--set",
            "allow_password_grant=true",
            "--set",
            "access_token_lifetime_secs=600",
            "--json",
        ],
        "",
    )
    .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["settings"]["access_token_lifetime_secs"], 600);
    assert_eq!(shown["disabled"], false);
    // A setting that does not hold is refused, naming it, and nothing is written.
    for (setting, named) in [
        (
            "access_token_lifetime_secs=-5",
            "access_token_lifetime_secs",
        ),
        ("no_such_setting=1", "no_such_setting"),
        ("default_scopes=[\"nope\"]", "default_scopes"),
    ] {
        cli_refused(
            config,
            &["tenant", "update", "acme", "--set", setting],
            "",
            named,
        )
        .await;
    }
    let shown = cli_ok(config, &["tenant", "show", "acme", "--json"], "").await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["settings"]["access_token_lifetime_secs"], 600);
    assert!(shown["settings"].get("default_scopes").is_none(), "{shown}");

    // A user and a confidential client with the password grant.
    cli_ok(
        config,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "alice",
            "--password-stdin",
        ],
        "first password\n",
    )
    .await;
    cli_refused(
        config,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "bob",
            "--password-stdin",
        ],
        "short\n",
        "characters",
    )
    .await;
    let mut portal = register(
        config,
        "Portal",
        &[
            "--grant-types",
            "password,refresh_token,client_credentials",
            "--scopes",
            "read",
        ],
    )
    .await;

    let granted = password_grant(&app, &portal, "first password").await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    // The stored setting counts on the running node.
    let expires_in = granted.body["expires_in"].as_u64().unwrap();
    assert!((590..=600).contains(&expires_in), "{}", granted.text);
    let first_access = string(&granted, "access_token");
    let first_refresh = string(&granted, "refresh_token");
    assert!(is_active(&app, &portal, &first_access).await);

    // The user's authorized applications.
    let listed = cli_ok(
        config,
        &[
            "consent", "list", "--tenant", "acme", "--user", "alice", "--json",
        ],
        "",
    )
    .await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["client_id"], portal.client_id.as_str());
    assert_eq!(listed[0]["holds_tokens"], true);
    assert_eq!(listed[0]["scopes"][0], "read");

    // Disable: the tokens die at once, the refresh token and the password are refused.
    cli_ok(
        config,
        &["user", "disable", "alice", "--tenant", "acme"],
        "",
    )
    .await;
    assert!(!is_active(&app, &portal, &first_access).await);
    let refreshed = token(
        &app,
        "acme",
        &portal,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
        ],
    )
    .await;
    assert_error(&refreshed, 400, "invalid_grant");
    assert_error(
        &password_grant(&app, &portal, "first password").await,
        400,
        "invalid_grant",
    );
    let shown = cli_ok(
        config,
        &["user", "show", "alice", "--tenant", "acme", "--json"],
        "",
    )
    .await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["active"], false);
    assert!(
        shown.get("id").is_none(),
        "no row id leaves the database: {shown}"
    );
    let subject = shown["subject"].as_str().unwrap().to_owned();

    // Enable: signing in works again; the revoked tokens stay revoked.
    cli_ok(
        config,
        &["user", "enable", &subject, "--tenant", "acme"],
        "",
    )
    .await;
    let again = password_grant(&app, &portal, "first password").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(!is_active(&app, &portal, &first_access).await);

    // A new password: the old one is refused, the new one works.
    cli_ok(
        config,
        &[
            "user",
            "set-password",
            "alice",
            "--tenant",
            "acme",
            "--password-stdin",
        ],
        "second password\n",
    )
    .await;
    assert_error(
        &password_grant(&app, &portal, "first password").await,
        400,
        "invalid_grant",
    );
    let second = password_grant(&app, &portal, "second password").await;
    assert_eq!(second.status, 200, "{}", second.text);
    let second_access = string(&second, "access_token");

    // Revoking the consent revokes that application's tokens.
    cli_ok(
        config,
        &[
            "consent",
            "revoke",
            &portal.client_id,
            "--tenant",
            "acme",
            "--user",
            "alice",
        ],
        "",
    )
    .await;
    assert!(!is_active(&app, &portal, &second_access).await);

    // A rotated secret: the old one is refused on the running node at once (it heard
    // of the change), the new one works.
    let rotated = cli_ok(
        config,
        &[
            "app",
            "rotate-secret",
            &portal.client_id,
            "--tenant",
            "acme",
            "--json",
        ],
        "",
    )
    .await;
    let rotated: Value = serde_json::from_str(&rotated).unwrap();
    let old = portal.clone();
    portal.client_secret = rotated["client_secret"].as_str().map(str::to_owned);
    assert_ne!(old.client_secret, portal.client_secret);
    poll_until("the old secret is refused", within, every, || async {
        token(&app, "acme", &old, &[("grant_type", "client_credentials")])
            .await
            .status
            == 401
    })
    .await;
    let third = password_grant(&app, &portal, "second password").await;
    assert_eq!(third.status, 200, "{}", third.text);
    let third_access = string(&third, "access_token");

    // Disabling the tenant closes its issuer; enabling opens it again.
    cli_ok(config, &["tenant", "disable", "acme"], "").await;
    poll_until("the disabled tenant is closed", within, every, || async {
        app.client
            .get(app.url("/t/acme/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .status()
            == 403
    })
    .await;
    let closed = token(
        &app,
        "acme",
        &portal,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(closed.status, 403, "{}", closed.text);
    let listed = cli_ok(config, &["tenant", "list"], "").await;
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with("acme\t") && line.contains("disabled")),
        "{listed}"
    );
    cli_ok(config, &["tenant", "enable", "acme"], "").await;
    poll_until("the enabled tenant serves", within, every, || async {
        token(
            &app,
            "acme",
            &portal,
            &[("grant_type", "client_credentials")],
        )
        .await
        .status
            == 200
    })
    .await;

    // Deleting the user revokes what they hold and removes them.
    cli_ok(config, &["user", "delete", "alice", "--tenant", "acme"], "").await;
    assert!(!is_active(&app, &portal, &third_access).await);
    let users = cli_ok(config, &["user", "list", "--tenant", "acme", "--json"], "").await;
    assert_eq!(
        serde_json::from_str::<Value>(&users).unwrap(),
        serde_json::json!([])
    );
    cli_refused(
        config,
        &["user", "show", "alice", "--tenant", "acme"],
        "",
        "user list",
    )
    .await;

    // Deleting the application: its tokens and its credentials stop working.
    let service = token(
        &app,
        "acme",
        &portal,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let service_access = string(&service, "access_token");
    cli_ok(
        config,
        &["app", "delete", &portal.client_id, "--tenant", "acme"],
        "",
    )
    .await;
    poll_until("the deleted client is refused", within, every, || async {
        token(
            &app,
            "acme",
            &portal,
            &[("grant_type", "client_credentials")],
        )
        .await
        .status
            == 401
    })
    .await;
    let gateway = register(config, "Gateway", &["--grant-types", "client_credentials"]).await;
    assert!(!is_active(&app, &gateway, &service_access).await);

    // Offboarding: refused while enabled, and for the admin tenant; then every row
    // of the disabled tenant is erased and its issuer is gone on the running node.
    cli_refused(
        config,
        &["tenant", "delete", "acme"],
        "",
        "disable it first",
    )
    .await;
    cli_ok(config, &["tenant", "disable", "default"], "").await;
    cli_refused(config, &["tenant", "delete", "default"], "", "admin tenant").await;
    cli_ok(config, &["tenant", "enable", "default"], "").await;
    let offboarded = app.tenant("acme").await;
    cli_ok(
        config,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            "carol",
            "--password-stdin",
        ],
        "carol's password\n",
    )
    .await;
    cli_ok(config, &["tenant", "disable", "acme"], "").await;
    let erased = cli_ok(
        config,
        &["tenant", "delete", "acme", "--batch-size", "2", "--json"],
        "",
    )
    .await;
    let erased: Value = serde_json::from_str(&erased).unwrap();
    assert_eq!(erased["users"], 1, "{erased}");
    assert!(erased["applications"].as_u64().unwrap() >= 1, "{erased}");
    assert!(erased["access_tokens"].as_u64().unwrap() >= 3, "{erased}");
    assert!(erased["refresh_tokens"].as_u64().unwrap() >= 1, "{erased}");
    let data = app.state.data(&offboarded);
    assert!(
        tessera::store::applications::list(data)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(tessera::store::users::list(data).await.unwrap().is_empty());
    poll_until("the deleted tenant is unknown", within, every, || async {
        app.client
            .get(app.url("/t/acme/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .status()
            == 404
    })
    .await;
    cli_refused(config, &["tenant", "show", "acme"], "", "acme").await;
    app.stop().await;
}

/// `tessera completions SHELL` needs no configuration and knows every command.
#[tokio::test]
async fn completion_scripts_for_three_shells() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tessera"),
        ("fish", "complete -c tessera"),
    ] {
        let run = run_cli(
            &[
                "--config",
                "/nonexistent/tessera.toml",
                "completions",
                shell,
            ],
            "",
        )
        .await;
        assert_eq!(run.code(), 0, "{shell}: {}", run.message());
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        for command in ["rotate-secret", "set-password", "disable", "consent"] {
            assert!(run.stdout.contains(command), "{shell} completes {command}");
        }
    }
}
