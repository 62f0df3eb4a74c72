//! `GET|POST /t/{tenant}/login` and `GET|POST /t/{tenant}/logout`: Tessera's own
//! login page over [`crate::oauth::credentials`] (argon2id, the brute-force limits)
//! and [`crate::oauth::session`]. The HTML contract: one `<form>` with `username`,
//! `password` and hidden fields.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::endpoints::browser::{
    bound, csrf_ok, finish_plain_sign_in, plain_form_secret, plain_page_url, posted_sign_in,
    require_login, return_path, signed_in, start_again_for, start_session, tenant_path,
};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{
    MessageContext, Page, expired_cookie, form_expired, refused, render, render_for_client,
    respond, session_cookie_name,
};
use crate::endpoints::request::{Peer, client_address, content_type};
use crate::oauth::authorize;
use crate::oauth::credentials::{self, Attempt};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::session;
use crate::secrets;
use crate::state::AppState;

/// The login page's query.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    interaction: Option<String>,
    /// A plain sign-in's page to return to (a path of this tenant).
    next: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct LoginContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    interaction: &'a str,
    /// A plain sign-in's page to return to (no interaction is stored for it).
    next: Option<String>,
    csrf: String,
    error: Option<&'static str>,
    application_name: Option<String>,
    /// The request's `login_hint` (OIDC Core §3.1.2.1), filled in.
    username: Option<String>,
    /// The sign-up page of this interaction, where the tenant offers sign-up.
    sign_up: Option<String>,
}

/// The sentence of a login error code carried back in the URL.
fn error_sentence(code: Option<&str>) -> Option<&'static str> {
    match code {
        Some("credentials") => Some("Wrong username or password."),
        Some("too_many") => Some("Too many failed attempts. Wait a few minutes and try again."),
        Some("busy") => Some("The service is busy. Try again in a moment."),
        _ => None,
    }
}

/// `GET /t/{tenant}/login?interaction=KEY`, or for a plain sign-in
/// `GET /t/{tenant}/login[?next=PATH]` (then nothing is stored: the form carries the
/// page to return to, and a cookie binds it to the browser). Where an external login
/// application decides, the interaction is refused here and a plain sign-in goes
/// there.
pub async fn login_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<LoginQuery>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let Some(key) = query.interaction.as_deref() else {
            let return_to = return_path(&tenant, query.next.as_deref());
            if LoginAuthority::of_tenant(&tenant).is_external() {
                let source = client_address(&state, &peer, &headers);
                return require_login(&state, &tenant, return_to, None, source).await;
            }
            let (secret, set_cookie) = plain_form_secret(&state, &tenant, &headers)?;
            let page = render(
                &state,
                &tenant,
                "login.html",
                LoginContext {
                    tenant_name: &tenant.display_name,
                    title: "Sign in",
                    action: tenant_path(&tenant, "login"),
                    interaction: "",
                    csrf: secrets::csrf_token(&secret),
                    error: error_sentence(query.error.as_deref()),
                    application_name: None,
                    username: None,
                    sign_up: tenant
                        .settings
                        .allow_sign_up
                        .then(|| plain_page_url(&tenant, "sign-up", &return_to)),
                    next: Some(return_to),
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
        let username = match found.pending() {
            authorize::Pending::Authorize(request) => request.login_hint.clone(),
            authorize::Pending::Login { .. } => None,
        };
        Ok(render_for_client(
            &state,
            &tenant,
            client_id.as_deref(),
            "login.html",
            LoginContext {
                tenant_name: &tenant.display_name,
                title: "Sign in",
                action: tenant_path(&tenant, "login"),
                interaction: key,
                next: None,
                csrf: secrets::csrf_token(&secret),
                error: error_sentence(query.error.as_deref()),
                application_name,
                username,
                sign_up: tenant
                    .settings
                    .allow_sign_up
                    .then(|| format!("{}?interaction={key}", tenant_path(&tenant, "sign-up"))),
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/login`: checks the password, starts a session, resumes the
/// interaction (or returns to a plain sign-in's page). A wrong password sends the
/// browser back to the form (303). An interaction an external login application
/// decides is refused before any password is checked.
pub async fn login(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let form = Form::parse(content_type(&headers), &body)?;
        let address = client_address(&state, &peer, &headers);
        let found = match posted_sign_in(&state, &tenant, &headers, &form).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
        let return_to = return_path(&tenant, form.get("next"));
        let again = |reason: &str| {
            let back = match &found {
                Some(found) => format!(
                    "{}?interaction={}",
                    tenant_path(&tenant, "login"),
                    found.key()
                ),
                None => plain_page_url(&tenant, "login", &return_to),
            };
            Page::see_other(format!("{back}&error={reason}"))
        };
        let attempt = Attempt {
            username: form.get("username").unwrap_or_default(),
            password: form.get("password").unwrap_or_default().to_owned(),
            address,
        };
        let user = match credentials::check(&state, &tenant, attempt).await {
            Ok(user) => user,
            Err(OAuthError::InvalidGrant(_)) => return Ok(again("credentials")),
            Err(OAuthError::TooManyAttempts { .. }) => return Ok(again("too_many")),
            Err(OAuthError::Busy { .. }) => return Ok(again("busy")),
            Err(error) => return Err(error),
        };
        match found {
            Some(found) => start_session(&state, &tenant, &found, user.id).await,
            None => finish_plain_sign_in(&state, &tenant, user.id, return_to).await,
        }
    }
    .await;
    respond(&state, result)
}

/// `GET /t/{tenant}/logout`: signed in, the authorized-tokens page has the sign-out
/// button; signed out, a message.
pub async fn logout_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        if signed_in(&state, &tenant, &headers).await?.is_some() {
            return Ok(Page::see_other(tenant_path(&tenant, "authorized-tokens")));
        }
        Ok(render(
            &state,
            &tenant,
            "message.html",
            MessageContext {
                tenant_name: &tenant.display_name,
                title: "Signed out",
                message: "You are signed out.",
                link: None,
                link_text: "",
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/logout`: ends the session (CSRF-checked) and deletes its cookie.
pub async fn logout(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let form = Form::parse(content_type(&headers), &body)?;
        let Some(current) = signed_in(&state, &tenant, &headers).await? else {
            return Ok(Page::see_other(tenant_path(&tenant, "logout")));
        };
        if !csrf_ok(&current.secret, form.get("csrf")) {
            return Ok(form_expired(
                &state,
                &tenant,
                "Reload the page and try again.",
            ));
        }
        session::end(&state, &tenant, &current.secret).await?;
        Ok(
            Page::see_other(tenant_path(&tenant, "logout")).with_cookie(expired_cookie(
                &state,
                &tenant,
                &session_cookie_name(&tenant),
            )),
        )
    }
    .await;
    respond(&state, result)
}
