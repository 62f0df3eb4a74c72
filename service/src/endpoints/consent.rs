//! `GET|POST /t/{tenant}/consent`: the consent page over
//! [`crate::oauth::authorize::resume_with_consent`]. The HTML contract: one `<form>`
//! showing the application's name and each scope with its description, whose button
//! `allow` approves and `deny` refuses.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::endpoints::browser::{
    bound, posted_interaction, start_again_for, step_page, tenant_path,
};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{
    Page, expired_cookie, interaction_cookie_name, refused, render_for_client, respond, start_again,
};
use crate::endpoints::request::content_type;
use crate::oauth::authorize::{self, Pending};
use crate::oauth::form::Form;
use crate::secrets;
use crate::state::AppState;
use crate::store::users;
use crate::tenancy::Tenant;

/// The consent page's query.
#[derive(Debug, Deserialize)]
pub struct ConsentQuery {
    interaction: Option<String>,
}

/// A scope as the pages show it.
#[derive(Serialize)]
pub struct ScopeLine {
    /// Its name.
    pub name: String,
    /// Its description from the tenant's catalogue.
    pub description: String,
}

/// The scopes with their catalogue descriptions.
pub fn scope_lines<'a>(
    tenant: &Tenant,
    scopes: impl IntoIterator<Item = &'a str>,
) -> Vec<ScopeLine> {
    scopes
        .into_iter()
        .map(|name| ScopeLine {
            name: name.to_owned(),
            description: tenant
                .settings
                .scopes
                .get(name)
                .cloned()
                .unwrap_or_else(|| name.to_owned()),
        })
        .collect()
}

#[derive(Serialize)]
struct ConsentContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    interaction: &'a str,
    csrf: String,
    application_name: String,
    /// The application's `public` extension fields (docs/extension-points.md).
    application_fields: serde_json::Map<String, serde_json::Value>,
    username: String,
    scopes: Vec<ScopeLine>,
    redirect_host: String,
}

/// `GET /t/{tenant}/consent?interaction=KEY`.
pub async fn consent_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<ConsentQuery>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let key = query.interaction.unwrap_or_default();
        let Some((found, secret)) = bound(&state, &tenant, &headers, &key).await? else {
            return start_again_for(&state, &tenant, &key).await;
        };
        if let Err(refusal) = authorize::pages_decide(&state, &tenant, &found).await {
            return Ok(refused(&state, &tenant, refusal));
        }
        let (Pending::Authorize(request), Some(user_id)) = (found.pending(), found.user_id())
        else {
            return Ok(start_again(&state, &tenant));
        };
        let Some(application) =
            authorize::application_of(&state, &tenant, request.application_id).await?
        else {
            return Ok(start_again(&state, &tenant));
        };
        let username = users::find_by_id(state.data(&tenant), user_id)
            .await?
            .map(|user| user.username)
            .unwrap_or_default();
        let redirect_host = url::Url::parse(&request.redirect_uri)
            .ok()
            .and_then(|uri| uri.host_str().map(str::to_owned))
            .unwrap_or_else(|| request.redirect_uri.clone());
        let application_fields = tenant.fields.visible(
            &crate::application_fields::document_of(&application.extensions),
            crate::application_fields::Visibility::Public,
        );
        Ok(render_for_client(
            &state,
            &tenant,
            Some(&application.client_id),
            "consent.html",
            ConsentContext {
                tenant_name: &tenant.display_name,
                title: "Authorize",
                action: tenant_path(&tenant, "consent"),
                interaction: &key,
                csrf: secrets::csrf_token(&secret),
                application_name: application.name,
                application_fields,
                username,
                scopes: scope_lines(&tenant, request.scopes.iter().map(String::as_str)),
                redirect_host,
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/consent`: `allow` → code, `deny` → `access_denied`; both 303 to
/// the client.
pub async fn consent(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let form = Form::parse(content_type(&headers), &body)?;
        let Some(found) = posted_interaction(&state, &tenant, &headers, &form).await? else {
            return Ok(start_again(&state, &tenant));
        };
        // Refused before anything changes (the interaction stays the external
        // application's, its cookie kept).
        if let Err(refusal) = authorize::pages_decide(&state, &tenant, &found).await {
            return Ok(refused(&state, &tenant, refusal));
        }
        let key = found.key().to_owned();
        let allow = form.get("allow").is_some() && form.get("deny").is_none();
        let page = match authorize::resume_with_consent(&state, &tenant, &found, allow).await {
            Ok(step) => step_page(&state, &tenant, step, None, Some(&key)),
            Err(refusal) => refused(&state, &tenant, refusal).with_cookie(expired_cookie(
                &state,
                &tenant,
                &interaction_cookie_name(&key),
            )),
        };
        Ok::<Page, crate::oauth::error::OAuthError>(page)
    }
    .await;
    respond(&state, result)
}
