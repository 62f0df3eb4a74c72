//! `GET|POST /t/{tenant}/authorized-tokens`: the signed-in user's authorized
//! applications, each with its scopes and dates; revoking one revokes its access and
//! refresh tokens together (DOT's authorized-token views). The HTML contract: each
//! application is an element with `data-client-id` holding a form whose button is
//! `revoke`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::endpoints::browser::{csrf_ok, require_login, signed_in_by, tenant_path};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{Page, form_expired, render, respond};
use crate::endpoints::request::{Peer, client_address, content_type};
use crate::oauth::form::Form;
use crate::oauth::login_authority::LoginAuthority;
use crate::secrets;
use crate::state::AppState;
use crate::store::{applications, authorized_tokens};

#[derive(Serialize)]
struct Line {
    id: i64,
    client_id: String,
    name: String,
    scopes: Vec<String>,
    first_authorized: String,
    /// Until when its tokens are valid; `None` when it holds none.
    valid_until: Option<String>,
    /// Until when its consent is remembered; `None` when it is not.
    consent_until: Option<String>,
}

#[derive(Serialize)]
struct TokensContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    logout_action: String,
    csrf: String,
    username: &'a str,
    applications: Vec<Line>,
}

fn shown(at: entity::Timestamp) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// `GET /t/{tenant}/authorized-tokens`.
pub async fn authorized_tokens_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let authority = LoginAuthority::of_tenant(&tenant);
        let Some(current) = signed_in_by(&state, &tenant, &headers, &authority).await? else {
            let source = client_address(&state, &peer, &headers);
            let return_to = tenant_path(&tenant, "authorized-tokens");
            return require_login(&state, &tenant, return_to, None, source).await;
        };
        let grants =
            authorized_tokens::authorized_applications(state.data(&tenant), current.user.id)
                .await?;
        let registered = applications::find_by_ids(
            state.data(&tenant),
            grants.iter().map(|grant| grant.application_id).collect(),
        )
        .await?;
        let lines = registered
            .into_iter()
            .filter_map(|application| {
                let grant = grants
                    .iter()
                    .find(|grant| grant.application_id == application.id)?;
                Some(Line {
                    id: application.id,
                    client_id: application.client_id,
                    name: application.name,
                    scopes: grant.scopes.iter().cloned().collect(),
                    first_authorized: shown(grant.first_issued),
                    // No expiry: a live refresh token that never expires.
                    valid_until: grant.holds_tokens.then(|| {
                        grant
                            .valid_until
                            .map_or_else(|| "you revoke it".to_owned(), shown)
                    }),
                    consent_until: grant
                        .consent_until
                        .map(|until| until.map_or_else(|| "you revoke it".to_owned(), shown)),
                })
            })
            .collect();
        Ok(render(
            &state,
            &tenant,
            "authorized_tokens.html",
            TokensContext {
                tenant_name: &tenant.display_name,
                title: "Authorized applications",
                action: tenant_path(&tenant, "authorized-tokens"),
                logout_action: tenant_path(&tenant, "logout"),
                csrf: secrets::csrf_token(&current.secret),
                username: &current.user.username,
                applications: lines,
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/authorized-tokens`: revokes one application's tokens of the user.
pub async fn revoke_application(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let form = Form::parse(content_type(&headers), &body)?;
        let authority = LoginAuthority::of_tenant(&tenant);
        let Some(current) = signed_in_by(&state, &tenant, &headers, &authority).await? else {
            let source = client_address(&state, &peer, &headers);
            let return_to = tenant_path(&tenant, "authorized-tokens");
            return require_login(&state, &tenant, return_to, None, source).await;
        };
        if !csrf_ok(&current.secret, form.get("csrf")) {
            return Ok(form_expired(
                &state,
                &tenant,
                "Reload the page and try again.",
            ));
        }
        let Some(application_id) = form.get("application").and_then(|id| id.parse().ok()) else {
            return Err(crate::oauth::error::OAuthError::invalid_request(
                "missing parameter \"application\"",
            ));
        };
        authorized_tokens::revoke_user_application(
            state.data(&tenant),
            current.user.id,
            application_id,
        )
        .await?;
        Ok::<Page, crate::oauth::error::OAuthError>(Page::see_other(tenant_path(
            &tenant,
            "authorized-tokens",
        )))
    }
    .await;
    respond(&state, result)
}
