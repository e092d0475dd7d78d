//! What every request to one route goes through, whatever answers it: its id, its span,
//! the route's figures, its line in the access log, and the id in its JSON error body.

use std::future::Future;

use axum::extract::Request;
use axum::response::Response;
use tracing::Instrument;

use super::reply::PendingError;
use crate::observe::http::HttpStats;
use crate::observe::request_id::{RequestId, X_REQUEST_ID};

/// What every request to one route goes through, whatever answers it: an id, a span, the
/// route's figures, and a line in the access log when it is on.
#[derive(Debug)]
pub(crate) struct Front {
    /// The route prefix; empty for requests no route matched.
    pub(crate) route: String,
    /// The graph served there; empty for requests no route matched.
    pub(crate) graph: &'static str,
    pub(crate) stats: HttpStats,
    access_log: bool,
}

impl Front {
    pub(crate) fn new(route: String, graph: &'static str, access_log: bool) -> Self {
        Self {
            route,
            graph,
            stats: HttpStats::default(),
            access_log,
        }
    }

    /// Answers `request` with `answer`; then puts the request's id on the response (and
    /// in its JSON error body), logs a failure, and counts the request.
    pub(crate) async fn serve<F, Fut>(&self, request: Request, answer: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let id = RequestId::from_headers(request.headers());
        let timer = self.stats.start(request.method());
        let span =
            tracing::debug_span!("request", id = %id, route = %self.route, graph = self.graph);
        // Wrapping the graph's (large) future to enter a span moves it once more; with
        // the span off, as by default, it is awaited as it is.
        let mut response = if span.is_disabled() {
            answer(request).await
        } else {
            answer(request).instrument(span).await
        };
        if let Some(error) = response.extensions_mut().remove::<PendingError>() {
            if response.status().is_server_error() {
                tracing::warn!(
                    graph = self.graph,
                    request_id = %id,
                    status = response.status().as_u16(),
                    error = %error.message,
                    "request failed"
                );
            }
            *response.body_mut() = error.render(Some(&id));
        }
        if self.access_log {
            tracing::info!(
                target: "serve_runtime::access",
                request_id = %id,
                route = %self.route,
                status = response.status().as_u16(),
                latency_ms = timer.elapsed().as_secs_f64() * 1000.0,
            );
        }
        response
            .headers_mut()
            .insert(X_REQUEST_ID, id.into_header_value());
        timer.finish(&response);
        response
    }
}
