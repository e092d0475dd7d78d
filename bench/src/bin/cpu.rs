//! In-process CPU figures for thread replicas, without HTTP (`bench/cpu.sh` runs it):
//! - parallel speedup: three CPU-bound nodes computed one after another on one thread,
//!   against one request of a graph that fans out to the same three nodes, each a thread
//!   deployment of its own. What it shows: independent compute nodes use every core.
//! - replica scaling: requests/s of a graph whose bottleneck is one CPU-bound deployment,
//!   with 2 replicas against 1, under concurrent callers. What it shows: a replica is a
//!   core's worth of work, and routing spreads calls over them.
//!
//! `cpu [REQUESTS] [SECONDS] [ROUNDS]`: requests per median (15), seconds per throughput
//! run (4), rounds of work per node call (`serve_bench::cpu::ROUNDS`). Prints `key=value`
//! lines.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serve_bench::cpu::{ROUNDS, cpu_bottleneck, cpu_fan_out, crunch, serial};
use serve_runtime::{Graph, GraphHandle, ReplicaState};

/// Concurrent in-process callers for the throughput runs: enough to keep two replicas'
/// single slots and the queue in front of them full.
const CALLERS: u64 = 8;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .map_or(default, |a| a.parse().expect("arguments are numbers"))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU use over a stretch of the run, to tell a slow figure from a busy machine: cores used
/// by this process's threads (scheduler time, in ns) and by everything else (`/proc/stat`,
/// in 1/100 s). Linux only; elsewhere both read zero.
struct CpuUse {
    wall: Instant,
    ours: f64,
    machine: f64,
}

impl CpuUse {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            ours: process_cpu_s(),
            machine: machine_cpu_s(),
        }
    }

    /// (cores this process used, cores the rest of the machine used) since `start`.
    fn cores(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let ours = (process_cpu_s() - self.ours) / wall;
        let all = (machine_cpu_s() - self.machine) / wall;
        (ours, (all - ours).max(0.0))
    }
}

fn process_cpu_s() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

fn machine_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let busy: u64 = ticks.iter().take(8).sum::<u64>()
        - ticks.get(3).copied().unwrap_or(0)
        - ticks.get(4).copied().unwrap_or(0);
    busy as f64 / 100.0
}

/// Requests/s over `window` with `CALLERS` callers each calling as soon as its last call
/// returned; calls still running at the end of the window count, and so does their time.
/// With the cores this process and the rest of the machine used meanwhile.
async fn throughput<G>(graph: &GraphHandle<G>, rounds: u64, window: Duration) -> (f64, f64, f64)
where
    G: Graph<Input = (u64, u64), Output = u64>,
{
    let cpu = CpuUse::start();
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|seed| {
            let graph = graph.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while started.elapsed() < window {
                    answers.push(graph.call((rounds, seed)).await.expect("the graph answers"));
                }
                (seed, answers)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(caller.await.expect("a caller finished"));
    }
    let rate = answers.iter().map(|(_, a)| a.len()).sum::<usize>() as f64
        / started.elapsed().as_secs_f64();
    let (ours, others) = cpu.cores();
    // Checked after the clock stopped: the work is not done twice inside the window.
    for (seed, answers) in answers {
        let expected = crunch(rounds, seed);
        assert!(
            answers.iter().all(|&a| a == expected),
            "caller {seed} got a wrong answer"
        );
    }
    (rate, ours, others)
}

/// Scales `Worker` to `replicas` and waits until exactly that many run.
async fn scale_to<G: Graph>(graph: &GraphHandle<G>, replicas: usize) {
    graph
        .scale("Worker", replicas as u32)
        .expect("Worker scales");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = graph.status();
        let worker = status.deployment("Worker").expect("the graph has Worker");
        let settled = worker.replicas.iter().all(|r| {
            matches!(
                r.state,
                ReplicaState::Running | ReplicaState::Stopped | ReplicaState::Failed
            )
        });
        if settled && worker.count(ReplicaState::Running) == replicas {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Worker did not reach {replicas} replicas"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() {
    let requests = arg(1, 15) as usize;
    let window = Duration::from_secs(arg(2, 4));
    let rounds = arg(3, ROUNDS);
    // The callers only wait: one thread drives them, leaving the cores to the replicas.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let one_call = median(
        (0..5)
            .map(|seed| {
                let started = Instant::now();
                black_box(crunch(rounds, seed));
                started.elapsed()
            })
            .collect(),
    );
    println!("rounds={rounds}");
    println!("callers={CALLERS}");
    println!("call_ms={:.2}", ms(one_call));

    // Serial and fan-out alternate request by request, so drift on the machine hits both.
    let fan_out = rt
        .block_on(serve_runtime::start(cpu_fan_out))
        .expect("the fan-out graph starts");
    rt.block_on(fan_out.call((rounds, 0))).expect("warm-up");
    let (mut serial_times, mut fan_out_times) = (Vec::new(), Vec::new());
    let cpu = CpuUse::start();
    for seed in 0..requests as u64 {
        let started = Instant::now();
        let expected = black_box(serial(rounds, seed));
        serial_times.push(started.elapsed());
        let started = Instant::now();
        let got = rt
            .block_on(fan_out.call((rounds, seed)))
            .expect("the fan-out graph answers");
        fan_out_times.push(started.elapsed());
        assert_eq!(got, expected, "the graph computed what the serial code did");
    }
    let (ours, others) = cpu.cores();
    rt.block_on(fan_out.shutdown());
    let (serial_ms, fan_out_ms) = (ms(median(serial_times)), ms(median(fan_out_times)));
    println!("speedup_cores={ours:.2}");
    println!("speedup_other_cores={others:.2}");
    println!("serial_ms={serial_ms:.2}");
    println!("fan_out_ms={fan_out_ms:.2}");
    println!("parallel_speedup={:.2}", serial_ms / fan_out_ms);

    let bottleneck = rt
        .block_on(serve_runtime::start(cpu_bottleneck))
        .expect("the bottleneck graph starts");
    let mut rps = [0.0; 2];
    for replicas in [1, 2] {
        rt.block_on(async {
            scale_to(&bottleneck, replicas).await;
            bottleneck.call((rounds, 0)).await.expect("warm-up");
            let (rate, ours, others) = throughput(&bottleneck, rounds, window).await;
            rps[replicas - 1] = rate;
            println!("rps_{replicas}_cores={ours:.2}");
            println!("rps_{replicas}_other_cores={others:.2}");
        });
        println!("rps_{replicas}={:.2}", rps[replicas - 1]);
    }
    println!("replica_scaling={:.2}", rps[1] / rps[0]);
}
