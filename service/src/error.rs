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
    /// A name that must be unique is taken (tenant slug, username, client_id).
    #[error("{0}")]
    Conflict(String),
    /// A tenant that the directory does not hold.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// A named pool could not be reached or answered with an error.
    #[error("database pool {pool:?}: {message}")]
    Pool {
        /// The pool's name.
        pool: String,
        /// The driver's error, with any password removed.
        message: String,
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
    /// A bounded resource is saturated (the slow-hash queue); retry later.
    #[error("overloaded: retry in {retry_after_secs} s")]
    Overloaded {
        /// Seconds a client should wait.
        retry_after_secs: u64,
    },
    /// A page template failed to render.
    #[error("page template: {0}")]
    Template(String),
    /// Signing keys: generation, sealing or signing failed, or the key-encryption key
    /// does not open the stored keys.
    #[error("signing keys: {0}")]
    Keys(String),
    /// A stored value does not decode (corrupt row or hand edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl Error {
    /// A pool error whose text never carries the pool URL's password (drivers quote
    /// the URL when it does not parse).
    pub fn pool(pool: impl ToString, error: &sea_orm::DbErr, url: Option<&str>) -> Self {
        let mut message = error.to_string();
        if let Some(url) = url {
            message = message.replace(url, &redact_url(url));
            if let Some(password) = url::Url::parse(url)
                .ok()
                .and_then(|parsed| parsed.password().map(str::to_owned))
                .filter(|password| password.len() > 2)
            {
                message = message.replace(&password, "***");
            }
        }
        Error::Pool {
            pool: pool.to_string(),
            message,
        }
    }
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

/// A URL with its password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparseable URL)".to_owned(),
    }
}
