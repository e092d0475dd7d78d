//! The physical limit for the thin workload: the same work inline in one bare axum handler.

use axum::{Json, Router, routing::post};
use serve_bench::thin::{Report, Request, inline};

async fn classify(Json(request): Json<Request>) -> Json<Report> {
    Json(inline(request))
}

#[tokio::main]
async fn main() {
    let port = serve_bench::port_from_args();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("binds");
    eprintln!("thin baseline ready on {}", listener.local_addr().unwrap());
    axum::serve(listener, Router::new().route("/classify", post(classify)))
        .await
        .expect("serves");
}
