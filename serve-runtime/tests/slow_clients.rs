//! Clients that send their request bodies slowly, or never, hold no graph capacity: the body
//! is read under its own deadline before the request enters the graph. Every wait here is
//! bounded.

use std::net::SocketAddr;
use std::time::Duration;

use serve_runtime::{App, Server, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[deployment]
async fn triple(x: u64) -> u64 {
    x * 3
}

/// The ingress's defaults: 100 requests in the graph at once, 1000 more queued.
#[graph(route_prefix = "/triple")]
async fn tripling(x: u64) -> u64 {
    triple(x)
}

#[graph(route_prefix = "/quick", request_timeout_ms = 300)]
async fn quick(x: u64) -> u64 {
    triple(x)
}

async fn serve(body_read_timeout: Duration) -> Server {
    App::new()
        .graph(tripling)
        .graph(quick)
        .body_read_timeout(body_read_timeout)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Opens a connection that announces a large body and sends one byte of it.
async fn slow_body(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn normal_request(addr: SocketAddr) -> (u16, String) {
    let body = r#"{"x":7}"#;
    let raw = format!(
        "POST /triple HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    read_reply(&mut stream).await
}

async fn read_reply(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    // A keep-alive connection stays open after its reply: read until the body is in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the server answered in time")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                return (head[9..12].parse().unwrap(), body.to_owned());
            }
        }
        assert!(n > 0, "the connection closed before a full reply: {text:?}");
    }
}

/// True if nothing has arrived on the connection yet.
async fn unanswered(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(20), stream.peek(&mut byte))
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_slow_bodies_hold_no_capacity_and_get_408() {
    let server = serve(Duration::from_secs(2)).await;
    let addr = server.local_addr();
    let mut slow = Vec::new();
    for _ in 0..100 {
        slow.push(slow_body(addr, "/triple").await);
    }
    // Let the server read every head, so each slow request is waiting for its body.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(normal_request(addr).await, (200, "21".to_owned()));
    assert!(
        unanswered(&mut slow[0]).await,
        "the slow requests were still waiting"
    );
    assert!(
        unanswered(&mut slow[99]).await,
        "the slow requests were still waiting"
    );
    for s in &mut slow {
        let (status, body) = read_reply(s).await;
        assert_eq!(status, 408, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "body_timeout");
        assert_eq!(
            body["error"],
            "the request body did not arrive within 2000 ms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_bodies_hold_no_capacity() {
    // Each connection costs this process two descriptors, client and server side.
    let limit = rlimit::increase_nofile_limit(4_500).unwrap();
    let count = if limit >= 4_300 {
        2_000
    } else {
        ((limit.saturating_sub(300)) / 2) as usize
    };
    // More than the ingress lets into the graph and its queue together (1,100).
    assert!(
        count > 1_100,
        "only {limit} file descriptors; the test needs more than 2,500"
    );
    let server = serve(Duration::from_secs(10)).await;
    let addr = server.local_addr();
    let mut slow = Vec::with_capacity(count);
    for _ in 0..count {
        slow.push(slow_body(addr, "/triple").await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(normal_request(addr).await, (200, "21".to_owned()));
    assert!(unanswered(&mut slow[0]).await);
    assert!(unanswered(&mut slow[count - 1]).await);
}

#[tokio::test]
async fn the_request_timeout_bounds_the_body_too() {
    let server = serve(Duration::from_secs(10)).await;
    let mut slow = slow_body(server.local_addr(), "/quick").await;
    let (status, body) = read_reply(&mut slow).await;
    assert_eq!(status, 408);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["error"],
        "the request body did not arrive within 300 ms"
    );
}
