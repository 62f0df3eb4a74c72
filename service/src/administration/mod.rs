//! The life cycle an operator runs: tenants, users, applications, consents. One
//! implementation for the CLI (`tessera tenant|user|app|consent …`) and the admin
//! API; the management pages use it for what they share (secret rotation,
//! deletion), and dynamic client registration (`client_registration`) creates,
//! changes and deletes applications through it.
//!
//! Each function validates everything before its first write, writes through the
//! store (which chooses the connection and announces the change to every node), and
//! records the change as an audit line at warn (`target: "tessera::audit"`) naming
//! the actor, never a secret.

pub mod applications;
pub mod client_registration;
pub mod consents;
pub mod keys;
pub mod tenants;
pub mod users;

use std::fmt;

/// Who made a change, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The command line, run by whoever runs it on the host.
    CommandLine,
    /// An admin API client, by client_id (and its tenant).
    AdminClient {
        /// The tenant the admin client belongs to.
        tenant: String,
        /// Its client_id.
        client_id: String,
    },
    /// A signed-in user on the management pages (subject).
    User {
        /// The user's `sub`.
        subject: String,
    },
    /// Dynamic client registration (RFC 7591, RFC 7592): `open` (anyone), the
    /// client_id holding the initial access token, or `self` (the registered
    /// client with its registration access token).
    Registrant {
        /// Which credential registered or changed the client.
        credential: String,
    },
}

impl fmt::Display for Actor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommandLine => formatter.write_str("cli"),
            Self::AdminClient { tenant, client_id } => {
                write!(formatter, "client:{tenant}/{client_id}")
            }
            Self::User { subject } => write!(formatter, "user:{subject}"),
            Self::Registrant { credential } => write!(formatter, "registrant:{credential}"),
        }
    }
}

/// Writes one audit line: who did what to which thing of which tenant.
pub(crate) fn audit(actor: &Actor, tenant: &str, action: &str, target: &str) {
    tracing::warn!(
        target: "tessera::audit",
        actor = %actor,
        tenant,
        action,
        target,
        "admin change"
    );
}
