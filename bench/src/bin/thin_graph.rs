//! The thin workload served as a graph.

#[tokio::main]
async fn main() {
    let port = serve_bench::port_from_args();
    let server = serve_runtime::App::new()
        .graph(serve_bench::thin::thin)
        .bind(("127.0.0.1", port))
        .await
        .expect("the graph starts");
    eprintln!("thin graph ready on {}", server.local_addr());
    server.wait().await.expect("serves");
}
