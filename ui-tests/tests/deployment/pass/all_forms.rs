//! Every form a deployment may take compiles.

use serve_runtime::{Handle, ReplicaContext, deployment};

#[deployment(name = "sync-infallible", num_replicas = 3, max_ongoing_requests = 2, max_queued_requests = 0, num_cpus = 0.5, num_gpus = 0.25)]
struct A;

#[deployment]
impl A {
    fn new() -> Self {
        A
    }
    async fn unit(&self) {}
    /// Docs are kept on the client method.
    async fn value(&self, x: u8, _y: String) -> u8 {
        x
    }
}

#[deployment]
struct B {
    a: Handle<A>,
}

#[deployment]
impl B {
    async fn new(a: Handle<A>) -> Result<Self, std::io::Error> {
        Ok(B { a })
    }
    async fn fallible(&self, (x, y): (u8, u8)) -> std::io::Result<u8> {
        Ok(self.a.value(x + y, String::new()).await.map_err(std::io::Error::other)?)
    }
    async fn boxed(&self) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(B { a: self.a.clone() })
    }
}

/// Sync helpers live in a plain impl block.
impl B {
    fn _helper(&self) {}
}

#[deployment(num_gpus = 1)]
pub async fn f(x: u32) -> u32 {
    x
}

/// Sync methods, the replica's context (by reference or by value, in `new` and in
/// methods), the hooks the runtime calls, and every option.
#[deployment(executor = threads, graceful_shutdown_timeout_s = 5, health_check_period_s = 0.5, health_check_timeout_s = 2)]
struct C {
    device: Vec<u32>,
}

#[deployment]
impl C {
    fn new(ctx: &ReplicaContext, scale: u32) -> Self {
        C { device: ctx.gpu_ids().iter().map(|g| g * scale).collect() }
    }
    fn forward(&self, ctx: &ReplicaContext, x: f32) -> f32 {
        if ctx.is_cancelled() { 0.0 } else { x * self.device.len() as f32 }
    }
    async fn owned(&self, x: u8, ctx: ReplicaContext) -> u32 {
        u32::from(x) + ctx.replica_id()
    }
    fn check_health(&self) -> Result<(), String> {
        Ok(())
    }
    async fn shutdown(&self) {}
    fn reconfigure(&self, threshold: Threshold) -> Result<(), String> {
        if threshold.value < 0.0 { Err("negative".into()) } else { Ok(()) }
    }
}

#[derive(serde::Deserialize)]
struct Threshold {
    value: f32,
}

/// Replicas that follow the load, from zero.
#[deployment(autoscaling_config(min_replicas = 0, initial_replicas = 1, max_replicas = 8, target_ongoing_requests = 2.5, upscale_delay_s = 0, downscale_delay_s = 60, upscaling_factor = 1, downscaling_factor = 0.5, look_back_period_s = 10, metrics_interval_s = 1))]
async fn elastic(x: u8) -> u8 {
    x
}

#[deployment(executor = "inline")]
async fn light(x: u8) -> u8 {
    x
}

/// A sync function deployment runs on threads.
#[deployment]
fn step(x: u32) -> u32 {
    x
}

async fn calls(c: Handle<C>, s: Handle<step>) {
    let _: Result<f32, serve_runtime::Error> = c.forward(1.0).await;
    let _: Result<u32, serve_runtime::Error> = c.owned(1).await;
    let _: Result<u32, serve_runtime::Error> = s.call(1).await;
}

fn main() {
    let _ = calls;
}
