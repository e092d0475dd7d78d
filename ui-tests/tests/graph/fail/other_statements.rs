use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let y = step(x);
    let z = y + 1;
    for _ in 0..3 {}
    step(y)
}

fn main() {}
