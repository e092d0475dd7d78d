use serve_runtime::{deployment, graph};

#[deployment]
#[derive(Default)]
struct Car;

#[deployment]
impl Car {
    async fn classify(&self, x: u32) -> u32 {
        x
    }
}

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

#[graph]
async fn g(x: u32) -> u32 {
    let car = Car::bind();
    step(x)
}

fn main() {}
