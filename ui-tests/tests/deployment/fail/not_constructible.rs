use serve_runtime::deployment;

#[deployment]
struct Model {
    weights: Vec<f32>,
}

#[deployment]
impl Model {
    async fn predict(&self, x: f32) -> f32 {
        x * self.weights[0]
    }
}

fn main() {}
