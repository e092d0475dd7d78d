//! Spans and the access log as a subscriber sees them: one span per request, one per node
//! call inside it (inline or on a replica's threads), and one access line per request.
//! Its own test binary, since it installs a global subscriber.

mod common;
#[path = "common/span_graph.rs"]
mod span_graph;

use std::collections::BTreeMap;
use std::sync::Mutex;

use common::{bounded, http_full};
use serve_runtime::App;
use span_graph::squaring;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

/// A span as it was opened: its name and fields, and its parent's.
#[derive(Clone, Debug)]
struct Opened {
    name: String,
    fields: Fields,
    parent: Option<(String, Fields)>,
}

static SPANS: Mutex<Vec<Opened>> = Mutex::new(Vec::new());
static ACCESS: Mutex<Vec<Fields>> = Mutex::new(Vec::new());

struct Capture;

struct Record<'a>(&'a mut Fields);

impl Visit for Record<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Record(&mut fields));
        let span = ctx.span(id).expect("a new span is registered");
        let parent = span.parent().map(|p| {
            let fields = p.extensions().get::<Fields>().cloned().unwrap_or_default();
            (p.name().to_owned(), fields)
        });
        span.extensions_mut().insert(fields.clone());
        SPANS.lock().unwrap().push(Opened {
            name: attrs.metadata().name().to_owned(),
            fields,
            parent,
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "serve_runtime::access" {
            let mut fields = Fields::new();
            event.record(&mut Record(&mut fields));
            ACCESS.lock().unwrap().push(fields);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_call_has_a_span_inside_its_request_span() {
    let subscriber = tracing_subscriber::registry()
        .with(Capture)
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = bounded(
        App::new()
            .graph(squaring)
            .access_log(true)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    for (id, text, status) in [("sq-1", "7", 200), ("sq-2", "seven", 500)] {
        let body = format!("{{\"text\":\"{text}\"}}");
        let headers = [("x-request-id", id)];
        let (got, _, answer) = http_full(addr, "POST", "/square", &headers, &body).await;
        assert_eq!(got, status, "{answer}");
    }

    let spans = SPANS.lock().unwrap().clone();
    let requests: Vec<&Opened> = spans.iter().filter(|s| s.name == "request").collect();
    assert_eq!(requests.len(), 2, "{spans:#?}");
    assert_eq!(requests[0].fields["id"], "sq-1");
    assert_eq!(requests[0].fields["route"], "/square");
    assert_eq!(requests[0].fields["graph"], "squaring");

    let nodes_of = |id: &str| -> Vec<(String, String)> {
        spans
            .iter()
            .filter(|s| s.name == "node")
            .filter(|s| {
                s.parent
                    .as_ref()
                    .is_some_and(|(name, f)| name == "request" && f["id"] == id)
            })
            .map(|s| (s.fields["deployment"].clone(), s.fields["replica"].clone()))
            .collect()
    };
    // The threads replica's span too, though its call runs on another thread.
    assert_eq!(
        nodes_of("sq-1"),
        [
            ("parse".to_owned(), "0".to_owned()),
            ("square".to_owned(), "0".to_owned())
        ]
    );
    // A request that fails in its first node never reaches the second.
    assert_eq!(nodes_of("sq-2"), [("parse".to_owned(), "0".to_owned())]);
    assert!(
        spans
            .iter()
            .filter(|s| s.name == "node")
            .all(|s| s.parent.is_some()),
        "no node span outside a request: {spans:#?}"
    );

    let access = ACCESS.lock().unwrap().clone();
    let lines: Vec<(&str, &str, &str)> = access
        .iter()
        .map(|f| {
            (
                f["request_id"].as_str(),
                f["route"].as_str(),
                f["status"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [("sq-1", "/square", "200"), ("sq-2", "/square", "500")]
    );
    assert!(
        access
            .iter()
            .all(|f| f["latency_ms"].parse::<f64>().unwrap() >= 0.0)
    );
}
