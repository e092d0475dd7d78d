//! Request bytes -> a graph's input through the `raw_bytes` adapter: whatever the content
//! type, it accepts, and hands over the body unchanged.

#![no_main]

#[allow(dead_code)] // the JSON target uses the rest
mod common;

use libfuzzer_sys::fuzz_target;
use serve_runtime::{Bytes, Graph, deployment, graph};

#[deployment]
async fn byte_len(body: Bytes) -> usize {
    body.len()
}

#[graph(route_prefix = "/len", http_adapter = raw_bytes)]
async fn length(body: Bytes) -> usize {
    byte_len(body)
}

fuzz_target!(|data: &[u8]| {
    let common::Input { request, .. } = common::input(data);
    let body = request.body().clone();
    let adapted = common::block_on(<length as Graph>::adapt(request));
    assert_eq!(adapted.as_ref(), Ok(&body));
});
