//! The `otlp` feature against a stand-in collector: an HTTP server on loopback that takes
//! OTLP/HTTP JSON as a real collector would. Run with `--features otlp`.

#![cfg(feature = "otlp")]

mod common;
#[path = "common/span_graph.rs"]
mod span_graph;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::routing::post;
use common::{bounded, http_full};
use serde_json::Value;
use serve_runtime::App;
use span_graph::squaring;
use tracing_subscriber::layer::SubscriberExt;

/// Every object in `value` that looks like a span (it has a `spanId`).
fn spans(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("spanId") && map.contains_key("name") {
                out.push(value.clone());
            }
            map.values().for_each(|v| spans(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| spans(v, out)),
        _ => {}
    }
}

fn attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let v = &a["value"];
            v["stringValue"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_node_spans_reach_an_otlp_collector() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = Arc::clone(&received);
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let store = Arc::clone(&store);
            async move {
                let json: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                store.lock().unwrap().push(json);
                ([("content-type", "application/json")], "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let (layer, guard) =
        serve_runtime::otlp_layer(&format!("http://{collector_addr}"), "otlp-test").unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    let server = bounded(App::new().graph(squaring).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let headers = [("x-request-id", "otlp-1")];
    let (status, _, body) = http_full(
        server.local_addr(),
        "POST",
        "/square",
        &headers,
        r#"{"text":"6"}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "36"));
    // Sends what is batched, and waits for the collector to take it.
    bounded(tokio::task::spawn_blocking(move || guard.shutdown()))
        .await
        .unwrap()
        .unwrap();

    let mut all = Vec::new();
    for body in received.lock().unwrap().iter() {
        spans(body, &mut all);
    }
    let request = all
        .iter()
        .find(|s| s["name"] == "request" && attribute(s, "id").as_deref() == Some("otlp-1"))
        .unwrap_or_else(|| panic!("no request span in {all:#?}"));
    assert_eq!(attribute(request, "route").as_deref(), Some("/square"));
    let nodes: Vec<String> = all
        .iter()
        .filter(|s| s["name"] == "node" && s["parentSpanId"] == request["spanId"])
        .filter_map(|s| attribute(s, "deployment"))
        .collect();
    assert_eq!(nodes, ["parse", "square"], "{all:#?}");
    assert!(all.iter().all(|s| s["traceId"] == request["traceId"]));
}
