//! Content understanding: one HTTP endpoint that downloads an image and runs a graph of
//! models on it.
//!
//! ```text
//! cargo run --example content_understanding                      # serve on 127.0.0.1:8000
//! cargo run --example content_understanding -- graph --format mermaid
//! curl -X POST localhost:8000/classify -H 'content-type: application/json' \
//!   -d '{"image_url": "file:///abs/path/leaf.png", "category": "plant"}'
//! ```

mod pipeline;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new()
        .graph(pipeline::content_understanding)
        .run()
        .await
}
