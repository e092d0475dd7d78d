//! What the adapter targets share: fuzz bytes -> `HttpRequest`, and one runtime to drive
//! `Graph::adapt` on.

use std::sync::OnceLock;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method};
use serve_runtime::{Bytes, HttpRequest};

/// A content type the first byte can pick, and whether the JSON adapter must accept it.
struct ContentType {
    value: Option<&'static [u8]>,
    json: bool,
}

/// What clients send, plus the edge cases of the JSON adapter's check: case, parameters,
/// `+json`, and a value that is not valid text. `json` is what the README promises
/// (`application/json` or `application/*+json`), written out rather than recomputed.
const CONTENT_TYPES: &[ContentType] = &[
    ContentType {
        value: Some(b"application/json"),
        json: true,
    },
    ContentType {
        value: Some(b"application/json; charset=utf-8"),
        json: true,
    },
    ContentType {
        value: Some(b"text/plain"),
        json: false,
    },
    ContentType {
        value: None,
        json: false,
    },
    ContentType {
        value: Some(b"APPLICATION/JSON"),
        json: true,
    },
    ContentType {
        value: Some(b"application/vnd.api+json"),
        json: true,
    },
    ContentType {
        value: Some(b"application/octet-stream"),
        json: false,
    },
    ContentType {
        value: Some(b"application/json\xff"),
        json: false,
    },
];

/// A fuzz input as a request: `data[0]` picks the content type, the rest is the body.
pub struct Input {
    pub request: HttpRequest,
    /// Whether the content type is one the JSON adapter must accept.
    pub json: bool,
}

pub fn input(data: &[u8]) -> Input {
    let (pick, body) = data.split_first().unwrap_or((&0, &[]));
    let content_type = &CONTENT_TYPES[usize::from(*pick) % CONTENT_TYPES.len()];
    Input {
        request: post(content_type.value, Bytes::copy_from_slice(body)),
        json: content_type.json,
    }
}

/// A POST with this content type (none if `None`) and body.
pub fn post(content_type: Option<&[u8]>, body: Bytes) -> HttpRequest {
    let mut request = http::Request::new(body);
    *request.method_mut() = Method::POST;
    if let Some(ct) = content_type {
        let value = HeaderValue::from_bytes(ct).expect("the listed content types are valid");
        request.headers_mut().insert(CONTENT_TYPE, value);
    }
    request
}

/// Runs an adapter future to completion. One current-thread runtime for the whole run, so
/// an iteration costs the adapter, not a runtime's start-up.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime starts")
        })
        .block_on(future)
}
