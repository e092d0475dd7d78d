use serve_runtime::{deployment, graph};

#[deployment]
async fn count(text: String) -> usize {
    text.len()
}

#[graph]
async fn counting(text: String) -> usize {
    count(text)
}

#[deployment]
async fn double(n: u32) -> u32 {
    n * 2
}

#[graph]
async fn outer(n: u32) -> usize {
    let doubled = double(n);
    counting(doubled)
}

fn main() {}
