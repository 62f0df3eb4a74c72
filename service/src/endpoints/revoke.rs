//! `POST /t/{tenant}/revoke` (RFC 7009). The client authenticates; `token_type_hint`
//! is optional and never trusted (both kinds are looked up); an unknown token, or one
//! issued to another client, answers 200 and changes nothing (§2.2). Revoking a
//! refresh token revokes its whole grant: every refresh and access token of the
//! family (§2.1). The 200 is sent only after the revocation committed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::endpoints::access_log;
use crate::endpoints::cors;
use crate::endpoints::error::ApiError;
use crate::endpoints::request::{Peer, authenticated_request};
use crate::endpoints::token::NO_STORE;
use crate::error::Error;
use crate::oauth::error::OAuthError;
use crate::secrets::checksum;
use crate::state::AppState;
use crate::store::tokens;
use crate::tenancy::Tenant;

/// The revocation endpoint.
pub async fn revoke(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut application = None;
    let result: Result<(), OAuthError> = async {
        let (tenant, form, client, _) =
            authenticated_request(&state, &slug, &peer, &headers, &body).await?;
        application = Some(Arc::clone(&client.application));
        let token = form.require("token")?;
        // A task of its own: the revocation runs to its end (its commit, then the
        // stamp the nodes' token caches check) even if the client hangs up.
        let revocation = tokio::spawn(revoke_held(
            state.clone(),
            tenant,
            checksum(token),
            client.application.id,
        ));
        revocation
            .await
            .map_err(|error| Error::write_task_ended("a revocation", &error))??;
        Ok(())
    }
    .await;
    let response = match result {
        Ok(()) => {
            state.metrics.record(crate::metrics::Event::Revocation);
            (StatusCode::OK, NO_STORE).into_response()
        }
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

/// Revokes the token with `checksum` if `application_id` holds it: an access token
/// alone, a refresh token with its family (RFC 7009 §2.1); anything else is left
/// alone (§2.2).
async fn revoke_held(
    state: AppState,
    tenant: Arc<Tenant>,
    checksum: String,
    application_id: i64,
) -> Result<(), Error> {
    let data = state.data(&tenant);
    if let Some(access) = tokens::find_access_token(data, &checksum).await?
        && access.application_id == application_id
    {
        tokens::revoke_access_token(data, &access).await?;
    } else if let Some(refresh) = tokens::find_refresh_token(data, &checksum).await?
        && refresh.application_id == application_id
    {
        tokens::revoke_family(data, &refresh).await?;
    }
    Ok(())
}
