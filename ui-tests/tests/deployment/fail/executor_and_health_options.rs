use serve_runtime::deployment;

#[deployment(executor = gpu, health_check_period_s = 0, graceful_shutdown_timeout_s = -1)]
async fn step(x: u32) -> u32 {
    x
}

fn main() {}
