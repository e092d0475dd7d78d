//! A split graph's behaviour under faults, measured on loopback: how calls spread over two
//! processes of one remote deployment, how long a hung process takes to be found (a
//! proxy in front of it stops forwarding, as a stopped or partitioned process does), how
//! fast calls fail once it is ejected, and how long calls take to succeed again once it
//! answers. Every process is a server of this one binary, in this process, on loopback;
//! `PeerHealth` is the default (pings every 1 s, 2 s to answer, ejection from 1 s).
//!
//!   cargo run --release -p serve-bench --bin split_faults [-- ROUNDS]
//!
//! Prints the share of calls each of two processes took, and per round the detection,
//! fail-fast and recovery times, then their medians.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serve_runtime::{App, ServeConfig, Server, StartOptions, deployment, graph};

#[path = "../../../serve-runtime/tests/common/proxy.rs"]
mod proxy;
use proxy::Proxy;

/// Which process answered: its config gives each its own `tag`.
#[deployment(remote = true)]
struct Tagged {
    tag: u32,
}

#[deployment]
impl Tagged {
    fn new(tag: u32) -> Self {
        Tagged { tag }
    }

    async fn tag(&self, _call: u64) -> u32 {
        self.tag
    }
}

#[graph]
async fn tagging(call: u64) -> u32 {
    let tagged = Tagged::bind(0);
    tagged.tag(call)
}

fn config(deployment_lines: &str) -> ServeConfig {
    let text = format!(
        "applications:\n  - name: tagging\n    deployments:\n      - name: Tagged\n{deployment_lines}"
    );
    ServeConfig::from_yaml("split.yaml", &text).expect("a valid config")
}

async fn process(tag: u32) -> Server {
    let lines = format!("        max_ongoing_requests: 1000\n        bind_args: {{tag: {tag}}}\n");
    App::new()
        .graph(tagging)
        .config(config(&lines))
        .deployments(["Tagged"])
        .bind("127.0.0.1:0")
        .await
        .expect("the process starts")
}

/// What the calling process starts with: `Tagged` at `addresses`.
fn calling(addresses: &[String]) -> StartOptions {
    let lines = format!("        address: [{}]\n", addresses.join(", "));
    StartOptions::default().config(config(&lines))
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |n| n.parse().expect("ROUNDS is a number"));
    balance().await;
    faults(rounds).await;
}

/// 8 callers at once, 20,000 calls, over two processes.
async fn balance() {
    let (a, b) = (process(1).await, process(2).await);
    let graph = serve_runtime::start_with(tagging, calling(&[a.url(), b.url()]));
    let graph = Arc::new(graph.await.expect("the caller starts"));
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let graph = Arc::clone(&graph);
            tokio::spawn(async move {
                let mut first = 0u32;
                for call in 0..2_500 {
                    first += u32::from(graph.call(call).await.expect("answered") == 1);
                }
                first
            })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        first += task.await.unwrap();
    }
    let took = started.elapsed();
    println!(
        "balance: 20000 calls from 8 callers in {:.2} s; process 1 took {:.1} %, process 2 {:.1} %",
        took.as_secs_f64(),
        f64::from(first) / 200.0,
        100.0 - f64::from(first) / 200.0
    );
}

/// Per round: stop the proxy, time the first call (detection), then calls while ejected
/// (fail fast); go on, time until a call succeeds (recovery).
async fn faults(rounds: usize) {
    let server = process(1).await;
    let proxy = Proxy::to(server.local_addr()).await;
    let graph = serve_runtime::start_with(tagging, calling(&[format!("http://{}", proxy.addr)]))
        .await
        .expect("the caller starts");
    graph.call(0).await.expect("answered through the proxy");
    let (mut detect, mut fast, mut recover) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        proxy.stop(true);
        let started = Instant::now();
        graph
            .call(1)
            .await
            .expect_err("a hung process fails the call");
        let detected = started.elapsed();
        let mut ejected = Vec::new();
        for _ in 0..100 {
            let started = Instant::now();
            graph.call(2).await.expect_err("ejected");
            ejected.push(started.elapsed());
        }
        ejected.sort();
        proxy.stop(false);
        let started = Instant::now();
        while graph.call(3).await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let recovered = started.elapsed();
        println!(
            "round {round}: detected in {:.2} s; ejected calls fail in p50 {:.1} us, p99 {:.1} us; answered again {:.2} s after it went on",
            detected.as_secs_f64(),
            ejected[50].as_secs_f64() * 1e6,
            ejected[99].as_secs_f64() * 1e6,
            recovered.as_secs_f64()
        );
        detect.push(detected);
        fast.push(ejected[50]);
        recover.push(recovered);
        // The next round starts from a peer that answers again and is not ejected.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "medians over {rounds} rounds: detection {:.2} s, ejected p50 {:.1} us, recovery {:.2} s",
        median(&mut detect).as_secs_f64(),
        median(&mut fast).as_secs_f64() * 1e6,
        median(&mut recover).as_secs_f64()
    );
}
