use serve_runtime::{deployment, graph};

#[deployment]
struct Model {
    scale: u32,
}

#[deployment]
impl Model {
    fn new(scale: u32) -> Self {
        Model { scale }
    }
    async fn run(&self, x: u32) -> u32 {
        x * self.scale
    }
}

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let a = Model::bind(1).options(num_replica = 2);
    let b = Model::bind(2).options(executor = threads, num_replicas = 0);
    let c = step(x).options(num_replicas = 2);
    let y = a.run(c);
    b.run(y)
}

fn main() {}
