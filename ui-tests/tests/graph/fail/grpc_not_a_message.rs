use serve_runtime::{deployment, graph};

pub struct Request {
    pub x: u32,
}

#[deployment]
async fn step(request: Request) -> u32 {
    request.x
}

// The request of a gRPC method is a protobuf message (`#[derive(prost::Message)]`).
#[graph(grpc = "pkg.Steps/Step")]
async fn not_a_message(request: Request) -> u32 {
    step(request)
}

fn main() {}
