use serve_runtime::{deployment, graph};

#[deployment]
struct Model;

#[deployment]
impl Model {
    fn new() -> Self {
        Model
    }
    async fn predict(&self, x: u32) -> u32 {
        x
    }
}

#[graph]
async fn g(x: u32) -> u32 {
    let m = Model::bind();
    let y = m.predict(y);
    y
}

fn main() {}
