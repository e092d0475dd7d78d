// A graph that ends with a value but declares no return type.
use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) {
    step(x)
}

fn main() {}
