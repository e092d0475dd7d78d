//! A two-node graph, one node inline and one on threads, for the tests that watch spans.

use serve_runtime::{deployment, graph};

#[deployment]
async fn parse(text: String) -> Result<i64, String> {
    text.trim().parse().map_err(|e| format!("{e}"))
}

#[deployment(executor = "threads")]
fn square(x: i64) -> i64 {
    x * x
}

#[graph(route_prefix = "/square")]
pub async fn squaring(text: String) -> i64 {
    let x = parse(text);
    square(x)
}
