use serve_runtime::deployment;

#[deployment]
struct Model {
    scale: f32,
}

#[deployment]
impl Model {
    #[batch(max_batch_size = 8)]
    fn new(scale: f32) -> Self {
        Model { scale }
    }

    async fn forward(&self, x: f32) -> f32 {
        x * self.scale
    }
}

fn main() {}
