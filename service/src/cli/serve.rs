//! `tessera serve`: connect, prepare, serve until a signal.

use std::io::Write;

use crate::config::Config;
use crate::startup::{self, Application};

use super::{CliError, invalid};

pub(super) async fn serve(config: Config, out: &mut dyn Write) -> Result<(), CliError> {
    crate::telemetry::init(&config.log);
    let listen = config.listen;
    let application = Application::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| {
            invalid(format!(
                "cannot listen on {listen}: {error} (set listen or TESSERA_LISTEN)"
            ))
        })?;
    let address = listener.local_addr()?;
    writeln!(out, "Tessera listening on http://{address}")?;
    for issuer in application.issuers() {
        writeln!(out, "  issuer: {issuer}")?;
    }
    out.flush()?;
    tracing::info!(%address, "listening");
    application
        .serve(listener, startup::shutdown_signal())
        .await?;
    Ok(())
}
