use serve_runtime::deployment;

#[deployment(num_gpus = -1)]
async fn step(x: u32) -> u32 {
    x
}

fn main() {}
