//! The HTTP adapter: a request's JSON body becomes the graph's input, and a bad
//! `image_url` is a 400 before any node runs.

use http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Map, Value};
use serve_runtime::{AdapterError, HttpRequest};

use crate::pipeline::download::{Quoted, url};

const FIELDS: &str = "the body must be a JSON object with the fields `image_url` and `category`";

/// Reads `{"image_url": "...", "category": "..."}`, as the default JSON adapter would
/// (415 without a JSON content type; 400 naming the field at fault), then checks
/// `image_url` with the downloader's own rules: at most 2048 bytes, `http://` or
/// `file://`, well formed. Messages quote at most the first hundred characters of it.
pub async fn adapt(request: HttpRequest) -> Result<(String, String), AdapterError> {
    check_content_type(&request)?;
    let body: Value = serde_json::from_slice(request.body())
        .map_err(|e| AdapterError::bad_request(format!("malformed JSON: {e}")))?;
    let Value::Object(mut fields) = body else {
        return Err(AdapterError::bad_request(FIELDS));
    };
    let image_url = take_string(&mut fields, "image_url")?;
    let category = take_string(&mut fields, "category")?;
    if let Some(unknown) = fields.keys().next() {
        return Err(AdapterError::bad_request(format!(
            "unknown field `{}`: {FIELDS}",
            Quoted::new(unknown)
        )));
    }
    url::parse(&image_url)
        .map_err(|e| AdapterError::bad_request(format!("field `image_url`: {e}")))?;
    Ok((image_url, category))
}

fn take_string(fields: &mut Map<String, Value>, name: &str) -> Result<String, AdapterError> {
    let value = fields
        .remove(name)
        .ok_or_else(|| AdapterError::bad_request(format!("missing field `{name}`")))?;
    String::deserialize(value)
        .map_err(|e| AdapterError::bad_request(format!("field `{name}`: {e}")))
}

/// `application/json` or `application/*+json`, parameters aside.
fn check_content_type(request: &HttpRequest) -> Result<(), AdapterError> {
    let given = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let essence = given
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence {
        Some(e) if e == "application/json" => Ok(()),
        Some(e) if e.starts_with("application/") && e.ends_with("+json") => Ok(()),
        _ => Err(AdapterError::unsupported_media_type(format!(
            "expected a JSON body: send the header `content-type: application/json` (got {})",
            given.map_or_else(|| "none".to_owned(), |v| format!("`{}`", Quoted::new(v)))
        ))),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::StatusCode;

    use super::*;

    fn request(content_type: &str, body: &str) -> HttpRequest {
        http::Request::post("/classify")
            .header(CONTENT_TYPE, content_type)
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    async fn adapt_json(body: serde_json::Value) -> Result<(String, String), AdapterError> {
        adapt(request("application/json", &body.to_string())).await
    }

    fn bad(result: Result<(String, String), AdapterError>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{err}");
        err.message().to_owned()
    }

    #[tokio::test]
    async fn reads_the_two_fields() {
        let input = adapt_json(serde_json::json!({
            "image_url": "http://example.com/a.png", "category": "fruit"
        }))
        .await
        .unwrap();
        assert_eq!(input, ("http://example.com/a.png".into(), "fruit".into()));
        let charset = request(
            "Application/JSON; charset=utf-8",
            r#"{"category": "car", "image_url": "file:///a.png"}"#,
        );
        assert_eq!(adapt(charset).await.unwrap().1, "car");
    }

    #[tokio::test]
    async fn names_the_field_at_fault() {
        let message = bad(adapt_json(serde_json::json!({ "image_url": 3, "category": "x" })).await);
        assert_eq!(
            message,
            "field `image_url`: invalid type: integer `3`, expected a string"
        );
        let message = bad(adapt_json(serde_json::json!({ "image_url": "file:///a.png" })).await);
        assert_eq!(message, "missing field `category`");
        let long_key = "k".repeat(500);
        let message = bad(adapt_json(serde_json::json!({
            "image_url": "file:///a.png", "category": "x", long_key: 1
        }))
        .await);
        assert!(message.starts_with("unknown field `kkk"), "{message}");
        assert!(message.len() < 250, "{message}");
        assert_eq!(bad(adapt_json(serde_json::json!([1])).await), FIELDS);
        let message = bad(adapt(request("application/json", "{\"image_url\":")).await);
        assert!(message.starts_with("malformed JSON"), "{message}");
    }

    #[tokio::test]
    async fn a_bad_image_url_is_refused_before_the_graph_runs() {
        let long = format!("http://example.com/{}", "a".repeat(3000));
        let cases = [
            (long.as_str(), "is 3019 bytes long, over the limit of 2048"),
            (
                "ftp://example.com/a.png",
                "only http://, https:// and file:// URLs",
            ),
            ("file://a.png", "has no absolute path"),
            ("http://exa mple/a.png", "invalid URL"),
            ("http:///a.png", "invalid URL"),
        ];
        for (image_url, reason) in cases {
            let message = bad(adapt_json(serde_json::json!({
                "image_url": image_url, "category": "x"
            }))
            .await);
            assert!(message.starts_with("field `image_url`: "), "{message}");
            assert!(message.contains(reason), "{message}");
            assert!(message.len() < 250, "{message}");
        }
    }

    #[tokio::test]
    async fn only_json_is_read() {
        let err = adapt(request("text/plain", "{}")).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            err.message(),
            "expected a JSON body: send the header `content-type: application/json` (got `text/plain`)"
        );
        let body = r#"{"image_url": "file:///a.png", "category": "x"}"#;
        assert!(
            adapt(request("application/vnd.api+json", body))
                .await
                .is_ok()
        );
        let mut no_type = request("application/json", body);
        no_type.headers_mut().remove(CONTENT_TYPE);
        let err = adapt(no_type).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
