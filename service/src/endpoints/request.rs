//! The start every client-facing endpoint shares: which address the request comes
//! from, and for client-authenticated endpoints (token, revocation) the tenant of the
//! path, the strict form and the authenticated client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::endpoints::issuer::resolve_tenant;
use crate::oauth::client_auth::{Client, authenticate};
use crate::oauth::error::OAuthError;
use crate::oauth::form::Form;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The socket's peer address, from the connect info the server records
/// (`into_make_service_with_connect_info`); `None` when the router is served without
/// it (an embedder's choice), which counts as one unknown address.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        ))
    }
}

/// The client's address for per-address limits: the socket peer, or the
/// `X-Forwarded-For` hop a trusted proxy vouches for ([`crate::network`]).
pub fn client_address(state: &AppState, peer: &Peer, headers: &HeaderMap) -> IpAddr {
    let peer = peer
        .0
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |address| address.ip());
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok());
    state.trusted_proxies.client_address(peer, forwarded)
}

/// The tenant of the path, the strict form, the authenticated client, and the
/// client's address.
pub async fn authenticated_request(
    state: &AppState,
    slug: &str,
    peer: &Peer,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Arc<Tenant>, Form, Client, IpAddr), OAuthError> {
    let tenant = resolve_tenant(state, slug).await?;
    let form = Form::parse(content_type(headers), body)?;
    let address = client_address(state, peer, headers);
    let client = authenticate(state, &tenant, authorization(headers)?, &form, address).await?;
    Ok((tenant, form, client, address))
}

/// The `Content-Type` header, if it is text (a form parser refuses anything else).
pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

/// The `Authorization` header for client authentication (RFC 6749 §2.3.1); one that
/// is not text is `invalid_client`, never ignored.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().map_err(|_| OAuthError::InvalidClient))
        .transpose()
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
