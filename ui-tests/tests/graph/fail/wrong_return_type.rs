use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> String {
    step(x)
}

fn main() {}
