//! `POST /t/{tenant}/token` (RFC 6749 §3.2, §5): client authentication, then the grant.
//! Responses carry `Cache-Control: no-store` and `Pragma: no-cache` (§5.1).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::endpoints::access_log;
use crate::endpoints::cors;
use crate::endpoints::error::ApiError;
use crate::endpoints::request::{Peer, authenticated_request};
use crate::grants::{self, TokenRequest};
use crate::state::AppState;

/// Headers every token-bearing response carries (RFC 6749 §5.1).
pub const NO_STORE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
];

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut application = None;
    let result = async {
        let (tenant, form, client, address) =
            authenticated_request(&state, &slug, &peer, &headers, &body).await?;
        application = Some(Arc::clone(&client.application));
        let request = TokenRequest::from_form(&form)?;
        grants::handle(&state, &tenant, &client, request, address).await
    }
    .await;
    let response = match result {
        Ok(tokens) => (NO_STORE, Json(tokens)).into_response(),
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
