use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
fn g(x: u32) -> u32 {
    step(x)
}

fn main() {}
