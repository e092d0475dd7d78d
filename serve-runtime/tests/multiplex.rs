//! Model multiplexing: one deployment serves many models by id, each replica keeping the
//! few it uses most, and calls routed to a replica that holds their model.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Bounded;
use serve_runtime::{App, Loaded, ReplicaContext, deployment, graph};

pub struct Model {
    id: String,
    factor: u32,
}

async fn load_slowly(model_id: String, loads: &AtomicUsize) -> Result<Model, String> {
    if model_id == "broken" {
        return Err("no weights for `broken`".to_owned());
    }
    loads.fetch_add(1, Ordering::SeqCst);
    // Slow enough that calls arriving together find the load under way.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(Model {
        factor: model_id.len() as u32,
        id: model_id,
    })
}

// ---- two replicas: one load for concurrent first calls, warm replicas preferred ---------

static TWO_LOADS: AtomicUsize = AtomicUsize::new(0);

#[deployment(num_replicas = 2, max_ongoing_requests = 32)]
#[derive(Default)]
struct Two;

#[deployment]
impl Two {
    #[multiplexed(max_num_models_per_replica = 2)]
    async fn load(&self, model_id: String) -> Result<Model, String> {
        load_slowly(model_id, &TWO_LOADS).await
    }

    /// `model_id:x*factor@replica`.
    async fn predict(&self, x: u32, model: Loaded<Model>, context: &ReplicaContext) -> String {
        format!("{}:{}@{}", model.id, x * model.factor, context.replica_id())
    }
}

#[graph]
async fn two(model_id: String, x: u32) -> String {
    let m = Two::bind();
    m.predict(x, model_id)
}

#[tokio::test]
async fn concurrent_first_calls_load_a_model_once_and_later_calls_go_where_it_is() {
    let g = serve_runtime::start(two).bounded().await.unwrap();
    let calls: Vec<_> = (0..8u32)
        .map(|x| {
            let g = g.clone();
            tokio::spawn(async move { g.call(("alpha".to_owned(), x)).bounded().await })
        })
        .collect();
    let mut replicas = BTreeSet::new();
    for (x, call) in calls.into_iter().enumerate() {
        let out = call.await.unwrap().unwrap();
        let (answer, replica) = out.split_once('@').unwrap();
        assert_eq!(answer, format!("alpha:{}", x * 5));
        replicas.insert(replica.to_owned());
    }
    assert_eq!(TWO_LOADS.load(Ordering::SeqCst), 1, "eight calls, one load");
    assert_eq!(
        replicas.len(),
        1,
        "all on the replica loading it: {replicas:?}"
    );
    // One at a time, with both replicas free: each still goes to the warm one.
    for x in 0..20 {
        let out = g.call(("alpha".to_owned(), x)).bounded().await.unwrap();
        assert!(replicas.contains(out.split_once('@').unwrap().1), "{out}");
    }
    assert_eq!(TWO_LOADS.load(Ordering::SeqCst), 1);
    g.shutdown().await;
}

// ---- one replica: least recently used dropped, failed loads --------------------------------

static ONE_LOADS: AtomicUsize = AtomicUsize::new(0);

#[deployment(max_ongoing_requests = 8)]
#[derive(Default)]
struct One;

#[deployment]
impl One {
    #[multiplexed(max_num_models_per_replica = 2)]
    async fn load(&self, model_id: String) -> Result<Model, String> {
        load_slowly(model_id, &ONE_LOADS).await
    }

    async fn predict(&self, model: Loaded<Model>, x: u32) -> u32 {
        x * model.factor
    }
}

#[graph(route_prefix = "/one")]
async fn one(model_id: String, x: u32) -> u32 {
    let m = One::bind();
    m.predict(model_id, x)
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l.contains("deployment=\"One\""))
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

#[tokio::test]
async fn the_least_recently_used_model_is_dropped_and_a_failed_load_is_tried_again() {
    let server = common::bounded(App::new().graph(one).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let addr = server.local_addr();
    let call = |model: &str, x: u32| {
        let body = format!(r#"{{"model_id": "{model}", "x": {x}}}"#);
        async move { common::http_full(addr, "POST", "/one", &[], &body).await }
    };
    // a, b, a (a is now the most recent), c: b is dropped, not a.
    for (model, want) in [
        ("a", "1"),
        ("bb", "2"),
        ("a", "1"),
        ("ccc", "3"),
        ("a", "1"),
    ] {
        let (status, _, body) = call(model, 1).await;
        assert_eq!((status, body.as_str()), (200, want), "{model}");
    }
    assert_eq!(
        ONE_LOADS.load(Ordering::SeqCst),
        3,
        "a, bb and ccc once each"
    );
    let (status, _, body) = call("bb", 1).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    assert_eq!(
        ONE_LOADS.load(Ordering::SeqCst),
        4,
        "bb was dropped and loaded again"
    );

    // A new model makes room before it loads (its memory is free for it), so the load of
    // `broken` drops `a` even though it fails; nothing of the failure is kept.
    let (status, _, body) = call("broken", 1).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("`load` could not load model `broken`: no weights for `broken`"),
        "{body}"
    );
    let (status, _, _) = call("broken", 1).await;
    assert_eq!(status, 500, "tried again, failed again");
    let (status, _, body) = call("bb", 2).await;
    assert_eq!((status, body.as_str()), (200, "4"));
    assert_eq!(ONE_LOADS.load(Ordering::SeqCst), 4, "bb stayed loaded");
    let (status, _, body) = call("a", 2).await;
    assert_eq!((status, body.as_str()), (200, "2"));
    assert_eq!(
        ONE_LOADS.load(Ordering::SeqCst),
        5,
        "a was dropped for broken"
    );

    let (_, _, metrics) = common::http_full(addr, "GET", "/-/metrics", &[], "").await;
    assert_eq!(
        counter(&metrics, "serve_multiplexed_models_load_counter_total"),
        5.0
    );
    // Dropped: bb (for ccc), ccc (for bb), a (for broken); the second `broken` and the last
    // `a` found room.
    assert_eq!(
        counter(&metrics, "serve_multiplexed_models_unload_counter_total"),
        3.0
    );
}
