//! What can go wrong fetching an image, and how messages quote the input.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::url::MAX_URL_BYTES;

/// The most characters of a URL or path an error message quotes.
pub const QUOTE_CHARS: usize = 100;

/// User input as an error message quotes it: its first [`QUOTE_CHARS`] characters, then `…`
/// if there was more, with control characters escaped. The client sees these messages, and
/// a server should not echo a long or garbled input back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quoted(String);

impl Quoted {
    pub fn new(text: &str) -> Self {
        let mut quoted = String::new();
        for (i, c) in text.chars().enumerate() {
            if i == QUOTE_CHARS {
                quoted.push('…');
                break;
            }
            if c.is_control() {
                quoted.extend(c.escape_default());
            } else {
                quoted.push(c);
            }
        }
        Quoted(quoted)
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an image could not be fetched. Messages quote the URL or path (cut to
/// [`QUOTE_CHARS`]), because the client sees them in the JSON error.
///
/// Outside the file root and for refused hosts the messages are the same whatever is
/// there: they say neither whether a file exists nor whether a host answered.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the URL is {len} bytes long, over the limit of {MAX_URL_BYTES}: `{url}`")]
    UrlTooLong { url: Quoted, len: usize },
    #[error("unsupported URL `{0}`: only http://, https:// and file:// URLs are supported")]
    UnsupportedScheme(Quoted),
    #[error("`{0}` has no absolute path; write file:///path/to/image.png")]
    RelativeFile(Quoted),
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl { url: Quoted, reason: String },
    #[error("`{0}` is outside the folder this server reads files from")]
    OutsideRoot(Quoted),
    #[error("`{0}` is not a regular file")]
    NotAFile(Quoted),
    #[error("cannot read `{path}`: {source}")]
    File {
        path: Quoted,
        source: std::io::Error,
    },
    #[error("`{url}`: the host is not allowed; only public internet addresses are")]
    HostNotAllowed { url: Quoted },
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        host: Quoted,
        source: std::io::Error,
    },
    #[error("cannot fetch `{url}`: {reason}")]
    Fetch { url: Quoted, reason: String },
    #[error("`{url}` answered {status}; expected a 2xx status")]
    Status { url: Quoted, status: StatusCode },
    #[error("`{url}` redirected more than {max} times")]
    TooManyRedirects { url: Quoted, max: usize },
    #[error("`{url}` redirected to `{to}`, which is refused: {reason}")]
    Redirect {
        url: Quoted,
        to: Quoted,
        reason: &'static str,
    },
    #[error("`{what}` is larger than the download limit of {limit} bytes")]
    TooLarge { what: Quoted, limit: u64 },
    #[error("fetching `{url}` took longer than {after:?}")]
    Timeout { url: Quoted, after: Duration },
    /// The deployment that reads files and resolves names failed (a panic, or a replica
    /// that stopped) rather than answering.
    #[error("reading or resolving failed: {0}")]
    BlockingIo(serve_runtime::Error),
}

impl DownloadError {
    /// Unwraps an error the `BlockingIo` deployment returned, which the runtime wrapped in
    /// its own, back into the downloader's.
    pub(super) fn from_blocking_io(error: serve_runtime::Error) -> Self {
        match error {
            serve_runtime::Error::Node {
                deployment,
                method,
                source,
            } => match source.downcast::<DownloadError>() {
                Ok(own) => *own,
                Err(source) => DownloadError::BlockingIo(serve_runtime::Error::Node {
                    deployment,
                    method,
                    source,
                }),
            },
            other => DownloadError::BlockingIo(other),
        }
    }
}

/// A setting the downloader reads from the environment is unusable; the graph does not start.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var}=`{dir}` cannot be the folder file:// URLs read from: {source}")]
    Root {
        var: &'static str,
        dir: String,
        source: std::io::Error,
    },
    #[error("{var} must be `1` (allow private hosts) or `0` (refuse them), not `{value}`")]
    Switch { var: &'static str, value: String },
    #[error("{var}=`{path}` cannot be read as certificates to trust: {reason}")]
    CaFile {
        var: &'static str,
        path: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_cut_and_escaped() {
        assert_eq!(Quoted::new("file:///a.png").to_string(), "file:///a.png");
        let long = "x".repeat(QUOTE_CHARS + 1);
        let quoted = Quoted::new(&long).to_string();
        assert_eq!(quoted, format!("{}…", &long[..QUOTE_CHARS]));
        let exact = "é".repeat(QUOTE_CHARS);
        assert_eq!(Quoted::new(&exact).to_string(), exact);
        assert_eq!(Quoted::new("a\nb\u{1b}").to_string(), "a\\nb\\u{1b}");
    }
}
