//! A minimal external login and consent application for Tessera (Hydra's headless
//! model): Tessera sends the browser here with `interaction_id`; this program checks
//! the user's password itself (against its own list: it owns authentication), shows
//! its own consent page, and tells Tessera the outcome over the interaction API.
//!
//! Configure Tessera with `[tenants.T.oauth] login_url = "http://HOST:PORT/start"`
//! (or `tessera app update … --login-url`), create the API's credential with
//! `tessera app create --tenant T --name "Login app" --client-type confidential
//! --grant-types client_credentials --scopes interactions`, then run:
//!
//! ```sh
//! TESSERA_ISSUER=http://127.0.0.1:8080/t/T LOGIN_APP_LISTEN=127.0.0.1:9090 \
//! LOGIN_APP_CLIENT_ID=… LOGIN_APP_CLIENT_SECRET=… LOGIN_APP_USERS=alice:secret \
//! cargo run -p tessera --example external_login
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

/// What the program knows: where Tessera is, its credential, its users.
struct Setup {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// username → password (a real application would hold hashes, or ask an IdP).
    users: HashMap<String, String>,
    http: reqwest::Client,
}

type Shared = Arc<Setup>;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn failure(message: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        page("Something went wrong", &escape(message)),
    )
        .into_response()
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}

/// Calls the interaction API: `GET …/interactions/ID` or `POST …/ID/ACTION`.
async fn api(setup: &Setup, id: &str, action: Option<(&str, Value)>) -> Result<Value, String> {
    let url = match &action {
        Some((name, _)) => format!("{}/interactions/{id}/{name}", setup.issuer),
        None => format!("{}/interactions/{id}", setup.issuer),
    };
    let request = match action {
        Some((_, body)) => setup.http.post(url).json(&body),
        None => setup.http.get(url),
    };
    let answer = request
        .basic_auth(&setup.client_id, Some(&setup.client_secret))
        .send()
        .await
        .map_err(|error| format!("Tessera does not answer: {error}"))?;
    let status = answer.status();
    let body: Value = answer
        .json()
        .await
        .map_err(|error| format!("Tessera's answer: {error}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("Tessera refused ({status}): {body}"))
    }
}

/// Answers with `action` and sends the browser where Tessera says.
async fn answer(setup: &Setup, id: &str, action: &str, body: Value) -> Response {
    match api(setup, id, Some((action, body))).await {
        Ok(answer) => match answer["redirect_to"].as_str() {
            Some(redirect_to) => see_other(redirect_to),
            None => failure("Tessera gave no redirect_to"),
        },
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
struct Start {
    interaction_id: String,
}

fn login_form(id: &str, hint: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|error| format!("<p role=\"alert\">{}</p>", escape(error)))
        .unwrap_or_default();
    page(
        "Sign in (example login application)",
        &format!(
            "{error}<form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"interaction_id\" value=\"{}\">\
             <label>Username <input name=\"username\" value=\"{}\"></label>\
             <label>Password <input name=\"password\" type=\"password\"></label>\
             <button type=\"submit\">Sign in</button></form>",
            escape(id),
            escape(hint)
        ),
    )
}

/// `GET /start?interaction_id=ID`: whatever step the interaction is at.
async fn start(State(setup): State<Shared>, Query(start): Query<Start>) -> Response {
    let id = start.interaction_id;
    let interaction = match api(&setup, &id, None).await {
        Ok(interaction) => interaction,
        Err(error) => return failure(&error),
    };
    let skip = interaction["skip"].as_bool().unwrap_or(false);
    match interaction["step"].as_str() {
        Some("login") if skip => {
            let subject = interaction["subject"].clone();
            answer(&setup, &id, "login", json!({ "subject": subject })).await
        }
        Some("login") => login_form(&id, interaction["login_hint"].as_str().unwrap_or(""), None),
        Some("consent") if skip => {
            let scopes = interaction["requested_scope"].clone();
            answer(&setup, &id, "consent", json!({ "grant_scope": scopes })).await
        }
        Some("consent") => {
            let client = escape(
                interaction["client"]["name"]
                    .as_str()
                    .unwrap_or("An application"),
            );
            let scopes: String = interaction["requested_scope"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|scope| {
                    let scope = escape(scope);
                    format!("<label><input type=\"checkbox\" name=\"scope_{scope}\" value=\"1\" checked> {scope}</label>")
                })
                .collect();
            page(
                "Allow access? (example login application)",
                &format!(
                    "<p>{client} asks for:</p><form method=\"post\" action=\"/consent\">\
                     <input type=\"hidden\" name=\"interaction_id\" value=\"{}\">{scopes}\
                     <button type=\"submit\" name=\"allow\" value=\"1\">Allow</button>\
                     <button type=\"submit\" name=\"deny\" value=\"1\">Deny</button></form>",
                    escape(&id)
                ),
            )
        }
        _ => failure("the interaction has an unknown step"),
    }
}

/// `POST /login`: checks the password here, then tells Tessera who signed in.
async fn login(State(setup): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let id = form.get("interaction_id").cloned().unwrap_or_default();
    let username = form.get("username").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    if setup.users.get(&username) != Some(&password) {
        return login_form(&id, &username, Some("Wrong username or password."));
    }
    // RFC 8176 `pwd`: the user typed a password here; it reaches the ID token's `amr`.
    answer(
        &setup,
        &id,
        "login",
        json!({ "username": username, "amr": ["pwd"] }),
    )
    .await
}

/// `POST /consent`: the scopes ticked, or a refusal.
async fn consent(
    State(setup): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let id = form.get("interaction_id").cloned().unwrap_or_default();
    if form.contains_key("deny") {
        return answer(
            &setup,
            &id,
            "reject",
            json!({ "error": "access_denied", "error_description": "the user said no" }),
        )
        .await;
    }
    let granted: Vec<&str> = form
        .keys()
        .filter_map(|name| name.strip_prefix("scope_"))
        .collect();
    answer(&setup, &id, "consent", json!({ "grant_scope": granted })).await
}

fn required(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let setup = (|| -> Result<Setup, String> {
        Ok(Setup {
            issuer: required("TESSERA_ISSUER")?.trim_end_matches('/').to_owned(),
            client_id: required("LOGIN_APP_CLIENT_ID")?,
            client_secret: required("LOGIN_APP_CLIENT_SECRET")?,
            users: required("LOGIN_APP_USERS")?
                .split(',')
                .filter_map(|pair| pair.split_once(':'))
                .map(|(user, password)| (user.to_owned(), password.to_owned()))
                .collect(),
            http: reqwest::Client::new(),
        })
    })();
    let setup = match setup {
        Ok(setup) => Arc::new(setup),
        Err(error) => {
            eprintln!("external_login: {error}");
            return ExitCode::from(2);
        }
    };
    let listen = std::env::var("LOGIN_APP_LISTEN").unwrap_or_else(|_| "127.0.0.1:9090".to_owned());
    let app = Router::new()
        .route("/start", get(start))
        .route("/login", post(login))
        .route("/consent", post(consent))
        .with_state(setup);
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("external_login: cannot listen on {listen}: {error}");
            return ExitCode::from(1);
        }
    };
    // The address it got (LOGIN_APP_LISTEN may name port 0).
    match listener.local_addr() {
        Ok(address) => println!("external_login listening on http://{address}"),
        Err(error) => {
            eprintln!("external_login: {error}");
            return ExitCode::from(1);
        }
    }
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("external_login: {error}");
            ExitCode::from(1)
        }
    }
}
