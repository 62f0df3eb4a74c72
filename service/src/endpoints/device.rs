//! Device authorization (RFC 8628): `POST /t/{tenant}/device_authorization` for the
//! device (client-authenticated, JSON), and the user-code page `GET|POST
//! /t/{tenant}/device` for the person (login required). Polling is the token
//! endpoint's (`grants::device_code`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::endpoints::browser::{csrf_ok, require_login, signed_in_by, tenant_path};
use crate::endpoints::consent::{ScopeLine, scope_lines};
use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{MessageContext, Page, error_page, render, respond};
use crate::endpoints::request::{Peer, authenticated_request, client_address, content_type};
use crate::endpoints::token::NO_STORE;
use crate::oauth::authorize;
use crate::oauth::device::{self, display_user_code, normalise_user_code};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::scope::Scopes;
use crate::oauth::session::SignedIn;
use crate::secrets;
use crate::state::AppState;
use crate::store::device_grants;
use crate::tenancy::Tenant;

/// `POST /t/{tenant}/device_authorization` (RFC 8628 §3.1, §3.2).
pub async fn device_authorization(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (tenant, form, client, address) =
            authenticated_request(&state, &slug, &peer, &headers, &body).await?;
        let scope = form.get("scope").map(Scopes::parse).transpose()?;
        device::start(&state, &tenant, &client, scope, address).await
    }
    .await;
    match result {
        Ok(answer) => (NO_STORE, Json(answer)).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// The user-code page's query.
#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
    result: Option<String>,
}

#[derive(Serialize)]
struct DeviceContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct ConfirmContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    csrf: String,
    user_code: String,
    application_name: String,
    username: &'a str,
    scopes: Vec<ScopeLine>,
}

/// What a visit of the device page names: the pending grant of the typed code (a
/// code naming none counts against the address), its client, and the browser's
/// session if the authority deciding that client's sign-ins (else the tenant's)
/// started it.
struct Visit {
    grant: Option<entity::device_grant::Model>,
    client: Option<entity::application::Model>,
    session: Option<SignedIn>,
}

impl Visit {
    async fn of(
        state: &AppState,
        tenant: &Tenant,
        typed: Option<&str>,
        address: std::net::IpAddr,
        headers: &HeaderMap,
    ) -> Result<Self, OAuthError> {
        let grant = match typed {
            Some(typed) => device::find_pending(state, tenant, typed, address).await?,
            None => None,
        };
        let client = match &grant {
            Some(grant) => authorize::application_of(state, tenant, grant.application_id).await?,
            None => None,
        };
        let authority = match &client {
            Some(client) => LoginAuthority::of_client(tenant, client),
            None => LoginAuthority::of_tenant(tenant),
        };
        let session = signed_in_by(state, tenant, headers, &authority).await?;
        Ok(Self {
            grant,
            client,
            session,
        })
    }
}

/// `GET /t/{tenant}/device[?user_code=…]`: the code form, or the confirmation of a
/// typed code, or the result of a decision.
pub async fn device_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<DeviceQuery>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let address = client_address(&state, &peer, &headers);
        let typed = query.user_code.as_deref().filter(|typed| !typed.is_empty());
        let visit = Visit::of(&state, &tenant, typed, address, &headers).await?;
        let Some(current) = visit.session else {
            let mut return_to = tenant_path(&tenant, "device");
            if let Some(code) = typed.and_then(normalise_user_code) {
                return_to.push_str(&format!("?user_code={code}"));
            }
            return require_login(&state, &tenant, return_to, visit.client.as_ref(), address).await;
        };
        if let Some(result) = query.result.as_deref() {
            let (title, message) = if result == "approved" {
                ("Device approved", "You can return to your device.")
            } else {
                ("Device denied", "The device gets no access.")
            };
            return Ok(render(
                &state,
                &tenant,
                "message.html",
                MessageContext {
                    tenant_name: &tenant.display_name,
                    title,
                    message,
                    link: Some(tenant_path(&tenant, "authorized-tokens")),
                    link_text: "Your authorized applications",
                },
            ));
        }
        let form_page = |user_code: &str, error: Option<&str>| {
            render(
                &state,
                &tenant,
                "device.html",
                DeviceContext {
                    tenant_name: &tenant.display_name,
                    title: "Connect a device",
                    action: tenant_path(&tenant, "device"),
                    user_code,
                    error,
                },
            )
        };
        let Some(typed) = typed else {
            return Ok(form_page("", None));
        };
        let (Some(grant), Some(client)) = (visit.grant, visit.client) else {
            return Ok(form_page(
                typed,
                Some("That code is not valid or has expired. Check the code on your device."),
            ));
        };
        let application_name = client.name;
        let normalised = normalise_user_code(typed).unwrap_or_default();
        Ok(render(
            &state,
            &tenant,
            "device_confirm.html",
            ConfirmContext {
                tenant_name: &tenant.display_name,
                title: "Connect",
                action: tenant_path(&tenant, "device"),
                csrf: secrets::csrf_token(&current.secret),
                user_code: display_user_code(&normalised),
                application_name,
                username: &current.user.username,
                scopes: scope_lines(&tenant, grant.scope.split_whitespace()),
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/device`: approve (`allow`) or deny (`deny`) the device whose
/// code the form carries.
pub async fn device_decision(
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
        let typed = form.get("user_code").unwrap_or_default();
        let visit = Visit::of(&state, &tenant, Some(typed), address, &headers).await?;
        let Some(current) = visit.session else {
            let return_to = tenant_path(&tenant, "device");
            return require_login(&state, &tenant, return_to, visit.client.as_ref(), address).await;
        };
        let expired = |message: &str| {
            error_page(
                &state,
                &tenant.display_name,
                StatusCode::BAD_REQUEST,
                "Start again",
                message,
                None,
            )
        };
        if !csrf_ok(&current.secret, form.get("csrf")) {
            return Ok(expired("This form has expired. Type the code again."));
        }
        let Some(grant) = visit.grant else {
            return Ok(expired(
                "That code is not valid any more. Start again on your device.",
            ));
        };
        let approve = form.get("allow").is_some() && form.get("deny").is_none();
        if !device_grants::decide(state.data(&tenant), grant.id, current.user.id, approve).await? {
            return Ok(expired("That code was answered already."));
        }
        let result = if approve { "approved" } else { "denied" };
        Ok::<Page, crate::oauth::error::OAuthError>(Page::see_other(format!(
            "{}?result={result}",
            tenant_path(&tenant, "device")
        )))
    }
    .await;
    respond(&state, result)
}
