//! The HTTP surface as named routes ([`RouteName`]). [`Routes::built_in`] is what
//! `tessera serve` serves; an embedding program starts from it and replaces a route's
//! handler, wraps it (a tower layer, or any function of the built-in one), or
//! switches it off. The built-in handlers stay public functions of their modules, so
//! a replacement can check something and then call Tessera's own (see
//! `service/examples/custom_authorize.rs`). A route that is off answers 404 (the
//! JSON `not_found` of an unknown endpoint) and is left out of discovery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post};

use crate::endpoints::{
    applications, client_registration, consent, interactions, introspect, landing, metrics,
};
use crate::endpoints::{
    authorize, authorized_tokens, cors, device, end_session, health, issuer, jwks, login, metadata,
    page, revoke, sign_up, token, userinfo,
};
use crate::route_names::{RouteGroup, RouteName};
use crate::state::AppState;

pub use super::route_paths::paths;

/// Tessera's own handlers of route `name`.
pub fn built_in(name: RouteName) -> MethodRouter<AppState> {
    match name {
        RouteName::Health => get(health::healthz),
        RouteName::Readiness => get(health::readyz),
        RouteName::Metrics => get(metrics::scrape),
        RouteName::Landing => get(landing::landing),
        RouteName::Admin => get(issuer::unknown_endpoint),
        RouteName::Stylesheet => get(page::stylesheet),
        RouteName::Issuer => get(issuer::describe),
        RouteName::Authorize => get(authorize::authorize_get).post(authorize::authorize_post),
        RouteName::Login => get(login::login_page).post(login::login),
        RouteName::SignUp => get(sign_up::sign_up_page).post(sign_up::sign_up),
        RouteName::Logout => get(login::logout_page).post(login::logout),
        RouteName::Consent => get(consent::consent_page).post(consent::consent),
        RouteName::Device => get(device::device_page).post(device::device_decision),
        RouteName::DeviceAuthorization => {
            post(device::device_authorization).fallback(issuer::wrong_method)
        }
        RouteName::AuthorizedTokens => get(authorized_tokens::authorized_tokens_page)
            .post(authorized_tokens::revoke_application),
        RouteName::Token => post(token::token)
            .options(cors::preflight)
            .fallback(issuer::wrong_method),
        RouteName::Revoke => post(revoke::revoke)
            .options(cors::preflight)
            .fallback(issuer::wrong_method),
        RouteName::Introspect => post(introspect::introspect)
            .options(cors::preflight)
            .fallback(issuer::wrong_method),
        RouteName::Metadata | RouteName::Discovery => get(metadata::metadata),
        RouteName::Jwks => get(jwks::jwks),
        RouteName::EndSession => {
            get(end_session::end_session_get).post(end_session::end_session_post)
        }
        RouteName::Userinfo => get(userinfo::userinfo_get)
            .post(userinfo::userinfo_post)
            .options(cors::userinfo_preflight)
            .fallback(issuer::wrong_method),
        RouteName::Interactions => get(interactions::describe),
        RouteName::InteractionAnswer => post(interactions::decide),
        RouteName::InteractionContinue => get(interactions::continue_interaction),
        RouteName::Applications => get(applications::list).post(applications::create),
        RouteName::ApplicationNew => get(applications::new_form),
        RouteName::Application => get(applications::edit_form).post(applications::update),
        RouteName::ApplicationAction => post(applications::act),
        RouteName::Registration => post(client_registration::register)
            .layer(DefaultBodyLimit::max(client_registration::MAX_BODY_BYTES)),
        RouteName::RegistrationClient => get(client_registration::read)
            .put(client_registration::replace)
            .delete(client_registration::remove)
            .layer(DefaultBodyLimit::max(client_registration::MAX_BODY_BYTES)),
    }
}

/// The routes to serve: each name's handler, and the names switched off.
pub struct Routes {
    handlers: BTreeMap<RouteName, MethodRouter<AppState>>,
    disabled: BTreeSet<RouteName>,
}

impl Routes {
    /// Every route with Tessera's own handlers.
    pub fn built_in() -> Self {
        Self {
            handlers: RouteName::ALL
                .into_iter()
                .map(|name| (name, built_in(name)))
                .collect(),
            disabled: BTreeSet::new(),
        }
    }

    /// Serves `handler` at route `name`'s paths instead of Tessera's.
    pub fn replace(mut self, name: RouteName, handler: MethodRouter<AppState>) -> Self {
        self.handlers.insert(name, handler);
        self
    }

    /// Wraps route `name`'s handler: `wrap` receives it and returns the one to serve
    /// (`|route| route.layer(my_layer)`, or a `route_layer`, or anything else).
    pub fn wrap(
        mut self,
        name: RouteName,
        wrap: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>,
    ) -> Self {
        if let Some(handler) = self.handlers.remove(&name) {
            self.handlers.insert(name, wrap(handler));
        }
        self
    }

    /// Switches route `name` off.
    pub fn disable(mut self, name: RouteName) -> Self {
        self.disabled.insert(name);
        self
    }

    /// Switches every route of `group` off.
    pub fn disable_group(mut self, group: RouteGroup) -> Self {
        self.disabled.extend(group.routes());
        self
    }

    /// Also switches off `names` (those the configuration switches off).
    pub fn disable_all(mut self, names: impl IntoIterator<Item = RouteName>) -> Self {
        self.disabled.extend(names);
        self
    }

    /// The routes switched off.
    pub fn disabled(&self) -> &BTreeSet<RouteName> {
        &self.disabled
    }

    /// The axum router of the enabled routes over `state`, which learns which routes
    /// are off (for discovery).
    pub fn into_router(self, mut state: AppState) -> Router {
        state.disabled_routes = Arc::new(self.disabled.clone());
        let mut router = Router::new();
        for (name, handler) in self.handlers {
            if self.disabled.contains(&name) {
                continue;
            }
            // The access log names the route (`access_log::record`).
            let named = handler.layer(axum::middleware::map_response(
                move |mut response: axum::response::Response| async move {
                    response.extensions_mut().insert(name);
                    response
                },
            ));
            for path in paths(name) {
                router = router.route(path, named.clone());
            }
        }
        if !self.disabled.contains(&RouteName::Admin) {
            router = router.merge(super::admin::router().layer(axum::middleware::map_response(
                |mut response: axum::response::Response| async move {
                    response.extensions_mut().insert(RouteName::Admin);
                    response
                },
            )));
        }
        super::finish(router, state)
    }
}
