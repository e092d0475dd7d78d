//! Draining: the phase between "ready" and "accepting no more", when load balancers take
//! the process out of rotation while it still serves, and HTTP/1.1 clients are asked to
//! reconnect (to the process that replaces this one) with `connection: close`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use http::header::CONNECTION;
use http::{HeaderValue, Request, Response, Version};
use tokio::sync::watch;

/// Where a server is between serving and stopped; it only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Ready, accepting and serving.
    Serving,
    /// Not ready (`/-/healthz` answers 503), still accepting and serving; HTTP/1.1
    /// answers close their connections.
    Draining,
    /// Accepting no more; finishing the requests in flight.
    Stopping,
}

/// Whether a server drains, read on every HTTP/1.1 answer: a flag, not the phase's
/// channel, so the request path pays one atomic load.
#[derive(Clone, Default)]
pub(crate) struct DrainFlag(Arc<AtomicBool>);

impl DrainFlag {
    /// A flag that turns on when `phase` leaves [`Phase::Serving`].
    pub(crate) fn follow(mut phase: watch::Receiver<Phase>) -> Self {
        let flag = Self::default();
        let set = flag.clone();
        tokio::spawn(async move {
            if phase.wait_for(|p| *p != Phase::Serving).await.is_ok() {
                set.0.store(true, Ordering::Relaxed);
            }
        });
        flag
    }

    fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `inner`, with `connection: close` on every HTTP/1.x answer once the server drains, so
/// a client's next request goes on a new connection (and finds the process that takes
/// over) instead of racing the close of an idle one. HTTP/2 clients are moved by GOAWAY
/// when the server stops.
#[derive(Clone)]
pub(crate) struct CloseWhenDraining<S> {
    pub(crate) inner: S,
    pub(crate) draining: DrainFlag,
}

impl<S, B> tower_service::Service<Request<B>> for CloseWhenDraining<S>
where
    S: tower_service::Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Closing<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let http1 = request.version() < Version::HTTP_2;
        Closing {
            inner: self.inner.call(request),
            // Read when the answer is ready: a drain that starts mid-request counts.
            draining: http1.then(|| self.draining.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct Closing<F> {
        #[pin]
        inner: F,
        draining: Option<DrainFlag>,
    }
}

impl<F> Future for Closing<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(Ok(mut response)) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        if this.draining.as_ref().is_some_and(DrainFlag::is_on) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}
