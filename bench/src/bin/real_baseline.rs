//! The physical limit for the real workload: the content-understanding example's own
//! model code, called inline from one bare axum handler, with `tokio::join!` for the three
//! models that run on the same tensor. No deployments, replicas, routing or graph.

#[allow(dead_code)]
#[path = "../../../examples/content_understanding/pipeline/mod.rs"]
mod pipeline;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router, routing::post};
use pipeline::classify::Label;
use pipeline::classify::{Car, Fruit, General, Plant};
use pipeline::download::{Downloader, FileRoot, HostPolicy};
use pipeline::integrity::Integrity;
use pipeline::preprocess::Preprocessor;
use pipeline::report::{Report, aggregate};
use pipeline::segmentation::Segmentation;
use pipeline::tensor::Tensor;

#[derive(serde::Deserialize)]
struct Request {
    image_url: String,
    category: String,
}

struct Models {
    downloader: Downloader,
    preprocessor: Preprocessor,
    segmentation: Segmentation,
    integrity: Integrity,
    general: General,
}

/// The network runs inline, on the handler's own task, as one handler would call it.
async fn label(general: &General, category: &str, image: Tensor) -> Result<Label, String> {
    Ok(match category.trim().to_ascii_lowercase().as_str() {
        "fruit" => Fruit.classify(image).await,
        "car" => Car.classify(image).await,
        "plant" => Plant.classify(image).await,
        _ => general.classify(image).map_err(|e| e.to_string())?,
    })
}

async fn classify(
    State(m): State<Arc<Models>>,
    Json(request): Json<Request>,
) -> Result<Json<Report>, (StatusCode, String)> {
    let fail = |e: &dyn std::error::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let bytes = m
        .downloader
        .run(request.image_url)
        .await
        .map_err(|e| fail(&e))?;
    let image = m.preprocessor.process(bytes).map_err(|e| fail(&e))?;
    let (mask, quality, label) = tokio::join!(
        m.segmentation.forward(image.clone()),
        m.integrity.forward(image.clone()),
        label(&m.general, &request.category, image),
    );
    let label = label.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(aggregate(mask, quality, label).await))
}

#[tokio::main]
async fn main() {
    let port = serve_bench::port_from_args();
    let models = Arc::new(Models {
        // The example's images, as its binary reads them (this crate's manifest is beside it).
        downloader: Downloader::with_policy(
            FileRoot::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/content_understanding/images"
            ))
            .expect("the example's images"),
            HostPolicy::PublicOnly,
        ),
        preprocessor: Preprocessor,
        segmentation: Segmentation::new("weights/seg.bin".into()),
        integrity: Integrity::new("weights/int.bin".into()),
        general: General::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/content_understanding/models/efficientnet_lite0.onnx"
        )))
        .expect("the example's network"),
    });
    let app = Router::new()
        .route("/classify", post(classify))
        .with_state(models);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("binds");
    eprintln!("real baseline ready on {}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.expect("serves");
}
