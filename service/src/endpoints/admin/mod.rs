//! The admin API: JSON under `/admin/v1`, per-tenant operations under
//! `/admin/v1/tenants/{tenant}/…`, described by the OpenAPI 3.1 document at
//! `/admin/v1/openapi.json` (generated from these handlers by utoipa, with every
//! protocol endpoint and page added from the route table: [`protocol_paths`]). Callers
//! present an access token of this service with the `tessera:admin` scope
//! ([`caller`]); errors are RFC 9457 problem details ([`problem`]); changes are
//! conditioned on `If-Match` where a resource has a version ([`common`]). Every
//! operation is the [`crate::administration`] function the CLI runs.

pub mod applications;
pub mod caller;
pub mod common;
pub mod keys;
pub mod problem;
pub mod protocol_paths;
pub mod tenants;
pub mod users;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::state::AppState;

use problem::Problem;

/// The OpenAPI document's source: every admin handler and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        description = "Operators' life cycle of tenants, users, applications, consents and \
                       signing keys. Authorize with an access token (client credentials) of \
                       an admin client (`tessera admin bootstrap`), scope `tessera:admin`."
    ),
    paths(
        tenants::list, tenants::create, tenants::show, tenants::update, tenants::delete,
        users::list, users::create, users::show, users::update, users::delete,
        users::authorizations, users::revoke,
        applications::list, applications::create, applications::show,
        applications::update, applications::delete, applications::rotate_secret,
        keys::list, keys::rotate,
    ),
    components(schemas(problem::Problem)),
    modifiers(&BearerAuth, &ProblemContentType, &ProtocolRoutes),
    tags(
        (name = "tenants", description = "Tenants: placement, settings, state"),
        (name = "users", description = "A tenant's users and their authorized applications"),
        (name = "applications", description = "A tenant's applications (OAuth clients)"),
        (name = "keys", description = "A tenant's signing keys"),
        (name = "oauth", description = "OAuth 2 and OpenID Connect endpoints of each tenant (issuer /t/{tenant})"),
        (name = "pages", description = "Pages for people (HTML)"),
        (name = "interactions", description = "The external login application's API"),
        (name = "service", description = "Probes, metrics, the landing page"),
    )
)]
pub struct AdminApi;

/// The `bearer` security scheme every operation names.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Error answers of the admin API are `application/problem+json` (RFC 9457 §3):
/// the `Problem` bodies the handlers declare move to that media type.
struct ProblemContentType;

impl utoipa::Modify for ProblemContentType {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if (status.starts_with('4') || status.starts_with('5'))
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response
                            .content
                            .insert("application/problem+json".to_owned(), content);
                    }
                }
            }
        }
    }
}

/// The protocol endpoints and pages ([`protocol_paths`]).
struct ProtocolRoutes;

impl utoipa::Modify for ProtocolRoutes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        protocol_paths::add_protocol_routes(openapi);
    }
}

/// `GET /admin/v1/openapi.json`.
pub async fn openapi(State(_state): State<AppState>) -> Response {
    Json(AdminApi::openapi()).into_response()
}

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/openapi.json", get(openapi))
        .route(
            "/admin/v1/tenants",
            get(tenants::list).post(tenants::create),
        )
        .route(
            "/admin/v1/tenants/{tenant}",
            get(tenants::show)
                .patch(tenants::update)
                .delete(tenants::delete),
        )
        .route(
            "/admin/v1/tenants/{tenant}/users",
            get(users::list).post(users::create),
        )
        .route(
            "/admin/v1/tenants/{tenant}/users/{user}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route(
            "/admin/v1/tenants/{tenant}/users/{user}/authorizations",
            get(users::authorizations),
        )
        .route(
            "/admin/v1/tenants/{tenant}/users/{user}/authorizations/{client_id}",
            axum::routing::delete(users::revoke),
        )
        .route(
            "/admin/v1/tenants/{tenant}/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/admin/v1/tenants/{tenant}/applications/{client_id}",
            get(applications::show)
                .patch(applications::update)
                .delete(applications::delete),
        )
        .route(
            "/admin/v1/tenants/{tenant}/applications/{client_id}/secret",
            post(applications::rotate_secret),
        )
        .route("/admin/v1/tenants/{tenant}/keys", get(keys::list))
        .route("/admin/v1/tenants/{tenant}/keys/rotate", post(keys::rotate))
}

/// A JSON body, or a problem saying what is wrong with it.
pub(crate) fn body<T>(parsed: Result<Json<T>, JsonRejection>) -> Result<T, Problem> {
    parsed.map(|Json(value)| value).map_err(|rejection| {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Problem::new(status, rejection.body_text())
    })
}

/// Query parameters, or a problem saying what is wrong with them.
pub(crate) fn query<T>(parsed: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    parsed
        .map(|Query(value)| value)
        .map_err(|rejection| Problem::new(StatusCode::BAD_REQUEST, rejection.body_text()))
}
