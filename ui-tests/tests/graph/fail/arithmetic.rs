// One mistake, one error: `x` counts as used by the rejected statement, and `z`, which it
// would have defined, is not reported again where it is used.
use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let z = x * 2;
    let w = step(z);
    w
}

fn main() {}
