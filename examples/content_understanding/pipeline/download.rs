//! The first node: fetching the image a request names.

use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, Uri};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serve_runtime::deployment;
use tokio::io::AsyncReadExt;

/// The largest image the downloader accepts, so one request cannot exhaust memory.
pub const MAX_DOWNLOAD_BYTES: u64 = 20 << 20;

/// How long a whole download may take, connecting included: a stalled server must not hold
/// a replica slot forever.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an image could not be fetched. Each message names the URL or path, because it is what
/// the client sees in the JSON error.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("unsupported URL `{0}`: only http:// and file:// URLs are supported")]
    UnsupportedScheme(String),
    #[error("`{0}` has no absolute path; write file:///path/to/image.png")]
    RelativeFile(String),
    #[error("cannot read `{path}`: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid URL `{url}`: {source}")]
    InvalidUrl {
        url: String,
        source: http::uri::InvalidUri,
    },
    #[error("cannot fetch `{url}`: {reason}")]
    Fetch { url: String, reason: String },
    #[error("`{url}` answered {status}; expected a 2xx status")]
    Status { url: String, status: StatusCode },
    #[error("`{url}` is larger than the download limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("fetching `{url}` took longer than {after:?}")]
    Timeout { url: String, after: Duration },
}

/// Fetches image bytes from `http://` URLs (HTTP/1, no TLS) and `file://` paths.
#[deployment]
pub struct Downloader {
    http: Client<HttpConnector, Empty<Bytes>>,
    limit: u64,
    timeout: Duration,
}

#[deployment]
impl Downloader {
    pub fn new() -> Self {
        Downloader {
            http: Client::builder(TokioExecutor::new()).build_http(),
            limit: MAX_DOWNLOAD_BYTES,
            timeout: DOWNLOAD_TIMEOUT,
        }
    }

    /// The bytes at `url`: at most [`MAX_DOWNLOAD_BYTES`] of them, within
    /// [`DOWNLOAD_TIMEOUT`].
    pub async fn run(&self, url: String) -> Result<Bytes, DownloadError> {
        let (scheme, rest) = url.split_once("://").unwrap_or_default();
        if scheme.eq_ignore_ascii_case("file") {
            self.read_file(&url, rest).await
        } else if scheme.eq_ignore_ascii_case("http") {
            let after = self.timeout;
            tokio::time::timeout(after, self.fetch(&url))
                .await
                .unwrap_or_else(|_| Err(DownloadError::Timeout { url, after }))
        } else {
            Err(DownloadError::UnsupportedScheme(url))
        }
    }
}

impl Downloader {
    async fn read_file(&self, url: &str, path: &str) -> Result<Bytes, DownloadError> {
        if !path.starts_with('/') {
            return Err(DownloadError::RelativeFile(url.to_owned()));
        }
        let failed = |source| DownloadError::File {
            path: path.to_owned(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(failed)?;
        // One byte past the limit tells "exactly at the limit" from "over it".
        let mut bytes = Vec::new();
        file.take(self.limit + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(failed)?;
        self.within_limit(url, bytes.len() as u64)?;
        Ok(bytes.into())
    }

    async fn fetch(&self, url: &str) -> Result<Bytes, DownloadError> {
        let uri: Uri = url.parse().map_err(|source| DownloadError::InvalidUrl {
            url: url.to_owned(),
            source,
        })?;
        let failed = |error: &(dyn std::error::Error + 'static)| DownloadError::Fetch {
            url: url.to_owned(),
            reason: error_chain(error),
        };
        let response = self.http.get(uri).await.map_err(|e| failed(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(DownloadError::Status {
                url: url.to_owned(),
                status,
            });
        }
        // A declared length over the limit is refused before any of the body is read.
        if let Some(length) = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
        {
            self.within_limit(url, length)?;
        }
        let limited = Limited::new(response.into_body(), self.limit as usize);
        match limited.collect().await {
            Ok(body) => Ok(body.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => Err(self.too_large(url)),
            Err(e) => Err(failed(&*e)),
        }
    }

    fn within_limit(&self, url: &str, len: u64) -> Result<(), DownloadError> {
        if len > self.limit {
            return Err(self.too_large(url));
        }
        Ok(())
    }

    fn too_large(&self, url: &str) -> DownloadError {
        DownloadError::TooLarge {
            url: url.to_owned(),
            limit: self.limit,
        }
    }
}

/// The error and its sources: hyper's own message ("client error (Connect)") says little
/// without the cause under it ("Connection refused").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/content_understanding/images/leaf.png"
    );

    fn leaf_url() -> String {
        format!("file://{LEAF}")
    }

    #[tokio::test]
    async fn reads_files_up_to_the_limit() {
        let size = std::fs::metadata(LEAF).unwrap().len();
        let exact = Downloader {
            limit: size,
            ..Downloader::new()
        };
        assert_eq!(exact.run(leaf_url()).await.unwrap().len() as u64, size);
        let smaller = Downloader {
            limit: size - 1,
            ..Downloader::new()
        };
        let err = smaller.run(leaf_url()).await.unwrap_err();
        assert!(matches!(err, DownloadError::TooLarge { .. }), "{err}");
        assert!(
            err.to_string()
                .ends_with(&format!("limit of {} bytes", size - 1))
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow.png", listener.local_addr().unwrap());
        // The kernel completes the handshake into the listener's backlog; nobody answers.
        let impatient = Downloader {
            timeout: Duration::from_millis(200),
            ..Downloader::new()
        };
        let err = impatient.run(url.clone()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("fetching `{url}` took longer than 200ms")
        );
        drop(listener);
    }

    #[tokio::test]
    async fn names_what_it_cannot_use() {
        let d = Downloader::new();
        let err = d.run("https://example.com/a.png".into()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported URL `https://example.com/a.png`: only http:// and file:// URLs are supported"
        );
        let err = d.run("leaf.png".into()).await.unwrap_err();
        assert!(matches!(err, DownloadError::UnsupportedScheme(_)), "{err}");
        let err = d.run("file://leaf.png".into()).await.unwrap_err();
        assert!(matches!(err, DownloadError::RelativeFile(_)), "{err}");
        let err = d.run("http://exa mple/".into()).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid URL `http://exa mple/`"),
            "{err}"
        );
    }
}
