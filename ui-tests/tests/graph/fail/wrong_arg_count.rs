use serve_runtime::{deployment, graph};

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn predict(&self, x: f32) -> f32 {
        x
    }
}

#[graph]
async fn g(x: f32, y: f32) -> f32 {
    let model = Model::bind();
    model.predict(x, y)
}

fn main() {}
