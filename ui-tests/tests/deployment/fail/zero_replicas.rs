use serve_runtime::deployment;

#[deployment(num_replicas = 0)]
async fn step(x: u32) -> u32 {
    x
}

fn main() {}
