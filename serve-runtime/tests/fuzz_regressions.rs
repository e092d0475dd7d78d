//! Inputs the fuzz targets (`fuzz/`) found, kept as plain tests so they stay fixed.

use http::header::CONTENT_TYPE;
use serde::Deserialize;
use serve_runtime::{AdapterError, Bytes, Graph, HttpRequest, deployment, graph};

// ---- graphs under test ------------------------------------------------------------------

/// A nested parameter without `deny_unknown_fields`: serde skips fields it does not know.
#[derive(Debug, PartialEq, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[deployment]
async fn area(point: Point) -> i64 {
    point.x * point.y
}

#[graph(route_prefix = "/area")]
async fn measuring(point: Point) -> i64 {
    area(point)
}

/// The graph of the `json_adapter` fuzz target, for its inputs as they were found.
#[derive(Debug, PartialEq, Deserialize)]
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

fn post(content_type: &str, body: &[u8]) -> HttpRequest {
    http::Request::builder()
        .method("POST")
        .header(CONTENT_TYPE, content_type)
        .body(Bytes::copy_from_slice(body))
        .unwrap()
}

/// What the ingress does first with a request: the graph's adapter, driven to completion.
fn adapt<G: Graph>(request: HttpRequest) -> Result<G::Input, AdapterError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(G::adapt(request))
}

fn assert_refused_as_invalid_utf8<G: Graph>(request: HttpRequest) {
    match adapt::<G>(request) {
        Ok(_) => panic!("a body that is not UTF-8 was accepted"),
        Err(e) => assert_eq!(e.status(), 400, "{e}"),
    }
}

// ---- invalid UTF-8 in a value the JSON adapter skips -----------------------------------------
//
// The README promises 400 for invalid UTF-8. serde_json checks UTF-8 only in strings it
// decodes, not in the values it skips (an unknown field of a nested struct), so such a body
// was accepted.

#[test]
fn invalid_utf8_in_a_skipped_value_is_400() {
    assert_refused_as_invalid_utf8::<measuring>(post(
        "application/json",
        b"{\"point\":{\"x\":2,\"y\":3,\"note\":\"\xff\"}}",
    ));
}

#[test]
fn invalid_utf8_in_a_key_inside_a_skipped_value_is_400() {
    assert_refused_as_invalid_utf8::<measuring>(post(
        "application/json",
        b"{\"point\":{\"x\":2,\"y\":3,\"note\":{\"\xff\":0}}}",
    ));
}

#[test]
fn the_skipped_field_is_still_skipped_when_it_is_valid() {
    let point = adapt::<measuring>(post(
        "application/json",
        "{\"point\":{\"x\":2,\"y\":3,\"note\":\"é\"}}".as_bytes(),
    ));
    assert_eq!(point, Ok(Point { x: 2, y: 3 }));
}

/// `json_adapter` crash-093f486b… (minimised by `cargo fuzz tmin`): content-type byte 0x00.
#[test]
fn fuzz_json_adapter_invalid_utf8_in_an_unknown_nested_field() {
    let mut body = br#"{"name":"ada","count":3,"ratio":5.5,"enabled":true,"tags":["a","b"],"limit":7,"crop":{"x":1,"y":-2,"labe1":""#.to_vec();
    body.extend_from_slice(&[0xff; 12]);
    body.extend_from_slice(br#"l","inner":null}}"#);
    assert_refused_as_invalid_utf8::<describing>(post("application/json", &body));
}

/// `json_adapter` crash-be71fe09… (minimised): content-type byte 0x01; the bad bytes are in a
/// key inside a skipped object.
#[test]
fn fuzz_json_adapter_invalid_utf8_in_a_key_of_a_skipped_object() {
    let body = b"{\"name\":\"\",\"count\":4615,\"ratio\":-1e-3,\"enabled\":false,\"tags\":[],\"limit\":null,\"crop\":{\"x\":0,\"y\":0,\"lner\":{\"x\xf8\xf8er\":null}}}";
    assert_refused_as_invalid_utf8::<describing>(post("application/json; charset=utf-8", body));
}
