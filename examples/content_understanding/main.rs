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
//! most 2048 bytes. What the downloader may reach is set at start-up:
//!
//! - `--file-root DIR` (or the variable `CONTENT_FILE_ROOT`): the folder `file://` paths
//!   must lie in (symbolic links are followed before checking). By default the example's
//!   own `images/` folder. Only regular files of at most 20 MiB are read, and a path
//!   outside the folder gets the same answer whether or not it exists.
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

use std::path::PathBuf;

use pipeline::download::FileRoot;

/// Understand an image: download, decode and resize it, run three models on it at once,
/// and classify it with the network its category calls for.
//
// (The doc comment above is the binary's `--help` description; these are the example's
// own flags, beside the server's.)
#[derive(clap::Args)]
struct Flags {
    /// The folder file:// image URLs must lie in [default: $CONTENT_FILE_ROOT, else the
    /// example's images/]
    #[arg(long, value_name = "DIR")]
    file_root: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new()
        .graph(pipeline::content_understanding)
        .run_with(|flags: Flags, app| {
            if let Some(dir) = &flags.file_root {
                FileRoot::set_from_flag(dir)
                    .map_err(|e| serve_runtime::Error::Config(e.to_string()))?;
            }
            Ok(app)
        })
        .await
}
