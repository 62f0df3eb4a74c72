//! `tessera try-login` (issue 19): the client's part of a first sign-in. The command
//! runs in this process, printing the authorization URL; the test plays the person
//! at the browser (the login page), and the command exchanges the code on its
//! loopback redirect and verifies the ID token.

use std::io::{Cursor, Write};

use clap::Parser;
use tessera_tests::{Backend, Browser, Registration, TestDatabase, spawn_app_with};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::browser_flows::sign_in;

/// Standard output as it is written, chunk by chunk.
struct Streamed(UnboundedSender<String>);

impl Write for Streamed {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(bytes).into_owned());
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads the command's output until a line holds the authorization URL.
async fn authorization_url(output: &mut UnboundedReceiver<String>) -> String {
    let mut seen = String::new();
    loop {
        seen.push_str(&output.recv().await.expect("try-login printed no URL"));
        if let Some(url) = seen
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("http") && line.contains("/authorize?"))
        {
            return url.to_owned();
        }
    }
}

#[tokio::test]
async fn try_login_signs_in_as_a_client_would() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = spawn_app_with(&format!(
        "{}[tenants.acme]\n",
        tessera_tests::single_pool_toml(&db.url)
    ))
    .await
    .unwrap();
    let alice = app.user("acme", "alice", "correct horse").await;
    app.register(
        "acme",
        Registration {
            client_id: "first-try",
            confidential: false,
            grant_types: "authorization_code",
            scopes: "",
            origins: "",
            redirect_uris: "http://127.0.0.1/callback",
            skip_authorization: true,
        },
    )
    .await;
    let issuer = app.url("/t/acme");
    let cli = tessera::cli::Cli::try_parse_from([
        "tessera",
        "try-login",
        "--tenant",
        "acme",
        "--client-id",
        "first-try",
        "--issuer",
        &issuer,
    ])
    .unwrap();
    let (sender, mut output) = unbounded_channel();
    let command = async move {
        let mut input = Cursor::new(Vec::new());
        let mut out = Streamed(sender);
        tessera::cli::run(cli, &mut input, &mut out).await
    };
    let person = async {
        let url = authorization_url(&mut output).await;
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        assert!(url.contains("nonce="), "{url}");
        let mut browser = Browser::new(&app.address);
        let first = browser.get(&url).await;
        let back = sign_in(&mut browser, &first, "alice", "correct horse").await;
        let callback = back.location().unwrap().to_owned();
        assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
        let page = reqwest::get(&callback).await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("close this window"));
    };
    let (result, ()) = tokio::join!(command, person);
    let mut printed = String::new();
    while let Ok(chunk) = output.try_recv() {
        printed.push_str(&chunk);
    }
    assert!(result.is_ok(), "{:?}\n{printed}", result.err());
    assert!(printed.contains("\"access_token\""), "{printed}");
    assert!(printed.contains("ID token verified"), "{printed}");
    let subject = app.subject("acme", alice).await;
    assert!(
        printed.contains(&subject),
        "the claims name alice: {printed}"
    );
    app.stop().await;
}
