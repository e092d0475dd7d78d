//! Overload, timeouts, cancellation, panics, hostile input and shutdown, over loopback HTTP.
//! Every loop here is bounded in count and time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serve_runtime::{App, Server, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- graphs ------------------------------------------------------------------------------

/// Admits 2 running + 2 queued; each call takes long enough that every request of a burst
/// arrives while the first ones still hold their slots.
#[deployment(max_ongoing_requests = 2, max_queued_requests = 2)]
async fn slow_double(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1000)).await;
    x * 2
}

#[graph(route_prefix = "/double")]
async fn doubling(x: u64) -> u64 {
    slow_double(x)
}

/// Set when `sleepy`'s future is dropped before it finished, or when it finished.
static DROPPED: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static STARTED: AtomicUsize = AtomicUsize::new(0);

struct OnDrop;
impl Drop for OnDrop {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[deployment]
async fn sleepy(ms: u64) -> u64 {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let guard = OnDrop;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    std::mem::forget(guard);
    FINISHED.fetch_add(1, Ordering::SeqCst);
    ms
}

#[graph(route_prefix = "/sleep", request_timeout_ms = 200)]
async fn sleeping(ms: u64) -> u64 {
    sleepy(ms)
}

/// Like `sleepy`, with counters of its own, so tests running at once cannot satisfy each
/// other's waits.
static LEFT_STARTED: AtomicBool = AtomicBool::new(false);
static LEFT_DROPPED: AtomicBool = AtomicBool::new(false);

struct OnLeave;
impl Drop for OnLeave {
    fn drop(&mut self) {
        LEFT_DROPPED.store(true, Ordering::SeqCst);
    }
}

#[deployment]
async fn abandoned(ms: u64) -> u64 {
    LEFT_STARTED.store(true, Ordering::SeqCst);
    let guard = OnLeave;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    std::mem::forget(guard);
    ms
}

#[graph(route_prefix = "/abandon")]
async fn abandoning(ms: u64) -> u64 {
    abandoned(ms)
}

#[deployment]
async fn shout(text: String) -> String {
    text.to_uppercase()
}

#[graph(route_prefix = "/shout")]
async fn shouting(text: String) -> String {
    shout(text)
}

#[deployment]
async fn fragile(x: u64) -> u64 {
    assert!(x != 13, "cannot take 13");
    x
}

#[graph(route_prefix = "/fragile")]
async fn fragility(x: u64) -> u64 {
    fragile(x)
}

static IN_FLIGHT: AtomicBool = AtomicBool::new(false);

#[deployment]
async fn lingering(ms: u64) -> u64 {
    IN_FLIGHT.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[graph(route_prefix = "/linger")]
async fn lingerer(ms: u64) -> u64 {
    lingering(ms)
}

async fn serve() -> Server {
    App::new()
        .graph(doubling)
        .graph(sleeping)
        .graph(fragility)
        .graph(abandoning)
        .graph(shouting)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

// ---- raw client -------------------------------------------------------------------------

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Sends `raw` and reads the whole reply (the server closes the connection); every step is
/// bounded in time.
async fn exchange_full(addr: SocketAddr, raw: Vec<u8>) -> std::io::Result<Reply> {
    let bound =
        |what: &'static str| move |_| std::io::Error::new(std::io::ErrorKind::TimedOut, what);
    let limit = Duration::from_secs(10);
    let mut s = tokio::time::timeout(limit, TcpStream::connect(addr))
        .await
        .map_err(bound("no connection in 10 s"))??;
    tokio::time::timeout(limit, s.write_all(&raw))
        .await
        .map_err(bound("could not send in 10 s"))??;
    let mut buf = Vec::new();
    tokio::time::timeout(limit, s.read_to_end(&mut buf))
        .await
        .map_err(bound("no answer in 10 s"))??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok(Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

async fn exchange(addr: SocketAddr, raw: Vec<u8>) -> std::io::Result<(u16, String)> {
    exchange_full(addr, raw).await.map(|r| (r.status, r.body))
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

async fn wait_for(flag: impl Fn() -> bool) -> bool {
    for _ in 0..400 {
        if flag() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    flag()
}

// ---- tests ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_times_capacity_admits_exactly_what_fits_and_refuses_the_rest_at_once() {
    let server = serve().await;
    let addr = server.local_addr();
    // Capacity: 1 replica x 2 running + 2 queued. Send 16 at once.
    let (capacity, sent) = (4, 16);
    let replies: Vec<_> = (0..sent)
        .map(|i| {
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let reply =
                    exchange_full(addr, post("/double", format!(r#"{{"x":{i}}}"#).as_bytes()))
                        .await;
                (reply, started.elapsed())
            })
        })
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for (i, r) in replies.into_iter().enumerate() {
        let (reply, took) = r.await.unwrap();
        let reply = reply.expect("every request is answered");
        match reply.status {
            200 => {
                assert_eq!(
                    reply.body,
                    (i * 2).to_string(),
                    "a 200 carries the right answer"
                );
                ok += 1;
            }
            503 => {
                assert!(
                    reply.body.contains(r#""code":"overloaded""#),
                    "{}",
                    reply.body
                );
                assert!(reply.head.contains("\r\nretry-after: 1"), "{}", reply.head);
                // An admitted call takes 1 s; a refusal does not wait for any of them.
                assert!(
                    took < Duration::from_millis(900),
                    "refused only after {took:?}"
                );
                busy += 1;
            }
            other => panic!("only 200 or 503, got {other}: {}", reply.body),
        }
    }
    assert_eq!(
        ok, capacity,
        "exactly max_ongoing_requests + max_queued_requests are served"
    );
    assert_eq!(busy, sent - capacity);
}

#[tokio::test]
async fn a_timeout_answers_504_and_cancels_the_work() {
    let server = serve().await;
    let (dropped, finished) = (
        DROPPED.load(Ordering::SeqCst),
        FINISHED.load(Ordering::SeqCst),
    );
    let (status, body) = exchange(server.local_addr(), post("/sleep", br#"{"ms":5000}"#))
        .await
        .unwrap();
    assert_eq!(status, 504);
    assert!(body.contains("did not answer within 200 ms"), "{body}");
    assert!(
        wait_for(|| DROPPED.load(Ordering::SeqCst) > dropped).await,
        "the node's future was dropped"
    );
    assert_eq!(
        FINISHED.load(Ordering::SeqCst),
        finished,
        "and never finished"
    );
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_work() {
    let server = serve().await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(&post("/abandon", br#"{"ms":3000}"#))
        .await
        .unwrap();
    assert!(wait_for(|| LEFT_STARTED.load(Ordering::SeqCst)).await);
    drop(s);
    assert!(
        wait_for(|| LEFT_DROPPED.load(Ordering::SeqCst)).await,
        "the node's future was dropped when the client left"
    );
}

#[tokio::test]
async fn a_panic_is_a_500_and_the_server_keeps_serving() {
    let server = serve().await;
    let addr = server.local_addr();
    let (status, body) = exchange(addr, post("/fragile", br#"{"x":13}"#))
        .await
        .unwrap();
    assert_eq!(status, 500);
    assert!(
        body.contains(r#""code":"node_panicked""#) && body.contains(r#""deployment":"fragile""#),
        "{body}"
    );
    assert!(body.contains("cannot take 13"), "{body}");
    assert_eq!(
        exchange(addr, post("/fragile", br#"{"x":7}"#))
            .await
            .unwrap(),
        (200, "7".to_owned())
    );
}

#[tokio::test]
async fn hostile_bodies_and_headers_get_4xx() {
    let server = serve().await;
    let addr = server.local_addr();
    // Invalid UTF-8 inside a JSON string, for a parameter that is a string.
    let (status, body) = exchange(addr, post("/shout", b"{\"text\":\"\xff\xfe\"}"))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("the body is not valid UTF-8 (first bad byte at offset 9)"),
        "{body}"
    );
    // The same request, valid, is served: the 400 was about the bytes.
    assert_eq!(
        exchange(addr, post("/shout", br#"{"text":"ok"}"#))
            .await
            .unwrap(),
        (200, r#""OK""#.to_owned())
    );
    // A thousand headers.
    let mut raw = String::from("POST /fragile HTTP/1.1\r\nhost: t\r\nconnection: close\r\n");
    for i in 0..1000 {
        raw.push_str(&format!("x-h{i}: {}\r\n", "v".repeat(20)));
    }
    raw.push_str("content-type: application/json\r\ncontent-length: 7\r\n\r\n{\"x\":1}");
    let (status, _) = exchange(addr, raw.into_bytes()).await.unwrap();
    assert_eq!(status, 431);
    // Still serving.
    assert_eq!(
        exchange(addr, post("/fragile", br#"{"x":1}"#))
            .await
            .unwrap()
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_then_stops() {
    let server = App::new()
        .graph(lingerer)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let in_flight = tokio::spawn(exchange(addr, post("/linger", br#"{"ms":400}"#)));
    assert!(wait_for(|| IN_FLIGHT.load(Ordering::SeqCst)).await);
    server.shutdown().await.unwrap();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        (200, "400".to_owned()),
        "the request in flight finished"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

async fn serve_with_short_header_timeout() -> Server {
    App::new()
        .graph(fragility)
        .header_read_timeout(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Reads until the server closes the connection; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(started + limit, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // a 408 or similar before the close
        }
    }
}

#[tokio::test]
async fn a_client_sending_headers_byte_by_byte_is_cut_off() {
    let server = serve_with_short_header_timeout().await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let head = b"POST /fragile HTTP/1.1\r\nhost: t\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let started = tokio::time::Instant::now();
    let mut cut_off = false;
    for byte in head {
        if s.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    if !cut_off {
        cut_off = closed_within(&mut s, Duration::from_secs(2))
            .await
            .is_some();
    }
    assert!(
        cut_off,
        "the connection was closed while the head trickled in"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // The server itself is serving: only the trickling client was cut off.
    assert_eq!(
        exchange(server.local_addr(), post("/fragile", br#"{"x":3}"#))
            .await
            .unwrap(),
        (200, "3".to_owned())
    );
}

#[test]
fn the_default_limits_are_as_documented() {
    let limits = App::new().http_limits();
    assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
    assert_eq!(limits.body_read_timeout, Duration::from_secs(10));
    assert_eq!(limits.max_connections, 10_000);
}

#[tokio::test]
async fn past_max_connections_new_ones_wait_until_one_closes() {
    let server = App::new()
        .graph(fragility)
        .max_connections(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // Two connections that hold their places by sending half a head.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /fragile HTTP/1.1\r\nhost: t\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = tokio::spawn(exchange(addr, post("/fragile", br#"{"x":4}"#)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "a third connection is not served while two are held"
    );
    drop(held.pop());
    let answered = tokio::time::timeout(Duration::from_secs(10), third).await;
    assert_eq!(
        answered
            .expect("served once a place was free")
            .unwrap()
            .unwrap(),
        (200, "4".to_owned())
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_sent() {
    let server = serve().await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    // Announces 10 MB (the limit is 2 MiB) and sends only the first bytes.
    s.write_all(b"POST /fragile HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n{\"x\":")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered while the client is still sending")
        .unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.contains("larger than the limit of 2097152 bytes"),
        "{reply}"
    );
}

#[tokio::test]
async fn idle_connections_are_closed_and_do_not_block_others() {
    let server = serve_with_short_header_timeout().await;
    let addr = server.local_addr();
    let mut idle = Vec::new();
    // A thousand: each costs this process two descriptors (client and server side).
    let limit = rlimit::increase_nofile_limit(2_300).unwrap();
    assert!(
        limit >= 2_100,
        "the test needs 2,100 file descriptors, the hard limit is {limit}"
    );
    for _ in 0..1000 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Served while they all sit idle.
    assert_eq!(
        exchange(addr, post("/fragile", br#"{"x":5}"#))
            .await
            .unwrap(),
        (200, "5".to_owned())
    );
    // And every idle one is closed once the header timeout passes.
    for s in &mut idle {
        assert!(
            closed_within(s, Duration::from_secs(5)).await.is_some(),
            "an idle connection stayed open"
        );
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").into_bytes(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn admin_routes_stay_on_loopback_when_the_graphs_are_public() {
    // Bound to every interface; the test still only talks to loopback.
    let server = App::new().graph(fragility).bind("0.0.0.0:0").await.unwrap();
    let public = SocketAddr::from(([127, 0, 0, 1], server.local_addr().port()));
    let admin = server.admin_addr();
    assert!(admin.ip().is_loopback(), "{admin}");
    assert_ne!(admin.port(), public.port());
    assert_eq!(
        get(public, "/-/status").await.0,
        404,
        "not on the public listener"
    );
    // Only readiness is: probes (a kubelet's, a load balancer's) reach the pod's address.
    assert_eq!(
        get(public, "/-/healthz").await,
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    assert_eq!(
        exchange(public, post("/fragile", br#"{"x":2}"#))
            .await
            .unwrap(),
        (200, "2".to_owned())
    );
    assert_eq!(
        get(admin, "/-/healthz").await,
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    assert_eq!(
        get(admin, "/-/routes").await,
        (200, r#"{"/fragile":"fragility"}"#.to_owned())
    );
    assert_eq!(
        exchange(admin, post("/fragile", br#"{"x":2}"#))
            .await
            .unwrap()
            .0,
        404,
        "graphs are not on the admin listener"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn on_loopback_admin_routes_share_the_listener() {
    let server = App::new()
        .graph(fragility)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(server.admin_addr(), server.local_addr());
    assert_eq!(get(server.local_addr(), "/-/healthz").await.0, 200);
}
