//! A graph's output as an HTTP answer: one JSON body, or, for an [`ItemStream`], its items
//! as they come, as server-sent events (`accept: text/event-stream`) or JSON lines (any
//! other `accept`).

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::Error;
use crate::ingress::reply::error_reply;
use crate::stream::ItemStream;

/// What an answer needs besides the output. Public only as the argument of
/// [`Respond::respond`]; nothing outside this crate can make one.
#[doc(hidden)]
pub struct Answer {
    pub(crate) graph: &'static str,
    /// The request's `accept` header.
    pub(crate) accept: Option<HeaderValue>,
    /// How long a stream may go without an item before it is ended with an error.
    pub(crate) item_timeout: Duration,
}

/// A graph output the HTTP ingress can send: any `Serialize` type as one JSON body, or an
/// [`ItemStream`] of them item by item.
#[diagnostic::on_unimplemented(
    message = "the graph's output `{Self}` cannot be sent over HTTP",
    label = "not `Serialize`",
    note = "return a type that implements `serde::Serialize` (`#[derive(Serialize)]` on a struct gives a JSON object), or an `ItemStream` of such items"
)]
pub trait Respond: Send + 'static {
    /// The answer; `keep` (the request's ingress slot) lives until its body is sent.
    #[doc(hidden)]
    fn respond<K: Send + 'static>(self, answer: Answer, keep: K) -> Response;
}

impl<T: Serialize + Send + 'static> Respond for T {
    fn respond<K: Send + 'static>(self, answer: Answer, _keep: K) -> Response {
        match serde_json::to_vec(&self) {
            Ok(json) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                json,
            )
                .into_response(),
            Err(e) => error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "serialize_failed",
                &format!(
                    "the output of graph `{}` could not be serialised to JSON: {e}",
                    answer.graph
                ),
                None,
            ),
        }
    }
}

/// How a stream's items are written.
#[derive(Clone, Copy)]
enum Framing {
    /// `data: <json>\n\n` per item; a failure is `event: error`.
    ServerSentEvents,
    /// `<json>\n` per item; a failure is a last line `{"error": ..., "code": ...}`.
    JsonLines,
}

impl Framing {
    fn for_accept(accept: Option<&HeaderValue>) -> Self {
        let asks_for_events = accept.and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().starts_with("text/event-stream"))
        });
        if asks_for_events {
            Framing::ServerSentEvents
        } else {
            Framing::JsonLines
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Framing::ServerSentEvents => "text/event-stream",
            Framing::JsonLines => "application/x-ndjson",
        }
    }

    fn item(self, json: &[u8]) -> Vec<u8> {
        match self {
            Framing::ServerSentEvents => [b"data: ", json, b"\n\n"].concat(),
            Framing::JsonLines => [json, b"\n"].concat(),
        }
    }

    fn failure(self, error: &StreamFailure<'_>) -> Vec<u8> {
        let json = serde_json::to_vec(error).expect("an error body always serialises");
        match self {
            Framing::ServerSentEvents => [b"event: error\ndata: ", &json[..], b"\n\n"].concat(),
            Framing::JsonLines => [&json[..], b"\n"].concat(),
        }
    }
}

#[derive(Serialize)]
struct StreamFailure<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<&'a str>,
}

impl<T: Serialize + Send + 'static> Respond for ItemStream<T> {
    fn respond<K: Send + 'static>(self, answer: Answer, keep: K) -> Response {
        let framing = Framing::for_accept(answer.accept.as_ref());
        let Answer {
            graph,
            item_timeout,
            ..
        } = answer;
        // Each chunk is written as its item comes; the body ends after a failure. Dropping
        // the body (the client left) drops the stream and the work behind it.
        let state = (self, keep, false);
        let chunks = futures_util::stream::unfold(
            state,
            move |(mut items, keep, done)| async move {
                if done {
                    return None;
                }
                let (chunk, done) = match tokio::time::timeout(item_timeout, items.next()).await {
                    Ok(None) => return None,
                    Ok(Some(Ok(item))) => match serde_json::to_vec(&item) {
                        Ok(json) => (framing.item(&json), false),
                        Err(e) => {
                            let message = format!(
                                "an item of graph `{graph}`'s stream could not be serialised to JSON: {e}"
                            );
                            let failure = StreamFailure {
                                error: &message,
                                code: "serialize_failed",
                                deployment: None,
                            };
                            (framing.failure(&failure), true)
                        }
                    },
                    Ok(Some(Err(e))) => (failure_of(framing, &e), true),
                    Err(_) => {
                        let message = format!(
                            "graph `{graph}`'s stream sent no item for {} ms",
                            item_timeout.as_millis()
                        );
                        let failure = StreamFailure {
                            error: &message,
                            code: "timeout",
                            deployment: None,
                        };
                        (framing.failure(&failure), true)
                    }
                };
                Some((
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)),
                    (items, keep, done),
                ))
            },
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(framing.content_type()),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        (headers, Body::from_stream(chunks)).into_response()
    }
}

fn failure_of(framing: Framing, e: &Error) -> Vec<u8> {
    let message = e.to_string();
    framing.failure(&StreamFailure {
        error: &message,
        code: e.code(),
        deployment: e.deployment(),
    })
}

/// The request's `accept` header, for [`Framing::for_accept`].
pub(crate) fn accept(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(ACCEPT).cloned()
}
