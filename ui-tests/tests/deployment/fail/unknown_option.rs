use serve_runtime::deployment;

#[deployment(num_replica = 2)]
async fn step(x: u32) -> u32 {
    x
}

fn main() {}
