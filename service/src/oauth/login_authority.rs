//! Who decides a sign-in: Tessera's own login, sign-up and consent pages, or an
//! external login and consent application (Hydra's headless model). Exactly one of
//! them decides each interaction, and a session counts only where the authority that
//! started it decides:
//!
//! * an interaction for a client goes to the client's login application
//!   (`login_url` of its registration), else the tenant's (`oauth.login_url`), else
//!   Tessera's pages; a plain sign-in (the device, authorized-tokens and management
//!   pages) goes to the tenant's (or, for a device code, its client's);
//! * an external application is identified by the client_id it authenticates with
//!   (`login_client_id` beside the URL): that credential alone drives its
//!   interactions ([`crate::oauth::external_login`]);
//! * Tessera's pages refuse an interaction an external application decides, so a
//!   browser cannot step around that application's second factor, its rejection or
//!   a narrowed scope (RFC 6749 §4.1.2.1, §3.3; OIDC Core §3.1.2.3);
//! * a session remembers its authority ([`LoginAuthority::session_key`]): one signed
//!   in by a partner's login application is not a session where Tessera's pages or
//!   another application decide, and the reverse.

use entity::application;

use crate::error::Error;
use crate::state::AppState;
use crate::store::applications;
use crate::tenancy::Tenant;

/// The authority over a sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginAuthority {
    /// Tessera's own pages.
    Pages,
    /// An external login and consent application.
    External {
        /// Where the browser is sent (with `interaction_id`).
        login_url: String,
        /// The client_id the application authenticates with; empty when none is
        /// bound yet (then no credential drives its interactions).
        client_id: String,
    },
}

impl LoginAuthority {
    /// The authority of plain sign-ins of `tenant`: its `oauth.login_url`, else
    /// Tessera's pages.
    pub fn of_tenant(tenant: &Tenant) -> Self {
        match &tenant.settings.login_url {
            Some(login_url) => Self::External {
                login_url: login_url.clone(),
                client_id: tenant.settings.login_client_id.clone().unwrap_or_default(),
            },
            None => Self::Pages,
        }
    }

    /// The authority of `application`'s sign-ins: its own login application, else
    /// the tenant's.
    pub fn of_client(tenant: &Tenant, application: &application::Model) -> Self {
        if application.login_url.is_empty() {
            Self::of_tenant(tenant)
        } else {
            Self::External {
                login_url: application.login_url.clone(),
                client_id: application.login_client_id.clone(),
            }
        }
    }

    /// The authority of an interaction for `application_id`, as the registration
    /// and settings say now: its client's, or the tenant's for a plain sign-in
    /// (`None`). A client removed meanwhile leaves the tenant's (the interaction
    /// cannot finish anyway).
    pub async fn of_application(
        state: &AppState,
        tenant: &Tenant,
        application_id: Option<i64>,
    ) -> Result<Self, Error> {
        let application = match application_id {
            Some(id) => applications::find_by_id(state.data(tenant), id).await?,
            None => None,
        };
        Ok(match application {
            Some(application) => Self::of_client(tenant, &application),
            None => Self::of_tenant(tenant),
        })
    }

    /// Whether an external application decides.
    pub fn is_external(&self) -> bool {
        matches!(self, Self::External { .. })
    }

    /// What a session started by this authority records, and what a session must
    /// record to count here: empty for Tessera's pages, else `client:` and the
    /// application's client_id (never empty, even while none is bound).
    pub fn session_key(&self) -> String {
        match self {
            Self::Pages => String::new(),
            Self::External { client_id, .. } => format!("client:{client_id}"),
        }
    }

    /// Whether the client `client_id` (an authenticated credential) is this
    /// authority's login application.
    pub fn is_driven_by(&self, client_id: &str) -> bool {
        match self {
            Self::Pages => false,
            Self::External {
                client_id: bound, ..
            } => !bound.is_empty() && crate::secrets::equal(bound, client_id),
        }
    }
}
