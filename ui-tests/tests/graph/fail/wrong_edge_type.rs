use serve_runtime::{deployment, graph};

#[deployment]
async fn load(url: String) -> Vec<u8> {
    url.into_bytes()
}

#[deployment]
async fn score(text: String) -> f32 {
    text.len() as f32
}

#[graph]
async fn g(url: String) -> f32 {
    let bytes = load(url);
    score(bytes)
}

fn main() {}
