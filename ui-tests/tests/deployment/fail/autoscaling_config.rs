use serve_runtime::deployment;

#[deployment(num_replicas = 2, autoscaling_config(min_replicas = 1, max_replicas = 4))]
async fn both(x: u32) -> u32 {
    x
}

#[deployment(autoscaling_config(min_replicas = 3))]
async fn bounds(x: u32) -> u32 {
    x
}

#[deployment(autoscaling_config(max_replica = 4, target_ongoing_requests = 0))]
async fn fields(x: u32) -> u32 {
    x
}

#[deployment(autoscaling_config = 3)]
async fn flat(x: u32) -> u32 {
    x
}

fn main() {}
