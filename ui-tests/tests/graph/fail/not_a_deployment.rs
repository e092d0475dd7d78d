use serve_runtime::graph;

struct Plain;

impl Plain {
    async fn forward(&self, x: f32) -> f32 {
        x
    }
}

#[graph]
async fn g(x: f32) -> f32 {
    let p = Plain::bind();
    p.forward(x)
}

fn main() {}
