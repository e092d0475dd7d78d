//! Dynamic batching: a text-similarity graph whose embedder takes batches of texts, while
//! every caller still sends one text and gets its own embedding back.
//!
//! ```text
//! cargo run --example batching                                   # serve on 127.0.0.1:8000
//! curl -X POST localhost:8000/similarity -H 'content-type: application/json' \
//!   -d '{"left": "a cat sat on the mat", "right": "the cat sat on a mat"}'
//! curl -s localhost:8000/-/metrics | grep serve_batch_size       # the batches that ran
//! ```

mod embed;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new()
        .graph(embed::similarity)
        .run()
        .await
}
