use serve_runtime::deployment;

#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn predict(&self, x: f32) -> f32 {
        x
    }
}

fn main() {}
