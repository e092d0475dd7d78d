//! Content understanding: one HTTP endpoint that downloads an image and runs a graph of
//! models on it.
//!
//! ```text
//! cargo run --example content_understanding                      # serve on 127.0.0.1:8000
//! cargo run --example content_understanding -- graph --format mermaid
//! curl -X POST localhost:8000/classify -H 'content-type: application/json' \
//!   -d '{"image_url": "file:///abs/path/to/images/leaf.png", "category": "plant"}'
//! ```
//!
//! `image_url` is `file:///absolute/path`, `http://host[:port]/path` or `https://...`, at
//! most 2048 bytes. Three environment variables, read at start-up, say what the downloader
//! may reach:
//!
//! - `CONTENT_FILE_ROOT`: the folder `file://` paths must lie in (symbolic links are
//!   followed before checking). By default the example's own `images/` folder. Only
//!   regular files of at most 20 MiB are read.
//! - `CONTENT_ALLOW_PRIVATE_HOSTS=1`: lets `http(s)://` URLs reach loopback, private and
//!   link-local addresses, for testing against a local server. Without it only public
//!   internet addresses are fetched from, whatever the host name resolves to.
//! - `CONTENT_CA_FILE`: a PEM file of certificates `https://` trusts besides the Mozilla
//!   roots built in.
//!
//! Up to five redirects are followed, each target checked like the first URL (never from
//! https to http, never to a file); images over 16.8 megapixels are refused before
//! decoding.

mod pipeline;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new()
        .graph(pipeline::content_understanding)
        .run()
        .await
}
