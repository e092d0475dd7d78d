// One mistake, one error: a tail the graph cannot run is not also reported as missing.
use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let y = step(x);
    y + 1
}

fn main() {}
