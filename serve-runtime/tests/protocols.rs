//! HTTP/2 beside HTTP/1.1 (h2c, and over TLS by ALPN), TLS from PEM files, and the limits
//! kept on both: a client that sends nothing, or only part of a preface, is dropped.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serve_runtime::{App, Server, deployment, graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

#[deployment]
async fn double(x: u64) -> u64 {
    x * 2
}

#[graph(route_prefix = "/double")]
async fn doubling(x: u64) -> u64 {
    double(x)
}

fn post(version: Version) -> Request<Full<Bytes>> {
    Request::post("/double")
        .version(version)
        .header("content-type", "application/json")
        .header("host", "localhost")
        .body(Full::new(Bytes::from_static(br#"{"x": 21}"#)))
        .unwrap()
}

/// Sends one request over HTTP/2 on `io` (already connected); its version, status, body.
async fn over_http2<IO>(io: IO) -> (Version, u16, String)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut request = post(Version::HTTP_2);
    request.headers_mut().remove("host");
    *request.uri_mut() = "https://localhost/double".parse().unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.version,
        parts.status.as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn over_http1<IO>(io: IO) -> (Version, u16, String)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(post(Version::HTTP_11)).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.version,
        parts.status.as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn http2_with_prior_knowledge_and_http1_share_the_plain_listener() {
    let server = common::bounded(App::new().graph(doubling).bind("127.0.0.1:0"))
        .await
        .unwrap();
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    assert_eq!(
        common::bounded(over_http2(tcp)).await,
        (Version::HTTP_2, 200, "42".to_owned())
    );
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    assert_eq!(
        common::bounded(over_http1(tcp)).await,
        (Version::HTTP_11, 200, "42".to_owned())
    );
    assert!(server.url().starts_with("http://"));
}

/// A self-signed certificate for `localhost`, written as PEM into `dir`.
fn certificate(
    dir: &Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    CertificateDer<'static>,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.der().clone())
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("serve-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn tls_server(dir: &Path) -> (Server, CertificateDer<'static>) {
    let (cert, key, der) = certificate(dir);
    let app = App::new()
        .graph(doubling)
        .tls(cert, key)
        .header_read_timeout(Duration::from_millis(300));
    (common::bounded(app.bind("127.0.0.1:0")).await.unwrap(), der)
}

async fn tls_connect(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
    alpn: &[u8],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>) {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, negotiated)
}

#[tokio::test]
async fn tls_serves_http2_and_http1_as_alpn_chooses() {
    let dir = temp_dir("alpn");
    let (server, der) = tls_server(&dir).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let addr = server.local_addr();

    let (tls, alpn) = tls_connect(addr, &der, b"h2").await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(
        common::bounded(over_http2(tls)).await,
        (Version::HTTP_2, 200, "42".to_owned())
    );

    let (tls, alpn) = tls_connect(addr, &der, b"http/1.1").await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(
        common::bounded(over_http1(tls)).await,
        (Version::HTTP_11, 200, "42".to_owned())
    );

    // Plain HTTP on the TLS port gets no answer: the connection is closed.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /double HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = common::bounded(tcp.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// How long until the server closed `stream`, if it did within 5 s.
async fn closed_after(mut stream: TcpStream) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_clients_and_half_prefaces_are_dropped_after_the_header_timeout() {
    let app = App::new()
        .graph(doubling)
        .header_read_timeout(Duration::from_millis(300));
    let server = common::bounded(app.bind("127.0.0.1:0")).await.unwrap();
    let started = tokio::time::Instant::now();
    let silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut half = TcpStream::connect(server.local_addr()).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for stream in [silent, half] {
        closed_after(stream).await.expect("closed");
        // Not before the timeout: they were given their time.
        let closed = started.elapsed();
        assert!(closed >= Duration::from_millis(250), "{closed:?}");
    }

    let dir = temp_dir("silent");
    let (tls, _) = tls_server(&dir).await;
    // A TCP connection that never starts its TLS handshake.
    let silent = TcpStream::connect(tls.local_addr()).await.unwrap();
    assert!(
        closed_after(silent).await.is_some(),
        "the handshake is bounded"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn certificate_files_that_cannot_be_used_stop_the_start_naming_them() {
    let dir = temp_dir("bad");
    let (cert, key, _) = certificate(&dir);
    let refused = |cert: &Path, key: &Path| {
        let app = App::new().graph(doubling).tls(cert, key);
        async move {
            match app.bind("127.0.0.1:0").await {
                Ok(_) => panic!("started with unusable TLS files"),
                Err(e) => e.to_string(),
            }
        }
    };
    let missing = dir.join("missing.pem");
    let err = refused(&missing, &key).await;
    assert!(
        err.contains(&format!("TLS certificate {}", missing.display())),
        "{err}"
    );
    // The certificate given as the key: no key in it.
    let err = refused(&cert, &cert).await;
    assert!(
        err.contains(&format!("TLS key {}: no private key in it", cert.display())),
        "{err}"
    );
    // A key that is not the certificate's.
    let other = rcgen::KeyPair::generate().unwrap();
    let other_key = dir.join("other.pem");
    std::fs::write(&other_key, other.serialize_pem()).unwrap();
    let err = refused(&cert, &other_key).await;
    assert!(err.contains("do not go together"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
