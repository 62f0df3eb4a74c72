//! `GET` and `POST /t/{tenant}/end_session` (RP-Initiated Logout 1.0 §2): the request
//! is validated by [`crate::oauth::logout`]; a signed-in user confirms on a page (a
//! cross-site link cannot sign anyone out: the confirmation is a CSRF-checked POST);
//! then the session ends and the browser goes to the registered
//! `post_logout_redirect_uri` with `state`, or sees a "signed out" page.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::endpoints::browser::{csrf_ok, signed_in, tenant_path};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{
    MessageContext, Page, expired_cookie, failure_page, form_expired, render, respond,
    session_cookie_name,
};
use crate::endpoints::request::content_type;
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::logout::{self, LogoutRequest};
use crate::secrets;
use crate::state::AppState;
use crate::tenancy::Tenant;

#[derive(Serialize)]
struct ConfirmContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    csrf: String,
    username: &'a str,
    application_name: Option<&'a str>,
    client_id: Option<&'a str>,
    id_token_hint: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

/// `GET`: the relying party's request in the query.
pub async fn end_session_get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let form = Form::from_urlencoded(query.as_deref().unwrap_or_default());
    handle(&state, &slug, &headers, form, false).await
}

/// `POST`: the relying party's request in a form, or the user's confirmation.
pub async fn end_session_post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(content_type(&headers), &body);
    handle(&state, &slug, &headers, form, true).await
}

async fn handle(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    form: Result<Form, OAuthError>,
    posted: bool,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(state, slug).await?;
        let form = form?;
        let request = match logout::validate(state, &tenant, &form).await {
            Ok(request) => request,
            Err(error) => return Ok(failure_page(state, &tenant.display_name, error)),
        };
        let Some(current) = signed_in(state, &tenant, headers).await? else {
            // Nobody to sign out: on to the client, or say so.
            return Ok(signed_out(state, &tenant, &request));
        };
        // Only the confirmation form's POST signs out (never a link).
        if !posted || form.get("confirm").is_none() {
            return Ok(render(
                state,
                &tenant,
                "logout.html",
                ConfirmContext {
                    tenant_name: &tenant.display_name,
                    title: "Sign out",
                    action: tenant_path(&tenant, "end_session"),
                    csrf: secrets::csrf_token(&current.secret),
                    username: &current.user.username,
                    application_name: request.application.as_ref().map(|app| app.name.as_str()),
                    client_id: request
                        .application
                        .as_ref()
                        .map(|app| app.client_id.as_str()),
                    id_token_hint: request.id_token_hint.as_deref(),
                    post_logout_redirect_uri: request.post_logout_redirect_uri.as_deref(),
                    state: request.state.as_deref(),
                },
            ));
        }
        if !csrf_ok(&current.secret, form.get("csrf")) {
            return Ok(form_expired(
                state,
                &tenant,
                "Go back to the application and sign out again.",
            ));
        }
        logout::finish(state, &tenant, &request, &current).await?;
        Ok(
            signed_out(state, &tenant, &request).with_cookie(expired_cookie(
                state,
                &tenant,
                &session_cookie_name(&tenant),
            )),
        )
    }
    .await;
    respond(state, result)
}

fn signed_out(state: &AppState, tenant: &Tenant, request: &LogoutRequest) -> Page {
    match request.redirect() {
        Some(url) => Page::see_other(url),
        None => render(
            state,
            tenant,
            "message.html",
            MessageContext {
                tenant_name: &tenant.display_name,
                title: "Signed out",
                message: "You are signed out.",
                link: None,
                link_text: "",
            },
        ),
    }
}
