//! The browser side of the interactions: which session a request carries, which
//! interaction it is bound to, and how a [`Step`] becomes a 303 with its cookies.

use axum::http::HeaderMap;
use entity::interaction;

use crate::endpoints::authorize::refused;
use crate::endpoints::page::{
    Page, cookie, expired_cookie, interaction_cookie_name, read_cookie, session_cookie_name,
};
use crate::oauth::authorization_response::Delivery;
use crate::oauth::authorize::{self, Begun, Step};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::session::{self, SignedIn};
use crate::secrets;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The browser's live session in `tenant`, if any.
pub async fn signed_in(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, OAuthError> {
    match read_cookie(headers, &session_cookie_name(tenant)) {
        Some(secret) => Ok(session::resume(state, tenant, &secret).await?),
        None => Ok(None),
    }
}

/// The interaction `key` if this browser holds its secret, with the secret.
pub async fn bound(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    key: &str,
) -> Result<Option<(interaction::Model, String)>, OAuthError> {
    let secret = read_cookie(headers, &interaction_cookie_name(key));
    let found = authorize::bind(state, tenant, key, secret.as_deref()).await?;
    Ok(found.zip(secret))
}

/// The interaction a posted page form (`interaction`, `csrf`) is for, if this browser
/// holds its secret and the CSRF token is that secret's; `None`: the caller shows the
/// "start again" page.
pub async fn posted_interaction(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Option<interaction::Model>, OAuthError> {
    let key = form.get("interaction").unwrap_or_default();
    Ok(bound(state, tenant, headers, key)
        .await?
        .filter(|(_, secret)| csrf_ok(secret, form.get("csrf")))
        .map(|(found, _)| found))
}

/// Whether a form's `csrf` field is the token of `browser_secret`.
pub fn csrf_ok(browser_secret: &str, presented: Option<&str>) -> bool {
    presented
        .is_some_and(|presented| secrets::equal(&secrets::csrf_token(browser_secret), presented))
}

/// The page of a tenant at `path` (under `/t/{slug}/`).
pub fn tenant_path(tenant: &Tenant, path: &str) -> String {
    format!("/t/{}/{path}", tenant.slug)
}

/// The 303 for `step`. `begun_secret`: the secret of an interaction just stored (its
/// cookie is set); when the browser leaves for the client, `finished_key`'s cookie is
/// deleted.
pub fn step_page(
    state: &AppState,
    tenant: &Tenant,
    step: Step,
    begun_secret: Option<String>,
    finished_key: Option<&str>,
) -> Page {
    let lifetime = tenant.settings.interaction_lifetime_secs;
    // Leaving for the client (or a page of the tenant): the interaction is done.
    let leave = |page: Page| match finished_key {
        Some(key) => page.with_cookie(expired_cookie(state, tenant, &interaction_cookie_name(key))),
        None => page,
    };
    let (location, key) = match step {
        Step::Redirect(url) | Step::Answer(Delivery::Redirect(url)) => {
            return leave(Page::see_other(url));
        }
        Step::Answer(Delivery::FormPost { action, fields }) => {
            return leave(Page::form_post(state, tenant, &action, &fields));
        }
        Step::Login { key } => (
            format!("{}?interaction={key}", tenant_path(tenant, "login")),
            key,
        ),
        Step::External { key, login_url } => {
            // The URL was checked when configured or registered; unreadable, Tessera's
            // own login.
            let location = match url::Url::parse(&login_url).ok() {
                Some(mut url) => {
                    url.query_pairs_mut().append_pair("interaction_id", &key);
                    url.to_string()
                }
                None => format!("{}?interaction={key}", tenant_path(tenant, "login")),
            };
            (location, key)
        }
        Step::SignUp { key } => (
            format!("{}?interaction={key}", tenant_path(tenant, "sign-up")),
            key,
        ),
        Step::Consent { key } => (
            format!("{}?interaction={key}", tenant_path(tenant, "consent")),
            key,
        ),
    };
    let page = Page::see_other(location);
    match begun_secret {
        Some(secret) => page.with_cookie(cookie(
            state,
            tenant,
            &interaction_cookie_name(&key),
            &secret,
            lifetime,
        )),
        None => page,
    }
}

/// Sends a browser without a session to the login page, to come back to `return_to`.
pub async fn require_login(
    state: &AppState,
    tenant: &Tenant,
    return_to: String,
) -> Result<Page, OAuthError> {
    let Begun { step, secret } = authorize::begin_login(state, tenant, return_to).await?;
    Ok(step_page(state, tenant, step, secret, None))
}

/// After a login or a sign-up named `user_id` for interaction `found`: starts the
/// session (its cookie set) and takes the browser where the interaction goes next.
pub async fn start_session(
    state: &AppState,
    tenant: &Tenant,
    found: &interaction::Model,
    user_id: i64,
) -> Result<Page, OAuthError> {
    let session_secret = session::start(state, tenant, user_id).await?;
    let session_cookie = cookie(
        state,
        tenant,
        &session_cookie_name(tenant),
        &session_secret,
        tenant.settings.session_lifetime_secs,
    );
    let key = &found.interaction_key;
    let page = match authorize::resume_with_login(state, tenant, found, user_id).await {
        Ok(step) => step_page(state, tenant, step, None, Some(key)),
        Err(refusal) => refused(state, tenant, refusal),
    };
    Ok(page.with_cookie(session_cookie))
}
