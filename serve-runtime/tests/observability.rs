//! What the server tells about itself: Prometheus metrics after real traffic, and request
//! ids on every answer.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::bounded;
use serve_runtime::{App, Server, deployment, graph};

#[deployment(num_replicas = 2)]
#[derive(Default)]
struct Doubler;

#[deployment]
impl Doubler {
    async fn double(&self, x: i64) -> Result<i64, String> {
        if x < 0 {
            return Err(format!("{x} is negative"));
        }
        if x == 1000 {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Ok(x * 2)
    }
}

#[deployment]
async fn describe(x: i64) -> String {
    format!("twice is {x}")
}

#[graph(route_prefix = "/double", request_timeout_ms = 150)]
async fn doubling(x: i64) -> String {
    let doubler = Doubler::bind();
    let twice = doubler.double(x);
    describe(twice)
}

#[deployment(max_ongoing_requests = 1, max_queued_requests = 0)]
async fn slow(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[graph(route_prefix = "/slow")]
async fn slowly(ms: u64) -> u64 {
    slow(ms)
}

use common::http_full as request;

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

/// The values of the samples of `name` whose labels include every one of `labels`.
fn samples(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse().unwrap())
        })
        .collect()
}

fn total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name, labels).iter().sum()
}

async fn serve(app: App) -> Server {
    bounded(app.bind("127.0.0.1:0")).await.unwrap()
}

async fn metrics(addr: SocketAddr) -> String {
    let (status, head, body) = request(addr, "GET", "/-/metrics", &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    body
}

#[tokio::test]
async fn metrics_count_every_request_and_call_under_ray_serve_names() {
    let server = serve(App::new().graph(doubling).graph(slowly)).await;
    let addr = server.local_addr();
    for x in 1..=5 {
        let (status, _, body) =
            request(addr, "POST", "/double", &[], &format!("{{\"x\":{x}}}")).await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..2 {
        assert_eq!(
            request(addr, "POST", "/double", &[], r#"{"x":-1}"#).await.0,
            500
        );
    }
    assert_eq!(request(addr, "POST", "/double", &[], "{").await.0, 400);
    assert_eq!(request(addr, "GET", "/double", &[], "").await.0, 405);
    assert_eq!(request(addr, "POST", "/nowhere", &[], "{}").await.0, 404);
    // Past the graph's 150 ms: 504, and the call it cut short is counted too.
    assert_eq!(
        request(addr, "POST", "/double", &[], r#"{"x":1000}"#)
            .await
            .0,
        504
    );
    // One slot and no queue: a second request while the first runs is refused.
    let first =
        tokio::spawn(async move { request(addr, "POST", "/slow", &[], r#"{"ms":300}"#).await });
    common::eventually("the slow call runs", || {
        server.status()[1].deployments[0].replicas[0].ongoing == 1
    })
    .await;
    assert_eq!(
        request(addr, "POST", "/slow", &[], r#"{"ms":1}"#).await.0,
        503
    );
    assert_eq!(bounded(first).await.unwrap().0, 200);

    let text = metrics(addr).await;
    let http = |labels: &[(&str, &str)]| total(&text, "serve_num_http_requests_total", labels);
    let double = [("application", "doubling"), ("route", "/double")];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        double.iter().chain(extra).copied().collect()
    };
    assert_eq!(
        http(&with(&[("method", "POST"), ("status_code", "200")])),
        5.0
    );
    assert_eq!(http(&with(&[("status_code", "500")])), 2.0);
    assert_eq!(http(&with(&[("status_code", "400")])), 1.0);
    assert_eq!(
        http(&with(&[("method", "GET"), ("status_code", "405")])),
        1.0
    );
    assert_eq!(http(&with(&[("status_code", "504")])), 1.0);
    assert_eq!(http(&[("route", ""), ("status_code", "404")]), 1.0);
    let errors =
        |labels: &[(&str, &str)]| total(&text, "serve_num_http_error_requests_total", labels);
    assert_eq!(
        errors(&with(&[("error_code", "500"), ("reason", "node_failed")])),
        2.0
    );
    assert_eq!(
        errors(&with(&[("error_code", "504"), ("reason", "timeout")])),
        1.0
    );
    assert_eq!(
        errors(&with(&[("error_code", "400"), ("reason", "bad_request")])),
        1.0
    );
    assert_eq!(
        errors(&[
            ("route", "/slow"),
            ("error_code", "503"),
            ("reason", "overloaded")
        ]),
        1.0
    );
    assert_eq!(errors(&with(&[("status_code", "200")])), 0.0);
    assert_eq!(
        total(
            &text,
            "serve_http_request_latency_ms_count",
            &with(&[("status_code", "200")])
        ),
        5.0
    );
    assert!(
        total(
            &text,
            "serve_http_request_latency_ms_sum",
            &with(&[("status_code", "504")])
        ) >= 150.0
    );
    assert_eq!(
        samples(&text, "serve_num_ongoing_http_requests", &double),
        [0.0]
    );

    // Per deployment and replica.
    let of = |d: &'static str| [("application", "doubling"), ("deployment", d)];
    let calls = |d| total(&text, "serve_deployment_request_counter_total", &of(d));
    // 5 answered, 2 failed, 1 cancelled by the timeout.
    assert_eq!(calls("Doubler"), 8.0);
    assert_eq!(calls("describe"), 5.0);
    assert_eq!(
        samples(
            &text,
            "serve_deployment_request_counter_total",
            &of("Doubler")
        )
        .len(),
        2,
        "one series per replica"
    );
    assert_eq!(
        total(
            &text,
            "serve_deployment_error_counter_total",
            &of("Doubler")
        ),
        2.0
    );
    assert_eq!(
        total(
            &text,
            "serve_deployment_error_counter_total",
            &of("describe")
        ),
        0.0
    );
    assert_eq!(
        total(
            &text,
            "serve_deployment_processing_latency_ms_count",
            &of("Doubler")
        ),
        8.0
    );
    assert_eq!(
        samples(&text, "serve_deployment_replica_healthy", &of("Doubler")),
        [1.0, 1.0]
    );
    assert_eq!(
        samples(&text, "serve_replica_processing_queries", &of("Doubler")),
        [0.0, 0.0]
    );
    assert_eq!(
        samples(&text, "serve_deployment_queued_queries", &of("Doubler")),
        [0.0]
    );
    assert_eq!(
        samples(
            &text,
            "serve_deployment_replica_starts_total",
            &of("Doubler")
        ),
        [2.0]
    );
    assert_eq!(
        samples(&text, "serve_deployment_target_replicas", &of("Doubler")),
        [2.0]
    );
    for family in [
        "serve_num_http_requests",
        "serve_num_http_error_requests",
        "serve_http_request_latency_ms",
        "serve_deployment_request_counter",
        "serve_deployment_error_counter",
        "serve_deployment_processing_latency_ms",
        "serve_replica_processing_queries",
        "serve_deployment_queued_queries",
        "serve_deployment_replica_healthy",
        "serve_deployment_replica_starts",
    ] {
        assert!(
            text.contains(&format!("# HELP {family}")),
            "{family} is documented"
        );
    }
}

#[tokio::test]
async fn a_replaced_replica_keeps_its_calls_in_the_totals() {
    let server = serve(App::new().graph(doubling)).await;
    let addr = server.local_addr();
    // Enough calls that both replicas get some (each picks one of the two at random).
    for x in 1..=20 {
        assert_eq!(
            request(addr, "POST", "/double", &[], &format!("{{\"x\":{x}}}"))
                .await
                .0,
            200
        );
    }
    server.scale("doubling", "Doubler", 1).unwrap();
    common::eventually("one replica is left", || {
        server.status()[0].deployments[0]
            .replicas
            .iter()
            .filter(|r| r.state == serve_runtime::ReplicaState::Running)
            .count()
            == 1
    })
    .await;
    let text = metrics(addr).await;
    let doubler = [("deployment", "Doubler")];
    assert_eq!(
        samples(&text, "serve_deployment_request_counter_total", &doubler).len(),
        1,
        "the stopped replica's series is gone"
    );
    // The dashboard's totals still count all 20 calls, the stopped replica's included.
    let (status, _, body) = request(addr, "GET", "/-/dashboard/data", &[], "").await;
    assert_eq!(status, 200, "{body}");
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    let doubler = data["graphs"][0]["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Doubler")
        .unwrap()
        .clone();
    assert_eq!(doubler["requests"], 20, "{doubler}");
}

#[tokio::test]
async fn request_ids_are_kept_or_made_and_in_every_error_body() {
    let server = serve(App::new().graph(doubling)).await;
    let addr = server.local_addr();

    let given = [("x-request-id", "order-42/try:1")];
    let (status, head, _) = request(addr, "POST", "/double", &given, r#"{"x":2}"#).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "x-request-id"), Some("order-42/try:1"));

    let (status, head, body) = request(addr, "POST", "/double", &given, r#"{"x":-2}"#).await;
    assert_eq!(status, 500);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["request_id"], "order-42/try:1");
    assert_eq!(body["code"], "node_failed");
    assert_eq!(header(&head, "x-request-id"), Some("order-42/try:1"));

    // Made here: 32 hex digits, a new one each time, the same in header and body.
    let mut made = Vec::new();
    let too_long = "x".repeat(129);
    for headers in [&[][..], &[("x-request-id", too_long.as_str())][..]] {
        let (status, head, body) = request(addr, "POST", "/nowhere", headers, "{}").await;
        assert_eq!(status, 404);
        let id = header(&head, "x-request-id").unwrap().to_owned();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["request_id"], id.as_str());
        made.push(id);
    }
    assert_ne!(made[0], made[1]);

    // Errors before the graph runs carry it too: bad JSON, a wrong method.
    for (method, body) in [("POST", "{"), ("GET", "")] {
        let (_, head, text) = request(addr, method, "/double", &given, body).await;
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["request_id"], "order-42/try:1", "{method}: {text}");
        assert_eq!(header(&head, "x-request-id"), Some("order-42/try:1"));
    }
}

#[tokio::test]
async fn admin_routes_have_their_listener_and_readiness_is_on_both() {
    let server = serve(
        App::new()
            .graph(doubling)
            .admin_addr("127.0.0.1:0".parse().unwrap()),
    )
    .await;
    assert_ne!(server.local_addr(), server.admin_addr());
    for path in ["/-/metrics", "/metrics"] {
        let (status, _, _) = request(server.local_addr(), "GET", path, &[], "").await;
        assert_eq!(status, 404, "{path} on the public listener");
        let (status, _, body) = request(server.admin_addr(), "GET", path, &[], "").await;
        assert_eq!(status, 200, "{path} on the admin listener");
        assert!(body.contains("serve_deployment_replica_healthy{"), "{body}");
    }
    // Probes reach the readiness route where the graphs are served, too.
    let (status, _, body) = request(server.local_addr(), "GET", "/-/healthz", &[], "").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = request(server.local_addr(), "GET", "/-/status", &[], "").await;
    assert_eq!(
        status, 404,
        "only the readiness route is on the public listener"
    );
}

#[tokio::test]
async fn with_an_admin_token_metrics_need_it() {
    let server = serve(App::new().graph(doubling).admin_token("s3cret")).await;
    let addr = server.admin_addr();
    let (status, _, _) = request(addr, "GET", "/-/metrics", &[], "").await;
    assert_eq!(status, 401);
    let auth = [("authorization", "Bearer s3cret")];
    let (status, _, body) = request(addr, "GET", "/-/metrics", &auth, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE serve_deployment_request_counter_total counter"));
}
