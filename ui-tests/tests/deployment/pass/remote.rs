//! A `remote = true` deployment whose values are serde types, beside one that is not
//! remote and takes a type that is not: only the remote one's types are checked.
use serve_runtime::{deployment, graph};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Label {
    name: String,
    score: f32,
}

pub struct NotSerde(u32);

#[deployment(remote = true, num_replicas = 2)]
#[derive(Default)]
struct Classifier;

#[deployment]
impl Classifier {
    async fn classify(&self, image: Vec<u8>) -> Result<Label, String> {
        Ok(Label { name: format!("{}", image.len()), score: 1.0 })
    }
    fn sync_too(&self, n: u64) -> u64 {
        n
    }
}

#[deployment]
#[derive(Default)]
struct Local;

#[deployment]
impl Local {
    async fn wrap(&self, label: Label) -> String {
        let kept = NotSerde(1);
        format!("{} {}", label.name, kept.0)
    }
}

#[deployment(remote = true)]
async fn remote_fn(text: String) -> usize {
    text.len()
}

#[graph]
async fn pipeline(image: Vec<u8>) -> String {
    let classifier = Classifier::bind();
    let local = Local::bind();
    let label = classifier.classify(image);
    local.wrap(label)
}

fn main() {
    assert!(pipeline::spec().deployments[0].remote);
    assert!(!pipeline::spec().deployments[1].remote);
    let _ = remote_fn;
}
