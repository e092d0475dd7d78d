use serve_runtime::{deployment, graph};

#[deployment]
async fn step(x: u32) -> u32 {
    x
}

// Not `package.Service/Method`.
#[graph(grpc = "Classify")]
async fn no_service(x: u32) -> u32 {
    step(x)
}

// A gRPC method is served at its own path, from its one protobuf message.
#[graph(grpc = "pkg.Steps/Step", route_prefix = "/step")]
async fn with_prefix(x: u32) -> u32 {
    step(x)
}

#[deployment]
async fn add(x: u32, y: u32) -> u32 {
    x + y
}

// Two parameters: a gRPC request is one message.
#[graph(grpc = "pkg.Steps/Add")]
async fn two_params(x: u32, y: u32) -> u32 {
    add(x, y)
}

fn main() {}
