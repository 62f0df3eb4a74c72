//! The brute-force guard of one attempt (RFC 6749 §2.3.1 for client secrets, §4.3.2
//! for passwords): a name — a username or a client_id, as presented — and the source
//! address, each with its tenant's limit. [`Guard::check`] refuses before any lookup
//! or hash; a failure counts against both, a success clears the name's count.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::limits::failures::{FailureKey, Limit};
use crate::oauth::error::OAuthError;
use crate::state::AppState;
use crate::tenancy::Tenant;

/// The failure counters of one attempt.
pub struct Guard<'a> {
    state: &'a AppState,
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
        tenant: &Tenant,
        name: FailureKey<'a>,
        name_max: u32,
        address: IpAddr,
    ) -> Self {
        let settings = &tenant.settings;
        let window = settings.failure_window_secs;
        Self {
            state,
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
            .map_err(|retry| OAuthError::TooManyAttempts {
                retry_after_secs: retry.seconds(),
            })?;
        self.clean.store(checked.clean, Ordering::Relaxed);
        Ok(())
    }

    /// Counts a failed attempt against the name and the address.
    pub async fn failed(&self) {
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
}
