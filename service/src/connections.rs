//! The HTTP/1 server loop: accepts connections on the listener and serves each with
//! hyper, bounded so that a client cannot hold the server's resources by doing
//! nothing:
//!
//! * at most `limits.max_connections` connections are served at once; the next one
//!   is accepted only when one closes (the rest wait in the kernel's backlog), so a
//!   flood of idle sockets cannot exhaust file descriptors;
//! * a connection must deliver the headers of each request within
//!   `limits.header_read_timeout_secs` of the moment hyper waits for them — the
//!   first request and every keep-alive request after it — or it is closed
//!   (slow-header floods, idle keep-alive connections). `axum::serve` installs no
//!   timer, which leaves hyper's header read timeout off;
//! * on shutdown the loop stops accepting, lets each connection finish its request
//!   in flight (hyper's graceful shutdown), and waits for them.
//!
//! Each request carries the peer's address as axum's `ConnectInfo`, as
//! `into_make_service_with_connect_info` would give it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How the loop bounds connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed to deliver a request's headers (and an idle keep-alive gap).
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains the open
/// connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, nothing more is accepted until a connection ends.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: wait a
                    // little instead of spinning, then go on.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Timeouts and resets are the client's doing: debug, not warn.
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
