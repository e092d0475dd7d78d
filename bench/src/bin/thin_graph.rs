//! The thin workload served as a graph. With `SERVE_BENCH_SPANS=1` a `tracing` subscriber
//! takes the runtime's `DEBUG` spans (one per request and per node call), to measure what
//! they cost; it prints nothing on the request path.

#[tokio::main]
async fn main() {
    if std::env::var_os("SERVE_BENCH_SPANS").is_some_and(|v| v == "1") {
        tracing_subscriber::fmt()
            .with_env_filter("serve_runtime=debug")
            .with_writer(std::io::sink)
            .init();
    }
    let port = serve_bench::port_from_args();
    let server = serve_runtime::App::new()
        .graph(serve_bench::thin::thin)
        .bind(("127.0.0.1", port))
        .await
        .expect("the graph starts");
    eprintln!("thin graph ready on {}", server.local_addr());
    server.wait().await.expect("serves");
}
