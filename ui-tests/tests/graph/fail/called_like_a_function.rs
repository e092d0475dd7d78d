use serve_runtime::{deployment, graph};

#[deployment]
async fn double(x: u32) -> u32 {
    x * 2
}

#[graph]
pub async fn pipeline(x: u32) -> u32 {
    double(x)
}

#[tokio::main]
async fn main() {
    let y = pipeline(3).await;
    assert_eq!(y, 6);
}
