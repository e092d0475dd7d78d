//! The content-understanding pipeline: download an image, preprocess it once, then run
//! segmentation, an integrity check and a category-specific classifier on it concurrently,
//! and combine their answers into one report.
//!
//! ```text
//! image_url -> Downloader -> Preprocessor -+-> Segmentation --+
//!              (BlockingIo)                +-> Integrity -----+-> aggregate -> Report
//! category --------------------------------+-> Dispatcher ----+
//!                                               (Fruit | Car | Plant | General)
//! ```
//!
//! What the downloader accepts ([`download`] says more):
//! - `file:///absolute/path` to a regular file of at most 20 MiB under the file root: the
//!   folder the environment variable `CONTENT_FILE_ROOT` names when the graph starts, by
//!   default the example's own `images/`. Paths outside it are refused, and the answer does
//!   not say whether they exist.
//! - `http://host[:port]/path` and `https://...` (rustls, the Mozilla roots and those of
//!   `CONTENT_CA_FILE`; up to five redirects, each checked like the first URL), from hosts
//!   on the public internet only: every address the host resolves to is checked, and
//!   loopback, private, link-local and other non-public ones are refused unless
//!   `CONTENT_ALLOW_PRIVATE_HOSTS=1` is set when the graph starts (for testing against a
//!   local server).
//!
//! `image_url` is checked before the graph runs (at most 2048 bytes, one of those schemes,
//! well formed; a 400 otherwise), and images over 16.8 megapixels are refused from their
//! header, before any pixel is decoded. Blocking work (reading files, resolving names,
//! decoding) runs on threads the runtime gives those deployments, bounded in number.
//!
//! The general classifier is a real network (EfficientNet-Lite0 on ImageNet, run with
//! tract; its weights ship in `models/`). The other models are cheap, honest stand-ins
//! (colour and luminance statistics); each one says so where it is defined.
//!
//! This module is a folder with a `mod.rs` so that `main.rs` (`mod pipeline;`) and the
//! integration test (`#[path = ".../pipeline/mod.rs"] mod pipeline;`) find its files in the
//! same place.

pub mod classify;
pub mod colour;
pub mod download;
pub mod general;
pub mod integrity;
pub mod preprocess;
pub mod report;
pub mod request;
pub mod segmentation;
pub mod tensor;

use serve_runtime::graph;

use classify::{Car, Dispatcher, Fruit, General, Plant};
use download::{BlockingIo, Downloader};
use integrity::Integrity;
use preprocess::Preprocessor;
use report::{Report, aggregate};
use segmentation::Segmentation;

/// `POST /classify` with `{"image_url": "http://... or file:///...", "category": "plant"}`.
#[graph(route_prefix = "/classify", http_adapter = request::adapt)]
pub async fn content_understanding(image_url: String, category: String) -> Report {
    let downloader = Downloader::bind(BlockingIo::bind());
    let preprocessor = Preprocessor::bind();
    let segmentation = Segmentation::bind("weights/seg.bin");
    let integrity = Integrity::bind("weights/int.bin");
    let dispatcher = Dispatcher::bind(Fruit::bind(), Car::bind(), Plant::bind(), General::bind());
    let image = downloader.run(image_url);
    let processed = preprocessor.process(image);
    // Three consumers: the graph clones `processed` (cheaply) and runs them concurrently.
    let seg = segmentation.forward(processed);
    let integ = integrity.forward(processed);
    let label = dispatcher.run(processed, category);
    aggregate(seg, integ, label)
}
