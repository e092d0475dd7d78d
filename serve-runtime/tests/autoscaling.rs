//! Autoscaling on tokio's paused clock: the replica count follows the load within its
//! bounds and delays, an idle deployment with `min_replicas: 0` stops every replica, and
//! the first call after wakes one and succeeds. Time is virtual, so the minutes these
//! take pass at once and the same way on every machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serve_runtime::{
    GraphHandle, ReplicaState, Resources, ServeConfig, StartOptions, deployment, graph,
};

static BUILT: AtomicU32 = AtomicU32::new(0);

#[deployment(max_ongoing_requests = 100)]
struct Model;

#[deployment]
impl Model {
    fn new() -> Self {
        BUILT.fetch_add(1, Ordering::SeqCst);
        Model
    }

    async fn infer(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

#[graph]
async fn inference(ms: u64) -> u64 {
    let model = Model::bind();
    model.infer(ms)
}

const CONFIG: &str = "
applications:
  - name: inference
    deployments:
      - name: Model
        autoscaling_config:
          min_replicas: 0
          max_replicas: 4
          target_ongoing_requests: 2
          upscale_delay_s: 5
          downscale_delay_s: 30
          look_back_period_s: 10
          metrics_interval_s: 1
";

fn replicas(g: &GraphHandle<inference>) -> (u32, usize) {
    let status = g.status();
    let d = status.deployment("Model").unwrap();
    (d.target_replicas, d.count(ReplicaState::Running))
}

async fn wait(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(start_paused = true)]
async fn the_replica_count_follows_the_load_down_to_zero_and_back() {
    let config = ServeConfig::from_yaml("test.yaml", CONFIG).unwrap();
    let options = StartOptions::default()
        .resources(Resources::new(8.0, 0))
        .config(config);
    let g = serve_runtime::start_with(inference, options).await.unwrap();
    assert_eq!(
        replicas(&g),
        (0, 0),
        "min_replicas 0 and no initial_replicas: none start"
    );
    assert_eq!(BUILT.load(Ordering::SeqCst), 0);
    assert!(
        g.status().is_ready(),
        "a deployment at zero is ready: a call starts one"
    );

    // The first call waits for a replica to start, then succeeds: at once, not after the
    // upscale delay (virtual time, so this bound is exact, not a guess about the machine).
    let asked = tokio::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(60), g.call(5)).await;
    assert_eq!(answer.expect("answered").unwrap(), 5);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(replicas(&g), (1, 1));

    // Eight calls at a time, against two per replica: four replicas (the most allowed),
    // once the wish has lasted the 5 s delay.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (g, stop) = (g.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut served = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    g.call(500).await.expect("no call fails while scaling");
                    served += 1;
                }
                served
            })
        })
        .collect();
    wait(4).await;
    assert_eq!(replicas(&g).0, 1, "not before the upscale delay");
    let mut most = 0;
    for _ in 0..30 {
        wait(1).await;
        most = most.max(replicas(&g).0);
    }
    assert_eq!(replicas(&g), (4, 4));
    assert_eq!(most, 4, "never past max_replicas");

    // Idle: after the look-back window and the 30 s downscale delay, every replica stops.
    stop.store(true, Ordering::SeqCst);
    for task in load {
        assert!(task.await.unwrap() > 0);
    }
    wait(20).await;
    assert_eq!(replicas(&g).0, 4, "not before the downscale delay");
    wait(40).await;
    let status = g.status();
    let d = status.deployment("Model").unwrap();
    assert_eq!((d.target_replicas, d.count(ReplicaState::Running)), (0, 0));
    assert_eq!(d.count(ReplicaState::Stopped), 4, "drained, not dropped");

    // And back: the next call wakes one replica at once.
    let built = BUILT.load(Ordering::SeqCst);
    let asked = tokio::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(60), g.call(7)).await;
    assert_eq!(answer.expect("answered").unwrap(), 7);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(BUILT.load(Ordering::SeqCst), built + 1);
    assert_eq!(replicas(&g), (1, 1));
}

#[deployment(autoscaling_config(min_replicas = 0, max_replicas = 2, upscale_delay_s = 0))]
#[derive(Default)]
struct Lazy;

#[deployment]
impl Lazy {
    async fn infer(&self, ms: u64) -> u64 {
        ms
    }
}

#[graph]
async fn lazy(ms: u64) -> u64 {
    let model = Lazy::bind();
    model.infer(ms)
}

#[graph]
async fn fixed(ms: u64) -> u64 {
    let model = Lazy::bind().options(num_replicas = 2);
    model.infer(ms)
}

#[tokio::test(start_paused = true)]
async fn autoscaling_set_in_code_starts_at_zero_and_a_binding_can_fix_the_count() {
    let auto = lazy::spec().deployments[0].options;
    let config = auto
        .autoscaling_config
        .expect("the attribute's autoscaling_config");
    assert_eq!((config.min_replicas, config.max_replicas), (0, 2));
    assert_eq!(config.upscale_delay_s, 0.0);
    assert_eq!(
        config.downscale_delay_s, 600.0,
        "Ray's default for what is left out"
    );
    assert_eq!(auto.num_replicas, 0, "it starts at min_replicas");
    let g = serve_runtime::start(lazy).await.unwrap();
    assert_eq!(g.status().deployment("Lazy").unwrap().target_replicas, 0);
    let answer = tokio::time::timeout(Duration::from_secs(60), g.call(3)).await;
    assert_eq!(answer.expect("answered").unwrap(), 3);
    assert_eq!(g.status().deployment("Lazy").unwrap().target_replicas, 1);

    // A binding that sets num_replicas runs that many, without autoscaling.
    let pinned = fixed::spec().deployments[0].options;
    assert_eq!((pinned.num_replicas, pinned.autoscaling_config), (2, None));
}
