use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: String) -> String {
    x
}

#[graph]
async fn g(x: String) -> String {
    let y = step(x);
    y.trim()
}

fn main() {}
