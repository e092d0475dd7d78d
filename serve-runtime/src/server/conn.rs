//! One connection: HTTP/1.1 or HTTP/2, told apart by the first bytes the client sends
//! (HTTP/2's connection preface), over TCP or TLS.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::CloseWhenDraining;

/// What every HTTP/2 client sends first (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocols of the server, set up once.
#[derive(Clone)]
pub(crate) struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// How long a client may take to send its first bytes (and, over HTTP/1.1, each
    /// request's head).
    pub(crate) header_read_timeout: Duration,
}

impl Protocols {
    pub(crate) fn new(header_read_timeout: Duration, serves_calls: bool) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .keep_alive(true);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        // A dead peer is found by pings, and a client gets a bounded share of the server.
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(Duration::from_secs(20))
            .max_concurrent_streams(256);
        if serves_calls {
            // Callers are the graph's own processes (authenticated, off loopback), and
            // one connection carries every call of a process: a burst of cancellations
            // must not close it under the calls in flight.
            http2
                .max_concurrent_streams(4096)
                .max_pending_accept_reset_streams(Some(4096))
                .max_local_error_reset_streams(Some(4096));
        }
        Self {
            http1,
            http2,
            header_read_timeout,
        }
    }

    /// Serves one connection until it ends or the server drains: a client that sends
    /// nothing (or only part of a preface) within the header-read timeout is dropped.
    pub(crate) async fn serve<IO>(
        &self,
        mut io: IO,
        service: TowerToHyperService<CloseWhenDraining<axum::Router>>,
        watcher: Watcher,
    ) -> Result<(), hyper::Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(Some((first, is_http2))) =
            tokio::time::timeout(self.header_read_timeout, sniff(&mut io)).await
        else {
            return Ok(());
        };
        let io = TokioIo::new(Rewind { first, inner: io });
        if is_http2 {
            watcher
                .watch(self.http2.serve_connection(io, service))
                .await
        } else {
            watcher
                .watch(self.http1.serve_connection(io, service))
                .await
        }
    }
}

/// Reads until the first bytes tell HTTP/2's preface from anything else; the bytes read,
/// and which it was. `None` when the client closed first.
async fn sniff<IO: AsyncRead + Unpin>(io: &mut IO) -> Option<(Bytes, bool)> {
    let mut read = Vec::with_capacity(PREFACE.len());
    loop {
        let n = io.read_buf(&mut read).await.ok()?;
        if n == 0 {
            return None;
        }
        let seen = read.len().min(PREFACE.len());
        if read[..seen] != PREFACE[..seen] {
            return Some((read.into(), false));
        }
        if seen == PREFACE.len() {
            return Some((read.into(), true));
        }
    }
}

/// A connection whose first bytes, already read, are read again first.
struct Rewind<IO> {
    first: Bytes,
    inner: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.first.has_remaining() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
