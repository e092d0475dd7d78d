//! The HTTP ingress over real loopback connections: routes, adapters and every error status.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use serve_runtime::{AdapterError, App, Bytes, HttpRequest, Server, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- graphs under test ------------------------------------------------------------------

#[derive(serde::Serialize)]
struct Greeting {
    text: String,
    shout: bool,
}

#[deployment]
async fn greet(name: String, shout: bool) -> Result<Greeting, String> {
    if name.is_empty() {
        return Err("name is empty".to_owned());
    }
    let text = format!("hello, {name}");
    Ok(Greeting {
        text: if shout { text.to_uppercase() } else { text },
        shout,
    })
}

#[graph(route_prefix = "/greet", body_limit = 64)]
async fn greeting(name: String, shout: bool) -> Greeting {
    greet(name, shout)
}

/// The same graph, refusing fields it has no parameter for.
#[graph(route_prefix = "/greet_strict", deny_unknown_fields = true)]
async fn strict_greeting(name: String, shout: bool) -> Greeting {
    greet(name, shout)
}

#[deployment]
async fn byte_len(body: Bytes) -> usize {
    body.len()
}

#[graph(route_prefix = "/len", http_adapter = raw_bytes)]
async fn length(body: Bytes) -> usize {
    byte_len(body)
}

/// A user adapter: the name comes from a query string.
async fn from_query(request: HttpRequest) -> Result<String, AdapterError> {
    let query = request.uri().query().unwrap_or("");
    if query.contains("name_len=") {
        return Err(AdapterError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "the name is too long",
        ));
    }
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("name="))
        .map(str::to_owned)
        .ok_or_else(|| AdapterError::bad_request("expected `?name=...`"))
}

#[deployment]
async fn echo(name: String) -> String {
    name
}

#[graph(route_prefix = "/echo", http_adapter = from_query)]
async fn echoing(name: String) -> String {
    echo(name)
}

/// Set while a long nap holds `nap`'s only slot, so the test knows when to expect 503.
static HOLDING: AtomicBool = AtomicBool::new(false);

#[deployment(max_ongoing_requests = 1, max_queued_requests = 0)]
async fn nap(ms: u64) -> u64 {
    let long = ms >= 1000;
    HOLDING.store(long, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    HOLDING.store(false, Ordering::SeqCst);
    ms
}

#[graph(route_prefix = "/nap")]
async fn napping(ms: u64) -> u64 {
    nap(ms)
}

async fn serve() -> Server {
    App::new()
        .graph(greeting)
        .graph(strict_greeting)
        .graph(length)
        .graph(echoing)
        .graph(napping)
        .bind("127.0.0.1:0")
        .await
        .expect("the app starts")
}

// ---- a small HTTP/1.1 client: raw bytes, so tests can also send what clients should not ----

struct Reply {
    status: u16,
    headers: String,
    body: Value,
}

async fn send(addr: SocketAddr, raw: &[u8]) -> Reply {
    let limit = Duration::from_secs(10);
    let mut stream = tokio::time::timeout(limit, TcpStream::connect(addr))
        .await
        .expect("connected in time")
        .unwrap();
    tokio::time::timeout(limit, stream.write_all(raw))
        .await
        .expect("sent in time")
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("the server answers")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let status = head[9..12].parse().unwrap();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
    };
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        body,
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let ct = content_type
        .map(|c| format!("content-type: {c}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n{ct}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    send(addr, raw.as_bytes()).await
}

async fn post_json(addr: SocketAddr, path: &str, body: &str) -> Reply {
    request(addr, "POST", path, Some("application/json"), body).await
}

// ---- tests --------------------------------------------------------------------------------

#[tokio::test]
async fn answers_json_and_lists_routes() {
    let server = serve().await;
    let addr = server.local_addr();
    let r = post_json(addr, "/greet", r#"{"name":"ada","shout":true}"#).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: application/json"));
    assert_eq!(r.body, json!({"text": "HELLO, ADA", "shout": true}));

    let r = request(addr, "GET", "/-/healthz", None, "").await;
    assert_eq!((r.status, r.body), (200, json!({"status": "ok"})));
    let r = request(addr, "GET", "/-/routes", None, "").await;
    assert_eq!(
        r.body,
        json!({
            "/greet": "greeting",
            "/greet_strict": "strict_greeting",
            "/len": "length",
            "/echo": "echoing",
            "/nap": "napping"
        })
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field() {
    let server = serve().await;
    let addr = server.local_addr();
    let r = post_json(addr, "/greet", r#"{"name":"ada","shout":"yes"}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "bad_request");
    let msg = r.body["error"].as_str().unwrap();
    assert!(
        msg.starts_with("field `shout`: invalid type: string \"yes\", expected a boolean"),
        "{msg}"
    );

    let r = post_json(addr, "/greet", r#"{"name":"ada"}"#).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `shout`"),
        "{}",
        r.body
    );

    let r = post_json(addr, "/greet", r#"{"name":"ada","#).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{}",
        r.body
    );

    // Fields the graph has no parameter for are ignored, as Ray Serve's models do...
    let r = post_json(addr, "/greet", r#"{"name":"ada","shout":false,"mood":1}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ...unless the graph says `deny_unknown_fields = true`.
    let r = post_json(
        addr,
        "/greet_strict",
        r#"{"name":"ada","shout":false,"mood":1}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    let msg = r.body["error"].as_str().unwrap();
    assert!(
        msg.contains("unknown field `mood`, expected `name` or `shout`"),
        "{msg}"
    );

    let r = post_json(addr, "/greet", "[1, 2]").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"],
        "the body must be a JSON object with the fields `name`, `shout`"
    );
}

#[tokio::test]
async fn wrong_route_method_type_and_size() {
    let server = serve().await;
    let addr = server.local_addr();
    let r = post_json(addr, "/nope", "{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "not_found");
    assert!(r.body["error"].as_str().unwrap().contains("/nope"));

    let r = request(addr, "GET", "/greet", None, "").await;
    assert_eq!(r.status, 405);
    assert!(r.headers.contains("allow: post"), "{}", r.headers);
    assert_eq!(r.body["code"], "method_not_allowed");

    let r = request(
        addr,
        "POST",
        "/greet",
        Some("text/plain"),
        r#"{"name":"a","shout":false}"#,
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.body["code"], "unsupported_media_type");
    assert_eq!(
        r.body["error"],
        "expected a JSON body: send the header `content-type: application/json` (got `text/plain`)"
    );

    // A body of exactly the limit is read.
    let exact = format!(r#"{{"name":"{}","shout":false}}"#, "a".repeat(39));
    assert_eq!(exact.len(), 64);
    assert_eq!(post_json(addr, "/greet", &exact).await.status, 200);

    let big = format!(r#"{{"name":"{}","shout":false}}"#, "a".repeat(100));
    let r = post_json(addr, "/greet", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.body["error"],
        "the request body is larger than the limit of 64 bytes"
    );

    // Without a content-length the limit still holds while reading.
    let chunk = "b".repeat(100);
    let raw = format!(
        "POST /greet HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let r = send(addr, raw.as_bytes()).await;
    assert_eq!(r.status, 413);

    // A body that breaks off malformed is a 400 saying so, not a 413.
    let raw = "POST /greet HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    let r = send(addr, raw.as_bytes()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "bad_request");
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .starts_with("could not read the request body"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_failing_node_is_500_naming_it() {
    let server = serve().await;
    let r = post_json(
        server.local_addr(),
        "/greet",
        r#"{"name":"","shout":false}"#,
    )
    .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["code"], "node_failed");
    assert_eq!(r.body["deployment"], "greet");
    assert_eq!(
        r.body["error"],
        "deployment `greet` failed in `call`: name is empty"
    );
}

#[tokio::test]
async fn a_full_deployment_is_503() {
    let server = serve().await;
    let addr = server.local_addr();
    let slow = tokio::spawn(post_json(addr, "/nap", r#"{"ms":2000}"#));
    for _ in 0..200 {
        if HOLDING.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(HOLDING.load(Ordering::SeqCst), "the slow request started");
    let r = post_json(addr, "/nap", r#"{"ms":1}"#).await;
    assert_eq!(r.status, 503);
    assert!(r.headers.contains("retry-after: 1"), "{}", r.headers);
    assert_eq!(r.body["code"], "overloaded");
    assert_eq!(r.body["deployment"], "nap");
    assert_eq!(slow.await.unwrap().body, json!(2000));
    assert_eq!(post_json(addr, "/nap", r#"{"ms":1}"#).await.status, 200);
}

#[tokio::test]
async fn raw_bytes_and_user_adapters() {
    let server = serve().await;
    let addr = server.local_addr();
    let r = request(
        addr,
        "POST",
        "/len",
        Some("application/octet-stream"),
        "\u{0}\u{1}abc",
    )
    .await;
    assert_eq!((r.status, r.body), (200, json!(5)));
    let r = request(addr, "POST", "/echo?name=grace", None, "").await;
    assert_eq!((r.status, r.body), (200, json!("grace")));
    let r = request(addr, "POST", "/echo", None, "").await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (400, json!("expected `?name=...`"))
    );
    // A user adapter's status comes with its code name.
    let r = request(addr, "POST", "/echo?name_len=9000", None, "").await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (413, json!("payload_too_large"))
    );
}

#[tokio::test]
async fn two_graphs_on_one_prefix_is_a_start_up_error() {
    let err = App::new()
        .graph(greeting)
        .graph(greeting)
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "route prefix `/greet` is used by both `greeting` and `greeting`; give one of them another `route_prefix` (in `#[graph(...)]` or the config)"
    );
}
