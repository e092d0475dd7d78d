//! JSON error bodies: `{"error": message, "code": code, "deployment": name, "request_id":
//! id}`, and the status each error answers with.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::MAX_ERROR_MESSAGE;
use crate::observe::http::Reason;
use crate::observe::request_id::RequestId;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// An error whose JSON body is written once the request's id is known.
#[derive(Clone, Debug)]
pub(crate) struct PendingError {
    pub(crate) message: String,
    code: &'static str,
    deployment: Option<String>,
}

impl PendingError {
    pub(crate) fn render(&self, id: Option<&RequestId>) -> Body {
        let body = ErrorBody {
            error: &self.message,
            code: self.code,
            deployment: self.deployment.as_deref(),
            request_id: id.map(RequestId::as_str),
        };
        Body::from(serde_json::to_vec(&body).expect("an error body always serialises"))
    }
}

/// A JSON error: `{"error": message, "code": code, "deployment": name}`.
pub(crate) fn error_response(
    status: StatusCode,
    code: &'static str,
    message: &str,
    deployment: Option<&str>,
) -> Response {
    let mut response = error_reply(status, code, message, deployment);
    if let Some(body) = response.extensions_mut().remove::<PendingError>() {
        *response.body_mut() = body.render(None);
    }
    response
}

/// A JSON error for a request served through a [`Front`], which adds `request_id` to it.
pub(crate) fn error_reply(
    status: StatusCode,
    code: &'static str,
    message: &str,
    deployment: Option<&str>,
) -> Response {
    let pending = PendingError {
        message: crate::error::excerpt(message.to_owned(), MAX_ERROR_MESSAGE),
        code,
        deployment: deployment.map(str::to_owned),
    };
    let mut response = (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
    )
        .into_response();
    response.extensions_mut().insert(pending);
    response.extensions_mut().insert(Reason(code));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Overload passes quickly: a short hint keeps well-behaved clients from hammering.
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

pub(crate) fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        _ => "rejected",
    }
}
