use serve_runtime::graph;

async fn plain(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    plain(x)
}

fn main() {}
