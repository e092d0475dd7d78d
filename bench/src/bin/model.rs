//! The example's network on its own: how long one classification takes, with no HTTP and
//! no graph, on the preprocessed photo the `model` workload of `bench/http.sh` sends.
//!
//!     cargo run --release -p serve-bench --bin model -- [RUNS]
//!
//! Prints the median, p90 and p99 of the network's own latency (`General::classify`), and
//! of decoding and resizing the photo (`Preprocessor::process`), each over RUNS (200).
//! Then the throughput of two threads classifying at once, each with a network of its own
//! (as two replicas have) and sharing one.

#[allow(dead_code)]
#[path = "../../../examples/content_understanding/pipeline/mod.rs"]
mod pipeline;

use std::path::Path;
use std::time::{Duration, Instant};

use pipeline::general::General;
use pipeline::preprocess::Preprocessor;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/content_understanding"
);

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(200, |r| r.parse().expect("RUNS is a number"));
    let photo = std::fs::read(format!("{EXAMPLE}/images/coffee.png")).expect("the photo");
    let photo = bytes::Bytes::from(photo);
    let started = Instant::now();
    let general = General::load(Path::new(&format!(
        "{EXAMPLE}/models/efficientnet_lite0.onnx"
    )))
    .expect("the network loads");
    println!("load and optimise: {:.1} ms", ms(started.elapsed()));

    let image = Preprocessor
        .process(photo.clone())
        .expect("the photo decodes");
    let label = general.classify(image.clone()).expect("it classifies");
    println!("label: {} ({:.3})", label.name, label.confidence);

    let preprocess = timed(runs, || {
        Preprocessor.process(photo.clone()).expect("decodes");
    });
    let network = timed(runs, || {
        general.classify(image.clone()).expect("classifies");
    });
    for (what, times) in [("preprocess", preprocess), ("network", network)] {
        println!(
            "{what:<10} p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  ({runs} runs)",
            ms(percentile(&times, 50)),
            ms(percentile(&times, 90)),
            ms(percentile(&times, 99)),
        );
    }

    let path = format!("{EXAMPLE}/models/efficientnet_lite0.onnx");
    let own = [
        General::load(Path::new(&path)).expect("loads"),
        General::load(Path::new(&path)).expect("loads"),
    ];
    let shared = [&general, &general];
    let per_second = |nets: [&General; 2]| {
        let started = Instant::now();
        std::thread::scope(|s| {
            for net in nets {
                let image = image.clone();
                s.spawn(move || {
                    for _ in 0..runs / 2 {
                        net.classify(image.clone()).expect("classifies");
                    }
                });
            }
        });
        (runs / 2 * 2) as f64 / started.elapsed().as_secs_f64()
    };
    let one = 1000.0 / ms(percentile(&timed_once(&general, &image, runs), 50));
    println!(
        "two threads: {:.1}/s with a network each, {:.1}/s sharing one (one thread: {one:.1}/s)",
        per_second([&own[0], &own[1]]),
        per_second(shared),
    );
}

fn timed_once(general: &General, image: &pipeline::tensor::Tensor, runs: usize) -> Vec<Duration> {
    timed(runs, || {
        general.classify(image.clone()).expect("classifies");
    })
}

fn timed(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm up
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
