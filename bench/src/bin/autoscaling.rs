//! Autoscaling in real time: a load ramp up and down against a deployment that scales
//! from zero, sampled every 100 ms, written as CSV and drawn as SVG.
//!
//! `cargo run --release -p serve-bench --bin autoscaling -- bench/autoscaling.csv bench/autoscaling.svg`
//! (what `bench/autoscaling.sh` runs).
//!
//! Each call takes 20 ms (a stand-in for a model) and a replica serves two at once, so one
//! replica answers about 100 calls a second; closed-loop clients (each sends its next call
//! when the last one returns) step from 0 to 12 and back. With `target_ongoing_requests: 2`
//! the autoscaler wants one replica per two clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plotters::prelude::*;
use serve_runtime::{ReplicaState, Resources, ServeConfig, StartOptions, deployment, graph};

#[deployment(max_ongoing_requests = 2)]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn infer(&self, x: u32) -> u32 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        x
    }
}

#[graph]
async fn autoscaled(x: u32) -> u32 {
    let model = Model::bind();
    model.infer(x)
}

const CONFIG: &str = "
applications:
  - name: autoscaled
    deployments:
      - name: Model
        max_queued_requests: 10000
        autoscaling_config:
          min_replicas: 0
          max_replicas: 8
          target_ongoing_requests: 2
          upscale_delay_s: 0.5
          downscale_delay_s: 2
          look_back_period_s: 1
          metrics_interval_s: 0.1
";

/// (seconds, clients): the load profile.
const STEPS: [(u64, usize); 7] = [(2, 0), (4, 2), (4, 6), (5, 12), (4, 6), (4, 2), (5, 0)];

struct Sample {
    t: f64,
    clients: usize,
    target: u32,
    running: usize,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: autoscaling OUT.csv OUT.svg";
    let (csv_path, svg_path) = (args.get(1).ok_or(usage)?, args.get(2).ok_or(usage)?);
    let options = StartOptions::default()
        .resources(Resources::new(8.0, 0))
        .config(ServeConfig::from_yaml("autoscaling", CONFIG).map_err(|e| e.to_string())?);
    let g = serve_runtime::start_with(autoscaled, options).await?;

    let clients = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // One task per possible client; client i works while the profile says more than i.
    let most = STEPS.iter().map(|s| s.1).max().unwrap_or(0);
    for i in 0..most {
        let (g, clients, latencies, failures, done) = (
            g.clone(),
            Arc::clone(&clients),
            Arc::clone(&latencies),
            Arc::clone(&failures),
            Arc::clone(&done),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if i >= clients.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                let start = Instant::now();
                match g.call(1).await {
                    Ok(_) => latencies
                        .lock()
                        .unwrap()
                        .push(start.elapsed().as_secs_f64() * 1e3),
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }

    let start = Instant::now();
    let mut samples = Vec::new();
    let mut step_end = Duration::ZERO;
    for (seconds, n) in STEPS {
        clients.store(n, Ordering::Relaxed);
        step_end += Duration::from_secs(seconds);
        while start.elapsed() < step_end {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut window = std::mem::take(&mut *latencies.lock().unwrap());
            window.sort_by(f64::total_cmp);
            let quantile = |q: f64| {
                (!window.is_empty()).then(|| window[((window.len() - 1) as f64 * q) as usize])
            };
            let status = g.status();
            let d = status.deployment("Model").expect("the graph has Model");
            samples.push(Sample {
                t: start.elapsed().as_secs_f64(),
                clients: n,
                target: d.target_replicas,
                running: d.count(ReplicaState::Running),
                p50_ms: quantile(0.5),
                p99_ms: quantile(0.99),
            });
        }
    }
    done.store(true, Ordering::Relaxed);

    let mut csv = String::from("t_s,clients,target_replicas,running_replicas,p50_ms,p99_ms\n");
    for s in &samples {
        let ms = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
        csv.push_str(&format!(
            "{:.1},{},{},{},{},{}\n",
            s.t,
            s.clients,
            s.target,
            s.running,
            ms(s.p50_ms),
            ms(s.p99_ms)
        ));
    }
    std::fs::write(csv_path, csv)?;
    draw(&samples, svg_path)?;
    let peak = samples.iter().map(|s| s.running).max().unwrap_or(0);
    let last = samples.last().map_or(0, |s| s.running);
    println!(
        "samples={} peak_replicas={peak} final_replicas={last} failed_calls={}",
        samples.len(),
        failures.load(Ordering::Relaxed)
    );
    Ok(())
}

/// A line to draw: its label, what it plots, its colour.
type Series = (&'static str, fn(&Sample) -> f64, &'static RGBColor);

fn draw(samples: &[Sample], path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let end = samples.last().map_or(1.0, |s| s.t);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(300);
    let most = samples
        .iter()
        .map(|s| s.clients.max(s.running))
        .max()
        .unwrap_or(1) as f64
        + 1.0;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "replicas follow the load (min 0, max 8, 2 calls per replica)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..end, 0.0..most)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    let line = |f: fn(&Sample) -> f64| samples.iter().map(move |s| (s.t, f(s))).collect::<Vec<_>>();
    let series: [Series; 3] = [
        ("clients", |s| s.clients as f64 / 2.0, &RED),
        ("target replicas", |s| f64::from(s.target), &CYAN),
        ("running replicas", |s| s.running as f64, &BLUE),
    ];
    for (label, f, color) in series {
        let label = if label == "clients" {
            "clients / 2"
        } else {
            label
        };
        chart
            .draw_series(LineSeries::new(line(f), color))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    let slowest = samples.iter().filter_map(|s| s.p99_ms).fold(25.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("call latency per 100 ms (ms)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..end, 0.0..slowest)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    for (label, pick, color) in [
        (
            "p50",
            (|s: &Sample| s.p50_ms) as fn(&Sample) -> Option<f64>,
            &BLUE,
        ),
        ("p99", |s: &Sample| s.p99_ms, &MAGENTA),
    ] {
        let points: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|s| Some((s.t, pick(s)?)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
