//! The workloads the benchmarks drive, and the plain functions both the graphs and the
//! inline baselines call, so the two do exactly the same work.

pub mod cpu;
pub mod thin;

/// The port from `--port N` (default 8000).
pub fn port_from_args() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map(|p| p.parse().expect("--port takes a number"))
        .unwrap_or(8000)
}
