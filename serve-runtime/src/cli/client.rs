//! The HTTP client `deploy` and `status` talk to a running server's admin routes with.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::Error;

/// How long one admin call may take, connection included. Applying a config waits for
/// every replica's `reconfigure`, so this is generous.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer read.
const MAX_ANSWER: usize = 16 << 20;

/// A running server's admin routes.
pub(crate) struct AdminClient {
    authority: String,
    token: Option<String>,
}

impl AdminClient {
    /// `address` is `http://HOST:PORT` (or just `HOST:PORT`).
    pub(crate) fn new(address: &str, token: Option<String>) -> Result<Self, Error> {
        if address.starts_with("https://") {
            return Err(Error::Config(format!(
                "`{address}`: the admin client speaks plain HTTP only; reach the admin listener directly (it is loopback by default)"
            )));
        }
        let rest = address.strip_prefix("http://").unwrap_or(address);
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(Error::Config(format!(
                "`{address}` is not an admin address; expected http://HOST:PORT"
            )));
        }
        Ok(Self {
            authority: authority.to_owned(),
            token,
        })
    }

    /// Sends one request; returns the status and body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let unreachable = |e: &dyn std::fmt::Display| {
            Error::Config(format!(
                "could not reach the server's admin routes at http://{}: {e}",
                self.authority
            ))
        };
        let call = async {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| unreachable(&e))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(&e))?;
            tokio::spawn(connection);
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::HOST, &self.authority);
            if let Some(token) = &self.token {
                request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            if body.is_some() {
                request = request.header(http::header::CONTENT_TYPE, "application/yaml");
            }
            let request = request
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| unreachable(&e))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(&e))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| unreachable(&*e))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| unreachable(&format!("no answer within {CALL_TIMEOUT:?}")))?
    }

    /// GETs `path` and parses the JSON answer; a non-2xx answer is an error with the
    /// server's message.
    pub(crate) async fn get_json(&self, path: &str) -> Result<serde_json::Value, Error> {
        let (status, body) = self.call(Method::GET, path, None).await?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            Error::Config(format!(
                "the server answered {status} with a body that is not JSON: {e}"
            ))
        })?;
        if !status.is_success() {
            return Err(Error::Config(server_error(status, &json)));
        }
        Ok(json)
    }
}

/// The server's `error` field, or the status.
pub(crate) fn server_error(status: StatusCode, json: &serde_json::Value) -> String {
    match json.get("error").and_then(|e| e.as_str()) {
        Some(message) => format!("the server answered {status}: {message}"),
        None => format!("the server answered {status}"),
    }
}
