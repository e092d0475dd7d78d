//! Routes as Ray Serve's `route_prefix`: a prefix serves itself and every path below it,
//! the longest prefix wins, adapters see the sub-path, and a `query` adapter reads GET
//! parameters.

mod common;

use common::http_full;
use serve_runtime::{AdapterError, App, HttpRequest, Server, deployment, graph, sub_path};

/// What the adapter saw: the sub-path and the query string.
async fn where_from(request: HttpRequest) -> Result<String, AdapterError> {
    let query = request.uri().query().unwrap_or("");
    Ok(format!("{}?{query}", sub_path(&request)))
}

#[deployment]
async fn tag(seen: String) -> String {
    seen
}

#[graph(route_prefix = "/classify", http_adapter = where_from)]
async fn classify(seen: String) -> String {
    tag(seen)
}

#[deployment]
async fn tag_v2(seen: String) -> String {
    format!("v2 {seen}")
}

#[graph(route_prefix = "/classify/v2", http_adapter = where_from)]
async fn classify_v2(seen: String) -> String {
    tag_v2(seen)
}

#[deployment]
async fn add(a: u32, b: Option<u32>) -> u32 {
    a + b.unwrap_or(0)
}

#[graph(route_prefix = "/sum", http_adapter = query)]
async fn sum(a: u32, b: Option<u32>) -> u32 {
    add(a, b)
}

/// At `/`: every path no other graph serves.
#[graph(http_adapter = where_from)]
async fn everything_else(seen: String) -> String {
    tag(seen)
}

async fn serve(root: bool) -> Server {
    let mut app = App::new().graph(classify).graph(classify_v2).graph(sum);
    if root {
        app = app.graph(everything_else);
    }
    common::bounded(app.bind("127.0.0.1:0")).await.unwrap()
}

async fn post(server: &Server, path: &str) -> (u16, String) {
    let (status, _, body) = http_full(server.local_addr(), "POST", path, &[], "").await;
    (status, body)
}

#[tokio::test]
async fn a_prefix_serves_the_paths_below_it_and_the_longest_prefix_wins() {
    let server = serve(false).await;
    assert_eq!(post(&server, "/classify").await, (200, "\"?\"".to_owned()));
    assert_eq!(
        post(&server, "/classify/cats/tabby?size=2").await,
        (200, "\"/cats/tabby?size=2\"".to_owned())
    );
    assert_eq!(
        post(&server, "/classify/v2").await,
        (200, "\"v2 ?\"".to_owned())
    );
    assert_eq!(
        post(&server, "/classify/v2/x").await,
        (200, "\"v2 /x?\"".to_owned())
    );
    assert_eq!(
        post(&server, "/classify/v3").await,
        (200, "\"/v3?\"".to_owned())
    );
    // A path that only starts with the prefix's letters is not below it.
    let (status, body) = post(&server, "/classifyx").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_graph_at_the_root_serves_the_rest_and_leaves_the_admin_routes_alone() {
    let server = serve(true).await;
    assert_eq!(
        post(&server, "/anything/here").await,
        (200, "\"/anything/here?\"".to_owned())
    );
    assert_eq!(
        post(&server, "/classify/a").await,
        (200, "\"/a?\"".to_owned())
    );
    let (status, _, body) = http_full(server.local_addr(), "GET", "/-/healthz", &[], "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
}

#[tokio::test]
async fn the_query_adapter_reads_get_parameters_by_name() {
    let server = serve(false).await;
    let get = |path: &'static str| http_full(server.local_addr(), "GET", path, &[], "");
    assert_eq!(get("/sum?a=1&b=2").await.2, "3");
    assert_eq!(get("/sum?b=5&a=1&note=ignored").await.2, "6");
    assert_eq!(get("/sum?a=4").await.2, "4", "an Option may be left out");
    let (status, _, body) = get("/sum?a=x").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("query parameter `a`: invalid digit found in string"),
        "{body}"
    );
    let (status, _, body) = get("/sum?b=1").await;
    assert_eq!(status, 400);
    assert!(body.contains("missing field `a`"), "{body}");
    let (status, head, _) = http_full(server.local_addr(), "POST", "/sum?a=1", &[], "").await;
    assert_eq!(status, 405);
    assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
}

// ---- layers, and the routes mounted in an app of your own ---------------------------------

#[deployment]
async fn nap(ms: u64) -> u64 {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    ms
}

#[graph(route_prefix = "/nap", request_timeout_ms = 100, body_limit = 32)]
async fn napping(ms: u64) -> u64 {
    nap(ms)
}

/// A layer of the user's marks every answer it wraps.
async fn mark(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .insert("x-marked", http::HeaderValue::from_static("yes"));
    response
}

#[tokio::test]
async fn a_layer_wraps_the_graphs_routes_and_not_the_admin_ones() {
    let app = App::new()
        .graph(sum)
        .layer(axum::middleware::map_response(mark));
    let server = common::bounded(app.bind("127.0.0.1:0")).await.unwrap();
    let (status, head, _) = http_full(server.local_addr(), "GET", "/sum?a=1", &[], "").await;
    assert_eq!(status, 200);
    assert!(head.contains("x-marked: yes"), "{head}");
    let (status, head, _) = http_full(server.local_addr(), "GET", "/-/healthz", &[], "").await;
    assert_eq!(status, 200);
    assert!(!head.contains("x-marked"), "{head}");
}

#[tokio::test]
async fn the_router_mounted_elsewhere_keeps_the_graphs_limits_and_leaves_admin_out() {
    let (graphs, admin) = App::new()
        .graph(napping)
        .layer(axum::middleware::map_response(mark))
        .router_with_admin()
        .await
        .unwrap();
    let mine = axum::Router::new()
        .route("/mine", axum::routing::get(|| async { "mine" }))
        .nest("/api", graphs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, mine).await });
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(admin_listener, admin).await });

    let (status, head, body) = http_full(addr, "POST", "/api/nap", &[], r#"{"ms": 1}"#).await;
    assert_eq!((status, body.as_str()), (200, "1"));
    assert!(head.contains("x-marked: yes"), "{head}");
    // The graph's request timeout and body limit come with its routes.
    let (status, _, body) = http_full(addr, "POST", "/api/nap", &[], r#"{"ms": 1000}"#).await;
    assert_eq!(status, 504, "{body}");
    let big = format!(r#"{{"ms": 1, "pad": "{}"}}"#, "x".repeat(64));
    let (status, _, body) = http_full(addr, "POST", "/api/nap", &[], &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(http_full(addr, "GET", "/mine", &[], "").await.2, "mine");
    // The admin routes are not among the graphs'; they are served where asked.
    let (status, _, _) = http_full(addr, "GET", "/api/-/healthz", &[], "").await;
    assert_eq!(status, 404);
    let (status, _, body) = http_full(admin_addr, "GET", "/-/healthz", &[], "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
}
