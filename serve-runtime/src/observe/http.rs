//! What the ingress counts per route: every request by method, status and reason, with its
//! latency. Answered requests (200 to a POST) take no lock; the rest share one, being rare
//! or already slow.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::response::Response;
use http::{Method, StatusCode};
use quanta::Instant;

use super::stats::{Histogram, HistogramSnapshot};

/// The key of one series: method, status code, and the JSON error `code` (empty on success).
type SeriesKey = (&'static str, u16, &'static str);

/// Why a request ended without an answer, as the ingress tells it in its error body's
/// `code`: put on the response so the metrics can count by it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reason(pub(crate) &'static str);

/// A status code for a request whose client left before it was answered (nginx's).
pub(crate) const CLIENT_CLOSED: u16 = 499;

#[derive(Debug, Default)]
pub(crate) struct HttpStats {
    answered: Histogram,
    others: Mutex<BTreeMap<SeriesKey, Histogram>>,
}

/// One series of [`HttpStats`] at one moment.
#[derive(Clone, Debug)]
pub(crate) struct HttpSeries {
    pub(crate) method: &'static str,
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
    pub(crate) latency: HistogramSnapshot,
}

impl HttpStats {
    /// Starts timing a request; it is counted when [`RequestTimer::finish`] is given its
    /// response, or as a client that left if the timer drops first.
    pub(crate) fn start(&self, method: &Method) -> RequestTimer<'_> {
        RequestTimer {
            stats: self,
            method: method_label(method),
            start: Instant::now(),
            done: false,
        }
    }

    fn record(&self, key: SeriesKey, start: Instant) {
        let elapsed = start.elapsed();
        if key == ("POST", 200, "") {
            self.answered.record(elapsed);
            return;
        }
        self.others
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .record(elapsed);
    }

    /// Every series with a request in it, in a stable order.
    pub(crate) fn snapshot(&self) -> Vec<HttpSeries> {
        let answered = self.answered.snapshot();
        let others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        let mut series: Vec<HttpSeries> = (answered.count() > 0)
            .then_some((("POST", 200, ""), answered))
            .into_iter()
            .chain(others.iter().map(|(key, h)| (*key, h.snapshot())))
            .map(|((method, status, reason), latency)| HttpSeries {
                method,
                status,
                reason,
                latency,
            })
            .collect();
        series.sort_by_key(|s| (s.status, s.method, s.reason));
        series
    }
}

/// A request being timed.
pub(crate) struct RequestTimer<'a> {
    stats: &'a HttpStats,
    method: &'static str,
    start: Instant,
    done: bool,
}

impl RequestTimer<'_> {
    /// Counts the request with the response it gets.
    pub(crate) fn finish(mut self, response: &Response) {
        self.done = true;
        let reason = response.extensions().get::<Reason>().map_or("", |r| r.0);
        self.stats.record(
            (self.method, response.status().as_u16(), reason),
            self.start,
        );
    }

    /// How long the request has taken so far.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

impl Drop for RequestTimer<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.stats
                .record((self.method, CLIENT_CLOSED, "client_closed"), self.start);
        }
    }
}

/// A label for `method`: the standard ones by name, any other as `OTHER`, so a client
/// cannot make up series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// True for the statuses the error counters count.
pub(crate) fn is_error(status: u16) -> bool {
    status >= StatusCode::BAD_REQUEST.as_u16()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn requests_are_counted_by_method_status_and_reason() {
        let stats = HttpStats::default();
        stats
            .start(&Method::POST)
            .finish(&StatusCode::OK.into_response());
        stats
            .start(&Method::POST)
            .finish(&StatusCode::OK.into_response());
        let mut refused = StatusCode::SERVICE_UNAVAILABLE.into_response();
        refused.extensions_mut().insert(Reason("overloaded"));
        stats.start(&Method::POST).finish(&refused);
        drop(stats.start(&Method::POST));
        stats
            .start(&Method::from_bytes(b"BREW").unwrap())
            .finish(&StatusCode::METHOD_NOT_ALLOWED.into_response());
        let series: Vec<_> = stats
            .snapshot()
            .into_iter()
            .map(|s| (s.method, s.status, s.reason, s.latency.count()))
            .collect();
        assert_eq!(
            series,
            [
                ("POST", 200, "", 2),
                ("OTHER", 405, "", 1),
                ("POST", 499, "client_closed", 1),
                ("POST", 503, "overloaded", 1),
            ]
        );
    }
}
