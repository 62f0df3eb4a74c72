//! An embedding program: Tessera with its authorization view replaced and the
//! management routes removed — what Django OAuth Toolkit's documentation does with
//! custom urlpatterns ("change the login view for unregistered users depending on
//! some query params").
//!
//! Here an authorization request with `screen=signup` sends people to the sign-up
//! page instead of the login page: the request goes on as Tessera's own authorization
//! endpoint with `prompt=create` (OpenID Connect Prompt Create 1.0), the built-in
//! handler called as a building block. Every other request is Tessera's, untouched.
//! The authorized-tokens page (DOT's `management_urlpatterns`) is switched off: it
//! answers 404.
//!
//! ```sh
//! cargo run -p tessera --example custom_authorize -- tessera.toml
//! ```
//! The configuration needs `oauth.allow_sign_up = true` for `screen=signup` to work.

use std::process::ExitCode;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use tessera::config::Config;
use tessera::endpoints::authorize::{authorize_get, authorize_post};
use tessera::endpoints::request::Peer;
use tessera::endpoints::routes::Routes;
use tessera::route_names::{RouteGroup, RouteName};
use tessera::startup::{Application, shutdown_signal};
use tessera::state::AppState;

/// The query with `screen=signup` turned into `prompt=create` (and every other
/// parameter as it was).
fn sign_up_screen(query: Option<String>) -> Option<String> {
    let query = query?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !pairs
        .iter()
        .any(|(name, value)| name == "screen" && value == "signup")
    {
        return Some(query);
    }
    let mut rewritten = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &pairs {
        match name.as_str() {
            "screen" | "prompt" => {}
            _ => {
                rewritten.append_pair(name, value);
            }
        }
    }
    rewritten.append_pair("prompt", "create");
    Some(rewritten.finish())
}

/// `GET /t/{tenant}/authorize`: ours first, then Tessera's.
async fn authorize(
    state: State<AppState>,
    tenant: Path<String>,
    RawQuery(query): RawQuery,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    authorize_get(
        state,
        tenant,
        RawQuery(sign_up_screen(query)),
        peer,
        headers,
    )
    .await
}

#[tokio::main]
async fn main() -> ExitCode {
    let path = std::env::args().nth(1);
    let config = match Config::load(path.as_deref().map(std::path::Path::new)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("custom_authorize: {error}");
            return ExitCode::from(2);
        }
    };
    let listen = config.listen;
    let routes = Routes::built_in()
        .replace(RouteName::Authorize, get(authorize).post(authorize_post))
        .disable_group(RouteGroup::Management);
    let served = async {
        let application = Application::build(config).await?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!(
            "custom_authorize listening on http://{}",
            listener.local_addr()?
        );
        application
            .serve_routes(routes, listener, shutdown_signal())
            .await
    };
    match served.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("custom_authorize: {error}");
            ExitCode::from(1)
        }
    }
}
