use serve_runtime::deployment;

#[deployment(max_concurrent_queries = 4, route_prefix = "/m", ray_actor_options = 1)]
async fn model(x: u32) -> u32 {
    x
}

#[deployment(user_config = 1, autoscaling_config(target_num_ongoing_requests_per_replica = 2))]
async fn other(x: u32) -> u32 {
    x
}

fn main() {}
