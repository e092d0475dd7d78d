//! What dynamic batching buys on a model-like cost curve: a call costs a fixed part plus a
//! part per input (as a network's forward pass does on a batch), burnt on the CPU of a
//! replica that runs on a thread of its own. The same node is driven unbatched and with
//! `#[batch]`, in-process, by a number of concurrent callers, alternately in one run.
//!
//!   cargo run --release -p serve-bench --bin batching
//!   cargo run --release -p serve-bench --bin batching -- --seconds 3 --rounds 3
//!
//! Prints, per concurrency, the median calls/s and p50 latency of each, and their ratio.

use std::time::{Duration, Instant};

use serve_runtime::{Graph, GraphHandle, deployment, graph};

/// The fixed cost of one call, whatever its batch size.
const FIXED: Duration = Duration::from_micros(1000);
/// The cost of each input in it.
const PER_INPUT: Duration = Duration::from_micros(100);

/// Keeps the CPU busy for `d`, as compute does (sleeping would free the thread).
fn burn(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[deployment(num_cpus = 1, max_ongoing_requests = 64)]
#[derive(Default)]
struct Single;

#[deployment]
impl Single {
    fn forward(&self, x: u64) -> u64 {
        burn(FIXED + PER_INPUT);
        x
    }
}

#[deployment(num_cpus = 1, max_ongoing_requests = 64)]
#[derive(Default)]
struct Batched;

#[deployment]
impl Batched {
    #[batch(max_batch_size = 32, batch_wait_timeout_s = 0.002)]
    fn forward(&self, xs: Vec<u64>) -> Vec<u64> {
        burn(FIXED + PER_INPUT * xs.len() as u32);
        xs
    }
}

#[graph]
async fn unbatched(x: u64) -> u64 {
    let s = Single::bind();
    s.forward(x)
}

#[graph]
async fn batched(x: u64) -> u64 {
    let b = Batched::bind();
    b.forward(x)
}

/// Calls/s and p50 latency (ms) of graph `g` driven by `callers` tasks for `seconds`.
async fn drive<G>(g: &GraphHandle<G>, callers: usize, seconds: f64) -> (f64, f64)
where
    G: Graph<Input = u64, Output = u64>,
{
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut x = i as u64;
                while Instant::now() < until {
                    let started = Instant::now();
                    assert_eq!(g.call(x).await.unwrap(), x);
                    latencies.push(started.elapsed());
                    x += callers as u64;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let p50 = all.get(all.len() / 2).copied().unwrap_or_default();
    (all.len() as f64 / seconds, p50.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 2.0);
    let rounds = arg("--rounds", 3.0) as usize;
    let single = serve_runtime::start(unbatched).await.expect("starts");
    let batch = serve_runtime::start(batched).await.expect("starts");
    println!(
        "cost per call: {} µs fixed + {} µs per input; one replica each, on its own thread; \
         batched: max_batch_size 32, batch_wait_timeout_s 0.002; median of {rounds} rounds of {seconds} s",
        FIXED.as_micros(),
        PER_INPUT.as_micros()
    );
    println!(
        "{:>8}  {:>14} {:>10}  {:>14} {:>10}  {:>7}",
        "callers", "unbatched /s", "p50 ms", "batched /s", "p50 ms", "ratio"
    );
    for callers in [1usize, 8, 32, 64] {
        let (mut s_rate, mut s_p50, mut b_rate, mut b_p50) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let (rate, p50) = drive(&single, callers, seconds).await;
            s_rate.push(rate);
            s_p50.push(p50);
            let (rate, p50) = drive(&batch, callers, seconds).await;
            b_rate.push(rate);
            b_p50.push(p50);
        }
        let (s, b) = (median(s_rate), median(b_rate));
        println!(
            "{callers:>8}  {s:>14.0} {:>10.2}  {b:>14.0} {:>10.2}  {:>6.2}x",
            median(s_p50),
            median(b_p50),
            b / s
        );
    }
}
