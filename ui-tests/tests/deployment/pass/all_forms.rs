//! Every form a deployment may take compiles.

use serve_runtime::{Handle, deployment};

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

fn main() {}
