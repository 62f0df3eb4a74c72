//! `GET|POST /t/{tenant}/authorize` (RFC 6749 §3.1: GET must be supported, POST may
//! be): thin over [`crate::oauth::authorize::begin`].

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::endpoints::browser::{signed_in, step_page};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{Page, failure_page, refused};
use crate::endpoints::request::{Peer, client_address, content_type};
use crate::oauth::authorize::{self, Refusal};
use crate::oauth::form::Form;
use crate::state::AppState;

/// `GET`: parameters in the query.
pub async fn authorize_get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let form = Form::from_urlencoded(query.as_deref().unwrap_or(""));
    answer(&state, &slug, form, &peer, &headers)
        .await
        .into_response()
}

/// `POST`: parameters in a form body.
pub async fn authorize_post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(content_type(&headers), &body);
    answer(&state, &slug, form, &peer, &headers)
        .await
        .into_response()
}

async fn answer(
    state: &AppState,
    slug: &str,
    form: Result<Form, crate::oauth::error::OAuthError>,
    peer: &Peer,
    headers: &HeaderMap,
) -> Page {
    let tenant = match resolve_tenant(state, slug).await {
        Ok(tenant) => tenant,
        Err(error) => return failure_page(state, "Tessera", error),
    };
    // A repeated or undecodable parameter leaves the redirect URI in doubt: a page.
    let form = match form {
        Ok(form) => form,
        Err(error) => {
            return refused(
                state,
                &tenant,
                Refusal::Page {
                    title: "Invalid request".to_owned(),
                    message: error.description(),
                },
            );
        }
    };
    let user = match signed_in(state, &tenant, headers).await {
        Ok(user) => user.map(|signed_in| authorize::Authenticated {
            user_id: signed_in.user.id,
            subject: signed_in.user.subject,
            at: signed_in.authenticated_at,
            authority: signed_in.authority,
        }),
        Err(error) => return failure_page(state, &tenant.display_name, error),
    };
    let source = client_address(state, peer, headers);
    match authorize::begin(state, &tenant, &form, user, source).await {
        Ok(begun) => step_page(state, &tenant, begun.step, begun.secret, None),
        Err(refusal) => refused(state, &tenant, refusal),
    }
}
