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

// ---- a function deployment served on its own --------------------------------------------

#[deployment]
async fn greet(name: String, excited: Option<bool>) -> String {
    let mark = if excited == Some(true) { "!" } else { "." };
    format!("Hello, {name}{mark}")
}

#[tokio::test]
async fn a_function_deployment_is_served_alone_at_its_name() {
    let server = common::bounded(
        serve_runtime::App::new()
            .deployment::<greet>()
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let post = |body: &'static str| common::http_full(addr, "POST", "/greet", &[], body);
    let (status, _, body) = post(r#"{"name": "Ada"}"#).await;
    assert_eq!((status, body.as_str()), (200, "\"Hello, Ada.\""));
    let (status, _, body) = post(r#"{"excited": true, "name": "Ada"}"#).await;
    assert_eq!((status, body.as_str()), (200, "\"Hello, Ada!\""));
    let (status, _, body) = post(r#"{"excited": true}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("missing field `name`"), "{body}");
    // A field it has no parameter for is ignored, as a graph's JSON adapter does.
    let (status, _, body) = post(r#"{"name": "Ada", "mood": "sunny"}"#).await;
    assert_eq!((status, body.as_str()), (200, "\"Hello, Ada.\""));
    let (status, _, body) = post(r#"{"name": 7}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("field `name`: invalid type: integer `7`"),
        "{body}"
    );

    // It is a one-node graph: spec, status and in-process calls as for any graph.
    let spec = <serve_runtime::Alone<greet> as serve_runtime::Graph>::spec();
    assert_eq!(spec.ingress.route_prefix, "/greet");
    let inputs: Vec<(&str, &str)> = spec
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.ty.as_str()))
        .collect();
    assert_eq!(inputs, [("name", "String"), ("excited", "Option<bool>")]);
    assert_eq!(spec.nodes.len(), 1);
    assert_eq!(
        server.status()[0]
            .deployment("greet")
            .unwrap()
            .target_replicas,
        1
    );
    let g = serve_runtime::start(serve_runtime::Alone::<greet>::new())
        .bounded()
        .await
        .unwrap();
    assert_eq!(
        g.call(("Bo".to_owned(), None)).bounded().await.unwrap(),
        "Hello, Bo."
    );
}
