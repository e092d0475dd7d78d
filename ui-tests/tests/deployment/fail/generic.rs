use serve_runtime::deployment;

#[deployment]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    async fn predict<T: Into<f32>>(&self, x: T) -> f32 {
        x.into()
    }
}

fn main() {}
