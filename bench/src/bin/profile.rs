//! A fixed amount of in-process work for instruction-counting profilers (callgrind):
//! `profile graph N` calls the thin graph N times, `profile inline N` does the same work
//! inline. The difference, divided by N, is the framework's cost per request in
//! instructions, without HTTP.

use std::hint::black_box;

use serve_bench::thin::{Request, inline, thin};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("graph");
    let n: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let graph = serve_runtime::start(thin).await.expect("the graph starts");
        for i in 0..n {
            let url = format!("http://example.invalid/{i}.png");
            let category = ["fruit", "car", "plant", "other"][(i % 4) as usize].to_owned();
            match mode {
                "graph" => {
                    black_box(
                        graph
                            .call((url, category))
                            .await
                            .expect("the graph answers"),
                    );
                }
                _ => {
                    black_box(inline(Request {
                        image_url: url,
                        category,
                    }));
                }
            }
        }
    });
}
