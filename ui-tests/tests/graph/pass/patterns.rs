//! Every wiring pattern a graph may use compiles.

use serve_runtime::{Handle, deployment, graph};

const SCALE: f32 = 2.0;

#[deployment]
struct Model {
    scale: f32,
}

#[deployment]
impl Model {
    fn new(scale: f32) -> Self {
        Model { scale }
    }
    async fn predict(&self, x: f32) -> f32 {
        x * self.scale
    }
}

#[deployment]
struct Picker {
    a: Handle<Model>,
    b: Handle<Model>,
}

#[deployment]
impl Picker {
    fn new(a: Handle<Model>, b: Handle<Model>) -> Self {
        Picker { a, b }
    }
    async fn pick(&self, x: f32, first: bool) -> Result<f32, serve_runtime::Error> {
        if first { self.a.predict(x).await } else { self.b.predict(x).await }
    }
}

#[deployment]
async fn combine(a: f32, b: f32, c: f32) -> f32 {
    a + b + c
}

#[deployment]
async fn log(_x: f32) {}

/// Docs on a graph stay on its type.
#[graph(route_prefix = "/all", http_adapter = json_request, body_limit = 1024, num_replicas = 2)]
async fn all(x: f32, first: bool) -> f32 {
    let small = Model::bind(1.0).options(num_replicas = 2, max_queued_requests = 10);
    let big = Model::bind(SCALE * 5.0);
    let picker = Picker::bind(Model::bind(3.0).options(max_ongoing_requests = 4), big);
    let a = small.predict(x);
    let b: f32 = picker.pick(x, first).await;
    let _c = small.predict(a);
    log(b);
    combine(a, b, 1.5)
}

fn main() {
    let _ = all::spec();
}
