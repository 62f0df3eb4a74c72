//! `POST /t/{tenant}/introspect` (RFC 7662). The caller authenticates as a
//! confidential client, or with a bearer access token holding the `introspection`
//! scope (§2.1). What is active, and the answer's shape, is
//! [`crate::oauth::introspection`]'s: anything inactive is exactly `{"active": false}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::endpoints::access_log;
use crate::endpoints::cors;
use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::request::{Peer, authorization, bearer_token, client_address, content_type};
use crate::endpoints::token::NO_STORE;
use crate::oauth::client_auth::{AuthMethod, authenticate};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::introspection::{Introspection, authorize_bearer, inspect};
use crate::state::AppState;

/// The introspection endpoint.
pub async fn introspect(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut application = None;
    let result: Result<Introspection, OAuthError> = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        let form = Form::parse(content_type(&headers), &body)?;
        match bearer_token(&headers) {
            Some(bearer) => authorize_bearer(&state, &tenant, bearer).await?,
            None => {
                let address = client_address(&state, &peer, &headers);
                let client =
                    authenticate(&state, &tenant, authorization(&headers)?, &form, address).await?;
                // A public client proves nothing: it may not introspect.
                if client.method == AuthMethod::None {
                    return Err(OAuthError::InvalidClient);
                }
                application = Some(client.application);
            }
        }
        let token = form.require("token")?;
        Ok(inspect(&state, &tenant, token, application.as_deref()).await?)
    }
    .await;
    let response = match result {
        Ok(answer) => (NO_STORE, Json(answer)).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    };
    let response = access_log::with_client(
        response,
        application
            .as_ref()
            .map(|application| application.client_id.as_str()),
    );
    cors::apply(&state, &slug, &headers, application.as_deref(), response).await
}
