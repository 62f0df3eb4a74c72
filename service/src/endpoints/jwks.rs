//! `GET /t/{tenant}/jwks`: the tenant's JWK Set (RFC 7517 §5), the public half of every
//! key that signs now, will sign soon or signed tokens that are still valid. Public,
//! cacheable for five minutes (shorter than the publish-ahead time of a rotation),
//! readable from any origin.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::settings::JWKS_MAX_AGE_SECS;
use crate::state::AppState;

/// How long relying parties may cache the JWKS: [`JWKS_MAX_AGE_SECS`], which the
/// shortest publish-ahead time of a rotation counts in.
pub const CACHE_CONTROL: &str = "public, max-age=300";

const _: () = assert!(JWKS_MAX_AGE_SECS == 300, "CACHE_CONTROL says max-age=300");

/// The JWKS of a tenant.
pub async fn jwks(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let result = async {
        let tenant = resolve_tenant(&state, &slug).await?;
        Ok::<_, ApiError>(state.keys.tenant_keys(&state.databases, &tenant).await?)
    }
    .await;
    match result {
        Ok(keys) => (
            [
                (header::CACHE_CONTROL, CACHE_CONTROL),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            keys.jwks.clone(),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}
