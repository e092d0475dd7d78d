use serve_runtime::deployment;

/// No serde derives: it cannot cross a process.
#[derive(Clone, Debug)]
pub struct Tensor(Vec<f32>);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Label(String);

#[deployment(remote = true)]
#[derive(Default)]
struct Classifier;

#[deployment]
impl Classifier {
    async fn classify(&self, image: Tensor, top: u32) -> Label {
        Label(format!("{} {top}", image.0.len()))
    }
}

fn main() {}
