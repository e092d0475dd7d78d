//! The first node: fetching the image a request names.
//!
//! It accepts two kinds of URL, at most [`url::MAX_URL_BYTES`] long:
//! - `file:///absolute/path`: a regular file of at most [`MAX_DOWNLOAD_BYTES`] inside the
//!   file root, the folder `CONTENT_FILE_ROOT` names (by default the example's
//!   `images/`); see [`files`].
//! - `http://host[:port]/path` and `https://...`: HTTP/1.1, from hosts on the public
//!   internet only unless `CONTENT_ALLOW_PRIVATE_HOSTS=1`; see [`hosts`]. TLS (rustls)
//!   trusts the Mozilla roots and the PEM file `CONTENT_CA_FILE` names; see [`tls`].
//!   Redirects are followed up to [`MAX_REDIRECTS`] times, each target checked as the first
//!   URL was (scheme, host policy); one from https to http, or to a file, is refused.
//!
//! The variables are read when the downloader is built, so when the graph starts.

mod blocking;
mod error;
pub mod files;
pub mod hosts;
pub mod tls;
pub mod url;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, LOCATION};
use http::{Response, Uri};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use serve_runtime::{Handle, deployment};
use tokio_rustls::TlsConnector;

pub use blocking::BlockingIo;
pub use error::{DownloadError, Quoted, SettingsError};
pub use files::FileRoot;
pub use hosts::HostPolicy;

/// The largest image the downloader accepts, so one request cannot exhaust memory.
pub const MAX_DOWNLOAD_BYTES: u64 = 20 << 20;

/// How long a whole download may take, connecting and redirects included: a stalled server
/// must not hold a replica slot forever.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The most redirects one download follows.
pub const MAX_REDIRECTS: usize = 5;

/// Fetches image bytes from `file://` and `http://` URLs (see the module's documentation
/// for which). Async and inline: it mostly waits on sockets. What blocks (reading a file,
/// resolving a name) it hands to [`BlockingIo`]. At most 32 downloads at once, each of at
/// most [`MAX_DOWNLOAD_BYTES`], bound its memory to 640 MiB; further requests wait.
#[deployment(max_ongoing_requests = 32)]
pub struct Downloader {
    http: Client<HttpConnector, Empty<Bytes>>,
    tls: TlsConnector,
    root: FileRoot,
    hosts: HostPolicy,
    blocking: Blocking,
    limit: u64,
    timeout: Duration,
}

/// Where the downloader's blocking calls run.
enum Blocking {
    /// On the `BlockingIo` deployment's threads: bounded, never the server's workers.
    Threads(Handle<BlockingIo>),
    /// On the caller's own thread: for tests, and for code that runs the pipeline's nodes
    /// outside a graph.
    #[allow(
        dead_code,
        reason = "tests and the benchmark's baseline call it; the example's binary runs the graph"
    )]
    Caller,
}

#[deployment]
impl Downloader {
    /// Takes the file root from `--file-root` or `CONTENT_FILE_ROOT`, the host policy from
    /// `CONTENT_ALLOW_PRIVATE_HOSTS` and further certificates to trust from
    /// `CONTENT_CA_FILE`; an unusable value stops the graph from starting.
    pub fn new(blocking: Handle<BlockingIo>) -> Result<Self, SettingsError> {
        let root = FileRoot::configured()?;
        let hosts = HostPolicy::from_env()?;
        let tls = tls::from_env()?;
        Ok(Self::build(root, hosts, tls, Blocking::Threads(blocking)))
    }

    /// The bytes at `url`: at most [`MAX_DOWNLOAD_BYTES`] of them, within
    /// [`DOWNLOAD_TIMEOUT`].
    pub async fn run(&self, url: String) -> Result<Bytes, DownloadError> {
        let after = self.timeout;
        tokio::time::timeout(after, self.download(&url))
            .await
            .unwrap_or_else(|_| {
                Err(DownloadError::Timeout {
                    url: Quoted::new(&url),
                    after,
                })
            })
    }
}

impl Downloader {
    /// A downloader with the root and host policy given rather than read from the
    /// environment, whose blocking calls run on the caller's thread: for tests, and for
    /// code that calls the pipeline's nodes without a graph.
    #[allow(
        dead_code,
        reason = "tests and the benchmark's baseline call it; the example's binary runs the graph"
    )]
    pub fn with_policy(root: FileRoot, hosts: HostPolicy) -> Self {
        let tls = tls::connector(None).expect("the built-in roots are usable");
        Self::build(root, hosts, tls, Blocking::Caller)
    }

    fn build(root: FileRoot, hosts: HostPolicy, tls: TlsConnector, blocking: Blocking) -> Self {
        Downloader {
            http: Client::builder(TokioExecutor::new()).build_http(),
            tls,
            root,
            hosts,
            blocking,
            limit: MAX_DOWNLOAD_BYTES,
            timeout: DOWNLOAD_TIMEOUT,
        }
    }

    async fn download(&self, url: &str) -> Result<Bytes, DownloadError> {
        match url::parse(url)? {
            url::Source::File(path) => self.read_file(path).await,
            url::Source::Http(uri) => self.follow(url, uri).await,
        }
    }

    /// GETs `uri`, following redirects: each target is checked as the first URL was.
    async fn follow(&self, url: &str, mut uri: Uri) -> Result<Bytes, DownloadError> {
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let response = self.fetch(&current, &uri).await?;
            if !response.status().is_redirection() {
                return self.body(&current, response).await;
            }
            let refused = |to: &str, reason| DownloadError::Redirect {
                url: Quoted::new(&current),
                to: Quoted::new(to),
                reason,
            };
            let Some(location) = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Err(DownloadError::Status {
                    url: Quoted::new(&current),
                    status: response.status(),
                });
            };
            let next = url::resolve(&uri, location);
            let next_uri = match url::parse(&next) {
                Ok(url::Source::Http(next_uri)) => next_uri,
                Ok(url::Source::File(_)) => {
                    return Err(refused(&next, "a redirect cannot name a file"));
                }
                Err(e) => return Err(refused(&next, redirect_reason(&e))),
            };
            if uri.scheme_str() == Some("https") && next_uri.scheme_str() != Some("https") {
                return Err(refused(
                    &next,
                    "a redirect from https to http is not followed",
                ));
            }
            (current, uri) = (next, next_uri);
        }
        Err(DownloadError::TooManyRedirects {
            url: Quoted::new(url),
            max: MAX_REDIRECTS,
        })
    }

    async fn read_file(&self, path: &str) -> Result<Bytes, DownloadError> {
        match &self.blocking {
            Blocking::Threads(io) => io
                .read_file(self.root.clone(), path.to_owned(), self.limit)
                .await
                .map_err(DownloadError::from_blocking_io),
            Blocking::Caller => self.root.read(path, self.limit),
        }
    }

    /// The addresses `host` stands for that the policy allows, none of them contacted yet.
    async fn addresses(&self, url: &str, uri: &Uri) -> Result<Vec<SocketAddr>, DownloadError> {
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(default_port(uri));
        let resolved = match (hosts::literal(host), &self.blocking) {
            (Some(ip), _) => vec![SocketAddr::new(ip, port)],
            (None, Blocking::Threads(io)) => io
                .resolve(host.to_owned(), port)
                .await
                .map_err(DownloadError::from_blocking_io)?,
            (None, Blocking::Caller) => hosts::resolve(host, port)?,
        };
        let allowed: Vec<_> = resolved
            .into_iter()
            .filter(|addr| self.hosts.allows(addr.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(DownloadError::HostNotAllowed {
                url: Quoted::new(url),
            });
        }
        Ok(allowed)
    }

    /// GETs `uri` from the first allowed address that takes the connection. Each request
    /// names an address, so the client connects to exactly that one (it resolves nothing
    /// itself), and carries the URL's own `Host` (and, over TLS, its name to verify).
    async fn fetch(&self, url: &str, uri: &Uri) -> Result<Response<Incoming>, DownloadError> {
        let failed = |error: &(dyn std::error::Error + 'static)| DownloadError::Fetch {
            url: Quoted::new(url),
            reason: error_chain(error),
        };
        let mut refused: Option<Box<dyn std::error::Error + Send + Sync>> = None;
        for addr in self.addresses(url, uri).await? {
            let request = to_address(uri, addr).map_err(|e| failed(&e))?;
            let answer = if uri.scheme_str() == Some("https") {
                self.over_tls(uri, addr, request).await
            } else {
                self.http
                    .request(request)
                    .await
                    .map_err(|e| Sent::classify(e.is_connect(), e))
            };
            match answer {
                Ok(response) => return Ok(response),
                // Nothing was sent; the next address may take the connection.
                Err(Sent::NotYet(e)) => refused = Some(e),
                Err(Sent::Maybe(e)) => return Err(failed(&*e)),
            }
        }
        Err(match refused {
            Some(e) => failed(&*e),
            None => DownloadError::HostNotAllowed {
                url: Quoted::new(url),
            },
        })
    }

    /// One GET over a TLS connection of its own to `addr`, verified against `uri`'s host.
    async fn over_tls(
        &self,
        uri: &Uri,
        addr: SocketAddr,
        mut request: http::Request<Empty<Bytes>>,
    ) -> Result<Response<Incoming>, Sent> {
        let host = uri.host().unwrap_or_default();
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| Sent::NotYet(e.into()))?;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| Sent::NotYet(e.into()))?;
        // A certificate the roots do not vouch for is final: another address of the same
        // host would present the same name.
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| Sent::Maybe(format!("TLS: {e}").into()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| Sent::Maybe(e.into()))?;
        // The connection is driven until the response body is read (or dropped).
        tokio::spawn(connection);
        // Over a connection of its own the request names only its path.
        *request.uri_mut() = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| Sent::Maybe(e.into()))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| Sent::Maybe(e.into()))
    }

    async fn body<B>(&self, url: &str, response: Response<B>) -> Result<Bytes, DownloadError>
    where
        B: BodyExt,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let status = response.status();
        if !status.is_success() {
            return Err(DownloadError::Status {
                url: Quoted::new(url),
                status,
            });
        }
        // A declared length over the limit is refused before any of the body is read.
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limit) {
            return Err(self.too_large(url));
        }
        let limited = Limited::new(response.into_body(), self.limit as usize);
        match limited.collect().await {
            Ok(body) => Ok(body.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => Err(self.too_large(url)),
            Err(e) => Err(DownloadError::Fetch {
                url: Quoted::new(url),
                reason: error_chain(&*e),
            }),
        }
    }

    fn too_large(&self, url: &str) -> DownloadError {
        DownloadError::TooLarge {
            what: Quoted::new(url),
            limit: self.limit,
        }
    }
}

/// Why a fetch from one address failed: before anything was sent (try the next address),
/// or after.
enum Sent {
    NotYet(Box<dyn std::error::Error + Send + Sync>),
    Maybe(Box<dyn std::error::Error + Send + Sync>),
}

impl Sent {
    fn classify(nothing_sent: bool, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        if nothing_sent {
            Sent::NotYet(Box::new(e))
        } else {
            Sent::Maybe(Box::new(e))
        }
    }
}

/// 443 for https, 80 for http.
fn default_port(uri: &Uri) -> u16 {
    if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    }
}

/// Why a redirect's target is refused, in the words of the check it failed.
fn redirect_reason(error: &DownloadError) -> &'static str {
    match error {
        DownloadError::UrlTooLong { .. } => "the URL is too long",
        DownloadError::UnsupportedScheme(_) => "only http:// and https:// are followed",
        _ => "it is not a valid URL",
    }
}

/// A GET of `uri`'s path from `addr`, with `uri`'s host in the `Host` header.
fn to_address(uri: &Uri, addr: SocketAddr) -> Result<http::Request<Empty<Bytes>>, http::Error> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = uri.host().unwrap_or_default();
    let host = match uri.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    http::Request::get(format!("http://{addr}{path}"))
        .header(HOST, host)
        .body(Empty::new())
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
mod tests;
