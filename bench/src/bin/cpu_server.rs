//! The CPU workload served over HTTP (`bench/cpu.sh` loads it): `POST /crunch` with
//! `{"rounds": N, "seed": S}` runs `N` rounds of work on one of `Worker`'s two replicas,
//! each a thread holding one core. With both busy, every core runs node code, and
//! `/-/healthz` shows whether the server's own threads still get a turn.
//!
//! `cpu_server --port N` (and the rest of `App::run`'s command line).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new()
        .graph(serve_bench::cpu::cpu_bottleneck)
        .run()
        .await
}
