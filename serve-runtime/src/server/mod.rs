//! The HTTP server under the ingress: our own accept loop on hyper, so the limits that keep
//! hostile clients from holding resources can be set (axum's `serve` does not expose them),
//! serving HTTP/1.1 and HTTP/2, over TLS when given a certificate.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

mod conn;
mod drain;
mod listen;
mod tls;

use conn::Protocols;
pub(crate) use drain::Phase;
use drain::{CloseWhenDraining, DrainFlag};
pub(crate) use listen::bind;
pub use tls::TlsFiles;

/// The limits that keep slow or idle clients from holding the server: what an [`App`]
/// serves with ([`App::http_limits`]).
///
/// [`App`]: crate::App
/// [`App::http_limits`]: crate::App::http_limits
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// A client must send a request's whole head within this time, or be disconnected;
    /// this also closes connections that open and never send.
    pub header_read_timeout: Duration,
    /// A client must send a request's whole body within this time (and within the graph's
    /// `request_timeout_ms`), or get 408.
    pub body_read_timeout: Duration,
    /// Connections served at once; past it, new ones wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// What one listener serves with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listening {
    pub(crate) limits: HttpLimits,
    /// It serves other processes' calls (`--deployments`): their HTTP/2 connections may
    /// cancel many calls at once (a request timing out upstream), which must not trip the
    /// guard against clients that reset streams to flood a public server.
    pub(crate) serves_calls: bool,
}

/// Serves `router` on `listener` until `phase` reaches [`Phase::Stopping`], then stops
/// accepting and waits for the connections in flight to finish their requests (while it
/// drains, HTTP/1.1 answers close their connections). HTTP/1.1 and HTTP/2 (told apart by
/// the client's first bytes), over TLS when `tls` is given.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    listening: Listening,
    tls: Option<TlsAcceptor>,
    phase: watch::Receiver<Phase>,
) -> std::io::Result<()> {
    let draining = DrainFlag::follow(phase.clone());
    let mut phase = phase;
    let stopped = async move {
        // The sender is gone when the `Server` handle was dropped: keep serving, as
        // documented, until the runtime stops.
        if phase.wait_for(|p| *p == Phase::Stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(stopped);
    let service = TowerToHyperService::new(CloseWhenDraining {
        inner: router,
        draining,
    });
    let limits = listening.limits;
    let protocols = Protocols::new(limits.header_read_timeout, listening.serves_calls);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut stopped => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Running out of file descriptors passes; spinning on it would not help.
                    tracing::warn!(error = %e, "accept failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let (protocols, service, watcher, tls) = (
            protocols.clone(),
            service.clone(),
            graceful.watcher(),
            tls.clone(),
        );
        tokio::spawn(async move {
            let served = match tls {
                None => protocols.serve(stream, service, watcher).await,
                Some(tls) => {
                    // The handshake is bounded like a request's head.
                    let handshake =
                        tokio::time::timeout(protocols.header_read_timeout, tls.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => protocols.serve(stream, service, watcher).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
