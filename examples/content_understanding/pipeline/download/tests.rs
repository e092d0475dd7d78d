use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::error::QUOTE_CHARS;
use super::*;

const LEAF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/content_understanding/images/leaf.png"
);

fn leaf_url() -> String {
    format!("file://{LEAF}")
}

fn downloader(hosts: HostPolicy) -> Downloader {
    Downloader::with_policy(FileRoot::new(files::DEFAULT_FILE_ROOT).unwrap(), hosts)
}

/// Every wait on the network in these tests is bounded.
async fn within<T>(seconds: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .expect("the downloader answered in time")
}

/// A server on loopback that answers one request with `reply` and hands back what it read.
async fn one_shot_server(reply: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(reply).await;
        String::from_utf8_lossy(&head).into_owned()
    });
    (addr, served)
}

#[tokio::test]
async fn reads_files_up_to_the_limit() {
    let size = std::fs::metadata(LEAF).unwrap().len();
    let exact = Downloader {
        limit: size,
        ..downloader(HostPolicy::PublicOnly)
    };
    assert_eq!(exact.run(leaf_url()).await.unwrap().len() as u64, size);
    let smaller = Downloader {
        limit: size - 1,
        ..downloader(HostPolicy::PublicOnly)
    };
    let err = smaller.run(leaf_url()).await.unwrap_err();
    assert!(matches!(err, DownloadError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with(&format!("limit of {} bytes", size - 1))
    );
}

#[tokio::test]
async fn fetches_over_http_from_an_allowed_host() {
    let (addr, served) =
        one_shot_server(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nimage")
            .await;
    let d = downloader(HostPolicy::AllowPrivate);
    let bytes = within(10, d.run(format!("http://{addr}/a.png?v=1"))).await;
    assert_eq!(&bytes.unwrap()[..], b"image");
    let head = within(10, served).await.unwrap();
    assert!(head.starts_with("GET /a.png?v=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
}

#[tokio::test]
async fn redirects_are_errors_and_are_not_followed() {
    let (addr, served) = one_shot_server(
        b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let d = downloader(HostPolicy::AllowPrivate);
    let err = within(10, d.run(format!("http://{addr}/a.png")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("answered 302 Found; expected a 2xx status (redirects are not followed)"),
        "{err}"
    );
    within(10, served).await.unwrap();
}

#[tokio::test]
async fn private_hosts_are_refused_without_being_contacted() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let d = downloader(HostPolicy::PublicOnly);
    for host in [
        "127.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "10.0.0.1",
        "169.254.169.254",
    ] {
        let url = format!("http://{host}:{port}/x.png");
        let err = within(10, d.run(url.clone())).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("`{url}`: the host is not allowed; only public internet addresses are")
        );
    }
    let contacted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(contacted.is_err(), "the refused host was connected to");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow.png", listener.local_addr().unwrap());
    // The kernel completes the handshake into the listener's backlog; nobody answers.
    let impatient = Downloader {
        timeout: Duration::from_millis(200),
        ..downloader(HostPolicy::AllowPrivate)
    };
    let err = within(10, impatient.run(url.clone())).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("fetching `{url}` took longer than 200ms")
    );
    drop(listener);
}

#[tokio::test]
async fn names_what_it_cannot_use_quoting_at_most_a_hundred_characters() {
    let d = downloader(HostPolicy::PublicOnly);
    let err = d.run("https://example.com/a.png".into()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported URL `https://example.com/a.png`: only http:// and file:// URLs are supported"
    );
    let err = d.run("file://leaf.png".into()).await.unwrap_err();
    assert!(matches!(err, DownloadError::RelativeFile(_)), "{err}");
    let long_path = format!("/{}.png", "x".repeat(1500));
    let cases = [
        format!("file://{long_path}"),
        format!("file://{}{long_path}", files::DEFAULT_FILE_ROOT),
        format!("http://127.0.0.1{long_path}"),
        format!("gopher://{long_path}"),
    ];
    for url in cases {
        let err = within(10, d.run(url.clone())).await.unwrap_err();
        let message = err.to_string();
        // The URL, or for files the path, cut after a hundred characters.
        let path = url.split_once("://").unwrap().1;
        let quoted = |text: &str| format!("`{}…`", &text[..QUOTE_CHARS]);
        assert!(
            message.contains(&quoted(&url)) || message.contains(&quoted(path)),
            "{message}"
        );
        assert!(message.len() < QUOTE_CHARS + 120, "{message}");
    }
}
