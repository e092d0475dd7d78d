//! The content-understanding pipeline: download an image, preprocess it once, then run
//! segmentation, an integrity check and a category-specific classifier on it concurrently,
//! and combine their answers into one report.
//!
//! ```text
//! image_url -> Downloader -> Preprocessor -+-> Segmentation --+
//!                                          +-> Integrity -----+-> aggregate -> Report
//! category --------------------------------+-> Dispatcher ----+
//!                                               (Fruit | Car | Plant | General)
//! ```
//!
//! The models are cheap, honest stand-ins (colour and luminance statistics) so the example
//! runs anywhere; each one says so where it is defined.
//!
//! This module is a folder with a `mod.rs` so that `main.rs` (`mod pipeline;`) and the
//! integration test (`#[path = ".../pipeline/mod.rs"] mod pipeline;`) find its files in the
//! same place.

pub mod classify;
pub mod colour;
pub mod download;
pub mod integrity;
pub mod preprocess;
pub mod report;
pub mod segmentation;
pub mod tensor;

use serve_runtime::graph;

use classify::{Car, Dispatcher, Fruit, General, Plant};
use download::Downloader;
use integrity::Integrity;
use preprocess::Preprocessor;
use report::{Report, aggregate};
use segmentation::Segmentation;

/// `POST /classify` with `{"image_url": "http://... or file:///...", "category": "plant"}`.
#[graph(route_prefix = "/classify")]
pub async fn content_understanding(image_url: String, category: String) -> Report {
    let downloader = Downloader::bind();
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
