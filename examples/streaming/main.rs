//! Streaming: a text-generation graph whose last node streams tokens as it makes them.
//!
//! ```text
//! cargo run --example streaming                                  # serve on 127.0.0.1:8000
//! curl -N -X POST localhost:8000/generate -H 'content-type: application/json' \
//!   -H 'accept: text/event-stream' -d '{"prompt": "Once upon a time", "max_tokens": 12}'
//! ```
//!
//! Without `accept: text/event-stream` the tokens come as JSON lines.

mod story;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new().graph(story::generate).run().await
}
