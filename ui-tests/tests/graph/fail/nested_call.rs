// A call written inside another: one error, on the inner call, with the `let` to write.
use serve_runtime::{deployment, graph};

#[deployment]
async fn embed(text: String) -> Vec<f32> {
    text.bytes().map(f32::from).collect()
}

#[deployment]
async fn norm(e: Vec<f32>) -> f32 {
    e.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[graph]
async fn embedding_norm(text: String) -> f32 {
    norm(embed(text))
}

fn main() {}
