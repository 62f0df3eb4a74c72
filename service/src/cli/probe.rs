//! `tessera probe`: asks the node on this host for `/healthz` (or another path) and
//! exits 0 on 200 — the container image's HEALTHCHECK, which has no curl.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;

use super::{CliError, invalid};

pub(super) async fn probe(config: Config, path: &str, out: &mut dyn Write) -> Result<(), CliError> {
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(invalid(format!(
            "--path {path:?}: give a path such as /healthz"
        )));
    }
    let address = crate::config::reachable_address(config.listen);
    let failed = |message: String| CliError { code: 1, message };
    let status = tokio::time::timeout(Duration::from_secs(5), async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        // The status line is all that counts; a probe answer is small.
        let mut head = vec![0_u8; 512];
        let read = stream.read(&mut head).await?;
        head.truncate(read);
        Ok::<_, std::io::Error>(
            String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        )
    })
    .await
    .map_err(|_| failed(format!("GET http://{address}{path}: no answer within 5 s")))?
    .map_err(|error| failed(format!("GET http://{address}{path}: {error}")))?;
    if status.split_whitespace().nth(1) == Some("200") {
        writeln!(out, "ok: GET http://{address}{path}: {status}")?;
        Ok(())
    } else {
        Err(failed(format!("GET http://{address}{path}: {status}")))
    }
}
