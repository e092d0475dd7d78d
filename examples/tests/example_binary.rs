//! The built example binary: its command line, a clean shutdown, and how it holds up
//! against hostile input (a FIFO where a file should be, a decompression bomb, URLs that
//! point into this machine, an over-long URL).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Example, ImageServer, TempDir, assert_error, classify, file_url, get_text, run_example,
};
use http::StatusCode;
use serde_json::{Value, json};

// ---- the command line --------------------------------------------------------------------

#[test]
fn the_binary_refuses_a_graph_that_does_not_fit_the_cpus_it_is_given() {
    let output = common::example_command()
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
    // Integrity a quarter of a CPU for its thread replica, General a quarter for each of
    // its two, the Preprocessor half a CPU for each of its two.
    for name in ["Integrity", "General", "Preprocessor"] {
        assert!(stderr.contains(name), "{name} is not in: {stderr}");
    }
    assert!(stderr.contains("needs 1.75 CPUs"), "{stderr}");
    // Inline deployments reserve nothing, and BlockingIo's threads wait on I/O: 0 CPUs.
    assert!(!stderr.contains("Downloader"), "{stderr}");
    assert!(!stderr.contains("BlockingIo"), "{stderr}");
}

#[test]
fn the_binary_prints_the_graph_as_json() {
    let output = run_example(&["graph", "--format", "json"]);
    let spec: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(spec["name"], "content_understanding");
    assert_eq!(spec["ingress"]["route_prefix"], "/classify");
    assert_eq!(spec["ingress"]["http_adapter"], "request::adapt");
    let deployments = spec["deployments"].as_array().unwrap();
    let names: Vec<_> = deployments
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "BlockingIo",
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
    for (name, replicas, cpus) in [
        ("Integrity", 1, 0.25),
        ("General", 2, 0.25),
        ("Preprocessor", 2, 0.5),
        ("BlockingIo", 4, 0.0),
    ] {
        let o = &options(name)["options"];
        assert_eq!(o["executor"], "threads", "{name}");
        assert_eq!(o["num_replicas"], replicas, "{name}");
        assert_eq!(o["num_cpus"], cpus, "{name}");
    }
    assert_eq!(
        options("Preprocessor")["options"]["max_ongoing_requests"],
        1
    );
    assert_eq!(options("Downloader")["options"]["executor"], "inline");
    assert_eq!(options("Downloader")["handles"], json!(["BlockingIo"]));
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
    assert!(
        mermaid.contains("v_image -. handle .-> d_BlockingIo"),
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
            "BlockingIo",
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
    assert!(line("Preprocessor").contains(" threads "), "{listed}");
    assert!(line("BlockingIo").contains(" threads "), "{listed}");
    assert!(line("Downloader").contains(" inline "), "{listed}");
}

// ---- serving -------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn the_binary_serves_on_a_free_port_until_sigterm() {
    let example = Example::start_blocking(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, answer) = runtime.block_on(classify(example.addr, &file_url("leaf.png"), "plant"));
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["label"]["name"], "leaf");

    // Its metrics name every deployment of the graph, called or not.
    let (status, metrics) = runtime.block_on(get_text(example.addr, "/-/metrics"));
    assert_eq!(status, StatusCode::OK);
    let (_, status_json) = runtime.block_on(get_text(example.addr, "/-/status"));
    let graphs: Value = serde_json::from_str(&status_json).unwrap();
    let deployments = graphs[0]["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 11, "{graphs}");
    for d in deployments {
        let name = d["name"].as_str().unwrap();
        for family in [
            "serve_deployment_request_counter_total",
            "serve_deployment_processing_latency_ms_count",
            "serve_deployment_replica_healthy",
            "serve_deployment_queued_queries",
        ] {
            let series =
                format!("{family}{{application=\"content_understanding\",deployment=\"{name}\"");
            assert!(metrics.contains(&series), "no {series} in {metrics}");
        }
    }
    assert!(metrics.contains(
        "serve_num_http_requests_total{application=\"content_understanding\",route=\"/classify\",method=\"POST\",status_code=\"200\"} 1\n"
    ));

    let status = example.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}");
}

/// Sends `count` requests for `url` at once and returns their answers.
async fn at_once(example: &Example, url: &str, count: usize) -> Vec<(StatusCode, Value)> {
    let requests: Vec<_> = (0..count)
        .map(|_| {
            let (addr, url) = (example.addr, url.to_owned());
            tokio::spawn(async move { classify(addr, &url, "plant").await })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

/// Before it was checked, a FIFO was opened on tokio's blocking pool: each request held a
/// thread until a writer came, none ever did, and the process could not exit.
#[cfg(unix)]
#[tokio::test]
async fn a_fifo_under_the_file_root_is_refused_at_once_and_shutdown_stays_clean() {
    let root = TempDir::new("fifo");
    let fifo = root.path("pipe.png");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    std::fs::copy(common::image_path("leaf.png"), root.path("leaf.png")).unwrap();
    let example = Example::start(&[("CONTENT_FILE_ROOT", root.as_str().to_owned())]).await;

    let started = Instant::now();
    for answer in at_once(&example, &format!("file://{fifo}"), 8).await {
        assert!(answer.0.is_client_error() || answer.0.is_server_error());
        assert_error(
            answer,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &["is not a regular file"],
        );
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the FIFO took {took:?}");

    let leaf = format!("file://{}", root.path("leaf.png"));
    let (status, answer) = classify(example.addr, &leaf, "plant").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["label"]["name"], "leaf");

    let status = common::on_a_thread(move || example.terminate(Duration::from_secs(10))).await;
    assert!(status.success(), "{status}");
}

/// The most the bomb test lets the server's resident memory grow, from its start to its
/// peak. Measured: about 6 MiB (a debug build, eight 1.6 MiB bombs in flight; the server
/// starts at about 100 MiB, most of it the general classifier's network). Before the
/// header check, one such bomb was decoded to 256 MiB of grey and 768 MiB of RGB (a peak
/// of 1.0 GiB), and eight at once reached 8.0 GiB, still decoding on tokio's blocking pool
/// after their requests had timed out.
const BOMB_GROWTH_RSS_KIB: u64 = 48 << 10;

#[cfg(target_os = "linux")]
#[tokio::test]
async fn decompression_bombs_are_refused_before_they_take_memory() {
    let root = TempDir::new("bomb");
    let bomb = common::bomb::png_bomb(16384);
    assert!(bomb.len() < 2 << 20, "the bomb is {} bytes", bomb.len());
    std::fs::write(root.path("bomb.png"), &bomb).unwrap();
    let example = Example::start(&[("CONTENT_FILE_ROOT", root.as_str().to_owned())]).await;
    let at_start = example.peak_rss_kib();

    let url = format!("file://{}", root.path("bomb.png"));
    for answer in at_once(&example, &url, 8).await {
        assert_error(
            answer,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Preprocessor"),
            &["the image is 16384 x 16384 pixels, over the limit of 16777216 pixels"],
        );
    }
    let peak = example.peak_rss_kib();
    eprintln!("peak RSS: {peak} KiB after eight bombs ({at_start} KiB at start)");
    assert!(
        peak.saturating_sub(at_start) < BOMB_GROWTH_RSS_KIB,
        "peak RSS {peak} KiB, {at_start} KiB at start: it grew by more than {BOMB_GROWTH_RSS_KIB} KiB"
    );
}

#[tokio::test]
async fn private_hosts_are_refused_without_being_contacted() {
    // A size no port number can be, so the message cannot contain it by chance.
    let body = vec![0; 98_765];
    let images = ImageServer::start(vec![(
        "/x.png",
        common::response("200 OK", Some(98_765), &body),
    )])
    .await;
    // Started without CONTENT_ALLOW_PRIVATE_HOSTS (`Example` clears it).
    let example = Example::start(&[]).await;
    let port = images.addr.port();
    let urls = [
        format!("http://127.0.0.1:{port}/x.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/x.png"),
        // A name: resolved (from /etc/hosts), and every address it gives is checked.
        format!("http://localhost:{port}/x.png"),
    ];
    for url in urls {
        let (status, body) = classify(example.addr, &url, "plant").await;
        let message = body["error"].as_str().unwrap_or_default().to_owned();
        assert_error(
            (status, body),
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Downloader"),
            &[&format!("`{url}`: the host is not allowed")],
        );
        for secret in ["98765", "200 OK", "answered"] {
            assert!(!message.contains(secret), "`{secret}` in: {message}");
        }
    }
    assert_eq!(images.connections(), 0, "the refused host was contacted");
}

#[tokio::test]
async fn an_over_long_image_url_is_a_400() {
    let example = Example::start(&[]).await;
    let url = format!("file:///{}.png", "a".repeat(3000));
    let (status, body) = classify(example.addr, &url, "plant").await;
    assert_eq!(body["code"], "bad_request");
    let message = body["error"].as_str().unwrap_or_default().to_owned();
    assert_error(
        (status, body),
        StatusCode::BAD_REQUEST,
        None,
        &["field `image_url`: the URL is 3012 bytes long, over the limit of 2048"],
    );
    assert!(message.len() < 250, "{message}");
}

// ---- operating it: build, serve --config, deploy, status --------------------------------

#[test]
fn build_serve_deploy_and_status_operate_the_running_binary() {
    let dir = TempDir::new("operate");
    let file = dir.path("serve.yaml");
    run_example(&["build", "-o", &file]);
    let built = std::fs::read_to_string(&file).unwrap();
    let preprocessor = "      - name: Preprocessor  # struct `Preprocessor`, executor threads\n        num_replicas: 2";
    assert!(built.contains(preprocessor), "{built}");
    assert!(
        built.contains("        # bound in the graph as Segmentation::bind(\"weights/seg.bin\")\n"),
        "{built}"
    );
    std::fs::write(
        &file,
        built.replacen(preprocessor, &preprocessor.replace("2", "1"), 1),
    )
    .unwrap();

    let example = Example::start_with_args(&["--config", &file, "--num-cpus", "8"], &[]);
    let address = format!("http://{}", example.addr);
    let status = |format: &str| {
        let output = run_example(&["status", "-a", &address, "--format", format]);
        String::from_utf8(output.stdout).unwrap()
    };
    let yaml = status("yaml");
    assert!(
        yaml.starts_with("applications:\n  content_understanding:\n    status: "),
        "{yaml}"
    );
    let replicas = |json: &str| -> Value {
        let v: Value = serde_json::from_str(json).unwrap();
        v["applications"]["content_understanding"]["deployments"]["Preprocessor"]["replica_states"]
            .clone()
    };
    assert_eq!(
        replicas(&status("json")),
        json!({"RUNNING": 1}),
        "the config's count, not the code's"
    );

    let edited = std::fs::read_to_string(&file).unwrap().replacen(
        "Preprocessor  # struct `Preprocessor`, executor threads\n        num_replicas: 1",
        "Preprocessor  # struct `Preprocessor`, executor threads\n        num_replicas: 3",
        1,
    );
    std::fs::write(&file, edited).unwrap();
    let deployed = run_example(&["deploy", &file, "-a", &address]);
    let said = String::from_utf8(deployed.stdout).unwrap();
    assert!(
        said.contains("content_understanding/Preprocessor: num_replicas 1 -> 3"),
        "{said}"
    );
    let again = run_example(&["deploy", &file, "-a", &address]);
    assert_eq!(
        String::from_utf8(again.stdout).unwrap(),
        "no changes: the server already runs this config\n"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas(&status("json")) != json!({"RUNNING": 3}) {
        assert!(
            Instant::now() < deadline,
            "three Preprocessor replicas within 30 s: {}",
            status("yaml")
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A mistake is shown against the file, and nothing changes.
    let typo = dir.path("typo.yaml");
    std::fs::write(&typo, "applications:\n  - name: content_understanding\n    deployments:\n      - name: Preprocesor\n        num_replicas: 1\n").unwrap();
    let refused = common::example_command()
        .args(["deploy", &typo, "-a", &address])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("{typo} was refused (1 problem):")),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "line 4, column 15: graph `content_understanding` has no deployment named `Preprocesor`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: did you mean `Preprocessor`?"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    assert_eq!(replicas(&status("json")), json!({"RUNNING": 3}));

    // No server there: a clear error, not a hang.
    let nobody = common::example_command()
        .args(["status", "-a", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!nobody.status.success());
    assert!(
        String::from_utf8_lossy(&nobody.stderr)
            .contains("could not reach the server's admin routes at http://127.0.0.1:9")
    );
}

/// `--file-root DIR` confines `file://` URLs to DIR: a file in it is classified, one
/// outside it (the example's own images) gets the answer a missing file outside it gets,
/// and a flag that names no folder stops the start, naming it.
#[tokio::test]
async fn file_root_flag_confines_file_urls() {
    let root = TempDir::new("flag-root");
    std::fs::copy(common::image_path("leaf.png"), root.path("leaf.png")).unwrap();
    let dir = root.as_str().to_owned();
    let example =
        common::on_a_thread(move || Example::start_with_args(&["--file-root", &dir], &[])).await;

    let inside = format!("file://{}", root.path("leaf.png"));
    let (status, answer) = classify(example.addr, &inside, "plant").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["label"]["name"], "leaf");

    let outside =
        |path: String| format!("`{path}` is outside the folder this server reads files from");
    let elsewhere = common::image_path("leaf.png");
    let missing = format!("{}/missing.png", elsewhere.rsplit_once('/').unwrap().0);
    for path in [elsewhere.clone(), missing] {
        let (status, answer) = classify(example.addr, &format!("file://{path}"), "plant").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(&outside(path)),
            "{answer}"
        );
    }
    let status = common::on_a_thread(move || example.terminate(Duration::from_secs(10))).await;
    assert!(status.success(), "{status}");

    let help = String::from_utf8(run_example(&["--help"]).stdout).unwrap();
    assert!(help.contains("--file-root <DIR>"), "{help}");
    // It opens with what the binary does (its flags' doc comment), and `serve` keeps its
    // own description.
    assert!(help.starts_with("Understand an image: download"), "{help}");
    let serve = String::from_utf8(run_example(&["serve", "--help"]).stdout).unwrap();
    assert!(serve.starts_with("Serve every graph over HTTP"), "{serve}");
    assert!(serve.contains("--file-root <DIR>"), "{serve}");
    let refused = common::example_command()
        .args(["--port", "0", "--file-root", "/no/such/folder"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--file-root=`/no/such/folder` cannot be the folder"),
        "{stderr}"
    );
}
