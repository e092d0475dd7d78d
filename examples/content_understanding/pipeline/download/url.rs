//! Which image URLs the downloader takes: checked once, by the HTTP adapter before the
//! graph runs and again by the downloader for callers that skip the adapter.

use http::Uri;

use super::error::{DownloadError, Quoted};

/// The longest `image_url` accepted, in bytes: browsers and servers commonly stop near
/// 2,000, and no image address needs more.
pub const MAX_URL_BYTES: usize = 2048;

/// Resolves a redirect's `Location` against the URL that answered it: absolute
/// (`https://...`), scheme-relative (`//host/...`), absolute path (`/a.png`) or relative
/// to the answering URL's folder (`b/a.png`).
pub fn resolve(base: &Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let authority = base.authority().map_or("", |a| a.as_str());
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let folder = base
        .path()
        .rsplit_once('/')
        .map_or("", |(folder, _)| folder);
    format!("{scheme}://{authority}{folder}/{location}")
}

/// Where an image URL points.
#[derive(Debug, PartialEq)]
pub enum Source<'a> {
    /// `file:///path`: the absolute path, as written (it is not percent-decoded).
    File(&'a str),
    /// `http://host[:port]/path` or `https://...`.
    Http(Uri),
}

/// Checks `url`: at most [`MAX_URL_BYTES`], `http://`, `https://` or `file://` (any case),
/// and well formed: a URI for http(s), an absolute path without control characters for
/// files.
pub fn parse(url: &str) -> Result<Source<'_>, DownloadError> {
    if url.len() > MAX_URL_BYTES {
        return Err(DownloadError::UrlTooLong {
            url: Quoted::new(url),
            len: url.len(),
        });
    }
    let (scheme, rest) = url.split_once("://").unwrap_or_default();
    if scheme.eq_ignore_ascii_case("file") {
        if !rest.starts_with('/') {
            return Err(DownloadError::RelativeFile(Quoted::new(url)));
        }
        if rest.chars().any(char::is_control) {
            return Err(DownloadError::InvalidUrl {
                url: Quoted::new(url),
                reason: "a path cannot contain control characters".to_owned(),
            });
        }
        Ok(Source::File(rest))
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        let invalid = |reason: String| DownloadError::InvalidUrl {
            url: Quoted::new(url),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
        match uri.host() {
            Some(host) if !host.is_empty() => Ok(Source::Http(uri)),
            _ => Err(invalid("no host".to_owned())),
        }
    } else {
        Err(DownloadError::UnsupportedScheme(Quoted::new(url)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_http_and_absolute_file_urls() {
        assert_eq!(
            parse("file:///images/a b.png").unwrap(),
            Source::File("/images/a b.png")
        );
        assert_eq!(parse("FILE:///a.png").unwrap(), Source::File("/a.png"));
        let Source::Http(uri) = parse("http://example.com:8080/a.png?size=2").unwrap() else {
            panic!("an http URL");
        };
        assert_eq!(
            (uri.host(), uri.port_u16()),
            (Some("example.com"), Some(8080))
        );
    }

    #[test]
    fn refuses_other_schemes_relative_paths_and_bad_syntax() {
        let message = |url: &str| parse(url).unwrap_err().to_string();
        assert_eq!(
            message("ftp://example.com/a.png"),
            "unsupported URL `ftp://example.com/a.png`: only http://, https:// and file:// URLs are supported"
        );
        assert!(matches!(
            parse("HTTPS://example.com/a.png"),
            Ok(Source::Http(uri)) if uri.scheme_str() == Some("https")
        ));
        assert!(matches!(
            parse("leaf.png"),
            Err(DownloadError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            parse("file://leaf.png"),
            Err(DownloadError::RelativeFile(_))
        ));
        assert!(
            message("http://exa mple/").starts_with("invalid URL `http://exa mple/`"),
            "{}",
            message("http://exa mple/")
        );
        assert!(message("http:///a.png").starts_with("invalid URL"));
        assert!(message("file:///a\0.png").contains("control characters"));
    }

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        let base: Uri = "https://example.com:8443/images/a.png?x=1".parse().unwrap();
        assert_eq!(resolve(&base, "http://other/b.png"), "http://other/b.png");
        assert_eq!(
            resolve(&base, "//cdn.example/b.png"),
            "https://cdn.example/b.png"
        );
        assert_eq!(resolve(&base, "/b.png"), "https://example.com:8443/b.png");
        assert_eq!(
            resolve(&base, "big/b.png"),
            "https://example.com:8443/images/big/b.png"
        );
    }

    #[test]
    fn long_urls_are_refused_quoting_only_their_start() {
        let at_limit = format!("file:///{}", "a".repeat(MAX_URL_BYTES - 8));
        assert_eq!(at_limit.len(), MAX_URL_BYTES);
        assert!(parse(&at_limit).is_ok());
        let over = format!("{at_limit}a");
        let message = parse(&over).unwrap_err().to_string();
        assert!(
            message.starts_with("the URL is 2049 bytes long, over the limit of 2048: `file:///aaa"),
            "{message}"
        );
        assert!(message.len() < 200, "{message}");
        // Every error quoting a URL cuts it the same way.
        let scheme = format!("ftp://{}", "a".repeat(500));
        assert!(parse(&scheme).unwrap_err().to_string().len() < 200);
    }
}
