//! The example split across processes, for real: `General` (the network) in a process of
//! its own, the rest in the graph's process, both the built example binary on loopback;
//! and the Kubernetes manifests `build --target kubernetes` writes for it, checked against
//! Kubernetes's own schemas.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Example, TempDir, classify, file_url, on_a_thread, run_example};
use http::StatusCode;
use serde_json::Value;

/// How long any one request may take here: a hang is a failure, not a slow answer.
const NO_HANG: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What one request of the steady traffic got, and when it was sent.
#[derive(Clone, Debug)]
struct Outcome {
    sent: Instant,
    photo: bool,
    status: StatusCode,
    answer: Value,
    took: Duration,
}

#[tokio::test]
async fn killing_the_network_process_fails_only_its_requests_until_it_is_back() {
    let port = free_port();
    let dir = TempDir::new("split");
    let config = dir.path("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "applications:\n  - name: content_understanding\n    deployments:\n      - name: General\n        address: http://127.0.0.1:{port}\n"
        ),
    )
    .unwrap();
    let images = common::image_path("");
    let port_text = port.to_string();
    let general_args = [
        "serve",
        "--config",
        config.as_str(),
        "--deployments",
        "General",
        "--port",
        port_text.as_str(),
    ]
    .map(str::to_owned);
    let start_general = move || {
        let args = general_args.clone();
        on_a_thread(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Example::start_with_args(&args, &[])
        })
    };
    let general = start_general().await;
    let graph_config = config.clone();
    let graph = on_a_thread(move || {
        Example::start_with_args(&["--config", &graph_config, "--file-root", &images], &[])
    })
    .await;
    let addr = graph.addr;

    // Steady traffic: a photo (for `General`) and a fruit drawing (for `Fruit`, in the
    // graph's process) in turn, one after another, until told to stop.
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (outcomes, stop) = (Arc::clone(&outcomes), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut photo = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                photo = !photo;
                let (url, category) = if photo {
                    (file_url("coffee.png"), "photo")
                } else {
                    (file_url("apple.jpg"), "fruit")
                };
                let sent = Instant::now();
                let (status, answer) =
                    tokio::time::timeout(NO_HANG, classify(addr, &url, category))
                        .await
                        .unwrap_or_else(|_| panic!("a request hung for {NO_HANG:?}"));
                outcomes.lock().unwrap().push(Outcome {
                    sent,
                    photo,
                    status,
                    answer,
                    took: sent.elapsed(),
                });
            }
        })
    };
    let count = |outcomes: &Arc<Mutex<Vec<Outcome>>>| outcomes.lock().unwrap().len();
    let wait_for = |n: usize| {
        let outcomes = Arc::clone(&outcomes);
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while count(&outcomes) < n {
                assert!(Instant::now() < deadline, "the traffic stalled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    wait_for(10).await;
    let killed_at = Instant::now();
    on_a_thread(move || general.kill()).await;
    let killed = Instant::now();
    let before_kill = count(&outcomes);
    wait_for(before_kill + 10).await;
    let restarted_at = Instant::now();
    let _general = start_general().await;
    let after_restart = count(&outcomes);
    wait_for(after_restart + 10).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.await.unwrap();

    let outcomes = outcomes.lock().unwrap().clone();
    for o in &outcomes {
        assert!(o.took < NO_HANG, "{o:?}");
        if !o.photo {
            // `Fruit` runs in the graph's process: it never noticed.
            assert_eq!(o.status, StatusCode::OK, "{o:?}");
            assert_eq!(o.answer["label"]["classifier"], "fruit", "{o:?}");
        }
    }
    // The photos sent and answered between `from` and `to`.
    let photos = |from: Instant, to: Instant| {
        outcomes
            .iter()
            .filter(move |o| o.photo && o.sent >= from && o.sent + o.took <= to)
    };
    let far_past = killed_at - Duration::from_secs(3600);
    assert!(photos(far_past, killed_at).count() >= 3, "{outcomes:#?}");
    for o in photos(far_past, killed_at) {
        assert_eq!(o.status, StatusCode::OK, "before the kill: {o:?}");
        assert_eq!(o.answer["label"]["name"], "espresso", "{o:?}");
    }
    // Sent after the process was gone and before it was started again: 503, naming it,
    // at once.
    let down: Vec<&Outcome> = photos(killed, restarted_at).collect();
    assert!(
        !down.is_empty(),
        "no photo was sent while `General` was down"
    );
    for o in &down {
        assert_eq!(o.status, StatusCode::SERVICE_UNAVAILABLE, "{o:?}");
        assert_eq!(o.answer["code"], "unavailable", "{o:?}");
        assert_eq!(o.answer["deployment"], "General", "{o:?}");
        let message = o.answer["error"].as_str().unwrap();
        assert!(
            message.contains("deployment `General` is unavailable"),
            "{o:?}"
        );
        assert!(o.took < Duration::from_secs(3), "failing took {:?}", o.took);
    }
    // Once it is back, with no restart of the graph's process, photos are answered again.
    let last: Vec<&Outcome> = outcomes.iter().rev().filter(|o| o.photo).take(3).collect();
    for o in last {
        assert_eq!(o.status, StatusCode::OK, "after the restart: {o:?}");
        assert_eq!(o.answer["label"]["name"], "espresso", "{o:?}");
    }
}

const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

#[test]
fn the_kubernetes_manifests_of_the_example_pass_kubernetes_validate() {
    let dir = TempDir::new("kubernetes");
    let out = run_example(&["build", "--target", "kubernetes", "-o", dir.as_str()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("kubectl apply -f"), "{said}");
    let read = |name: &str| std::fs::read_to_string(dir.path(name)).unwrap();

    // One process for the graph, one for the network; the config points at its Service.
    let general = read("general.yaml");
    assert!(
        general.contains("- \"--deployments\"\n            - General\n"),
        "{general}"
    );
    assert!(
        general.contains("cpu: \"500m\""),
        "two replicas of a quarter CPU: {general}"
    );
    assert!(
        general.contains("name: content-understanding-general\n"),
        "{general}"
    );
    let ingress = read("ingress.yaml");
    assert!(!ingress.contains("--deployments"), "{ingress}");
    // Preprocessor 2 x 0.5 and Integrity 0.25: what the graph's process reserves.
    assert!(ingress.contains("cpu: \"1250m\""), "{ingress}");
    let config = read("configmap.yaml");
    assert!(
        config.contains("address: \"http://content-understanding-general:8000\""),
        "{config}"
    );
    assert!(read("Dockerfile").contains("--example content_understanding"));

    let yaml: Vec<String> = ["configmap.yaml", "ingress.yaml", "general.yaml"]
        .iter()
        .map(|n| dir.path(n))
        .collect();
    let documents: usize = ["configmap.yaml", "ingress.yaml", "general.yaml"]
        .iter()
        .map(|n| 1 + read(n).lines().filter(|l| *l == "---").count())
        .sum();
    let mut command = Command::new("kubernetes-validate");
    command.arg("--strict");
    for version in KUBERNETES_VERSIONS {
        command.args(["--kubernetes-version", version]);
    }
    let output = command.args(&yaml).output().unwrap_or_else(|e| {
        panic!("could not run `kubernetes-validate` ({e}); install it with `pip install kubernetes-validate==1.37.0`")
    });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    // It exits 0 for a kind it has no schema for: every document must have passed.
    let passed = report
        .lines()
        .filter(|l| l.starts_with("INFO ") && l.contains(" passed "))
        .count();
    assert_eq!(passed, documents * KUBERNETES_VERSIONS.len(), "{report}");
    assert!(
        !report.contains("WARN") && !report.contains("ERROR"),
        "{report}"
    );
}
