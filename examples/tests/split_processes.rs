//! The example split across processes, for real: `General` (the network) in a process of
//! its own, the rest in the graph's process, both the built example binary on loopback,
//! under steady traffic while `General`'s process is killed and restarted, or stopped
//! (SIGSTOP) and resumed, and flooded with big unauthenticated calls; and the Kubernetes
//! manifests `build --target kubernetes` writes for it, checked against the Kubernetes
//! API's types.

mod common;
#[path = "../../serve-runtime/src/kubernetes/tests/schema.rs"]
mod schema;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

impl Outcome {
    fn done(&self) -> Instant {
        self.sent + self.took
    }
}

/// The example as two processes: `General` apart on `port`, the graph's process calling
/// it; both with `env`.
struct Split {
    general_args: Vec<String>,
    env: Vec<(&'static str, String)>,
    general: Option<Example>,
    graph: Example,
}

impl Split {
    async fn start(env: &[(&'static str, &str)]) -> (Self, TempDir) {
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
        let general_args: Vec<String> = [
            "serve",
            "--config",
            config.as_str(),
            "--deployments",
            "General",
            "--port",
            &port.to_string(),
        ]
        .map(str::to_owned)
        .into();
        let env: Vec<(&'static str, String)> =
            env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let general = Self::start_general(&general_args, &env).await;
        let images = common::image_path("");
        let graph_env = env.clone();
        let graph = on_a_thread(move || {
            let env: Vec<(&str, &str)> = graph_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Example::start_with_args(&["--config", &config, "--file-root", &images], &env)
        })
        .await;
        let split = Self {
            general_args,
            env,
            general: Some(general),
            graph,
        };
        (split, dir)
    }

    async fn start_general(args: &[String], env: &[(&'static str, String)]) -> Example {
        let (args, env) = (args.to_vec(), env.to_vec());
        on_a_thread(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Example::start_with_args(&args, &env)
        })
        .await
    }

    async fn restart_general(&mut self) {
        self.general = Some(Self::start_general(&self.general_args, &self.env).await);
    }

    fn general(&self) -> &Example {
        self.general.as_ref().expect("`General` runs")
    }
}

/// Steady traffic: a photo (for `General`) and a fruit drawing (for `Fruit`, in the
/// graph's process) in turn, one after another, until stopped.
struct Traffic {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Traffic {
    fn start(addr: SocketAddr) -> Self {
        let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, stopped) = (Arc::clone(&outcomes), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            let mut photo = false;
            while !stopped.load(Ordering::Relaxed) {
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
                out.lock().unwrap().push(Outcome {
                    sent,
                    photo,
                    status,
                    answer,
                    took: sent.elapsed(),
                });
            }
        });
        Self {
            outcomes,
            stop,
            task,
        }
    }

    fn count(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    /// Waits (a minute at most) until `n` more requests are answered.
    async fn more(&self, n: usize) {
        let until = self.count() + n;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count() < until {
            assert!(Instant::now() < deadline, "the traffic stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (20 s at most) until a photo sent after `since` is answered, and says when.
    async fn photo_answered_after(&self, since: Instant) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let back = self.outcomes.lock().unwrap().iter().find_map(|o| {
                (o.photo && o.sent >= since && o.status == StatusCode::OK).then(|| o.done())
            });
            if let Some(at) = back {
                return at;
            }
            if Instant::now() > deadline {
                let outcomes = self.outcomes.lock().unwrap();
                let last: Vec<_> = outcomes.iter().rev().take(4).collect();
                panic!("photos never recovered: {last:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops it and checks what every request must: none hung, and every fruit (which
    /// needs only the graph's process) was answered.
    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let outcomes = self.outcomes.lock().unwrap().clone();
        for o in &outcomes {
            assert!(o.took < NO_HANG, "{o:?}");
            if !o.photo {
                assert_eq!(o.status, StatusCode::OK, "{o:?}");
                assert_eq!(o.answer["label"]["classifier"], "fruit", "{o:?}");
            }
        }
        outcomes
    }
}

/// The photos sent and answered between `from` and `to`.
fn photos(outcomes: &[Outcome], from: Instant, to: Instant) -> Vec<&Outcome> {
    let between = |o: &&Outcome| o.photo && o.sent >= from && o.done() <= to;
    outcomes.iter().filter(between).collect()
}

fn assert_answered(photos: &[&Outcome], when: &str) {
    assert!(photos.len() >= 3, "too few photos {when}: {photos:#?}");
    for o in photos {
        assert_eq!(o.status, StatusCode::OK, "{when}: {o:?}");
        assert_eq!(o.answer["label"]["name"], "espresso", "{o:?}");
    }
}

/// Photos that needed `General` while no process of it answered: 503 naming it, each
/// within `bound`.
fn assert_failed_within(photos: &[&Outcome], bound: Duration) {
    assert!(
        !photos.is_empty(),
        "no photo was sent while `General` was down"
    );
    for o in photos {
        assert_eq!(o.status, StatusCode::SERVICE_UNAVAILABLE, "{o:?}");
        assert_eq!(o.answer["code"], "unavailable", "{o:?}");
        assert_eq!(o.answer["deployment"], "General", "{o:?}");
        let message = o.answer["error"].as_str().unwrap();
        assert!(
            message.contains("deployment `General` is unavailable"),
            "{o:?}"
        );
        assert!(o.took < bound, "failing took {:?}: {o:?}", o.took);
    }
}

#[tokio::test]
async fn killing_the_network_process_fails_only_its_requests_until_it_is_back() {
    let (mut split, _dir) = Split::start(&[]).await;
    let traffic = Traffic::start(split.graph.addr);
    traffic.more(10).await;
    let killed_at = Instant::now();
    let general = split.general.take().unwrap();
    on_a_thread(move || general.kill()).await;
    let killed = Instant::now();
    traffic.more(10).await;
    let restarted_at = Instant::now();
    split.restart_general().await;
    // Until a probe finds it back (its ejection runs out: 4 s at the most), photos fail
    // fast; then they are answered again, with no restart of the graph's process.
    let recovered = traffic.photo_answered_after(restarted_at).await;
    traffic.more(10).await;
    let outcomes = traffic.stop().await;

    let far_past = killed_at - Duration::from_secs(3600);
    assert_answered(&photos(&outcomes, far_past, killed_at), "before the kill");
    // Sent after the process was gone and before it was started again: refused at once.
    assert_failed_within(
        &photos(&outcomes, killed, restarted_at),
        Duration::from_secs(3),
    );
    let recovery = recovered - restarted_at;
    assert!(
        recovery < Duration::from_secs(10),
        "recovery took {recovery:?}"
    );
    let last: Vec<&Outcome> = outcomes.iter().rev().filter(|o| o.photo).take(3).collect();
    assert_answered(&last, "after the restart");
}

/// What `kill -SIGNAL pid` does to `example`.
fn signal(example: &Example, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &example.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_stopped_network_process_fails_its_requests_within_the_ping_bound_and_big_bodies_do_not_grow_it()
 {
    let secret = "split-processes-secret-0123456789";
    let (split, _dir) = Split::start(&[("SERVE_CALL_SECRET", secret)]).await;
    let traffic = Traffic::start(split.graph.addr);
    traffic.more(6).await;

    // Four 200 MB calls from a caller without the secret: each refused before its body
    // is read, so the process does not grow by what they send.
    let general_addr = split.general().addr;
    let before_kib = split.general().peak_rss_kib();
    let floods: Vec<_> = (0..4)
        .map(|_| tokio::spawn(unauthenticated_flood(general_addr)))
        .collect();
    for flood in floods {
        assert_eq!(flood.await.unwrap(), "HTTP/1.1 401");
    }
    let grown_kib = split.general().peak_rss_kib() - before_kib;
    assert!(grown_kib < 16 << 10, "the process grew by {grown_kib} KiB");
    traffic.more(6).await;

    // Stopped (SIGSTOP), it accepts connections and answers nothing: unanswered pings
    // (every second, two to answer) fail the photos in flight, then it is ejected and
    // photos fail at once. The request timeout (a minute) never comes into it.
    let stopped_at = Instant::now();
    signal(split.general(), "STOP");
    traffic.more(10).await;
    let resumed_at = Instant::now();
    signal(split.general(), "CONT");
    let recovered = traffic.photo_answered_after(resumed_at).await;
    traffic.more(6).await;
    let outcomes = traffic.stop().await;

    assert_answered(
        &photos(
            &outcomes,
            stopped_at - Duration::from_secs(3600),
            stopped_at,
        ),
        "before the stop",
    );
    let down = photos(&outcomes, stopped_at, resumed_at);
    assert_failed_within(&down, Duration::from_secs(5));
    // Once ejected, photos fail without waiting on it: in the time the rest of the graph
    // takes (decoding, the other models), far from the two seconds a ping may take.
    let ejected: Vec<&&Outcome> = down
        .iter()
        .filter(|o| o.answer["error"].as_str().unwrap().contains("is ejected"))
        .collect();
    assert!(ejected.len() >= 2, "{down:#?}");
    for o in ejected {
        assert!(o.took < Duration::from_millis(1500), "{o:?}");
    }
    let recovery = recovered - resumed_at;
    assert!(
        recovery < Duration::from_secs(10),
        "recovery took {recovery:?}"
    );
    let last: Vec<&Outcome> = outcomes.iter().rev().filter(|o| o.photo).take(3).collect();
    assert_answered(&last, "after it went on");
}

/// A call with no secret announcing 200 MB, its body sent until the process hangs up;
/// the status line it got.
async fn unauthenticated_flood(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /-/call/content_understanding/General/classify HTTP/1.1\r\nhost: t\r\ncontent-type: application/vnd.serve.call.v1+msgpack\r\ncontent-length: {}\r\n\r\n",
        200u64 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let sender = tokio::spawn(async move {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..200 {
            if write.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut status = [0u8; 12];
    tokio::time::timeout(NO_HANG, read.read_exact(&mut status))
        .await
        .expect("answered")
        .unwrap();
    drop(read);
    let _ = tokio::time::timeout(NO_HANG, sender).await;
    String::from_utf8_lossy(&status).into_owned()
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
    // A ConfigMap, and a Deployment, a Service, a PodDisruptionBudget and a
    // NetworkPolicy for each of the two processes.
    assert_eq!(checked, 9);
}

/// A copy of the example binary with bytes appended: another build (its file differs, as
/// a rebuild's does) with the same interfaces.
fn rebuilt_binary(dir: &TempDir) -> std::path::PathBuf {
    let copy = std::path::PathBuf::from(dir.path("content_understanding-rebuilt"));
    std::fs::copy(common::example_binary(), &copy).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&copy)
        .unwrap();
    std::io::Write::write_all(&mut file, b"another build").unwrap();
    copy
}

/// A new binary started beside a process, on its port (`--reuse-port`); once it is
/// ready, the old process is stopped with SIGTERM, and waited for.
async fn replace(old: Example, binary: &std::path::Path, args: &[String]) -> Example {
    let (binary, args) = (binary.to_owned(), args.to_vec());
    on_a_thread(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let new = Example::start_from(common::command_for(&binary), &args, &[]);
        let status = old.terminate(Duration::from_secs(60));
        assert!(status.success(), "the old process exited with {status}");
        new
    })
    .await
}

/// A rolling update of the split example, one process at a time, to a rebuilt binary
/// whose interfaces did not change, under steady traffic: first `General`'s process, then
/// the graph's, each replaced on its port. Every request is answered, none fails.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn rolling_every_process_to_a_rebuilt_binary_fails_no_request() {
    let (graph_port, general_port) = (free_port(), free_port());
    let dir = TempDir::new("rolling");
    let config = dir.path("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "applications:\n  - name: content_understanding\n    deployments:\n      - name: General\n        address: http://127.0.0.1:{general_port}\n"
        ),
    )
    .unwrap();
    let shared = ["--config", &config, "--reuse-port", "--drain-delay", "1"];
    let general_args: Vec<String> = [
        &shared[..],
        &[
            "--deployments",
            "General",
            "--port",
            &general_port.to_string(),
        ],
    ]
    .concat()
    .into_iter()
    .map(str::to_owned)
    .collect();
    let images = common::image_path("");
    let graph_args: Vec<String> = [
        &shared[..],
        &["--file-root", &images, "--port", &graph_port.to_string()],
    ]
    .concat()
    .into_iter()
    .map(str::to_owned)
    .collect();
    let example = common::example_binary();
    let general = Split::start_general(&general_args, &[]).await;
    let graph = start_from(&example, &graph_args).await;
    let traffic = Traffic::start(graph.addr);
    traffic.more(6).await;

    let rebuilt = rebuilt_binary(&dir);
    let _general = replace(general, &rebuilt, &general_args).await;
    traffic.more(6).await;
    let _graph = replace(graph, &rebuilt, &graph_args).await;
    traffic.more(6).await;
    let outcomes = traffic.stop().await;

    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status != StatusCode::OK)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:#?}",
        failed.len(),
        outcomes.len()
    );
    assert_answered(
        &photos(
            &outcomes,
            Instant::now() - Duration::from_secs(3600),
            Instant::now(),
        ),
        "throughout",
    );
}

/// The graph's process, started from `binary` with `args`.
async fn start_from(binary: &std::path::Path, args: &[String]) -> Example {
    let (binary, args) = (binary.to_owned(), args.to_vec());
    on_a_thread(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Example::start_from(common::command_for(&binary), &args, &[])
    })
    .await
}
