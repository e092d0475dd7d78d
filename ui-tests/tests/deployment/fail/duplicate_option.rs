use serve_runtime::deployment;

#[deployment(num_replicas = 2, max_ongoing_requests = 4, num_replicas = 3)]
async fn step(x: u32) -> u32 {
    x
}

fn main() {}
