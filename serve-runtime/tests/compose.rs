//! Graphs inside graphs: a `#[graph]` called by name from another runs as a node, its
//! deployments started with the outer graph's and its calls inlined into the outer spec.

mod common;

use common::Bounded;
use serve_runtime::{ArgSpec, ReplicaState, deployment, graph};

#[deployment]
async fn trim(text: String) -> String {
    text.trim().to_owned()
}

#[deployment(num_replicas = 2)]
#[derive(Default)]
struct Lower;

#[deployment]
impl Lower {
    async fn lower(&self, text: String) -> String {
        text.to_lowercase()
    }
}

/// The inner graph: served on its own too.
#[graph(route_prefix = "/clean")]
async fn clean(text: String) -> String {
    let lower = Lower::bind();
    let trimmed = trim(text);
    lower.lower(trimmed)
}

#[deployment]
async fn join(a: String, b: String) -> String {
    format!("{a} | {b}")
}

/// The outer graph: the inner one twice, in parallel, then a node of its own. Its own
/// `Lower` is a second binding of the type the inner graph binds too.
#[graph(route_prefix = "/pair")]
async fn pair(left: String, right: String) -> String {
    let lower = Lower::bind();
    let l = clean(left);
    let r = clean(right);
    let joined = join(l, r);
    lower.lower(joined)
}

#[tokio::test]
async fn a_graph_runs_inside_another_as_a_node() {
    let g = serve_runtime::start(pair).bounded().await.unwrap();
    let out = g
        .call(("  Hello ".to_owned(), " WORLD  ".to_owned()))
        .bounded()
        .await
        .unwrap();
    assert_eq!(out, "hello | world");

    // The inner graph's deployments run in the outer graph, named as its spec names them.
    let status = g.status();
    let spec = g.spec();
    let names: Vec<&str> = spec.deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Lower", "Lower_1", "trim", "join"]);
    for name in names {
        let d = status
            .deployment(name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        assert!(d.count(ReplicaState::Running) >= 1, "{name}");
    }
    assert_eq!(status.deployment("Lower_1").unwrap().target_replicas, 2);
    g.shutdown().await;
}

#[test]
fn the_spec_inlines_the_inner_graph_with_its_inputs_wired_to_the_callers_values() {
    let spec = pair::spec();
    let ids: Vec<(&str, &str)> = spec
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.deployment.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("l.trimmed", "trim"),
            ("l.return", "Lower_1"),
            ("r.trimmed", "trim"),
            ("r.return", "Lower_1"),
            ("joined", "join"),
            ("return", "Lower"),
        ]
    );
    let value = |from: &str| ArgSpec::Value {
        from: from.to_owned(),
    };
    // The inner graph's input is the outer value it was called with...
    assert_eq!(spec.nodes[0].args, [value("left")]);
    assert_eq!(spec.nodes[2].args, [value("right")]);
    assert_eq!(spec.nodes[1].args, [value("l.trimmed")]);
    // ...and its call stands for what it returns.
    assert_eq!(spec.nodes[4].args, [value("l.return"), value("r.return")]);
    assert_eq!(spec.output.from, "return");
    // Every edge starts at an input or a node the spec has.
    for edge in spec.edges() {
        assert!(
            spec.inputs.iter().any(|i| i.name == edge.from)
                || spec.nodes.iter().any(|n| n.id == edge.from),
            "dangling edge from {}",
            edge.from
        );
    }
}

#[tokio::test]
async fn the_inner_graph_is_still_a_graph_of_its_own() {
    let g = serve_runtime::start(clean).bounded().await.unwrap();
    assert_eq!(g.call("  ABC ".to_owned()).bounded().await.unwrap(), "abc");
    let server = common::bounded(
        serve_runtime::App::new()
            .graph(clean)
            .graph(pair)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let (status, _, body) = common::http_full(
        server.local_addr(),
        "POST",
        "/pair",
        &[],
        r#"{"left": " A ", "right": "B"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "\"a | b\"");
}
