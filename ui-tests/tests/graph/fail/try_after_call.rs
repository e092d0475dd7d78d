// One mistake, one error: the rejected `let` still defines `y`, so its later use is silent.
use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let y = step(x)?;
    let z = step(y);
    step(z)
}

fn main() {}
