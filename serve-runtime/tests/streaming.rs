//! Streamed outputs: `ItemStream` in-process and over HTTP (JSON lines and server-sent
//! events), item by item, with backpressure, failures, and cancellation when the reader
//! goes away.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Bounded, bounded, eventually};
use futures_util::StreamExt;
use serve_runtime::{App, Error, ItemStream, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

// ---- the graphs ------------------------------------------------------------------------

/// Counts `0..n`, one item when the test allows it (a permit of `GATE`), when `gated`.
#[deployment]
#[derive(Default)]
struct Counter;

static GATE: Semaphore = Semaphore::const_new(0);

#[deployment]
impl Counter {
    async fn count(&self, n: u32, gated: bool) -> ItemStream<u32> {
        ItemStream::produce(move |tx| async move {
            for i in 0..n {
                if gated && i > 0 {
                    GATE.acquire().await?.forget();
                }
                tx.send(i).await?;
            }
            Ok::<_, serve_runtime::BoxError>(())
        })
    }

    /// Two items, then a failure.
    async fn fail_after_two(&self) -> ItemStream<String> {
        ItemStream::try_new(futures_util::stream::iter([
            Ok("one".to_owned()),
            Ok("two".to_owned()),
            Err("the model ran out of tokens"),
        ]))
    }
}

#[graph(route_prefix = "/count")]
async fn counting(n: u32, gated: bool) -> ItemStream<u32> {
    let c = Counter::bind();
    c.count(n, gated)
}

#[graph(route_prefix = "/failing")]
async fn failing() -> ItemStream<String> {
    let c = Counter::bind();
    c.fail_after_two()
}

/// An endless stream of 16 KiB items, counting how many it made and saying when dropped.
#[deployment]
#[derive(Default)]
struct Firehose;

static MADE: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicBool = AtomicBool::new(false);

struct OnDrop;
impl Drop for OnDrop {
    fn drop(&mut self) {
        DROPPED.store(true, Ordering::SeqCst);
    }
}

#[deployment]
impl Firehose {
    async fn flood(&self) -> ItemStream<String> {
        ItemStream::produce(|tx| async move {
            let _on_drop = OnDrop;
            while tx.send("x".repeat(16 * 1024)).await.is_ok() {
                MADE.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, serve_runtime::BoxError>(())
        })
    }
}

#[graph(route_prefix = "/flood")]
async fn flooding() -> ItemStream<String> {
    let f = Firehose::bind();
    f.flood()
}

/// A sync method on threads: its stream is run on the replica's own thread.
#[deployment(num_cpus = 1)]
#[derive(Default)]
struct Threaded;

static THREAD_MADE: AtomicUsize = AtomicUsize::new(0);

#[deployment]
impl Threaded {
    fn names(&self, n: usize) -> ItemStream<String> {
        ItemStream::new(futures_util::stream::iter(0..n).map(|i| {
            THREAD_MADE.fetch_add(1, Ordering::SeqCst);
            let thread = std::thread::current().name().unwrap_or("").to_owned();
            format!("{i}@{thread}")
        }))
    }
}

#[graph]
async fn threaded(n: usize) -> ItemStream<String> {
    let t = Threaded::bind();
    t.names(n)
}

/// Waits longer between items than the graph's request timeout.
#[deployment]
async fn slow_items(pause_ms: u64) -> ItemStream<u64> {
    ItemStream::produce(move |tx| async move {
        tx.send(0).await?;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        tx.send(1).await?;
        Ok::<_, serve_runtime::BoxError>(())
    })
}

#[graph(route_prefix = "/slow", request_timeout_ms = 200)]
async fn slow(pause_ms: u64) -> ItemStream<u64> {
    slow_items(pause_ms)
}

// ---- in-process ------------------------------------------------------------------------

#[tokio::test]
async fn an_in_process_caller_reads_the_items_and_the_slot_is_held_until_the_end() {
    let g = serve_runtime::start(counting).bounded().await.unwrap();
    let mut items = g.call((3, false)).bounded().await.unwrap();
    assert_eq!(items.next().bounded().await.unwrap().unwrap(), 0);
    // The call's replica slot is taken while its stream is read...
    assert_eq!(
        g.status().deployment("Counter").unwrap().replicas[0].ongoing,
        1
    );
    let rest: Vec<u32> = items.map(Result::unwrap).collect().bounded().await;
    assert_eq!(rest, vec![1, 2]);
    // ...and given back once it has ended.
    eventually("the slot is free", || {
        g.status().deployment("Counter").unwrap().replicas[0].ongoing == 0
    })
    .await;

    let f = serve_runtime::start(failing).bounded().await.unwrap();
    let all: Vec<Result<String, Error>> = f
        .call(())
        .bounded()
        .await
        .unwrap()
        .collect()
        .bounded()
        .await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[1].as_ref().unwrap(), "two");
    let e = all[2].as_ref().unwrap_err();
    assert!(
        matches!(e, Error::Node { deployment, method: "fail_after_two", .. } if deployment == "Counter"),
        "{e}"
    );
    assert!(e.to_string().contains("ran out of tokens"), "{e}");
}

#[tokio::test]
async fn a_stream_from_a_thread_replica_runs_there_and_gets_at_most_a_buffer_ahead() {
    let g = serve_runtime::start(threaded).bounded().await.unwrap();
    let mut items = g.call(10_000).bounded().await.unwrap();
    let first = items.next().bounded().await.unwrap().unwrap();
    let (i, thread) = first.split_once('@').unwrap();
    assert_eq!(i, "0");
    assert!(thread.starts_with("Threaded"), "made on `{thread}`");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let made = THREAD_MADE.load(Ordering::SeqCst);
    assert!(
        made <= serve_runtime::__private::STREAM_THREAD_BUFFER + 3,
        "the unread items are bounded: {made} made for 1 read"
    );
    drop(items);
    eventually("the slot is free", || {
        g.status().deployment("Threaded").unwrap().replicas[0].ongoing == 0
    })
    .await;
}

// ---- over HTTP -------------------------------------------------------------------------

/// Sends a POST with `accept` and returns the open connection, its head already read.
async fn open(
    addr: SocketAddr,
    path: &str,
    accept: &str,
    body: &str,
) -> (TcpStream, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\naccept: {accept}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = bounded(stream.read(&mut chunk)).await.unwrap();
        assert!(
            n > 0,
            "closed before the head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let rest = buf[end + 4..].to_vec();
            return (stream, head, rest);
        }
    }
}

/// Reads until the (chunked) body so far contains `text`.
async fn read_until(stream: &mut TcpStream, got: &mut Vec<u8>, text: &str) {
    while !String::from_utf8_lossy(got).contains(text) {
        let mut chunk = [0u8; 4096];
        let n = bounded(stream.read(&mut chunk)).await.unwrap();
        assert!(
            n > 0,
            "closed before `{text}`: {}",
            String::from_utf8_lossy(got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
}

/// Reads the rest of a chunked body and gives it without its chunk framing.
async fn read_to_end(stream: &mut TcpStream, got: &mut Vec<u8>) -> String {
    bounded(stream.read_to_end(got)).await.unwrap();
    let mut body = Vec::new();
    let mut rest = &got[..];
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        body.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    String::from_utf8(body).unwrap()
}

async fn serve() -> serve_runtime::Server {
    let app = App::new()
        .graph(counting)
        .graph(failing)
        .graph(flooding)
        .graph(slow);
    bounded(app.bind("127.0.0.1:0")).await.unwrap()
}

#[tokio::test]
async fn items_reach_the_client_one_by_one_as_json_lines_or_events() {
    let server = serve().await;
    let addr = server.local_addr();

    let (mut s, head, mut got) = open(addr, "/count", "*/*", r#"{"n":3,"gated":true}"#).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/x-ndjson"),
        "{head}"
    );
    read_until(&mut s, &mut got, "0\n").await;
    // The next item is not made until the test lets it: what came was sent as made.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!String::from_utf8_lossy(&got).contains("1\n"));
    GATE.add_permits(1);
    read_until(&mut s, &mut got, "1\n").await;
    GATE.add_permits(1);
    let body = read_to_end(&mut s, &mut got).await;
    assert_eq!(body, "0\n1\n2\n");

    let (mut s, head, mut got) = open(
        addr,
        "/count",
        "text/event-stream",
        r#"{"n":2,"gated":false}"#,
    )
    .await;
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let body = read_to_end(&mut s, &mut got).await;
    assert_eq!(body, "data: 0\n\ndata: 1\n\n");
}

#[tokio::test]
async fn a_failure_mid_stream_ends_it_with_an_error_line_or_event() {
    let server = serve().await;
    let addr = server.local_addr();

    let (mut s, head, mut got) = open(addr, "/failing", "application/x-ndjson", "{}").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = read_to_end(&mut s, &mut got).await;
    assert!(
        body.contains("\"one\"\n") && body.contains("\"two\"\n"),
        "{body}"
    );
    assert!(
        body.contains(r#""code":"node_failed","deployment":"Counter"}"#)
            && body.contains("ran out of tokens"),
        "{body}"
    );

    let (mut s, _, mut got) = open(addr, "/failing", "text/event-stream", "{}").await;
    let body = read_to_end(&mut s, &mut got).await;
    assert!(
        body.contains("data: \"two\"\n\nevent: error\ndata: {"),
        "{body}"
    );

    // An item that does not come within the request timeout ends the stream too.
    let (mut s, _, mut got) = open(addr, "/slow", "*/*", r#"{"pause_ms":2000}"#).await;
    let body = read_to_end(&mut s, &mut got).await;
    assert!(
        body.contains("0\n") && body.contains(r#""code":"timeout""#),
        "{body}"
    );
    assert!(!body.contains("1\n"), "{body}");
}

#[tokio::test]
async fn a_slow_client_holds_the_producer_back_and_one_that_leaves_cancels_it() {
    let server = serve().await;
    let addr = server.local_addr();
    let (s, head, _) = open(addr, "/flood", "*/*", "{}").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The client reads nothing more: once the socket's buffers are full, nothing is made.
    let mut before = MADE.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = MADE.load(Ordering::SeqCst);
        if now == before {
            break;
        }
        before = now;
    }
    assert!(
        before < 5_000,
        "{before} items of 16 KiB were made for a client that read none"
    );
    assert_eq!(
        server.status()[2].deployment("Firehose").unwrap().replicas[0].ongoing,
        1
    );
    drop(s);
    eventually("the producer is dropped", || DROPPED.load(Ordering::SeqCst)).await;
    eventually("the slot is given back", || {
        server.status()[2].deployment("Firehose").unwrap().replicas[0].ongoing == 0
    })
    .await;
}
