//! The brute-force guard of one attempt (RFC 6749 §2.3.1 for client secrets, §4.3.2
//! for passwords): a name — a username or a client_id, as presented — and the source
//! address, each with its tenant's limit. [`Guard::check`] refuses before any lookup
//! or hash; a failure counts against both, a success clears the name's count.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::limits::failures::{FailureKey, Limit};
use crate::metrics::Event;
use crate::oauth::error::OAuthError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The failure counters of one attempt.
pub struct Guard<'a> {
    state: &'a AppState,
    tenant: &'a str,
    name: (FailureKey<'a>, Limit),
    address: (FailureKey<'a>, Limit),
    /// Whether the check found no failure counted (a success then clears nothing).
    clean: AtomicBool,
}

impl<'a> Guard<'a> {
    /// The guard of an attempt on `name` (limited to `name_max` failures in the
    /// tenant's window) from `address`.
    pub fn new(
        state: &'a AppState,
        tenant: &'a Tenant,
        name: FailureKey<'a>,
        name_max: u32,
        address: IpAddr,
    ) -> Self {
        let settings = &tenant.settings;
        let window = settings.failure_window_secs;
        Self {
            state,
            tenant: tenant.slug.as_str(),
            name: (name, Limit::new(name_max, window)),
            address: (
                FailureKey::Address {
                    tenant_id: tenant.id,
                    address,
                },
                Limit::new(settings.max_failures_per_address, window),
            ),
            clean: AtomicBool::new(false),
        }
    }

    /// `TooManyAttempts` when the name or the address is over its limit (one Redis
    /// round trip when the counters are shared).
    pub async fn check(&self) -> Result<(), OAuthError> {
        let checked = self
            .state
            .failures
            .check(&[self.name, self.address])
            .await
            .map_err(|retry| {
                self.state.metrics.record(Event::Lockout);
                // One line per refused attempt: an attack shows as a stream of them
                // (as in the access log), never with the name or secret tried.
                tracing::warn!(
                    target: "tessera::security",
                    event = "lockout",
                    tenant = self.tenant,
                    of = self.kind(),
                    client_id = self.client_id(),
                    address = %self.source(),
                    retry_after_secs = retry.seconds(),
                    "attempt refused: too many failures"
                );
                OAuthError::TooManyAttempts {
                    retry_after_secs: retry.seconds(),
                }
            })?;
        self.clean.store(checked.clean, Ordering::Relaxed);
        Ok(())
    }

    /// Counts a failed attempt against the name and the address.
    pub async fn failed(&self) {
        self.state.metrics.record(match self.name.0 {
            FailureKey::Client { .. } => Event::ClientAuthenticationFailed,
            _ => Event::LoginFailed,
        });
        match self.name.0 {
            FailureKey::Client { client_id, .. } => tracing::warn!(
                target: "tessera::security",
                event = "client_authentication_failed",
                tenant = self.tenant,
                client_id,
                address = %self.source(),
                "client authentication failed"
            ),
            // The name typed is left out: users type passwords into it by mistake.
            _ => tracing::warn!(
                target: "tessera::security",
                event = "login_failed",
                tenant = self.tenant,
                address = %self.source(),
                "sign-in failed"
            ),
        }
        self.state
            .failures
            .record_failure(&[self.name, self.address])
            .await;
    }

    /// Clears the name's failures (the address's only expire); nothing to do when
    /// the check found none.
    pub async fn succeeded(&self) {
        if !self.clean.load(Ordering::Relaxed) {
            self.state
                .failures
                .record_success(self.name.0, self.name.1)
                .await;
        }
    }

    /// What the guarded name is, for the log.
    fn kind(&self) -> &'static str {
        match self.name.0 {
            FailureKey::Client { .. } => "client",
            _ => "user",
        }
    }

    /// The client_id of a client's guard.
    fn client_id(&self) -> Option<&str> {
        match self.name.0 {
            FailureKey::Client { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    /// The source address the guard counts.
    fn source(&self) -> String {
        match self.address.0 {
            FailureKey::Address { address, .. } => address.to_string(),
            _ => String::new(),
        }
    }
}
