//! Dynamic batching: `#[batch]` methods called one input at a time, run on whole batches.

use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

use common::Bounded;
use serve_runtime::{Error, deployment, graph};

/// The sizes of the batches one deployment saw, in order.
struct Sizes(Mutex<Vec<usize>>);

impl Sizes {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }
    fn push(&self, n: usize) {
        self.0.lock().unwrap().push(n);
    }
    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

// ---- batches form under load ------------------------------------------------------------

static DOUBLER_SIZES: Sizes = Sizes::new();

#[deployment(num_replicas = 1, max_ongoing_requests = 64)]
#[derive(Default)]
struct Doubler;

#[deployment]
impl Doubler {
    /// Doubles every input; the batch's size is recorded.
    #[batch(max_batch_size = 8, batch_wait_timeout_s = 0.5)]
    async fn double(&self, xs: Vec<u64>) -> Vec<u64> {
        DOUBLER_SIZES.push(xs.len());
        xs.into_iter().map(|x| x * 2).collect()
    }

    /// Not batched: called one at a time as usual, beside the batched method.
    async fn plus_one(&self, x: u64) -> u64 {
        x + 1
    }
}

#[graph]
async fn doubling(x: u64) -> u64 {
    let d = Doubler::bind();
    let y = d.double(x);
    d.plus_one(y)
}

#[tokio::test]
async fn concurrent_calls_are_gathered_into_full_batches_and_answered_each() {
    let g = serve_runtime::start(doubling).bounded().await.unwrap();
    let calls: Vec<_> = (0..16u64)
        .map(|x| {
            let g = g.clone();
            tokio::spawn(async move { (x, g.call(x).bounded().await) })
        })
        .collect();
    for call in calls {
        let (x, answer) = call.await.unwrap();
        assert_eq!(
            answer.unwrap(),
            x * 2 + 1,
            "each caller gets its own output"
        );
    }
    let sizes = DOUBLER_SIZES.take();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        16,
        "every input ran once: {sizes:?}"
    );
    // The wait (0.5 s) is far longer than it takes 16 tasks to arrive, so the batches
    // fill to `max_batch_size` and never past it.
    assert_eq!(sizes, vec![8, 8]);
    g.shutdown().await;
}

// ---- a lone call, a caller that leaves --------------------------------------------------

static LONE_SIZES: Sizes = Sizes::new();

#[deployment(max_ongoing_requests = 16)]
#[derive(Default)]
struct Lone;

#[deployment]
impl Lone {
    #[batch(max_batch_size = 16, batch_wait_timeout_s = 0.1)]
    async fn echo(&self, xs: Vec<String>) -> Vec<String> {
        LONE_SIZES.push(xs.len());
        xs
    }
}

#[graph]
async fn lone(text: String) -> String {
    let l = Lone::bind();
    l.echo(text)
}

#[tokio::test]
async fn a_lone_call_runs_alone_once_the_wait_is_over() {
    let g = serve_runtime::start(lone).bounded().await.unwrap();
    let started = Instant::now();
    let answer = g.call("alone".to_owned()).bounded().await.unwrap();
    assert_eq!(answer, "alone");
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "it waited for company: {:?}",
        started.elapsed()
    );
    assert_eq!(LONE_SIZES.take(), vec![1]);
    g.shutdown().await;
}

static LEAVER_SIZES: Sizes = Sizes::new();

#[deployment(max_ongoing_requests = 16)]
#[derive(Default)]
struct Leaver;

#[deployment]
impl Leaver {
    #[batch(max_batch_size = 16, batch_wait_timeout_s = 0.3)]
    async fn square(&self, xs: Vec<u32>) -> Vec<u32> {
        LEAVER_SIZES.push(xs.len());
        xs.into_iter().map(|x| x * x).collect()
    }
}

#[graph]
async fn squares(x: u32) -> u32 {
    let l = Leaver::bind();
    l.square(x)
}

#[tokio::test]
async fn a_caller_that_leaves_is_taken_out_and_the_others_are_answered() {
    let g = serve_runtime::start(squares).bounded().await.unwrap();
    let stay: Vec<_> = (1..=3u32)
        .map(|x| {
            let g = g.clone();
            tokio::spawn(async move { g.call(x).bounded().await })
        })
        .collect();
    let leaving = {
        let g = g.clone();
        tokio::spawn(async move { g.call(100).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leaving.abort();
    assert!(leaving.await.unwrap_err().is_cancelled());
    let answers: Vec<u32> = futures_util::future::join_all(stay)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(answers, vec![1, 4, 9]);
    assert_eq!(
        LEAVER_SIZES.take(),
        vec![3],
        "the input of the caller that left did not run"
    );
    g.shutdown().await;
}

/// The error and its sources, as one line.
fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out += &format!(": {s}");
        source = s.source();
    }
    out
}

// ---- failures reach every caller of the batch -------------------------------------------

#[deployment(max_ongoing_requests = 8)]
#[derive(Default)]
struct Broken;

#[deployment]
impl Broken {
    /// Loses an output when the batch holds a 0; fails when it holds a 1; panics at 2.
    #[batch(max_batch_size = 3, batch_wait_timeout_s = 1.0)]
    async fn check(&self, xs: Vec<u8>) -> Result<Vec<u8>, String> {
        if xs.contains(&2) {
            panic!("cannot take a 2");
        }
        if xs.contains(&1) {
            return Err("a 1 is not allowed".to_owned());
        }
        if xs.contains(&0) {
            return Ok(xs[1..].to_vec());
        }
        Ok(xs)
    }
}

#[graph]
async fn checking(x: u8) -> u8 {
    let b = Broken::bind();
    b.check(x)
}

/// Sends three inputs at once (one full batch) and gives each caller's result.
async fn batch_of_three(
    g: &serve_runtime::GraphHandle<checking>,
    xs: [u8; 3],
) -> Vec<Result<u8, Error>> {
    let calls = xs.map(|x| {
        let g = g.clone();
        tokio::spawn(async move { g.call(x).bounded().await })
    });
    let mut out = Vec::new();
    for call in calls {
        out.push(call.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_failed_batch_fails_each_of_its_callers_with_the_reason() {
    let g = serve_runtime::start(checking).bounded().await.unwrap();

    let answers = batch_of_three(&g, [5, 6, 7]).await;
    let mut ok: Vec<u8> = answers.into_iter().map(Result::unwrap).collect();
    ok.sort_unstable();
    assert_eq!(ok, vec![5, 6, 7]);

    for answer in batch_of_three(&g, [0, 6, 7]).await {
        let e = answer.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Node {
                    method: "check",
                    ..
                }
            ),
            "{e}"
        );
        let why = chain(&e);
        assert!(
            why.contains("returned 2 outputs for 3 inputs"),
            "the length mismatch is named: {why}"
        );
    }

    for answer in batch_of_three(&g, [1, 6, 7]).await {
        let why = chain(&answer.unwrap_err());
        assert!(why.contains("a 1 is not allowed"), "{why}");
    }

    for answer in batch_of_three(&g, [2, 6, 7]).await {
        let e = answer.unwrap_err();
        assert!(
            matches!(&e, Error::Panic { message, .. } if message.contains("cannot take a 2")),
            "{e}"
        );
    }

    // The replica serves on after all of that.
    let answers = batch_of_three(&g, [3, 4, 5]).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    g.shutdown().await;
}

// ---- sync methods on threads, function deployments --------------------------------------

#[deployment(num_cpus = 1, max_ongoing_requests = 8)]
#[derive(Default)]
struct Compute;

#[deployment]
impl Compute {
    /// A sync batch method: the deployment runs on threads of its own.
    #[batch(max_batch_size = 4, batch_wait_timeout_s = 0.2)]
    fn thread_names(&self, xs: Vec<u32>) -> Vec<String> {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        xs.iter().map(|x| format!("{x}@{name}")).collect()
    }
}

#[graph]
async fn on_threads(x: u32) -> String {
    let c = Compute::bind();
    c.thread_names(x)
}

#[tokio::test]
async fn a_sync_batch_method_runs_on_the_replicas_own_thread() {
    let g = serve_runtime::start(on_threads).bounded().await.unwrap();
    let calls: Vec<_> = (0..4u32)
        .map(|x| {
            let g = g.clone();
            tokio::spawn(async move { g.call(x).bounded().await.unwrap() })
        })
        .collect();
    for (x, call) in calls.into_iter().enumerate() {
        let answer = call.await.unwrap();
        let (value, thread) = answer.split_once('@').unwrap();
        assert_eq!(value, x.to_string());
        assert!(thread.starts_with("Compute"), "ran on `{thread}`");
    }
    g.shutdown().await;
}

static JOIN_SIZES: Sizes = Sizes::new();

/// A batched function deployment.
#[deployment(max_ongoing_requests = 8)]
#[batch(max_batch_size = 4, batch_wait_timeout_s = 0.5)]
async fn shout(words: Vec<String>) -> Vec<String> {
    JOIN_SIZES.push(words.len());
    words.into_iter().map(|w| w.to_uppercase()).collect()
}

#[graph]
async fn shouting(word: String) -> String {
    shout(word)
}

#[tokio::test]
async fn a_function_deployment_can_be_batched() {
    let g = serve_runtime::start(shouting).bounded().await.unwrap();
    let calls: Vec<_> = ["a", "b", "c", "d"]
        .map(|w| {
            let g = g.clone();
            tokio::spawn(async move { g.call(w.to_owned()).bounded().await.unwrap() })
        })
        .into_iter()
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    assert_eq!(answers, vec!["A", "B", "C", "D"]);
    assert_eq!(JOIN_SIZES.take(), vec![4]);
    g.shutdown().await;
}

// ---- over HTTP, with the batch sizes in the metrics --------------------------------------

#[deployment(max_ongoing_requests = 32)]
#[derive(Default)]
struct Tripler;

#[deployment]
impl Tripler {
    #[batch(max_batch_size = 5, batch_wait_timeout_s = 0.5)]
    async fn triple(&self, xs: Vec<i64>) -> Vec<i64> {
        xs.into_iter().map(|x| x * 3).collect()
    }
}

#[graph(route_prefix = "/triple")]
async fn tripling(x: i64) -> i64 {
    let t = Tripler::bind();
    t.triple(x)
}

/// The value of the one sample `series` (name and labels, as written) in `text`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn http_requests_are_batched_and_the_sizes_are_in_the_metrics() {
    let server = common::bounded(
        serve_runtime::App::new()
            .graph(tripling)
            .bind("127.0.0.1:0"),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    triple_ten(addr).await;
    let (status, _, text) = common::http_full(addr, "GET", "/-/metrics", &[], "").await;
    assert_eq!(status, 200);
    let labels = r#"application="tripling",deployment="Tripler",method="triple""#;
    assert_eq!(
        sample(&text, &format!("serve_batch_size_sum{{{labels}}}")),
        10.0
    );
    assert_eq!(
        sample(&text, &format!("serve_batch_size_count{{{labels}}}")),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("serve_batch_size_bucket{{{labels},le=\"4\"}}")
        ),
        0.0,
        "both batches were full (5)"
    );
}

// ---- sizes from the config file, and changed while serving ------------------------------

async fn triple_ten(addr: std::net::SocketAddr) {
    let calls: Vec<_> = (0..10i64)
        .map(|x| {
            tokio::spawn(async move {
                let body = format!("{{\"x\":{x}}}");
                (
                    x,
                    common::http_full(addr, "POST", "/triple", &[], &body).await,
                )
            })
        })
        .collect();
    for call in calls {
        let (x, (status, _, body)) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, (x * 3).to_string());
    }
}

async fn batches_run(addr: std::net::SocketAddr) -> f64 {
    let (_, _, text) = common::http_full(addr, "GET", "/-/metrics", &[], "").await;
    let labels = r#"application="tripling",deployment="Tripler",method="triple""#;
    sample(&text, &format!("serve_batch_size_count{{{labels}}}"))
}

#[tokio::test]
async fn batch_sizes_come_from_the_config_and_change_while_serving() {
    let built = serve_runtime::App::new()
        .graph(tripling)
        .build_config()
        .unwrap();
    for line in [
        "        batch:  # the sizes of the `#[batch]` methods; changed at once, no restart",
        "          triple:",
        "            max_batch_size: 5  # the most inputs one call gets (at most max_ongoing_requests)",
        "            batch_wait_timeout_s: 0.5  # how long the oldest input waits for more",
    ] {
        assert!(built.contains(line), "`{line}` is missing from:\n{built}");
    }
    let file = built.replace("max_batch_size: 5", "max_batch_size: 2");
    let config = serve_runtime::ServeConfig::from_yaml("batch.yaml", &file).unwrap();
    let app = serve_runtime::App::new().graph(tripling).config(config);
    let server = common::bounded(app.bind("127.0.0.1:0")).await.unwrap();
    let addr = server.local_addr();
    triple_ten(addr).await;
    assert_eq!(batches_run(addr).await, 5.0, "ten inputs in batches of two");

    let (status, _, body) = common::http_full(addr, "PUT", "/-/config", &[], &built).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("tripling/Tripler: batch triple max_batch_size 2 -> 5"),
        "{body}"
    );
    let (_, _, now) = common::http_full(addr, "GET", "/-/config", &[], "").await;
    assert!(now.contains("max_batch_size: 5"), "{now}");
    triple_ten(addr).await;
    assert_eq!(batches_run(addr).await, 7.0, "then in batches of five");
}

#[test]
fn batch_sizes_that_cannot_work_are_refused_and_placed() {
    let refused = |text: &str| {
        let config = serve_runtime::ServeConfig::from_yaml("batch.yaml", text).unwrap();
        serve_runtime::App::new()
            .graph(tripling)
            .config(config)
            .build_config()
            .unwrap_err()
            .to_string()
    };
    let deployment = "applications:\n  - name: tripling\n    deployments:\n      - name: Tripler\n";
    let err = refused(&format!(
        "{deployment}        batch:\n          tripel:\n            max_batch_size: 4\n"
    ));
    assert!(
        err.contains("line 7, column 13: `Tripler` has no `#[batch]` method named `tripel`"),
        "{err}"
    );
    assert!(err.contains("did you mean `triple`?"), "{err}");
    let err = refused(&format!(
        "{deployment}        batch:\n          triple:\n            max_batch_size: 64\n"
    ));
    assert!(
        err.contains(
            "line 7, column 29: max_batch_size 64 of `triple` is more than max_ongoing_requests 32"
        ),
        "{err}"
    );
    let err = refused(&format!("{deployment}        max_ongoing_requests: 4\n"));
    assert!(
        err.contains(
            "line 5, column 31: max_batch_size 5 of `triple` is more than max_ongoing_requests 4"
        ),
        "{err}"
    );
}

// ---- batches at once ----------------------------------------------------------------------

/// How many batches run now, and the most that ever did at once.
struct Overlap {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Overlap {
    const fn new() -> Self {
        Self {
            now: std::sync::atomic::AtomicUsize::new(0),
            most: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    async fn during(&self, work: impl Future<Output = ()>) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        work.await;
        self.now.fetch_sub(1, SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }
}

static ONE_AT_A_TIME: Overlap = Overlap::new();
static TWO_AT_A_TIME: Overlap = Overlap::new();

#[deployment(max_ongoing_requests = 16)]
#[derive(Default)]
struct Slow;

#[deployment]
impl Slow {
    /// Ray's default: one batch at a time per replica.
    #[batch(max_batch_size = 2, batch_wait_timeout_s = 5.0)]
    async fn one(&self, xs: Vec<u32>) -> Vec<u32> {
        ONE_AT_A_TIME
            .during(tokio::time::sleep(Duration::from_millis(150)))
            .await;
        xs
    }

    #[batch(
        max_batch_size = 2,
        batch_wait_timeout_s = 5.0,
        max_concurrent_batches = 2
    )]
    async fn two(&self, xs: Vec<u32>) -> Vec<u32> {
        TWO_AT_A_TIME
            .during(tokio::time::sleep(Duration::from_millis(150)))
            .await;
        xs
    }
}

#[graph]
async fn slow_ones(x: u32) -> u32 {
    let s = Slow::bind();
    s.one(x)
}

#[graph]
async fn slow_twos(x: u32) -> u32 {
    let s = Slow::bind();
    s.two(x)
}

/// Four concurrent calls of `g`, each answered with its own input.
async fn four_at_once<G: serve_runtime::Graph<Input = u32, Output = u32>>(
    g: &serve_runtime::GraphHandle<G>,
) {
    let calls: Vec<_> = (0..4u32)
        .map(|x| {
            let g = g.clone();
            tokio::spawn(async move { g.call(x).bounded().await })
        })
        .collect();
    for (x, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), x as u32);
    }
}

#[tokio::test]
async fn max_concurrent_batches_lets_that_many_batches_run_at_once() {
    // Four inputs at once make two full batches of two: `one` runs them one after the
    // other, `two` both together.
    let ones = serve_runtime::start(slow_ones).bounded().await.unwrap();
    four_at_once(&ones).await;
    assert_eq!(ONE_AT_A_TIME.most(), 1);
    let twos = serve_runtime::start(slow_twos).bounded().await.unwrap();
    four_at_once(&twos).await;
    assert_eq!(TWO_AT_A_TIME.most(), 2);
}
