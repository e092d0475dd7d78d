//! Graphs called in-process: wiring patterns, concurrency, replicas, failures, and spec.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Bounded;
use serve_runtime::{
    ArgSpec, DeploymentKind, Error, Executor, Handle, Resources, StartOptions, deployment, graph,
};

/// Every start and call in these tests is bounded in time: a lost wake-up fails the test
/// instead of hanging the run.

// ---- chaining, fan-out, ensemble, constants -------------------------------------------

#[deployment(num_replicas = 2, max_ongoing_requests = 8)]
struct Tokenizer {
    lowercase: bool,
}

#[deployment]
impl Tokenizer {
    /// A sync, infallible constructor.
    fn new(lowercase: bool) -> Self {
        Tokenizer { lowercase }
    }

    async fn split(&self, text: String) -> Vec<String> {
        text.split_whitespace()
            .map(|w| {
                if self.lowercase {
                    w.to_lowercase()
                } else {
                    w.to_owned()
                }
            })
            .collect()
    }
}

#[deployment(name = "Counter", num_cpus = 0.5)]
struct WordCounter;

#[deployment]
impl WordCounter {
    async fn count(&self, words: Vec<String>) -> usize {
        words.len()
    }

    async fn longest(&self, words: Vec<String>) -> Result<String, String> {
        words
            .into_iter()
            .max_by_key(|w| w.len())
            .ok_or_else(|| "no words".to_owned())
    }
}

impl Default for WordCounter {
    fn default() -> Self {
        WordCounter
    }
}

#[deployment(num_gpus = 0.25)]
async fn summarize(count: usize, longest: String, tag: String) -> String {
    format!("{tag}: {count} words, longest `{longest}`")
}

#[graph(route_prefix = "/words")]
async fn words(text: String) -> String {
    let tokenizer = Tokenizer::bind(true);
    let counter = WordCounter::bind();
    let tokens = tokenizer.split(text);
    let count = counter.count(tokens); // fan-out: `tokens` has two consumers
    let longest = counter.longest(tokens);
    summarize(count, longest, "summary") // ensemble, with a constant
}

/// `summarize` asks for a quarter of a GPU: these tests say the machine has one.
fn with_a_gpu() -> StartOptions {
    StartOptions::default().resources(Resources::new(2.0, 1))
}

#[tokio::test]
async fn chain_fan_out_ensemble_and_constants() {
    let g = serve_runtime::start_with(words, with_a_gpu())
        .await
        .unwrap();
    let out = g
        .call("The quick Brown foxes".to_owned())
        .bounded()
        .await
        .unwrap();
    assert_eq!(out, "summary: 4 words, longest `foxes`");
}

#[tokio::test]
async fn a_graph_that_does_not_fit_is_refused_with_its_demand() {
    let no_gpu = StartOptions::default().resources(Resources::new(2.0, 0));
    let err = serve_runtime::start_with(words, no_gpu)
        .bounded()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("graph `words` does not fit on this machine (2 CPUs, 0 GPUs)"),
        "{msg}"
    );
    assert!(
        msg.contains("summarize"),
        "the deployment asking for a GPU is named: {msg}"
    );
    assert!(msg.contains("Counter"), "{msg}");
    assert!(
        !msg.contains("Tokenizer"),
        "inline deployments reserve nothing: {msg}"
    );
}

#[tokio::test]
async fn a_failing_method_names_its_deployment() {
    let g = serve_runtime::start_with(words, with_a_gpu())
        .await
        .unwrap();
    let err = g.call("   ".to_owned()).bounded().await.unwrap_err();
    match &err {
        Error::Node {
            deployment,
            method,
            source,
        } => {
            assert_eq!(deployment, "Counter");
            assert_eq!(*method, "longest");
            assert_eq!(source.to_string(), "no words");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn spec_is_the_static_topology() {
    let spec = words::spec();
    assert_eq!(spec.name, "words");
    assert_eq!(spec.ingress.route_prefix, "/words");
    assert_eq!(spec.inputs.len(), 1);
    assert_eq!(
        (spec.inputs[0].name.as_str(), spec.inputs[0].ty.as_str()),
        ("text", "String")
    );
    let names: Vec<_> = spec.deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Tokenizer", "Counter", "summarize"]);
    let tokenizer = spec.deployment("Tokenizer").unwrap();
    assert_eq!(tokenizer.options.num_replicas, 2);
    assert_eq!(tokenizer.options.max_ongoing_requests, 8);
    assert_eq!(tokenizer.options.executor, Executor::Inline);
    assert_eq!(
        tokenizer.options.num_cpus, 0.0,
        "light nodes reserve no CPU"
    );
    let counter = spec.deployment("Counter").unwrap();
    assert_eq!(counter.options.num_cpus, 0.5);
    assert_eq!(
        counter.options.executor,
        Executor::Threads,
        "it asks for CPUs"
    );
    let summarize = spec.deployment("summarize").unwrap();
    assert_eq!(summarize.kind, DeploymentKind::Function);
    assert_eq!(summarize.options.num_gpus, 0.25);
    assert_eq!(summarize.options.executor, Executor::Threads);
    assert_eq!(
        summarize.options.num_cpus, 1.0,
        "unset num_cpus on threads is 1"
    );
    let edges: Vec<_> = spec.edges().iter().map(|e| (e.from, e.to, e.arg)).collect();
    assert_eq!(
        edges,
        [
            ("text", "tokens", 0),
            ("tokens", "count", 0),
            ("tokens", "longest", 0),
            ("count", "return", 0),
            ("longest", "return", 1),
        ]
    );
    let ret = spec.nodes.iter().find(|n| n.id == "return").unwrap();
    assert_eq!(
        ret.args[2],
        ArgSpec::Const {
            expr: "\"summary\"".into()
        }
    );
    assert_eq!(spec.output.from, "return");
    assert_eq!(spec.output.ty, "String");
    let json: serde_json::Value = serde_json::from_str(&spec.to_json()).unwrap();
    assert_eq!(json["deployments"][0]["options"]["num_replicas"], 2);
    assert_eq!(json["deployments"][1]["options"]["executor"], "threads");
    assert_eq!(json["ingress"]["request_timeout_ms"], 60_000);
    assert_eq!(json["ingress"]["route_prefix"], "/words");
    assert!(spec.to_mermaid().contains("v_tokens --> v_count"));
    assert!(spec.to_dot().contains("v_count -> v_return;"));
}

#[test]
fn deployments_register_themselves() {
    let all = serve_runtime::registry::deployments();
    let counter = all
        .iter()
        .find(|d| d.name == "Counter")
        .expect("registered");
    assert_eq!(counter.methods, ["count", "longest"]);
    assert_eq!(counter.kind, DeploymentKind::Struct);
    assert!(
        all.iter()
            .any(|d| d.name == "summarize" && d.methods == ["call"])
    );
    let graphs = serve_runtime::registry::graphs();
    assert!(
        graphs
            .iter()
            .any(|g| g.name == "words" && (g.spec)().nodes.len() == 4)
    );
}

// ---- dynamic dispatch through handles -----------------------------------------------

#[deployment]
struct Upper;
#[deployment]
impl Upper {
    async fn apply(&self, s: String) -> String {
        s.to_uppercase()
    }
}
impl Default for Upper {
    fn default() -> Self {
        Upper
    }
}

#[deployment]
#[derive(Default)]
struct Reverse;
#[deployment]
impl Reverse {
    async fn apply(&self, s: String) -> String {
        s.chars().rev().collect()
    }
}

#[deployment]
struct Router {
    upper: Handle<Upper>,
    reverse: Handle<Reverse>,
    prefix: String,
}

#[deployment]
impl Router {
    /// An async, fallible constructor receiving typed handles and a constant.
    async fn new(
        upper: Handle<Upper>,
        reverse: Handle<Reverse>,
        prefix: String,
    ) -> Result<Self, std::io::Error> {
        Ok(Router {
            upper,
            reverse,
            prefix,
        })
    }

    async fn route(&self, text: String, how: String) -> Result<String, Error> {
        let out = match how.as_str() {
            "upper" => self.upper.apply(text).await?,
            _ => self.reverse.apply(text).await?,
        };
        Ok(format!("{}{out}", self.prefix))
    }
}

#[graph]
async fn dispatch(text: String, how: String) -> String {
    let reverse = Reverse::bind();
    let router = Router::bind(Upper::bind(), reverse, "> ");
    router.route(text, how)
}

#[tokio::test]
async fn handles_dispatch_at_run_time() {
    let g = serve_runtime::start(dispatch).bounded().await.unwrap();
    assert_eq!(
        g.call(("abc".into(), "upper".into()))
            .bounded()
            .await
            .unwrap(),
        "> ABC"
    );
    assert_eq!(
        g.call(("abc".into(), "reverse".into()))
            .bounded()
            .await
            .unwrap(),
        "> cba"
    );
    let spec = dispatch::spec();
    let names: Vec<_> = spec.deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["Reverse", "Upper", "Router"],
        "dependencies start first"
    );
    assert_eq!(
        spec.deployment("Router").unwrap().handles,
        ["Upper", "Reverse"]
    );
    assert!(spec.to_mermaid().contains("v_return -. handle .-> d_Upper"));
}

// ---- concurrency: independent nodes run at once -----------------------------------------

#[deployment]
async fn slow(tag: &'static str, x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(200)).await;
    x + tag.len() as u64
}

#[deployment]
async fn sum3(a: u64, b: u64, c: u64) -> u64 {
    a + b + c
}

#[graph]
async fn fan_out(x: u64) -> u64 {
    let a = slow("a", x);
    let b = slow("bb", x);
    let c = slow("ccc", x);
    sum3(a, b, c)
}

#[tokio::test(start_paused = true)]
async fn three_slow_nodes_take_the_time_of_one() {
    let g = serve_runtime::start(fan_out).bounded().await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(g.call(10).bounded().await.unwrap(), 36);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(
        took < Duration::from_millis(400),
        "ran one after another: {took:?}"
    );
}

// ---- replicas: construction, routing, limits, failures ------------------------------------

static BUILT: AtomicUsize = AtomicUsize::new(0);

#[deployment(num_replicas = 4, max_ongoing_requests = 1, max_queued_requests = 0)]
struct Gate {
    id: usize,
}

#[deployment]
impl Gate {
    fn new() -> Self {
        Gate {
            id: BUILT.fetch_add(1, Ordering::SeqCst),
        }
    }

    async fn hold(&self, ms: u64) -> usize {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.id
    }
}

#[graph]
async fn gate(ms: u64) -> usize {
    let g = Gate::bind();
    g.hold(ms)
}

#[tokio::test(start_paused = true)]
async fn replicas_are_built_once_spread_by_load_and_limited() {
    let before = BUILT.load(Ordering::SeqCst);
    let g = serve_runtime::start(gate).bounded().await.unwrap();
    assert_eq!(
        BUILT.load(Ordering::SeqCst) - before,
        4,
        "one constructor call per replica"
    );
    // Four concurrent calls fit the four replicas exactly (one slot each), so each lands on
    // a different replica; the fifth finds every replica full and no queue.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.call(100).bounded().await })
        })
        .collect();
    tokio::task::yield_now().await;
    let refused = g.call(1).bounded().await.unwrap_err();
    assert!(
        matches!(&refused, Error::Overloaded { deployment } if deployment == "Gate"),
        "{refused:?}"
    );
    assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    let mut ids: Vec<usize> = Vec::new();
    for c in calls {
        ids.push(c.await.unwrap().unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "calls went to distinct replicas");
    // Slots are given back: the graph serves again.
    g.call(1).bounded().await.unwrap();
}

#[deployment(max_ongoing_requests = 1, max_queued_requests = 10)]
#[derive(Default)]
struct Queue;
#[deployment]
impl Queue {
    async fn hold(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

#[graph]
async fn queued(ms: u64) -> u64 {
    let q = Queue::bind();
    q.hold(ms)
}

#[tokio::test(start_paused = true)]
async fn calls_wait_in_the_queue_for_a_free_slot() {
    let g = serve_runtime::start(queued).bounded().await.unwrap();
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.call(100).bounded().await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), 100);
    }
    // One slot: the three calls ran one after another.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn a_queue_place_is_given_back_when_its_call_gets_a_slot() {
    let g = serve_runtime::start(queued).bounded().await.unwrap();
    // Four rounds of one running and five waiting: twenty waits in all, twice the
    // deployment's ten queue places, never more than five at once.
    for _ in 0..4 {
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { g.call(10).bounded().await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().unwrap(), 10, "no call was refused");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_waiting_call_is_not_overtaken_by_callers_that_come_back_at_once() {
    // One slot, three callers that each call again the moment their last call returns.
    // A freed slot goes to the call that has waited longest, so no caller waits more than
    // the two calls ahead of it: taking the slot back at once would starve the others.
    let g = serve_runtime::start(queued).bounded().await.unwrap();
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move {
                let mut longest = Duration::ZERO;
                for _ in 0..20 {
                    let asked = tokio::time::Instant::now();
                    g.call(10).bounded().await.unwrap();
                    longest = longest.max(asked.elapsed());
                }
                longest
            })
        })
        .collect();
    for caller in callers {
        let longest = caller.await.unwrap();
        assert!(
            longest <= Duration::from_millis(30),
            "a call waited {longest:?}, more than the two calls ahead of it"
        );
    }
}

#[deployment(num_replicas = 3)]
struct Broken;
#[deployment]
impl Broken {
    async fn new(path: String) -> Result<Self, String> {
        Err(format!("cannot open weights at {path}"))
    }
    async fn run(&self, x: u32) -> u32 {
        x
    }
}

#[graph]
async fn broken(x: u32) -> u32 {
    let b = Broken::bind("missing.bin");
    b.run(x)
}

#[tokio::test]
async fn a_failing_constructor_stops_start_up_naming_the_deployment() {
    let err = serve_runtime::start(broken).bounded().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment `Broken` failed to start (replica 0): cannot open weights at missing.bin"
    );
}

#[deployment]
#[derive(Default)]
struct Panicky;
#[deployment]
impl Panicky {
    async fn run(&self, x: u32) -> u32 {
        assert!(x != 13, "unlucky input {x}");
        x * 2
    }
}

#[graph]
async fn panicky(x: u32) -> u32 {
    let p = Panicky::bind();
    p.run(x)
}

#[tokio::test]
async fn a_panic_fails_one_call_and_the_replica_keeps_serving() {
    let g = serve_runtime::start(panicky).bounded().await.unwrap();
    let err = g.call(13).bounded().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment `Panicky` panicked in `run`: unlucky input 13"
    );
    assert_eq!(g.call(2).bounded().await.unwrap(), 4);
}

#[deployment]
struct PanicInNew;
#[deployment]
impl PanicInNew {
    fn new() -> Self {
        panic!("no GPU found")
    }
    async fn run(&self) -> u32 {
        1
    }
}

#[graph]
async fn panic_in_new(_x: u32) -> u32 {
    let p = PanicInNew::bind();
    p.run()
}

#[tokio::test]
async fn a_panicking_constructor_is_a_start_error() {
    let err = serve_runtime::start(panic_in_new)
        .bounded()
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Start { deployment, .. } if deployment == "PanicInNew"));
    assert!(
        err.to_string()
            .ends_with("constructor panicked: no GPU found"),
        "{err}"
    );
}

// ---- the same type bound twice, shared values, Arc ----------------------------------------

#[deployment]
struct Scale {
    by: u64,
}
#[deployment]
impl Scale {
    fn new(by: u64) -> Self {
        Scale { by }
    }
    async fn apply(&self, x: Arc<u64>) -> u64 {
        *x * self.by
    }
}

#[deployment]
async fn share(x: u64) -> Arc<u64> {
    Arc::new(x)
}

#[deployment]
async fn pair(a: u64, b: u64) -> (u64, u64) {
    (a, b)
}

#[graph]
async fn twice(x: u64) -> (u64, u64) {
    let double = Scale::bind(2); // literals take the parameter type
    let triple = Scale::bind(3);
    let shared = share(x).await;
    let a = double.apply(shared);
    let b = triple.apply(shared);
    pair(a, b)
}

#[tokio::test]
async fn one_type_bound_twice_is_two_deployments() {
    let g = serve_runtime::start(twice).bounded().await.unwrap();
    assert_eq!(g.call(5).bounded().await.unwrap(), (10, 15));
    let names: Vec<_> = twice::spec()
        .deployments
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["Scale", "Scale_1", "share", "pair"]);
}

// ---- options per binding ----------------------------------------------------------------

#[deployment(num_replicas = 1, max_ongoing_requests = 5)]
struct Gain {
    factor: f64,
}

#[deployment]
impl Gain {
    fn new(factor: f64) -> Self {
        Gain { factor }
    }
    async fn apply(&self, x: f64) -> f64 {
        x * self.factor
    }
}

#[deployment]
struct Pair {
    first: Handle<Gain>,
}

#[deployment]
impl Pair {
    fn new(first: Handle<Gain>) -> Self {
        Pair { first }
    }
    async fn run(&self, x: f64) -> Result<f64, Error> {
        self.first.apply(x).await
    }
}

#[graph]
async fn bound_twice(x: f64) -> f64 {
    let small = Gain::bind(2.0);
    let big = Gain::bind(3.0).options(num_replicas = 3, max_ongoing_requests = 7);
    let pair = Pair::bind(Gain::bind(5.0).options(num_cpus = 0.25));
    let a = small.apply(x);
    let b = big.apply(a);
    pair.run(b)
}

#[tokio::test]
async fn one_type_bound_twice_runs_each_binding_with_its_own_options() {
    let spec = bound_twice::spec();
    let options = |name: &str| spec.deployment(name).unwrap().options;
    assert_eq!(
        (
            options("Gain").num_replicas,
            options("Gain").max_ongoing_requests
        ),
        (1, 5),
        "the code's options where the binding sets none"
    );
    assert_eq!(
        (
            options("Gain_1").num_replicas,
            options("Gain_1").max_ongoing_requests
        ),
        (3, 7)
    );
    let written = |name: &str| {
        let args = &spec.deployment(name).unwrap().bind_args;
        args.iter()
            .map(|a| (a.name.clone(), a.written.clone(), a.configurable))
            .collect::<Vec<(String, String, bool)>>()
    };
    assert_eq!(written("Gain_1"), [("factor".into(), "3.0".into(), true)]);
    assert_eq!(
        written("Pair"),
        [(
            "first".into(),
            "Gain::bind(5.0).options(num_cpus = 0.25)".into(),
            false
        )],
        "a handle is not something a config can give"
    );
    let nested = options("Gain_2");
    assert_eq!((nested.num_cpus, nested.num_replicas), (0.25, 1));
    assert_eq!(
        nested.executor,
        Executor::Inline,
        "a binding's CPUs do not change the executor its code has"
    );
    let options = StartOptions::default().resources(Resources::new(1.0, 0));
    let g = serve_runtime::start_with(bound_twice, options)
        .bounded()
        .await
        .unwrap();
    assert_eq!(g.call(1.0).bounded().await.unwrap(), 30.0);
    let status = g.status();
    let running = |name: &str| status.deployment(name).unwrap().replicas.len();
    assert_eq!(
        (running("Gain"), running("Gain_1"), running("Gain_2")),
        (1, 3, 1)
    );
}

// ---- a deployment's methods named as `Handle`'s own ------------------------------------

#[deployment]
#[derive(Default)]
struct Registry;

#[deployment]
impl Registry {
    async fn name(&self, id: u32) -> String {
        format!("user-{id}")
    }

    async fn num_replicas(&self) -> usize {
        99
    }

    async fn ongoing(&self, id: u32) -> Vec<u32> {
        vec![id; 2]
    }
}

#[deployment]
struct Lookup {
    registry: Handle<Registry>,
}

#[deployment]
impl Lookup {
    fn new(registry: Handle<Registry>) -> Self {
        Lookup { registry }
    }

    async fn describe(&self, id: u32) -> Result<String, serve_runtime::Error> {
        let name = self.registry.name(id).await?;
        let replicas = self.registry.num_replicas().await?;
        let ongoing = self.registry.ongoing(id).await?;
        // `Handle`'s own figures, as associated functions.
        let handle = Handle::name(&self.registry);
        Ok(format!(
            "{name} {replicas} {ongoing:?} {handle} {}",
            Handle::num_replicas(&self.registry)
        ))
    }
}

#[graph]
async fn lookups(id: u32) -> String {
    let lookup = Lookup::bind(Registry::bind());
    lookup.describe(id)
}

#[tokio::test]
async fn deployment_methods_named_like_handle_functions_are_the_ones_called() {
    let g = serve_runtime::start(lookups).bounded().await.unwrap();
    assert_eq!(
        g.call(7).bounded().await.unwrap(),
        "user-7 99 [7, 7] Registry 1"
    );
}
