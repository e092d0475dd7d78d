use serve_runtime::{deployment, graph};

#[deployment]
#[derive(Default)]
struct Embedder;

impl Embedder {
    fn tokenize(text: String) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }
}

#[deployment]
impl Embedder {
    async fn embed(&self, words: Vec<String>) -> Vec<f32> {
        words.iter().map(|w| w.len() as f32).collect()
    }
}

#[graph]
async fn g(text: String) -> Vec<f32> {
    let embedder = Embedder::bind();
    let words = Embedder::tokenize(text);
    embedder.embed(words)
}

fn main() {}
