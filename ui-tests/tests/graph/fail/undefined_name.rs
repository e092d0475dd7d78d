use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(processed: u32) -> u32 {
    step(procesed)
}

fn main() {}
