//! `GET` and `POST /t/{tenant}/userinfo` (OpenID Connect Core §5.3): the claims of the
//! access token's user that its scopes release, with `sub` equal to the ID token's.
//! The bearer token comes in the `Authorization` header or a form body (RFC 6750
//! §2.1, §2.2), never the query (§2.3: it would reach logs and histories). Browser
//! applications may call it from an origin an application of the tenant lists
//! (CORS, [`crate::endpoints::cors`]); errors carry the headers too, and expose
//! `WWW-Authenticate`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::application_fields::Exposure;
use crate::endpoints::cors;
use crate::endpoints::error::ApiError;
use crate::endpoints::issuer::resolve_tenant;
use crate::endpoints::request::{bearer_token, content_type};
use crate::endpoints::token::NO_STORE;
use crate::oauth::claims;
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::oauth::id_token::OPENID;
use crate::oauth::introspection::{UserToken, live_user_token};
use crate::policy::ClaimsFor;
use crate::state::AppState;

/// `GET`: the token in the `Authorization` header.
pub async fn userinfo_get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        refuse_token_in_query(query.as_deref())?;
        let token = bearer_token(&headers).ok_or(OAuthError::InvalidToken)?;
        answer(&state, &slug, token).await
    }
    .await;
    respond(&state, &slug, &headers, result).await
}

/// `POST`: the token in the header or as `access_token` in a form body, not both.
pub async fn userinfo_post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        refuse_token_in_query(query.as_deref())?;
        let in_body = if body.is_empty() {
            None
        } else {
            Form::parse(content_type(&headers), &body)?
                .get("access_token")
                .map(str::to_owned)
        };
        let token = match (bearer_token(&headers), in_body.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "send the access token once: in the Authorization header or the body (RFC 6750 §2)",
                ));
            }
            (Some(token), None) | (None, Some(token)) => token.to_owned(),
            (None, None) => return Err(OAuthError::InvalidToken),
        };
        answer(&state, &slug, &token).await
    }
    .await;
    respond(&state, &slug, &headers, result).await
}

fn refuse_token_in_query(query: Option<&str>) -> Result<(), OAuthError> {
    let named = query.is_some_and(|query| {
        url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token")
    });
    if named {
        return Err(OAuthError::invalid_request(
            "the access token may not be sent in the query: use the Authorization header",
        ));
    }
    Ok(())
}

async fn answer(state: &AppState, slug: &str, token: &str) -> Result<Value, OAuthError> {
    let tenant = resolve_tenant(state, slug).await?;
    // Live by introspection's definition, of this tenant (a token of another tenant is
    // unknown here), held for a user.
    let Some(UserToken {
        scopes,
        user,
        client_extensions,
        client_id,
        scope,
    }) = live_user_token(state, &tenant, token).await?
    else {
        return Err(OAuthError::InvalidToken);
    };
    if !scopes.contains(OPENID) {
        return Err(OAuthError::InsufficientScope(OPENID));
    }
    // A policy hook's claims, the client's extension fields exposed in UserInfo,
    // then the user's claims.
    let mut document = state.policies.extra_claims(&ClaimsFor {
        tenant: &tenant,
        client_id: &client_id,
        subject: Some(&user.subject),
        scope: &scope,
        target: Exposure::Userinfo,
    });
    document.extend(
        tenant
            .fields
            .claims_of(&client_extensions, Exposure::Userinfo),
    );
    document.extend(claims::for_scopes(&user, &scopes));
    document.insert("sub".to_owned(), Value::String(user.subject));
    Ok(Value::Object(document))
}

async fn respond(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    result: Result<Value, OAuthError>,
) -> Response {
    let mut response = match result {
        Ok(document) => (NO_STORE, Json(document)).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    };
    response.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate"),
    );
    cors::apply(state, slug, headers, None, response).await
}
