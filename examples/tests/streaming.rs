//! The streaming example: tokens in-process and as server-sent events over HTTP.

#[path = "../streaming/story.rs"]
mod story;

use futures_util::StreamExt;
use serve_runtime::App;
use story::Token;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_story_streams_token_by_token_in_process_and_over_http() {
    let g = serve_runtime::start(story::generate).await.unwrap();
    let tokens: Vec<Token> = g
        .call(("Once upon a time".to_owned(), 6))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(tokens.len(), 6);
    assert!(tokens.iter().enumerate().all(|(i, t)| t.index == i as u32));
    g.shutdown().await;

    let server = App::new()
        .graph(story::generate)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let body = r#"{"prompt": "Once upon a time", "max_tokens": 6}"#;
    let request = format!(
        "POST /generate HTTP/1.1\r\nhost: x\r\nconnection: close\r\naccept: text/event-stream\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("content-type: text/event-stream"),
        "{response}"
    );
    // The same prompt gives the same story, over HTTP as in-process.
    for t in &tokens {
        let event = format!("data: {}\n\n", serde_json::to_string(t).unwrap());
        assert!(
            response.contains(&event),
            "`{event}` is missing from:\n{response}"
        );
    }
}
