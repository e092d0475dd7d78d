//! A graph split across processes: a `remote = true` deployment served by one server
//! (`App::deployments`, what `serve --deployments` runs) and called over HTTP/2 by the
//! graph's own process, which the config points at it.

mod common;
#[path = "split/faults.rs"]
mod faults;
#[path = "split/tls.rs"]
mod tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serve_runtime::{App, Error, ServeConfig, Server, StartOptions, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{Bounded, http, http_text};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    text: String,
    score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[deployment(remote = true, max_ongoing_requests = 1, max_queued_requests = 0)]
pub struct Scorer {
    weight: f64,
}

#[deployment]
impl Scorer {
    fn new(weight: f64) -> Self {
        Scorer { weight }
    }

    /// Scores the text by its length; "slow" takes a while, "fail" fails.
    async fn score(&self, text: String, pid_of: bool) -> Result<Scored, String> {
        if text == "fail" {
            return Err("cannot score `fail`".into());
        }
        if text.starts_with("slow") {
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        Ok(Scored {
            score: text.len() as f64 * self.weight,
            note: pid_of.then(|| format!("{:p}", self)),
            text,
        })
    }
}

#[deployment]
async fn shout(scored: Scored) -> String {
    format!("{}={}", scored.text.to_uppercase(), scored.score)
}

#[graph(route_prefix = "/score")]
async fn scoring(text: String) -> String {
    let scorer = Scorer::bind(2.0);
    let scored = scorer.score(text, false);
    shout(scored)
}

fn config_with(address: &str) -> ServeConfig {
    let text = format!(
        "applications:\n  - name: scoring\n    deployments:\n      - name: Scorer\n        address: {address}\n"
    );
    ServeConfig::from_yaml("split.yaml", &text).expect("a valid config")
}

/// The process that runs `Scorer` for others, on `addr` (port 0: any).
async fn scorer_process(addr: SocketAddr) -> Server {
    App::new()
        .graph(scoring)
        .deployments(["Scorer"])
        .bind(addr)
        .await
        .expect("the scorer's process starts")
}

/// The process that serves the graph's route and calls `Scorer` at `scorer`.
async fn ingress_process(scorer: &Server) -> Server {
    App::new()
        .graph(scoring)
        .config(config_with(&scorer.url()))
        .bind("127.0.0.1:0")
        .await
        .expect("the ingress process starts")
}

#[tokio::test]
async fn the_graph_answers_through_the_process_that_runs_the_deployment() {
    let scorer = scorer_process("127.0.0.1:0".parse().unwrap()).await;
    let ingress = ingress_process(&scorer).await;

    let (status, body) = http(ingress.local_addr(), "POST", "/score", r#"{"text": "abc"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!("ABC=6")));

    // The scorer's process serves calls, not the graph's route; the ingress runs no
    // replica of `Scorer`, and the scorer's process ran the call.
    let (status, body) = http(scorer.local_addr(), "POST", "/score", r#"{"text": "abc"}"#).await;
    assert_eq!(status, 404, "{body}");
    let (_, apps) = http(ingress.local_addr(), "GET", "/-/applications", "").await;
    let names: Vec<&String> = apps["applications"]["scoring"]["deployments"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names, ["shout"], "the ingress runs only `shout`");
    let (_, apps) = http(scorer.local_addr(), "GET", "/-/applications", "").await;
    let deployments = &apps["applications"]["scoring"]["deployments"];
    assert_eq!(deployments.as_object().unwrap().len(), 1, "{apps}");
    assert_eq!(
        deployments["Scorer"]["replica_states"]["RUNNING"], 1,
        "{apps}"
    );
}

#[tokio::test]
async fn a_graph_started_in_process_calls_the_other_process_too() {
    let scorer = scorer_process("127.0.0.1:0".parse().unwrap()).await;
    let options = StartOptions::default().config(config_with(&scorer.url()));
    let graph = serve_runtime::start_with(scoring, options).await.unwrap();
    assert_eq!(
        graph.call("hello".into()).bounded().await.unwrap(),
        "HELLO=10"
    );
    // A failure in the other process keeps its deployment, method and cause.
    let error = graph.call("fail".into()).bounded().await.unwrap_err();
    match &error {
        Error::Node {
            deployment, method, ..
        } => assert_eq!((deployment.as_str(), *method), ("Scorer", "score")),
        other => panic!("expected the node's failure, got {other:?}"),
    }
    assert!(error.to_string().contains("cannot score `fail`"), "{error}");
}

#[tokio::test]
async fn the_serving_process_enforces_its_limits() {
    let scorer = scorer_process("127.0.0.1:0".parse().unwrap()).await;
    let ingress = ingress_process(&scorer).await;
    let addr = ingress.local_addr();
    // One call at a time and no queue: a second call while the first runs is refused
    // by the scorer's process, and the caller says 503 naming it.
    let slow =
        tokio::spawn(async move { http(addr, "POST", "/score", r#"{"text": "slow"}"#).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, body) = http(addr, "POST", "/score", r#"{"text": "quick"}"#).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "overloaded");
    assert_eq!(body["deployment"], "Scorer");
    assert_eq!(slow.await.unwrap(), (200, serde_json::json!("SLOW=8")));
}

#[tokio::test]
async fn a_stopped_process_fails_calls_fast_and_a_restarted_one_serves_again() {
    let scorer = scorer_process("127.0.0.1:0".parse().unwrap()).await;
    let at = scorer.local_addr();
    let ingress = ingress_process(&scorer).await;
    let addr = ingress.local_addr();
    assert_eq!(
        http(addr, "POST", "/score", r#"{"text": "a"}"#).await.0,
        200
    );

    scorer.shutdown().await.unwrap();
    let started = Instant::now();
    let (status, body) = http(addr, "POST", "/score", r#"{"text": "a"}"#).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "unavailable");
    assert_eq!(body["deployment"], "Scorer");
    assert!(
        body["error"].as_str().unwrap().contains("cannot reach it"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failing took {:?}",
        started.elapsed()
    );

    // The same address again: the ingress reconnects by itself.
    let _scorer = scorer_process(at).await;
    let (status, body) = http(addr, "POST", "/score", r#"{"text": "back"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!("BACK=8")));
}

#[tokio::test]
async fn calls_of_another_interface_or_encoding_are_refused() {
    let scorer = scorer_process("127.0.0.1:0".parse().unwrap()).await;
    let path = "/-/call/scoring/Scorer/score";
    // `http_text` sends JSON: not the call encoding.
    let (status, body) = http_text(scorer.local_addr(), "POST", path, &[], "{}").await;
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("wire_version"), "{body}");

    let (status, body) = raw_call(scorer.local_addr(), path, "0000000000000000", &[], &[]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains(r#""error":"interface_mismatch""#), "{body}");
    assert!(
        body.contains("the caller's `Scorer` has interface 0000000000000000 and this process's "),
        "{body}"
    );

    let other = "/-/call/scoring/shout/call";
    let (status, body) = raw_call(scorer.local_addr(), other, "x", &[], &[]).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("does not serve `shout`"), "{body}");
}

#[tokio::test]
async fn the_serving_process_stops_a_call_when_its_request_runs_out_of_time() {
    let scorer = scorer_process("127.0.0.1:0".parse().unwrap()).await;
    let addr = scorer.local_addr();
    let path = "/-/call/scoring/Scorer/score";
    // The refusal of another interface names this one.
    let (_, refusal) = raw_call(addr, path, "none", &[], &[]).await;
    let build = refusal
        .split("this process's ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .expect("the refusal names the interface")
        .to_owned();
    // `score("slow", false)`, which takes 600 ms, with 100 ms left.
    let mut args = Vec::new();
    rmp_serde::encode::write(&mut args, "slow").unwrap();
    rmp_serde::encode::write(&mut args, &false).unwrap();
    let started = Instant::now();
    let short = [("serve-timeout-ms", "100")];
    let (status, body) = raw_call(addr, path, &build, &short, &args).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body.contains("the request's time ran out in `Scorer`"),
        "{body}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "took {took:?}");
    // With time enough, the same call is answered (MessagePack, a map of the fields).
    let long = [("serve-timeout-ms", "5000")];
    let (status, body) = raw_call(addr, path, &build, &long, &args).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("slow"), "{body}");
}

/// A call with the call encoding's content type, `build` as the caller's fingerprint of
/// the deployment, more headers and an encoded body.
async fn raw_call(
    addr: SocketAddr,
    path: &str,
    build: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/vnd.serve.call.v1+msgpack\r\nserve-interface: {build}\r\n{extra}content-length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).bounded().await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn deployments_that_cannot_run_apart_are_refused() {
    let Err(error) = App::new()
        .graph(scoring)
        .deployments(["shout"])
        .bind("127.0.0.1:0")
        .await
    else {
        panic!("`shout` is not remote")
    };
    assert!(
        error
            .to_string()
            .contains("declare it `#[deployment(remote = true)]`"),
        "{error}"
    );
    let Err(error) = App::new()
        .graph(scoring)
        .deployments(["Scorr"])
        .bind("127.0.0.1:0")
        .await
    else {
        panic!("no such deployment")
    };
    assert!(
        error.to_string().contains("can run apart are: Scorer"),
        "{error}"
    );

    let text = "applications:\n  - name: scoring\n    deployments:\n      - name: shout\n        address: http://127.0.0.1:1\n      - name: Scorer\n        address: localhost\n";
    let Err(error) = App::new()
        .graph(scoring)
        .config(ServeConfig::from_yaml("bad.yaml", text).unwrap())
        .bind("127.0.0.1:0")
        .await
    else {
        panic!("both addresses are refused")
    };
    let text = error.to_string();
    assert!(text.contains("`shout` cannot run apart"), "{text}");
    assert!(text.contains("`localhost` is not an address"), "{text}");
}

#[test]
fn build_shows_the_processes_and_where_each_deployment_can_run() {
    let text = App::new().graph(scoring).build_config().unwrap();
    assert!(
        text.contains("serve --config FILE --deployments Scorer  # runs Scorer"),
        "{text}"
    );
    assert!(text.contains("# the routes; runs shout\n"), "{text}");
    assert!(
        text.contains(
            "# address: http://HOST:8000  # would run it apart: `serve --deployments Scorer` there"
        ),
        "{text}"
    );
    // With an address, the file says so, and reads back; several are a list.
    let built = |address: &str| {
        let config = config_with(address);
        App::new().graph(scoring).config(config).build_config()
    };
    let text = built("http://scorer:8000").unwrap();
    assert!(
        text.contains("address: \"http://scorer:8000\"  # runs apart"),
        "{text}"
    );
    ServeConfig::from_yaml("built.yaml", &text).expect("what build writes reads back");
    let text = built("[http://scorer-0:8000, http://scorer-1:8000/]").unwrap();
    assert!(
        text.contains(
            "address: [\"http://scorer-0:8000\", \"http://scorer-1:8000\"]  # runs apart"
        ),
        "{text}"
    );
    ServeConfig::from_yaml("built.yaml", &text).expect("what build writes reads back");
    let Err(error) = built("[http://scorer-0:8000, scorer-1]") else {
        panic!("an address without a scheme is refused")
    };
    assert!(
        error.to_string().contains("`scorer-1` is not an address"),
        "{error}"
    );
}
