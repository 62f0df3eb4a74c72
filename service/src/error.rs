//! The service's one error type. The HTTP layer maps it to RFC 6749 error bodies and
//! the CLI to exit codes; internal causes are logged, never sent to clients.

use router_policies::{RouterError, Violation};

/// Everything that can go wrong inside the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable; the message names the key and how to fix it.
    #[error("configuration: {0}")]
    Config(String),
    /// The router refused the configuration or the stored placements.
    #[error("routing refused with {} violation(s):\n{}", .0.len(), render_violations(.0))]
    Routing(Vec<Violation>),
    /// Input from an operator or client that cannot be accepted; says what to fix.
    #[error("{0}")]
    InvalidInput(String),
    /// A tenant that the directory does not hold.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// A named pool could not be reached or answered with an error.
    #[error("database pool {pool:?}: {source}")]
    Pool {
        /// The pool's name.
        pool: String,
        /// The driver's error.
        source: sea_orm::DbErr,
    },
    /// A query failed.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Reading or writing a file or socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Hashing a password or secret failed.
    #[error("hashing: {0}")]
    Hashing(String),
    /// A stored value does not decode (corrupt row or hand edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<RouterError> for Error {
    fn from(error: RouterError) -> Self {
        Error::InvalidInput(error.to_string())
    }
}

/// One violation per line, indented, for terminals and logs.
pub fn render_violations(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|violation| format!("  - {violation}"))
        .collect::<Vec<_>>()
        .join("\n")
}
