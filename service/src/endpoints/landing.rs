//! `GET /`: a page listing the tenants' issuers with links to their discovery
//! documents and key sets, so a newcomer finds what to point a client at
//! (`[routes] disable = ["landing"]` switches it off: a platform whose tenant names
//! are private should).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::endpoints::page::{Page, failure_page};
use crate::oauth::error::OAuthError;
use crate::state::AppState;

/// How many tenants the page lists.
const LISTED: u64 = 50;

#[derive(Serialize)]
struct Listed {
    slug: String,
    display_name: String,
    issuer: String,
    discovery: String,
    jwks: String,
}

#[derive(Serialize)]
struct Context<'a> {
    tenant_name: &'a str,
    title: &'a str,
    tenants: Vec<Listed>,
    more: bool,
}

/// The landing page.
pub async fn landing(State(state): State<AppState>) -> Response {
    let rows = match crate::tenancy::first_rows(&state.databases, LISTED + 1).await {
        Ok(rows) => rows,
        Err(error) => {
            return failure_page(&state, "Tessera", OAuthError::from(error)).into_response();
        }
    };
    let more = rows.len() as u64 > LISTED;
    let tenants = rows
        .into_iter()
        .take(LISTED as usize)
        .map(|row| {
            let issuer = format!(
                "{}/t/{}",
                state.config.public_url.trim_end_matches('/'),
                row.slug
            );
            Listed {
                discovery: format!("{issuer}/.well-known/openid-configuration"),
                jwks: format!("{issuer}/jwks"),
                issuer,
                slug: row.slug,
                display_name: row.display_name,
            }
        })
        .collect();
    let context = Context {
        tenant_name: "Tessera",
        title: "Tessera",
        tenants,
        more,
    };
    match state.pages.render("landing.html", context) {
        Ok(body) => Page::html(StatusCode::OK, body).into_response(),
        Err(error) => failure_page(&state, "Tessera", OAuthError::Internal(error)).into_response(),
    }
}
