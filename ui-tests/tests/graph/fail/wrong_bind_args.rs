use serve_runtime::{deployment, graph};

#[deployment]
struct Model {
    path: String,
}

#[deployment]
impl Model {
    fn new(path: String) -> Self {
        Model { path }
    }
    async fn predict(&self, x: f32) -> f32 {
        x + self.path.len() as f32
    }
}

#[graph]
async fn g(x: f32) -> f32 {
    let model = Model::bind("a.bin", "b.bin");
    model.predict(x)
}

fn main() {}
