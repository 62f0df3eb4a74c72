//! The management pages (DOT's `management_urlpatterns`), for tenants with
//! `oauth.allow_application_management`: a signed-in user registers, lists, edits and
//! deletes their own applications, sees a secret once (on creation and rotation), and
//! rotates it. The tenant's extension fields that `write = "registration"` are form
//! fields, rendered from their declarations.
//!
//! * `GET /t/{tenant}/applications` — the user's applications;
//! * `GET …/applications/new` and `POST …/applications` — register one;
//! * `GET|POST …/applications/{client_id}` — edit one;
//! * `POST …/applications/{client_id}/delete`, `…/secret` — delete, rotate the secret.
//!
//! The HTML contract: forms post `csrf`; the registration form `name`, `client_type`,
//! `grant_authorization_code`, `grant_refresh_token`, `grant_client_credentials`
//! (checkboxes), `redirect_uris`, `allowed_origins`, `field_NAME`; the secret page
//! shows `#client-id` and `#client-secret`; each listed application is an element with
//! `data-client-id`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use entity::application;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::administration::{self, Actor};
use crate::application_fields::{FieldType, Writer};
use crate::endpoints::browser::{csrf_ok, require_login, signed_in_by, tenant_path};
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::page::{Page, error_page, form_expired, render, respond};
use crate::endpoints::request::{Peer, client_address, content_type};
use crate::error::Error;
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::login_authority::LoginAuthority;
use crate::oauth::session::SignedIn;
use crate::registration::{self, ClientType, GrantType, NewApplication, Registered, SecretSource};
use crate::secrets;
use crate::state::AppState;
use crate::store::applications;
use crate::tenancy::Tenant;

/// The grant types the pages offer.
const OFFERED_GRANTS: [GrantType; 3] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
];

/// One extension field as a form field.
#[derive(Serialize)]
struct FieldInput {
    name: String,
    label: String,
    /// `text`, `url`, `number`, `checkbox` or `select`.
    input: &'static str,
    value: String,
    checked: bool,
    options: Vec<String>,
    required: bool,
}

#[derive(Serialize)]
struct Listed {
    link: String,
    client_id: String,
    name: String,
    client_type: String,
    grant_types: String,
}

#[derive(Serialize)]
struct ListContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    username: &'a str,
    new_link: String,
    applications: Vec<Listed>,
}

#[derive(Serialize)]
struct FormContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    action: String,
    csrf: String,
    error: Option<String>,
    creating: bool,
    client_id: Option<String>,
    name: String,
    client_type: String,
    grants: Vec<(String, bool)>,
    redirect_uris: String,
    allowed_origins: String,
    fields: Vec<FieldInput>,
    delete_action: Option<String>,
    secret_action: Option<String>,
    list_link: String,
}

#[derive(Serialize)]
struct SecretContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    client_id: &'a str,
    client_secret: Option<&'a str>,
    edit_link: String,
    list_link: String,
}

/// The pages' 404 where the tenant does not offer them.
fn closed(state: &AppState, tenant: &Tenant) -> Page {
    error_page(
        state,
        &tenant.display_name,
        StatusCode::NOT_FOUND,
        "Not available",
        "This service does not let users register applications.",
        None,
    )
}

/// Who is asking for a management page: the tenant and its signed-in user; else the
/// page to show instead (404 where the tenant has no such pages, the login page
/// coming back to `path`).
async fn visitor(
    state: &AppState,
    slug: &str,
    peer: &Peer,
    headers: &HeaderMap,
    path: &str,
) -> Result<Result<(Arc<Tenant>, SignedIn), Page>, OAuthError> {
    let tenant = resolve_tenant(state, slug).await?;
    if !tenant.settings.allow_application_management {
        return Ok(Err(closed(state, &tenant)));
    }
    let authority = LoginAuthority::of_tenant(&tenant);
    match signed_in_by(state, &tenant, headers, &authority).await? {
        Some(current) => Ok(Ok((tenant, current))),
        None => {
            let source = client_address(state, peer, headers);
            let return_to = tenant_path(&tenant, path);
            Ok(Err(
                require_login(state, &tenant, return_to, None, source).await?
            ))
        }
    }
}

/// [`visitor`] for a posted form, which must carry the session's CSRF token.
async fn poster(
    state: &AppState,
    slug: &str,
    peer: &Peer,
    headers: &HeaderMap,
    body: &Bytes,
    path: &str,
) -> Result<Result<(Arc<Tenant>, SignedIn, Form), Page>, OAuthError> {
    let form = Form::parse(content_type(headers), body)?;
    let (tenant, current) = match visitor(state, slug, peer, headers, path).await? {
        Ok(found) => found,
        Err(page) => return Ok(Err(page)),
    };
    if !csrf_ok(&current.secret, form.get("csrf")) {
        return Ok(Err(form_expired(
            state,
            &tenant,
            "Reload the page and try again.",
        )));
    }
    Ok(Ok((tenant, current, form)))
}

/// The user's own application `client_id`, if it is theirs.
async fn owned(
    state: &AppState,
    tenant: &Tenant,
    user: &SignedIn,
    client_id: &str,
) -> Result<Option<application::Model>, Error> {
    Ok(
        applications::find_by_client_id(state.data(tenant), client_id)
            .await?
            .filter(|app| app.owner_user_id == Some(user.user.id)),
    )
}

/// The form fields of the extension fields the registrant may write.
fn field_inputs(tenant: &Tenant, document: &Map<String, Value>) -> Vec<FieldInput> {
    tenant
        .fields
        .fields
        .iter()
        .filter(|(_, field)| field.write == Writer::Registration)
        .map(|(name, field)| {
            let value = document.get(name).or(field.default.as_ref());
            FieldInput {
                name: name.clone(),
                label: field.label.clone().unwrap_or_else(|| name.clone()),
                input: match field.kind {
                    FieldType::String | FieldType::List => "text",
                    FieldType::Url => "url",
                    FieldType::Integer => "number",
                    FieldType::Bool => "checkbox",
                    FieldType::Enum => "select",
                },
                value: value.map(|value| field.display(value)).unwrap_or_default(),
                checked: value == Some(&Value::Bool(true)),
                options: field.values.clone(),
                required: field.required && field.kind != FieldType::Bool,
            }
        })
        .collect()
}

/// The extension fields posted, as assignments (an unticked checkbox is `false`).
fn posted_fields(tenant: &Tenant, form: &Form) -> Vec<crate::application_fields::Assignment> {
    tenant
        .fields
        .fields
        .iter()
        .filter(|(_, field)| field.write == Writer::Registration)
        .map(|(name, field)| {
            let posted = form.get(&format!("field_{name}")).unwrap_or_default();
            let text = match field.kind {
                FieldType::Bool => {
                    Some(if posted.is_empty() { "false" } else { "true" }.to_owned())
                }
                _ => (!posted.is_empty()).then(|| posted.to_owned()),
            };
            crate::application_fields::Assignment {
                name: name.clone(),
                text,
            }
        })
        .collect()
}

/// What the registration or edit form posted, applied to `base` (the registration
/// rules run after: [`registration::register`], [`NewApplication::check`]).
fn apply_form(tenant: &Tenant, form: &Form, base: &mut NewApplication) -> Result<(), String> {
    base.name = form.get("name").unwrap_or_default().trim().to_owned();
    base.grant_types = OFFERED_GRANTS
        .into_iter()
        .filter(|grant| form.get(&format!("grant_{}", grant.as_str())).is_some())
        .collect();
    let uris = form.get("redirect_uris").unwrap_or_default();
    base.redirect_uris = registration::parse_redirect_uris("redirect URI", uris)
        .map_err(|error| error.to_string())?;
    let origins = form.get("allowed_origins").unwrap_or_default();
    base.allowed_origins =
        registration::parse_origins(origins).map_err(|error| error.to_string())?;
    base.extensions = tenant
        .fields
        .apply(&base.extensions, &posted_fields(tenant, form), false)?;
    Ok(())
}

/// The form page (registration when `stored` is `None`).
fn form_page(
    state: &AppState,
    tenant: &Tenant,
    current: &SignedIn,
    stored: Option<&application::Model>,
    draft: &NewApplication,
    error: Option<String>,
) -> Page {
    let base = tenant_path(tenant, "applications");
    let at = |suffix: &str| stored.map(|app| format!("{base}/{}{suffix}", app.client_id));
    let mut page = render(
        state,
        tenant,
        "application_form.html",
        FormContext {
            tenant_name: &tenant.display_name,
            title: if stored.is_some() {
                "Edit application"
            } else {
                "Register an application"
            },
            action: at("").unwrap_or_else(|| base.clone()),
            csrf: secrets::csrf_token(&current.secret),
            creating: stored.is_none(),
            client_id: stored.map(|app| app.client_id.clone()),
            name: draft.name.clone(),
            client_type: draft.client_type.as_str().to_owned(),
            grants: OFFERED_GRANTS
                .into_iter()
                .map(|grant| {
                    (
                        grant.as_str().to_owned(),
                        draft.grant_types.contains(&grant),
                    )
                })
                .collect(),
            redirect_uris: draft.redirect_uris.join("\n"),
            allowed_origins: draft.allowed_origins.join("\n"),
            fields: field_inputs(tenant, &draft.extensions),
            delete_action: at("/delete"),
            secret_action: stored
                .filter(|app| app.client_type == ClientType::Confidential.as_str())
                .map(|app| format!("{base}/{}/secret", app.client_id)),
            list_link: base.clone(),
            error: error.clone(),
        },
    );
    if error.is_some() {
        page = page.with_status(StatusCode::BAD_REQUEST);
    }
    page
}

/// The page that asks before a deletion or a secret rotation acts.
fn confirm_page(
    state: &AppState,
    tenant: &Tenant,
    current: &SignedIn,
    stored: &application::Model,
    action: &str,
) -> Page {
    let base = tenant_path(tenant, "applications");
    let (title, message, button, button_name) = if action == "delete" {
        (
            "Delete this application?",
            format!(
                "{} will stop working at once: its tokens are no longer accepted, and its \
                 users must authorize it again if it is registered anew. This cannot be undone.",
                stored.name
            ),
            "Delete for good",
            "delete",
        )
    } else {
        (
            "Make a new client secret?",
            format!(
                "The current secret of {} stops working at once: update the application's \
                 configuration with the new one, shown on the next page.",
                stored.name
            ),
            "Make a new secret",
            "rotate",
        )
    };
    render(
        state,
        tenant,
        "application_confirm.html",
        ConfirmContext {
            tenant_name: &tenant.display_name,
            title,
            message: &message,
            name: &stored.name,
            action: format!("{base}/{}/{action}", stored.client_id),
            csrf: secrets::csrf_token(&current.secret),
            button,
            button_name,
            cancel_link: format!("{base}/{}", stored.client_id),
        },
    )
}

/// What the confirmation page shows.
#[derive(Serialize)]
struct ConfirmContext<'a> {
    tenant_name: &'a str,
    title: &'a str,
    message: &'a str,
    name: &'a str,
    action: String,
    csrf: String,
    button: &'a str,
    button_name: &'a str,
    cancel_link: String,
}

/// The page that shows a secret once.
fn secret_page(state: &AppState, tenant: &Tenant, client_id: &str, secret: Option<&str>) -> Page {
    let base = tenant_path(tenant, "applications");
    render(
        state,
        tenant,
        "application_secret.html",
        SecretContext {
            tenant_name: &tenant.display_name,
            title: "Application credentials",
            client_id,
            client_secret: secret,
            edit_link: format!("{base}/{client_id}"),
            list_link: base.clone(),
        },
    )
}

/// A new registration's starting values: the tenant's extension field defaults.
fn blank(tenant: &Tenant, owner: i64) -> NewApplication {
    NewApplication {
        owner_user_id: Some(owner),
        extensions: tenant
            .fields
            .apply(&Map::new(), &[], true)
            .unwrap_or_default(),
        ..NewApplication::named(
            "",
            ClientType::Confidential,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        )
    }
}

/// `GET /t/{tenant}/applications`.
pub async fn list(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (tenant, current) =
            match visitor(&state, &slug, &peer, &headers, "applications").await? {
                Ok(found) => found,
                Err(page) => return Ok(page),
            };
        let mine = applications::list_owned(state.data(&tenant), current.user.id).await?;
        Ok(render(
            &state,
            &tenant,
            "applications.html",
            ListContext {
                tenant_name: &tenant.display_name,
                title: "Your applications",
                username: &current.user.username,
                new_link: tenant_path(&tenant, "applications/new"),
                applications: mine
                    .into_iter()
                    .map(|app| Listed {
                        link: tenant_path(&tenant, &format!("applications/{}", app.client_id)),
                        client_id: app.client_id,
                        name: app.name,
                        client_type: app.client_type,
                        grant_types: app.grant_types,
                    })
                    .collect(),
            },
        ))
    }
    .await;
    respond(&state, result)
}

/// `GET /t/{tenant}/applications/new`.
pub async fn new_form(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (tenant, current) =
            match visitor(&state, &slug, &peer, &headers, "applications/new").await? {
                Ok(found) => found,
                Err(page) => return Ok(page),
            };
        let draft = blank(&tenant, current.user.id);
        Ok(form_page(&state, &tenant, &current, None, &draft, None))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/applications`: registers the application, shows its secret once.
pub async fn create(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (tenant, current, form) =
            match poster(&state, &slug, &peer, &headers, &body, "applications/new").await? {
                Ok(found) => found,
                Err(page) => return Ok(page),
            };
        let mut draft = blank(&tenant, current.user.id);
        draft.client_type = match form.get("client_type") {
            Some("public") => ClientType::Public,
            _ => ClientType::Confidential,
        };
        if let Err(problem) = apply_form(&tenant, &form, &mut draft) {
            return Ok(form_page(&state, &tenant, &current, None, &draft, Some(problem)));
        }
        let Registered {
            application,
            secret,
        } = match registration::register(draft.clone(), SecretSource::Generate) {
            Ok(registered) => registered,
            Err(Error::InvalidInput(problem)) => {
                return Ok(form_page(&state, &tenant, &current, None, &draft, Some(problem)));
            }
            Err(error) => return Err(error.into()),
        };
        let created = applications::create(state.data(&tenant), application).await?;
        tracing::info!(tenant = %tenant.slug, client_id = %created.client_id, "application registered on the management pages");
        Ok(secret_page(&state, &tenant, &created.client_id, secret.as_deref()))
    }
    .await;
    respond(&state, result)
}

/// `GET /t/{tenant}/applications/{client_id}`.
pub async fn edit_form(
    State(state): State<AppState>,
    Path((slug, client_id)): Path<(String, String)>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let here = format!("applications/{client_id}");
        let (tenant, current) = match visitor(&state, &slug, &peer, &headers, &here).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
        let Some(stored) = owned(&state, &tenant, &current, &client_id).await? else {
            return Ok(closed(&state, &tenant));
        };
        let draft = NewApplication::of(&stored)?;
        Ok(form_page(
            &state,
            &tenant,
            &current,
            Some(&stored),
            &draft,
            None,
        ))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/applications/{client_id}`: saves the edit (303 to the form).
pub async fn update(
    State(state): State<AppState>,
    Path((slug, client_id)): Path<(String, String)>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let here = format!("applications/{client_id}");
        let (tenant, current, form) =
            match poster(&state, &slug, &peer, &headers, &body, &here).await? {
                Ok(found) => found,
                Err(page) => return Ok(page),
            };
        let Some(stored) = owned(&state, &tenant, &current, &client_id).await? else {
            return Ok(closed(&state, &tenant));
        };
        let mut draft = NewApplication::of(&stored)?;
        let checked = apply_form(&tenant, &form, &mut draft)
            .and_then(|()| draft.check().map_err(|error| error.to_string()));
        if let Err(problem) = checked {
            return Ok(form_page(
                &state,
                &tenant,
                &current,
                Some(&stored),
                &draft,
                Some(problem),
            ));
        }
        applications::update(state.data(&tenant), &stored, draft).await?;
        Ok(Page::see_other(tenant_path(&tenant, &here)))
    }
    .await;
    respond(&state, result)
}

/// `POST /t/{tenant}/applications/{client_id}/{delete|secret}`.
pub async fn act(
    State(state): State<AppState>,
    Path((slug, client_id, action)): Path<(String, String, String)>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (tenant, current, form) =
            match poster(&state, &slug, &peer, &headers, &body, "applications").await? {
                Ok(found) => found,
                Err(page) => return Ok(page),
            };
        let Some(stored) = owned(&state, &tenant, &current, &client_id).await? else {
            return Ok(closed(&state, &tenant));
        };
        let confidential = stored.client_type == ClientType::Confidential.as_str();
        // Both act for good: the first press asks, the second (with `confirm=yes`)
        // acts.
        if form.get("confirm") != Some("yes")
            && (action == "delete" || (action == "secret" && confidential))
        {
            return Ok(confirm_page(&state, &tenant, &current, &stored, &action));
        }
        let page = match action.as_str() {
            "delete" => {
                let actor = Actor::User {
                    subject: current.user.subject.clone(),
                };
                administration::applications::delete(&state.databases, &tenant, &stored, &actor)
                    .await?;
                Page::see_other(tenant_path(&tenant, "applications"))
            }
            "secret" if confidential => {
                let actor = Actor::User {
                    subject: current.user.subject.clone(),
                };
                let secret = administration::applications::rotate_secret(
                    &state.databases,
                    &tenant,
                    &stored,
                    &actor,
                )
                .await?;
                secret_page(&state, &tenant, &client_id, Some(&secret))
            }
            _ => closed(&state, &tenant),
        };
        Ok(page)
    }
    .await;
    respond(&state, result)
}
