//! HTTP adapters: how a request becomes a graph's input.
//!
//! `#[graph(http_adapter = ...)]` picks one: `json_request` (the default) reads a JSON object
//! whose fields are the graph's parameters; `raw_bytes` hands the body to a graph with one
//! parameter of a type that is `From<Bytes>` (`Bytes`, `Vec<u8>`); any other path names a
//! user function `async fn(HttpRequest) -> Result<Input, AdapterError>`.

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// A request as adapters see it: headers and the whole body, already within the body limit.
pub type HttpRequest = http::Request<Bytes>;

/// Why an adapter refused a request: an HTTP status and a message for the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    status: StatusCode,
    message: String,
}

impl AdapterError {
    /// 400: the body is malformed or has the wrong shape.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 415: the body is not of a content type the adapter reads.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// Any 4xx status with a message. A message longer than
    /// [`MAX_ERROR_MESSAGE`](crate::MAX_ERROR_MESSAGE) is cut, so that an error never
    /// echoes back more than an excerpt of what the client sent.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: crate::error::excerpt(message.into(), crate::error::MAX_ERROR_MESSAGE),
        }
    }

    /// The status the ingress answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The name of the adapter that reads a graph's parameters from the query string.
pub(crate) const QUERY: &str = "query";

/// The adapter name of a graph served as a gRPC method (`#[graph(grpc = ...)]`).
pub(crate) const GRPC: &str = "grpc";

/// The adapters the runtime has, by the names `IngressOptions::http_adapter` gives them.
pub(crate) const BUILT_IN_ADAPTERS: &[&str] = &["json_request", QUERY, "raw_bytes", GRPC];

/// The route prefix a request was matched by, as the ingress hands it to adapters.
#[derive(Clone, Debug)]
pub(crate) struct RoutePrefix(pub(crate) std::sync::Arc<str>);

/// The part of the request's path below the graph's route prefix: `""` for the prefix
/// itself, `"/v2/cat"` for `/classify/v2/cat` under `/classify`. For adapters of your own.
pub fn sub_path(request: &HttpRequest) -> &str {
    let path = request.uri().path();
    match request.extensions().get::<RoutePrefix>() {
        Some(RoutePrefix(prefix)) => path
            .strip_prefix(prefix.trim_end_matches('/'))
            .unwrap_or(path),
        None => path,
    }
}

/// Reads the graph's parameters from the query string (`GET /sum?a=1&b=2`): each
/// parameter is one of its names, parsed from text as its type asks (numbers, booleans,
/// strings; an `Option` may be left out). Errors name the parameter at fault.
pub fn query_request<T: DeserializeOwned>(
    request: &HttpRequest,
    fields: &[&str],
) -> Result<T, AdapterError> {
    let query = request.uri().query().unwrap_or("");
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let list: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
        if path == "." || path.is_empty() {
            AdapterError::bad_request(format!(
                "query string: {inner} (the parameters are {})",
                list.join(", ")
            ))
        } else {
            AdapterError::bad_request(format!("query parameter `{path}`: {inner}"))
        }
    })
}

/// Reads a JSON object whose fields are the graph's parameters (`fields`, for messages).
///
/// Requires `content-type: application/json` (or `application/*+json`). Errors name the
/// field at fault: `field `category`: invalid type: integer `3`, expected a string`.
pub fn json_request<T: DeserializeOwned>(
    request: &HttpRequest,
    fields: &[&str],
) -> Result<T, AdapterError> {
    check_json_content_type(request)?;
    // RFC 8259 lets a parser ignore a byte order mark, and some clients send one.
    let body = request.body();
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let expected = || {
        let list: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
        format!(
            "the body must be a JSON object with the fields {}",
            list.join(", ")
        )
    };
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => return Err(AdapterError::bad_request(expected())),
        None => {
            return Err(AdapterError::bad_request(format!(
                "empty body: {}",
                expected()
            )));
        }
    }
    // JSON is UTF-8 throughout (RFC 8259). serde_json checks only the strings it decodes,
    // not those it skips (unknown fields of nested structs), so check the whole body first.
    let body = std::str::from_utf8(body).map_err(|e| {
        AdapterError::bad_request(format!(
            "the body is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut de = serde_json::Deserializer::from_str(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                AdapterError::bad_request(format!("malformed JSON: {inner}"))
            }
            _ if path == "." || path.is_empty() => {
                AdapterError::bad_request(format!("invalid input: {inner}"))
            }
            _ => AdapterError::bad_request(format!("field `{path}`: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| AdapterError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The body as it is, for a graph whose one parameter is `From<Bytes>`.
pub fn raw_bytes(request: HttpRequest) -> Bytes {
    request.into_body()
}

/// What a `raw_bytes` graph's parameter can be: made from the body's `Bytes`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`raw_bytes` hands the graph the request body, and `{Self}` cannot be made from it",
    label = "not `From<Bytes>`",
    note = "take `Bytes` or `Vec<u8>` (or a type of yours with `impl From<Bytes>`), or read the body as JSON with `http_adapter = json_request`"
)]
pub trait FromBody: From<Bytes> {}

impl<T: From<Bytes>> FromBody for T {}

/// The body as the `raw_bytes` graph's parameter.
#[doc(hidden)]
pub fn raw_body<T: FromBody>(request: HttpRequest) -> T {
    T::from(request.into_body())
}

fn check_json_content_type(request: &HttpRequest) -> Result<(), AdapterError> {
    let wrong = |got: &str| {
        AdapterError::unsupported_media_type(format!(
            "expected a JSON body: send the header `content-type: application/json` (got {got})"
        ))
    };
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return Err(wrong("no content-type"));
    };
    let text = value
        .to_str()
        .map_err(|_| wrong("an unreadable content-type"))?;
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(wrong(&format!("`{text}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Input {
        image_url: String,
        category: String,
    }

    fn req(content_type: Option<&str>, body: &str) -> HttpRequest {
        let mut b = http::Request::builder().method("POST").uri("/classify");
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    }

    const FIELDS: &[&str] = &["image_url", "category"];

    #[test]
    fn reads_fields() {
        let r = req(
            Some("application/json; charset=utf-8"),
            r#"{"image_url":"a","category":"b"}"#,
        );
        let input: Input = json_request(&r, FIELDS).unwrap();
        assert_eq!(
            input,
            Input {
                image_url: "a".into(),
                category: "b".into()
            }
        );
    }

    #[test]
    fn names_the_field_at_fault() {
        let r = req(
            Some("application/json"),
            r#"{"image_url":"a","category":3}"#,
        );
        let err = json_request::<Input>(&r, FIELDS).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(
            err.message()
                .starts_with("field `category`: invalid type: integer `3`"),
            "{err}"
        );
    }

    #[test]
    fn missing_and_unknown_fields() {
        let r = req(Some("application/json"), r#"{"image_url":"a"}"#);
        let err = json_request::<Input>(&r, FIELDS).unwrap_err();
        assert!(err.message().contains("missing field `category`"), "{err}");
        let r = req(
            Some("application/json"),
            r#"{"image_url":"a","category":"b","x":1}"#,
        );
        let err = json_request::<Input>(&r, FIELDS).unwrap_err();
        assert!(err.message().contains("unknown field `x`"), "{err}");
    }

    #[test]
    fn malformed_and_non_objects() {
        let err = json_request::<Input>(&req(Some("application/json"), "{\"image_url\":"), FIELDS)
            .unwrap_err();
        assert!(err.message().starts_with("malformed JSON"), "{err}");
        let err = json_request::<Input>(&req(Some("application/json"), "[1]"), FIELDS).unwrap_err();
        assert_eq!(
            err.message(),
            "the body must be a JSON object with the fields `image_url`, `category`"
        );
        let err = json_request::<Input>(
            &req(
                Some("application/json"),
                r#"{"image_url":"a","category":"b"} x"#,
            ),
            FIELDS,
        )
        .unwrap_err();
        assert!(err.message().starts_with("malformed JSON"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let r = req(
            Some("application/json"),
            "\u{FEFF}{\"image_url\":\"a\",\"category\":\"b\"}",
        );
        let input: Input = json_request(&r, FIELDS).unwrap();
        assert_eq!(input.category, "b");
    }

    #[test]
    fn long_input_is_not_echoed_back() {
        let long = "x".repeat(100_000);
        let r = req(
            Some("application/json"),
            &format!(r#"{{"image_url":"a","category":{{"{long}":1}}}}"#),
        );
        let err = json_request::<Input>(&r, FIELDS).unwrap_err();
        assert!(
            err.message()
                .starts_with("field `category`: invalid type: map"),
            "{err}"
        );
        let r = req(
            Some("application/json"),
            &format!(r#"{{"image_url":"a","{long}":1}}"#),
        );
        let err = json_request::<Input>(&r, FIELDS).unwrap_err();
        assert!(err.message().starts_with("field `xxx"), "{err}");
        assert!(
            err.message().len() <= crate::error::MAX_ERROR_MESSAGE + 3,
            "{}",
            err.message().len()
        );
        assert!(err.message().ends_with('…'), "{err}");
    }

    #[test]
    fn content_type_is_checked() {
        let err = json_request::<Input>(&req(None, "{}"), FIELDS).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let err = json_request::<Input>(&req(Some("text/plain"), "{}"), FIELDS).unwrap_err();
        assert_eq!(
            err.message(),
            "expected a JSON body: send the header `content-type: application/json` (got `text/plain`)"
        );
        let r = req(
            Some("application/vnd.api+json"),
            r#"{"image_url":"a","category":"b"}"#,
        );
        assert!(json_request::<Input>(&r, FIELDS).is_ok());
    }
}
