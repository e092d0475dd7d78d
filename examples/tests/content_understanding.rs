//! The content-understanding example end to end: real HTTP requests over loopback, the
//! same graph called in-process, and the built example binary.

#[path = "../content_understanding/pipeline/mod.rs"]
mod pipeline;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pipeline::download::MAX_DOWNLOAD_BYTES;
use pipeline::report::Report;
use serde_json::{Value, json};
use serve_runtime::{App, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---- helpers ---------------------------------------------------------------------------

fn image_path(name: &str) -> String {
    format!(
        "{}/content_understanding/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn file_url(name: &str) -> String {
    format!("file://{}", image_path(name))
}

async fn serve() -> Server {
    App::new()
        .graph(pipeline::content_understanding)
        .bind("127.0.0.1:0")
        .await
        .expect("the example graph starts")
}

/// POSTs `body` to the service and returns the status and the JSON it answered.
async fn post(addr: SocketAddr, body: Value) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::post(format!("http://{addr}/classify"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::from(body.to_string()))
        .unwrap();
    let response = client.request(request).await.expect("the service answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "the answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

async fn classify(server: &Server, url: &str, category: &str) -> (StatusCode, Value) {
    post(
        server.local_addr(),
        json!({ "image_url": url, "category": category }),
    )
    .await
}

async fn report(server: &Server, url: &str, category: &str) -> Report {
    let (status, body) = classify(server, url, category).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("the body is a report")
}

/// Asserts a JSON error: its status, the deployment it names, and that its message
/// contains each of `needles`.
fn assert_error(
    (status, body): (StatusCode, Value),
    expected: StatusCode,
    deployment: Option<&str>,
    needles: &[&str],
) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["deployment"].as_str(), deployment, "{body}");
    let message = body["error"].as_str().expect("an `error` message");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
}

/// An HTTP/1.1 server on loopback answering each path with raw bytes, so tests can also
/// send what a well-behaved server would not: a length it never sends, or no length.
async fn image_server(routes: Vec<(&'static str, Vec<u8>)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let routes = Arc::clone(&routes);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default();
                let not_found = response("404 Not Found", Some(0), b"");
                let reply = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or(&not_found, |(_, reply)| reply);
                // The downloader hangs up early on purpose in the size tests.
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A response that closes the connection; `length: None` sends no Content-Length, so the
/// body runs to the close.
fn response(status: &str, length: Option<u64>, body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    if let Some(length) = length {
        head += &format!("content-length: {length}\r\n");
    }
    head += "\r\n";
    [head.as_bytes(), body].concat()
}

fn ok(body: &[u8]) -> Vec<u8> {
    response("200 OK", Some(body.len() as u64), body)
}

// ---- over HTTP ---------------------------------------------------------------------------

#[tokio::test]
async fn a_file_url_is_classified_by_the_categorys_classifier() {
    let server = serve().await;
    let leaf = report(&server, &file_url("leaf.png"), "plant").await;
    assert_eq!(leaf.label.classifier, "plant");
    assert_eq!(leaf.label.name, "leaf");
    assert!(leaf.label.confidence > 0.5, "{leaf:?}");
    assert_eq!((leaf.width, leaf.height), (96, 96));
    assert!(leaf.foreground > 0.3 && leaf.foreground < 1.0, "{leaf:?}");
    assert!(leaf.sharpness > 0.1 && leaf.sharpness <= 1.0, "{leaf:?}");
    assert!(leaf.warnings.is_empty(), "{:?}", leaf.warnings);
    assert_eq!(leaf.models.segmentation, "weights/seg.bin");
    assert_eq!(leaf.models.integrity, "weights/int.bin");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_http_url_gives_the_same_report_as_the_file() {
    let apple = std::fs::read(image_path("apple.jpg")).unwrap();
    let images = image_server(vec![("/apple.jpg", ok(&apple))]).await;
    let server = serve().await;
    let over_http = report(&server, &format!("http://{images}/apple.jpg"), "fruit").await;
    let from_file = report(&server, &file_url("apple.jpg"), "fruit").await;
    assert_eq!(over_http, from_file);
    assert_eq!(over_http.label.name, "apple");
    let bbox = over_http.bbox.expect("the apple stands out from the white");
    assert!(bbox.x > 0 && bbox.x + bbox.width < 96, "{bbox:?}");
}

#[tokio::test]
async fn the_dispatcher_picks_the_classifier_by_category() {
    let server = serve().await;
    let car = file_url("car.png");
    for (category, classifier) in [
        ("car", "car"),
        ("fruit", "fruit"),
        (" Plant ", "plant"),
        ("animal", "general"),
        ("", "general"),
    ] {
        let answer = report(&server, &car, category).await;
        assert_eq!(answer.label.classifier, classifier, "category `{category}`");
        assert_eq!((answer.width, answer.height), (128, 96));
    }
    let answer = report(&server, &car, "car").await;
    assert_eq!(answer.label.name, "silver car");
}

#[tokio::test]
async fn a_missing_file_fails_in_the_downloader_naming_the_path() {
    let server = serve().await;
    let missing = image_path("no-such-image.png");
    let answer = classify(&server, &format!("file://{missing}"), "plant").await;
    assert_eq!(answer.1["code"], "node_failed");
    assert_error(
        answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("Downloader"),
        &[&format!("cannot read `{missing}`"), "No such file"],
    );
}

#[tokio::test]
async fn undecodable_bytes_fail_in_the_preprocessor() {
    let images = image_server(vec![("/notes.txt", ok(b"this is not an image"))]).await;
    let server = serve().await;
    let answer = classify(&server, &format!("http://{images}/notes.txt"), "plant").await;
    assert_error(
        answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("Preprocessor"),
        &["cannot decode the 20 downloaded bytes as a PNG or JPEG image"],
    );
}

#[tokio::test]
async fn http_failures_name_the_url_and_the_cause() {
    let images = image_server(vec![]).await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let server = serve().await;
    let cases = [
        (
            format!("http://{images}/gone.png"),
            "answered 404 Not Found; expected a 2xx status",
        ),
        (format!("http://{closed}/leaf.png"), "Connection refused"),
        (
            "https://example.com/leaf.png".to_owned(),
            "only http:// and file:// URLs are supported",
        ),
    ];
    for (url, cause) in cases {
        let answer = classify(&server, &url, "plant").await;
        assert_error(
            answer,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &[&format!("`{url}`"), cause],
        );
    }
}

#[tokio::test]
async fn downloads_over_the_limit_are_refused() {
    let over = MAX_DOWNLOAD_BYTES + 1;
    let images = image_server(vec![
        ("/declared", response("200 OK", Some(over), b"")),
        (
            "/streamed",
            response("200 OK", None, &vec![0; over as usize]),
        ),
    ])
    .await;
    let server = serve().await;
    for path in ["/declared", "/streamed"] {
        let answer = classify(&server, &format!("http://{images}{path}"), "car").await;
        assert_error(
            answer,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &[&format!(
                "larger than the download limit of {MAX_DOWNLOAD_BYTES} bytes"
            )],
        );
    }
}

#[tokio::test]
async fn a_request_of_the_wrong_shape_is_a_400_naming_the_field() {
    let server = serve().await;
    let addr = server.local_addr();
    let answer = post(addr, json!({ "image_url": 3, "category": "plant" })).await;
    assert_eq!(answer.1["code"], "bad_request");
    assert_error(
        answer,
        StatusCode::BAD_REQUEST,
        None,
        &["field `image_url`", "expected a string"],
    );
    let answer = post(addr, json!({ "image_url": file_url("leaf.png") })).await;
    assert_error(
        answer,
        StatusCode::BAD_REQUEST,
        None,
        &["missing field `category`"],
    );
}

// ---- in-process ---------------------------------------------------------------------------

#[tokio::test]
async fn an_in_process_call_gives_the_same_report_as_http() -> Result<(), serve_runtime::Error> {
    let url = file_url("car.png");
    let graph = serve_runtime::start(pipeline::content_understanding).await?;
    let in_process = graph.call((url.clone(), "car".to_owned())).await?;
    let server = serve().await;
    assert_eq!(in_process, report(&server, &url, "car").await);
    Ok(())
}

// ---- the example binary -----------------------------------------------------------------

/// The binary `cargo test` builds for the example, next to this test's own `deps` folder.
fn example_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile_dir = test.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir.join("examples").join(format!(
        "content_understanding{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        binary.is_file(),
        "the example binary is not at {}: `cargo test -p serve-examples` builds it, a run \
         filtered with `--test` does not; build it with \
         `cargo build -p serve-examples --example content_understanding`",
        binary.display()
    );
    binary
}

fn run_example(args: &[&str]) -> Output {
    let output = Command::new(example_binary()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "`content_understanding {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_binary_refuses_a_graph_that_does_not_fit_the_cpus_it_is_given() {
    let output = Command::new(example_binary())
        .args(["--port", "0", "--num-cpus", "0.5"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "graph `content_understanding` does not fit on this machine (0.5 CPUs, 0 GPUs)"
        ),
        "{stderr}"
    );
    // Integrity and General each reserve half a CPU for their thread replica.
    assert!(
        stderr.contains("Integrity") && stderr.contains("General"),
        "{stderr}"
    );
    assert!(stderr.contains("needs 1 CPUs"), "{stderr}");
    assert!(
        !stderr.contains("Downloader"),
        "inline deployments reserve nothing: {stderr}"
    );
}

#[test]
fn the_binary_prints_the_graph_as_json() {
    let output = run_example(&["graph", "--format", "json"]);
    let spec: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(spec["name"], "content_understanding");
    assert_eq!(spec["ingress"]["route_prefix"], "/classify");
    let deployments = spec["deployments"].as_array().unwrap();
    let names: Vec<_> = deployments
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Downloader",
            "Preprocessor",
            "Segmentation",
            "Integrity",
            "Fruit",
            "Car",
            "Plant",
            "General",
            "Dispatcher",
            "aggregate"
        ]
    );
    let options = |name: &str| &deployments[names.iter().position(|n| *n == name).unwrap()];
    assert_eq!(options("Segmentation")["options"]["num_replicas"], 2);
    assert_eq!(options("Integrity")["options"]["num_cpus"], 0.5);
    assert_eq!(options("Integrity")["options"]["executor"], "threads");
    assert_eq!(options("General")["options"]["num_cpus"], 0.5);
    assert_eq!(options("General")["options"]["executor"], "threads");
    assert_eq!(options("Downloader")["options"]["executor"], "inline");
    assert_eq!(
        options("Dispatcher")["handles"],
        json!(["Fruit", "Car", "Plant", "General"])
    );
}

#[test]
fn the_binary_prints_mermaid_help_and_its_deployments() {
    let mermaid = String::from_utf8(run_example(&["graph", "--format", "mermaid"]).stdout).unwrap();
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("v_processed --> v_seg"), "{mermaid}");
    assert!(
        mermaid.contains("v_label -. handle .-> d_General"),
        "{mermaid}"
    );

    let help = String::from_utf8(run_example(&["--help"]).stdout).unwrap();
    assert!(help.contains("Usage: content_understanding"), "{help}");
    assert!(help.contains("--port"), "{help}");

    let listed = String::from_utf8(run_example(&["deployments"]).stdout).unwrap();
    let names: Vec<_> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "Car",
            "Dispatcher",
            "Downloader",
            "Fruit",
            "General",
            "Integrity",
            "Plant",
            "Preprocessor",
            "Segmentation",
            "aggregate"
        ]
    );
    let line = |name: &str| listed.lines().find(|l| l.starts_with(name)).unwrap();
    assert!(line("Integrity").contains(" threads "), "{listed}");
    assert!(line("Downloader").contains(" inline "), "{listed}");
}

#[cfg(unix)]
#[test]
fn the_binary_serves_on_a_free_port_until_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// Kills the child if the test fails before it exits.
    struct Running(Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let mut child = Running(
        Command::new(example_binary())
            .args(["--port", "0"])
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // A thread drains the log, so the child never blocks on a full pipe.
    let (lines_tx, lines) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(wait) else {
            panic!("no `ready on http://...` in the log within a minute: {log:#?}");
        };
        if let Some(rest) = line.split("ready on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        log.push(line);
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body = json!({ "image_url": file_url("leaf.png"), "category": "plant" });
    let (status, answer) = runtime.block_on(post(addr, body));
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["label"]["name"], "leaf");

    let pid = child.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 30s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
