use serve_runtime::deployment;

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    #[batch(max_batch = 8)]
    async fn misspelt(&self, xs: Vec<f32>) -> Vec<f32> {
        xs
    }

    #[batch(max_batch_size = 0)]
    async fn empty(&self, xs: Vec<f32>) -> Vec<f32> {
        xs
    }

    #[batch(batch_wait_timeout_s = -0.5)]
    async fn negative_wait(&self, xs: Vec<f32>) -> Vec<f32> {
        xs
    }
}

fn main() {}
