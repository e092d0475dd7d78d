//! A graph whose one node takes as long as the request asks, for watching shutdown and
//! timeouts from outside: `POST /linger {"ms": 5000}`, then Ctrl-C. The process tests in
//! `tests/process.rs` signal it for real, replace it, and deploy configs to it.
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

/// The least a request lingers, in ms: bound in the graph, and changed by a config's
/// `bind_args: {floor_ms: ...}`. A floor past a minute is refused when a replica starts,
/// so such a config is rolled back.
#[deployment]
struct Floor {
    floor_ms: u64,
}

#[deployment]
impl Floor {
    fn new(floor_ms: u64) -> Result<Self, String> {
        if floor_ms > 60_000 {
            return Err(format!("a floor of {floor_ms} ms is past a minute"));
        }
        Ok(Floor { floor_ms })
    }

    async fn at_least(&self, ms: u64) -> u64 {
        ms.max(self.floor_ms)
    }
}

#[graph(route_prefix = "/linger")]
async fn linger(ms: u64) -> u64 {
    let floor = Floor::bind(0u64);
    let lingered = floor.at_least(ms);
    wait(lingered)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new().graph(linger).run().await
}
