use serve_runtime::{deployment, graph};

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn predict(&self, x: u32) -> u32 {
        x
    }
}

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let model = Model::bind();
    let _y = model.predict(x);
    step(model)
}

fn main() {}
