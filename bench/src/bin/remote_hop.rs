//! One hop to another process, measured: the same one-node graph called in-process
//! (`start`) with its deployment in this process, then with it in a child process on
//! loopback (`serve --deployments`, the config's `address`). Calls are sequential, so each
//! time is one request's latency; the difference of the medians is the hop.
//!
//!   cargo run --release -p serve-bench --bin remote_hop [-- CALLS]
//!
//! Prints p50 and p99 of both and of the difference, in microseconds; and, for the floor
//! under it, the same sequential calls as bare HTTP/2 requests (hyper's client and server,
//! the same transport, no framework) to a child process that echoes their body.

use std::time::{Duration, Instant};

use serve_runtime::{App, ServeConfig, StartOptions, deployment, graph};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Item {
    id: u64,
    text: String,
    scores: Vec<f32>,
}

/// A light node: what is measured is the hop, not its work.
#[deployment(remote = true)]
async fn echo(item: Item) -> Item {
    item
}

#[graph]
async fn hop(item: Item) -> Item {
    echo(item)
}

const CHILD: &str = "--serve-echo";
const BARE_CHILD: &str = "--bare-echo";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The serving children run as servers do, on the multi-threaded runtime; the caller
    // on one thread, so that its own scheduling adds nothing to what is measured.
    let serving = matches!(args.get(1).map(String::as_str), Some(CHILD | BARE_CHILD));
    let runtime = if serving {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    runtime.expect("a runtime").block_on(run(args));
}

async fn run(args: Vec<String>) {
    if args.get(1).map(String::as_str) == Some(BARE_CHILD) {
        bare_echo().await;
        return;
    }
    if args.get(1).map(String::as_str) == Some(CHILD) {
        let server = App::new()
            .graph(hop)
            .deployments(["echo"])
            .bind("127.0.0.1:0")
            .await
            .expect("the child starts");
        println!("{}", server.local_addr());
        server.wait().await.expect("serves");
        return;
    }
    let calls: usize = args
        .get(1)
        .map_or(20_000, |n| n.parse().expect("CALLS is a number"));
    let item = Item {
        id: 7,
        text: "a short caption for the image".to_owned(),
        scores: vec![0.25; 16],
    };

    let local = serve_runtime::start(hop).await.expect("starts in process");
    let here = time(calls, || local.call(item.clone())).await;

    let (mut child, line) = spawn_child(CHILD);
    let text = format!(
        "applications:\n  - name: hop\n    deployments:\n      - name: echo\n        address: http://{}\n",
        line.trim()
    );
    let config = ServeConfig::from_yaml("hop.yaml", &text).expect("a valid config");
    let remote = serve_runtime::start_with(hop, StartOptions::default().config(config))
        .await
        .expect("starts against the child");
    let apart = time(calls, || remote.call(item.clone())).await;
    let _ = child.kill();
    let _ = child.wait();

    let (mut bare, addr) = spawn_child(BARE_CHILD);
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build::<_, http_body_util::Full<bytes::Bytes>>(connector);
    let uri: http::Uri = format!("http://{}/echo", addr.trim()).parse().unwrap();
    let body = bytes::Bytes::from(vec![7u8; 100]);
    let floor = time(calls, || {
        let request = http::Request::post(uri.clone())
            .body(http_body_util::Full::new(body.clone()))
            .unwrap();
        let client = client.clone();
        async move {
            let response = client.request(request).await.map_err(|e| e.to_string())?;
            http_body_util::BodyExt::collect(response.into_body())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        }
    })
    .await;
    let _ = bare.kill();
    let _ = bare.wait();

    let (p50_here, p99_here) = (here[calls / 2], here[calls * 99 / 100]);
    let (p50_apart, p99_apart) = (apart[calls / 2], apart[calls * 99 / 100]);
    println!("calls={calls} (sequential, after {WARM_UP} warm-up calls each)");
    println!(
        "in process:    p50 {:>7.1} us  p99 {:>7.1} us",
        us(p50_here),
        us(p99_here)
    );
    println!(
        "other process: p50 {:>7.1} us  p99 {:>7.1} us",
        us(p50_apart),
        us(p99_apart)
    );
    println!(
        "bare HTTP/2:   p50 {:>7.1} us  p99 {:>7.1} us  (hyper to hyper, same transport)",
        us(floor[calls / 2]),
        us(floor[calls * 99 / 100])
    );
    println!(
        "other process / bare HTTP/2 at p50: {:.2}",
        apart[calls / 2].as_secs_f64() / floor[calls / 2].as_secs_f64()
    );
    println!(
        "hop p50={:.1}us p99={:.1}us",
        us(p50_apart.saturating_sub(p50_here)),
        us(p99_apart.saturating_sub(p99_here))
    );
}

const WARM_UP: usize = 1000;

/// Starts this binary again as `mode`, and reads the address it prints.
fn spawn_child(mode: &str) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(mode)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the child process starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .expect("the child says where it listens");
    (child, line)
}

/// A bare HTTP/2 (h2c) server that answers every request with its body.
async fn bare_echo() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                |request: http::Request<hyper::body::Incoming>| async move {
                    let body = http_body_util::BodyExt::collect(request.into_body())
                        .await?
                        .to_bytes();
                    Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(body)))
                },
            );
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Sorted times of `calls` sequential calls.
async fn time<F, Fut, T, E>(calls: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    for _ in 0..WARM_UP {
        call().await.expect("the call succeeds");
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await.expect("the call succeeds");
        times.push(started.elapsed());
    }
    times.sort();
    times
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
