// A call's arguments and result cross a node: they must be owned.
use serve_runtime::{ReplicaContext, deployment};

#[deployment]
#[derive(Default)]
struct Tokenizer;

#[deployment]
impl Tokenizer {
    async fn count(&self, text: &str) -> usize {
        text.len()
    }

    async fn first<'a>(&self, words: Vec<String>) -> &'a str {
        let _ = words;
        ""
    }

    // Fine: the context by reference, and `'static` borrows.
    async fn tag(&self, _context: &ReplicaContext, label: &'static str) -> String {
        label.to_owned()
    }
}

#[deployment]
async fn total(values: &[u32]) -> u32 {
    values.iter().sum()
}

fn main() {}
