//! `GET|POST /t/{tenant}/sign-up`: the account creation page (OpenID Connect Prompt
//! Create 1.0) over [`crate::oauth::sign_up`], for tenants with `allow_sign_up`. A
//! client sends the browser here with `prompt=create`; the login page links here
//! with the same interaction. Once the account exists, the browser is signed in and
//! the interaction goes on as after a login. The HTML contract: one `<form>` with
//! `username`, `email` (optional), `password` and hidden fields.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::endpoints::browser::{
    bound, finish_plain_sign_in, plain_form_secret, plain_page_url, posted_sign_in, return_path,
    start_again_for, start_session, tenant_path,
};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{Page, error_page, refused, render_for_client, respond};
use crate::endpoints::request::{Peer, client_address, content_type};
use crate::oauth::authorize;
use crate::oauth::form::Form;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::sign_up::{self, NewAccount, Refusal, SignUpError};
use crate::secrets;
use crate::state::AppState;
use crate::syntax::{MAX_EMAIL_CHARS, MAX_USERNAME_CHARS};
use crate::tenancy::Tenant;

/// The sign-up page's query: the interaction, and after a refusal its code and the
/// username typed (the e-mail and the password are not carried in URLs).
#[derive(Debug, Deserialize)]
pub struct SignUpQuery {
    interaction: Option<String>,
    /// A plain sign-up's page to return to (a path of this tenant).
    next: Option<String>,
    error: Option<String>,
    username: Option<String>,
}

#[derive(Serialize)]
struct SignUpContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    interaction: &'a str,
    /// A plain sign-up's page to return to (no interaction is stored for it).
    next: Option<String>,
    csrf: String,
    error: Option<&'static str>,
    application_name: Option<String>,
    username: Option<String>,
    sign_in: String,
    min_password_chars: usize,
    max_password_chars: usize,
    max_username_chars: usize,
    max_email_chars: usize,
}

/// The page of a tenant without sign-up (404: there is nothing here).
fn closed(state: &AppState, tenant: &Tenant) -> Page {
    error_page(
        state,
        &tenant.display_name,
        StatusCode::NOT_FOUND,
        "No sign-up here",
        Refusal::Closed.message(),
        Some("Ask the administrator of this service for an account."),
    )
}

/// `GET /t/{tenant}/sign-up?interaction=KEY`, or for a plain sign-up
/// `GET /t/{tenant}/sign-up[?next=PATH]` (nothing stored; it ends on that page, by
/// default the authorized-tokens page). Refused where an external login application
/// decides the tenant's or the interaction's sign-ins.
pub async fn sign_up_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<SignUpQuery>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        if !tenant.settings.allow_sign_up {
            return Ok(closed(&state, &tenant));
        }
        let username = query
            .username
            .filter(|username| username.chars().count() <= MAX_USERNAME_CHARS);
        let error = query
            .error
            .as_deref()
            .and_then(Refusal::from_code)
            .map(Refusal::message);
        let Some(key) = query.interaction.as_deref() else {
            if LoginAuthority::of_tenant(&tenant).is_external() {
                return Ok(refused(&state, &tenant, authorize::Refusal::Elsewhere));
            }
            let return_to = return_path(&tenant, query.next.as_deref());
            let (secret, set_cookie) = plain_form_secret(&state, &tenant, &headers)?;
            let page = render_for_client(
                &state,
                &tenant,
                None,
                "sign_up.html",
                SignUpContext {
                    tenant_name: &tenant.display_name,
                    title: "Create an account",
                    action: tenant_path(&tenant, "sign-up"),
                    interaction: "",
                    csrf: secrets::csrf_token(&secret),
                    error,
                    application_name: None,
                    username,
                    sign_in: plain_page_url(&tenant, "login", &return_to),
                    next: Some(return_to),
                    min_password_chars: sign_up::MIN_PASSWORD_CHARS,
                    max_password_chars: sign_up::MAX_PASSWORD_CHARS,
                    max_username_chars: MAX_USERNAME_CHARS,
                    max_email_chars: MAX_EMAIL_CHARS,
                },
            );
            return Ok(match set_cookie {
                Some(set_cookie) => page.with_cookie(set_cookie),
                None => page,
            });
        };
        let Some((found, secret)) = bound(&state, &tenant, &headers, key).await? else {
            return start_again_for(&state, &tenant, key).await;
        };
        if let Err(refusal) = authorize::pages_decide(&state, &tenant, &found).await {
            return Ok(refused(&state, &tenant, refusal));
        }
        let application = authorize::application_for(&state, &tenant, &found).await?;
        let client_id = application.as_ref().map(|app| app.client_id.clone());
        let application_name = application.map(|app| app.name);
        Ok(render_for_client(
            &state,
            &tenant,
            client_id.as_deref(),
            "sign_up.html",
            SignUpContext {
                tenant_name: &tenant.display_name,
                title: "Create an account",
                action: tenant_path(&tenant, "sign-up"),
                interaction: key,
                next: None,
                csrf: secrets::csrf_token(&secret),
                error,
                application_name,
                username,
                sign_in: format!("{}?interaction={key}", tenant_path(&tenant, "login")),
                min_password_chars: sign_up::MIN_PASSWORD_CHARS,
                max_password_chars: sign_up::MAX_PASSWORD_CHARS,
                max_username_chars: MAX_USERNAME_CHARS,
                max_email_chars: MAX_EMAIL_CHARS,
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/sign-up`: creates the account, starts a session and resumes the
/// interaction (or returns to a plain sign-up's page). A refusal sends the browser
/// back to the form (303) saying why. An interaction an external login application
/// decides is refused before any account is created.
pub async fn sign_up(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        if !tenant.settings.allow_sign_up {
            return Ok(closed(&state, &tenant));
        }
        let form = Form::parse(content_type(&headers), &body)?;
        let found = match posted_sign_in(&state, &tenant, &headers, &form).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
        let return_to = return_path(&tenant, form.get("next"));
        let username = form.get("username").unwrap_or_default();
        let account = NewAccount {
            username,
            email: form.get("email").filter(|email| !email.is_empty()),
            password: form.get("password").unwrap_or_default().to_owned(),
            address: client_address(&state, &peer, &headers),
        };
        let user = match sign_up::create_account(&state, &tenant, account).await {
            Ok(user) => user,
            Err(SignUpError::Refused(refusal)) => {
                let mut back = url::form_urlencoded::Serializer::new(String::new());
                match &found {
                    Some(found) => back.append_pair("interaction", found.key()),
                    None => back.append_pair("next", &return_to),
                };
                back.append_pair("error", refusal.code());
                if refusal != Refusal::InvalidUsername {
                    back.append_pair("username", username);
                }
                return Ok(Page::see_other(format!(
                    "{}?{}",
                    tenant_path(&tenant, "sign-up"),
                    back.finish()
                )));
            }
            Err(SignUpError::Failed(error)) => return Err(error),
        };
        tracing::info!(tenant = %tenant.slug, user_id = user.id, "account created on the sign-up page");
        match found {
            Some(found) => start_session(&state, &tenant, &found, user.id).await,
            None => finish_plain_sign_in(&state, &tenant, user.id, return_to).await,
        }
    }
    .await;
    respond(&state, result)
}
