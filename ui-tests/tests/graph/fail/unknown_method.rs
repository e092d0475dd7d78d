use serve_runtime::{deployment, graph};

#[deployment]
#[derive(Default)]
struct Segmentation;

#[deployment]
impl Segmentation {
    async fn forward(&self, x: f32) -> f32 {
        x
    }
}

#[graph]
async fn g(x: f32) -> f32 {
    let seg = Segmentation::bind();
    seg.forwrd(x)
}

fn main() {}
