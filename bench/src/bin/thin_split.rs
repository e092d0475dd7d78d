//! The thin workload's graph with the full command line (`serve --config FILE
//! --deployments NAME`...), for `bench/split.sh` to run it in one process or split into
//! one process per deployment.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    serve_runtime::App::new()
        .graph(serve_bench::thin::thin)
        .run()
        .await
}
