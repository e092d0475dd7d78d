use serve_runtime::{App, deployment, graph};

#[deployment]
async fn hello() -> String {
    "hi".to_owned()
}

#[graph]
async fn pipeline() -> String {
    hello()
}

fn main() {
    let _app = App::new().graph(pipeline());
}
