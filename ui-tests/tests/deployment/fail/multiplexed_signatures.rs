use serve_runtime::{Loaded, deployment};

pub struct Model;

#[deployment]
#[derive(Default)]
struct Models;

#[deployment]
impl Models {
    #[multiplexed(max_num_models_per_replica = 2)]
    async fn load(&self, model_id: u64) -> Model {
        let _ = model_id;
        Model
    }

    async fn predict(&self, model: Loaded<Model>, x: f32) -> f32 {
        let _ = model;
        x
    }
}

#[deployment]
#[derive(Default)]
struct NoLoader;

#[deployment]
impl NoLoader {
    async fn predict(&self, model: Loaded<Model>, x: f32) -> f32 {
        let _ = model;
        x
    }
}

fn main() {}
