use serve_runtime::deployment;

#[deployment]
#[derive(Default)]
struct Model;

#[deployment(num_replicas = 2)]
impl Model {
    async fn predict(&self, x: f32) -> f32 {
        x
    }
}

fn main() {}
