use serve_runtime::deployment;

#[deployment(max_ongoing_requests = 8)]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    #[batch(max_batch_size = 32, batch_wait_timeout_s = 0.01)]
    async fn forward(&self, xs: Vec<f32>) -> Vec<f32> {
        xs
    }
}

fn main() {}
