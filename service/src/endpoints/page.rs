//! What every HTML page shares: security headers, cookies, the 303 after a POST, and
//! readable error pages ("start again") instead of JSON or traces.
//!
//! Headers (OWASP's clickjacking and XSS defences): `Content-Security-Policy` with
//! `default-src 'none'`, styles from this origin only and `frame-ancestors 'none'`
//! (plus `X-Frame-Options: DENY` for old browsers), `Referrer-Policy: no-referrer` (a
//! URL with an interaction key or a code never leaks to another site), `no-store`.
//! No `form-action`: Chromium applies it to the redirect after a form post, and the
//! consent form's redirect goes to the client.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::endpoints::error::classify;
use crate::oauth::authorization_response::Delivery;
use crate::oauth::authorize::Refusal;
use crate::oauth::error::OAuthError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The Content-Security-Policy of every page.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The one script of the form-post page (OAuth 2.0 Form Post Response Mode §2): it
/// submits the answer. Allowed by its hash, nothing else runs.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit()";

/// The context of `message.html`: a title, a sentence, perhaps a link.
#[derive(Serialize)]
pub struct MessageContext<'a> {
    /// Shown above the title.
    pub tenant_name: &'a str,
    /// The heading.
    pub title: &'a str,
    /// One sentence.
    pub message: &'a str,
    /// Where the link goes, if there is one.
    pub link: Option<String>,
    /// The link's text.
    pub link_text: &'a str,
}

/// An HTML answer (or a 303) with cookies to set.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    body: String,
    location: Option<String>,
    cookies: Vec<String>,
    /// A policy other than [`CONTENT_SECURITY_POLICY`] (the form-post page's).
    policy: Option<String>,
    /// `Retry-After` seconds (429 and 503 pages).
    retry_after_secs: Option<u64>,
}

impl Page {
    /// A rendered page.
    pub fn html(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body,
            location: None,
            cookies: Vec::new(),
            policy: None,
            retry_after_secs: None,
        }
    }

    /// The form-post page delivering `fields` to `action` (the client's registered
    /// redirect URI): posted at once by its script, or by a button without scripts.
    pub fn form_post(
        state: &AppState,
        tenant: &Tenant,
        action: &str,
        fields: &[(String, String)],
    ) -> Self {
        use base64::Engine;
        use sha2::Digest;
        #[derive(Serialize)]
        struct FormPost<'a> {
            tenant_name: &'a str,
            action: &'a str,
            fields: &'a [(String, String)],
            script: &'a str,
        }
        let context = FormPost {
            tenant_name: &tenant.display_name,
            action,
            fields,
            script: FORM_POST_SCRIPT,
        };
        let mut page =
            match state
                .pages
                .render_for(tenant.slug.as_str(), None, "form_post.html", context)
            {
                Ok(body) => Self::html(StatusCode::OK, body),
                Err(error) => {
                    return failure_page(state, &tenant.display_name, OAuthError::Internal(error));
                }
            };
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
        page.policy = Some(format!(
            "default-src 'none'; script-src 'sha256-{hash}'; style-src 'self'; img-src 'self'; \
             base-uri 'none'; frame-ancestors 'none'"
        ));
        page
    }

    /// `303 See Other` to `location` (the answer to every POST, and the authorization
    /// endpoint's redirects).
    pub fn see_other(location: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SEE_OTHER,
            body: String::new(),
            location: Some(location.into()),
            cookies: Vec::new(),
            policy: None,
            retry_after_secs: None,
        }
    }

    /// The same page with another status (a form shown again with its error: 400).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same page telling the client when to try again.
    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after_secs = seconds;
        self
    }

    /// Adds a `Set-Cookie`.
    pub fn with_cookie(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        if self.location.is_none() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
        }
        let policy = self
            .policy
            .and_then(|policy| HeaderValue::from_str(&policy).ok())
            .unwrap_or(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        for (name, value) in [
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if let Some(location) = self.location {
            match HeaderValue::from_str(&location) {
                Ok(value) => {
                    headers.insert(header::LOCATION, value);
                }
                Err(_) => {
                    tracing::warn!("a redirect URL is not a valid header value");
                    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                }
            }
        }
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for cookie in self.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }
}

/// The value of cookie `name` in the request, if any.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned())
}

/// The path every cookie of a tenant is scoped to: `/t/{slug}/`.
pub fn cookie_path(tenant: &Tenant) -> String {
    format!("/t/{}/", tenant.slug)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Secure` when the service is
/// reached over https, scoped to the tenant's path.
pub fn cookie(state: &AppState, tenant: &Tenant, name: &str, value: &str, max_age: u64) -> String {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_path(tenant)
    )
}

/// A `Set-Cookie` that deletes cookie `name`.
pub fn expired_cookie(state: &AppState, tenant: &Tenant, name: &str) -> String {
    cookie(state, tenant, name, "", 0)
}

/// The session cookie's name: per tenant (its path is the tenant's too).
pub fn session_cookie_name(tenant: &Tenant) -> String {
    format!("tessera_session_{}", tenant.slug)
}

/// The cookie binding interaction `key` to the browser.
pub fn interaction_cookie_name(key: &str) -> String {
    format!("tsi_{key}")
}

#[derive(Serialize)]
struct Message<'a> {
    tenant_name: &'a str,
    title: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
    /// The application's name and home page (its registered `client_uri`), to go
    /// back to.
    back_to: Option<BackTo<'a>>,
}

/// A link back to an application.
#[derive(Serialize)]
struct BackTo<'a> {
    name: &'a str,
    uri: &'a str,
}

/// An error page of `tenant` (or of the service, for an unknown tenant).
pub fn error_page(
    state: &AppState,
    tenant_name: &str,
    status: StatusCode,
    title: &str,
    message: &str,
    hint: Option<&str>,
) -> Page {
    error_page_back_to(state, tenant_name, status, title, message, hint, None)
}

/// [`error_page`] with a link back to the application's home page.
fn error_page_back_to(
    state: &AppState,
    tenant_name: &str,
    status: StatusCode,
    title: &str,
    message: &str,
    hint: Option<&str>,
    back_to: Option<(&str, &str)>,
) -> Page {
    let context = Message {
        tenant_name,
        title,
        message,
        hint,
        back_to: back_to.map(|(name, uri)| BackTo { name, uri }),
    };
    match state.pages.render("error.html", context) {
        Ok(body) => Page::html(status, body),
        Err(error) => {
            tracing::error!(%error, "the error page does not render");
            Page::html(status, format!("{title}: {message}"))
        }
    }
}

/// The page for a request that cannot be tied to its interaction.
pub fn start_again(state: &AppState, tenant: &Tenant) -> Page {
    start_again_back_to(state, tenant, None)
}

/// [`start_again`], linking to the application's home page when it registered one
/// (`client_uri`, RFC 7591 §2): `home` is its name and URI.
pub fn start_again_back_to(state: &AppState, tenant: &Tenant, home: Option<(&str, &str)>) -> Page {
    error_page_back_to(
        state,
        &tenant.display_name,
        StatusCode::BAD_REQUEST,
        "Start again",
        "This page has expired, was already used, or was opened in another browser.",
        Some("Go back to the application and sign in again."),
        home,
    )
}

/// The page for a form of the session (logout, revoke, device decision) whose CSRF
/// field is missing or wrong.
pub fn form_expired(state: &AppState, tenant: &Tenant, hint: &str) -> Page {
    error_page(
        state,
        &tenant.display_name,
        StatusCode::BAD_REQUEST,
        "Start again",
        "This form has expired.",
        Some(hint),
    )
}

/// The answer of a page handler: its page, or the page of its failure.
pub fn respond(state: &AppState, result: Result<Page, OAuthError>) -> Response {
    result
        .unwrap_or_else(|error| failure_page(state, "Tessera", error))
        .into_response()
}

/// A protocol failure (unknown tenant, unavailable database, server error) as a
/// page, classified as the API classifies it ([`classify`]). A page carries no
/// authentication challenge: a browser has no credentials to retry with.
pub fn failure_page(state: &AppState, tenant_name: &str, error: OAuthError) -> Page {
    let failure = classify(&error);
    error_page(
        state,
        tenant_name,
        failure.status,
        failure.title,
        &failure.message,
        None,
    )
    .with_retry_after(failure.retry_after_secs)
}

/// The answer to a refused authorization step ([`Refusal`]): a page when the
/// redirect URI cannot be trusted, else back to the client with the error.
pub fn refused(state: &AppState, tenant: &Tenant, refusal: Refusal) -> Page {
    match refusal {
        Refusal::Page { title, message } => error_page(
            state,
            &tenant.display_name,
            StatusCode::BAD_REQUEST,
            &title,
            &message,
            Some("Nothing was sent back to the application. Tell its developer."),
        ),
        Refusal::Answer(Delivery::Redirect(url)) => Page::see_other(url),
        Refusal::Answer(Delivery::FormPost { action, fields }) => {
            Page::form_post(state, tenant, &action, &fields)
        }
        Refusal::Elsewhere => error_page(
            state,
            &tenant.display_name,
            StatusCode::FORBIDDEN,
            "Sign in at the application's sign-in service",
            "This sign-in is handled by the sign-in service the application uses, not by \
             this page.",
            Some("Go back to the application and sign in again from there."),
        ),
        Refusal::Failed(error) => failure_page(state, &tenant.display_name, error),
    }
}

/// Renders template `name`, or the failure page when it cannot.
pub fn render(state: &AppState, tenant: &Tenant, name: &str, context: impl Serialize) -> Page {
    render_for_client(state, tenant, None, name, context)
}

/// Renders page `name` for a request of `client_id`: the client's template where its
/// tenant has one, else the tenant's, the service's or the built-in one.
pub fn render_for_client(
    state: &AppState,
    tenant: &Tenant,
    client_id: Option<&str>,
    name: &str,
    context: impl Serialize,
) -> Page {
    match state
        .pages
        .render_for(tenant.slug.as_str(), client_id, name, context)
    {
        Ok(body) => Page::html(StatusCode::OK, body),
        Err(error) => failure_page(state, &tenant.display_name, OAuthError::Internal(error)),
    }
}

/// `GET /assets/tessera.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::pages::STYLESHEET,
    )
        .into_response()
}
