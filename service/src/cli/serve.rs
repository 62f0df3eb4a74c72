//! `tessera serve`: connect, prepare, serve until a signal.

use std::io::Write;

use crate::config::{Config, public_url_for};
use crate::startup::{self, Application};

use super::{CliError, invalid};

pub(super) async fn serve(mut config: Config, out: &mut dyn Write) -> Result<(), CliError> {
    crate::telemetry::init(&config.log);
    let listen = config.listen;
    let bind = || async move {
        tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| {
                invalid(format!(
                    "cannot listen on {listen}: {error} (set listen or TESSERA_LISTEN)"
                ))
            })
    };
    // Port 0 picks a free port; a public URL that follows `listen` must name the
    // port picked, so that case binds before it builds (others bind after: nothing
    // accepts connections until the service is ready).
    let early = if listen.port() == 0 && config.public_url == public_url_for(listen) {
        let listener = bind().await?;
        config.public_url = public_url_for(listener.local_addr()?);
        Some(listener)
    } else {
        None
    };
    let application = Application::build(config).await?;
    let listener = match early {
        Some(listener) => listener,
        None => bind().await?,
    };
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
