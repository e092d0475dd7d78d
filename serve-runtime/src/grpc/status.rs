//! The gRPC status each way a call can fail answers with, and the `grpc-timeout` header.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use tonic::Status;
use tonic::metadata::MetadataValue;

use crate::error::Error;

/// The header a failed call's trailers name the deployment at fault in.
pub(crate) const DEPLOYMENT: &str = "serve-deployment";

/// A graph's error as a gRPC status: overload is `RESOURCE_EXHAUSTED`, shutting down or a
/// deployment in another process that cannot be reached is `UNAVAILABLE`, and a node that failed is `INTERNAL` with its deployment named (in the
/// message and in `serve-deployment`).
pub(crate) fn for_error(error: &Error) -> Status {
    let message = error.to_string();
    let mut status = if error.code() == "unavailable" || matches!(error, Error::Shutdown(_)) {
        Status::unavailable(message)
    } else if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        Status::resource_exhausted(message)
    } else {
        Status::internal(message)
    };
    if let Some(value) = error
        .deployment()
        .and_then(|d| MetadataValue::try_from(d).ok())
    {
        status.metadata_mut().insert(DEPLOYMENT, value);
    }
    status
}

/// The deadline a client sent in `grpc-timeout` (`100m`, `5S`...), when it is well formed.
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    // At most 8 digits, then one unit (the gRPC over HTTP/2 spec).
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().unwrap());
        grpc_timeout(&headers)
    }

    #[test]
    fn timeouts_in_every_unit() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
    }

    #[test]
    fn malformed_timeouts_are_ignored() {
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn overload_and_node_failures() {
        let overloaded = Error::Overloaded {
            deployment: "Embedder".into(),
        };
        let status = for_error(&overloaded);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.metadata().get(DEPLOYMENT).unwrap(), "Embedder");
        let failed = Error::Node {
            deployment: "Ranker".into(),
            method: "rank",
            source: "no model".into(),
        };
        let status = for_error(&failed);
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(
            status.message().contains("`Ranker`"),
            "{}",
            status.message()
        );
    }
}
