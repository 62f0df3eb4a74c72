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
    /// A user, application or other named thing that does not exist; says what.
    #[error("{0}")]
    NotFound(String),
    /// A change conditioned on a version (`If-Match`) that is no longer current.
    #[error("{0}")]
    StaleVersion(String),
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
    /// A database write run in a task of its own whose task ended before answering
    /// (a panic, or the runtime shutting down): `what` says which.
    pub fn write_task_ended(what: &str, error: &tokio::task::JoinError) -> Self {
        Error::Database(sea_orm::DbErr::Custom(format!(
            "{what}'s task ended early: {error}"
        )))
    }

    /// A pool error whose text never carries the pool URL's password (drivers quote
    /// the URL when it does not parse).
    /// The message names the server it tried (`host:port`, never the password), and
    /// says what to fix where the driver's words do not.
    pub fn pool(pool: impl ToString, error: &sea_orm::DbErr, url: Option<&str>) -> Self {
        let mut message = error.to_string();
        if let Some(url) = url {
            message = message.replace(url, &redact_url(url));
            let parsed = url::Url::parse(url).ok();
            if let Some(password) = parsed
                .as_ref()
                .and_then(|parsed| parsed.password().map(str::to_owned))
                .filter(|password| password.len() > 2)
            {
                message = message.replace(&password, "***");
            }
            message.push_str(&pool_hint(url, parsed.as_ref(), &message));
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

/// What a pool's connection error leaves out: the server tried (sqlx says "pool
/// timed out" without it), and for SQLite that a new file needs `mode=rwc`.
fn pool_hint(url: &str, parsed: Option<&url::Url>, message: &str) -> String {
    if url.starts_with("sqlite:") {
        if message.contains("unable to open database file") && !url.contains("mode=") {
            return " (the file does not exist: add ?mode=rwc to the URL to create it, e.g. \
                    sqlite://tessera.db?mode=rwc, and check its folder exists and is writable)"
                .to_owned();
        }
        return String::new();
    }
    match parsed.and_then(|parsed| parsed.host_str().map(|host| (parsed, host))) {
        Some((parsed, host)) => {
            let port = parsed
                .port_or_known_default()
                .or(match parsed.scheme() {
                    "postgres" | "postgresql" => Some(5432),
                    "mysql" => Some(3306),
                    _ => None,
                })
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            format!(" (server {host}{port}: check it runs and accepts connections from here)")
        }
        None => String::new(),
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
