//! The real-browser test (issue 7): Debian's Chromium, driven headless by
//! playwright-core, signs in through the pages with openid-client (a certified
//! OpenID library) as a confidential web application and a public PKCE application,
//! approves a device, revokes an application on the authorized-tokens page, and
//! creates an account with `prompt=create`, and registers, uses, rotates and deletes
//! an application on the management pages.
//! The script is `tests/browser/flow.mjs`; screenshots land in
//! `target/browser-screenshots/`.
//!
//! It needs `node`, `tests/browser/node_modules` (`npm ci --prefix tests/browser`)
//! and `/usr/bin/chromium`; `.ci/run` installs them. Missing, the test fails and says
//! what to install — unless `TESSERA_TEST_SKIP_BROWSER=1` (never set in CI) skips it.

use std::path::PathBuf;
use std::process::Command;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use tessera_tests::{Registration, TestDatabase, in_ci, spawn_app_with};

use crate::openid_connect::set_post_logout_redirect_uris;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// What is missing for the browser test, if anything.
fn missing_tools(root: &std::path::Path) -> Vec<String> {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (Debian: apt-get install nodejs)".to_owned());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
        || !root
            .join("tests/browser/node_modules/openid-client")
            .is_dir()
    {
        missing.push("the script's packages: npm ci --prefix tests/browser".to_owned());
    }
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        missing.push("Chromium: apt-get install chromium chromium-driver".to_owned());
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_through_the_pages_in_chromium() {
    let root = workspace_root();
    let missing = missing_tools(&root);
    if !missing.is_empty() {
        let skip = std::env::var("TESSERA_TEST_SKIP_BROWSER").is_ok_and(|value| value == "1");
        assert!(
            skip && !in_ci(),
            "the browser test needs: {}. (Outside CI, TESSERA_TEST_SKIP_BROWSER=1 skips it.)",
            missing.join("; ")
        );
        eprintln!("skipping the browser test (TESSERA_TEST_SKIP_BROWSER=1): {missing:?}");
        return;
    }
    let db = TestDatabase::create(tessera_tests::Backend::Sqlite)
        .await
        .unwrap();
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n\
         [tenants.acme.oauth]\nallow_sign_up = true\nallow_application_management = true\n\
         [tenants.acme.applications.fields.homepage]\ntype = \"url\"\nwrite = \"registration\"\n\
         visibility = \"public\"\nlabel = \"Homepage\"\n",
        db.url
    ))
    .await
    .unwrap();
    let registration = |client_id, confidential, grant_types| Registration {
        client_id,
        confidential,
        grant_types,
        scopes: "",
        origins: "",
        redirect_uris: "http://127.0.0.1/cb",
        skip_authorization: false,
    };
    let web = app
        .register(
            "acme",
            registration("web-app", true, "authorization_code,refresh_token"),
        )
        .await;
    let spa = app
        .register(
            "acme",
            registration("spa-app", false, "authorization_code,refresh_token"),
        )
        .await;
    let tv = app
        .register(
            "acme",
            registration(
                "tv-app",
                false,
                "urn:ietf:params:oauth:grant-type:device_code,refresh_token",
            ),
        )
        .await;
    let oidc = app
        .register(
            "acme",
            registration("oidc-app", true, "authorization_code,refresh_token"),
        )
        .await;
    app.user("acme", "alice", "correct horse battery").await;
    let screenshots = root.join("target/browser-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let script = root.join("tests/browser/flow.mjs");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(root.join("tests/browser"))
        .env("ISSUER", app.url("/t/acme"))
        .env("USERNAME", "alice")
        .env("PASSWORD", "correct horse battery")
        .env("WEB_CLIENT_ID", &web.client_id)
        .env("WEB_CLIENT_SECRET", web.client_secret.as_deref().unwrap())
        .env("SPA_CLIENT_ID", &spa.client_id)
        .env("DEVICE_CLIENT_ID", &tv.client_id)
        .env("OIDC_CLIENT_ID", &oidc.client_id)
        .env("OIDC_CLIENT_SECRET", oidc.client_secret.as_deref().unwrap())
        .env("SCREENSHOT_DIR", &screenshots)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    // The script's loopback server binds a free port itself and says which; its
    // post-logout URI is registered exactly (RP-Initiated Logout §3), then it goes on.
    let mut stdout_lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = stdout_lines.next_line().await.unwrap() {
            if let Some(port) = line.strip_prefix("CALLBACK_PORT ") {
                return port.trim().parse::<u16>().unwrap();
            }
        }
        panic!("the browser script exited before its callback server listened")
    })
    .await
    .expect("the browser script's callback server listens within 60 s");
    set_post_logout_redirect_uris(
        &app,
        "acme",
        &oidc.client_id,
        &format!("http://127.0.0.1:{port}/signed-out"),
    )
    .await;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    drop(stdin);
    let mut stderr = child.stderr.take().unwrap();
    let output = async {
        // Both pipes at once: a full one would stall the script.
        let rest = async {
            let mut rest = String::new();
            while let Some(line) = stdout_lines.next_line().await.unwrap() {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        };
        let errors = async {
            let mut errors = String::new();
            stderr.read_to_string(&mut errors).await.unwrap();
            errors
        };
        let (rest, errors) = tokio::join!(rest, errors);
        (rest, errors, child.wait().await.unwrap())
    };
    let (stdout, stderr, status) =
        tokio::time::timeout(std::time::Duration::from_secs(240), output)
            .await
            .expect("the browser script finishes within 4 minutes");
    println!("{stdout}");
    assert!(
        status.success(),
        "the browser script failed ({}):\n{stdout}\n{stderr}",
        status
    );
    assert!(
        stdout.contains("ok 10 plain sign-in"),
        "every step ran:\n{stdout}"
    );
    for shot in [
        "login.png",
        "consent.png",
        "device.png",
        "authorized_tokens.png",
        "logout.png",
        "plain-login.png",
    ] {
        assert!(screenshots.join(shot).is_file(), "no screenshot {shot}");
    }
    app.stop().await;
}
