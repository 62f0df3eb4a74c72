//! The browser side of the interactions: which session a request carries, which
//! interaction it is bound to, and how a [`Step`] becomes a 303 with its cookies.

use std::net::IpAddr;

use axum::http::HeaderMap;
use entity::application;

use crate::endpoints::page::{
    Page, cookie, expired_cookie, interaction_cookie_name, read_cookie, refused,
    session_cookie_name, start_again, start_again_back_to,
};
use crate::oauth::authorization_response::Delivery;
use crate::oauth::authorize::{self, Begun, Interaction, Step};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::session::{self, SignedIn};
use crate::secrets;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The browser's live session in `tenant`, if any, whoever signed it in (to sign
/// out, or to tell an external login application about it). Pages that act as the
/// user take [`signed_in_by`].
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

/// The browser's live session in `tenant` if `authority` signed it in: where an
/// external login application decides sign-ins, only its sessions count, and the
/// reverse ([`LoginAuthority`]).
pub async fn signed_in_by(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    authority: &LoginAuthority,
) -> Result<Option<SignedIn>, OAuthError> {
    Ok(signed_in(state, tenant, headers)
        .await?
        .filter(|session| session.is_from(authority)))
}

/// The interaction `key` if this browser holds its secret, with the secret.
pub async fn bound(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    key: &str,
) -> Result<Option<(Interaction, String)>, OAuthError> {
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
) -> Result<Option<Interaction>, OAuthError> {
    let key = form.get("interaction").unwrap_or_default();
    Ok(bound(state, tenant, headers, key)
        .await?
        .filter(|(_, secret)| csrf_ok(secret, form.get("csrf")))
        .map(|(found, _)| found))
}

/// What a posted login or sign-up form signs in for: its interaction (`Some`), or a
/// plain sign-in (`None`); or the page to answer instead — "start again" for a form
/// this browser did not get, 403 where an external login application decides (checked
/// before any password or account is touched).
pub async fn posted_sign_in(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Result<Option<Interaction>, Page>, OAuthError> {
    if form.get("interaction").is_none_or(str::is_empty) {
        if LoginAuthority::of_tenant(tenant).is_external() {
            return Ok(Err(refused(state, tenant, authorize::Refusal::Elsewhere)));
        }
        if !plain_form_ok(headers, tenant, form) {
            return Ok(Err(start_again(state, tenant)));
        }
        return Ok(Ok(None));
    }
    let Some(found) = posted_interaction(state, tenant, headers, form).await? else {
        let key = form.get("interaction").unwrap_or_default();
        return Ok(Err(start_again_for(state, tenant, key).await?));
    };
    if let Err(refusal) = authorize::pages_decide(state, tenant, &found).await {
        return Ok(Err(refused(state, tenant, refusal)));
    }
    Ok(Ok(Some(found)))
}

/// The "start again" page for interaction `key`, which this browser cannot use:
/// with a link to its application's home page when the interaction is still
/// stored and the application registered one (nothing else of it is shown).
pub async fn start_again_for(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
) -> Result<Page, OAuthError> {
    let application = authorize::application_with_home_page(state, tenant, key).await?;
    let back_to = application
        .as_ref()
        .map(|application| (application.name.as_str(), application.client_uri.as_str()));
    Ok(start_again_back_to(state, tenant, back_to))
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

/// Sends a browser without a session to sign in, to come back to `return_to` (a
/// path of this tenant): to Tessera's login page, with the path in its URL and
/// nothing stored; or, where an external login application decides (the client's,
/// for a device code's `application`, else the tenant's), to that application with a
/// stored interaction, counted against `source`'s cap.
pub async fn require_login(
    state: &AppState,
    tenant: &Tenant,
    return_to: String,
    application: Option<&application::Model>,
    source: IpAddr,
) -> Result<Page, OAuthError> {
    let authority = match application {
        Some(application) => LoginAuthority::of_client(tenant, application),
        None => LoginAuthority::of_tenant(tenant),
    };
    match authority {
        LoginAuthority::Pages => Ok(Page::see_other(plain_page_url(tenant, "login", &return_to))),
        LoginAuthority::External { login_url, .. } => {
            let Begun { step, secret } = authorize::begin_external_login(
                state,
                tenant,
                return_to,
                application.map(|application| application.id),
                login_url,
                source,
            )
            .await?;
            Ok(step_page(state, tenant, step, secret, None))
        }
    }
}

/// `/t/{slug}/{page}?next=…`: Tessera's login or sign-up page for a plain sign-in
/// returning to `return_to`.
pub fn plain_page_url(tenant: &Tenant, page: &str, return_to: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", return_to)
        .finish();
    format!("{}?{query}", tenant_path(tenant, page))
}

/// Longest `next` a plain sign-in carries.
const MAX_RETURN_PATH_CHARS: usize = 512;

/// Where a plain sign-in returns: `next` when it is a path of this tenant's pages
/// (`/t/{slug}/…`, no scheme, host, `//`, `..` or backslash, so never another site),
/// else the authorized-tokens page.
pub fn return_path(tenant: &Tenant, next: Option<&str>) -> String {
    let prefix = tenant_path(tenant, "");
    next.filter(|next| {
        next.len() <= MAX_RETURN_PATH_CHARS
            && next.starts_with(&prefix)
            && !next.contains("//")
            && !next.contains("..")
            && !next.contains('\\')
            && next.chars().all(|c| c.is_ascii_graphic())
    })
    .map_or_else(|| tenant_path(tenant, "authorized-tokens"), str::to_owned)
}

/// The cookie that binds a plain sign-in form to its browser (its CSRF token is
/// derived from it): nothing is stored for it.
pub fn login_cookie_name(tenant: &Tenant) -> String {
    format!("tessera_login_{}", tenant.slug)
}

/// The browser secret of a plain sign-in form: the browser's, or a new one with the
/// cookie to set.
pub fn plain_form_secret(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), OAuthError> {
    if let Some(secret) = read_cookie(headers, &login_cookie_name(tenant))
        .filter(|secret| secret.starts_with(LOGIN_FORM_PREFIX) && secret.len() < 100)
    {
        return Ok((secret, None));
    }
    let secret = secrets::generate(LOGIN_FORM_PREFIX)?;
    let set = cookie(
        state,
        tenant,
        &login_cookie_name(tenant),
        &secret,
        tenant.settings.interaction_lifetime_secs,
    );
    Ok((secret, Some(set)))
}

/// Prefix of plain sign-in form secrets.
const LOGIN_FORM_PREFIX: &str = "tsl_";

/// Whether a posted plain sign-in form comes from the page this browser got: its
/// `csrf` field is the token of the browser's sign-in cookie.
pub fn plain_form_ok(headers: &HeaderMap, tenant: &Tenant, form: &Form) -> bool {
    read_cookie(headers, &login_cookie_name(tenant))
        .is_some_and(|secret| csrf_ok(&secret, form.get("csrf")))
}

/// After a plain sign-in named `user_id` on Tessera's pages: starts the session
/// and returns to `return_to`.
pub async fn finish_plain_sign_in(
    state: &AppState,
    tenant: &Tenant,
    user_id: i64,
    return_to: String,
) -> Result<Page, OAuthError> {
    let session_secret = session::start(state, tenant, user_id, crate::time::now()).await?;
    Ok(Page::see_other(return_to)
        .with_cookie(cookie(
            state,
            tenant,
            &session_cookie_name(tenant),
            &session_secret,
            tenant.settings.session_lifetime_secs,
        ))
        .with_cookie(expired_cookie(state, tenant, &login_cookie_name(tenant))))
}

/// After a login or a sign-up named `user_id` for interaction `found`: starts the
/// session (its cookie set) and takes the browser where the interaction goes next.
pub async fn start_session(
    state: &AppState,
    tenant: &Tenant,
    found: &Interaction,
    user_id: i64,
) -> Result<Page, OAuthError> {
    // Before any session exists: an interaction an external application decides is
    // never signed in here.
    if let Err(refusal) = authorize::pages_decide(state, tenant, found).await {
        return Ok(refused(state, tenant, refusal));
    }
    // One instant for the session and the authorization's `auth_time`.
    let authenticated_at = crate::time::now();
    let session_secret = session::start(state, tenant, user_id, authenticated_at).await?;
    let session_cookie = cookie(
        state,
        tenant,
        &session_cookie_name(tenant),
        &session_secret,
        tenant.settings.session_lifetime_secs,
    );
    let key = found.key();
    let page =
        match authorize::resume_with_login(state, tenant, found, user_id, authenticated_at).await {
            Ok(step) => step_page(state, tenant, step, None, Some(key)),
            Err(refusal) => refused(state, tenant, refusal),
        };
    Ok(page.with_cookie(session_cookie))
}
