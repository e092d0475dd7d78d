use serve_runtime::{deployment, graph};

#[deployment]
struct Model {
    path: String,
}

#[deployment]
impl Model {
    fn new(path: String) -> Self {
        Model { path }
    }
    async fn predict(&self, x: String) -> String {
        x + &self.path
    }
}

#[graph]
async fn g(path: String) -> String {
    let model = Model::bind(path);
    model.predict(path)
}

fn main() {}
