use serve_runtime::{deployment, graph};

#[deployment]
async fn count(text: String) -> usize {
    text.len()
}

// A graph's inputs come from a request or a caller that may leave: they are owned.
#[graph]
async fn counting(text: &str) -> usize {
    count(text)
}

fn main() {}
