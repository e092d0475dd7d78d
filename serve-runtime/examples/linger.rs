//! A graph whose one node takes as long as the request asks, for watching shutdown and
//! timeouts from outside: `POST /linger {"ms": 5000}`, then Ctrl-C. The process tests in
//! `tests/process.rs` signal it for real.
//!
//! ```text
//! cargo run -p serve-runtime --example linger -- --port 8000 --grace-period 2
//! ```

use std::time::Duration;

use serve_runtime::{deployment, graph};

#[deployment]
async fn wait(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[graph(route_prefix = "/linger")]
async fn linger(ms: u64) -> u64 {
    wait(ms)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new().graph(linger).run().await
}
