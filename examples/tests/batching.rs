//! The batching example over HTTP: concurrent requests get their own answers, and their
//! texts were embedded in shared batches.

#[path = "../batching/embed.rs"]
mod embed;

use embed::Similarity;
use serve_runtime::App;

async fn post(addr: std::net::SocketAddr, left: &str, right: &str) -> Similarity {
    let body = serde_json::json!({ "left": left, "right": right }).to_string();
    let response = request(addr, "POST", "/similarity", &body).await;
    serde_json::from_str(&response).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// One HTTP/1.1 request on a new connection; the body of a 200 answer.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    body.to_owned()
}

#[tokio::test]
async fn concurrent_requests_share_batches_and_get_their_own_similarity() {
    let server = App::new()
        .graph(embed::similarity)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let pairs = [
        ("a cat sat on the mat", "a cat sat on the mat"),
        ("a cat sat on the mat", "the cat sat on a mat"),
        ("a cat sat on the mat", "quarterly revenue grew"),
        ("the quick brown fox", "the quick brown fox jumps"),
    ];
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let (l, r) = pairs[i % pairs.len()];
            tokio::spawn(async move { post(addr, l, r).await })
        })
        .collect();
    let mut got = Vec::new();
    for call in calls {
        got.push(call.await.unwrap().similarity);
    }
    // Each request got the answer for its own pair, whatever batch its texts were in.
    for (i, s) in got.iter().enumerate() {
        assert_eq!(*s, got[i % pairs.len()], "request {i}");
    }
    assert_eq!(got[0], 1.0, "a text is the same as itself");
    assert!(got[1] > 0.5 && got[1] < 1.0, "reworded: {}", got[1]);
    assert!(got[2] < 0.3, "unrelated: {}", got[2]);
    assert!(got[3] > got[1], "an added word: {}", got[3]);

    let metrics = request(addr, "GET", "/-/metrics", "").await;
    let count_of = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains("method=\"embed\""))
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    let (texts, batches) = (
        count_of("serve_batch_size_sum"),
        count_of("serve_batch_size_count"),
    );
    assert_eq!(texts, 16.0, "two texts per request");
    assert!(
        batches < 16.0,
        "texts shared batches: {batches} batches for 16 texts"
    );
}
