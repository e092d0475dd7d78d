//! Faults between the processes of a split graph: callers that cannot prove they are one
//! of its processes, and a peer that hangs (a proxy in front of it stops forwarding, as a
//! stopped or partitioned process does).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serve_runtime::{App, CallSecret, PeerHealth, Server, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::http;
use super::common::proxy::Proxy;
use super::{config_with, raw_call, scoring};

const SECRET: &str = "split-test-secret-0123456789";

fn secret() -> CallSecret {
    CallSecret::new(SECRET).unwrap()
}

async fn scorer_with_secret() -> Server {
    App::new()
        .graph(scoring)
        .deployments(["Scorer"])
        .call_secret(secret())
        .bind("127.0.0.1:0")
        .await
        .expect("the scorer's process starts")
}

#[tokio::test]
async fn a_call_without_the_secret_gets_401_before_its_body_is_read() {
    let scorer = scorer_with_secret().await;
    let addr = scorer.local_addr();
    let path = "/-/call/scoring/Scorer/score";

    // No secret, then a wrong one: 401, and nothing about the process (not its build).
    for auth in [None, Some("Bearer split-test-secret-0123456780")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let (status, body) = raw_call(addr, path, "x", &headers, &[]).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body, r#"{"error":"unauthorized"}"#);
    }

    // 200 MB announced, none sent: the refusal comes without waiting for the body.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/vnd.serve.call.v1+msgpack\r\ncontent-length: {}\r\n\r\n",
        200u64 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer));
    read.await.expect("answered before the body").unwrap();
    assert_eq!(&answer, b"HTTP/1.1 401");

    // With the secret, the call gets past the door (a wrong build is what stops it).
    let bearer = format!("Bearer {SECRET}");
    let (status, body) = raw_call(addr, path, "x", &[("authorization", &bearer)], &[]).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn processes_with_the_same_secret_call_each_other_and_others_are_refused() {
    let scorer = scorer_with_secret().await;
    let with = App::new()
        .graph(scoring)
        .config(config_with(&scorer.url()))
        .call_secret(secret())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (status, body) = http(with.local_addr(), "POST", "/score", r#"{"text": "ab"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!("AB=4")));

    let without = App::new()
        .graph(scoring)
        .config(config_with(&scorer.url()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (status, body) = http(without.local_addr(), "POST", "/score", r#"{"text": "ab"}"#).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["deployment"], "Scorer");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("refused this process's call secret"),
        "{error}"
    );
}

#[tokio::test]
async fn serving_calls_beyond_loopback_needs_a_secret() {
    let Err(error) = App::new()
        .graph(scoring)
        .deployments(["Scorer"])
        .bind("0.0.0.0:0")
        .await
    else {
        panic!("served to the network without a secret")
    };
    let text = error.to_string();
    assert!(
        text.contains("which is not loopback, without a call secret or mutual TLS"),
        "{text}"
    );
    let short = CallSecret::new("short").unwrap_err().to_string();
    assert!(short.contains("at least 16 characters"), "{short}");
}

#[deployment]
async fn measure(text: String) -> usize {
    text.len()
}

/// A graph of the same process that needs no other one.
#[graph(route_prefix = "/measure")]
async fn measuring(text: String) -> usize {
    measure(text)
}

#[tokio::test]
async fn a_hung_peer_fails_its_calls_within_the_ping_bound_and_is_ejected_until_it_answers() {
    let scorer = scorer_with_secret().await;
    let proxy = Proxy::to(scorer.local_addr()).await;
    let health = PeerHealth::default()
        .pings(Duration::from_millis(200), Duration::from_millis(300))
        .ejection(3, Duration::from_millis(500));
    let ingress = App::new()
        .graph(scoring)
        .graph(measuring)
        .config(config_with(&format!("http://{}", proxy.addr)))
        .call_secret(secret())
        .peer_health(health)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = ingress.local_addr();
    let score = || http(addr, "POST", "/score", r#"{"text": "abc"}"#);
    assert_eq!(score().await, (200, serde_json::json!("ABC=6")));

    proxy.stop(true);
    // The request timeout is a minute: the unanswered pings fail the call long before.
    let started = Instant::now();
    let (status, body) = score().await;
    let detected = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["deployment"], "Scorer", "{body}");
    assert!(
        detected < Duration::from_secs(5),
        "detection took {detected:?}"
    );

    // Ejected: the next calls fail at once, naming why; the other graph never notices.
    let started = Instant::now();
    let (status, body) = score().await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("is ejected after failing"), "{error}");
    assert!(started.elapsed() < detected, "{:?}", started.elapsed());
    let (status, body) = http(addr, "POST", "/measure", r#"{"text": "four"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!(4)));

    // Going on, it is found again by a probe and calls are answered.
    proxy.stop(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while score().await.0 != 200 {
        assert!(Instant::now() < deadline, "the peer was never found again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(score().await, (200, serde_json::json!("ABC=6")));
}

/// Opens `count` calls on one HTTP/2 connection and resets each at once, as a caller
/// whose requests time out does; then sends one more call on the same connection and
/// returns its status, or the error that ended the connection.
async fn burst_of_resets_then_a_call(addr: SocketAddr, count: usize) -> Result<u16, h2::Error> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await?;
    tokio::spawn(connection);
    let mut client = client.ready().await?;
    let call = || {
        http::Request::post(format!("http://{addr}/-/call/scoring/Scorer/score"))
            .header("content-type", "text/plain")
            .body(())
            .unwrap()
    };
    for _ in 0..count {
        let (_response, mut body) = client.send_request(call(), false)?;
        body.send_reset(h2::Reason::CANCEL);
        client = client.ready().await?;
    }
    let (response, _) = client.send_request(call(), true)?;
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("an answer or an error, not a hang")?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn a_burst_of_cancelled_calls_does_not_close_the_connection_under_the_others() {
    let scorer = App::new()
        .graph(scoring)
        .deployments(["Scorer"])
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // 415: the call reached the route, on the connection that carried 200 resets.
    let status = burst_of_resets_then_a_call(scorer.local_addr(), 200).await;
    assert_eq!(status.unwrap(), 415);

    // The control: a public listener keeps its guard, and the same burst trips it.
    let public = App::new().graph(scoring).bind("127.0.0.1:0").await.unwrap();
    let tripped = burst_of_resets_then_a_call(public.local_addr(), 200).await;
    assert!(tripped.is_err(), "{tripped:?}");
}

/// A process running `Scorer` whose weight tells its answers apart from another's.
async fn scorer_weighing(weight: f64) -> Server {
    let text = format!(
        "applications:\n  - name: scoring\n    deployments:\n      - name: Scorer\n        max_ongoing_requests: 100\n        max_queued_requests: 100\n        bind_args: {{weight: {weight}}}\n"
    );
    App::new()
        .graph(scoring)
        .config(serve_runtime::ServeConfig::from_yaml("scorer.yaml", &text).unwrap())
        .deployments(["Scorer"])
        .bind("127.0.0.1:0")
        .await
        .expect("the scorer's process starts")
}

#[tokio::test]
async fn calls_are_balanced_over_every_process_and_status_lists_them() {
    let (two, three) = (scorer_weighing(2.0).await, scorer_weighing(3.0).await);
    let text = format!(
        "applications:\n  - name: scoring\n    deployments:\n      - name: Scorer\n        address: [{}, {}]\n",
        two.url(),
        three.url()
    );
    let graph = serve_runtime::start_with(
        scoring,
        serve_runtime::StartOptions::default()
            .config(serve_runtime::ServeConfig::from_yaml("split.yaml", &text).unwrap()),
    )
    .await
    .unwrap();
    // Eight callers at a time, 400 calls: one HTTP/2 connection each way, yet both
    // processes take their share.
    let graph = Arc::new(graph);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let graph = Arc::clone(&graph);
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..50 {
                answers.push(graph.call("abc".into()).await.unwrap());
            }
            answers
        }));
    }
    let mut by_two = 0;
    for task in tasks {
        for answer in task.await.unwrap() {
            match answer.as_str() {
                "ABC=6" => by_two += 1,
                "ABC=9" => {}
                other => panic!("{other}"),
            }
        }
    }
    let share = f64::from(by_two) / 400.0;
    assert!(
        (0.3..=0.7).contains(&share),
        "the first process took {share:.2}"
    );

    let status = graph.status();
    let remote = &status.remote[0];
    assert_eq!(remote.name, "Scorer");
    let processes: Vec<(&str, &str)> = remote
        .processes
        .iter()
        .map(|p| (p.address.as_str(), p.state.as_str()))
        .collect();
    let (a, b) = (two.url(), three.url());
    assert_eq!(
        processes,
        [(a.as_str(), "reachable"), (b.as_str(), "reachable")]
    );

    // One of them gone: the calls all go to the other, none fails (a call whose
    // connection is refused is sent to another process), and status says why.
    two.shutdown().await.unwrap();
    for _ in 0..50 {
        assert_eq!(graph.call("abc".into()).await.unwrap(), "ABC=9");
    }
    let status = graph.status();
    let gone = &status.remote[0].processes[0];
    assert_eq!(
        (gone.state.as_str(), gone.fault.as_deref()),
        ("ejected", Some("unreachable"))
    );
    assert!(status.remote[0].is_reachable());
    assert!(status.degraded().is_empty());
}

#[tokio::test]
async fn a_graph_whose_remote_deployment_is_down_is_ready_but_degraded() {
    let scorer = scorer_with_secret().await;
    let url = scorer.url();
    scorer.shutdown().await.unwrap();
    let ingress = App::new()
        .graph(scoring)
        .graph(measuring)
        .config(config_with(&url))
        .call_secret(secret())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = ingress.local_addr();
    let (status, body) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"status": "ok"})),
        "untried is not down"
    );
    for _ in 0..4 {
        assert_eq!(
            http(addr, "POST", "/score", r#"{"text": "a"}"#).await.0,
            503
        );
    }
    let (status, body) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["degraded"], serde_json::json!(["scoring/Scorer"]));
    let (_, apps) = http(addr, "GET", "/-/applications", "").await;
    let scoring = &apps["applications"]["scoring"];
    assert_eq!(
        scoring["remote_deployments"]["Scorer"]["status"], "UNREACHABLE",
        "{apps}"
    );
    assert!(
        scoring["message"]
            .as_str()
            .unwrap()
            .contains("`Scorer`: no process of it takes calls"),
        "{apps}"
    );
    let process = &scoring["remote_deployments"]["Scorer"]["processes"][0];
    assert_eq!(process["state"], "ejected", "{process}");
    assert_eq!(process["fault"], "unreachable", "{process}");
    // The other graph is served all along.
    let (status, body) = http(addr, "POST", "/measure", r#"{"text": "four"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!(4)));

    // Three calls refused, then ejected: the fourth failed without a call.
    let (_, metrics) = super::common::http_text(addr, "GET", "/-/metrics", &[], "").await;
    let process = format!("application=\"scoring\",deployment=\"Scorer\",process=\"{url}\"");
    let failures =
        format!("serve_remote_call_failure_counter_total{{{process},reason=\"unreachable\"}} 3\n");
    assert!(metrics.contains(&failures), "{metrics}");
    assert!(
        metrics.contains(&format!("serve_remote_process_ejected{{{process}}} 1\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("serve_remote_call_counter_total{{{process}}} 0\n")),
        "{metrics}"
    );
}
