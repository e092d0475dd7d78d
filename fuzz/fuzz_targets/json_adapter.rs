//! Request bytes -> a graph's input through the default `json_request` adapter.
//!
//! Properties: it never panics; a refusal is 400 or 415 with a message; 415 exactly when the
//! content type is not JSON; a body that is not JSON text (not UTF-8, or off the grammar) is
//! refused; an accepted input, written back as JSON, adapts to the same value.

#![no_main]

mod common;

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use serve_runtime::{Bytes, Graph, deployment, graph};

/// A nested parameter, recursive so the fuzzer can reach serde_json's depth limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Crop {
    x: i64,
    y: i64,
    label: Option<String>,
    inner: Option<Box<Crop>>,
}

#[deployment]
async fn describe(
    name: String,
    count: u64,
    ratio: f32,
    enabled: bool,
    tags: Vec<String>,
    limit: Option<u32>,
    crop: Crop,
) -> String {
    format!("{name} {count} {ratio} {enabled} {tags:?} {limit:?} {crop:?}")
}

#[graph(route_prefix = "/describe")]
async fn describing(
    name: String,
    count: u64,
    ratio: f32,
    enabled: bool,
    tags: Vec<String>,
    limit: Option<u32>,
    crop: Crop,
) -> String {
    describe(name, count, ratio, enabled, tags, limit, crop)
}

type Input = <describing as Graph>::Input;

/// The input as the JSON object a client would send for it.
fn to_json(input: &Input) -> Vec<u8> {
    let (name, count, ratio, enabled, tags, limit, crop) = input;
    serde_json::to_vec(&serde_json::json!({
        "name": name,
        "count": count,
        "ratio": ratio,
        "enabled": enabled,
        "tags": tags,
        "limit": limit,
        "crop": crop,
    }))
    .expect("the input serialises")
}

/// Whether `body` is JSON text as RFC 8259 defines it: UTF-8, and the grammar, after the
/// byte order mark a parser may ignore (RFC 8259 §8.1; the adapter does). Not
/// `serde_json::Value`, which also refuses unpaired surrogate escapes (`"\udc00"`): the
/// grammar allows them, and in a value the adapter skips they do no harm.
fn is_json_text(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    })
}

fuzz_target!(|data: &[u8]| {
    let common::Input { request, json } = common::input(data);
    let body = request.body().clone();
    match common::block_on(<describing as Graph>::adapt(request)) {
        Err(e) => {
            let expected = if json {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            };
            assert_eq!(e.status(), expected, "{e}");
            assert!(!e.message().is_empty());
        }
        Ok(input) => {
            assert!(json, "a non-JSON content type was accepted");
            assert!(
                is_json_text(&body),
                "a body that is not JSON was accepted: {input:?}"
            );
            // JSON has no infinities: a number too large for `f32` becomes one, and that
            // cannot be written back.
            if input.2.is_finite() {
                let again = common::post(Some(b"application/json"), Bytes::from(to_json(&input)));
                let again = common::block_on(<describing as Graph>::adapt(again));
                assert_eq!(again.as_ref(), Ok(&input));
            }
        }
    }
});
