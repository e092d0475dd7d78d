use serve_runtime::deployment;

#[deployment(executor = inline)]
#[derive(Default)]
struct Model;

#[deployment]
impl Model {
    fn predict(&self, x: f32) -> f32 {
        x
    }
}

fn main() {}
