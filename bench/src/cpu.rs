//! The CPU workload: nodes that compute rather than wait, run on threads of their own.
//!
//! The work is a fixed number of rounds of a hash chain, so a call costs the same CPU time
//! whatever else the machine does (sleeps or time-bounded spinning would hide contention:
//! a sleeping node "runs in parallel" on no cores, a spinning one stops on time whether it
//! got the CPU or not). `bench/cpu.sh` drives it through `bin/cpu.rs` (in-process) and
//! `bin/cpu_server.rs` (over HTTP).

use std::hint::black_box;

use serve_runtime::{deployment, graph};

/// Rounds of [`crunch`] per call: about 30 ms in release on the benchmark machine (1.4 ns
/// a round on an idle core), inside the 20-50 ms a small model's forward pass takes.
pub const ROUNDS: u64 = 20_000_000;

/// `rounds` steps of a multiply-xorshift hash chain. Each step needs the previous one's
/// result, so the compiler can neither vectorise nor skip them: time is linear in
/// `rounds`.
pub fn crunch(rounds: u64, seed: u64) -> u64 {
    let rounds = black_box(rounds);
    let mut h = black_box(seed);
    for i in 0..rounds {
        h = (h ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
    }
    h
}

/// One CPU-bound model. Its method is sync, so each replica runs it on a thread it owns;
/// half a CPU each lets three of them share the two cores of the benchmark machine.
#[deployment(num_cpus = 0.5)]
pub struct Cruncher {
    salt: u64,
}

#[deployment]
impl Cruncher {
    fn new(salt: u64) -> Self {
        Cruncher { salt }
    }

    fn run(&self, rounds: u64, seed: u64) -> u64 {
        crunch(rounds, seed ^ self.salt)
    }
}

#[deployment]
async fn combine(a: u64, b: u64, c: u64) -> u64 {
    a ^ b ^ c
}

/// Three CPU-bound nodes on the same input, then an ensemble: the three run at once, each
/// on its own replica's thread.
#[graph(route_prefix = "/fan_out")]
pub async fn cpu_fan_out(rounds: u64, seed: u64) -> u64 {
    let a = Cruncher::bind(1);
    let b = Cruncher::bind(2);
    let c = Cruncher::bind(3);
    let x = a.run(rounds, seed);
    let y = b.run(rounds, seed);
    let z = c.run(rounds, seed);
    combine(x, y, z)
}

/// The same three computations one after another on the caller's thread.
pub fn serial(rounds: u64, seed: u64) -> u64 {
    crunch(rounds, seed ^ 1) ^ crunch(rounds, seed ^ 2) ^ crunch(rounds, seed ^ 3)
}

/// The bottleneck of [`cpu_bottleneck`]: one whole CPU per replica and one call at a time,
/// so the replica count is the number of cores working on requests.
#[deployment(num_replicas = 2, num_cpus = 1, max_ongoing_requests = 1)]
#[derive(Default)]
pub struct Worker;

#[deployment]
impl Worker {
    fn run(&self, rounds: u64, seed: u64) -> u64 {
        crunch(rounds, seed)
    }
}

/// One CPU-bound node behind the ingress: called in-process to measure throughput per
/// replica, and served over HTTP to load every core while `/-/healthz` is probed.
#[graph(route_prefix = "/crunch")]
pub async fn cpu_bottleneck(rounds: u64, seed: u64) -> u64 {
    let worker = Worker::bind();
    worker.run(rounds, seed)
}

#[cfg(test)]
mod tests {
    use serve_runtime::{Resources, StartOptions};

    use super::*;

    /// Two CPUs whatever the machine has, so the graphs always fit.
    fn two_cpus() -> StartOptions {
        StartOptions::default().resources(Resources::new(2.0, 0))
    }

    #[test]
    fn crunch_depends_on_every_round_and_the_seed() {
        assert_ne!(crunch(1000, 7), crunch(1001, 7));
        assert_ne!(crunch(1000, 7), crunch(1000, 8));
        assert_eq!(crunch(0, 7), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_graph_computes_what_the_plain_functions_do() {
        let fan_out = serve_runtime::start_with(cpu_fan_out, two_cpus())
            .await
            .unwrap();
        assert_eq!(fan_out.call((1000, 42)).await.unwrap(), serial(1000, 42));
        let bottleneck = serve_runtime::start_with(cpu_bottleneck, two_cpus())
            .await
            .unwrap();
        assert_eq!(bottleneck.call((1000, 42)).await.unwrap(), crunch(1000, 42));
    }
}
