//! Operating a graph without recompiling: the config `build` writes, starting with a
//! config, refusing a bad one whole, and applying one to a running server under load
//! without a failed request. Every wait is bounded.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serve_runtime::{App, ReplicaContext, ReplicaState, ServeConfig, Server, deployment, graph};

mod common;
use common::{bounded, eventually, http, http_text};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Greeting {
    word: String,
    /// How long each greeting takes beyond the usual 2 ms.
    #[serde(default)]
    delay_ms: u64,
}

static RECONFIGURED: AtomicU32 = AtomicU32::new(0);

#[deployment(num_replicas = 2, max_ongoing_requests = 4)]
struct Greeter {
    replica: u32,
    word: Mutex<String>,
    delay_ms: AtomicU32,
}

#[deployment]
impl Greeter {
    fn new(ctx: &ReplicaContext) -> Self {
        Greeter {
            replica: ctx.replica_id(),
            word: Mutex::new("hello".to_owned()),
            delay_ms: AtomicU32::new(0),
        }
    }

    async fn reconfigure(&self, config: Greeting) -> Result<(), String> {
        if config.word.is_empty() {
            return Err("the word may not be empty".to_owned());
        }
        if config.word == "picky" && self.replica == 1 {
            return Err("replica 1 will not say picky".to_owned());
        }
        *self.word.lock().unwrap() = config.word;
        let delay = u32::try_from(config.delay_ms).unwrap_or(u32::MAX);
        self.delay_ms.store(delay, Ordering::SeqCst);
        RECONFIGURED.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn greet(&self, name: String) -> String {
        let delay = 2 + u64::from(self.delay_ms.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let word = self.word.lock().unwrap().clone();
        format!("{word} {name} from {}", self.replica)
    }
}

#[deployment]
async fn shout(text: String) -> String {
    text.to_uppercase()
}

#[graph(route_prefix = "/greet")]
async fn greeting(name: String) -> String {
    let greeter = Greeter::bind();
    let text = greeter.greet(name);
    shout(text)
}

/// Why the greeting graph does not start with this config.
async fn refused_at_start(text: &str) -> String {
    bounded(
        App::new()
            .graph(greeting)
            .config(config(text))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap_err()
    .to_string()
}

fn config(text: &str) -> ServeConfig {
    ServeConfig::from_yaml("test.yaml", text).unwrap()
}

async fn serve(app: App) -> Server {
    bounded(app.graph(greeting).bind("127.0.0.1:0"))
        .await
        .unwrap()
}

fn target(server: &Server, deployment: &str) -> u32 {
    server.status()[0]
        .deployment(deployment)
        .unwrap()
        .target_replicas
}

fn running(server: &Server, deployment: &str) -> usize {
    server.status()[0]
        .deployment(deployment)
        .unwrap()
        .count(ReplicaState::Running)
}

// ---- build, and serving what it wrote ------------------------------------------------

#[tokio::test]
async fn a_built_config_served_unchanged_runs_as_the_code() {
    let built = App::new().graph(greeting).build_config().unwrap();
    for line in [
        "  - name: greeting  # the graph",
        "    route_prefix: /greet  # the path it answers POST requests on",
        "      - name: Greeter  # struct `Greeter`, executor inline",
        "        num_replicas: 2  # replicas serving calls",
        "        max_ongoing_requests: 4  # calls one replica serves at once",
        "        max_queued_requests: 1000  # calls that may wait for a replica; more get 503",
        "        health_check_timeout_s: 30.0  # how long a health check may take",
        "      - name: shout  # fn `shout`, executor inline",
    ] {
        assert!(built.contains(line), "`{line}` is missing from:\n{built}");
    }
    let from_code = serve(App::new()).await;
    let from_file = serve(App::new().config(config(&built))).await;
    assert_eq!(from_file.status(), from_code.status());
    assert_eq!(from_file.routes(), from_code.routes());
    // What the running server reports is what was built, but for where it comes from.
    let served = from_file
        .config_yaml()
        .replace("as the running server has it", "as its code sets it");
    assert_eq!(served, built);
    let (status, body) = http(
        from_file.local_addr(),
        "POST",
        "/greet",
        r#"{"name": "ann"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().starts_with("HELLO ANN FROM "));
}

#[tokio::test]
async fn a_config_overrides_the_code_and_leaves_the_rest() {
    let server = serve(App::new().config(config(
        "applications:
  - name: greeting
    route_prefix: /hi
    request_timeout_s: 0.5
    deployments:
      - name: Greeter
        num_replicas: 3
        user_config: {word: howdy}
",
    )))
    .await;
    assert_eq!(target(&server, "Greeter"), 3);
    assert_eq!(running(&server, "Greeter"), 3);
    assert_eq!(
        target(&server, "shout"),
        1,
        "what the file leaves out is the code's"
    );
    assert_eq!(server.routes(), [("/hi".to_owned(), "greeting".to_owned())]);
    let (status, body) = http(server.local_addr(), "POST", "/hi", r#"{"name": "bo"}"#).await;
    assert_eq!(status, 200);
    assert!(
        body.as_str().unwrap().starts_with("HOWDY BO FROM "),
        "every replica got its user_config before serving: {body}"
    );
    let (status, _) = http(server.local_addr(), "POST", "/greet", r#"{"name": "bo"}"#).await;
    assert_eq!(status, 404, "the code's prefix is replaced, not kept");
}

// ---- refusals --------------------------------------------------------------------------

#[tokio::test]
async fn a_config_with_mistakes_is_refused_whole_with_every_problem_placed() {
    let text = "applications:
  - name: greetings
  - name: greeting
    request_timeout_s: -1
    deployments:
      - name: Greeterr
        num_replicas: 2
      - name: shout
        num_replicas: 0
        num_gpus: 1.5
      - name: Greeter
        user_config: {word: 7}
";
    let err = refused_at_start(text).await;
    let expected = [
        "line 2, column 11: this binary serves no graph named `greetings`",
        "help: did you mean `greeting`?",
        "line 4, column 24: expected a number of seconds, more than 0",
        "line 6, column 15: graph `greeting` has no deployment named `Greeterr`",
        "help: did you mean `Greeter`?",
        "line 9, column 23: num_replicas must be at least 1",
        "line 10, column 19: num_gpus 1.5 mixes whole and shared GPUs",
    ];
    for piece in expected {
        assert!(err.contains(piece), "`{piece}` is missing from:\n{err}");
    }
    assert!(
        err.starts_with("test.yaml was refused (5 problems):"),
        "{err}"
    );
    // A user_config that does not fit the deployment is refused at start, placed too.
    let err = refused_at_start("applications:\n  - name: greeting\n    deployments:\n      - name: Greeter\n        user_config: {word: 7}\n").await;
    assert!(
        err.contains("line 5, column 22: user_config of `Greeter`: invalid type: integer `7`"),
        "{err}"
    );
}

#[test]
fn a_misspelt_field_is_placed_and_the_right_name_suggested() {
    let err = ServeConfig::from_yaml(
        "test.yaml",
        "applications:\n  - name: greeting\n    deployments:\n      - name: Greeter\n        num_replica: 3\n",
    )
    .unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!((problem.line, problem.column), (5, 9));
    assert!(problem.message.starts_with("unknown field `num_replica`"));
    assert_eq!(
        problem.help.as_deref(),
        Some("did you mean `num_replicas`?")
    );
    assert!(
        err.to_string()
            .contains("    |         num_replica: 3\n    |         ^")
    );
    // A Ray Serve config's old names are pointed to their names here.
    let err = ServeConfig::from_yaml(
        "ray.yaml",
        "applications:\n  - name: greeting\n    deployments:\n      - name: Greeter\n        max_concurrent_queries: 3\n",
    )
    .unwrap_err();
    assert_eq!(
        err.problems()[0].help.as_deref(),
        Some("`max_concurrent_queries` is Ray Serve's old name: write `max_ongoing_requests`")
    );
}

#[tokio::test]
async fn a_deployment_without_reconfigure_takes_no_user_config() {
    let err = refused_at_start("applications:\n  - name: greeting\n    deployments:\n      - name: shout\n        user_config: {a: 1}\n").await;
    assert!(
        err.contains(
            "`shout` takes no user_config: its impl has no `reconfigure(&self, config: C)` method"
        ),
        "{err}"
    );
}

// ---- applied while serving ------------------------------------------------------------

/// Requests from `clients` connections in a loop until stopped; every answer is recorded
/// (status and body), none is dropped.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<(u16, String)>>>,
}

impl Load {
    fn start(addr: SocketAddr, path: &'static str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|i| {
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let body = format!(r#"{{"name": "c{i}"}}"#);
                        let (status, text) = http_text(addr, "POST", path, &[], &body).await;
                        answers.push((status, text));
                    }
                    answers
                })
            })
            .collect();
        Self { stop, tasks }
    }

    async fn finish(self) -> Vec<(u16, String)> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(bounded(task).await.unwrap());
        }
        all
    }
}

fn with(greeter: &str) -> ServeConfig {
    config(&format!(
        "applications:\n  - name: greeting\n    deployments:\n      - name: Greeter\n{greeter}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_applied_under_load_fail_no_request() {
    let server = serve(App::new()).await;
    let load = Load::start(server.local_addr(), "/greet", 6);
    eventually("the load is flowing", || running(&server, "Greeter") == 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // More replicas.
    let report = bounded(server.deploy(&with("        num_replicas: 4\n")))
        .await
        .unwrap();
    assert_eq!(report.changes, ["greeting/Greeter: num_replicas 2 -> 4"]);
    eventually("four replicas run", || running(&server, "Greeter") == 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // New limits and a new user_config, at once.
    let report = bounded(server.deploy(&with(
        "        num_replicas: 4\n        max_ongoing_requests: 1\n        user_config: {word: hey}\n",
    )))
    .await
    .unwrap();
    assert_eq!(
        report.changes,
        [
            "greeting/Greeter: max_ongoing_requests 4 -> 1",
            "greeting/Greeter: user_config"
        ]
    );
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The same config again changes nothing, and says so.
    let again = bounded(server.deploy(&with(
        "        num_replicas: 4\n        max_ongoing_requests: 1\n        user_config: {word: hey}\n",
    )))
    .await
    .unwrap();
    assert!(!again.changed);
    assert_eq!(
        again.message,
        "no changes: the server already runs this config"
    );

    // Fewer replicas: the surplus drains before it stops.
    bounded(server.deploy(&with(
        "        num_replicas: 1\n        user_config: {word: hey}\n",
    )))
    .await
    .unwrap();
    eventually("one replica runs and three stopped", || {
        let s = &server.status()[0];
        let d = s.deployment("Greeter").unwrap();
        d.count(ReplicaState::Running) == 1 && d.count(ReplicaState::Stopped) == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answers = load.finish().await;

    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(3)]
    );
    let heys = answers
        .iter()
        .filter(|(_, b)| b.starts_with("\"HEY "))
        .count();
    let hellos = answers
        .iter()
        .filter(|(_, b)| b.starts_with("\"HELLO "))
        .count();
    assert_eq!(heys + hellos, answers.len(), "every answer is a greeting");
    assert!(heys > 0 && hellos > 0, "the word changed while serving");
    let replicas_seen: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|(_, b)| b.rsplit(' ').next())
        .collect();
    assert!(
        replicas_seen.len() >= 3,
        "the added replicas served: {replicas_seen:?}"
    );
}

/// The words `n` greetings were answered with, and the replicas that answered.
async fn greetings(server: &Server, n: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut words, mut replicas) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..n {
        let body = format!(r#"{{"name": "n{i}"}}"#);
        let (status, answer) = http(server.local_addr(), "POST", "/greet", &body).await;
        assert_eq!(status, 200, "{answer}");
        let text = answer.as_str().unwrap();
        words.insert(text.split(' ').next().unwrap().to_owned());
        replicas.insert(text.rsplit(' ').next().unwrap().to_owned());
    }
    (words, replicas)
}

/// A `user_config` that one replica's `reconfigure` refuses is taken back from those
/// that took it: the deployment runs one configuration, the one `/-/config` shows.
#[tokio::test]
async fn a_user_config_refused_by_one_replica_is_taken_back_from_all() {
    let server = serve(App::new()).await;
    bounded(server.deploy(&with("        user_config: {word: hey}\n")))
        .await
        .unwrap();
    let report = bounded(server.deploy(&with("        user_config: {word: picky}\n")))
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].contains(
            "replica 1: replica 1 will not say picky; every replica keeps the user_config it had"
        ),
        "{report:?}"
    );
    let (words, replicas) = greetings(&server, 40).await;
    assert_eq!(replicas.len(), 2, "both replicas answered: {replicas:?}");
    assert_eq!(words, BTreeSet::from(["HEY".to_owned()]));
    let running = server.config_yaml();
    assert!(
        running.contains(r#"user_config: {"word":"hey"}"#),
        "{running}"
    );
    assert!(!running.contains("picky"), "{running}");
}

/// A config that leaves out the `user_config` replicas run takes the code's state: the
/// replicas (which cannot forget what they were given) are replaced by new ones.
#[tokio::test]
async fn leaving_the_user_config_out_replaces_the_replicas() {
    let server = serve(App::new()).await;
    bounded(server.deploy(&with("        user_config: {word: yo}\n")))
        .await
        .unwrap();
    let (words, _) = greetings(&server, 10).await;
    assert_eq!(words, BTreeSet::from(["YO".to_owned()]));
    let report = bounded(server.deploy(&with("        num_replicas: 2\n")))
        .await
        .unwrap();
    assert_eq!(
        report.changes,
        ["greeting/Greeter: user_config removed: the replicas are replaced"]
    );
    eventually("the old replicas are replaced", || {
        let s = &server.status()[0];
        let d = s.deployment("Greeter").unwrap();
        d.count(ReplicaState::Running) == 2 && d.count(ReplicaState::Stopped) == 2
    })
    .await;
    let (words, replicas) = greetings(&server, 40).await;
    assert_eq!(words, BTreeSet::from(["HELLO".to_owned()]));
    assert!(
        !replicas.contains("0") && !replicas.contains("1"),
        "{replicas:?}"
    );
}

#[tokio::test]
async fn replicas_added_after_a_user_config_get_it_before_serving() {
    let server = serve(App::new()).await;
    bounded(server.deploy(&with(
        "        num_replicas: 1\n        user_config: {word: yo}\n",
    )))
    .await
    .unwrap();
    bounded(server.deploy(&with(
        "        num_replicas: 3\n        user_config: {word: yo}\n",
    )))
    .await
    .unwrap();
    eventually("three replicas run", || running(&server, "Greeter") == 3).await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..60 {
        let (status, body) = http(
            server.local_addr(),
            "POST",
            "/greet",
            &format!(r#"{{"name": "n{i}"}}"#),
        )
        .await;
        assert_eq!(status, 200);
        let text = body.as_str().unwrap().to_owned();
        assert!(text.starts_with("YO "), "{text}");
        seen.insert(text.rsplit(' ').next().unwrap().to_owned());
    }
    assert!(seen.len() >= 2, "new replicas answered too: {seen:?}");
}

#[tokio::test]
async fn a_failing_reconfigure_is_reported_in_the_status() {
    let server = serve(App::new()).await;
    let report = bounded(server.deploy(&with("        user_config: {word: \"\"}\n")))
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].starts_with(
            "greeting/Greeter: `reconfigure` failed on replica 0: the word may not be empty"
        ),
        "{report:?}"
    );
    assert_eq!(report.updated, ["greeting/Greeter"]);
    assert!(report.message.ends_with("; 1 failed"), "{report:?}");
    let apps = server.applications();
    let greeter = &apps["applications"]["greeting"]["deployments"]["Greeter"];
    assert_eq!(greeter["status"], "UNHEALTHY");
    assert!(
        greeter["message"]
            .as_str()
            .unwrap()
            .contains("the word may not be empty")
    );
    let (status, body) = http(server.local_addr(), "POST", "/greet", r#"{"name": "x"}"#).await;
    assert_eq!(
        (status, body.as_str().unwrap().starts_with("HELLO ")),
        (200, true),
        "the replicas keep serving with what they had"
    );
}

/// A file left empty, or cut short before its applications, would set every deployment
/// back to the code's values: it is refused, and nothing changes.
#[tokio::test]
async fn an_empty_or_cut_short_config_is_refused() {
    for empty in ["", "\n  \n", "# only a comment\n"] {
        let err = ServeConfig::from_yaml("empty.yaml", empty).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 1, column 1: the config is empty"),
            "{err}"
        );
    }
    let server = serve(App::new()).await;
    bounded(server.deploy(&with("        num_replicas: 2\n")))
        .await
        .unwrap();
    let before = server.config_yaml();
    for cut in ["http_options:\n  port: 8000\n", "applications: []\n"] {
        let err = bounded(server.deploy(&config(cut))).await.unwrap_err();
        assert!(
            err.to_string().contains(
                "the config names no application: applied, it would set every deployment back to the code's values"
            ),
            "{err}"
        );
    }
    assert_eq!(server.config_yaml(), before, "nothing changed");
}

#[tokio::test]
async fn a_refused_deploy_changes_nothing() {
    let server = serve(App::new().resources(serve_runtime::Resources::new(2.0, 0))).await;
    let before = server.config_yaml();
    let err = bounded(server.deploy(&config(
        "applications:\n  - name: greeting\n    route_prefix: /other\n    deployments:\n      - name: Greeter\n        num_replicas: 5\n        num_cpus: 1\n",
    )))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 3, column 19: route_prefix of `greeting` cannot change while serving"),
        "{err}"
    );
    assert!(err.contains("line 2, column 11: the update does not fit: graph `greeting` does not fit on this machine (2 CPUs, 0 GPUs)"), "{err}");
    assert!(
        err.contains("Greeter (added)                 3         1"),
        "{err}"
    );
    assert!(
        err.contains("Greeter (grown)                 2         1"),
        "{err}"
    );
    assert_eq!(server.config_yaml(), before);
    assert_eq!(
        target(&server, "Greeter"),
        2,
        "num_replicas was not applied either"
    );
}

// ---- over HTTP -------------------------------------------------------------------------

#[tokio::test]
async fn the_admin_routes_read_and_replace_the_config() {
    let server = serve(App::new()).await;
    let addr = server.local_addr();
    let (status, yaml) = http_text(addr, "GET", "/-/config", &[], "").await;
    assert_eq!(status, 200);
    assert!(yaml.contains("        num_replicas: 2  # replicas serving calls"));
    let edited = yaml.replacen("num_replicas: 2", "num_replicas: 3", 1);
    let (status, body) = http(addr, "PUT", "/-/config", &edited).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"][0], "greeting/Greeter: num_replicas 2 -> 3");
    let (status, body) = http(
        addr,
        "PUT",
        "/-/config",
        "applications:\n  - name: greetng\n",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_config");
    assert_eq!(body["problems"][0]["line"], 2);
    assert_eq!(body["problems"][0]["help"], "did you mean `greeting`?");
    eventually("three replicas run", || running(&server, "Greeter") == 3).await;
    let (status, apps) = http(addr, "GET", "/-/applications", "").await;
    assert_eq!(status, 200);
    let app = &apps["applications"]["greeting"];
    assert_eq!(app["status"], "RUNNING");
    assert_eq!(app["route_prefix"], "/greet");
    assert_eq!(
        app["deployments"]["Greeter"]["replica_states"]["RUNNING"],
        3
    );
    assert_eq!(app["deployments"]["Greeter"]["status"], "HEALTHY");
}

#[tokio::test]
async fn with_a_token_every_admin_route_but_healthz_asks_for_it() {
    let server = serve(App::new().admin_token("s3cret")).await;
    let addr = server.admin_addr();
    for path in ["/-/config", "/-/status", "/-/applications", "/-/routes"] {
        let (status, body) = http(addr, "GET", path, "").await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["code"], "unauthorized");
        let (status, _) =
            http_text(addr, "GET", path, &[("authorization", "Bearer wrong")], "").await;
        assert_eq!(status, 401, "{path}");
        let (status, _) =
            http_text(addr, "GET", path, &[("authorization", "Bearer s3cret")], "").await;
        assert_eq!(status, 200, "{path}");
    }
    let (status, _) = http(addr, "PUT", "/-/config", "applications: []\n").await;
    assert_eq!(status, 401);
    let (status, _) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(status, 200, "probes need no token");
}

#[tokio::test]
async fn an_admin_listener_off_loopback_needs_a_token() {
    let err = bounded(
        App::new()
            .graph(greeting)
            .admin_addr("0.0.0.0:0".parse().unwrap())
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("which is not loopback, without a token"),
        "{err}"
    );
    let server = bounded(
        App::new()
            .graph(greeting)
            .admin_addr("0.0.0.0:0".parse().unwrap())
            .admin_token("t")
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    assert!(!server.admin_addr().ip().is_loopback());
}

// ---- rolling replacement ---------------------------------------------------------------

#[deployment(num_replicas = 2, num_cpus = 0.5, max_ongoing_requests = 8)]
struct Sized {
    cpus: f64,
}

#[deployment]
impl Sized {
    fn new(ctx: &ReplicaContext) -> Result<Self, String> {
        if ctx.num_cpus() > 1.5 {
            return Err(format!(
                "{} CPUs is more than this model can use",
                ctx.num_cpus()
            ));
        }
        Ok(Sized {
            cpus: ctx.num_cpus(),
        })
    }

    async fn size(&self, _name: String) -> String {
        tokio::time::sleep(Duration::from_millis(2)).await;
        format!("{}", self.cpus)
    }
}

#[graph(route_prefix = "/size")]
async fn sizing(name: String) -> String {
    let sized = Sized::bind();
    sized.size(name)
}

async fn serve_sizing(cpus: f64) -> Server {
    bounded(
        App::new()
            .graph(sizing)
            .resources(serve_runtime::Resources::new(cpus, 0))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap()
}

fn sized(text: &str) -> ServeConfig {
    config(&format!(
        "applications:\n  - name: sizing\n    deployments:\n      - name: Sized\n{text}"
    ))
}

async fn roll(server: &Server, to: &str) -> (Vec<(u16, String)>, usize) {
    let load = Load::start(server.local_addr(), "/size", 4);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = bounded(server.deploy(&sized(&format!("        num_cpus: {to}\n"))))
        .await
        .unwrap();
    assert_eq!(
        report.changes,
        [format!("sizing/Sized: num_cpus 0.5 -> {to}")]
    );
    // Watch the rollout: how few replicas ever took calls at once.
    let mut fewest = usize::MAX;
    eventually("both replicas replaced", || {
        let status = &server.status()[0];
        let d = status.deployment("Sized").unwrap();
        fewest = fewest.min(d.count(ReplicaState::Running));
        d.count(ReplicaState::Running) == 2 && d.count(ReplicaState::Stopped) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    (load.finish().await, fewest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_cpus_roll_the_replicas_one_at_a_time_with_no_failed_request() {
    let server = serve_sizing(4.0).await;
    let (answers, fewest) = roll(&server, "1").await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200),
        "a request failed during the rollout"
    );
    assert!(answers.iter().any(|(_, b)| b == "\"0.5\""));
    assert_eq!(
        answers.last().unwrap().1,
        "\"1\"",
        "the new replicas serve at the end"
    );
    assert_eq!(
        fewest, 2,
        "with room to spare, a new replica runs before an old one drains"
    );
    assert!(server.config_yaml().contains("num_cpus: 1.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_room_an_old_replica_makes_way_first() {
    // Two replicas of half a CPU fill the one CPU there is.
    let server = serve_sizing(1.0).await;
    let (answers, fewest) = roll(&server, "0.4").await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200),
        "a request failed during the rollout"
    );
    assert_eq!(answers.last().unwrap().1, "\"0.4\"");
    // Without the old replica making way, the new one would not fit, and the update would
    // have been rolled back: the last answer would still be 0.5.
    assert!(fewest >= 1, "a replica took calls all along");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_replicas_fail_to_start_is_rolled_back() {
    let server = serve_sizing(8.0).await;
    let load = Load::start(server.local_addr(), "/size", 2);
    let report = bounded(server.deploy(&sized("        num_cpus: 2\n")))
        .await
        .unwrap();
    assert!(report.changed);
    eventually("the update is rolled back", || {
        server.applications()["applications"]["sizing"]["deployments"]["Sized"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the update was rolled back: replica 2 failed to start"))
    })
    .await;
    let message =
        server.applications()["applications"]["sizing"]["deployments"]["Sized"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("2 CPUs is more than this model can use"),
        "{message}"
    );
    assert!(
        server.config_yaml().contains("num_cpus: 0.5"),
        "the running config is the old one"
    );
    let answers = load.finish().await;
    assert!(
        answers.iter().all(|(s, b)| *s == 200 && b == "\"0.5\""),
        "the old replicas kept serving"
    );
    assert_eq!(running(&server, "Sized"), 2);
    // Rolled back, the deployment is healthy again (it runs what it ran before) and says
    // what happened; its live replicas are counted, not the failed start's history.
    eventually("the deployment is healthy again", || {
        server.applications()["applications"]["sizing"]["deployments"]["Sized"]["status"]
            == "HEALTHY"
    })
    .await;
    let now = server.applications()["applications"]["sizing"]["deployments"]["Sized"].clone();
    assert!(
        now["message"]
            .as_str()
            .unwrap()
            .starts_with("the update was rolled back"),
        "{now}"
    );
    assert_eq!(now["replica_states"]["RUNNING"], 2, "{now}");
    assert!(now["replica_states"].get("STOPPED").is_none(), "{now}");
    // The next update clears the rollback.
    let report = bounded(server.deploy(&sized("        num_cpus: 0.25\n")))
        .await
        .unwrap();
    assert!(report.changed);
    eventually("the next update rolls out", || {
        let now = server.applications()["applications"]["sizing"]["deployments"]["Sized"].clone();
        now["status"] == "HEALTHY" && now["message"] == ""
    })
    .await;
}

// ---- autoscaling in the config ---------------------------------------------------------

#[tokio::test]
async fn an_autoscaled_deployment_at_zero_serves_its_first_http_request() {
    let server = serve(App::new().config(with(
        "        autoscaling_config:\n          min_replicas: 0\n          max_replicas: 3\n",
    )))
    .await;
    assert_eq!(
        (target(&server, "Greeter"), running(&server, "Greeter")),
        (0, 0)
    );
    let (status, _) = http(server.admin_addr(), "GET", "/-/healthz", "").await;
    assert_eq!(status, 200, "scaled to zero is not an outage");
    let (status, body) = http(server.local_addr(), "POST", "/greet", r#"{"name": "z"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(running(&server, "Greeter"), 1);
    // What the server reports can be served again as it is.
    let yaml = server.config_yaml();
    for line in [
        "        autoscaling_config:  # the load sets the replica count",
        "          min_replicas: 0  # the fewest; 0 stops them all when idle",
        "          max_replicas: 3  # the most",
        "          target_ongoing_requests: 2.0  # calls per replica to aim for",
        "          downscale_delay_s: 600.0  # how long fewer must be wanted first",
    ] {
        assert!(yaml.contains(line), "`{line}` is missing from:\n{yaml}");
    }
    assert!(!yaml.contains(
        "      - name: Greeter  # struct `Greeter`, executor inline\n        num_replicas"
    ));
    let again = bounded(server.deploy(&config(&yaml))).await.unwrap();
    assert!(!again.changed, "{again:?}");
}

#[tokio::test]
async fn autoscaling_mistakes_are_placed() {
    let text = "applications:
  - name: greeting
    deployments:
      - name: Greeter
        num_replicas: 2
        autoscaling_config:
          min_replicas: 3
          max_replicas: 2
          initial_replicas: 9
          target_ongoing_requests: 0
";
    let err = refused_at_start(text).await;
    for piece in [
        "line 5, column 23: num_replicas and autoscaling_config are both set",
        "help: remove num_replicas",
        "line 8, column 25: max_replicas (2) is less than min_replicas (3)",
        "line 9, column 29: initial_replicas (9) is outside min_replicas..=max_replicas (3..=2)",
        "line 10, column 36: target_ongoing_requests must be more than 0, not 0",
    ] {
        assert!(err.contains(piece), "`{piece}` is missing from:\n{err}");
    }
}

#[tokio::test]
async fn a_new_request_timeout_applies_to_the_next_request() {
    let server = serve(App::new()).await;
    let (status, _) = http(server.local_addr(), "POST", "/greet", r#"{"name": "t"}"#).await;
    assert_eq!(status, 200);
    // Greetings now take two seconds; a 300 ms timeout cuts them.
    let report = bounded(server.deploy(&config(
        "applications:\n  - name: greeting\n    request_timeout_s: 0.3\n    deployments:\n      - name: Greeter\n        user_config: {word: hi, delay_ms: 2000}\n",
    )))
    .await
    .unwrap();
    assert_eq!(
        report.changes,
        [
            "greeting: request_timeout_s 60 -> 0.3",
            "greeting/Greeter: user_config"
        ]
    );
    let (status, body) = http(server.local_addr(), "POST", "/greet", r#"{"name": "t"}"#).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(
        body["error"],
        "graph `greeting` did not answer within 300 ms"
    );
}

// ---- bind arguments ------------------------------------------------------------------------

#[deployment(num_replicas = 2, max_ongoing_requests = 8)]
struct Weights {
    path: String,
}

#[deployment]
impl Weights {
    fn new(path: String) -> Result<Self, String> {
        if path.contains("missing") {
            return Err(format!("no weights at {path}"));
        }
        Ok(Weights { path })
    }

    async fn which(&self, _name: String) -> String {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.path.clone()
    }
}

#[graph(route_prefix = "/which")]
async fn weighted(name: String) -> String {
    let weights = Weights::bind("w1.bin");
    weights.which(name)
}

async fn serve_weighted() -> Server {
    bounded(App::new().graph(weighted).bind("127.0.0.1:0"))
        .await
        .unwrap()
}

fn weights(text: &str) -> ServeConfig {
    config(&format!(
        "applications:\n  - name: weighted\n    deployments:\n      - name: Weights\n{text}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_weights_from_a_config_roll_the_replicas_with_no_failed_request() {
    let built = App::new().graph(weighted).build_config().unwrap();
    assert!(
        built.contains("        bind_args:  # replace what the graph binds; new values roll the replicas\n          path: \"w1.bin\"\n"),
        "{built}"
    );
    let server = serve_weighted().await;
    let load = Load::start(server.local_addr(), "/which", 4);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = bounded(server.deploy(&weights("        bind_args: {path: w2.bin}\n")))
        .await
        .unwrap();
    assert_eq!(
        report.changes,
        ["weighted/Weights: bind_args path = \"w2.bin\""]
    );
    eventually("both replicas replaced", || {
        let status = &server.status()[0];
        let d = status.deployment("Weights").unwrap();
        d.count(ReplicaState::Running) == 2 && d.count(ReplicaState::Stopped) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answers = load.finish().await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "a request failed");
    assert!(answers.iter().any(|(_, b)| b == "\"w1.bin\""));
    assert_eq!(answers.last().unwrap().1, "\"w2.bin\"");
    assert!(
        server
            .config_yaml()
            .contains("          path: \"w2.bin\"\n")
    );
    let again = bounded(server.deploy(&weights("        bind_args: {path: w2.bin}\n")))
        .await
        .unwrap();
    assert!(!again.changed, "{again:?}");
}

#[tokio::test]
async fn bind_arguments_that_cannot_be_read_are_refused_whole() {
    let server = serve_weighted().await;
    let err = bounded(server.deploy(&weights("        bind_args: {pth: w2.bin}\n")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 5, column 20: `Weights` has no `bind` parameter named `pth`"),
        "{err}"
    );
    assert!(err.contains("help: did you mean `path`?"), "{err}");
    let err = bounded(server.deploy(&weights("        bind_args: {path: 5}\n")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 5, column 20: `bind` argument `path` of `Weights`: invalid type: integer `5`, expected a string"),
        "{err}"
    );
    assert!(
        server
            .config_yaml()
            .contains("          path: \"w1.bin\"\n")
    );
    // Given at start, the same mistake stops the start, placed.
    let err = bounded(
        App::new()
            .graph(weighted)
            .config(weights("        bind_args: {path: 5}\n"))
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("line 5, column 20: `bind` argument `path` of `Weights`: invalid type"),
        "{err}"
    );
}

#[tokio::test]
async fn weights_that_fail_to_load_are_rolled_back() {
    let server = serve_weighted().await;
    bounded(server.deploy(&weights("        bind_args: {path: missing.bin}\n")))
        .await
        .unwrap();
    eventually("the update is rolled back", || {
        server.applications()["applications"]["weighted"]["deployments"]["Weights"]["message"]
            .as_str()
            .is_some_and(|m| {
                m.contains("the update was rolled back") && m.contains("no weights at missing.bin")
            })
    })
    .await;
    assert!(
        server
            .config_yaml()
            .contains("          path: \"w1.bin\"\n"),
        "the running config is the old one"
    );
    let (status, body) = http(server.local_addr(), "POST", "/which", r#"{"name": "x"}"#).await;
    assert_eq!((status, body), (200, serde_json::json!("w1.bin")));
}
