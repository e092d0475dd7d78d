use serve_runtime::{ReplicaContext, deployment};

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    #[batch(max_batch_size = 8)]
    async fn one_input(&self, x: f32) -> Vec<f32> {
        vec![x]
    }

    #[batch(max_batch_size = 8)]
    async fn one_output(&self, xs: Vec<f32>) -> f32 {
        xs[0]
    }

    #[batch(max_batch_size = 8)]
    async fn two_inputs(&self, xs: Vec<f32>, scale: f32) -> Vec<f32> {
        xs.into_iter().map(|x| x * scale).collect()
    }

    #[batch(max_batch_size = 8)]
    async fn with_context(&self, xs: Vec<f32>, context: &ReplicaContext) -> Vec<f32> {
        let _ = context;
        xs
    }

    #[batch]
    async fn fine(&self, xs: Vec<f32>) -> Result<Vec<f32>, String> {
        Ok(xs)
    }
}

fn main() {}
