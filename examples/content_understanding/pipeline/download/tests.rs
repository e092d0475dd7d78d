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
    let reply = String::from_utf8(reply.to_vec()).unwrap();
    let (addr, served) = serve_replies(None, vec![reply]).await;
    let head = tokio::spawn(async move { served.await.unwrap().remove(0) });
    (addr, head)
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
async fn a_redirect_without_a_location_is_an_error() {
    let (addr, served) = one_shot_server(b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\n\r\n").await;
    let d = downloader(HostPolicy::AllowPrivate);
    let err = within(10, d.run(format!("http://{addr}/a.png")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("answered 302 Found; expected a 2xx status"),
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
    let err = d.run("ftp://example.com/a.png".into()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported URL `ftp://example.com/a.png`: only http://, https:// and file:// URLs are supported"
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

// ---- https and redirects ------------------------------------------------------------------

/// A certificate for `localhost`, its key, and a file holding the certificate (to trust).
struct TestCa {
    acceptor: tokio_rustls::TlsAcceptor,
    pem: std::path::PathBuf,
}

impl TestCa {
    fn new(name: &str) -> Self {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem =
            std::env::temp_dir().join(format!("download-ca-{name}-{}.pem", std::process::id()));
        std::fs::write(&pem, cert.pem()).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
            .unwrap();
        TestCa {
            acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
            pem,
        }
    }

    /// A downloader that trusts this certificate and may reach loopback.
    fn downloader(&self) -> Downloader {
        Downloader {
            tls: tls::connector(Some(&self.pem)).unwrap(),
            ..downloader(HostPolicy::AllowPrivate)
        }
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pem);
    }
}

/// A server on loopback answering one request per connection with the next of `replies`,
/// over TLS when `tls` is given; it hands back the request heads it read.
async fn serve_replies(
    tls: Option<tokio_rustls::TlsAcceptor>,
    replies: Vec<String>,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
    async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        mut stream: S,
        reply: &str,
    ) -> String {
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        String::from_utf8_lossy(&head).into_owned()
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let mut heads = Vec::new();
        for reply in replies {
            let (stream, _) = listener.accept().await.unwrap();
            let head = match &tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => answer(stream, &reply).await,
                    Err(e) => format!("handshake refused: {e}"),
                },
                None => answer(stream, &reply).await,
            };
            heads.push(head);
        }
        heads
    });
    (addr, served)
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(to: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn fetches_over_https_verifying_the_certificate() {
    let ca = TestCa::new("ok");
    let (addr, served) = serve_replies(Some(ca.acceptor.clone()), vec![ok("image")]).await;
    let url = format!("https://localhost:{}/a.png", addr.port());
    let bytes = within(10, ca.downloader().run(url)).await.unwrap();
    assert_eq!(&bytes[..], b"image");
    let heads = within(10, served).await.unwrap();
    assert!(heads[0].starts_with("GET /a.png HTTP/1.1\r\n"), "{heads:?}");
    assert!(
        heads[0].contains(&format!("host: localhost:{}\r\n", addr.port())),
        "{heads:?}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let ca = TestCa::new("untrusted");
    let (addr, _served) = serve_replies(Some(ca.acceptor.clone()), vec![ok("image")]).await;
    // The public roots only: the test's certificate is nobody's.
    let d = downloader(HostPolicy::AllowPrivate);
    let url = format!("https://localhost:{}/a.png", addr.port());
    let err = within(10, d.run(url)).await.unwrap_err().to_string();
    assert!(err.contains("TLS: invalid peer certificate"), "{err}");
}

#[tokio::test]
async fn redirects_are_followed_and_checked() {
    // Relative, then absolute (to another server), then the image.
    let d = downloader(HostPolicy::AllowPrivate);
    let (last, last_served) = serve_replies(None, vec![ok("image")]).await;
    let replies = vec![
        redirect("b/next.png"),
        redirect(&format!("http://{last}/final.png")),
    ];
    let (addr, served) = serve_replies(None, replies).await;
    let bytes = within(10, d.run(format!("http://{addr}/a/start.png"))).await;
    assert_eq!(&bytes.unwrap()[..], b"image");
    let mut heads = within(10, served).await.unwrap();
    heads.extend(within(10, last_served).await.unwrap());
    let paths: Vec<&str> = heads
        .iter()
        .map(|h| h.split(' ').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(paths, ["/a/start.png", "/a/b/next.png", "/final.png"]);
}

#[tokio::test]
async fn redirects_are_limited_and_never_reach_files_or_drop_tls() {
    let d = downloader(HostPolicy::AllowPrivate);
    // One more than the limit.
    let loops = vec![redirect("/again.png"); MAX_REDIRECTS + 1];
    let (addr, _served) = serve_replies(None, loops).await;
    let err = within(10, d.run(format!("http://{addr}/a.png")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::TooManyRedirects {
                max: MAX_REDIRECTS,
                ..
            }
        ),
        "{err}"
    );

    let (addr, _served) = serve_replies(None, vec![redirect("file:///etc/passwd")]).await;
    let err = within(10, d.run(format!("http://{addr}/a.png")))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("a redirect cannot name a file"), "{err}");

    let ca = TestCa::new("downgrade");
    let (plain, _) = serve_replies(None, vec![ok("image")]).await;
    let (addr, _served) = serve_replies(
        Some(ca.acceptor.clone()),
        vec![redirect(&format!("http://{plain}/a.png"))],
    )
    .await;
    let url = format!("https://localhost:{}/a.png", addr.port());
    let err = within(10, ca.downloader().run(url))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("from https to http is not followed"), "{err}");
}

#[test]
fn a_ca_file_that_is_not_certificates_stops_the_start() {
    let path = std::env::temp_dir().join(format!("not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&path, "hello").unwrap();
    let err = tls::connector(Some(&path))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.starts_with(&format!("CONTENT_CA_FILE=`{}`", path.display()))
            && err.contains("no PEM certificate"),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
}
