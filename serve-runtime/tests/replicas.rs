//! Replicas as execution units: where calls run, placement, lifecycle under load, health,
//! and cancellation. Behaviour is asserted (which thread, which replica, what overlapped,
//! what state), never how fast; every wait is bounded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serve_runtime::{
    App, Error, GraphStatus, ReplicaContext, ReplicaState, Resources, StartOptions, deployment,
    graph,
};

mod common;
use common::{bounded, eventually, http};

fn count(status: &GraphStatus, deployment: &str, state: ReplicaState) -> usize {
    status.deployment(deployment).unwrap().count(state)
}

/// Busy work on the CPU (no sleeping) for `ms`, or until `stop` says so.
fn spin(ms: u64, stop: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut x = 0u64;
    while Instant::now() < until && !stop() {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

// ---- thread replicas: off the server's workers, in parallel ---------------------------

#[derive(Clone, Debug)]
struct Span {
    thread: String,
    start: Instant,
    end: Instant,
}

#[deployment(num_cpus = 0.5)]
#[derive(Default)]
struct Crunch;

#[deployment]
impl Crunch {
    /// Sync: runs on the replica's own thread.
    fn work(&self, ms: u64) -> Span {
        let start = Instant::now();
        spin(ms, || false);
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        Span {
            thread,
            start,
            end: Instant::now(),
        }
    }
}

#[deployment]
async fn gather(a: Span, b: Span, c: Span) -> Vec<Span> {
    vec![a, b, c]
}

#[graph]
async fn three_branches(ms: u64) -> Vec<Span> {
    let x = Crunch::bind();
    let y = Crunch::bind();
    let z = Crunch::bind();
    let a = x.work(ms);
    let b = y.work(ms);
    let c = z.work(ms);
    gather(a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_bound_branches_run_in_parallel_on_threads_of_their_own() {
    let g = serve_runtime::start(three_branches).await.unwrap();
    let spans = bounded(g.call(200)).await.unwrap();
    let threads: Vec<&str> = spans.iter().map(|s| s.thread.as_str()).collect();
    assert_eq!(threads, ["Crunch#0", "Crunch_1#0", "Crunch_2#0"]);
    let last_start = spans.iter().map(|s| s.start).max().unwrap();
    let first_end = spans.iter().map(|s| s.end).min().unwrap();
    assert!(
        last_start < first_end,
        "all three branches were running at once: {spans:?}"
    );
}

static HOGGING: AtomicUsize = AtomicUsize::new(0);
static RELEASE_HOGS: AtomicBool = AtomicBool::new(false);

#[deployment(num_replicas = 2, num_cpus = 1, max_ongoing_requests = 1)]
#[derive(Default)]
struct Hog;

#[deployment]
impl Hog {
    fn hold(&self, _x: u32) -> u32 {
        HOGGING.fetch_add(1, Ordering::SeqCst);
        spin(20_000, || RELEASE_HOGS.load(Ordering::SeqCst));
        HOGGING.fetch_sub(1, Ordering::SeqCst);
        1
    }
}

#[graph(route_prefix = "/hog")]
async fn hogging(x: u32) -> u32 {
    let hog = Hog::bind();
    hog.hold(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_every_core_runs_node_code() {
    let server = App::new()
        .graph(hogging)
        .resources(Resources::new(2.0, 0))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let calls: Vec<_> = (0..2)
        .map(|_| tokio::spawn(http(addr, "POST", "/hog", "{\"x\": 1}")))
        .collect();
    eventually("both replicas spin", || HOGGING.load(Ordering::SeqCst) == 2).await;
    let (status, _) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        HOGGING.load(Ordering::SeqCst),
        2,
        "healthz answered while both cores were still busy in node code"
    );
    RELEASE_HOGS.store(true, Ordering::SeqCst);
    for call in calls {
        assert_eq!(bounded(call).await.unwrap().0, 200);
    }
}

// ---- scaling under load -----------------------------------------------------------------

static STOPPED_HOOKS: AtomicUsize = AtomicUsize::new(0);

#[deployment(executor = threads, num_cpus = 0.25, health_check_period_s = 0.05)]
struct Elastic {
    id: u32,
}

#[deployment]
impl Elastic {
    fn new(ctx: &ReplicaContext) -> Self {
        Elastic {
            id: ctx.replica_id(),
        }
    }

    async fn serve(&self, _x: u32) -> u32 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.id
    }

    async fn shutdown(&self) {
        STOPPED_HOOKS.fetch_add(1, Ordering::SeqCst);
    }
}

#[graph]
async fn elastic(x: u32) -> u32 {
    let e = Elastic::bind();
    e.serve(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_up_and_down_under_load_fails_no_request() {
    let g = serve_runtime::start(elastic).await.unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let seen = std::sync::Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (g, stop, seen) = (g.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = bounded(g.call(1))
                        .await
                        .expect("no call fails while scaling");
                    seen.lock().unwrap().insert(id);
                    served += 1;
                }
                served
            })
        })
        .collect();

    g.scale("Elastic", 3).unwrap();
    eventually("three replicas run", || {
        count(&g.status(), "Elastic", ReplicaState::Running) == 3
    })
    .await;
    eventually("the new replicas take calls", || {
        seen.lock().unwrap().len() == 3
    })
    .await;
    g.scale("Elastic", 1).unwrap();
    eventually("two replicas drained and stopped", || {
        let s = g.status();
        count(&s, "Elastic", ReplicaState::Running) == 1
            && count(&s, "Elastic", ReplicaState::Stopped) == 2
    })
    .await;
    assert_eq!(
        STOPPED_HOOKS.load(Ordering::SeqCst),
        2,
        "each stopped replica's `shutdown` ran"
    );
    let survivor = g.status().deployment("Elastic").unwrap().replicas[0].clone();
    assert_eq!(
        (survivor.replica_id, survivor.state),
        (0, ReplicaState::Running),
        "the newest replicas go first"
    );
    stop.store(true, Ordering::SeqCst);
    for task in load {
        assert!(bounded(task).await.unwrap() > 0);
    }
    assert!(matches!(g.scale("Nope", 2), Err(Error::Config(m)) if m.contains("`Elastic`")));
    assert!(
        g.scale("Elastic", 0).is_err(),
        "scale to zero is not supported yet"
    );
}

// ---- health ----------------------------------------------------------------------------

#[deployment(
    num_replicas = 2,
    health_check_period_s = 0.05,
    health_check_timeout_s = 1
)]
struct Flaky {
    id: u32,
}

#[deployment]
impl Flaky {
    fn new(ctx: &ReplicaContext) -> Self {
        Flaky {
            id: ctx.replica_id(),
        }
    }

    async fn serve(&self, x: u32) -> u32 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        x + self.id
    }

    async fn check_health(&self) -> Result<(), String> {
        if self.id == 0 {
            Err("replica 0 lost its model".into())
        } else {
            Ok(())
        }
    }
}

#[graph]
async fn flaky(x: u32) -> u32 {
    let f = Flaky::bind();
    f.serve(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_replica_is_replaced_while_traffic_continues() {
    let g = serve_runtime::start(flaky).await.unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (g, stop) = (g.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    bounded(g.call(100))
                        .await
                        .expect("no call fails while replacing");
                }
            })
        })
        .collect();
    eventually("replica 0 failed and a replacement runs", || {
        let s = g.status();
        let d = s.deployment("Flaky").unwrap();
        let zero = d.replicas.iter().find(|r| r.replica_id == 0);
        zero.is_some_and(|r| r.state == ReplicaState::Failed)
            && d.count(ReplicaState::Running) == 2
            && d.replicas
                .iter()
                .any(|r| r.replica_id >= 2 && r.state == ReplicaState::Running)
    })
    .await;
    let s = g.status();
    let zero = s
        .deployment("Flaky")
        .unwrap()
        .replicas
        .iter()
        .find(|r| r.replica_id == 0)
        .unwrap()
        .clone();
    assert!(
        zero.message
            .as_deref()
            .unwrap()
            .contains("replica 0 lost its model"),
        "{zero:?}"
    );
    stop.store(true, Ordering::SeqCst);
    for task in load {
        bounded(task).await.unwrap();
    }
}

/// Health checks are an hour apart: a replacement can only come from the panics.
#[deployment(max_ongoing_requests = 1, health_check_period_s = 3600)]
#[derive(Default)]
struct Brittle;

#[deployment]
impl Brittle {
    async fn run(&self, fail: bool) -> u32 {
        assert!(!fail, "asked to panic");
        7
    }
}

#[graph]
async fn brittle(fail: bool) -> u32 {
    let b = Brittle::bind();
    b.run(fail)
}

#[tokio::test]
async fn panics_with_answers_between_them_are_not_in_a_row() {
    let g = serve_runtime::start(brittle).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            bounded(g.call(true)).await,
            Err(Error::Panic { .. })
        ));
        assert_eq!(bounded(g.call(false)).await.unwrap(), 7);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = g.status();
    let d = s.deployment("Brittle").unwrap();
    assert_eq!(d.replicas.len(), 1, "{d:?}");
    assert_eq!(
        (d.replicas[0].replica_id, d.replicas[0].state),
        (0, ReplicaState::Running)
    );
}

#[tokio::test]
async fn a_replica_whose_calls_keep_panicking_is_replaced() {
    let g = serve_runtime::start(brittle).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            bounded(g.call(true)).await,
            Err(Error::Panic { .. })
        ));
    }
    eventually("replica 0 was replaced", || {
        let s = g.status();
        let d = s.deployment("Brittle").unwrap();
        d.replicas
            .iter()
            .any(|r| r.replica_id == 0 && r.state == ReplicaState::Failed)
            && d.replicas
                .iter()
                .any(|r| r.replica_id == 1 && r.state == ReplicaState::Running)
    })
    .await;
    let s = g.status();
    let zero = &s.deployment("Brittle").unwrap().replicas[0];
    assert_eq!(zero.message.as_deref(), Some("3 calls in a row panicked"));
    assert_eq!(bounded(g.call(false)).await.unwrap(), 7);
}

// ---- start failures while scaling, and readiness ---------------------------------------

static PICKY_FAILS: AtomicBool = AtomicBool::new(false);

#[deployment]
struct Picky;

#[deployment]
impl Picky {
    fn new() -> Result<Self, String> {
        if PICKY_FAILS.load(Ordering::SeqCst) {
            Err("weights not found".into())
        } else {
            Ok(Picky)
        }
    }

    async fn run(&self, x: u32) -> u32 {
        x
    }
}

#[graph]
async fn picky(x: u32) -> u32 {
    let p = Picky::bind();
    p.run(x)
}

#[tokio::test]
async fn a_constructor_that_fails_while_scaling_is_retried_and_reported() {
    let g = serve_runtime::start(picky).await.unwrap();
    PICKY_FAILS.store(true, Ordering::SeqCst);
    g.scale("Picky", 2).unwrap();
    eventually("two failed starts are reported", || {
        count(&g.status(), "Picky", ReplicaState::Failed) >= 2
    })
    .await;
    let status = g.status();
    let d = status.deployment("Picky").unwrap();
    let message = d.message.as_deref().unwrap();
    assert!(
        message.contains("failed to start: weights not found"),
        "{message}"
    );
    assert!(message.contains("retrying in"), "{message}");
    assert_eq!(
        d.count(ReplicaState::Running),
        1,
        "the serving replica keeps serving"
    );
    assert_eq!(bounded(g.call(5)).await.unwrap(), 5);
    PICKY_FAILS.store(false, Ordering::SeqCst);
    eventually("the retry succeeds", || {
        count(&g.status(), "Picky", ReplicaState::Running) == 2
    })
    .await;
    assert_eq!(g.status().deployment("Picky").unwrap().message, None);
}

static DOOMED_STARTS: AtomicU32 = AtomicU32::new(0);

#[deployment(health_check_period_s = 0.05)]
struct Doomed;

#[deployment]
impl Doomed {
    fn new() -> Result<Self, String> {
        match DOOMED_STARTS.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(Doomed),
            _ => Err("the device is gone".into()),
        }
    }

    async fn run(&self, x: u32) -> u32 {
        x
    }

    async fn check_health(&self) -> Result<(), String> {
        Err("the device is gone".into())
    }
}

#[graph(route_prefix = "/doomed")]
async fn doomed(x: u32) -> u32 {
    let d = Doomed::bind();
    d.run(x)
}

#[tokio::test]
async fn healthz_is_not_ready_while_a_deployment_has_no_running_replica() {
    let server = App::new().graph(doomed).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    eventually(
        "the replica failed and its replacement cannot start",
        || {
            let s = &server.status()[0];
            count(s, "Doomed", ReplicaState::Running) == 0
                && count(s, "Doomed", ReplicaState::Failed) >= 2
        },
    )
    .await;
    let (status, body) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["not_ready"], serde_json::json!(["doomed/Doomed"]));
    let (status, body) = http(addr, "GET", "/-/status", "").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["name"], "doomed");
    assert_eq!(body[0]["deployments"][0]["replicas"][0]["state"], "FAILED");
}

// ---- cancellation ----------------------------------------------------------------------

static LONG_STARTED: AtomicUsize = AtomicUsize::new(0);
static LONG_SAW_CANCEL: AtomicBool = AtomicBool::new(false);

#[deployment(num_cpus = 0.5, max_ongoing_requests = 2)]
#[derive(Default)]
struct Long;

#[deployment]
impl Long {
    fn run(&self, ctx: &ReplicaContext, _x: u32) -> u32 {
        LONG_STARTED.fetch_add(1, Ordering::SeqCst);
        spin(20_000, || ctx.is_cancelled());
        if ctx.is_cancelled() {
            LONG_SAW_CANCEL.store(true, Ordering::SeqCst);
        }
        1
    }
}

#[graph]
async fn long(x: u32) -> u32 {
    let l = Long::bind();
    l.run(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_reaches_a_running_call_and_drops_a_queued_one() {
    let g = serve_runtime::start(long).await.unwrap();
    // Both calls reach the replica; the first runs on its one thread, the second waits.
    let first = tokio::spawn({
        let g = g.clone();
        async move { tokio::time::timeout(Duration::from_millis(300), g.call(1)).await }
    });
    eventually("the first call runs", || {
        LONG_STARTED.load(Ordering::SeqCst) == 1
    })
    .await;
    let second = tokio::time::timeout(Duration::from_millis(100), g.call(2)).await;
    assert!(second.is_err(), "the second call waited behind the first");
    assert!(
        bounded(first).await.unwrap().is_err(),
        "the first call timed out"
    );
    eventually("the running call saw its cancellation", || {
        LONG_SAW_CANCEL.load(Ordering::SeqCst)
    })
    .await;
    eventually("the replica's slots are free again", || {
        g.status().deployment("Long").unwrap().replicas[0].ongoing == 0
    })
    .await;
    assert_eq!(
        LONG_STARTED.load(Ordering::SeqCst),
        1,
        "the queued call was dropped before it ran"
    );
}

// ---- stopping ----------------------------------------------------------------------------

static DRAIN_LOG: Mutex<Vec<&str>> = Mutex::new(Vec::new());

#[deployment(num_cpus = 0.25, graceful_shutdown_timeout_s = 10)]
#[derive(Default)]
struct Draining;

#[deployment]
impl Draining {
    async fn run(&self, ms: u64) -> u64 {
        DRAIN_LOG.lock().unwrap().push("call started");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        DRAIN_LOG.lock().unwrap().push("call ended");
        ms
    }

    async fn shutdown(&self) {
        DRAIN_LOG.lock().unwrap().push("shutdown");
    }
}

#[graph]
async fn draining(ms: u64) -> u64 {
    let d = Draining::bind();
    d.run(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_calls_finish_then_runs_the_hook() {
    let g = serve_runtime::start(draining).await.unwrap();
    let call = tokio::spawn({
        let g = g.clone();
        async move { g.call(300).await }
    });
    eventually("the call started", || !DRAIN_LOG.lock().unwrap().is_empty()).await;
    bounded(g.clone().shutdown()).await;
    assert_eq!(bounded(call).await.unwrap().unwrap(), 300);
    assert_eq!(
        *DRAIN_LOG.lock().unwrap(),
        ["call started", "call ended", "shutdown"]
    );
    let status = g.status();
    assert_eq!(count(&status, "Draining", ReplicaState::Stopped), 1);
    assert_eq!(status.deployment("Draining").unwrap().target_replicas, 0);
}

static SLOW_STARTS: AtomicUsize = AtomicUsize::new(0);
static SLOW_SHUTDOWNS: AtomicUsize = AtomicUsize::new(0);

/// Replicas after the first take half a second to build.
#[deployment]
struct SlowStart;

#[deployment]
impl SlowStart {
    async fn new(ctx: &ReplicaContext) -> Self {
        if ctx.replica_id() > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        SLOW_STARTS.fetch_add(1, Ordering::SeqCst);
        SlowStart
    }

    async fn run(&self, x: u32) -> u32 {
        x
    }

    async fn shutdown(&self) {
        SLOW_SHUTDOWNS.fetch_add(1, Ordering::SeqCst);
    }
}

#[graph]
async fn slow_start(x: u32) -> u32 {
    let s = SlowStart::bind();
    s.run(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_still_starting_at_shutdown_never_serves_and_is_shut_down() {
    let g = serve_runtime::start(slow_start).await.unwrap();
    g.scale("SlowStart", 2).unwrap();
    eventually("the second replica is starting", || {
        count(&g.status(), "SlowStart", ReplicaState::Starting) == 1
    })
    .await;
    bounded(g.clone().shutdown()).await;
    // Shutdown waited for the late replica too: both were built and both shut down, and
    // none is left taking calls.
    assert_eq!(SLOW_STARTS.load(Ordering::SeqCst), 2);
    assert_eq!(SLOW_SHUTDOWNS.load(Ordering::SeqCst), 2);
    let status = g.status();
    assert_eq!(count(&status, "SlowStart", ReplicaState::Running), 0);
    assert_eq!(count(&status, "SlowStart", ReplicaState::Stopped), 2);
}

#[deployment(num_cpus = 0.25)]
struct Stuck;

#[deployment]
impl Stuck {
    fn new() -> Self {
        std::thread::sleep(Duration::from_secs(2));
        Stuck
    }

    fn run(&self, x: u32) -> u32 {
        x
    }
}

#[graph]
async fn stuck(x: u32) -> u32 {
    let s = Stuck::bind();
    s.run(x)
}

#[tokio::test]
async fn a_constructor_past_its_timeout_fails_the_start() {
    let options = StartOptions::default().constructor_timeout(Duration::from_millis(100));
    let err = bounded(serve_runtime::start_with(stuck, options))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment `Stuck` failed to start (replica 0): the constructor did not finish within 100ms"
    );
}

static WEDGE_RUNNING: AtomicUsize = AtomicUsize::new(0);
static UNWEDGE: AtomicBool = AtomicBool::new(false);

/// Stuck in blocking work, as a read from a pipe that never ends would be.
#[deployment(
    num_cpus = 0.25,
    max_ongoing_requests = 1,
    health_check_period_s = 0.05,
    health_check_timeout_s = 0.3,
    graceful_shutdown_timeout_s = 0.1
)]
#[derive(Default)]
struct Wedged;

#[deployment]
impl Wedged {
    fn run(&self, x: u32) -> u32 {
        WEDGE_RUNNING.fetch_add(1, Ordering::SeqCst);
        while !UNWEDGE.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        WEDGE_RUNNING.fetch_sub(1, Ordering::SeqCst);
        x
    }
}

#[graph(route_prefix = "/wedged")]
async fn wedged(x: u32) -> u32 {
    let w = Wedged::bind();
    w.run(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_deployment_is_not_ready_and_does_not_hold_up_shutdown() {
    let server = App::new()
        .graph(wedged)
        .grace_period(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (status, _) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(status, 200, "ready before anything is stuck");
    let stuck = tokio::spawn(http(addr, "POST", "/wedged", "{\"x\": 1}"));
    eventually("the call is stuck", || {
        WEDGE_RUNNING.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the replica is seen as stalled", || {
        server.status()[0].deployment("Wedged").unwrap().replicas[0].stalled
    })
    .await;
    let (status, body) = http(addr, "GET", "/-/healthz", "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["not_ready"], serde_json::json!(["wedged/Wedged"]));

    let err = bounded(server.shutdown()).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Shutdown(_)), "{msg}");
    assert!(msg.contains("grace period"), "{msg}");
    assert!(
        msg.contains("requests still in flight were cut off"),
        "{msg}"
    );
    assert!(msg.contains("`Wedged`"), "{msg}");
    UNWEDGE.store(true, Ordering::SeqCst);
    let _ = stuck.await;
}

#[deployment(
    num_cpus = 0.25,
    max_ongoing_requests = 1,
    health_check_period_s = 0.05,
    health_check_timeout_s = 0.3
)]
#[derive(Default)]
struct Steady;

#[deployment]
impl Steady {
    fn run(&self, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }
}

#[graph]
async fn steady(ms: u64) -> u64 {
    let s = Steady::bind();
    s.run(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_replica_that_keeps_finishing_calls_is_not_stalled() {
    let g = serve_runtime::start(steady).await.unwrap();
    // Two callers keep the replica busy (always a call in flight) for three times the
    // health check timeout, each call finishing in 40 ms.
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move {
                let until = Instant::now() + Duration::from_millis(900);
                while Instant::now() < until {
                    bounded(g.call(40)).await.unwrap();
                }
            })
        })
        .collect();
    let mut checks = 0;
    while callers.iter().any(|c| !c.is_finished()) {
        let status = g.status();
        assert!(status.is_ready(), "busy is not stalled: {status:?}");
        checks += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(checks > 20, "the status was watched while the load ran");
}

// ---- placement -------------------------------------------------------------------------

static GPUS_GIVEN: Mutex<Vec<Vec<u32>>> = Mutex::new(Vec::new());

#[deployment(num_replicas = 4, num_gpus = 0.5, num_cpus = 0.25)]
struct Vision;

#[deployment]
impl Vision {
    fn new(ctx: ReplicaContext) -> Self {
        GPUS_GIVEN.lock().unwrap().push(ctx.gpu_ids().to_vec());
        Vision
    }

    fn see(&self, x: u32) -> u32 {
        x
    }
}

#[graph]
async fn vision(x: u32) -> u32 {
    let v = Vision::bind();
    v.see(x)
}

#[tokio::test]
async fn gpu_shares_are_placed_and_given_to_the_replicas() {
    let two_gpus = StartOptions::default().resources(Resources::new(2.0, 2));
    let g = serve_runtime::start_with(vision, two_gpus).await.unwrap();
    let mut given = GPUS_GIVEN.lock().unwrap().clone();
    given.sort();
    assert_eq!(
        given,
        [vec![0], vec![0], vec![1], vec![1]],
        "two halves per GPU"
    );
    assert_eq!(bounded(g.call(3)).await.unwrap(), 3);
    let one_gpu = StartOptions::default().resources(Resources::new(2.0, 1));
    let err = serve_runtime::start_with(vision, one_gpu)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("needs 1 CPUs and 2 GPUs in all"),
        "{err}"
    );
}
