use serve_runtime::deployment;

#[deployment(num_replicas = 1.5, num_cpus = "two", name = 3)]
async fn step(x: u32) -> u32 {
    x
}

fn main() {}
