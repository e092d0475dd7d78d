//! The example split across processes, for real: `General` (the network) in a process of
//! its own, the rest in the graph's process, both the built example binary on loopback;
//! and the Kubernetes manifests `build --target kubernetes` writes for it, checked against
//! the Kubernetes API's types.

mod common;
#[path = "../../serve-runtime/src/kubernetes/tests/schema.rs"]
mod schema;

use std::net::TcpListener;
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
    // Until a probe finds it back (its ejection runs out: 4 s at the most), photos fail
    // fast; then they are answered again.
    let recovered = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let back = outcomes.lock().unwrap().iter().find_map(|o| {
                (o.photo && o.sent >= restarted_at && o.status == StatusCode::OK)
                    .then(|| o.sent + o.took)
            });
            if let Some(at) = back {
                break at;
            }
            assert!(Instant::now() < deadline, "photos never recovered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
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
    let recovery = recovered - restarted_at;
    assert!(
        recovery < Duration::from_secs(10),
        "recovery took {recovery:?}"
    );
    let last: Vec<&Outcome> = outcomes.iter().rev().filter(|o| o.photo).take(3).collect();
    for o in last {
        assert_eq!(o.status, StatusCode::OK, "after the restart: {o:?}");
        assert_eq!(o.answer["label"]["name"], "espresso", "{o:?}");
    }
}

#[test]
fn the_kubernetes_manifests_of_the_example_are_valid_objects() {
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

    // Every document a valid object of its kind (`.ci/run` also runs
    // `kubernetes-validate --strict` on these files).
    let mut checked = 0;
    for name in ["configmap.yaml", "ingress.yaml", "general.yaml"] {
        for document in read(name).split("\n---\n") {
            let document: Value = serde_saphyr::from_str(document).unwrap();
            let problems = schema::problems(&document);
            assert!(problems.is_empty(), "{name}: {problems:#?}");
            checked += 1;
        }
    }
    // A ConfigMap, and a Deployment and a Service for each of the two processes.
    assert_eq!(checked, 5);
}
